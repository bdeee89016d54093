"""VIN and plate validation tables and pasted-list parsing, as the campaign manager uses them."""

from __future__ import annotations

import pytest

from boxes.identifiers import split_pasted, validate_plate, validate_vin, with_check_digit

VALID_NA = "1HGCM82633A004352"  # North American, correct check digit
BR_VIN = "9BWZZZ377VT004251"  # Brazilian: no check digit required


@pytest.mark.parametrize(("raw", "valid", "reason", "warning"), [
    (VALID_NA, True, None, None),
    ("1hgcm82633a004352", True, None, None),  # lower case
    (" 1HGCM8-2633A004352 ", True, None, None),  # spaces and dashes
    ("1HGCM82633A00435", False, "length", None),
    ("1HGCM82633A0043521", False, "length", None),
    ("1HGCM82633AO04352", False, "forbidden_letter", None),  # O
    ("1HGCM82633AI04352", False, "forbidden_letter", None),  # I
    ("1HGCM82633A00435#", False, "invalid_character", None),
    ("1HGCM82643A004352", False, "check_digit", None),  # North America: the check digit is mandatory
    (BR_VIN, True, None, "check_digit_mismatch"),  # South America: only a warning
    (with_check_digit(BR_VIN), True, None, None),
    ("", False, "empty", None),
])
def test_vin_table(raw, valid, reason, warning):
    check = validate_vin(raw)
    assert (check.valid, check.reason, check.warning) == (valid, reason, warning)


@pytest.mark.parametrize(("raw", "country", "valid", "reason"), [
    ("AB123CD", "AR", True, None),
    ("ab 123 cd", "AR", True, None),
    ("ABC123", "AR", True, None),
    ("ABC-123", "AR", True, None),
    ("ABC1D23", "AR", False, "other_country"),
    ("A1B2C3", "AR", False, "format"),
    ("ABC1D23", "BR", True, None),
    ("ABC1234", "BR", True, None),
    ("abc-1234", "BR", True, None),
    ("AB123CD", "BR", False, "other_country"),
    ("ABCD123", "BR", False, "format"),
    ("", "BR", False, "empty"),
])
def test_plate_table(raw, country, valid, reason):
    check = validate_plate(raw, country)
    assert (check.valid, check.reason) == (valid, reason)


@pytest.mark.parametrize(("text", "kind", "country", "entries", "duplicates"), [
    ("AB123CD\nABC123", "plate", "AR", ("AB123CD", "ABC123"), 0),  # new lines
    ("AB123CD,ABC123;AA111BB\tAC222DD|AD333EE", "plate", "AR",
     ("AB123CD", "ABC123", "AA111BB", "AC222DD", "AD333EE"), 0),  # , ; tab |
    ("ab 123 cd\r\n abc 123 ", "plate", "AR", ("AB123CD", "ABC123"), 0),  # spaces inside, CRLF, lower case
    ("AB123CD ABC123 AA111BB", "plate", "AR", ("AB123CD", "ABC123", "AA111BB"), 0),  # space-separated
    ("AB123CD\nab123cd\nAB-123-CD", "plate", "AR", ("AB123CD",), 2),  # duplicates after normalising
    ("abc1d23, ABC1234", "plate", "BR", ("ABC1D23", "ABC1234"), 0),
    ("\n\n ,, ;", "plate", "AR", (), 0),
    ('"AB123CD"\n\'ABC123\'', "plate", "AR", ("AB123CD", "ABC123"), 0),  # quoted cells
    (f"{VALID_NA.lower()}\n{VALID_NA} {BR_VIN}", "vin", "AR", (VALID_NA, BR_VIN), 1),
    ("XYZ, 12", "vin", "AR", ("XYZ", "12"), 0),  # invalid ones are kept, to be listed back
])
def test_split_pasted(text, kind, country, entries, duplicates):
    pasted = split_pasted(text, kind, country)
    assert pasted.entries == entries
    assert pasted.duplicates == duplicates
