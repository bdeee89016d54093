"""The engine behind every report: the report's rows as one subquery, then per-column filters,
sorting, pagination, counts per value (the pies), KPIs and streamed exports — all over the same
filtered rows, so a chart's numbers always equal its grid's counts."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from boxes.board.windows import BoardWindows, local_midnight
from boxes.models import Dealer
from boxes.reports.definitions import CATEGORY, DATETIME, NUMBER, REPORTS, ROWS, Column, Report
from boxes.reports.ranges import DateRange

EMPTY = "="  # the filter value that selects empty cells exactly
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
        if column.kind == CATEGORY:
            return col == value
        if column.kind == NUMBER:
            if value == EMPTY:
                return col.is_(None)
            try:
                return col == int(value.lstrip("="))
            except ValueError:
                return col.is_(None) & col.is_not(None)  # matches nothing
        if column.kind == DATETIME:
            try:
                day = date.fromisoformat(value)
            except ValueError:
                return col.is_(None) & col.is_not(None)
            tz = ZoneInfo(self.dealer.time_zone)
            return (col >= local_midnight(day, tz)) & (col < local_midnight(day + timedelta(days=1), tz))
        if value == EMPTY:
            return or_(col.is_(None), col == "")
        if value.startswith(EMPTY):
            return col == value[1:]
        return func.lower(col).contains(value.lower(), autoescape=True)

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

    def kpis(self, session: Session) -> list[dict]:
        exprs, specs = [], []

        def cond(spec: str):
            if spec == "*":
                return None
            key, _, values = spec.partition("=")
            return self.sub.c[key].in_(values.split("|"))

        for kpi in self.report.kpis:
            if kpi.mean_of:
                exprs.append(func.avg(self.sub.c[kpi.mean_of]))
                exprs.append(func.count(self.sub.c[kpi.mean_of]))
            else:
                for spec in (kpi.numerator, kpi.denominator or "*"):
                    c = cond(spec)
                    exprs.append(func.count() if c is None else func.count(case((c, 1))))
            specs.append(kpi)
        values = list(session.execute(select(*exprs).select_from(self.sub).where(*self.conditions())).one())
        out = []
        for kpi in specs:
            a, b = values.pop(0), values.pop(0)
            if kpi.mean_of:
                out.append(dict(kpi=kpi, value=None if a is None else round(float(a), 2), numerator=None,
                                denominator=b, kind="mean"))
            elif kpi.denominator is None:
                out.append(dict(kpi=kpi, value=a, numerator=a, denominator=None, kind="count"))
            else:
                out.append(dict(kpi=kpi, value=(a / b if b else None), numerator=a, denominator=b, kind="rate"))
        return out

    # --- exports --------------------------------------------------------------------------------

    def cells(self, row) -> list:
        """A row's cells as shown (labels translated, times in the dealer's zone)."""
        tz = ZoneInfo(self.dealer.time_zone)
        out = []
        for column in self.report.columns:
            value = row[column.key]
            if column.kind == DATETIME and value is not None:
                out.append(value.astimezone(tz).strftime("%Y-%m-%d %H:%M"))
            elif column.kind == NUMBER:
                out.append(value)
            else:
                out.append(column.display(value))
        return out

    def iter_rows(self, session: Session) -> Iterator:
        result = session.execute(self._ordered().execution_options(yield_per=1000, stream_results=True))
        for row in result.mappings():
            yield self.cells(row)

    def header(self) -> list[str]:
        return [str(c.label) for c in self.report.columns]

    def csv_chunks(self, session: Session) -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        buffer.write("\ufeff")  # Excel opens UTF-8 CSV correctly with a BOM
        writer.writerow(self.header())
        for i, cells in enumerate(self.iter_rows(session), start=1):
            writer.writerow(cells)
            if i % 1000 == 0:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    def xlsx_file(self, session: Session, target) -> None:
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet(title=self.report.key[:31])
        ws.append(self.header())
        for cells in self.iter_rows(session):
            ws.append(cells)
        wb.save(target)


def pie_html(labels: list[str], values: list[int], div_id: str, title: str = "") -> str:
    """A Plotly pie, server-rendered. Its script waits for plotly.js (``boxesWhenPlotly`` in the
    reports page), which is loaded once per page: by the page itself, or on the first fragment
    that needs it when the reports were opened from a board button."""
    import plotly.graph_objects as go

    fig = go.Figure(go.Pie(labels=labels, values=values, sort=False, hole=0.35, textinfo="value+percent"))
    fig.update_layout(margin=dict(l=10, r=10, t=40 if title else 10, b=10), height=320, title=title or None,
                      legend=dict(orientation="v"))
    html = fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                       config={"displaylogo": False, "responsive": True})
    html = re.sub(r"<script[^>]*>", lambda m: m.group(0) + "window.boxesWhenPlotly(function () {", html)
    return html.replace("</script>", "});</script>")


def report_of(key: str | None) -> Report:
    return REPORTS.get(key or "", REPORTS["opportunities"])
