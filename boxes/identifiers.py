"""Identifiers from outside: VINs (ISO 3779), number plates of Argentina and Brazil, and tax ids.

Used wherever a VIN or a plate comes from outside: the DMS sync, the campaign manager's pasted
or uploaded lists, the public booking page. Validation never raises; it returns a result with a
normalised value, a stable ``reason`` code for the UI to translate (``None`` when valid) and,
for VINs, an optional ``warning``.

VIN rules (ISO 3779 / 4030):
- 17 characters, digits and capital letters except I, O and Q (they read as 1 and 0);
- position 9 is a check digit computed by the North-American algorithm (49 CFR 565). It is
  mandatory for vehicles built for North America (WMI starting 1–5) and China (L), so a wrong
  one there makes the VIN invalid. Elsewhere — Argentina (8A–8E) and Brazil (9A–9E) included —
  makers may put anything in position 9; most use the same check digit, so a mismatch is only a
  warning: the VIN is accepted and the UI can point at a probable typo.

Plate formats (the product spec: "Argentina AB123CD and ABC123, Brazil ABC1D23 and ABC1234"):
- Argentina: ``ABC123`` (1995–2016) and Mercosur ``AB123CD`` (from 2016);
- Brazil: ``ABC1234`` (before Mercosur) and Mercosur ``ABC1D23`` (from 2018). A Brazilian car
  keeps its number when its plate is converted to Mercosur: the second digit becomes a letter
  (0→A … 9→J), so ``ABC1234`` and ``ABC1C34`` are the same car (see :func:`plate_variants`).

Tax ids (what the OEM's leads may carry, :func:`normalize_tax_id`): Brazil's CPF (people, 11
digits) and CNPJ (companies, 14 digits), Argentina's CUIT/CUIL (11 digits) — each with its check
digits — and DNI (7 or 8 digits, none). Kept as digits only: ``123.456.789-09`` → ``12345678909``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# --------------------------------------------------------------------------------------- VIN

VIN_LENGTH = 17
VIN_ALPHABET = frozenset("ABCDEFGHJKLMNPRSTUVWXYZ0123456789")
_FORBIDDEN = {"I": "1", "O": "0", "Q": "0"}

# Transliteration of letters to numbers and position weights (49 CFR 565.15).
_TRANSLIT = {
    **{str(d): d for d in range(10)},
    "A": 1, "B": 2, "C": 3, "D": 4, "E": 5, "F": 6, "G": 7, "H": 8,
    "J": 1, "K": 2, "L": 3, "M": 4, "N": 5, "P": 7, "R": 9,
    "S": 2, "T": 3, "U": 4, "V": 5, "W": 6, "X": 7, "Y": 8, "Z": 9,
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)

# Position 10, the model year: a 30-year cycle (1980 = A … 2000 = Y, 2001 = 1 … 2009 = 9,
# 2010 = A again). U, Z and 0 are not used besides I, O and Q.
MODEL_YEAR_CODES = "ABCDEFGHJKLMNPRSTVWXY123456789"

# Reason codes (stable: the UI translates them).
VIN_EMPTY = "empty"
VIN_LENGTH_REASON = "length"
VIN_FORBIDDEN_LETTER = "forbidden_letter"  # I, O or Q
VIN_INVALID_CHARACTER = "invalid_character"
VIN_CHECK_DIGIT = "check_digit"  # mandatory check digit wrong (North America, China)
VIN_CHECK_DIGIT_WARNING = "check_digit_mismatch"  # warning only: the market does not require it

_VIN_MESSAGES = {
    VIN_EMPTY: "The VIN is empty.",
    VIN_LENGTH_REASON: "A VIN has 17 characters.",
    VIN_FORBIDDEN_LETTER: "A VIN never contains the letters I, O or Q.",
    VIN_INVALID_CHARACTER: "A VIN has only digits and capital letters.",
    VIN_CHECK_DIGIT: "The check digit (9th character) does not match the rest of the VIN.",
    VIN_CHECK_DIGIT_WARNING: "The check digit (9th character) does not match: probably a typo.",
}

_VIN_STRIP = re.compile(r"[\s\-.]+")


def normalize_vin(raw: str | None) -> str:
    """Upper case, without spaces, dashes or dots. Nothing else is changed (no I→1 guessing)."""
    return _VIN_STRIP.sub("", raw or "").upper()


def vin_check_digit(vin: str) -> str:
    """The North-American check digit of a 17-character VIN ('0'–'9' or 'X').

    Position 9 itself has weight 0, so any placeholder there gives the same result.
    """
    if len(vin) != VIN_LENGTH:
        raise ValueError("a VIN has 17 characters")
    try:
        total = sum(_TRANSLIT[c] * w for c, w in zip(vin, _WEIGHTS, strict=True))
    except KeyError as exc:
        raise ValueError(f"invalid VIN character {exc.args[0]!r}") from None
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def check_digit_required(vin: str) -> bool:
    """Whether the market of this WMI mandates the check digit: North America (1–5) and China (L)."""
    return bool(vin) and (vin[0] in "12345" or vin[0] == "L")


def model_year_code(year: int) -> str:
    return MODEL_YEAR_CODES[(year - 1980) % 30]


def model_years(code: str) -> tuple[int, ...]:
    """The model years a position-10 code can mean (one per 30-year cycle since 1980)."""
    index = MODEL_YEAR_CODES.find(code)
    if index < 0:
        return ()
    return tuple(1980 + index + 30 * k for k in range(3))


@dataclass(frozen=True)
class VinCheck:
    vin: str  # normalised
    valid: bool
    reason: str | None = None  # why it is invalid
    warning: str | None = None  # valid, but suspicious
    suggestion: str | None = None  # for I/O/Q typos: the VIN with 1/0 instead, if that one is valid

    @property
    def message(self) -> str:
        code = self.reason or self.warning
        return _VIN_MESSAGES.get(code, "") if code else ""

    @property
    def wmi(self) -> str:
        return self.vin[:3] if self.valid else ""


def validate_vin(raw: str | None) -> VinCheck:
    vin = normalize_vin(raw)
    if not vin:
        return VinCheck(vin, False, VIN_EMPTY)
    forbidden = any(c in _FORBIDDEN for c in vin)
    if forbidden:
        fixed = "".join(_FORBIDDEN.get(c, c) for c in vin)
        suggestion = fixed if len(fixed) == VIN_LENGTH and validate_vin(fixed).valid else None
        return VinCheck(vin, False, VIN_FORBIDDEN_LETTER, suggestion=suggestion)
    if any(c not in VIN_ALPHABET for c in vin):
        return VinCheck(vin, False, VIN_INVALID_CHARACTER)
    if len(vin) != VIN_LENGTH:
        return VinCheck(vin, False, VIN_LENGTH_REASON)
    if vin_check_digit(vin) != vin[8]:
        if check_digit_required(vin):
            return VinCheck(vin, False, VIN_CHECK_DIGIT)
        return VinCheck(vin, True, warning=VIN_CHECK_DIGIT_WARNING)
    return VinCheck(vin, True)


def with_check_digit(vin: str) -> str:
    """The VIN with position 9 set to its check digit."""
    return vin[:8] + vin_check_digit(vin) + vin[9:]


# ------------------------------------------------------------------------------------ plates

PLATE_COUNTRIES = ("AR", "BR")

AR_OLD = "ar_old"  # ABC123
AR_MERCOSUR = "ar_mercosur"  # AB123CD
BR_OLD = "br_old"  # ABC1234
BR_MERCOSUR = "br_mercosur"  # ABC1D23

_PLATE_FORMATS: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = {
    "AR": (
        (AR_MERCOSUR, re.compile(r"[A-Z]{2}[0-9]{3}[A-Z]{2}")),
        (AR_OLD, re.compile(r"[A-Z]{3}[0-9]{3}")),
    ),
    "BR": (
        (BR_MERCOSUR, re.compile(r"[A-Z]{3}[0-9][A-Z][0-9]{2}")),
        (BR_OLD, re.compile(r"[A-Z]{3}[0-9]{4}")),
    ),
}

PLATE_EXAMPLES = {"AR": ("AB123CD", "ABC123"), "BR": ("ABC1D23", "ABC1234")}

PLATE_EMPTY = "empty"
PLATE_COUNTRY = "country"  # no plate rules for that country
PLATE_FORMAT = "format"
PLATE_OTHER_COUNTRY = "other_country"  # a valid plate of the other country

_PLATE_MESSAGES = {
    PLATE_EMPTY: "The plate is empty.",
    PLATE_COUNTRY: "Plates of this country are not supported.",
    PLATE_FORMAT: "Not a plate of this country.",
    PLATE_OTHER_COUNTRY: "This looks like a plate of another country.",
}

_PLATE_STRIP = re.compile(r"[\s\-.·]+")


def normalize_plate(raw: str | None) -> str:
    """Upper case, without spaces, dashes, dots: ``"ab 123 cd"`` → ``"AB123CD"``."""
    return _PLATE_STRIP.sub("", raw or "").upper()


@dataclass(frozen=True)
class PlateCheck:
    plate: str  # normalised
    valid: bool
    format: str | None = None  # AR_OLD, AR_MERCOSUR, BR_OLD, BR_MERCOSUR
    reason: str | None = None

    @property
    def message(self) -> str:
        return _PLATE_MESSAGES.get(self.reason, "") if self.reason else ""


def plate_format(plate: str, country: str) -> str | None:
    for name, pattern in _PLATE_FORMATS.get(country, ()):
        if pattern.fullmatch(plate):
            return name
    return None


def validate_plate(raw: str | None, country: str) -> PlateCheck:
    plate = normalize_plate(raw)
    if not plate:
        return PlateCheck(plate, False, reason=PLATE_EMPTY)
    if country not in _PLATE_FORMATS:
        return PlateCheck(plate, False, reason=PLATE_COUNTRY)
    found = plate_format(plate, country)
    if found is not None:
        return PlateCheck(plate, True, format=found)
    if any(plate_format(plate, other) for other in _PLATE_FORMATS if other != country):
        return PlateCheck(plate, False, reason=PLATE_OTHER_COUNTRY)
    return PlateCheck(plate, False, reason=PLATE_FORMAT)


def br_old_to_mercosur(plate: str) -> str:
    """``ABC1234`` → ``ABC1C34``: the Mercosur conversion keeps the number of a Brazilian car."""
    if plate_format(plate, "BR") != BR_OLD:
        raise ValueError(f"not an old Brazilian plate: {plate!r}")
    return plate[:4] + "ABCDEFGHIJ"[int(plate[4])] + plate[5:]


def br_mercosur_to_old(plate: str) -> str:
    if plate_format(plate, "BR") != BR_MERCOSUR:
        raise ValueError(f"not a Brazilian Mercosur plate: {plate!r}")
    letter = plate[4]
    if letter > "J":  # issued as Mercosur, never had an old form
        raise ValueError(f"{plate!r} has no old form")
    return plate[:4] + str(ord(letter) - ord("A")) + plate[5:]


def plate_variants(raw: str | None, country: str) -> tuple[str, ...]:
    """Every stored form the same car may have: the normalised plate, plus for Brazil its old or
    Mercosur twin. Empty when the plate is not valid for the country."""
    check = validate_plate(raw, country)
    if not check.valid:
        return ()
    if check.format == BR_OLD:
        return (check.plate, br_old_to_mercosur(check.plate))
    if check.format == BR_MERCOSUR and check.plate[4] <= "J":
        return (check.plate, br_mercosur_to_old(check.plate))
    return (check.plate,)


# ------------------------------------------------------------------------------------ tax ids

_NOT_DIGIT = re.compile(r"\D+")
_CNPJ_WEIGHTS = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)  # the first check digit uses the last 12
_CUIT_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def cpf_check_digits(base: str) -> str:
    """The two check digits of a CPF's first 9 digits."""
    digits = [int(c) for c in base]
    for _ in range(2):
        total = sum(d * w for d, w in zip(digits, range(len(digits) + 1, 1, -1), strict=True))
        digits.append(total * 10 % 11 % 10)
    return f"{digits[-2]}{digits[-1]}"


def cnpj_check_digits(base: str) -> str:
    """The two check digits of a CNPJ's first 12 digits."""
    digits = [int(c) for c in base]
    for weights in (_CNPJ_WEIGHTS[1:], _CNPJ_WEIGHTS):
        rest = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
        digits.append(0 if rest < 2 else 11 - rest)
    return f"{digits[-2]}{digits[-1]}"


def cuit_check_digit(base: str) -> str | None:
    """The check digit of a CUIT/CUIL's first 10 digits; None when the base has none (AFIP then
    issues another prefix)."""
    digit = 11 - sum(int(d) * w for d, w in zip(base, _CUIT_WEIGHTS, strict=True)) % 11
    return None if digit == 10 else str(digit % 11)


def tax_id_kind(digits: str, country: str) -> str | None:
    """``cpf``, ``cnpj``, ``cuit`` or ``dni`` when ``digits`` is a valid one of the country; None else."""
    if not digits.isdigit() or len(set(digits)) == 1:  # 000.000.000-00 passes every check digit
        return None
    if country == "BR":
        if len(digits) == 11 and cpf_check_digits(digits[:9]) == digits[9:]:
            return "cpf"
        if len(digits) == 14 and cnpj_check_digits(digits[:12]) == digits[12:]:
            return "cnpj"
    elif country == "AR":
        if len(digits) == 11 and cuit_check_digit(digits[:10]) == digits[10]:
            return "cuit"
        if len(digits) in (7, 8):
            return "dni"
    return None


def normalize_tax_id(raw: str | None, country: str) -> str:
    """The digits of a valid tax id of the country (punctuation and spaces dropped); ``""`` when
    there is none or it is not valid."""
    digits = _NOT_DIGIT.sub("", raw or "")
    return digits if tax_id_kind(digits, country) else ""


# ------------------------------------------------------------------------------ pasted lists

_PASTE_SEPARATORS = re.compile(r"[\r\n,;\t|]+")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class PastedList:
    """A pasted (or uploaded) list of VINs or plates, split and normalised.

    ``entries``: the distinct normalised entries, in the order first seen; ``duplicates``: how many
    repeated entries were dropped (the same car pasted twice is not an error)."""

    entries: tuple[str, ...]
    duplicates: int


def split_pasted(text: str | None, kind: str, country: str = "AR") -> PastedList:
    """Split a pasted list of VINs (``kind="vin"``) or plates (``kind="plate"``).

    Entries are separated by new lines, commas, semicolons, tabs or pipes. Inside one piece, spaces
    belong to the entry when the piece without them is valid (``"AB 123 CD"``); otherwise the piece
    is split on spaces too (``"ABC123 AB123CD"``). Lower case is upper-cased; repeats are dropped."""
    normalise = normalize_vin if kind == "vin" else normalize_plate

    def valid(value: str) -> bool:
        return validate_vin(value).valid if kind == "vin" else validate_plate(value, country).valid

    seen: dict[str, None] = {}
    total = 0
    for piece in _PASTE_SEPARATORS.split(text or ""):
        piece = piece.strip().strip("\"'")
        if not piece:
            continue
        tokens = [piece]
        if _WHITESPACE.search(piece) and not valid(piece):
            tokens = _WHITESPACE.split(piece)
        for token in tokens:
            value = normalise(token)
            if value:
                total += 1
                seen.setdefault(value, None)
    return PastedList(tuple(seen), total - len(seen))
