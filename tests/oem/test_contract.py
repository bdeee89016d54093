"""Contract tests between the OEM client (boxes/oem/client.py) and ``boxes oem-simulator``, run as a
separate HTTP server process on loopback: every fault knob of the simulator through the client.

Each test reads what the simulator saw (its call log and its truth) to check what the OEM would
have seen: how many token requests, which calls were repeated, what was stored once."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from boxes.oem.api import floor_minute, format_instant, parse_instant
from boxes.oem.client import (
    AuthStopped,
    MalformedAnswer,
    MemoryPace,
    MemoryTokenStore,
    OemClient,
    QueryExpired,
    RateLimited,
    RedisPace,
    Rejected,
    StatusTrigger,
    Transient,
)
from boxes.oem.simulator.generator import UNKNOWN_TYPES
from tests.oem_helpers import OemSimulator

LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)


pytestmark = pytest.mark.usefixtures("clean_faults")


@pytest.fixture(scope="module")
def sim():
    with OemSimulator() as s:
        yield s


def _client(sim, code="AR01", *, store=None, pace=None, **overrides) -> OemClient:
    return OemClient(sim.connection(code, **overrides), store=store or MemoryTokenStore(), pace=pace or MemoryPace())


def _read_all(client, since=LONG_AGO):
    pages = list(client.read_leads(since))
    return pages, [lead for p in pages for lead in p.leads]


def _trigger(lead_id: str, **fields) -> StatusTrigger:
    values = dict(event_id=str(uuid.uuid4()), lead_id=lead_id, trigger="CRE", stage="Experiencing",
                  substage="InProgressPhone", occurred_at=datetime.now(UTC))
    return StatusTrigger(**(values | fields))


def _a_lead(sim, code="AR01") -> str:
    return next(iter(sim.truth(code)["leads"]))


# ------------------------------------------------------------------------------------------ token

def test_token_is_renewed_before_it_expires_and_once_after_a_401(sim):
    sim.faults(token_ttl=2)
    store = MemoryTokenStore()
    with _client(sim, store=store, token_refresh_margin=1) as client:
        issued = sim.stats().get("tokens_issued", 0)
        _read_all(client)
        first = client.token()
        assert first is not None and first.expires_at > datetime.now(UTC)  # its validity, for the admin page
        assert first.instance_url == sim.base
        assert sim.stats()["tokens_issued"] == issued + 1

        time.sleep(1.1)  # less than the margin left: renewed before the call, the OEM never says 401
        seq = sim.last_call()
        _read_all(client)
        assert client.token().access_token != first.access_token
        assert [c[0] for c in sim.calls(seq)] == ["token", "leads"]
    # Another job with the same store uses the stored token: no new token request.
    with _client(sim, store=store, token_refresh_margin=1) as other:
        seq = sim.last_call()
        other.send_status(_trigger(_a_lead(sim)))
        assert [c[0] for c in sim.calls(seq)] == ["status"]

    sim.faults(token_ttl=3600)
    with _client(sim) as client:
        client.send_status(_trigger(_a_lead(sim)))
        seq = sim.last_call()
        # The OEM ends the session early: one 401, one renewal, the call goes through.
        sim.expire_tokens()
        receipt = client.send_status(_trigger(_a_lead(sim)))
        assert receipt.created is True
        assert sim.calls(seq) == [("status", 401, "invalid_session"), ("token", 200, None), ("status", 201, None)]


def test_a_token_refused_right_after_its_renewal_is_transient_not_a_loop(sim):
    with _client(sim, retry_delays=()) as client:
        client.send_status(_trigger(_a_lead(sim)))
        sim.faults(next=["expired_token@status", "expired_token@status"])
        seq = sim.last_call()
        with pytest.raises(Transient, match="refused a token it had just issued"):
            client.send_status(_trigger(_a_lead(sim)))
        assert [c[0] for c in sim.calls(seq)] == ["status", "token", "status"]


def test_token_validity_falls_back_to_the_configured_lifetime_when_the_org_does_not_announce_it(sim):
    sim.faults(announce_ttl=False)
    with _client(sim, token_lifetime=1234) as client:
        _read_all(client)
        token = client.token()
    lifetime = (token.expires_at - datetime.now(UTC)).total_seconds()
    assert 1200 < lifetime <= 1234


def test_refused_client_credentials_stop_the_integration_without_a_retry_until_they_change(sim):
    store = MemoryTokenStore()
    seq = sim.last_call()
    with _client(sim, store=store, client_secret="wrong-secret") as client, pytest.raises(AuthStopped) as stopped:
        _read_all(client)
    assert stopped.value.code == "invalid_client" and stopped.value.retryable is False
    assert "wrong-secret" not in str(stopped.value) and "refused the credentials" in str(stopped.value)
    assert sim.calls(seq) == [("token", 400, None)]  # asked once, never again in a loop

    # The next job, the next day: same credentials, stopped at once without asking the OEM.
    with _client(sim, store=store, client_secret="wrong-secret") as client, pytest.raises(AuthStopped):
        client.send_status(_trigger(_a_lead(sim)))
    assert sim.calls(seq) == [("token", 400, None)]

    # The admin enters the right secret: the integration resumes.
    with _client(sim, store=store) as client:
        assert client.send_status(_trigger(_a_lead(sim))).created is True


def test_a_refused_grant_stops_until_an_admin_asks_to_try_again(sim):
    sim.faults(token_error="invalid_grant")
    store = MemoryTokenStore()
    seq = sim.last_call()
    with _client(sim, store=store) as client, pytest.raises(AuthStopped) as stopped:
        _read_all(client)
    assert stopped.value.code == "invalid_grant" and "authentication failure" in str(stopped.value)
    sim.faults()  # the OEM re-enables the integration user; Boxes' credentials did not change
    with _client(sim, store=store) as client:
        with pytest.raises(AuthStopped):
            _read_all(client)
        assert sim.calls(seq) == [("token", 400, None)]
        client.resume()
        assert _read_all(client)[1]


# ------------------------------------------------------------------------------------------ slowing down

def test_429_with_retry_after_is_waited_out_and_the_call_goes_through(sim):
    sim.faults(retry_after=1, next=["rate_limit@leads"])
    seq = sim.last_call()
    with _client(sim) as client:
        leads = _read_all(client)[1]
    assert leads
    calls = sim.calls(seq)
    assert ("leads", 429, "rate_limit") in calls and calls[-1] == ("leads", 200, None)
    # The simulator refuses (and counts) a call made before Retry-After has passed: there was none.
    assert [c for c in calls if c[2] == "early"] == []


def test_503_with_retry_after_slows_the_sender_down_too(sim):
    lead_id = _a_lead(sim)
    sim.faults(retry_after=1, next=["unavailable@status"])
    seq = sim.last_call()
    with _client(sim) as client:
        assert client.send_status(_trigger(lead_id)).created is True
    calls = sim.calls(seq)
    assert ("status", 503, "unavailable") in calls and ("status", 201, None) in calls
    assert [c for c in calls if c[2] == "early"] == []


def test_a_long_retry_after_is_rate_limited_for_the_job_and_every_worker_of_the_dealer_waits(sim, redis):
    lead_id = _a_lead(sim)
    sim.faults(retry_after=3, next=["rate_limit@status"])
    store = MemoryTokenStore()
    key = f"boxes:test:oem-pace:{uuid.uuid4()}"
    with _client(sim, store=store, pace=RedisPace(redis, key), max_wait=1) as first, \
            pytest.raises(RateLimited) as limited:
        first.send_status(_trigger(lead_id))
    assert limited.value.retry_after == 3 and limited.value.retryable and limited.value.status_code == 429
    seq = sim.last_call()
    # Another worker of the same dealer (its own client, the shared pace) does not call the OEM now.
    with _client(sim, store=store, pace=RedisPace(redis, key), max_wait=1) as second, \
            pytest.raises(RateLimited) as waiting:
        second.send_status(_trigger(lead_id))
    assert 0 < waiting.value.retry_after <= 3
    assert sim.calls(seq) == []
    redis.delete(f"{key}:next", f"{key}:paused")


def test_calls_are_spaced_by_the_dealers_minimum_interval(sim, redis):
    key = f"boxes:test:oem-pace:{uuid.uuid4()}"
    pace = RedisPace(redis, key)
    slots = [pace.reserve(0.25) for _ in range(3)]
    assert [round(b - a, 2) for a, b in itertools.pairwise(slots)] == [0.25, 0.25]
    redis.delete(f"{key}:next", f"{key}:paused")
    # A call whose turn is further away than the client may wait is not made: the job comes back.
    seq = sim.last_call()
    with _client(sim, min_interval=60, max_wait=1) as client, pytest.raises(RateLimited) as later:
        client.send_status(_trigger(_a_lead(sim)))
    assert 55 < later.value.retry_after <= 60
    assert sim.calls(seq) == [("token", 200, None)]


# ------------------------------------------------------------------------------------------ transient

def test_a_timeout_is_retried_with_the_same_event_id_and_the_oem_keeps_the_event_once(sim):
    lead_id = _a_lead(sim)
    sim.faults(timeout_seconds=1.5, next=["timeout@status"])
    trigger = _trigger(lead_id)
    with _client(sim, timeout=0.5) as client:
        receipt = client.send_status(trigger)
    # The first attempt was stored by the OEM but its answer came too late: the retry was a repeat.
    assert receipt.created is False
    event = sim.truth("AR01")["events"][trigger.event_id]
    assert event["repeats"] == 1 and event["differing_repeats"] == 0
    assert event["body"] == receipt.request_body


def test_a_timeout_every_time_is_a_transient_error_with_the_reason(sim):
    sim.faults(timeout_rate=1, timeout_seconds=1.0)
    with _client(sim, timeout=0.3, retry_delays=(0.05,)) as client, pytest.raises(Transient) as failed:
        _read_all(client)
    assert "did not answer within 0.3 s" in str(failed.value) and failed.value.retryable


def test_a_locked_row_is_retried_then_succeeds(sim):
    lead_id = _a_lead(sim)
    sim.faults(next=["row_lock@status"])
    seq = sim.last_call()
    trigger = _trigger(lead_id)
    with _client(sim) as client:
        assert client.send_status(trigger).created is True
    assert [c for c in sim.calls(seq) if c[0] == "status"] == [("status", 400, "row_lock"), ("status", 201, None)]
    assert sim.truth("AR01")["events"][trigger.event_id]["repeats"] == 0


def test_a_row_locked_every_time_is_transient_and_nothing_is_stored(sim):
    sim.faults(row_lock_rate=1)
    trigger = _trigger(_a_lead(sim))
    with _client(sim) as client, pytest.raises(Transient) as failed:
        client.send_status(trigger)
    assert failed.value.code == "UNABLE_TO_LOCK_ROW" and failed.value.status_code == 400
    assert trigger.event_id not in sim.truth("AR01")["events"]


def test_http_500_is_retried_and_becomes_transient_when_it_persists(sim):
    sim.faults(next=["error@leads"])
    with _client(sim) as client:
        assert _read_all(client)[1]
    sim.faults(error_rate=1)
    with _client(sim) as client, pytest.raises(Transient, match="HTTP 500 UNKNOWN_EXCEPTION"):
        _read_all(client)


def test_an_unreadable_answer_is_malformed_and_a_status_retry_is_a_harmless_repeat(sim):
    sim.faults(truncate_rate=1)
    with _client(sim, retry_delays=()) as client, pytest.raises(MalformedAnswer):
        _read_all(client)
    sim.faults()
    lead_id = _a_lead(sim)
    with _client(sim) as client:
        client.send_status(_trigger(lead_id))
        sim.faults(next=["truncate@status"])
        assert client.send_status(trigger := _trigger(lead_id)).created is False
    assert sim.truth("AR01")["events"][trigger.event_id]["repeats"] == 1


# ------------------------------------------------------------------------------------------ status events

def test_an_event_id_sent_twice_is_stored_once(sim):
    trigger = _trigger(_a_lead(sim))
    with _client(sim) as client:
        first = client.send_status(trigger)
        again = client.send_status(trigger)
    assert (first.created, again.created) == (True, False)
    assert first.record_id == again.record_id and first.status_code == 201 and again.status_code == 200
    events = sim.truth("AR01")["events"]
    assert [e["repeats"] for k, e in events.items() if k == trigger.event_id] == [1]
    assert events[trigger.event_id]["body"] == {
        "Lead__c": trigger.lead_id, "Dealer_Code__c": "AR01", "Trigger__c": "CRE",
        "Communication__c": "DISPOSITION_UPDATE", "Stage__c": "Experiencing", "Substage__c": "InProgressPhone",
        "Event_Date__c": format_instant(trigger.occurred_at)}


def test_a_trigger_the_oem_refuses_is_rejected_with_its_reason_and_not_retried(sim):
    lead_id = _a_lead(sim)
    seq = sim.last_call()
    with _client(sim) as client:
        with pytest.raises(Rejected) as unknown:
            client.send_status(_trigger("006WD00000H4eBaYAJ"))
        with pytest.raises(Rejected) as picklist:
            client.send_status(_trigger(lead_id, stage="NotConverted", substage="TooExpensive"))
        with pytest.raises(Rejected):
            client.send_status(_trigger(lead_id, event_id="not an id"))
    assert (unknown.value.status_code, unknown.value.code) == (400, "INVALID_CROSS_REFERENCE_KEY")
    assert picklist.value.code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" and "TooExpensive" in picklist.value.detail
    assert not unknown.value.retryable
    assert [c for c in sim.calls(seq) if c[0] == "status"] == [("status", 400, None)] * 2


def test_a_status_event_changes_the_lead_and_the_feed_brings_it_again(sim):
    lead_id = _a_lead(sim, "BR01")
    with _client(sim, "BR01") as client:
        watermark = list(client.read_leads(LONG_AGO))[-1].resume_from
        sim.advance(minutes=5, leads=0)
        client.send_status(_trigger(lead_id, stage="Converted", substage="ServiceScheduled", trigger="ACO"))
        again = {lead.id: lead for p in client.read_leads(watermark) for lead in p.leads}
    assert (again[lead_id].stage, again[lead_id].substage, again[lead_id].status) == (
        "Converted", "ServiceScheduled", "Closed - Converted")


# ------------------------------------------------------------------------------------------ the feed

def test_the_feed_is_paginated_and_ends_at_the_last_instant_covered(sim):
    truth = sim.truth("AR01")
    with _client(sim, page_size=3) as client:
        pages, leads = _read_all(client)
    assert len(pages) > 2 and all(len(p.leads) <= 3 for p in pages) and [p.last for p in pages][-1] is True
    assert {lead.id: format_instant(lead.modified_at) for lead in leads} == {
        k: v["SystemModstamp"] for k, v in truth["leads"].items()}
    assert len(leads) == len(truth["leads"]) and pages[0].total == len(leads)
    assert all(not p.duplicates and not p.malformed for p in pages)
    watermarks = [p.resume_from for p in pages]
    assert watermarks == sorted(watermarks)
    # Each page's watermark is safe: no lead of a later page is older than it.
    for n, page in enumerate(pages[:-1]):
        assert all(lead.modified_at >= page.resume_from for p in pages[n + 1:] for lead in p.leads)
    assert watermarks[-1] == floor_minute(parse_instant(truth["now"]))


def test_seconds_are_ignored_and_the_minute_of_the_watermark_is_read_again(sim):
    sim.advance(minutes=7, leads=0)
    with _client(sim) as client:
        watermark = list(client.read_leads(LONG_AGO))[-1].resume_from
        now = parse_instant(sim.truth("AR01")["now"])
        assert watermark == floor_minute(now)
        # Changed in the same second as the read that gave the watermark: the next read has it,
        # and the leads of that minute it already had come again (the overlap).
        seen = sim.create_lead("AR01")
        pages = list(client.read_leads(watermark))
        first = {lead.id for p in pages for lead in p.leads}
        changed = sim.create_lead("AR01", type="Service", contact="known")
        # The start's seconds are ignored: 59 s into the watermark's minute reads the whole minute.
        later = {lead.id for p in client.read_leads(watermark + timedelta(seconds=59)) for lead in p.leads}
    assert seen["Id"] in first and {seen["Id"], changed["Id"]} <= later
    truth = sim.truth("AR01")["leads"]
    assert later == {k for k, v in truth.items() if parse_instant(v["SystemModstamp"]) >= watermark}
    assert all(parse_instant(truth[k]["SystemModstamp"]) >= watermark for k in later)


def test_duplicated_and_malformed_leads_in_a_page_are_surfaced_and_the_next_read_converges(sim):
    sim.advance(minutes=30, leads=12)
    served_before = len(sim.truth("BR01")["malformed"])
    sim.faults(duplicate_rate=1, malformed_rate=0.3, seed=5)
    with _client(sim, "BR01", page_size=5) as client:
        pages, leads = _read_all(client)
    served = sim.truth("BR01")["malformed"][served_before:]
    malformed = [m for p in pages for m in p.malformed]
    duplicates = [d for p in pages for d in p.duplicates]
    assert duplicates and malformed and len(malformed) == len(served)
    assert all(m.reason for m in malformed)
    assert {m.lead_id for m in malformed if m.lead_id} <= {s["lead_id"] for s in served}
    assert len({lead.id for lead in leads}) == len(leads)  # each lead once in the read
    assert {d.id for d in duplicates} <= {lead.id for lead in leads}
    reasons = {m.reason.split(":")[0] for m in malformed}
    assert reasons & {"Id", "SystemModstamp", "not a JSON object", "LeadType__c", "MobilePhone"}

    # The OEM fixed what it served broken: a clean read from the same start has every lead right.
    sim.faults()
    with _client(sim, "BR01") as client:
        _, fixed = _read_all(client)
    truth = sim.truth("BR01")["leads"]
    assert {lead.id: format_instant(lead.modified_at) for lead in fixed} == {
        k: v["SystemModstamp"] for k, v in truth.items()}
    assert {s["lead_id"] for s in served} <= {lead.id for lead in fixed}


def test_a_read_whose_query_expired_fails_transiently_at_once(sim):
    sim.faults(locator_ttl=0)
    seq = sim.last_call()
    with _client(sim, page_size=2) as client, pytest.raises(QueryExpired) as expired:
        _read_all(client)
    assert expired.value.code == "INVALID_QUERY_LOCATOR" and expired.value.retryable
    assert [c for c in sim.calls(seq) if c[0] == "leads"] == [("leads", 200, None), ("leads", 400, None)]


def test_leads_of_an_unknown_type_or_another_dealers_code_are_well_formed_for_the_importer_to_judge(sim):
    with _client(sim) as client:
        watermark = list(client.read_leads(LONG_AGO))[-1].resume_from
        sim.faults(unknown_type_rate=1, foreign_dealer_rate=1)
        sim.advance(minutes=3, leads=2)
        new = [lead for p in client.read_leads(watermark) for lead in p.leads if lead.lead_type in UNKNOWN_TYPES]
    assert len(new) == 2 and {lead.dealer_code for lead in new} == {"AR99"}


# ------------------------------------------------------------------------------------------ persistence

class JsonStore:
    """A token store as the OEM connector's row will keep it: ``SessionState`` as JSON text."""

    def __init__(self, text: str = "{}"):
        self.text = text

    def load(self):
        from boxes.oem.client import SessionState

        return SessionState.from_dict(json.loads(self.text))

    def save(self, state) -> None:
        self.text = json.dumps(state.to_dict())


def test_the_token_and_a_refusal_survive_being_stored_as_json_between_jobs(sim):
    stored = JsonStore()
    with _client(sim, store=stored) as client:
        _read_all(client)
    seq = sim.last_call()
    with _client(sim, store=JsonStore(stored.text)) as client:  # the next job, from the row's JSON
        client.send_status(_trigger(_a_lead(sim)))
    assert [c[0] for c in sim.calls(seq)] == ["status"]
    assert "simulator" not in stored.text  # the secret is not stored with the session

    refused = JsonStore()
    with _client(sim, store=refused, client_secret="wrong") as client, pytest.raises(AuthStopped):
        _read_all(client)
    seq = sim.last_call()
    with _client(sim, store=JsonStore(refused.text), client_secret="wrong") as client, pytest.raises(AuthStopped):
        _read_all(client)
    assert sim.calls(seq) == []


def test_connection_settings_from_a_connector_row_name_the_wrong_field():
    from boxes.oem.client import OemConnection, OemSettingsError

    connection = OemConnection.from_settings(
        {"base_url": "https://login.example.com/", "client_id": "id", "dealer_code": "AR-BA01", "timeout": "12",
         "page_size": "500", "retry_delays": ["1", 5], "unknown": "ignored"}, {"client_secret": "s3cret"})
    assert (connection.base_url, connection.timeout, connection.page_size, connection.retry_delays) == (
        "https://login.example.com", 12.0, 500, (1.0, 5.0))
    assert "s3cret" not in repr(connection)
    for settings, secrets, field_name in (
            ({"base_url": "ftp://x", "client_id": "id", "dealer_code": "D"}, {"client_secret": "s"}, "base_url"),
            ({"base_url": "https://x", "client_id": "id", "dealer_code": "D"}, {}, "client_secret"),
            ({"base_url": "https://x", "client_id": "id", "dealer_code": "D", "timeout": "soon"},
             {"client_secret": "s"}, "timeout"),
            ({"base_url": "https://x", "client_id": "id", "dealer_code": "D", "page_size": 5000},
             {"client_secret": "s"}, "page_size")):
        with pytest.raises(OemSettingsError) as wrong:
            OemConnection.from_settings(settings, secrets)
        assert wrong.value.field == field_name


def test_an_answer_to_an_unknown_path_leaves_the_kept_alive_connection_usable(sim):
    import httpx

    with httpx.Client(base_url=sim.base, timeout=5) as http:
        for method in ("PATCH", "POST"):
            answer = http.request(method, "/services/data/v60.0/sobjects/Nothing", json={"x": "y" * 50})
            assert answer.status_code == 404
            assert http.get("/_sim/health").status_code == 200  # the same connection, its body was read
