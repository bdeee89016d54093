"""Making realistic VINs and plates for the simulated DMS (validation lives in ``boxes.identifiers``).

Both are built from the vehicle's index in its dealer through a bijection of the index space
(``index * A + offset mod M`` with ``gcd(A, M) = 1``), so two vehicles of one dealer never share a
VIN serial or a plate, without keeping a set of the ones already used: generation stays
streamable and its memory flat.
"""

from __future__ import annotations

import string
from datetime import date
from random import Random

from boxes.identifiers import model_year_code, vin_check_digit

VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
LETTERS = string.ascii_uppercase
_MULTIPLIER = 7919  # prime, coprime with every space size below (2^a · 5^b · 13^c)


def permute(index: int, size: int, offset: int) -> int:
    """A bijection of ``range(size)``; ``index`` must be below ``size`` to stay collision-free."""
    return (index * _MULTIPLIER + offset) % size


def make_vin(wmi: str, vds: str, model_year: int, plant: str, serial: int) -> str:
    """``wmi`` (3) + ``vds`` (5) + check digit + model year + plant + 6-digit serial."""
    if len(wmi) != 3 or len(vds) != 5 or len(plant) != 1:
        raise ValueError("WMI has 3 characters, VDS 5 and the plant code 1")
    body = f"{wmi}{vds}0{model_year_code(model_year)}{plant}{serial % 1_000_000:06d}"
    return body[:8] + vin_check_digit(body) + body[9:]


def random_vds(rng: Random, prefix: str) -> str:
    """A model's fixed VDS prefix completed with random VIN characters up to 5."""
    return prefix + "".join(rng.choice(VIN_CHARS) for _ in range(5 - len(prefix)))


def vin_serial(index: int, offset: int) -> int:
    return permute(index, 1_000_000, offset)


# -------------------------------------------------------------------------------------- plates
# Registration series move forward with time, so the first letters follow the registration
# year, roughly as in the real series. The rest comes from the permuted index (unique).

_AR_MERCOSUR_PREFIX = {2016: "AA", 2017: "AB", 2018: "AC", 2019: "AD", 2020: "AE", 2021: "AE",
                       2022: "AF", 2023: "AF", 2024: "AG", 2025: "AH"}
AR_MERCOSUR_SINCE = date(2016, 4, 1)
BR_MERCOSUR_SINCE = date(2018, 9, 11)


def _letters(n: int, count: int) -> str:
    out = []
    for _ in range(count):
        n, r = divmod(n, 26)
        out.append(LETTERS[r])
    return "".join(reversed(out))


def ar_plate(index: int, registered: date, offset: int) -> str:
    if registered >= AR_MERCOSUR_SINCE:
        prefix = _AR_MERCOSUR_PREFIX.get(registered.year)
        if prefix is None:  # after the table: keep advancing one letter a year
            prefix = "A" + LETTERS[min(25, 7 + registered.year - 2025)]
        n = permute(index, 676_000, offset)  # 3 digits x 2 letters
        digits, tail = divmod(n, 676)
        return f"{prefix}{digits:03d}{_letters(tail, 2)}"
    # ABC123 from 1995 (AAA000) to 2016 (around PZZ999).
    first = LETTERS[max(0, min(15, int((registered.year - 1995) * 0.75)))]
    n = permute(index, 676_000, offset)
    letters, digits = divmod(n, 1000)
    return f"{first}{_letters(letters, 2)}{digits:03d}"


def br_plate(index: int, registered: date, offset: int, converted: bool = False) -> str:
    if registered >= BR_MERCOSUR_SINCE:
        # New series issued as Mercosur: ABC1D23, the first letter by year.
        first = "RST"[min(2, max(0, (registered.year - 2019) // 3))]
        n = permute(index, 17_576_000, offset)  # 2 letters, digit, letter, 2 digits
        n, tail = divmod(n, 100)
        n, letter = divmod(n, 26)
        letters, digit = divmod(n, 10)
        return f"{first}{_letters(letters, 2)}{digit}{LETTERS[letter]}{tail:02d}"
    # ABC1234, the São Paulo range (BFA…GKI) advancing with the year.
    first = "BCDEFG"[max(0, min(5, (registered.year - 1990) // 5))]
    n = permute(index, 6_760_000, offset)
    letters, digits = divmod(n, 10_000)
    plate = f"{first}{_letters(letters, 2)}{digits:04d}"
    if converted:  # converted to Mercosur (e.g. on a change of owner): same number, 2nd digit → letter
        plate = plate[:4] + "ABCDEFGHIJ"[int(plate[4])] + plate[5:]
    return plate
