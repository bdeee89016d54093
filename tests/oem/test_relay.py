"""The status relay (boxes/oem/relay.py, jobs/oem_relay.py) against ``boxes oem-simulator`` as a
separate process: each lead's events reach the OEM in the order Boxes wrote them, each once (the
simulator's truth, keyed by event id), through faults, backoff, the dead letter and "Resend", and
after a real worker is SIGKILLed in the middle of a relay."""

from __future__ import annotations

import random
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from boxes.db import utcnow
from boxes.models import AuditLog, OemCallLog, OemConnector, OemStatusEvent
from boxes.oem import relay as R
from boxes.oem import triggers as T
from tests import factories
from tests.oem_helpers import OemSimulator
from tests.workers import Workers, worker_env

pytestmark = pytest.mark.usefixtures("clean_faults")
TRIGGERS = (T.NEW, T.ASSIGNED, T.CONTACT_PHONE, T.NO_CONTACT, T.SERVICE_SCHEDULED, T.SERVICE_COMPLETE)


@pytest.fixture(scope="module")
def sim():
    with OemSimulator(backlog=8) as s:
        yield s


def _connect(db, dealer, sim, **settings) -> OemConnector:
    row = OemConnector(dealer_id=dealer.id, enabled=True, secrets={"client_secret": "simulator"}, settings={
        "base_url": sim.base, "client_id": "boxes", "dealer_code": "AR01", "timeout_seconds": 2,
        "retry_delays": [0.01, 0.01], "max_wait": 0, **settings})
    db.add(row)
    db.commit()
    return row


def _leads(sim, n: int) -> list[str]:
    return sorted(sim.truth("AR01")["leads"])[:n]


def _emit(db, dealer, lead_id, trigger=T.CONTACT_PHONE) -> OemStatusEvent:
    event = T.emit(db, dealer.id, lead_id, trigger)
    db.commit()
    return event


def _at_oem(sim, db, lead_ids) -> dict[str, list[str]]:
    """Per lead, this test's event ids the OEM stored, in the order it stored them (the simulator
    serves the whole module: earlier tests' events are left out)."""
    mine = set(db.scalars(select(OemStatusEvent.event_id)))
    out: dict[str, list[str]] = {lead: [] for lead in lead_ids}
    for event_id, event in sim.truth("AR01")["events"].items():
        lead = event["body"]["Lead__c"]
        if lead in out and event_id in mine:
            out[lead].append(event_id)
    return out


def _ours(db, lead_ids) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {lead: [] for lead in lead_ids}
    for event in db.scalars(select(OemStatusEvent).where(OemStatusEvent.lead_id.in_(lead_ids))
                            .order_by(OemStatusEvent.id)):
        out[event.lead_id].append(event.event_id)
    return out


def test_each_leads_events_reach_the_oem_in_order_once_each(db, dealers, sim, redis):
    ar = dealers[0]
    _connect(db, ar, sim)
    a, b = _leads(sim, 2)
    for trigger in (T.NEW, T.ASSIGNED, T.CONTACT_PHONE):
        _emit(db, ar, a, trigger)
    _emit(db, ar, b, T.NO_CONTACT)
    result = R.relay(db, ar, redis)
    assert (result.sent, result.retried, result.dead) == (4, 0, 0)
    assert _at_oem(sim, db, [a, b]) == _ours(db, [a, b])
    stored = sim.truth("AR01")["events"]
    first = stored[_ours(db, [a])[a][0]]["body"]
    assert (first["Trigger__c"], first["Stage__c"], first["Substage__c"]) == ("NEW", "New", None)
    assert sim.truth("AR01")["leads"][b]["Substage__c"] == "InProgressUnresponsive"  # the OEM's lead follows
    assert db.scalar(select(func.count()).select_from(OemStatusEvent).where(OemStatusEvent.status == "sent")) == 4
    logged = db.scalars(select(OemCallLog).where(OemCallLog.kind == "status").order_by(OemCallLog.id)).all()
    assert [(c.lead_id, c.trigger, c.status_code) for c in logged] == [
        (a, "NEW", 201), (a, "ATR", 201), (a, "CRE", 201), (b, "CNR", 201)]
    assert R.relay(db, ar, redis).sent == 0  # nothing twice


def test_a_failing_event_holds_its_leads_later_events_and_backs_off(db, dealers, sim, redis):
    ar = dealers[0]
    _connect(db, ar, sim)
    a, b = _leads(sim, 2)
    first = _emit(db, ar, a, T.NEW)
    _emit(db, ar, a, T.ASSIGNED)
    _emit(db, ar, b, T.NEW)
    sim.faults(next=["error@status"] * 3)  # the first call and both of the client's retries
    result = R.relay(db, ar, redis)
    assert (result.sent, result.retried) == (1, 1)
    db.refresh(first)
    assert first.status == "pending" and first.attempts == 1 and "500" in first.last_error
    wait = (first.next_attempt_at - utcnow()).total_seconds()
    assert 0.5 * R.BACKOFF_BASE - 2 <= wait <= 1.5 * R.BACKOFF_BASE
    assert _at_oem(sim, db, [a])[a] == []  # a's second event waited behind its first
    assert R.relay(db, ar, redis).sent == 0  # not due yet
    result = R.relay(db, ar, redis, now=first.next_attempt_at + timedelta(seconds=1))
    assert result.sent == 2 and _at_oem(sim, db, [a, b]) == _ours(db, [a, b])


def test_the_backoff_grows_to_its_cap_with_jitter():
    rng = random.Random(1)
    waits = [R.backoff(n, rng) for n in range(1, 12)]
    assert all(0.5 * min(R.BACKOFF_CAP, R.BACKOFF_BASE * 2 ** (n - 1)) <= w <= 1.5 * min(
        R.BACKOFF_CAP, R.BACKOFF_BASE * 2 ** (n - 1)) for n, w in enumerate(waits, 1))
    assert len({round(w) for w in waits}) == len(waits)  # jittered: no two alike


def test_after_the_last_attempt_the_event_is_dead_until_an_admin_resends_it(db, dealers, sim, redis):
    ar = dealers[0]
    _connect(db, ar, sim)
    (a,) = _leads(sim, 1)
    first = _emit(db, ar, a, T.NEW)
    later = _emit(db, ar, a, T.ASSIGNED)
    sim.faults(error_rate=1.0)
    moment = utcnow()
    for _ in range(R.MAX_ATTEMPTS):
        R.relay(db, ar, redis, now=moment)
        moment += timedelta(seconds=R.BACKOFF_CAP * 2)
    db.refresh(first)
    db.refresh(later)
    assert first.status == "dead" and first.attempts == R.MAX_ATTEMPTS and later.status == "pending"
    assert R.dead_letter(db, ar) == [first]
    sim.faults()
    assert R.relay(db, ar, redis, now=moment).sent == 0  # the dead one holds the lead's later events
    admin = factories.user(db, role="admin", dealer=ar)
    R.resend(db, ar, admin, first.id)
    assert db.scalar(select(AuditLog.action).where(AuditLog.action == "oem_event.resend")) == "oem_event.resend"
    assert R.relay(db, ar, redis, now=moment).sent == 2
    assert _at_oem(sim, db, [a]) == _ours(db, [a])


def test_a_refused_event_goes_to_the_dead_letter_at_once(db, dealers, sim, redis):
    ar = dealers[0]
    _connect(db, ar, sim)
    (a,) = _leads(sim, 1)
    bad = _emit(db, ar, a, T.Trigger("VPE", "NotConverted", "NoSuchReason"))  # not in the OEM's picklist
    result = R.relay(db, ar, redis)
    db.refresh(bad)
    assert result.dead == 1 and bad.status == "dead" and bad.attempts == 1
    assert "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" in bad.last_error


def test_slow_down_ends_the_run_without_counting_an_attempt(db, dealers, sim, redis):
    ar = dealers[0]
    _connect(db, ar, sim)
    (a,) = _leads(sim, 1)
    event = _emit(db, ar, a, T.NEW)
    sim.faults(retry_after=30, next=["rate_limit@status"])
    result = R.relay(db, ar, redis)
    db.refresh(event)
    assert "slow down" in result.stopped and event.status == "pending" and event.attempts == 0
    assert event.next_attempt_at is None


def test_an_event_sent_again_after_a_lost_answer_is_stored_once(db, dealers, sim, redis):
    """A worker that died after the OEM stored the event and before the commit: the next run sends it
    again with the same event id; the OEM keeps one."""
    from boxes.oem.client import StatusTrigger
    from boxes.oem.connection import open_client

    ar = dealers[0]
    row = _connect(db, ar, sim)
    (a,) = _leads(sim, 1)
    event = _emit(db, ar, a, T.NEW)
    with open_client(row, redis) as client:
        client.send_status(StatusTrigger(event.event_id, a, event.trigger, event.stage, event.substage,
                                         event.occurred_at))
    result = R.relay(db, ar, redis)
    assert (result.sent, result.repeated) == (0, 1)
    assert sim.truth("AR01")["events"][event.event_id]["repeats"] == 1
    assert _at_oem(sim, db, [a])[a] == [event.event_id]


def test_relay_converges_through_50_randomized_fault_runs(db, dealers, sim, redis):
    """The fault property: 50 runs, each with random fault knobs and new events between them, then a
    clean run: no event lost, none stored twice, none out of order per lead."""
    ar = dealers[0]
    _connect(db, ar, sim, timeout_seconds=1)
    leads = _leads(sim, 6)
    rng = random.Random(2026)
    moment = utcnow()
    for _run in range(50):
        for _ in range(rng.randint(0, 4)):
            _emit(db, ar, rng.choice(leads), rng.choice(TRIGGERS))
        sim.faults(seed=rng.randint(0, 10**6), error_rate=rng.choice((0, 0.2, 0.5)),
                   unavailable_rate=rng.choice((0, 0.1)), rate_limit_rate=rng.choice((0, 0.1)), retry_after=0,
                   timeout_rate=rng.choice((0, 0.05)), timeout_seconds=1.2, truncate_rate=rng.choice((0, 0.1)),
                   row_lock_rate=rng.choice((0, 0.2)))
        R.relay(db, ar, redis, now=moment, rng=rng)
        moment += timedelta(seconds=rng.choice((0, 60, R.BACKOFF_CAP * 2)))
    sim.faults()
    for event in R.dead_letter(db, ar):  # a very unlucky event; the admin resends it
        R.resend(db, ar, factories.user(db, role="admin", dealer=ar), event.id)
    for _ in range(3):
        moment += timedelta(seconds=R.BACKOFF_CAP * 2)
        R.relay(db, ar, redis, now=moment)
    assert db.scalar(select(func.count()).select_from(OemStatusEvent).where(OemStatusEvent.status != "sent")) == 0
    ours = _ours(db, leads)
    assert sum(len(v) for v in ours.values()) > 50
    assert _at_oem(sim, db, leads) == ours  # each once, in Boxes' order per lead
    assert all(e["differing_repeats"] == 0 for e in sim.truth("AR01")["events"].values())


def test_a_worker_killed_mid_relay_leaves_each_event_sent_exactly_once(db, dealers, sim, redis, redis_url,
                                                                       database_url, tmp_path):
    """Killed after a group of sent events was committed and in the middle of the next one: the next run
    sends the uncommitted ones again, the OEM keeps each once, and every lead's order holds."""
    from jobs.oem_relay import enqueue_relay

    ar = dealers[0]
    _connect(db, ar, sim)
    leads = _leads(sim, 4)
    total = 2 * R.COMMIT_EVERY + 20
    for i in range(total):
        _emit(db, ar, leads[i % 4], TRIGGERS[i % len(TRIGGERS)])
    sim.faults(latency_ms=20)  # slow answers: the kill lands in the middle
    workers = Workers(worker_env(database_url, redis_url), redis_url, tmp_path, queue="oem")
    worker = workers.start(scheduler=False)
    before = len(sim.truth("AR01")["events"])
    try:
        assert enqueue_relay(redis, ar.id)
        # The worker and its work horse, no goodbye, once a group of events is committed and more are out.
        workers.kill_when(worker, lambda: len(sim.truth("AR01")["events"]) >= before + R.COMMIT_EVERY + 10)
    finally:
        workers.stop_all()
    time.sleep(0.5)  # a request the killed worker had sent is still answered (into the void) by the OEM
    at_kill = len(sim.truth("AR01")["events"]) - before
    db.expire_all()
    committed = db.scalar(select(func.count()).select_from(OemStatusEvent).where(OemStatusEvent.status == "sent"))
    assert committed >= R.COMMIT_EVERY and at_kill < total, "the kill did not land during the relay"
    sim.faults()
    redis.delete(R.LOCK_KEY.format(dealer_id=ar.id))  # the dead worker's lease, which would expire in 2 minutes
    result = R.relay(db, ar, redis)
    assert result.repeated == at_kill - committed  # sent before the kill, not yet committed: stored once
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(OemStatusEvent).where(OemStatusEvent.status != "sent")) == 0
    assert _at_oem(sim, db, leads) == _ours(db, leads)


def test_the_relay_only_reaches_the_operators_allowed_hosts(db, dealers, sim, redis, config):
    """An address saved while the operator allowed it (or changed in the database since) is checked again
    when the relay connects: off the allow-list, nothing is sent and the run says why."""
    ar = dealers[0]
    _connect(db, ar, sim)
    (a,) = _leads(sim, 1)
    event = _emit(db, ar, a, T.NEW)
    config.connector_allowed_hosts = ("10.20.0.0/16",)
    result = R.relay(db, ar, redis, config=config)
    db.refresh(event)
    assert result.stopped.startswith("settings:") and event.status == "pending" and event.attempts == 0
    assert _at_oem(sim, db, [a])[a] == []
    config.connector_allowed_hosts = ("127.0.0.0/8",)
    assert R.relay(db, ar, redis, config=config).sent == 1
