"""The ``files`` connector: CSV and XLSX exports dropped by the DMS in a folder.

- A file belongs to the entity its name starts with (``repair_orders_2025-11-20.csv``,
  ``appointments.xlsx``); files are read in name order.
- ``columns`` maps, per entity, each feed-v1 field to the file's column header ("de-para");
  ``values`` maps field values (``{"status": {"Confirmado": "confirmed"}, "advisor": {...}}``,
  or ``{"appointments.status": {...}}`` for one entity only).
- Dates and times without a UTC offset are the dealer's local time, read with ``date_format``
  (default: ISO 8601, or ``dd/mm/yyyy[ hh:mm[:ss]]``). ``lines`` of a repair order is one cell:
  works separated by ``;``.
- A file is archived (``archive``) once all its rows are stored; a file that cannot be read (not
  CSV/XLSX, bad encoding, a mapped column missing) goes to ``rejected`` with ``<name>.reason.txt``
  and a quarantine entry. A bad row is only a bad record: it is quarantined, the file goes on.
- ``inbox``, ``archive`` and ``rejected`` are relative paths inside the dealer's connector folder
  (``<BOXES_CONNECTOR_ROOT>/<dealer code>/``, see :mod:`boxes.dms.connectors.boundaries`); a
  file whose real path leaves it (a symlink to another dealer's export) is not read.

The cursor is ``<file name>#<rows stored>``: after a crash the same file resumes after its last
stored page (re-reading a page is harmless anyway).
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from boxes.dms.connectors.base import ConfigurationError, Page
from boxes.dms.connectors.boundaries import Boundaries
from boxes.dms.records import ENTITIES

DATE_FIELDS = {"delivered_at", "scheduled_at", "arrived_at", "opened_at", "promised_at", "dms_updated_at"}
DAY_FIELDS = {"sold_on"}
FALLBACK_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")
SUFFIXES = (".csv", ".xlsx")
XLSX_MAX_UNCOMPRESSED = 1024 * 1024 * 1024  # a DMS export of a million rows fits; a zip bomb does not


class UnreadableFile(Exception):
    pass


class FilesConnector:
    kind = "files"

    def __init__(self, settings: dict, *, boundaries: Boundaries, dealer_time_zone: str = "UTC"):
        inbox = settings.get("inbox")
        if not inbox:
            raise ConfigurationError("inbox: the export folder is not set")
        self.boundaries = boundaries
        self.inbox = boundaries.path(inbox, "inbox")
        # Checked before anything is read or created: archive and rejected exist only inside too.
        self.archive = boundaries.path(settings.get("archive") or f"{inbox}/archive", "archive")
        self.rejected = boundaries.path(settings.get("rejected") or f"{inbox}/rejected", "rejected")
        if not self.inbox.is_dir():
            raise ConfigurationError(f"inbox: {inbox} is not a folder of the dealer's connector folder")
        self.columns = settings.get("columns") or {}
        self.values = settings.get("values") or {}
        self.delimiter = settings.get("delimiter") or None
        self.encoding = settings.get("encoding") or "utf-8-sig"
        self.date_format = settings.get("date_format") or None
        self.page_size = int(settings.get("page_size") or 1000)
        self.tz = ZoneInfo(dealer_time_zone)

    # ------------------------------------------------------------------------- files
    def files(self, entity: str) -> list[Path]:
        others = sorted((e for e in ENTITIES if e != entity and e.startswith(entity)), key=len)
        out = []
        for path in sorted(self.inbox.iterdir()):
            name = path.name.lower()
            if not path.is_file() or not name.startswith(entity) or path.suffix.lower() not in SUFFIXES:
                continue
            if not self.boundaries.inside(path):  # a symlink out of the dealer's folder
                continue
            if any(name.startswith(o) for o in others):
                continue
            out.append(path)
        return out

    def _move(self, path: Path, folder: Path, reason: str | None = None) -> None:
        name = "archive" if folder == self.archive else "rejected"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / path.name
            if target.exists():
                target = folder / f"{path.stem}.{datetime.now().strftime('%Y%m%d%H%M%S%f')}{path.suffix}"
            shutil.move(str(path), target)
            if reason is not None:
                (folder / f"{target.name}.reason.txt").write_text(reason + "\n", encoding="utf-8")
        except OSError as exc:  # named by the setting, never by the server's path
            raise ConfigurationError(f"{name}: cannot move {path.name} into this folder "
                                     f"({exc.__class__.__name__})") from None

    def _rows(self, path: Path) -> Iterator[dict]:
        if path.suffix.lower() == ".xlsx":
            yield from self._xlsx_rows(path)
        else:
            yield from self._csv_rows(path)

    def _csv_rows(self, path: Path) -> Iterator[dict]:
        try:
            with path.open("r", encoding=self.encoding, newline="") as fh:
                head = fh.read(4096)
                fh.seek(0)
                delimiter = self.delimiter
                if not delimiter:
                    delimiter = ";" if head.count(";") > head.count(",") else ","
                reader = csv.DictReader(fh, delimiter=delimiter)
                if not reader.fieldnames:
                    raise UnreadableFile("the file is empty or has no header row")
                yield {"__header__": [h.strip() for h in reader.fieldnames]}
                for row in reader:
                    yield {(k or "").strip(): v for k, v in row.items()}
        except UnicodeDecodeError:
            raise UnreadableFile(f"the file is not {self.encoding} text") from None
        except csv.Error as exc:
            raise UnreadableFile(f"not a readable CSV file ({exc})") from None

    def _xlsx_rows(self, path: Path) -> Iterator[dict]:
        from openpyxl import load_workbook

        from boxes.inputs import UnreadableUpload, inspect_xlsx

        try:  # a zip that would inflate beyond any real export is refused before it is parsed
            inspect_xlsx(path, max_uncompressed=XLSX_MAX_UNCOMPRESSED, max_members=1000)
        except UnreadableUpload:
            raise UnreadableFile(f"not a readable XLSX file, or larger than {XLSX_MAX_UNCOMPRESSED >> 20} MB "
                                 "once unpacked") from None
        try:
            book = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:
            raise UnreadableFile(f"not a readable XLSX file ({exc.__class__.__name__})") from None
        try:
            sheet = book.worksheets[0]
            sheet.reset_dimensions()  # rows as they are, not padded to the size the sheet claims
            rows = sheet.iter_rows(values_only=True)
            header = next(rows, None)
            if not header:
                raise UnreadableFile("the sheet is empty or has no header row")
            names = [str(h).strip() if h is not None else "" for h in header]
            yield {"__header__": names}
            for values in rows:
                if values is None or all(v is None or v == "" for v in values):
                    continue
                yield dict(zip(names, values, strict=False))
        finally:
            book.close()

    # ------------------------------------------------------------------------- values
    def _instant(self, value):
        if isinstance(value, datetime):
            local = value if value.tzinfo else value.replace(tzinfo=self.tz)
            return local.isoformat()
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day, tzinfo=self.tz).isoformat()
        text = str(value).strip()
        formats = (self.date_format,) if self.date_format else ()
        for fmt in formats + FALLBACK_FORMATS:
            try:
                return datetime.strptime(text, fmt).replace(tzinfo=self.tz).isoformat()
            except ValueError:
                continue
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text  # left as it is: validation quarantines it with its reason
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=self.tz)).isoformat()

    def _day(self, value):
        if isinstance(value, datetime):
            return value.date().isoformat()
        if isinstance(value, date):
            return value.isoformat()
        text = str(value).strip()
        for fmt in ("%d/%m/%Y", "%Y-%m-%d"):
            try:
                return datetime.strptime(text, fmt).date().isoformat()
            except ValueError:
                continue
        return text

    def _record(self, entity: str, mapping: dict, row: dict) -> dict:
        out: dict = {}
        for field_name, column in mapping.items():
            value = row.get(column)
            if isinstance(value, str):
                value = value.strip()
            if value is None or value == "":
                out[field_name] = None
                continue
            table = self.values.get(f"{entity}.{field_name}") or self.values.get(field_name)
            if table and str(value) in table:
                value = table[str(value)]
            if field_name in DATE_FIELDS:
                value = self._instant(value)
            elif field_name in DAY_FIELDS:
                value = self._day(value)
            elif field_name == "lines":
                value = [{"line_no": n, "work_done": w.strip()} for n, w in enumerate(str(value).split(";"), 1)
                         if w.strip()]
            elif isinstance(value, float) and value.is_integer():
                value = int(value)
            out[field_name] = value
        return out

    # ------------------------------------------------------------------------- pages
    def pages(self, entity: str, cursor: str | None) -> Iterator[Page]:
        mapping = self.columns.get(entity)
        files = self.files(entity)
        if not files:
            yield Page([], cursor)
            return
        resume_name, _, resume_row = (cursor or "").partition("#")
        for path in files:
            skip = int(resume_row) if path.name == resume_name and resume_row.isdigit() else 0
            if not mapping:
                yield self._reject(path, entity, f"no column mapping for {entity}", cursor)
                continue
            try:
                rows = self._rows(path)
                header = next(rows)["__header__"]
                missing = [c for c in mapping.values() if c not in header]
                if missing:
                    raise UnreadableFile(f"column(s) {', '.join(missing)} missing from the file")
                batch: list[dict] = []
                done = 0
                for row in rows:
                    done += 1
                    if done <= skip:
                        continue
                    batch.append(self._record(entity, mapping, row))
                    if len(batch) >= self.page_size:
                        yield Page(batch, f"{path.name}#{done}")
                        batch = []
            except UnreadableFile as exc:
                yield self._reject(path, entity, str(exc), cursor)
                continue
            yield Page(batch, f"{path.name}#done", after_commit=lambda p=path: self._move(p, self.archive))

    def _reject(self, path: Path, entity: str, reason: str, cursor: str | None) -> Page:
        reason = f"{path.name}: {reason}"
        return Page([], cursor, after_commit=lambda: self._move(path, self.rejected, reason),
                    problems=[({"file": path.name, "entity": entity}, reason)])

    def close(self) -> None:
        pass


def sample_xlsx(rows: list[list]) -> bytes:
    """An XLSX file of ``rows`` (the first one the header), for tests and docs."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
