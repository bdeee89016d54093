"""The engine behind every report: the report's rows as one subquery, then per-column filters,
sorting, pagination, counts per value (the pies), KPIs and streamed exports — all over the same
filtered rows, so a chart's numbers always equal its grid's counts."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from boxes import inputs
from boxes.board.windows import BoardWindows
from boxes.localtime import local_midnight
from boxes.models import Dealer
from boxes.reports.definitions import CATEGORY, DATETIME, NUMBER, REPORTS, ROWS, Column, Report
from boxes.reports.ranges import DateRange
from boxes.spreadsheets import safe_cell
from boxes.textmatch import contains_folded

EMPTY = "="  # the filter value that selects empty cells exactly
CSV_DATETIME = "%Y-%m-%d %H:%M"
XLSX_DATETIME = {"es": "dd/mm/yyyy hh:mm", "pt_BR": "dd/mm/yyyy hh:mm", "en": "yyyy-mm-dd hh:mm"}
NONE_LABEL = _l("(empty)")


@dataclass
class Grid:
    """One report over one range with the grid's filters and sort."""

    report: Report
    rng: DateRange
    dealer: Dealer
    locale: str
    filters: dict[str, str] = field(default_factory=dict)
    sort: str = ""
    descending: bool = True
    w: BoardWindows | None = None

    def __post_init__(self):
        self.w = self.w or BoardWindows.at(self.dealer.time_zone)
        self.filters = {k: v for k, v in self.filters.items() if self.report.column(k) is not None and v != ""}
        if self.report.column(self.sort) is None:
            self.sort = self.report.columns[0].key
        self.sub = ROWS[self.report.key](self.dealer, self.rng, self.w, self.locale).subquery("report_rows")

    # --- conditions ---------------------------------------------------------------------------

    def condition(self, column: Column, value: str):
        col = self.sub.c[column.key]
        if not inputs.storable(value):  # no stored value holds such a character: nothing matches
            return col.is_(None) & col.is_not(None)
        if column.kind == CATEGORY:  # "=": the rows without a value (a lead's OEM reason when it was not lost)
            return col.is_(None) if value == EMPTY else col == value
        if column.kind == NUMBER:
            if value == EMPTY:
                return col.is_(None)
            number = inputs.whole(value.lstrip("="), column.key, {}, lo=-inputs.MAX_INT - 1, hi=inputs.MAX_INT,
                                  message="", optional=False)
            if number is None:  # not a number any stored value could be: matches nothing
                return col.is_(None) & col.is_not(None)
            return col == number
        if column.kind == DATETIME:
            day: date | None = inputs.day(value, column.key, {})
            if day is None:  # not a date, or none any stored instant can be on
                return col.is_(None) & col.is_not(None)
            tz = ZoneInfo(self.dealer.time_zone)
            return (col >= local_midnight(day, tz)) & (col < local_midnight(day + timedelta(days=1), tz))
        if value == EMPTY:
            return or_(col.is_(None), col == "")
        if value.startswith(EMPTY):
            return col == value[1:]
        return contains_folded(col, value)

    def conditions(self, without: str | None = None) -> list:
        return [self.condition(self.report.column(k), v) for k, v in self.filters.items() if k != without]

    # --- queries --------------------------------------------------------------------------------

    def total(self, session: Session) -> int:
        return session.scalar(select(func.count()).select_from(self.sub).where(*self.conditions())) or 0

    def _ordered(self):
        col = self.sub.c[self.sort]
        order = col.desc() if self.descending else col.asc()
        return select(self.sub).where(*self.conditions()).order_by(
            order.nulls_last(), self.sub.c.id.desc() if self.descending else self.sub.c.id.asc())

    def page(self, session: Session, page: int, per_page: int) -> tuple[list, int, int]:
        total = self.total(session)
        page = min(max(1, page), max(1, math.ceil(total / per_page)))
        rows = session.execute(self._ordered().limit(per_page).offset((page - 1) * per_page)).mappings().all()
        return list(rows), total, page

    def counts(self, session: Session, key: str) -> list[tuple[object, int]]:
        """(value, rows) per value of a column over the filtered rows, largest first."""
        col = self.sub.c[key]
        n = func.count().label("n")
        stmt = select(col, n).where(*self.conditions()).group_by(col).order_by(n.desc(), col)
        return [(value, count) for value, count in session.execute(stmt)]

    def filter_value(self, key: str, value) -> str:
        """The grid filter that selects exactly the rows of one pie slice."""
        column = self.report.column(key)
        if value is None or value == "":
            return EMPTY
        if column.kind in (CATEGORY, NUMBER):
            return str(value)
        return EMPTY + str(value)

    def _kpi_parts(self, grouped_by: str | None = None) -> list:
        """Two parts per KPI (numerator and denominator, or sum and count for a mean), each a sum over
        the rows, so the KPIs add up from any grouping of the rows. A part that only tests the column
        the rows are ``grouped_by`` is a set of its values (the part is then the group's count when
        the group's value is in it); any other is an aggregate for the statement."""
        parts = []
        for kpi in self.report.kpis:
            if kpi.mean_of:
                parts += [func.sum(self.sub.c[kpi.mean_of]), func.count(self.sub.c[kpi.mean_of])]
                continue
            for spec in (kpi.numerator, kpi.denominator or "*"):
                key, _, values = spec.partition("=")
                if spec == "*":
                    parts.append(None)  # every row
                elif key == grouped_by:
                    parts.append(frozenset(values.split("|")))
                else:
                    parts.append(func.count(case((self.sub.c[key].in_(values.split("|")), 1))))
        return parts

    def _kpis_of(self, values: list) -> list[dict]:
        out = []
        for n, kpi in enumerate(self.report.kpis):
            a, b = values[2 * n], values[2 * n + 1]
            if kpi.mean_of:
                out.append(dict(kpi=kpi, value=round(float(a) / b, 2) if b else None, numerator=None,
                                denominator=b, kind="mean"))
            elif kpi.denominator is None:
                out.append(dict(kpi=kpi, value=a, numerator=a, denominator=None, kind="count"))
            else:
                out.append(dict(kpi=kpi, value=(a / b if b else None), numerator=a, denominator=b, kind="rate"))
        return out

    def kpis(self, session: Session) -> list[dict]:
        parts = [func.count() if p is None else p for p in self._kpi_parts()]
        return self._kpis_of(list(session.execute(select(*parts).select_from(self.sub)
                                                  .where(*self.conditions())).one()))

    def chart(self, session: Session, key: str) -> tuple[list[tuple[object, int]], list[dict]]:
        """The pie of ``key`` (as ``counts``) and the KPIs (as ``kpis``) from one pass over the rows,
        grouped by the pie's column: the KPIs are the sums of their parts over the groups, and a part
        that tests the pie's own column is read off the group counts. Same numbers as the two
        separate statements (tests/reports/test_summaries.py), half the reading."""
        col = self.sub.c[key]
        n = func.count().label("n")
        parts = self._kpi_parts(grouped_by=key)
        aggregates = [p for p in parts if p is not None and not isinstance(p, frozenset)]
        rows = session.execute(select(col, n, *aggregates).where(*self.conditions())
                               .group_by(col).order_by(n.desc(), col)).all()
        totals, column = [], 2
        for part in parts:
            if part is None:
                totals.append(sum(r[1] for r in rows))
            elif isinstance(part, frozenset):
                totals.append(sum(r[1] for r in rows if r[0] is not None and str(r[0]) in part))
            else:
                totals.append(sum(r[column] or 0 for r in rows))
                column += 1
        for i, kpi in enumerate(self.report.kpis):  # an empty mean is None (as avg() says), not 0
            if kpi.mean_of and not totals[2 * i + 1]:
                totals[2 * i] = None
        return [(r[0], r[1]) for r in rows], self._kpis_of(totals)

    # --- exports --------------------------------------------------------------------------------

    def cells(self, row) -> list:
        """A row's cells as shown (labels translated, times in the dealer's zone as naive local
        datetimes, numbers as numbers), every text made safe for a spreadsheet (``safe_cell``)."""
        tz = ZoneInfo(self.dealer.time_zone)
        out = []
        for column in self.report.columns:
            value = row[column.key]
            if column.kind == DATETIME and value is not None:
                out.append(value.astimezone(tz).replace(tzinfo=None))
            elif column.kind == NUMBER:
                out.append(value)
            else:
                out.append(safe_cell(column.display(value)))
        return out

    def iter_rows(self, session: Session) -> Iterator:
        result = session.execute(self._ordered().execution_options(yield_per=1000, stream_results=True))
        for row in result.mappings():
            yield self.cells(row)

    def header(self) -> list[str]:
        return [safe_cell(str(c.label)) for c in self.report.columns]

    def csv_chunks(self, session: Session) -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        buffer.write("\ufeff")  # Excel opens UTF-8 CSV correctly with a BOM
        writer.writerow(self.header())
        for i, cells in enumerate(self.iter_rows(session), start=1):
            writer.writerow([c.strftime(CSV_DATETIME) if isinstance(c, datetime) else c for c in cells])
            if i % 1000 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    def xlsx_file(self, session: Session, target) -> None:
        # Imported on the first export, not with the reports: openpyxl takes ~0.4 s to import.
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell
        from openpyxl.utils import get_column_letter

        # Dates as real date cells (naive local times: a spreadsheet has no zones) with a format the
        # dealer's users read; openpyxl's write-only mode takes the format per cell.
        number_format = XLSX_DATETIME.get(self.locale, XLSX_DATETIME["es"])
        dates = [i for i, c in enumerate(self.report.columns) if c.kind == DATETIME]
        wb = Workbook(write_only=True)
        ws = wb.create_sheet(title=self.report.key[:31])
        for i in dates:
            ws.column_dimensions[get_column_letter(i + 1)].width = 17
        ws.append(self.header())
        for cells in self.iter_rows(session):
            for i in dates:
                if cells[i] is not None:
                    cells[i] = WriteOnlyCell(ws, value=cells[i])
                    cells[i].number_format = number_format
            ws.append(cells)
        wb.save(target)


# plotly.py's default template colours ("plotly"), so the pies look as they always did.
PIE_COLORS = ["#636efa", "#EF553B", "#00cc96", "#ab63fa", "#FFA15A", "#19d3f3", "#FF6692", "#B6E880", "#FF97FF",
              "#FECB52"]


def pie_figure(labels: list[str], values: list[int], title: str, separators: str) -> dict:
    """A Plotly pie as the plain dict plotly.js reads (``static/js/reports.js`` draws it).

    Shares are written inside their slices only, all at one size; a slice too small for its text
    shows none (``uniformtext``) rather than a label outside the pie, where small slices' labels
    were cut off at the top and piled on each other when one slice dominated. Every slice's count
    and share stays in the table beside the pie and in its tooltip. ``separators`` (decimal, then
    thousands) makes plotly.js write numbers as the page's locale does."""
    # Not a validated go.Figure: building one costs ~3 ms of Python per chart and embeds its 7 kB
    # default template; the pie needs neither (its colours are that template's colorway, set here).
    return {
        "data": [{"type": "pie", "labels": labels, "values": values, "sort": False, "hole": 0.35,
                  "textposition": "inside", "insidetextorientation": "horizontal",
                  "texttemplate": "%{value:,}<br>%{percent:.1%}",
                  "hovertemplate": "%{label}<br>%{value:,} · %{percent:.1%}<extra></extra>"}],
        "layout": {"margin": {"l": 10, "r": 10, "t": 40 if title else 10, "b": 10}, "height": 320,
                   "legend": {"orientation": "v"}, "colorway": PIE_COLORS, "separators": separators,
                   "uniformtext": {"minsize": 11, "mode": "hide"},
                   **({"title": {"text": title}} if title else {})},
        "config": {"displaylogo": False, "responsive": True},
    }


def report_of(key: str | None) -> Report:
    return REPORTS.get(key or "", REPORTS["opportunities"])
