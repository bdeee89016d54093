"""Campaign manager benchmarks on PostgreSQL (issue 6).

``python -m bench.campaigns [--database-url URL] [--runs N] [--units N] [--pasted N]``

1. **search, 20,000 pasted VINs** (target ≤ 1 s): what step 1 does with a pasted list — split and
   validate every entry, look the VINs up, list the invalid and unknown ones, count the matching
   units and read the first page of step 2.
2. **process 100,000 units** (target ≤ 10 s): step 3 — create the campaign with its work list of
   100,000 units (round-robin over the callers), then the job's ``process`` (batches of
   INSERT … SELECT, progress committed per batch).

The database (default ``boxes_bench_campaigns``, created if missing) is dropped and rebuilt: its
schema is the migrations' head; one dealer with ``--units`` vehicles and customers made with
``generate_series``. Each figure is the median of ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bench.database import add_dealer, fresh_schema

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/boxes_bench_campaigns"
SEARCH_TARGET_S = 1.0
PROCESS_TARGET_S = 10.0


def build(url: str, units: int) -> None:
    engine = fresh_schema(url)
    with engine.begin() as conn:
        dealer_id = add_dealer(conn)
        for i, role in enumerate(["campaigns", "caller", "caller", "caller"]):
            uid = conn.scalar(sa.text(
                "INSERT INTO user_account (email, name, password_hash, active, group_admin, created_at) "
                "VALUES (:e, :n, 'x', true, false, now()) RETURNING id"), {"e": f"u{i}@bench", "n": f"User {i}"})
            conn.execute(sa.text("INSERT INTO membership (user_id, dealer_id, role) VALUES (:u, :d, :r)"),
                         {"u": uid, "d": dealer_id, "r": role})
        conn.execute(sa.text(
            "INSERT INTO customer (dealer_id, dms_id, name, phone_mobile, phone_home, phone_work, email, "
            "contact_opt_out, created_at) SELECT :d, 'C' || i, 'Cliente ' || i, '', '', '', '', false, now() "
            "FROM generate_series(1, :n) AS i"), {"d": dealer_id, "n": units})
        conn.execute(sa.text(
            "INSERT INTO vehicle (dealer_id, dms_id, vin, plate, brand, model, version, model_year, customer_id, "
            "created_at) SELECT :d, 'V' || c.dms_id, 'BENCH' || lpad(substr(c.dms_id, 2), 12, '0'), "
            "'AA' || lpad((c.id % 1000)::text, 3, '0') || 'BB', 'Chevrolet', 'Onix', 'LT', 2020 + c.id % 5, c.id, "
            "now() FROM customer c WHERE c.dealer_id = :d"), {"d": dealer_id})
        conn.execute(sa.text("ANALYZE"))
    engine.dispose()


def _median(fn, runs: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times


def run(url: str, runs: int = 5, units: int = 100_000, pasted: int = 20_000, build_first: bool = True) -> dict:
    from sqlalchemy import select

    from boxes.campaigns import search, service
    from boxes.db import make_engine, make_sessionmaker, utcnow
    from boxes.models import Dealer, User, Vehicle

    if build_first:
        started = time.perf_counter()
        build(url, units)
        print(f"built {units:,} vehicles in {time.perf_counter() - started:.1f}s", flush=True)
    engine = make_engine(url)
    make = make_sessionmaker(engine)
    with make() as session:
        dealer = session.scalar(select(Dealer).where(Dealer.code == "BENCH"))
        actor = session.scalar(select(User).where(User.email == "u0@bench"))
        vins = list(session.scalars(select(Vehicle.vin).where(Vehicle.dealer_id == dealer.id)
                                    .order_by(Vehicle.id).limit(pasted - pasted // 20)))
        session.expunge_all()
    # 95 % known VINs, 5 % unknown, a few invalid and repeated, pasted in lower case with mixed separators.
    unknown = [f"UNKNWN{i:011d}" for i in range(pasted - len(vins))]
    entries = [v.lower() for v in vins + unknown] + ["NOT-A-VIN", "1HGCM82633AO04352", vins[0]]
    text = "\n".join(", ".join(entries[i:i + 3]) for i in range(0, len(entries), 3))

    def do_search():
        with make() as session:
            ids, report = search.resolve_list(session, dealer, "vin", text)
            criteria = search.Criteria(id_kind="vin", vehicle_ids=ids)
            total = search.count(session, dealer, criteria)
            search.page(session, dealer, criteria, page=1, per_page=50)
            assert total == len(vins) and len(report.not_found) == len(unknown) and len(report.invalid) == 2

    search_median, search_times = _median(do_search, runs)

    with make() as session:
        all_ids = list(session.scalars(select(Vehicle.id).where(Vehicle.dealer_id == dealer.id)))
    due = (utcnow().astimezone(ZoneInfo(dealer.time_zone)) + timedelta(days=7)).date().isoformat()
    create_times, process_times = [], []

    def do_process():
        with make() as session:
            session.add(dealer)
            started = time.perf_counter()
            # A name per run: an open campaign's name is unique per dealer.
            campaign = service.create_campaign(session, dealer, actor, name=f"Bench recall {len(create_times) + 1}",
                                               kind="recall", due_date=due, assignment="round_robin",
                                               vehicle_ids=all_ids)
            created = time.perf_counter()
            done = service.process(session, campaign.id)
            finished = time.perf_counter()
            assert done.opportunities_created == len(all_ids)
            create_times.append(created - started)
            process_times.append(finished - created)

    process_runs = max(1, min(runs, 3))
    total_median, total_times = _median(do_process, process_runs)
    engine.dispose()
    return dict(
        search_median=search_median, search_times=search_times,
        process_median=total_median, process_times=total_times,
        create_median=statistics.median(create_times), job_median=statistics.median(process_times),
        units=len(all_ids), pasted=len(entries),
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.campaigns", description=__doc__.split("\n\n")[0])
    p.add_argument("--database-url", default=os.environ.get("BOXES_BENCH_CAMPAIGNS_DATABASE_URL", DEFAULT_URL),
                   help="PostgreSQL URL; its schema is dropped and rebuilt")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--units", type=int, default=100_000)
    p.add_argument("--pasted", type=int, default=20_000)
    p.add_argument("--no-build", action="store_true", help="reuse the database built by the last run")
    args = p.parse_args(argv)
    if not args.database_url.startswith("postgresql"):
        p.error("the benchmarks run on PostgreSQL")
    r = run(args.database_url, args.runs, args.units, args.pasted, build_first=not args.no_build)
    ok = lambda v, t: "ok" if v <= t else "MISS"  # noqa: E731
    print(f"\nCampaign manager ({r['units']:,} units; medians of {len(r['search_times'])} / "
          f"{len(r['process_times'])} runs):")
    print(f"  search, {r['pasted']:,} pasted VINs   {r['search_median']:7.3f} s  target <= {SEARCH_TARGET_S:g} s  "
          f"{ok(r['search_median'], SEARCH_TARGET_S)}   runs: {', '.join(f'{t:.3f}' for t in r['search_times'])}")
    print(f"  process {r['units']:,} units         {r['process_median']:7.3f} s  target <= {PROCESS_TARGET_S:g} s  "
          f"{ok(r['process_median'], PROCESS_TARGET_S)}   (create {r['create_median']:.3f} s + job "
          f"{r['job_median']:.3f} s)   runs: {', '.join(f'{t:.3f}' for t in r['process_times'])}")
    return 0 if r["search_median"] <= SEARCH_TARGET_S and r["process_median"] <= PROCESS_TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
