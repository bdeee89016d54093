"""Ingest benchmark: the DMS sync path against a raw binary COPY of the same rows.

``python -m bench.ingest [--sizes 50000,200000] [--repeat 3] [--repeat-larger 1] [--entities ...]
[--entities-larger repair_orders] [--database-url URL]``

For each feed size, a fresh process (so peak memory is per size) builds the migrations' schema in
its own PostgreSQL database (default ``boxes_bench_ingest``, dropped and recreated). Then, per
entity in reference order (customers, vehicles, appointments, repair orders with 1-3 lines
each; at the larger sizes ``--entities-larger``, repair orders by default), ``--repeat`` times
at the first size and ``--repeat-larger`` times at the others:

1. **sync, first load** — the entity's tables emptied, the feed run through
   ``boxes.dms.sync.run`` exactly as a sync job does: pages read from the "DMS" (a file of
   feed-v1 JSON pages, decoded page by page, as the http and files connectors do), validated
   record by record, deduplicated, references resolved, written (new ids by COPY, newer versions
   by the guarded ``INSERT … ON CONFLICT DO UPDATE``), lines replaced, and each page committed
   with its cursor and the run's counts. Wall-clock time of the whole run;
2. **sync, updated** — a feed of the same records, each with a newer ``dms_updated_at``: every
   record goes through the guarded upsert (and an RO's lines are replaced);
3. **sync, unchanged** — that feed again: every record already stored, nothing written;
4. **raw COPY** — the rows of the first load, already validated and resolved before the clock
   starts, into the same emptied tables by binary ``COPY … FROM STDIN`` and a commit per page:
   the physical reference of this machine, foreign keys and indexes included.

Every pass starts after a CHECKPOINT; autovacuum is off on these tables, and each entity's table
is vacuumed and analyzed once its passes are done (the next entities look it up). Prints medians
(records/s), the median of the per-pass ratios sync/COPY, the load average before the run and
each process's peak RSS. Target (issue 3): >= 50,000 records/s and >= 50 % of COPY, memory
independent of the feed size. Feed generation is not timed; decoding the JSON pages is (it runs
on the sync's prefetch thread, as it would with a real connector), so the sync figures are if
anything pessimistic.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/boxes_bench_ingest"
PAGE = 2000
VEHICLES = 5000  # appointments and repair orders are spread over this many vehicles
ENTITIES = ("customers", "vehicles", "appointments", "repair_orders")
LABELS = {"customers": "customers", "vehicles": "vehicles", "appointments": "appointments",
          "repair_orders": "repair orders + lines"}
# What a pass empties first (TRUNCATE … CASCADE empties what references it: nothing the next
# entities need, because entities run in reference order and each leaves its rows in place).
TABLES = {"customers": "customer", "vehicles": "vehicle", "appointments": "appointment",
          "repair_orders": "repair_order_line, repair_order"}


# ------------------------------------------------------------------------------------- feed

def _records(entity: str, n: int, base: datetime, later: timedelta = timedelta(0)):
    works = ("Service 10.000 km", "Alineación y balanceo", "Cambio de pastillas", "Cambio de batería")
    for i in range(n):
        at = base + timedelta(minutes=i)
        stamp = at.isoformat()
        version = (at + later).isoformat()  # the DMS's version; later: every record changed since
        if entity == "customers":
            yield {"dms_id": f"C{i:07d}", "name": f"Cliente {i}",
                   "phone_mobile": f"+54 9 11 4{i % 1000:03d}-{i % 9999:04d}", "phone_home": "", "phone_work": "",
                   "email": f"cliente{i}@example.com", "dms_updated_at": version}
        elif entity == "vehicles":
            yield {"dms_id": f"V{i:07d}", "customer_dms_id": f"C{i:07d}", "vin": f"9BG{i:014d}",
                   "plate": f"A{chr(65 + i % 26)}{i % 1000:03d}CD", "brand": "Chevrolet", "model": "Onix",
                   "version": "LT 1.0T", "model_year": 2015 + i % 10, "mileage": 1000 + i % 90_000,
                   "sold_on": (base.date() - timedelta(days=i % 3000)).isoformat(), "dms_updated_at": version}
        elif entity == "appointments":
            yield {"dms_id": f"A{i:09d}", "vehicle_dms_id": f"V{i % VEHICLES:07d}",
                   "customer_dms_id": f"C{i % VEHICLES:07d}", "scheduled_at": (at + timedelta(days=2)).isoformat(),
                   "service_type": works[i % 4], "advisor": "Carlos Ruiz", "status": "confirmed", "source": "dms",
                   "arrived_at": None, "repair_order_dms_id": None, "dms_updated_at": version}
        else:
            yield {"dms_id": f"R{i:09d}", "number": str(10_000_000 + i), "vehicle_dms_id": f"V{i % VEHICLES:07d}",
                   "customer_dms_id": f"C{i % VEHICLES:07d}", "opened_at": stamp,
                   "promised_at": (at + timedelta(hours=8)).isoformat(),
                   "delivered_at": (at + timedelta(hours=6)).isoformat(), "status": "delivered",
                   "mileage": 10_000 + i % 90_000, "advisor": "Juan Pérez", "dms_updated_at": version,
                   "lines": [{"line_no": k + 1, "work_done": works[(i + k) % 4], "result": "OK"}
                             for k in range(1 + i % 3)]}


def write_feed(entity: str, n: int, base: datetime, path: str, later: timedelta = timedelta(0)) -> None:
    """The feed as a DMS would serve it: one JSON page per line (never all in memory)."""
    with open(path, "w", encoding="utf-8") as out:
        page = []
        for rec in _records(entity, n, base, later):
            page.append(rec)
            if len(page) == PAGE:
                out.write(json.dumps(page) + "\n")
                page = []
        if page:
            out.write(json.dumps(page) + "\n")


class FileFeed:
    """A connector reading the feed file page by page (what the http connector does with a
    response body: ``json.loads`` of one page)."""

    kind = "bench"

    def __init__(self, path: str):
        self.path = path

    def pages(self, entity: str, cursor: str | None):
        from boxes.dms.connectors.base import Page

        with open(self.path, encoding="utf-8") as feed:
            for number, line in enumerate(feed, 1):
                yield Page(json.loads(line), f"page-{number}")

    def close(self) -> None:
        pass


def read_pages(path: str, entity: str):
    with open(path, encoding="utf-8") as feed:
        for line in feed:
            yield json.loads(line)


# ------------------------------------------------------------------------------------ setup

def _setup(url: str) -> int:
    from boxes.db import make_engine, make_sessionmaker
    from boxes.migrate import upgrade
    from boxes.models import Dealer

    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    name = url.rsplit("/", 1)[1]
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    admin.dispose()
    upgrade(url)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        # No autovacuum worker wakes up in the middle of a pass (on two cores it would take one):
        # each entity's table is vacuumed and analyzed explicitly once its passes are done.
        for table in ("customer", "vehicle", "appointment", "repair_order", "repair_order_line"):
            conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
    engine = make_engine(url)
    with make_sessionmaker(engine)() as s:
        dealer = Dealer(code="BENCH", name="Bench", country="AR", time_zone="America/Argentina/Buenos_Aires",
                        locale="es")
        s.add(dealer)
        s.commit()
        dealer_id = dealer.id
    engine.dispose()
    return dealer_id


def _settle(url: str, entity: str) -> None:
    """What autovacuum would have done by the time the next entity syncs: vacuum and analyze."""
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"VACUUM (ANALYZE) {TABLES[entity]}")


def _empty(url: str, entity: str) -> None:
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLES[entity]} RESTART IDENTITY CASCADE")
        conn.execute("CHECKPOINT")  # every pass starts with the same amount of dirty pages


# ----------------------------------------------------------------------------------- passes

def sync_pass(url: str, dealer_id: int, entity: str, path: str) -> tuple[float, dict]:
    """One ``boxes.dms.sync.run`` over the feed; wall-clock seconds and the run's counts."""
    from boxes.db import make_engine, make_sessionmaker
    from boxes.dms.sync.runs import run
    from boxes.models import Dealer
    from jobs.runtime import tune_interpreter

    # The interpreter the worker runs a sync in; the COPY passes keep Python's defaults, as before.
    saved = gc.get_threshold(), sys.getswitchinterval()
    tune_interpreter()
    try:
        engine = make_engine(url)
        with make_sessionmaker(engine)() as s:
            dealer = s.get(Dealer, dealer_id)
            started = time.perf_counter()
            sync_run = run(s, dealer, entity, connector=FileFeed(path), trigger="manual")
            spent = time.perf_counter() - started
            counts = {"status": sync_run.status, "inserted": sync_run.inserted, "updated": sync_run.updated,
                      "unchanged": sync_run.unchanged, "quarantined": sync_run.quarantined}
        engine.dispose()
    finally:
        gc.set_threshold(*saved[0])
        sys.setswitchinterval(saved[1])
    return spent, counts


def _copy_rows(entity: str, recs: list, dealer_id: int, now: datetime, vehicles: dict, customers: dict,
               next_id: int) -> tuple[list, list]:
    """The rows the sync would write for ``recs`` (validated, references resolved): the same
    columns as ``boxes.dms.sync.COLUMNS`` plus dealer_id and created_at; lines for ROs."""
    rows, lines = [], []
    for r in recs:
        if entity == "customers":
            rows.append((dealer_id, now, r.dms_id, r.name, r.phone_mobile, r.phone_home, r.phone_work, r.email,
                         False, r.dms_updated_at))
        elif entity == "vehicles":
            rows.append((dealer_id, now, r.dms_id, customers[r.customer_dms_id], r.vin, r.plate, r.brand, r.model,
                         r.version, r.model_year, r.mileage, r.sold_on, r.dms_updated_at))
        else:
            vehicle_id, vehicle_customer = vehicles[r.vehicle_dms_id]
            customer_id = customers.get(r.customer_dms_id) or vehicle_customer
            if entity == "appointments":
                rows.append((dealer_id, now, r.dms_id, vehicle_id, customer_id, r.scheduled_at, r.service_type,
                             r.advisor, r.status, r.source, r.arrived_at, None, 1, "", r.dms_updated_at))
            else:
                rows.append((next_id, dealer_id, now, r.dms_id, vehicle_id, customer_id, r.number, r.opened_at,
                             r.promised_at, r.delivered_at, r.status, r.mileage, r.advisor, r.dms_updated_at))
                lines.extend((dealer_id, next_id, ln.line_no, ln.work_done, ln.result, ln.incidents, ln.declined)
                             for ln in r.lines)
                next_id += 1
    return rows, lines


def copy_pass(url: str, dealer_id: int, entity: str, path: str) -> float:
    """The same rows through binary COPY into the emptied tables, a commit per page. Only COPY
    and commit are timed; reading, validating and resolving happen before the clock starts."""
    import psycopg

    from boxes.dms.sync.postgres import copy_type
    from boxes.dms.sync.store import prepare
    from boxes.dms.sync.tables import COLUMNS, LINE_COLUMNS, MODELS

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    table = MODELS[entity].__table__
    columns = ("dealer_id", "created_at", *COLUMNS[entity])
    if entity == "repair_orders":
        columns = ("id", *columns)
    types = [copy_type(table.c[c]) for c in columns]
    spent = 0.0
    with psycopg.connect(dsn) as conn:
        next_id = 1
        now = datetime.now(UTC)
        for page in read_pages(path, entity):
            recs = [rec for rec, _raw in prepare(entity, page).items]
            # The references of this page only (memory stays flat), before the clock starts.
            vehicles = {d: (i, c) for d, i, c in conn.execute(
                "SELECT dms_id, id, customer_id FROM vehicle WHERE dealer_id = %s AND dms_id = ANY(%s)",
                (dealer_id, list({getattr(r, "vehicle_dms_id", None) for r in recs} - {None})))}
            customers = dict(conn.execute(
                "SELECT dms_id, id FROM customer WHERE dealer_id = %s AND dms_id = ANY(%s)",
                (dealer_id, list({getattr(r, "customer_dms_id", None) for r in recs} - {None}))).fetchall())
            conn.commit()
            rows, lines = _copy_rows(entity, recs, dealer_id, now, vehicles, customers, next_id)
            next_id += len(rows)
            t = time.perf_counter()
            with conn.cursor() as cur:
                with cur.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.set_types(types)
                    for row in rows:
                        copy.write_row(row)
                if lines:
                    with cur.copy(f"COPY repair_order_line ({', '.join(LINE_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
                                  ) as copy:
                        copy.set_types(["int4", "int4", "int4", "text", "text", "text", "bool"])
                        for row in lines:
                            copy.write_row(row)
            conn.commit()
            spent += time.perf_counter() - t
        if entity == "repair_orders":
            conn.execute("SELECT setval('repair_order_id_seq', %s)", (next_id,))
            conn.commit()
    return spent


def measure(url: str, n: int, repeat: int, entities: list[str]) -> dict:
    dealer_id = _setup(url)
    base = datetime(2024, 6, 1, tzinfo=UTC)
    out: dict = {"records": n, "entities": {}}
    with tempfile.TemporaryDirectory(prefix="boxes-bench-ingest-") as tmp:
        for entity in ENTITIES:
            needed = entity in entities or (entity in ("customers", "vehicles") and set(entities) - {entity})
            if not needed:
                continue
            path = os.path.join(tmp, f"{entity}.jsonl")
            write_feed(entity, n, base, path)
            newer = os.path.join(tmp, f"{entity}-newer.jsonl")
            if entity in entities:
                write_feed(entity, n, base, newer, later=timedelta(days=1))
            t = time.perf_counter()
            for _page in read_pages(path, entity):
                pass
            decode = time.perf_counter() - t
            passes = []
            for _ in range(repeat if entity in entities else 0):
                _empty(url, entity)
                first, counts_first = sync_pass(url, dealer_id, entity, path)
                updated, counts_updated = sync_pass(url, dealer_id, entity, newer)
                again, counts_again = sync_pass(url, dealer_id, entity, newer)
                _empty(url, entity)
                copy = copy_pass(url, dealer_id, entity, path)
                ok = {"status": "succeeded", "inserted": 0, "updated": 0, "unchanged": 0, "quarantined": 0}
                assert counts_first == {**ok, "inserted": n}, counts_first
                assert counts_updated == {**ok, "updated": n}, counts_updated
                assert counts_again == {**ok, "unchanged": n}, counts_again
                passes.append({"sync_s": first, "updated_s": updated, "unchanged_s": again, "copy_s": copy})
            if not passes:
                # Only a reference for the entities measured: stored once, by COPY.
                _empty(url, entity)
                copy_pass(url, dealer_id, entity, path)
            else:
                out["entities"][entity] = {
                    "passes": passes, "decode_s": decode,
                    "sync_rps": statistics.median(n / p["sync_s"] for p in passes),
                    "updated_rps": statistics.median(n / p["updated_s"] for p in passes),
                    "unchanged_rps": statistics.median(n / p["unchanged_s"] for p in passes),
                    "copy_rps": statistics.median(n / p["copy_s"] for p in passes),
                    "ratio": statistics.median(p["copy_s"] / p["sync_s"] for p in passes),
                }
            _settle(url, entity)
            os.unlink(path)
            if os.path.exists(newer):
                os.unlink(newer)
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


# ------------------------------------------------------------------------------------- main

def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n\n")[0])
    p.add_argument("--database-url", default=os.environ.get("BOXES_BENCH_INGEST_DATABASE_URL", DEFAULT_URL))
    p.add_argument("--sizes", default="50000,200000", help="feed sizes, each measured in a fresh process")
    p.add_argument("--repeat", type=int, default=3, help="passes per entity at the first size (medians printed)")
    p.add_argument("--repeat-larger", type=int, default=1, help="passes per entity at the other sizes")
    p.add_argument("--entities", default=",".join(ENTITIES), help=f"a subset of {','.join(ENTITIES)}")
    p.add_argument("--entities-larger", default="repair_orders", help="the entities measured at the other sizes")
    p.add_argument("--records", type=int, default=None, help="measure this one size in this process (JSON out)")
    args = p.parse_args(argv)
    if not args.database_url.startswith("postgresql"):
        p.error("the ingest benchmark runs on PostgreSQL")
    entities = [e for e in args.entities.split(",") if e]
    larger = [e for e in args.entities_larger.split(",") if e]
    if any(e not in ENTITIES for e in entities + larger):
        p.error(f"--entities: choose among {', '.join(ENTITIES)}")
    if args.records:
        print(json.dumps(measure(args.database_url, args.records, max(1, args.repeat), entities)))
        return 0
    before = os.getloadavg()
    results = []
    for number, size in enumerate(int(x) for x in args.sizes.split(",")):
        repeat = args.repeat if number == 0 else args.repeat_larger
        measured = entities if number == 0 else larger
        out = subprocess.run([sys.executable, "-m", "bench.ingest", "--database-url", args.database_url,
                              "--records", str(size), "--repeat", str(repeat), "--entities", ",".join(measured)],
                             check=True, capture_output=True, text=True)
        results.append({**json.loads(out.stdout.strip().splitlines()[-1]), "repeat": max(1, repeat)})
    report(results, before)
    return 0


def report(results: list[dict], before: tuple) -> None:
    passes = ", ".join(f"{r['repeat']} at {r['records']:,}" for r in results)
    print(f"\nDMS ingest on PostgreSQL: a sync run (read + validate + upsert + cursor, pages of {PAGE:,}) against a "
          "binary COPY of the same rows into the same tables.")
    print(f"Medians of the passes ({passes}); load average before the run {before[0]:.2f} "
          f"(1 min) / {before[1]:.2f} (5 min); the benchmark itself keeps about two processes busy.")
    print(f"  {'entity':<22} {'records':>9} {'sync rec/s':>11} {'COPY rec/s':>11} {'sync/COPY':>10} "
          f"{'updated rec/s':>14} {'unchanged rec/s':>16}  target (first load)")
    for r in results:
        for entity, e in r["entities"].items():
            ratio = e["ratio"] >= 0.5
            if e["sync_rps"] >= 50_000 and ratio:
                verdict = "met"
            elif ratio and e["copy_rps"] < 50_000:
                verdict = ">= 50 % met; COPY itself < 50,000/s"
            elif ratio:
                verdict = ">= 50 % met; < 50,000/s"
            else:
                verdict = "NOT met"
            print(f"  {LABELS[entity]:<22} {r['records']:>9,} {e['sync_rps']:>11,.0f} {e['copy_rps']:>11,.0f} "
                  f"{e['ratio']:>9.0%} {e['updated_rps']:>14,.0f} {e['unchanged_rps']:>16,.0f}  {verdict}")
    peaks = [r["peak_rss_mib"] for r in results]
    flat = f" ({'flat' if max(peaks) <= min(peaks) * 1.15 else 'GROWS'} across feed sizes)" if len(peaks) > 1 else ""
    print("  peak RSS: " + ", ".join(f"{r['records']:,} records {r['peak_rss_mib']:.0f} MiB" for r in results) + flat)
    print("  target (issue 3): >= 50,000 records/s and >= 50 % of COPY; a repair order counts as one record "
          "with its 1-3 lines")


if __name__ == "__main__":
    sys.exit(main())
