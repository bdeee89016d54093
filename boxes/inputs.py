"""Input from outside, parsed and bounded before anything stores it or queries with it.

Every edge — a form field, a query argument, a URL id, a DMS record, an uploaded list — reads its
values through these helpers, so what reaches a service or the database is always something both
databases can hold and every later job can compute with:

- **Text**: no NUL and no unpaired surrogate (PostgreSQL's text cannot hold a NUL; no UTF-8 encoder
  takes a lone surrogate), and never longer than its column (SQLite does not enforce ``String(n)``).
- **Integers**: ids are 1 … 2³¹−1 (PostgreSQL ``integer``); a number beyond that is "not found", not a
  database error; page numbers are clamped.
- **Dates**: from 1950 (the oldest car data the product reads) to five years ahead: a year-9999 date
  overflows as soon as a job adds a day or a time zone to it.
- **Uploads**: CSV of any line ending in UTF-8 or Windows-1252, binary refused; XLSX inspected as a
  zip before it is opened (a small file that inflates to hundreds of MB is refused) and read in
  read-only mode with caps on rows, cells and time.

A value out of bounds is a field error with a localized message (``errors[field]``), which the views
answer with 422 next to the field, like every other bad input.
"""

from __future__ import annotations

import csv
import io
import re
import time
import zipfile
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask_babel import LazyString, format_date, format_number, gettext
from flask_babel import lazy_gettext as _l
from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1  # PostgreSQL ``integer``: every id column
MAX_INT = 2**31 - 1
MAX_PAGE = 1_000_000  # (page − 1) × page size stays far inside every database's integer
FIRST_DAY = date(1950, 1, 1)  # model years start at 1950; nothing Boxes handles is older
YEARS_AHEAD = 5  # the longest first-service interval (60 months) fits

# What no database here can store: NUL (PostgreSQL text), unpaired surrogates (not encodable as UTF-8).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Control characters no text file holds (tab, CR and LF excepted): the mark of a binary file.
_BINARY = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")

UNSTORABLE = _l("This text contains a character that cannot be saved (such as NUL). Remove it and try again.")
INVALID_DATE = _l("Enter a valid date.")
INVALID_INSTANT = _l("Enter a valid date and time.")


def too_long(max_len: int):
    return _l("At most %(n)d characters.", n=max_len)


def storable(value: str) -> bool:
    return _UNSTORABLE.search(value) is None


def unstorable_reason(value: str) -> str | None:
    """Why a text cannot be stored, in the words of a sync's quarantine reason (English, like them)."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    char = found.group()
    return "contains a NUL character" if char == "\x00" else f"contains an unpaired surrogate (U+{ord(char):04X})"


def shown(value: str) -> str:
    """A text made storable for display only (an identifier in a quarantine entry, an error message)."""
    return _UNSTORABLE.sub("\ufffd", value)


# --- text ---------------------------------------------------------------------------------------

def text(raw, field: str, errors: dict, *, max_len: int, required=None, too_long_message=None) -> str:
    """A text field, stripped. Unstorable characters, more than ``max_len`` characters or (with
    ``required``, the message) an empty value are a field error; the value is then ``""``."""
    value = "" if raw is None else str(raw).strip()
    if not storable(value):
        errors[field] = UNSTORABLE
        return ""
    if len(value) > max_len:
        errors[field] = too_long_message or too_long(max_len)
        return ""
    if required is not None and not value:
        errors[field] = required
    return value


def unstorable_fields(values) -> dict:
    """Field → message for every field of a form (a ``MultiDict`` or a dict) holding a character that
    cannot be saved: for forms whose fields are not all read through :func:`text`."""
    items = values.items(multi=True) if hasattr(values, "getlist") else values.items()
    return {name: UNSTORABLE for name, value in items if isinstance(value, str) and not storable(value)}


# --- numbers and ids ----------------------------------------------------------------------------

def _digits(raw) -> int | None:
    """An optionally signed run of ASCII digits (not ``int()``'s "١٢" or "1_000"), surrounding spaces
    ignored; ``None`` beyond 19 digits (more than any database integer holds)."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    value = str(raw if raw is not None else "").strip()
    body = value[1:] if value[:1] in "+-" else value
    if not body or len(body) > 19 or not (body.isascii() and body.isdigit()):
        return None
    return int(value)


def row_id(raw) -> int | None:
    """An id from a form or query (a row, a user, a campaign): ``None`` unless 1 … 2³¹−1."""
    number = _digits(raw)
    return number if number is not None and 1 <= number <= MAX_ID else None


def whole(raw, field: str, errors: dict, *, lo: int, hi: int, message, optional: bool = True) -> int | None:
    """A whole number from ``lo`` to ``hi`` (``message`` otherwise); empty → ``None`` when optional."""
    if (raw is None or str(raw).strip() == "") and optional:
        return None
    number = _digits(raw)
    if number is None or not lo <= number <= hi:
        errors[field] = message
        return None
    return number


class RowIdConverter(IntegerConverter):
    """``<int:...>`` in URLs, with PostgreSQL's integer as its maximum: a larger id is a 404 at
    routing, never a query the database refuses (``web.init_app`` registers it as ``int``)."""

    def __init__(self, map, fixed_digits=0, min=None, max=MAX_ID, signed=False):  # werkzeug's names
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def page_number(raw) -> int:
    """``?page=``: 1 when missing or not a number, at most ``MAX_PAGE`` (lists clamp to their last page)."""
    number = _digits(raw)
    if number is None or number < 1:
        return 1
    return min(number, MAX_PAGE)


# --- dates --------------------------------------------------------------------------------------

def last_day(today: date | None = None) -> date:
    today = today or date.today()
    try:
        return today.replace(year=today.year + YEARS_AHEAD)
    except ValueError:  # 29 February
        return today.replace(year=today.year + YEARS_AHEAD, day=28)


def _out_of_range(first: date, last: date):
    return LazyString(lambda: gettext("Enter a date from %(first)s to %(last)s.", first=format_date(first),
                                      last=format_date(last)))


def day(raw, field: str, errors: dict, *, first: date = FIRST_DAY, last: date | None = None,
        message=INVALID_DATE) -> date | None:
    """A date (``YYYY-MM-DD``) from ``first`` to ``last`` (default: five years ahead). Empty → ``None``."""
    value = "" if raw is None else str(raw).strip()
    if not value:
        return None
    try:
        parsed = date.fromisoformat(value) if len(value) == 10 and storable(value) else None
    except ValueError:
        parsed = None
    if parsed is None:
        errors[field] = message
        return None
    last = last or last_day()
    if not first <= parsed <= last:
        errors[field] = _out_of_range(first, last)
        return None
    return parsed


def local_instant(raw, field: str, errors: dict, tz: ZoneInfo, *, first: date = FIRST_DAY,
                  last: date | None = None) -> datetime | None:
    """A ``datetime-local`` field (the dealer's wall clock) as an aware instant, its day from ``first``
    to ``last`` (default: five years ahead). Empty → ``None``."""
    value = "" if raw is None else str(raw).strip()
    if not value:
        return None
    try:
        naive = datetime.fromisoformat(value) if 10 <= len(value) <= 32 and storable(value) else None
    except ValueError:
        naive = None
    if naive is None:
        errors[field] = INVALID_INSTANT
        return None
    naive = naive.replace(tzinfo=None)  # the form's wall clock is the dealer's, whatever it says
    last = last or last_day()
    if not first <= naive.date() <= last:
        errors[field] = _out_of_range(first, last)
        return None
    # Within those days, moving to UTC can never leave datetime's range.
    return naive.replace(tzinfo=tz).astimezone(UTC)


# --- uploads ------------------------------------------------------------------------------------

class UnreadableUpload(ValueError):
    """An uploaded file that cannot be read; ``message`` is for its user (lazy, localized)."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


# A campaign list holds at most 100,000 VINs or plates (boxes.campaigns.search.MAX_LIST): these caps
# leave room for a few columns and a header, and refuse what only a bomb would be.
# All members of the zip together, as they declare: MAX_CELLS cells as Excel saves them (shared
# strings) take ~40 MB.
XLSX_MAX_UNCOMPRESSED = 48 * 1024 * 1024
XLSX_MAX_MEMBERS = 1000
MAX_ROWS = 110_000
MAX_CELLS = 600_000
READ_SECONDS = 20.0


def table_cells(filename: str, data: bytes, *, max_rows: int = MAX_ROWS, max_cells: int = MAX_CELLS,
                seconds: float = READ_SECONDS) -> list[str]:
    """Every non-empty cell of an uploaded CSV (or .txt) or XLSX, as text, row by row.
    Raises :class:`UnreadableUpload` with the reason for its user."""
    name = (filename or "").lower()
    if name.endswith(".xlsx"):
        return _xlsx_cells(data, max_rows=max_rows, max_cells=max_cells, seconds=seconds)
    if name.endswith((".csv", ".txt")):
        return _csv_cells(data, max_rows=max_rows, max_cells=max_cells, seconds=seconds)
    raise UnreadableUpload(_l("Upload a CSV or XLSX file."))


def decode_text_file(data: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1252 (what Excel writes on a Spanish or Portuguese
    Windows); a file with control characters a text file never has is binary and refused."""
    try:
        text_ = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text_ = data.decode("cp1252")
        except UnicodeDecodeError:
            raise UnreadableUpload(_l("This file is not a text (CSV) file.")) from None
    if _BINARY.search(text_):
        raise UnreadableUpload(_l("This file is not a text (CSV) file."))
    return text_


def _csv_cells(data: bytes, *, max_rows: int, max_cells: int, seconds: float) -> list[str]:
    text_ = decode_text_file(data)
    head = text_[:4096]
    delimiter = max((",", ";", "\t"), key=head.count)
    deadline = time.monotonic() + seconds
    cells: list[str] = []
    # newline="": the csv module sees the file's own line ends, CR-only ("CSV Macintosh") included.
    reader = csv.reader(io.StringIO(text_, newline=""), delimiter=delimiter)
    try:
        for n, row in enumerate(reader, 1):
            _check(n, len(cells) + len(row), max_rows, max_cells, deadline)
            cells.extend(c for c in row if c.strip())
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            raise UnreadableUpload(_l("A cell of this file is too long: put one VIN or plate per cell.")) from None
        raise UnreadableUpload(_l("This CSV file cannot be read (check its quotes).")) from None
    return cells


def _check(rows: int, cells: int, max_rows: int, max_cells: int, deadline: float) -> None:
    if rows > max_rows or cells > max_cells:
        raise UnreadableUpload(LazyString(lambda: gettext(
            "This file is too large: at most %(rows)s rows and %(cells)s cells.", rows=format_number(max_rows),
            cells=format_number(max_cells))))
    if time.monotonic() > deadline:
        raise UnreadableUpload(_l("This file takes too long to read: split it into smaller files."))


def inspect_xlsx(source, *, max_uncompressed: int = XLSX_MAX_UNCOMPRESSED, max_members: int = XLSX_MAX_MEMBERS) -> None:
    """Refuses a file that is not a zip, or whose members would inflate beyond ``max_uncompressed``
    bytes together: checked on the zip's directory, before any XML is parsed. (Python's zipfile
    never inflates a member beyond the size its header declares, so the check holds.)"""
    try:
        with zipfile.ZipFile(source) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise UnreadableUpload(_l("This file is not a readable XLSX workbook.")) from None
    if len(members) > max_members or sum(m.file_size for m in members) > max_uncompressed:
        raise UnreadableUpload(_l("This workbook is too large once unpacked: save the list alone in a new file."))


def xlsx_rows(source, *, max_rows: int, max_cells: int, seconds: float, first_sheet_only: bool = False):
    """The rows of an XLSX (values only), inspected first (see :func:`inspect_xlsx`), read in
    read-only mode with its declared dimensions ignored (a sheet that claims A1:XFD1048576 would be
    padded to that), and cut off past ``max_rows`` rows, ``max_cells`` cells or ``seconds``."""
    from openpyxl import load_workbook

    inspect_xlsx(source)
    if hasattr(source, "seek"):
        source.seek(0)
    try:
        book = load_workbook(source, read_only=True, data_only=True)
    except Exception:
        raise UnreadableUpload(_l("This file is not a readable XLSX workbook.")) from None
    deadline = time.monotonic() + seconds
    rows = cells = 0
    try:
        for sheet in book.worksheets[:1] if first_sheet_only else book.worksheets:
            sheet.reset_dimensions()
            for values in sheet.iter_rows(values_only=True):
                rows += 1
                cells += len(values)
                _check(rows, cells, max_rows, max_cells, deadline)
                yield values
    except UnreadableUpload:
        raise
    except Exception:
        raise UnreadableUpload(_l("This file is not a readable XLSX workbook.")) from None
    finally:
        book.close()


def _xlsx_cells(data: bytes, *, max_rows: int, max_cells: int, seconds: float) -> list[str]:
    out = []
    for values in xlsx_rows(io.BytesIO(data), max_rows=max_rows, max_cells=max_cells, seconds=seconds):
        out.extend(str(v) for v in values if v is not None and str(v).strip())
    return out
