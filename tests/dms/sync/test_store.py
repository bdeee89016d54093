"""The store path itself, on both databases: a page that mixes new records, newer and older
versions and duplicates; several pages in one transaction; the PostgreSQL bulk path when another
writer inserted one of the page's ids meanwhile; and the sync's prefetch thread (order, errors,
bounded read-ahead)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from boxes.dms.connectors.base import Page, TransportError
from boxes.dms.sync import postgres, runs, store
from boxes.dms.sync.runs import run
from boxes.dms.sync.store import store_records
from boxes.models import Customer, QuarantinedRecord, RepairOrder, RepairOrderLine, SyncCursor, SyncRun, Vehicle
from tests import factories

T0 = "2025-01-01T00:00:00+00:00"
T1 = "2025-01-02T00:00:00+00:00"
T2 = "2025-01-03T00:00:00+00:00"


def _references(db, dealer, vehicles=3):
    store_records(db, dealer.id, "customers", [{"dms_id": "C1", "name": "Ana Pérez", "dms_updated_at": T0}])
    store_records(db, dealer.id, "vehicles", [
        {"dms_id": f"V{i}", "customer_dms_id": "C1", "plate": f"AB{i:03d}CD", "dms_updated_at": T0}
        for i in range(vehicles)])
    db.commit()


def _ro(dms_id, stamp, works, vehicle="V0", **extra):
    return {"dms_id": dms_id, "number": dms_id, "vehicle_dms_id": vehicle, "opened_at": "2025-01-01T09:00:00Z",
            "status": "open", "dms_updated_at": stamp,
            "lines": [{"line_no": n, "work_done": w} for n, w in enumerate(works, 1)], **extra}


def _ros(db, dealer) -> dict:
    db.expire_all()
    out = {}
    for ro in db.scalars(select(RepairOrder).where(RepairOrder.dealer_id == dealer.id)):
        lines = db.scalars(select(RepairOrderLine.work_done).where(RepairOrderLine.repair_order_id == ro.id)
                           .order_by(RepairOrderLine.line_no)).all()
        out[ro.dms_id] = (ro.number, ro.mileage, tuple(lines))
    return out


def test_a_mixed_page_inserts_updates_keeps_and_replaces_lines(db, dealers):
    ar = dealers[0]
    _references(db, ar)
    counts = store_records(db, ar.id, "repair_orders", [_ro("R1", T1, ["a"]), _ro("R2", T1, ["b", "c"])])
    db.commit()
    assert (counts.inserted, counts.updated, counts.unchanged) == (2, 0, 0)

    page = [
        _ro("R1", T2, ["a2", "a3"], mileage=100),  # newer: updated, lines replaced
        _ro("R2", T0, ["old"], mileage=1),  # older than stored: unchanged, lines kept
        _ro("R3", T1, ["d"]),  # new
        _ro("R3", T0, ["stale copy"]),  # the same id twice: the newest version wins
        _ro("R4", T1, ["e"], vehicle="V9"),  # unknown vehicle: quarantined
        {"dms_id": "R5", "dms_updated_at": T1},  # invalid
    ]
    counts = store_records(db, ar.id, "repair_orders", page)
    db.commit()
    assert (counts.inserted, counts.updated, counts.unchanged, counts.quarantined) == (1, 1, 2, 2)
    assert _ros(db, ar) == {"R1": ("R1", 100, ("a2", "a3")), "R2": ("R2", None, ("b", "c")),
                            "R3": ("R3", None, ("d",))}
    kinds = sorted(q.kind for q in db.scalars(select(QuarantinedRecord)))
    assert kinds == ["invalid", "reference"]

    # The same page again: nothing new, nothing written.
    counts = store_records(db, ar.id, "repair_orders", page[:4])
    db.commit()
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 0, 4)
    assert _ros(db, ar)["R1"] == ("R1", 100, ("a2", "a3"))


def test_several_pages_in_one_transaction(db, dealers):
    """retry_quarantined and the admin's retry store batch after batch before one commit."""
    ar = dealers[0]
    _references(db, ar)
    first = store_records(db, ar.id, "repair_orders", [_ro("R1", T1, ["a"]), _ro("R2", T1, ["b"])])
    second = store_records(db, ar.id, "repair_orders", [_ro("R1", T2, ["a2"]), _ro("R3", T1, ["c"])])
    db.commit()
    assert (first.inserted, second.inserted, second.updated) == (2, 1, 1)
    assert _ros(db, ar) == {"R1": ("R1", None, ("a2",)), "R2": ("R2", None, ("b",)), "R3": ("R3", None, ("c",))}


def test_ids_another_writer_inserted_meanwhile_take_the_upsert_path(pg_db, monkeypatch):
    """PostgreSQL copies the ids it did not find straight into the table. Should one of them have
    been inserted since the lookup, the COPY fails on the unique key, is undone to its savepoint,
    and the page is upserted as if it had been found: the version guard still decides."""
    db = pg_db
    ar = factories.dealer_ar(db)
    _references(db, ar)
    store_records(db, ar.id, "repair_orders", [_ro("R1", T1, ["a"]), _ro("R2", T1, ["b"])])
    store_records(db, ar.id, "customers", [{"dms_id": "C2", "name": "Old name", "dms_updated_at": T1}])
    db.commit()

    real = postgres.lookup_ids

    def blind(session, model, dealer_id, dms_ids, *extra):
        if model in (RepairOrder, Customer) and extra:  # the page's own lookup: "nothing stored yet"
            return {}
        return real(session, model, dealer_id, dms_ids, *extra)

    monkeypatch.setattr(postgres, "lookup_ids", blind)
    counts = store_records(db, ar.id, "repair_orders", [_ro("R1", T2, ["a2"]), _ro("R2", T0, ["older"]),
                                                        _ro("R3", T1, ["c"])])
    customers = store_records(db, ar.id, "customers", [{"dms_id": "C2", "name": "New name", "dms_updated_at": T2},
                                                       {"dms_id": "C3", "name": "Bea", "dms_updated_at": T2}])
    db.commit()
    assert (counts.inserted, counts.updated, counts.unchanged) == (1, 1, 1)
    assert (customers.inserted, customers.updated) == (1, 1)
    assert _ros(db, ar) == {"R1": ("R1", None, ("a2",)), "R2": ("R2", None, ("b",)), "R3": ("R3", None, ("c",))}
    names = dict(db.execute(select(Customer.dms_id, Customer.name).where(Customer.dealer_id == ar.id)).all())
    assert names == {"C1": "Ana Pérez", "C2": "New name", "C3": "Bea"}


class _Pages:
    """A connector of ready pages that remembers how far it was read and whether it was closed."""

    kind = "test"

    def __init__(self, pages, fail_after: int | None = None):
        self._pages = pages
        self.fail_after = fail_after
        self.read = 0
        self.closed = threading.Event()

    def pages(self, entity, cursor):
        try:
            for number, records in enumerate(self._pages, 1):
                if self.fail_after is not None and number > self.fail_after:
                    raise TransportError("the DMS went away")
                self.read = number
                yield Page(records, f"page-{number}")
        finally:
            self.closed.set()

    def close(self):
        pass


def _customers(first: int, n: int) -> list[dict]:
    return [{"dms_id": f"C{i:04d}", "name": f"Cliente {i}", "dms_updated_at": T0} for i in range(first, first + n)]


def test_prefetched_pages_are_stored_in_order_and_an_error_keeps_what_came_before(db, dealers):
    ar = dealers[0]
    feed = _Pages([_customers(10 * k, 10) for k in range(5)], fail_after=3)
    with pytest.raises(TransportError):
        run(db, ar, "customers", connector=feed)
    db.expire_all()
    stored = db.scalars(select(Customer.dms_id).where(Customer.dealer_id == ar.id)).all()
    assert sorted(stored) == [f"C{i:04d}" for i in range(30)]
    cursor = db.scalar(select(SyncCursor.cursor).where(SyncCursor.dealer_id == ar.id,
                                                       SyncCursor.entity == "customers"))
    assert cursor == "page-3"
    last = db.scalar(select(SyncRun).where(SyncRun.dealer_id == ar.id).order_by(SyncRun.id.desc()))
    assert (last.status, last.pages, last.inserted, last.cursor_after) == ("failed", 3, 30, "page-3")
    assert "went away" in last.error
    assert feed.closed.is_set()


def test_the_prefetch_reads_a_bounded_number_of_pages_ahead(db, dealers, monkeypatch):
    ar = dealers[0]
    feed = _Pages([_customers(10 * k, 10) for k in range(20)])
    ahead = []
    real = runs._store_page

    def slow_store(session, dealer_id, entity, page, prepared, sync_run, cursor_row):
        threading.Event().wait(0.02)  # the prefetch thread has all the time it wants to run ahead
        ahead.append(feed.read - int(page.cursor.split("-")[1]))
        real(session, dealer_id, entity, page, prepared, sync_run, cursor_row)

    monkeypatch.setattr(runs, "_store_page", slow_store)
    sync_run = run(db, ar, "customers", connector=feed)
    assert (sync_run.status, sync_run.pages, sync_run.inserted) == ("succeeded", 20, 200)
    assert max(ahead) <= runs.PREFETCH_PAGES + 1  # one waiting in the queue, one read and held


def test_a_failure_while_storing_stops_the_prefetch_and_closes_the_connector(db, dealers, monkeypatch):
    ar = dealers[0]
    feed = _Pages([_customers(10 * k, 10) for k in range(50)])
    real = runs._store_page

    def store(session, dealer_id, entity, page, prepared, sync_run, cursor_row):
        if page.cursor == "page-2":
            raise RuntimeError("disk full")
        real(session, dealer_id, entity, page, prepared, sync_run, cursor_row)

    monkeypatch.setattr(runs, "_store_page", store)
    with pytest.raises(RuntimeError, match="disk full"):
        run(db, ar, "customers", connector=feed)
    assert feed.closed.wait(5)
    assert feed.read < 50
    db.expire_all()
    assert len(db.scalars(select(Customer.id).where(Customer.dealer_id == ar.id)).all()) == 10


def test_the_lines_of_updated_repair_orders_are_deleted_through_the_index_without_statistics(pg_db):
    """A first load grows tables faster than autovacuum analyzes them (a join on unnest(array)
    became a nested loop over a sequential scan of the lines: a second per page)."""
    db = pg_db
    ar = factories.dealer_ar(db)
    _references(db, ar, vehicles=50)
    store_records(db, ar.id, "repair_orders", [_ro(f"R{i}", T1, ["a", "b"], vehicle=f"V{i % 50}")
                                               for i in range(3000)])
    db.commit()
    raw = db.connection().connection.driver_connection
    ids = [row[0] for row in raw.execute("SELECT id FROM repair_order ORDER BY id LIMIT 2000")]
    with raw.cursor() as cur:
        cur.execute("EXPLAIN " + postgres.DELETE_LINES, (ar.id, ids), prepare=False)
        plan = "\n".join(r[0] for r in cur)
        assert "Seq Scan" not in plan and "uq_repair_order_line" in plan, plan
    db.rollback()


def test_a_table_without_statistics_is_analyzed_before_its_ids_are_probed(pg_db):
    """After the first page of a first load the table has rows and no statistics: the planner
    probed the (dealer_id, vin) index and filtered the whole dealer per id (0.4 s a page)."""
    db = pg_db
    ar = factories.dealer_ar(db)
    _references(db, ar, vehicles=2000)
    raw = db.connection().connection.driver_connection
    raw.execute("SELECT 1")
    store.id_map(db, Vehicle, ar.id, {f"W{i}" for i in range(2000)}, Vehicle.dms_updated_at)
    assert raw.execute("SELECT reltuples FROM pg_class WHERE relname = 'vehicle'").fetchone()[0] >= 2000
    plan = "\n".join(r[0] for r in raw.execute("EXPLAIN " + postgres.lookup_sql("vehicle", ["id", "dms_updated_at"]),
                                               ([f"W{i}" for i in range(2000)], ar.id), prepare=False))
    assert "uq_vehicle_dealer_id_dms_id" in plan, plan
    db.rollback()
