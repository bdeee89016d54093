"""The http connector and the sync engine against the simulator, a separate HTTP server process on
loopback: full and incremental sync, idempotency, token expiry and renewal, faults that fail a run
without losing or duplicating anything, older versions never overwriting newer ones."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from boxes.dms.connectors.base import TransportError
from boxes.dms.connectors.http import HttpConnector, TokenStore
from boxes.dms.sync.runs import run, sync_dealer
from boxes.models import Appointment, Customer, DmsConnector, QuarantinedRecord, SyncCursor, SyncRun
from tests.dms.test_helpers import Simulator, connect, snapshot, table_counts, truth_snapshot

pytestmark = pytest.mark.usefixtures("clean_faults")


@pytest.fixture(scope="module")
def sim():
    with Simulator(vehicles=80, seed=11) as s:
        yield s


def test_full_sync_equals_the_simulators_truth_on_both_dealers(db, dealers, sim, redis):
    for dealer in dealers:
        connect(db, dealer, sim)
        runs = sync_dealer(db, dealer, redis=redis)
        assert [r.status for r in runs] == ["succeeded"] * 5
        assert all(r.duration_ms is not None for r in runs)
        assert snapshot(db, dealer.id) == truth_snapshot(sim.truth(dealer.code))
        assert db.scalar(select(func.count()).select_from(QuarantinedRecord)) == 0


def test_same_feed_twice_gives_the_same_database(db, dealers, sim, redis):
    ar = dealers[0]
    connect(db, ar, sim)
    sync_dealer(db, ar, redis=redis)
    before = (snapshot(db, ar.id), table_counts(db, ar.id))
    # Read everything again from the start: every record is seen a second time.
    for cursor in db.scalars(select(SyncCursor)):
        cursor.cursor = None
    db.commit()
    runs = sync_dealer(db, ar, redis=redis)
    assert sum(r.inserted + r.updated for r in runs) == 0
    assert sum(r.unchanged for r in runs) > 0
    assert (snapshot(db, ar.id), table_counts(db, ar.id)) == before


def test_incremental_sync_reads_only_the_changes_of_the_living_workshop(db, dealers, sim, redis):
    ar = dealers[0]
    connect(db, ar, sim)
    sync_dealer(db, ar, redis=redis)
    changes = sim.advance(minutes=180, events=25)
    assert changes > 0
    runs = sync_dealer(db, ar, redis=redis)
    touched = sum(r.inserted + r.updated for r in runs)
    assert 0 < touched <= changes
    assert snapshot(db, ar.id) == truth_snapshot(sim.truth(ar.code))


def test_token_with_validity_is_renewed_before_it_expires_and_after_a_401(sim):
    sim.faults(token_ttl=1.0)
    store = TokenStore()
    conn = HttpConnector({"base_url": sim.feed_url("AR01"), "client_id": "boxes", "page_size": 500,
                          "token_refresh_margin": 0.2}, {"client_secret": "simulator"}, token_store=store)
    try:
        first = list(conn.pages("customers", None))
        token = store.token
        assert token and sum(len(p.records) for p in first) > 0
        time.sleep(1.1)  # expired: renewed before the call
        list(conn.pages("vehicles", None))
        assert store.token != token
        # A token the DMS revoked early (401) is renewed once, transparently.
        store.save("revoked-token", store.expires_at)
        assert list(conn.pages("deliveries", None))
        assert store.token != "revoked-token"
    finally:
        conn.close()


def test_wrong_credentials_are_a_configuration_error_recorded_on_the_run(db, dealers, sim, redis):
    from boxes.dms.connectors.base import ConfigurationError

    ar = dealers[0]
    row = connect(db, ar, sim)
    row.secrets = {"client_secret": "wrong"}
    db.commit()
    with pytest.raises(ConfigurationError):
        run(db, ar, "customers", redis=redis)
    failed = db.scalar(select(SyncRun).where(SyncRun.dealer_id == ar.id))
    assert failed.status == "failed" and "refused the credentials" in failed.error
    assert "wrong" not in failed.error


def test_dms_down_fails_the_run_keeps_the_cursor_and_the_next_run_converges(db, dealers, sim, redis):
    ar = dealers[0]
    connect(db, ar, sim, page_size=20)
    sim.faults(error_rate=1.0)
    with pytest.raises(TransportError):
        sync_dealer(db, ar, redis=redis)
    failed = db.scalars(select(SyncRun).where(SyncRun.dealer_id == ar.id)).all()
    assert [r.status for r in failed] == ["failed"] and "HTTP 500" in failed[0].error
    assert db.scalar(select(SyncCursor.cursor).where(SyncCursor.entity == "customers")) is None
    sim.faults(timeout_rate=1.0, timeout_seconds=1.5)
    row = db.scalar(select(DmsConnector))
    row.settings = {**row.settings, "timeout_seconds": 0.5}
    db.commit()
    with pytest.raises(TransportError, match="did not answer in time"):
        sync_dealer(db, ar, redis=redis)
    sim.faults()
    sync_dealer(db, ar, redis=redis)
    assert snapshot(db, ar.id) == truth_snapshot(sim.truth(ar.code))


def test_an_older_version_never_overwrites_a_newer_one(db, dealers, sim, redis):
    from boxes.dms.sync.store import store_records

    ar = dealers[0]
    connect(db, ar, sim)
    sync_dealer(db, ar, redis=redis)
    truth = sim.truth(ar.code)["customers"]
    dms_id, current = next(iter(truth.items()))
    older = {**current, "name": "Old Name", "dms_updated_at": "2001-01-01T00:00:00+00:00"}
    counts = store_records(db, ar.id, "customers", [older])
    db.commit()
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 0, 1)
    assert db.scalar(select(Customer.name).where(Customer.dms_id == dms_id)) == current["name"]
    newer = {**current, "name": "New Name", "dms_updated_at": "2100-01-01T00:00:00+00:00"}
    # The same id twice in one page: the newest wins, nothing is duplicated.
    counts = store_records(db, ar.id, "customers", [newer, older, newer])
    db.commit()
    assert counts.updated == 1
    assert db.scalar(select(Customer.name).where(Customer.dms_id == dms_id)) == "New Name"
    assert db.scalar(select(func.count()).select_from(Customer).where(Customer.dms_id == dms_id)) == 1


def test_one_sync_per_dealer_and_entity_at_a_time(db, dealers, sim, redis):
    from boxes.dms.sync.runs import LOCK_KEY, SyncBusy

    ar = dealers[0]
    connect(db, ar, sim)
    held = redis.lock(LOCK_KEY.format(dealer_id=ar.id, entity="customers"), timeout=30)
    assert held.acquire(blocking=False)
    try:
        with pytest.raises(SyncBusy):
            run(db, ar, "customers", redis=redis)
        assert run(db, ar, "vehicles", redis=redis).status == "succeeded"  # another entity is free
    finally:
        held.release()
    assert run(db, ar, "customers", redis=redis).status == "succeeded"


def test_appointment_confirmed_in_boxes_is_not_undone_by_an_older_style_dms_status(db, dealers, sim, redis):
    ar = dealers[0]
    connect(db, ar, sim)
    sync_dealer(db, ar, redis=redis)
    from boxes.db import utcnow

    appt = db.scalar(select(Appointment).where(Appointment.status.in_(("requested", "confirmation_pending")),
                                               Appointment.scheduled_at > utcnow()))
    assert appt is not None
    version = appt.version
    appt.status, appt.confirmed_at = "confirmed", utcnow()
    db.commit()
    from boxes.dms.sync.store import store_records

    raw = sim.truth(ar.code)["appointments"][appt.dms_id]
    store_records(db, ar.id, "appointments", [{**raw, "status": "requested",
                                               "dms_updated_at": "2100-01-01T00:00:00+00:00"}])
    db.commit()
    db.refresh(appt)
    assert appt.status == "confirmed"
    assert appt.version > version + 1  # the DMS update makes an open board form stale


def test_a_truncated_page_says_the_answer_was_cut_off(db, dealers, sim, redis):
    ar = dealers[0]
    connect(db, ar, sim)
    sim.faults(truncate_rate=1.0)
    with pytest.raises(TransportError, match="cut off"):
        run(db, ar, "customers", redis=redis)
    error = db.scalar(select(SyncRun.error).where(SyncRun.dealer_id == ar.id))
    assert "cut off" in error and "cannot reach" not in error
