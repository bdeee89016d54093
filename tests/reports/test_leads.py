"""The OEM leads report (issue 14, item 9) on a fixed dataset, with hand-computed expectations (SQLite and
PostgreSQL), as tests/reports/test_summaries.py does for the other reports: the dealer is in Buenos Aires,
"now" is 2026-03-20 12:00 there, the range is March 2026."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from boxes.models import DiscardReason
from boxes.reports import summaries
from boxes.settings.discard_reasons import seed_defaults
from tests import factories
from tests.html import every, one, text
from tests.reports.test_summaries import at, charts_equal_counts_and_kpis, grid_of, kpis, pie, slices_equal_grid_counts


@pytest.fixture
def leads(db, dealers):
    """Eight leads received in March (and two outside it, one of dealer B):

    ========  ===========  ==========  =================  ===========================  ======
    lead      type         went to     first contact      result                       holder
    ========  ===========  ==========  =================  ===========================  ======
    L1        Service      board       on time            converted (sold)             Ana
    L2        Service      board       late               lost: Price                  Ana
    L3        AfterSales   board       not yet            open                         Beto
    L4        AfterSales   board       on time            converted                    Beto
    L5        Service      board       not yet            open (in the queue)          —
    L6        Parts        parts user  not yet            —                            Pia
    L7        NewVehicle   Sales       (no deadline)      —                            —
    L8        Service      board       late               lost: BoughtElsewhere        Beto
    ========  ===========  ==========  =================  ===========================  ======
    """
    ar, br = dealers
    seed_defaults(db, ar)
    db.commit()
    reasons = {r.code: r for r in db.scalars(select(DiscardReason).where(DiscardReason.dealer_id == ar.id))}
    ana = factories.user(db, role="caller", dealer=ar, name="Ana Caller")
    beto = factories.user(db, role="caller", dealer=ar, name="Beto Caller")
    pia = factories.user(db, role="caller", dealer=ar, name="Pia Parts")

    def lead(received, *, contacted=None, **kw):
        return factories.oem_lead(db, ar, received_at=received, first_contact_due=received.replace(hour=18),
                                  first_contact_at=contacted, **kw)

    lead(at(3, 2), contacted=at(3, 2, 15), lead_id="00QL1", assigned_user_id=ana.id, status="sold")
    lead(at(3, 5), contacted=at(3, 7), lead_id="00QL2", assigned_user_id=ana.id, status="discarded",
         discard_reason_id=reasons["price"].id)
    lead(at(3, 10), lead_type="AfterSales", assigned_user_id=beto.id)
    lead(at(3, 12), lead_type="AfterSales", contacted=at(3, 12, 11), assigned_user_id=beto.id, status="sold")
    lead(at(3, 19), text="Quiere turno para el service", lead_id="00QL5")
    lead(at(3, 8), lead_type="Parts", assigned_user_id=pia.id)
    factories.oem_lead(db, ar, lead_type="NewVehicle", disposition="sales", received_at=at(3, 15),
                       first_contact_due=None)
    lead(at(3, 16), contacted=at(3, 18), assigned_user_id=beto.id, status="discarded",
         discard_reason_id=reasons["serviced_elsewhere"].id)
    lead(at(2, 28, 23, 30))  # 02:30 UTC on March 1st, but February locally
    lead(at(4, 1))
    factories.oem_lead(db, br, received_at=at(3, 5), text="Bravo lead")
    return ar


def test_leads_by_type_first_contact_and_result(db, leads):
    ar = leads
    assert pie(db, ar, "leads") == {"Service": 4, "AfterSales": 2, "Parts": 1, "NewVehicle": 1}
    assert pie(db, ar, "leads", "disposition") == {"opportunity": 6, "parts": 1, "sales": 1}
    assert pie(db, ar, "leads", "first_contact") == {"on_time": 2, "late": 2, "not_yet": 3, "no_deadline": 1}
    assert pie(db, ar, "leads", "result") == {"converted": 2, "lost": 2, "open": 2, "off_board": 2}
    assert pie(db, ar, "leads", "lost_reason") == {"Price": 1, "BoughtElsewhere": 1, None: 6}
    assert kpis(db, ar, "leads") == {"leads": (8, 8, None), "on_time": (2 / 7, 2, 7), "conversion": (2 / 6, 2, 6),
                                     "lost": (2, 2, None)}


def test_leads_per_caller(db, leads):
    rows = summaries.leads(db, grid_of(leads, "leads"))
    assert rows == [
        dict(caller="", leads=2, on_time=0, late=0, not_yet=1, converted=0, lost=0),
        dict(caller="Ana Caller", leads=2, on_time=1, late=1, not_yet=0, converted=1, lost=1),
        dict(caller="Beto Caller", leads=3, on_time=1, late=1, not_yet=1, converted=1, lost=1),
        dict(caller="Pia Parts", leads=1, on_time=0, late=0, not_yet=1, converted=0, lost=0)]
    # Over the grid's filters, as the other reports' tables.
    assert summaries.leads(db, grid_of(leads, "leads", lead_type="AfterSales")) == [
        dict(caller="Beto Caller", leads=2, on_time=1, late=0, not_yet=1, converted=1, lost=0)]


def test_every_slice_is_its_grid_and_the_chart_is_its_counts(db, leads):
    assert slices_equal_grid_counts(db, leads, ["leads"]) > 20
    assert charts_equal_counts_and_kpis(db, leads, ["leads"]) > 5


def test_the_grid_and_its_export(db, leads):
    g = grid_of(leads, "leads", result="lost")
    g.sort, g.descending = "received_at", False
    rows, total, _ = g.page(db, 1, 50)
    assert total == 2 and rows[0]["lead_id"] == "00QL2"
    assert grid_of(leads, "leads", text="TURNO").total(db) == 1  # a text filter, as the other grids
    assert grid_of(leads, "leads", received_at="2026-03-19").total(db) == 1  # a local day
    lines = list(csv.reader(io.StringIO("".join(g.csv_chunks(db)).lstrip("\ufeff"))))
    assert len(lines) == 3 and lines[0] == g.header()
    assert "00QL2" in lines[1] and "Price" in lines[1]


def test_the_leads_report_page(client, db, leads, login_as):
    login_as("manager", leads, locale="en")
    html = client.get(f"/d/{leads.code}/reports?report=leads&preset=custom&start=2026-03-01&end=2026-03-31"
                      ).get_data(as_text=True)
    assert one(html, '[data-report="leads"]')
    assert text(one(html, '[data-kpi="leads"] .kpi-value')) == "8"
    summary = one(html, "#lead-summary")
    assert [text(r.find("td")) for r in every(summary, "tbody tr")] == ["Nobody", "Ana Caller", "Beto Caller",
                                                                         "Pia Parts"]
    grid = client.get(f"/d/{leads.code}/reports/grid?report=leads&preset=custom&start=2026-03-01&end=2026-03-31"
                      "&f_first_contact=late").get_data(as_text=True)
    assert len(every(grid, "#report-grid tbody tr[data-row]")) == 2 and "Bravo lead" not in grid
    export = client.get(f"/d/{leads.code}/reports/export?report=leads&preset=custom&start=2026-03-01"
                        "&end=2026-03-31&format=csv")
    assert export.status_code == 200 and len(list(csv.reader(io.StringIO(export.get_data(as_text=True))))) == 9
