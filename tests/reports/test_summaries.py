"""Report figures on a fixed dataset, with hand-computed expectations (SQLite and PostgreSQL).

The dealer is in Buenos Aires (UTC-3); "now" is 2026-03-20 12:00 there; the range is March 2026.
Every pie slice must equal the grid's count filtered on that slice.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from boxes.board.windows import BoardWindows
from boxes.errors import ActionError
from boxes.models import Opportunity
from boxes.reports import summaries
from boxes.reports.definitions import DATETIME, REPORTS
from boxes.reports.grid import Grid
from boxes.reports.ranges import make_range
from boxes.settings.discard_reasons import seed_defaults
from tests import factories

BA = ZoneInfo("America/Argentina/Buenos_Aires")
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=BA)


def at(month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BA)


@pytest.fixture
def world(db, dealers):
    ar, br = dealers
    seed_defaults(db, ar)
    u1 = factories.user(db, role="caller", dealer=ar, name="Ana Caller")
    u2 = factories.user(db, role="caller", dealer=ar, name="Beto Caller")
    from sqlalchemy import select

    from boxes.models import DiscardReason
    price = db.scalar(select(DiscardReason).where(DiscardReason.dealer_id == ar.id).order_by(DiscardReason.position))

    # Deliveries: D1 contacted, D2 no answer, D3 and D5 never called, D4 on Feb 28 local (outside).
    d1 = factories.delivery(db, ar, at(3, 5), welcome_call_at=at(3, 6))
    d2 = factories.delivery(db, ar, at(3, 6))
    factories.delivery(db, ar, at(3, 7))
    factories.delivery(db, ar, at(2, 28, 23, 30))  # 02:30 UTC on March 1st, but February locally
    factories.delivery(db, ar, at(3, 1, 0, 30))
    factories.activity(db, ar, at(3, 6), kind="welcome_call", subject_type="delivery", subject_id=d1.id,
                       outcome="contacted", user_id=u1.id)
    factories.activity(db, ar, at(3, 7), kind="welcome_call", subject_type="delivery", subject_id=d2.id,
                       outcome="no_answer", user_id=u1.id)
    factories.delivery(db, br, at(3, 5))  # another dealer's

    # Opportunities created in March: open, overdue, 2 sold, 1 discarded; one in April (outside).
    factories.opportunity(db, ar, at(3, 25), created_at=at(3, 2))
    factories.opportunity(db, ar, at(3, 10), created_at=at(3, 3))
    factories.opportunity(db, ar, at(3, 12), created_at=at(3, 4), status="sold", closed_by_id=u1.id,
                          closed_at=at(3, 12), credited_user_id=u1.id, credited_at=at(4, 2))
    factories.opportunity(db, ar, at(3, 12), created_at=at(3, 4), status="sold", closed_by_id=u2.id,
                          closed_at=at(3, 13))
    factories.opportunity(db, ar, at(3, 12), created_at=at(3, 4), status="discarded", discard_reason_id=price.id)
    factories.opportunity(db, ar, at(4, 5), created_at=at(4, 1))

    # A campaign: sold and shown, discarded, open and contacted.
    camp = factories.campaign(db, ar, name="Recall airbag")
    factories.opportunity(db, ar, at(3, 14), created_at=at(3, 8), origin="campaign", campaign_id=camp.id,
                          status="sold", closed_by_id=u1.id, closed_at=at(3, 14), credited_user_id=u1.id,
                          credited_at=at(3, 15))
    factories.opportunity(db, ar, at(3, 14), created_at=at(3, 8), origin="campaign", campaign_id=camp.id,
                          status="discarded", discard_reason_id=price.id)
    co3 = factories.opportunity(db, ar, at(3, 28), created_at=at(3, 8), origin="campaign", campaign_id=camp.id)
    factories.activity(db, ar, at(3, 9), kind="call", subject_type="opportunity", subject_id=co3.id,
                       outcome="contacted", user_id=u1.id)

    # Appointments in March: 2 arrived, 2 no-shows (one by status, one by date), cancelled, pending, confirmed.
    factories.appointment(db, ar, at(3, 3), status="fulfilled")
    factories.appointment(db, ar, at(3, 4), status="confirmed", arrived_at=at(3, 4, 10, 5))
    factories.appointment(db, ar, at(3, 5), status="no_show")
    factories.appointment(db, ar, at(3, 10), status="confirmed", confirmed_at=at(3, 9))
    factories.appointment(db, ar, at(3, 11), status="cancelled")
    factories.appointment(db, ar, at(3, 25), status="requested")
    factories.appointment(db, ar, at(3, 28), status="confirmed", confirmed_at=at(3, 19))

    # In process (open ROs) opened today, yesterday, 5 days ago, 18 days ago; one delivered.
    for day in (20, 19, 15, 2):
        factories.repair_order(db, ar, at(3, day, 8))
    factories.repair_order(db, ar, at(3, 1), delivered_at=at(3, 2), status="delivered")  # also completed

    # Completed: satisfaction 5 and 3, one without courtesy call (plus the one above: 4 in all).
    r1 = factories.repair_order(db, ar, at(3, 9), delivered_at=at(3, 10), status="delivered",
                                courtesy_call_at=at(3, 11))
    r2 = factories.repair_order(db, ar, at(3, 9), delivered_at=at(3, 10), status="delivered",
                                courtesy_call_at=at(3, 11))
    factories.activity(db, ar, at(3, 11), kind="courtesy_call", subject_type="repair_order", subject_id=r1.id,
                       outcome="contacted", satisfaction=5, user_id=u2.id)
    factories.activity(db, ar, at(3, 11), kind="courtesy_call", subject_type="repair_order", subject_id=r2.id,
                       outcome="contacted", satisfaction=3, user_id=u2.id)
    factories.repair_order(db, ar, at(3, 17), delivered_at=at(3, 18), status="delivered")
    factories.activity(db, ar, at(3, 12), kind="note", subject_type="customer", comment="just a note", user_id=u2.id)
    return dict(ar=ar, u1=u1, u2=u2, campaign=camp)


def grid_of(dealer, key: str, **filters) -> Grid:
    rng = make_range(dealer.time_zone, "custom", "2026-03-01", "2026-03-31", now=NOW)
    return Grid(REPORTS[key], rng, dealer, "es", filters, w=BoardWindows.at(dealer.time_zone, now=NOW))


def pie(db, dealer, key, column=None) -> dict:
    g = grid_of(dealer, key)
    return dict(g.counts(db, column or g.report.pie))


def kpis(db, dealer, key) -> dict:
    return {k["kpi"].key: (k["value"], k["numerator"], k["denominator"]) for k in grid_of(dealer, key).kpis(db)}


def test_deliveries(db, world):
    ar = world["ar"]
    assert pie(db, ar, "deliveries") == {"contacted": 1, "not_reached": 1, "no_call": 2}
    assert pie(db, ar, "deliveries", "welcome_call") == {"done": 1, "pending": 3}
    assert kpis(db, ar, "deliveries") == {"deliveries": (4, 4, None), "contact_rate": (0.25, 1, 4)}


def test_opportunities(db, world):
    ar = world["ar"]
    assert pie(db, ar, "opportunities") == {"open": 2, "overdue": 1, "sold": 3, "discarded": 2}
    assert pie(db, ar, "opportunities", "origin") == {"manual": 5, "campaign": 3}
    k = kpis(db, ar, "opportunities")
    assert k["opportunities"][0] == 8
    assert k["conversion"] == (0.6, 3, 5)
    reasons = pie(db, ar, "opportunities", "discard_reason")
    assert reasons[None] == 6 and sum(v for r, v in reasons.items() if r) == 2


def test_appointments(db, world):
    ar = world["ar"]
    assert pie(db, ar, "appointments") == {"arrived": 2, "no_show": 2, "cancelled": 1, "pending": 1, "confirmed": 1}
    k = kpis(db, ar, "appointments")
    assert k["show_rate"] == (0.5, 2, 4)
    assert k["no_show_rate"] == (0.5, 2, 4)
    assert k["cancelled"][0] == 1


def test_in_process_ageing(db, world):
    ar = world["ar"]
    assert pie(db, ar, "in_process") == {"today": 1, "yesterday": 1, "week": 1, "older": 1}
    assert kpis(db, ar, "in_process")["older_share"] == (0.25, 1, 4)


def test_completed_and_satisfaction(db, world):
    ar = world["ar"]
    assert pie(db, ar, "completed") == {5: 1, 3: 1, None: 2}
    k = kpis(db, ar, "completed")
    assert k["completed"][0] == 4
    assert k["courtesy_rate"] == (0.5, 2, 4)
    assert k["satisfaction"][0] == 4.0 and k["satisfaction"][2] == 2


def test_campaigns_report(db, world):
    ar = world["ar"]
    g = grid_of(ar, "campaigns")
    assert summaries.campaigns(db, g) == [dict(campaign="Recall airbag", units=3, contacted=1, sold=1, shown=1,
                                               discarded=1)]
    assert pie(db, ar, "campaigns") == {"open": 1, "sold": 1, "discarded": 1}


def test_callers(db, world):
    ar, u1, u2 = world["ar"], world["u1"], world["u2"]
    assert pie(db, ar, "callers") == {"contacted": 4, "no_answer": 1}
    rng = make_range(ar.time_zone, "custom", "2026-03-01", "2026-03-31", now=NOW)
    rows = {r["user_id"]: r for r in summaries.callers(db, ar, rng)}
    assert {k: rows[u1.id][k] for k in ("calls", "contacted", "sold", "credited")} == \
        {"calls": 3, "contacted": 2, "sold": 2, "credited": 1}
    assert {k: rows[u2.id][k] for k in ("calls", "contacted", "sold", "credited")} == \
        {"calls": 2, "contacted": 2, "sold": 1, "credited": 0}


def slices_equal_grid_counts(db, dealer, keys=tuple(REPORTS)) -> int:
    """Every pie slice of every column of the reports ``keys`` equals the grid's count filtered on that slice
    (and its rows); the number of slices checked."""
    checked = 0
    for key in keys:
        report = REPORTS[key]
        base = grid_of(dealer, key)
        assert sum(n for _, n in base.counts(db, report.pie)) == base.total(db)
        for column in report.columns:
            if column.kind == DATETIME:
                continue
            for value, n in base.counts(db, column.key):
                filtered = grid_of(dealer, key, **{column.key: base.filter_value(column.key, value)})
                assert filtered.total(db) == n, (key, column.key, value)
                rows, total, _ = filtered.page(db, 1, 500)
                assert total == n == len(rows)
                checked += 1
    return checked


def charts_equal_counts_and_kpis(db, dealer, keys=tuple(REPORTS)) -> int:
    """For the reports ``keys``, every pie column, without and with a filter on the pie's empty value: the
    one grouped statement (``Grid.chart``) equals the separate counts and KPIs; the number checked."""
    checked = 0
    for key in keys:
        report = REPORTS[key]
        for filters in ({}, {report.pie: grid_of(dealer, key).filter_value(report.pie, None)}):
            grid = grid_of(dealer, key, **filters)
            for column in report.columns:
                if column.kind == DATETIME:
                    continue
                counts, figures = grid.chart(db, column.key)
                assert counts == grid.counts(db, column.key), (key, column.key, filters)
                assert figures == grid.kpis(db), (key, column.key, filters)
                checked += 1
    return checked


def test_every_chart_number_equals_its_grid_count(db, world):
    assert slices_equal_grid_counts(db, world["ar"]) > 50


def test_chart_reads_once_what_counts_and_kpis_read_apart(db, world):
    """The reports page takes its pie and its KPIs from one grouped statement: for every report, every
    pie column and with a filter on, they equal the separate counts and KPIs, empty means included."""
    assert charts_equal_counts_and_kpis(db, world["ar"]) > 30


def test_filters_and_sorting(db, world):
    ar = world["ar"]
    g = grid_of(ar, "opportunities", state="sold")
    g.sort, g.descending = "created_at", False
    rows, total, _ = g.page(db, 1, 50)
    assert total == 3 and [r["created_at"] for r in rows] == sorted(r["created_at"] for r in rows)
    assert grid_of(ar, "opportunities", campaign="airbag").total(db) == 3  # contains, case-insensitive
    assert grid_of(ar, "opportunities", created_at="2026-03-04").total(db) == 3  # a local day


def test_exports_are_exactly_the_grid(db, world):
    ar = world["ar"]
    g = grid_of(ar, "appointments", result="arrived")
    text = "".join(g.csv_chunks(db)).lstrip("\ufeff")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0][0] == "Turno" or lines[0] == g.header()
    assert len(lines) == 1 + g.total(db) == 3
    buffer = io.BytesIO()
    g.xlsx_file(db, buffer)
    ws = load_workbook(io.BytesIO(buffer.getvalue()), read_only=True).active
    sheet = [list(r) for r in ws.iter_rows(values_only=True)]
    as_text = [[c.strftime("%Y-%m-%d %H:%M") if isinstance(c, datetime) else c for c in row] for row in sheet[1:]]
    assert len(sheet) == 3 and as_text == [[c if c != "" else None for c in row] for row in lines[1:]]


def test_ranges_in_dealer_time_zone():
    tz = "America/Argentina/Buenos_Aires"
    today = make_range(tz, "today", now=datetime(2026, 3, 20, 1, 0, tzinfo=ZoneInfo("UTC")))  # 22:00 on the 19th
    assert today.first.isoformat() == "2026-03-19"
    assert today.start.isoformat() == "2026-03-19T03:00:00+00:00"
    week = make_range(tz, "this_week", now=NOW)
    assert (week.first.isoformat(), week.last.isoformat()) == ("2026-03-16", "2026-03-20")
    month = make_range(tz, "this_month", now=NOW)
    assert month.first.isoformat() == "2026-03-01"
    last30 = make_range(tz, "last_30_days", now=NOW)
    assert (last30.last - last30.first).days == 29
    with pytest.raises(ActionError) as exc:
        make_range(tz, "custom", "2026-03-10", "2026-03-01")
    assert "end" in exc.value.errors
    with pytest.raises(ActionError) as exc:
        make_range(tz, "custom", "nope", "2026-03-01")
    assert "start" in exc.value.errors


def test_other_dealer_rows_never_counted(db, world, dealers):
    _, br = dealers
    assert grid_of(br, "deliveries").total(db) == 1
    assert grid_of(br, "opportunities").total(db) == 0
    assert db.query(Opportunity).count() == 9


FORMULAS = ['=HYPERLINK("http://evil.example","Ver")', "+54 11 cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)",
            "\t=1+1", "\r=1+1"]


def test_exports_neutralize_formulas_and_keep_numbers(db, world):
    """A campaign name, a customer name, a user name typed by someone with bad intentions must reach
    the spreadsheet as text: a CSV cell that starts with = + - @ (or tab/CR) is a formula to Excel,
    an XLSX cell written from such a string becomes a live formula."""
    ar = world["ar"]
    camp = factories.campaign(db, ar, name=FORMULAS[0])
    for i, text in enumerate(FORMULAS):
        factories.opportunity(db, ar, at(3, 20), created_at=at(3, 18, 9 + i), origin="campaign",
                              campaign_id=camp.id, name=text)
    g = grid_of(ar, "campaigns", campaign="=" + FORMULAS[0])
    assert g.total(db) == len(FORMULAS)
    lines = list(csv.reader(io.StringIO("".join(g.csv_chunks(db)).lstrip("\ufeff"))))
    buffer = io.BytesIO()
    g.xlsx_file(db, buffer)
    ws = load_workbook(io.BytesIO(buffer.getvalue())).active
    sheet = [[c for c in row] for row in ws.iter_rows(min_row=2)]
    assert len(lines) - 1 == len(sheet) == len(FORMULAS)
    for cells in [line for line in lines[1:]] + [[c.value for c in row] for row in sheet]:
        texts = [c for c in cells if isinstance(c, str)]
        assert not [c for c in texts if c[:1] in ("=", "+", "-", "@", "\t", "\r")], cells
    assert all(c.data_type != "f" for row in sheet for c in row)
    customers = sorted(row[2].value.replace("\n", "\r") for row in sheet)  # XML keeps no bare CR
    assert customers == sorted("'" + text for text in FORMULAS)  # shown as typed, behind a quote
    # Numbers stay numbers: the satisfaction column of the completed report.
    done = grid_of(ar, "completed", satisfaction="5")
    buffer = io.BytesIO()
    done.xlsx_file(db, buffer)
    row = next(load_workbook(io.BytesIO(buffer.getvalue())).active.iter_rows(min_row=2, values_only=True))
    assert row[-1] == 5


def test_xlsx_dates_are_date_cells_in_the_dealer_zone(db, world):
    ar = world["ar"]
    g = grid_of(ar, "appointments")
    g.sort, g.descending = "scheduled_at", False
    buffer = io.BytesIO()
    g.xlsx_file(db, buffer)
    ws = load_workbook(io.BytesIO(buffer.getvalue())).active
    first = ws.cell(row=2, column=1)
    assert first.is_date and first.value == datetime(2026, 3, 3, 10, 0)  # 10:00 in Buenos Aires, not 13:00 UTC
    assert "yy" in first.number_format and "h" in first.number_format


@pytest.mark.parametrize("typed", ["álvarez", "ALVAREZ", "Álvarez", "alvarez", "ÁLVAREZ"])
def test_text_filters_ignore_case_and_accents(db, world, typed):
    """Users type names in Spanish and Portuguese with or without accents and capitals: SQLite's lower()
    alone folds ASCII only, so "álvarez" found no "Álvarez"."""
    ar = world["ar"]
    factories.opportunity(db, ar, at(3, 20), created_at=at(3, 18), name="Martín Álvarez")
    factories.opportunity(db, ar, at(3, 20), created_at=at(3, 18), name="JOÃO CONCEIÇÃO")
    factories.opportunity(db, ar, at(3, 20), created_at=at(3, 18), name="Alvarenga 100%_x")
    assert [r["customer"] for r in grid_of(ar, "opportunities", customer=typed).page(db, 1, 50)[0]] == \
        ["Martín Álvarez"]
    assert grid_of(ar, "opportunities", customer="joao conceicao").total(db) == 1
    assert grid_of(ar, "opportunities", customer="Conceição").total(db) == 1
    assert grid_of(ar, "opportunities", customer="100%_").total(db) == 1  # LIKE's wildcards are plain text
    assert grid_of(ar, "opportunities", customer="0%x").total(db) == 0
