"""Reports blueprint (button 6): /d/<code>/reports. Managers only.

``index`` shows a report's KPIs and main pie; ``grid`` the rows behind it with per-column filters,
sorting, paging and a pie of any column; ``export`` streams exactly what the grid shows as CSV or
XLSX. Every figure comes from ``boxes.reports.grid.Grid`` over the same filtered rows.
"""

from __future__ import annotations

import tempfile

from babel.numbers import get_decimal_symbol, get_group_symbol
from flask import Response, g, request, send_file, stream_with_context, url_for
from flask_babel import format_decimal, format_percent, get_locale

from boxes.assets import style_guards
from boxes.board.badges import BUTTON_ROLES, count_contacts_today
from boxes.board.lists import nav_badges
from boxes.board.windows import BoardWindows
from boxes.errors import ActionError
from boxes.paging import Page, clamp_page
from boxes.reports import summaries
from boxes.reports.definitions import DATETIME, REPORTS
from boxes.reports.grid import NONE_LABEL, Grid, pie_figure, report_of
from boxes.reports.ranges import DEFAULT_PRESET, PRESETS, make_range
from boxes.web import db, dealer_blueprint, render_page, requires_role

bp = dealer_blueprint("reports", __name__, "/reports")
TEMPLATE = "reports/reports.html"
ROLES = BUTTON_ROLES["reports"]
PER_PAGE = 50
PERCENT = "#,##0.0%"  # KPIs and pie shares alike


def _grid() -> tuple[Grid, dict]:
    report = report_of(request.args.get("report"))
    errors: dict = {}
    try:
        preset = "custom" if request.args.get("apply") else request.args.get("preset")
        rng = make_range(g.dealer.time_zone, preset, request.args.get("start"),
                         request.args.get("end"))
    except ActionError as exc:
        errors = exc.errors
        rng = make_range(g.dealer.time_zone, DEFAULT_PRESET)
    filters = {k[2:]: v.strip() for k, v in request.args.items() if k.startswith("f_")}
    grid = Grid(report, rng, g.dealer, str(get_locale() or "es"), filters, request.args.get("sort", ""),
                request.args.get("dir", "desc") != "asc")
    return grid, errors


def _kpi_display(k: dict) -> str:
    if k["value"] is None:
        return "—"
    if k["kind"] == "rate":
        return format_percent(k["value"], PERCENT)
    if k["kind"] == "mean":
        return format_decimal(k["value"], "#,##0.00")
    return format_decimal(k["value"])


def _pie(grid: Grid, key: str, counts: list) -> dict:
    """A pie's figure (drawn in the browser by static/js/reports.js) and its table: each slice's
    label, count, share (as the KPIs write percentages) and the grid filtered on it."""
    column = grid.report.column(key)
    labels = [str(column.display(v)) if v not in (None, "") else str(NONE_LABEL) for v, _ in counts]
    total = sum(n for _, n in counts)
    slices = []
    for (v, n), label in zip(counts, labels, strict=True):
        value = grid.filter_value(key, v)
        href = url_for("reports.grid_view", report=grid.report.key, **grid.rng.query(), **{f"f_{key}": value})
        slices.append(dict(value=v, label=label, count=n, share=format_percent(n / total, PERCENT), filter=value,
                           href=href))
    locale = get_locale()
    separators = get_decimal_symbol(locale) + get_group_symbol(locale)
    figure = pie_figure(labels, [n for _, n in counts], str(column.label), separators) if counts else None
    return dict(column=column, slices=slices, figure=figure)


def _context(view: str, grid: Grid, errors: dict, **extra) -> dict:
    w = BoardWindows.at(g.dealer.time_zone)
    return dict(button="reports", view=view, oob=True, badges=nav_badges(w), grid=grid,
                contacts_today=count_contacts_today(db(), g.dealer, w), report=grid.report, reports=REPORTS,
                rng=grid.rng, presets=PRESETS, errors=errors, range_args=grid.rng.query(), report_link=_link(grid),
                plotly_style_guards=style_guards(), **extra)


def _link(grid: Grid):
    def link(endpoint: str, report_key: str, **extra) -> str:
        return url_for(endpoint, report=report_key, **grid.rng.query(), **extra)

    return link


def _render(view: str, grid: Grid, errors: dict, **extra):
    body = render_page(TEMPLATE, ["list", "badges_oob"], **_context(view, grid, errors, **extra))
    return body, (422 if errors else 200)


@bp.get("")
@requires_role(*ROLES)
def index():
    grid, errors = _grid()
    grid.filters = {}
    extra = {}
    if not errors:
        counts, kpis = grid.chart(db(), grid.report.pie)
        extra["kpis"] = [dict(k, display=_kpi_display(k)) for k in kpis]
        extra["pie"] = _pie(grid, grid.report.pie, counts)
        if grid.report.key == "callers":
            extra["caller_rows"] = [dict(r, contact_rate_display=_kpi_display({"value": r["contact_rate"],
                                                                                 "kind": "rate"}))
                                    for r in summaries.callers(db(), g.dealer, grid.rng)]
        elif grid.report.key == "campaigns":
            extra["campaign_rows"] = summaries.campaigns(db(), grid)
        elif grid.report.key == "leads":
            extra["lead_rows"] = summaries.leads(db(), grid)
    return _render("chart", grid, errors, **extra)


@bp.get("/grid")
@requires_role(*ROLES)
def grid_view():
    grid, errors = _grid()
    extra = {}
    if not errors:
        pie_key = request.args.get("pie", "")
        column = grid.report.column(pie_key)
        if column is None or column.kind == DATETIME:
            pie_key = grid.report.pie
        rows, total, page_no = grid.page(db(), clamp_page(request.args.get("page")), PER_PAGE)
        extra.update(page=Page(rows=rows, page=page_no, per_page=PER_PAGE, total=total), pie_key=pie_key,
                     pie=_pie(grid, pie_key, grid.counts(db(), pie_key)))
    return _render("grid", grid, errors, **extra)


@bp.get("/export")
@requires_role(*ROLES)
def export():
    fmt = "xlsx" if request.args.get("format") == "xlsx" else "csv"
    grid, errors = _grid()
    if errors:
        return render_page(TEMPLATE, ["list"], **_context("grid", grid, errors)), 422
    name = f"{grid.report.key}-{grid.rng.first.isoformat()}-{grid.rng.last.isoformat()}"
    session = db()
    if fmt == "csv":
        def chunks():
            try:
                yield from grid.csv_chunks(session)
            finally:
                session.close()  # end the streaming read's transaction as soon as the last row is sent

        response = Response(stream_with_context(chunks()), mimetype="text/csv; charset=utf-8")
        response.headers["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response
    spool = tempfile.TemporaryFile()  # noqa: SIM115  (send_file closes it after streaming)
    try:
        grid.xlsx_file(session, spool)
    finally:
        session.close()
    spool.seek(0)
    return send_file(spool, download_name=f"{name}.xlsx", as_attachment=True,
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
