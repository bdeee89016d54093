"""Ingest benchmark: the DMS sync's upsert path against a raw COPY of the same rows.

``python -m bench.ingest [--records N] [--sizes 50000,200000] [--database-url URL]``

For each feed size, a fresh process (so peak memory is per size) builds the migrations' schema in
its own PostgreSQL database (default ``boxes_bench_ingest``, dropped and recreated), then:

1. streams ``N`` feed-v1 repair orders with their lines (generated page by page, never all in
   memory) through ``boxes.dms.sync.store_records`` + commit, page after page, exactly as a sync
   run does (validation, dedup, reference lookups, ``INSERT … ON CONFLICT DO UPDATE … RETURNING``,
   lines): "upsert, first load";
2. the same feed again: every record already stored, "upsert, unchanged";
3. the same rows (already validated and resolved) through ``COPY … FROM STDIN`` into the same
   emptied tables: "raw COPY".

Only the time spent in the database path is counted (generating the feed is not). Prints
records/s, the ratio to COPY and the process's peak RSS. Target: >= 50,000 records/s and >= 50 % of
COPY, memory independent of the feed size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/boxes_bench_ingest"
PAGE = 2000
VEHICLES = 5000


def _feed(n: int, base: datetime, page: int = PAGE):
    """``n`` repair orders over ``VEHICLES`` vehicles, in pages (dicts as a DMS would send them)."""
    works = ("Service 10.000 km", "Alineación y balanceo", "Cambio de pastillas", "Cambio de batería")
    batch = []
    for i in range(n):
        opened = base + timedelta(minutes=i)
        batch.append({
            "dms_id": f"R{i:09d}", "number": str(10_000_000 + i), "vehicle_dms_id": f"V{i % VEHICLES:07d}",
            "customer_dms_id": f"C{i % VEHICLES:07d}", "opened_at": opened.isoformat(),
            "promised_at": (opened + timedelta(hours=8)).isoformat(),
            "delivered_at": (opened + timedelta(hours=6)).isoformat(), "status": "delivered",
            "mileage": 10_000 + i % 90_000, "advisor": "Juan Pérez", "dms_updated_at": opened.isoformat(),
            "lines": [{"line_no": k + 1, "work_done": works[(i + k) % 4], "result": "OK"} for k in range(1 + i % 3)],
        })
        if len(batch) == page:
            yield batch
            batch = []
    if batch:
        yield batch


def _setup(url: str) -> int:
    from boxes.db import make_engine, make_sessionmaker
    from boxes.dms.sync import store_records
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
    engine = make_engine(url)
    with make_sessionmaker(engine)() as s:
        dealer = Dealer(code="BENCH", name="Bench", country="AR", time_zone="America/Argentina/Buenos_Aires",
                        locale="es")
        s.add(dealer)
        s.flush()
        stamp = "2024-01-01T00:00:00+00:00"
        store_records(s, dealer.id, "customers", [{"dms_id": f"C{i:07d}", "name": f"Cliente {i}",
                                                   "dms_updated_at": stamp} for i in range(VEHICLES)])
        store_records(s, dealer.id, "vehicles", [{"dms_id": f"V{i:07d}", "customer_dms_id": f"C{i:07d}",
                                                  "plate": f"AA{i:03d}BB"[:7], "vin": "",
                                                  "dms_updated_at": stamp} for i in range(VEHICLES)])
        s.commit()
        dealer_id = dealer.id
    engine.dispose()
    return dealer_id


def _upsert_pass(url: str, dealer_id: int, n: int, base: datetime) -> tuple[float, dict]:
    from boxes.db import make_engine, make_sessionmaker
    from boxes.dms.sync import Counts, store_records

    engine = make_engine(url)
    total = Counts()
    spent = 0.0
    with make_sessionmaker(engine)() as s:
        for page in _feed(n, base):
            t = time.perf_counter()
            counts = store_records(s, dealer_id, "repair_orders", page)
            s.commit()
            spent += time.perf_counter() - t
            total.add(counts)
    engine.dispose()
    return spent, {"inserted": total.inserted, "updated": total.updated, "unchanged": total.unchanged,
                   "quarantined": total.quarantined}


def _copy_pass(url: str, dealer_id: int, n: int, base: datetime) -> float:
    """The same rows, validated and resolved as the sync would, through COPY into the emptied tables."""
    import psycopg

    from boxes.dms.records import parse

    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    spent = 0.0
    with psycopg.connect(dsn) as conn:
        conn.execute("TRUNCATE repair_order_line, repair_order RESTART IDENTITY CASCADE")
        vehicles = dict(conn.execute("SELECT dms_id, id FROM vehicle WHERE dealer_id = %s", (dealer_id,)).fetchall())
        customers = dict(conn.execute("SELECT dms_id, id FROM customer WHERE dealer_id = %s",
                                      (dealer_id,)).fetchall())
        conn.commit()
        next_id = 1
        now = datetime.now(UTC)
        for page in _feed(n, base):
            recs = [parse("repair_orders", raw) for raw in page]
            ro_rows, line_rows = [], []
            for r in recs:
                ro_rows.append((next_id, dealer_id, r.dms_id, r.number, vehicles[r.vehicle_dms_id],
                                customers[r.customer_dms_id], r.opened_at, r.promised_at, r.delivered_at, r.status,
                                r.mileage, r.advisor, r.dms_updated_at, now))
                for ln in r.lines:
                    line_rows.append((dealer_id, next_id, ln.line_no, ln.work_done, ln.result, ln.incidents,
                                      ln.declined))
                next_id += 1
            t = time.perf_counter()
            with conn.cursor() as cur:
                with cur.copy("COPY repair_order (id, dealer_id, dms_id, number, vehicle_id, customer_id, opened_at, "
                              "promised_at, delivered_at, status, mileage, advisor, dms_updated_at, created_at) "
                              "FROM STDIN") as copy:
                    for row in ro_rows:
                        copy.write_row(row)
                with cur.copy("COPY repair_order_line (dealer_id, repair_order_id, line_no, work_done, result, "
                              "incidents, declined) FROM STDIN") as copy:
                    for row in line_rows:
                        copy.write_row(row)
            conn.commit()
            spent += time.perf_counter() - t
    return spent


def measure(url: str, n: int) -> dict:
    dealer_id = _setup(url)
    base = datetime(2024, 6, 1, tzinfo=UTC)
    first, counts_first = _upsert_pass(url, dealer_id, n, base)
    again, counts_again = _upsert_pass(url, dealer_id, n, base)
    copy = _copy_pass(url, dealer_id, n, base)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"records": n, "upsert_s": first, "upsert_rps": n / first, "unchanged_s": again,
            "unchanged_rps": n / again, "copy_s": copy, "copy_rps": n / copy, "ratio": copy / first,
            "peak_rss_mib": peak_kib / 1024, "counts_first": counts_first, "counts_again": counts_again}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.split("\n\n")[0])
    p.add_argument("--database-url", default=os.environ.get("BOXES_BENCH_INGEST_DATABASE_URL", DEFAULT_URL))
    p.add_argument("--sizes", default="50000,200000", help="feed sizes, each measured in a fresh process")
    p.add_argument("--records", type=int, default=None, help="measure this one size in this process (JSON out)")
    args = p.parse_args(argv)
    if not args.database_url.startswith("postgresql"):
        p.error("the ingest benchmark runs on PostgreSQL")
    if args.records:
        print(json.dumps(measure(args.database_url, args.records)))
        return 0
    results = []
    for size in (int(x) for x in args.sizes.split(",")):
        out = subprocess.run([sys.executable, "-m", "bench.ingest", "--database-url", args.database_url,
                              "--records", str(size)], check=True, capture_output=True, text=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("\nDMS ingest (repair orders with 1-3 lines each; PostgreSQL; pages of "
          f"{PAGE:,}; time in the database path only):")
    print(f"  {'records':>9} {'upsert rec/s':>13} {'unchanged rec/s':>16} {'COPY rec/s':>11} {'upsert/COPY':>12} "
          f"{'peak RSS':>9}")
    ok = True
    for r in results:
        print(f"  {r['records']:>9,} {r['upsert_rps']:>13,.0f} {r['unchanged_rps']:>16,.0f} {r['copy_rps']:>11,.0f} "
              f"{r['ratio']:>11.0%} {r['peak_rss_mib']:>7.0f} MiB")
        ok &= r["upsert_rps"] >= 50_000 and r["ratio"] >= 0.5
        assert r["counts_first"]["inserted"] == r["records"] and r["counts_again"]["unchanged"] == r["records"]
    print(f"  target: >= 50,000 records/s and >= 50 % of COPY: {'met' if ok else 'NOT met'}; "
          f"peak memory {'flat' if _flat(results) else 'grows'} across feed sizes")
    return 0


def _flat(results: list[dict]) -> bool:
    peaks = [r["peak_rss_mib"] for r in results]
    return max(peaks) <= min(peaks) * 1.15


if __name__ == "__main__":
    sys.exit(main())
