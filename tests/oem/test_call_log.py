"""What the OEM client tells the integration log of each HTTP attempt (``OemClient(on_call=…)``), against
``boxes oem-simulator`` on loopback: every attempt is told, retries with their number, and nothing a log
reader could use to call the OEM (the client secret, the token) is in it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from boxes.oem.client import CallRecord, MemoryPace, MemoryTokenStore, OemClient, Transient
from tests.oem_helpers import OemSimulator

pytestmark = pytest.mark.usefixtures("clean_faults")


@pytest.fixture(scope="module")
def sim():
    with OemSimulator(backlog=3) as s:
        yield s


def _client(sim, calls: list, **overrides) -> OemClient:
    return OemClient(sim.connection("AR01", **overrides), store=MemoryTokenStore(), pace=MemoryPace(),
                     on_call=calls.append)


def test_every_attempt_is_told_without_secrets(sim):
    calls: list[CallRecord] = []
    with _client(sim, calls) as client:
        list(client.read_leads(datetime(2020, 1, 1, tzinfo=UTC)))
        token = client.token().access_token
    assert [c.what for c in calls][:2] == ["token", "leads"]
    first = calls[0]
    assert first.method == "POST" and first.status_code == 200 and first.attempt == 1
    assert json.loads(first.request_body)["client_secret"] == "[redacted]"
    assert "simulator" not in first.request_body  # the secret the simulator accepts
    assert json.loads(first.response)["access_token"] == "[redacted]"
    for call in calls:
        assert token not in call.request_body and token not in call.response and token not in call.url
    page = calls[1]
    assert page.method == "GET" and "dealerCode=AR01" in page.url and page.duration_ms >= 0
    assert '"records"' in page.response


def test_a_retried_call_is_told_once_per_attempt_with_its_number(sim):
    sim.faults(next=["error@leads", "error@leads"])
    calls: list[CallRecord] = []
    with _client(sim, calls, retry_delays=(0.01,)) as client, pytest.raises(Transient):
        list(client.read_leads(datetime(2020, 1, 1, tzinfo=UTC)))
    reads = [c for c in calls if c.what == "leads"]
    assert [(c.attempt, c.status_code) for c in reads] == [(1, 500), (2, 500)]
