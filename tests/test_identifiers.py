"""VINs (ISO 3779, North-American check digit), Argentine/Brazilian plates and tax ids."""

from __future__ import annotations

import pytest

from boxes.identifiers import (
    AR_MERCOSUR,
    AR_OLD,
    BR_MERCOSUR,
    BR_OLD,
    PLATE_COUNTRY,
    PLATE_EMPTY,
    PLATE_FORMAT,
    PLATE_OTHER_COUNTRY,
    VIN_CHECK_DIGIT,
    VIN_CHECK_DIGIT_WARNING,
    VIN_EMPTY,
    VIN_FORBIDDEN_LETTER,
    VIN_INVALID_CHARACTER,
    VIN_LENGTH_REASON,
    br_mercosur_to_old,
    br_old_to_mercosur,
    cnpj_check_digits,
    cpf_check_digits,
    cuit_check_digit,
    model_year_code,
    model_years,
    normalize_plate,
    normalize_tax_id,
    normalize_vin,
    plate_variants,
    tax_id_kind,
    validate_plate,
    validate_vin,
    vin_check_digit,
    with_check_digit,
)

# Argentine and Brazilian VINs with a correct check digit (position 9).
AR_VIN = with_check_digit("8AGBF6000GF123456")  # GM Argentina, Cruze 2016
BR_VIN = with_check_digit("9BWDA4000KT654321")  # VW Brazil, Polo 2019


def _wrong_digit(vin: str) -> str:
    wrong = "1" if vin[8] != "1" else "2"
    return vin[:8] + wrong + vin[9:]


@pytest.mark.parametrize(
    ("raw", "valid", "reason", "warning", "normalized"),
    [
        # The textbook example: check digit X.
        ("1M8GDM9AXKP042788", True, None, None, "1M8GDM9AXKP042788"),
        ("11111111111111111", True, None, None, "11111111111111111"),
        (AR_VIN, True, None, None, AR_VIN),
        (BR_VIN, True, None, None, BR_VIN),
        # Normalised: case, spaces, dashes and dots.
        (" 1m8-gdm9ax kp042.788 ", True, None, None, "1M8GDM9AXKP042788"),
        # South America does not mandate the check digit: accepted, with a warning.
        (_wrong_digit(AR_VIN), True, None, VIN_CHECK_DIGIT_WARNING, _wrong_digit(AR_VIN)),
        (_wrong_digit(BR_VIN), True, None, VIN_CHECK_DIGIT_WARNING, _wrong_digit(BR_VIN)),
        # North America mandates it: rejected.
        ("1M8GDM9A1KP042788", False, VIN_CHECK_DIGIT, None, "1M8GDM9A1KP042788"),
        # Length.
        ("1M8GDM9AXKP04278", False, VIN_LENGTH_REASON, None, "1M8GDM9AXKP04278"),
        ("1M8GDM9AXKP0427881", False, VIN_LENGTH_REASON, None, "1M8GDM9AXKP0427881"),
        ("", False, VIN_EMPTY, None, ""),
        (None, False, VIN_EMPTY, None, ""),
        # I, O and Q are never used.
        ("1M8GDM9AXKPO42788", False, VIN_FORBIDDEN_LETTER, None, "1M8GDM9AXKPO42788"),
        ("IM8GDM9AXKP042788", False, VIN_FORBIDDEN_LETTER, None, "IM8GDM9AXKP042788"),
        ("9BWDA4000KT65432Q", False, VIN_FORBIDDEN_LETTER, None, "9BWDA4000KT65432Q"),
        ("1M8GDM9AXKP04278*", False, VIN_INVALID_CHARACTER, None, "1M8GDM9AXKP04278*"),
        ("1M8GDM9AXKP04278Ñ", False, VIN_INVALID_CHARACTER, None, "1M8GDM9AXKP04278Ñ"),
    ],
)
def test_validate_vin(raw, valid, reason, warning, normalized):
    check = validate_vin(raw)
    assert check.vin == normalized
    assert check.valid is valid
    assert check.reason == reason
    assert check.warning == warning
    assert bool(check.message) is (reason is not None or warning is not None)


def test_vin_check_digit_and_typo_suggestion():
    assert vin_check_digit("1M8GDM9AXKP042788") == "X"
    assert vin_check_digit(AR_VIN) == AR_VIN[8]
    assert validate_vin(AR_VIN).wmi == "8AG"
    # An O typed for a 0: invalid, with the corrected VIN suggested when that one is valid.
    assert validate_vin("1M8GDM9AXKPO42788").suggestion == "1M8GDM9AXKP042788"
    assert validate_vin("IIIIIIIIIIIIIIIII").suggestion == "11111111111111111"
    with pytest.raises(ValueError):
        vin_check_digit("SHORT")
    assert normalize_vin(" 8ag-bf6 ") == "8AGBF6"


@pytest.mark.parametrize(("year", "code"), [(1980, "A"), (2000, "Y"), (2001, "1"), (2009, "9"), (2010, "A"),
                                            (2016, "G"), (2024, "R"), (2025, "S"), (2026, "T")])
def test_model_year_code(year, code):
    assert model_year_code(year) == code
    assert year in model_years(code)


@pytest.mark.parametrize(
    ("raw", "country", "valid", "normalized", "fmt", "reason"),
    [
        ("AB 123 CD", "AR", True, "AB123CD", AR_MERCOSUR, None),
        ("ab123cd", "AR", True, "AB123CD", AR_MERCOSUR, None),
        ("abc-123", "AR", True, "ABC123", AR_OLD, None),
        ("ABC 123", "AR", True, "ABC123", AR_OLD, None),
        ("ABC1D23", "BR", True, "ABC1D23", BR_MERCOSUR, None),
        ("abc 1d23", "BR", True, "ABC1D23", BR_MERCOSUR, None),
        ("ABC-1234", "BR", True, "ABC1234", BR_OLD, None),
        ("abc.1234", "BR", True, "ABC1234", BR_OLD, None),
        # Invalid, with a reason.
        ("", "AR", False, "", None, PLATE_EMPTY),
        ("  ", "BR", False, "", None, PLATE_EMPTY),
        ("A123BCD", "AR", False, "A123BCD", None, PLATE_FORMAT),
        ("AB1234CD", "AR", False, "AB1234CD", None, PLATE_FORMAT),
        ("ABC1234", "AR", False, "ABC1234", None, PLATE_OTHER_COUNTRY),
        ("ABC1D23", "AR", False, "ABC1D23", None, PLATE_OTHER_COUNTRY),
        ("AB123CD", "BR", False, "AB123CD", None, PLATE_OTHER_COUNTRY),
        ("ABC123", "BR", False, "ABC123", None, PLATE_OTHER_COUNTRY),
        ("ABC12345", "BR", False, "ABC12345", None, PLATE_FORMAT),
        ("AB12C34", "BR", False, "AB12C34", None, PLATE_FORMAT),
        ("ABC1234", "CL", False, "ABC1234", None, PLATE_COUNTRY),
    ],
)
def test_validate_plate(raw, country, valid, normalized, fmt, reason):
    check = validate_plate(raw, country)
    assert check.plate == normalized
    assert check.valid is valid
    assert check.format == fmt
    assert check.reason == reason
    assert bool(check.message) is (reason is not None)


def test_brazilian_mercosur_conversion_keeps_the_car():
    assert br_old_to_mercosur("ABC1234") == "ABC1C34"
    assert br_mercosur_to_old("ABC1C34") == "ABC1234"
    assert plate_variants("abc-1234", "BR") == ("ABC1234", "ABC1C34")
    assert plate_variants("ABC1C34", "BR") == ("ABC1C34", "ABC1234")
    assert plate_variants("RTA1K23", "BR") == ("RTA1K23",)  # issued as Mercosur: no old twin
    assert plate_variants("AB 123 CD", "AR") == ("AB123CD",)
    assert plate_variants("nonsense", "AR") == ()
    assert normalize_plate(" ab-123·cd ") == "AB123CD"
    with pytest.raises(ValueError):
        br_old_to_mercosur("ABC1D23")
    with pytest.raises(ValueError):
        br_mercosur_to_old("RTA1K23")


# ------------------------------------------------------------------------------------ tax ids

@pytest.mark.parametrize(("raw", "country", "digits", "kind"), [
    ("111.444.777-35", "BR", "11144477735", "cpf"),
    ("52998224725", "BR", "52998224725", "cpf"),
    ("11.222.333/0001-81", "BR", "11222333000181", "cnpj"),
    ("20-12345678-6", "AR", "20123456786", "cuit"),
    ("30 71234567 1", "AR", "30712345671", "cuit"),
    ("12.345.678", "AR", "12345678", "dni"),
    ("7654321", "AR", "7654321", "dni"),
])
def test_valid_tax_ids_are_kept_as_digits(raw, country, digits, kind):
    assert normalize_tax_id(raw, country) == digits
    assert tax_id_kind(digits, country) == kind


@pytest.mark.parametrize(("raw", "country"), [
    ("111.444.777-36", "BR"),  # wrong check digit
    ("111.111.111-11", "BR"),  # every check digit passes for a repeated digit: refused anyway
    ("11.222.333/0001-82", "BR"),
    ("12.345.678", "BR"),  # a DNI is Argentine
    ("20-12345678-5", "AR"),
    ("123456", "AR"),  # too short for a DNI
    ("sem cpf", "BR"),
    ("", "AR"),
    (None, "AR"),
    ("20123456786", "UY"),  # no rules for that country
])
def test_invalid_tax_ids_are_empty(raw, country):
    assert normalize_tax_id(raw, country) == ""


def test_check_digits_of_generated_tax_ids():
    assert cpf_check_digits("111444777") == "35" and cnpj_check_digits("112223330001") == "81"
    assert cuit_check_digit("2012345678") == "6"
    assert cuit_check_digit("2000000001") is None  # AFIP issues another prefix (23, 24…) for such a base
