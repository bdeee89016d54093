"""On PostgreSQL, every board list query and the badges are served by indexes.

Each list function runs against a PostgreSQL schema of its own; every statement it sends is then
EXPLAINed with sequential scans disabled: a plan that still has a Seq Scan has no index to use.
"""

from __future__ import annotations

import json
from datetime import timedelta
from functools import partial

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from boxes.board import appointments, badges, completed, deliveries, in_process, opportunities
from boxes.board.windows import BoardWindows
from boxes.campaigns import service as campaign_service
from boxes.db import make_engine, make_sessionmaker, utcnow
from boxes.migrate import upgrade
from boxes.oem import queue as lead_queue
from boxes.reports.grid import Grid, report_of
from boxes.reports.ranges import DEFAULT_PRESET, make_range
from tests import factories
from tests.conftest import scratch_postgres

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_session(postgres_url):
    with scratch_postgres(postgres_url, "explain_check") as url:
        upgrade(url)
        engine = make_engine(url)
        session = make_sessionmaker(engine)()
        yield session
        session.close()
        engine.dispose()


def _seq_scans(plan: dict) -> list[str]:
    found = []
    if plan.get("Node Type") == "Seq Scan":
        found.append(plan.get("Relation Name", "?"))
    for child in plan.get("Plans", []):
        found += _seq_scans(child)
    return found


def _indexes(plan: dict) -> set[str]:
    found = {plan["Index Name"]} if "Index Name" in plan else set()
    for child in plan.get("Plans", []):
        found |= _indexes(child)
    return found


# The index each list's window must use (a dealer_id-only index would also avoid a Seq Scan, but
# would read every row of the dealer).
WINDOW_INDEX = {
    "deliveries": "ix_delivery_dealer_delivered",
    "opportunities_campaign": ("ix_opportunity_dealer_campaign_status_due", "ix_opportunity_dealer_status_origin_due"),
    "opportunities": ("ix_opportunity_dealer_status_due", "ix_opportunity_dealer_status_origin_due"),
    "appointments": ("ix_appointment_dealer_status_scheduled", "ix_appointment_dealer_arrived",
                     "ix_appointment_dealer_scheduled"),
    "in_process": "ix_repair_order_open",
    "completed": ("ix_repair_order_dealer_delivered_opened", "ix_repair_order_courtesy_pending"),
    "campaigns": "ix_campaign_dealer_status",
    "reports_leads": "ix_oem_lead_dealer_disposition_received",
    "reports": "ix_opportunity_dealer_created",
    "lead_queue": ("ix_opportunity_dealer_status_origin_due", "ix_opportunity_dealer_oem_lead"),
}


def _call(function, s, d, w, **kwargs):
    return function(s, d, w, **kwargs)


LISTS = {
    "badges": lambda s, d, w: badges.badges(s, d, w),
    "deliveries": lambda s, d, w: deliveries.deliveries(s, d, w, welcome="all"),
    "deliveries_pending": lambda s, d, w: deliveries.deliveries(s, d, w, welcome="pending"),
    "opportunities": lambda s, d, w: (opportunities.opportunities_and_groups(s, d, w),
                                      opportunities.opportunities(s, d, w)),
    "opportunities_campaign": lambda s, d, w: opportunities.opportunities(s, d, w, origin="campaign", campaign_id=1),
    **{f"appointments_{v}": partial(_call, appointments.appointments, view=v) for v in appointments.SUB_VIEWS},
    "appointment_counts": lambda s, d, w: appointments.sub_view_counts(s, d, w),
    **{f"in_process_{f}": partial(_call, in_process.in_process, opened=f) for f in in_process.OPENED_FILTERS},
    "completed": lambda s, d, w: completed.completed(s, d, w, courtesy="all"),
    "campaigns": lambda s, d, w: campaign_service.campaigns(s, d),
    # The Reports button's page: the opportunities report of this month, its pie and KPIs in one statement.
    "reports": lambda s, d, w: Grid(report_of(None), make_range(d.time_zone, DEFAULT_PRESET), d, "es", w=w).chart(
        s, report_of(None).pie),
    "reports_leads": lambda s, d, w: Grid(report_of("leads"), make_range(d.time_zone, DEFAULT_PRESET), d, "es",
                                          w=w).chart(s, report_of("leads").pie),
    "lead_queue": lambda s, d, w: lead_queue.queue(s, d),
}


@pytest.mark.parametrize("name", list(LISTS))
def test_list_query_uses_indexes(pg_session, name):
    s = pg_session
    dealer = s.scalar(sa.select(factories.Dealer).where(factories.Dealer.code == "AR01"))
    if dealer is None:
        dealer = factories.dealer_ar(s)
        now = utcnow()
        factories.delivery(s, dealer, now - timedelta(days=1))
        factories.opportunity(s, dealer, now + timedelta(days=1))
        factories.appointment(s, dealer, now + timedelta(days=1), status="requested")
        factories.repair_order(s, dealer, now - timedelta(days=1))
        factories.oem_lead(s, dealer, text="a lead on the board")
    statements = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    engine = s.get_bind()
    event.listen(engine, "before_cursor_execute", capture)
    try:
        LISTS[name](s, dealer, BoardWindows.at(dealer.time_zone))
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    s.rollback()
    assert statements
    used: set[str] = set()
    with engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        for statement, parameters in statements:
            raw = conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters).scalar()
            plan = (raw if isinstance(raw, list) else json.loads(raw))[0]["Plan"]
            assert _seq_scans(plan) == [], f"{name}: sequential scan in\n{statement}"
            used |= _indexes(plan)
    for prefix, expected in sorted(WINDOW_INDEX.items(), key=lambda item: -len(item[0])):
        if name.startswith(prefix):
            expected = (expected,) if isinstance(expected, str) else expected
            assert used & set(expected), f"{name} uses {sorted(used)}, not {expected}"
            break


def _nodes(plan: dict, parent: dict | None = None):
    yield plan, parent
    for child in plan.get("Plans", []):
        yield from _nodes(child, plan)


def test_a_lead_row_finds_its_lead_by_its_key_on_the_pages_ids_only(pg_session):
    """The New opportunities page with OEM leads among its rows, planned by PostgreSQL as it is (sequential
    scans allowed, statistics gathered) over a dealer with a few thousand opportunities and leads: the page's
    ids are still an index walk of the list's window cut at the page (the deferred join), and each row's lead
    is one lookup of the lead's unique key (dealer, lead id), made for those 50 rows only."""
    s = pg_session
    dealer = factories.dealer_ar(s, code="PLAN01")
    now = utcnow()
    s.execute(sa.text("""
        INSERT INTO opportunity (dealer_id, origin, due_at, status, note, discard_comment, created_at, version,
                                 oem_lead_id)
        SELECT :d, CASE WHEN g % 5 = 0 THEN 'oem_lead' ELSE 'manual' END,
               :now + (g % 40 - 20) * interval '1 day' + g * interval '1 second',
               CASE WHEN g % 3 = 0 THEN 'sold' ELSE 'open' END, '', '', :now, 1,
               CASE WHEN g % 5 = 0 THEN 'PLAN' || lpad(g::text, 14, '0') END
        FROM generate_series(1, 6000) g"""), {"d": dealer.id, "now": now})
    s.execute(sa.text("""
        INSERT INTO oem_lead (dealer_id, lead_id, lead_type, disposition, reason, text, modified_at,
                              oem_created_at, received_at, payload, opportunity_id, first_contact_due)
        SELECT dealer_id, oem_lead_id, 'Service', 'opportunity', '', 'texto', :now, :now, :now, '{}'::json, id, due_at
        FROM opportunity WHERE dealer_id = :d AND oem_lead_id IS NOT NULL
        UNION ALL
        SELECT :d, 'PART' || lpad(g::text, 14, '0'), 'Parts', 'parts', '', '', :now, :now, :now, '{}'::json, NULL, NULL
        FROM generate_series(1, 4000) g"""), {"d": dealer.id, "now": now})
    s.commit()
    engine = s.get_bind()
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE opportunity, oem_lead")
    statements = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    w = BoardWindows.at(dealer.time_zone)
    event.listen(engine, "before_cursor_execute", capture)
    try:
        page, _ = opportunities.opportunities_and_groups(s, dealer, w)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    s.rollback()
    assert len(page.rows) == 50 and any(row.lead_type for row in page.rows)
    statement, parameters = statements[-1]
    with engine.connect() as conn:
        raw = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters).scalar()
    plan = (raw if isinstance(raw, list) else json.loads(raw))[0]["Plan"]
    nodes = list(_nodes(plan))  # (the group counts, over most of this small table, may read it whole)
    walks = [n for n, parent in nodes if n.get("Index Name") in WINDOW_INDEX["opportunities"]
             and n.get("Relation Name") == "opportunity" and parent and parent["Node Type"] == "Limit"]
    assert walks, "the page's ids are not an index walk cut at the page"
    leads = [n for n, _ in nodes if n.get("Relation Name") == "oem_lead"]
    assert [n.get("Index Name") for n in leads] == ["uq_oem_lead_dealer_id_lead_id"], leads
    assert leads[0]["Actual Loops"] <= 50  # one lookup per row of the page, not a read of the dealer's leads
