"""Reference figures of the OEM simulator (issue 14): what the lead import and the status relay will
be measured against, in the same run.

``python -m bench.oem [--leads 20000] [--calls 2000] [--page-size 2000] [--repeat 3]``

``boxes oem-simulator`` runs as a separate process on loopback (simulated clock, one dealer with
``--leads`` leads, no faults). Then, each ``--repeat`` times:

1. **raw feed read** (leads/s): a token, then every page of a full read with plain httpx on one
   keep-alive connection, each page's JSON decoded — nothing else: the most an import could read;
2. **client read** (leads/s): the same read through ``OemClient.read_leads`` (token handling,
   pacing, every lead checked by ``parse_lead``, duplicates tracked), and its share of the raw read;
3. **bare status endpoint** (calls/s): PATCH of one status event per call, each with a new event id,
   one after another on one keep-alive connection (the relay sends one trigger per call);
4. **client status** (calls/s): the same through ``OemClient.send_status``, and its share;
5. **relay** (triggers/s): ``--calls`` status events written into the outbox of a PostgreSQL database
   (``--database-url``, env ``BOXES_BENCH_OEM_DATABASE_URL``; its schema is recreated), sent by
   ``boxes.oem.relay.relay`` (order per lead, one commit per event with its call in the integration
   log, the pace and lock in Redis ``--redis-url``), and its share of the bare endpoint.

Medians of the runs. The simulator's own speed bounds every figure: these are the references, not
targets.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import httpx

from boxes.oem.api import LEADS_PATH, TOKEN_PATH, format_instant, status_path
from boxes.oem.client import MemoryTokenStore, OemClient, OemConnection, StatusTrigger

DEALER = "BENCH"
SINCE = datetime(2000, 1, 1, tzinfo=UTC)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_simulator(leads: int) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "boxes.cli", "oem-simulator", "--port", str(port), "--clock", "simulated",
         "--dealer", f"{DEALER}:AR:America/Argentina/Buenos_Aires", "--backlog", str(leads), "--leads-per-hour", "0"],
        stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/_sim/health", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.5)
    process.kill()
    raise RuntimeError("the OEM simulator did not start")


def _token(http: httpx.Client, base: str) -> str:
    answer = http.post(base + TOKEN_PATH, data={"grant_type": "client_credentials", "client_id": "boxes",
                                                "client_secret": "simulator"})
    return answer.json()["access_token"]


def raw_read(base: str, page_size: int) -> tuple[int, float]:
    with httpx.Client(timeout=120) as http:
        started = time.perf_counter()
        headers = {"Authorization": f"Bearer {_token(http, base)}",
                   "Sforce-Query-Options": f"batchSize={page_size}"}
        url, params, count = base + LEADS_PATH, {"dealerCode": DEALER, "start": format_instant(SINCE)}, 0
        while True:
            body = json.loads(http.get(url, params=params, headers=headers).content)
            count += len(body["records"])
            if body["done"]:
                return count, time.perf_counter() - started
            url, params = base + body["nextRecordsUrl"], None


def client_read(connection: OemConnection) -> tuple[int, float]:
    started = time.perf_counter()
    with OemClient(connection, store=MemoryTokenStore()) as client:
        count = sum(len(page.leads) for page in client.read_leads(SINCE))
    return count, time.perf_counter() - started


def _body(lead_id: str) -> dict:
    return {"Lead__c": lead_id, "Dealer_Code__c": DEALER, "Trigger__c": "CRE", "Communication__c": "DISPOSITION_UPDATE",
            "Stage__c": "Experiencing", "Substage__c": "InProgressPhone",
            "Event_Date__c": format_instant(datetime.now(UTC))}


def raw_status(base: str, lead_ids: list[str], calls: int) -> float:
    with httpx.Client(timeout=60) as http:
        headers = {"Authorization": f"Bearer {_token(http, base)}"}
        started = time.perf_counter()
        for n in range(calls):
            response = http.patch(base + status_path(str(uuid.uuid4())), json=_body(lead_ids[n % len(lead_ids)]),
                                  headers=headers)
            if response.status_code != 201:
                raise RuntimeError(f"status: HTTP {response.status_code} {response.text[:200]}")
        return time.perf_counter() - started


def client_status(connection: OemConnection, lead_ids: list[str], calls: int) -> float:
    def send(n: int) -> None:
        client.send_status(StatusTrigger(str(uuid.uuid4()), lead_ids[n % len(lead_ids)], "CRE", "Experiencing",
                                         "InProgressPhone", datetime.now(UTC)))

    with OemClient(connection, store=MemoryTokenStore()) as client:
        send(0)  # the token, before the clock starts
        started = time.perf_counter()
        for n in range(calls):
            send(n)
        return time.perf_counter() - started


def build_relay_database(url: str, base: str) -> int:
    """A fresh schema with one dealer and its OEM connector to the simulator; returns the dealer id."""
    import sqlalchemy as sa

    from bench.database import add_dealer, fresh_schema

    engine = fresh_schema(url)
    with engine.begin() as conn:
        dealer_id = add_dealer(conn, DEALER)
        conn.execute(sa.text(
            "INSERT INTO oem_connector (dealer_id, enabled, settings, secrets, session_state, distribution, "
            "first_contact_hours, open_leads_cap, retention_days, last_import_error, updated_at) VALUES "
            "(:d, true, :settings, :secrets, '{}', '{}', 24, 25, 180, '', now())"),
            {"d": dealer_id, "settings": json.dumps({"base_url": base, "client_id": "boxes", "dealer_code": DEALER,
                                                     "timeout_seconds": 60}),
             "secrets": json.dumps({"client_secret": "simulator"})})
    engine.dispose()
    return dealer_id


def relay_rate(url: str, redis_url: str, dealer_id: int, lead_ids: list[str], calls: int) -> float:
    """Triggers/s of the relay: ``calls`` events written first (not timed), then one relay run."""
    import redis as redis_lib
    from sqlalchemy import delete

    from boxes.db import make_engine, make_sessionmaker
    from boxes.models import Dealer, OemCallLog, OemStatusEvent
    from boxes.oem import triggers
    from boxes.oem.relay import relay

    engine = make_engine(url)
    session = make_sessionmaker(engine)()
    redis = redis_lib.Redis.from_url(redis_url)
    try:
        session.execute(delete(OemStatusEvent))
        session.execute(delete(OemCallLog))
        for n in range(calls):
            triggers.emit(session, dealer_id, lead_ids[n % len(lead_ids)], triggers.CONTACT_PHONE)
        session.commit()
        dealer = session.get(Dealer, dealer_id)
        started = time.perf_counter()
        result = relay(session, dealer, redis, max_events=calls)
        seconds = time.perf_counter() - started
        if result.sent != calls:
            raise RuntimeError(f"the relay sent {result.sent} of {calls} events ({result})")
        return calls / seconds
    finally:
        session.close()
        engine.dispose()
        redis.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--page-size", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", default=os.environ.get(
        "BOXES_BENCH_OEM_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/boxes_bench_oem"))
    parser.add_argument("--redis-url", default=os.environ.get("BOXES_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"))
    args = parser.parse_args(argv)

    print(f"OEM simulator: starting with {args.leads:,} leads …", flush=True)
    t0 = time.perf_counter()
    process, base = start_simulator(args.leads)
    print(f"  ready in {time.perf_counter() - t0:.1f} s", flush=True)
    try:
        connection = OemConnection(base_url=base, client_id="boxes", client_secret="simulator",  # noqa: S106
                                   dealer_code=DEALER, page_size=args.page_size, timeout=120)
        figures: dict[str, list[float]] = {"raw read": [], "client read": [], "raw status": [], "client status": [],
                                           "relay": []}
        with OemClient(connection, store=MemoryTokenStore()) as client:
            lead_ids = [lead.id for lead in next(iter(client.read_leads(SINCE))).leads][:500]
        dealer_id = build_relay_database(args.database_url, base)
        for run in range(args.repeat):
            n, seconds = raw_read(base, args.page_size)
            figures["raw read"].append(n / seconds)
            m, seconds = client_read(connection)
            if m != n:
                raise RuntimeError(f"the client read {m} leads, the raw read {n}")
            figures["client read"].append(m / seconds)
            figures["raw status"].append(args.calls / raw_status(base, lead_ids, args.calls))
            figures["client status"].append(args.calls / client_status(connection, lead_ids, args.calls))
            figures["relay"].append(relay_rate(args.database_url, args.redis_url, dealer_id, lead_ids, args.calls))
            print(f"  run {run + 1}: " + ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in figures.items()), flush=True)
    finally:
        process.terminate()
        process.wait(10)

    median = {k: statistics.median(v) for k, v in figures.items()}
    print(f"\nOEM simulator references (median of {args.repeat}; {args.leads:,} leads, pages of {args.page_size:,}, "
          f"{args.calls:,} status calls):")
    print(f"  raw feed read        {median['raw read']:>10,.0f} leads/s")
    print(f"  client read          {median['client read']:>10,.0f} leads/s  "
          f"({median['client read'] / median['raw read']:.0%} of raw)")
    print(f"  bare status endpoint {median['raw status']:>10,.0f} calls/s")
    print(f"  client status        {median['client status']:>10,.0f} calls/s  "
          f"({median['client status'] / median['raw status']:.0%} of bare)")
    print(f"  relay                {median['relay']:>10,.0f} triggers/s  "
          f"({median['relay'] / median['raw status']:.0%} of bare; outbox on PostgreSQL, one commit per event)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
