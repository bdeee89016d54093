"""Fault property test: many randomized runs against the simulator with its fault knobs on (HTTP
500s, timeouts, truncated and duplicated pages, malformed and out-of-order records) while its
workshop lives, then one clean run: the database equals the simulator's truth — no record lost,
none duplicated — and every malformed record served was quarantined."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select

from boxes.dms.connectors.base import TransportError
from boxes.dms.sync.runs import sync_dealer
from boxes.models import QuarantinedRecord, SyncRun
from tests.dms.test_helpers import Simulator, connect, snapshot, table_counts, truth_snapshot

RUNS = 50
RATES = (0.0, 0.0, 0.1, 0.25)


@pytest.fixture(scope="module")
def sim():
    s = Simulator(vehicles=50, seed=3, dealers=("AR01:AR:America/Argentina/Buenos_Aires",))
    yield s
    s.stop()


def test_randomized_faulty_runs_then_a_clean_run_converge_to_the_truth(db, dealers, sim, redis):
    ar = dealers[0]
    connect(db, ar, sim, page_size=15, timeout=0.25)
    rng = random.Random(20251122)
    failed = succeeded = 0
    for n in range(RUNS):
        sim.faults(seed=n, error_rate=rng.choice(RATES), timeout_rate=rng.choice(RATES) / 2, timeout_seconds=0.4,
                   truncate_rate=rng.choice(RATES), duplicate_rate=rng.choice(RATES),
                   malformed_rate=rng.choice(RATES) / 5, out_of_order_rate=rng.choice(RATES))
        if rng.random() < 0.5:
            sim.advance(minutes=rng.choice((10, 30, 90)), events=rng.randint(0, 4))
        try:
            sync_dealer(db, ar, redis=redis)
            succeeded += 1
        except TransportError:
            failed += 1
    assert failed and succeeded, (failed, succeeded)

    sim.faults()
    sync_dealer(db, ar, redis=redis)
    truth = sim.truth(ar.code)
    assert snapshot(db, ar.id) == truth_snapshot(truth)
    counts = table_counts(db, ar.id)
    assert counts["customer"] == len(truth["customers"]) and counts["repair_order"] == len(truth["repair_orders"])
    assert counts["repair_order_line"] == sum(len(r["lines"]) for r in truth["repair_orders"].values())

    malformed = {(entity, dms_id) for code, entity, dms_id in sim.malformed() if code == ar.code}
    assert malformed, "the fault knobs served no malformed record"
    quarantined = {(q.entity, q.dms_id) for q in db.scalars(select(QuarantinedRecord).where(
        QuarantinedRecord.dealer_id == ar.id, QuarantinedRecord.kind == "invalid"))}
    assert malformed <= quarantined
    # Every malformed record came back fixed: its quarantine entry is resolved, none is left open
    # except the broken copies received in the same page as their fixed version.
    reasons = db.scalars(select(QuarantinedRecord.reason).where(QuarantinedRecord.dealer_id == ar.id)).all()
    assert all(reason for reason in reasons)
    errors = db.scalars(select(SyncRun.error).where(SyncRun.status == "failed")).all()
    assert errors and all(errors)
