"""Build the benchmark database: the migrations' schema, then the generated dataset through COPY.

- The schema is dropped and recreated with ``boxes.migrate.upgrade`` (the real migrations).
- Dealers, users, discard reasons and campaigns go through the ORM (a few rows).
- The bulk tables are streamed with ``COPY ... FROM STDIN`` (psycopg 3), one worker process per
  dealer at a time, each writing its dealer's rows to one COPY per table as the generator yields
  them: memory stays flat whatever the size.
- Ids come from :class:`boxes.dms.simulator.demo.RowBuilder`, from a per-dealer block of each
  table's id space, so workers need no coordination; the sequences are moved past them at the end.
- Unless ``keep_indexes``, the secondary indexes, unique constraints and foreign keys of the bulk
  tables are dropped before the load and recreated after it from the exact DDL PostgreSQL
  reported (``pg_indexes.indexdef``, ``pg_get_constraintdef``); the schema is then compared with
  the one the migrations made, and any difference is an error.
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing import get_context

import psycopg
from sqlalchemy import select
from sqlalchemy.engine import make_url

from boxes.auth.service import create_user
from boxes.db import make_engine, make_sessionmaker
from boxes.dms.simulator.demo import (
    BUNDLE_TABLES,
    COLUMNS,
    TABLES,
    RowBuilder,
    ensure_discard_reasons,
    insert_campaigns,
    set_campaign_units,
)
from boxes.dms.simulator.generator import World
from boxes.dms.simulator.world_records import DealerProfile
from boxes.migrate import upgrade
from boxes.models import Dealer, User

BENCH_PASSWORD = "bench-password-1"  # noqa: S105 - a throw-away benchmark database
BENCH_USERS = (("bench.caller@bench.boxes", "caller"), ("bench.manager@bench.boxes", "manager"))
PROTECTED_DATABASES = ("boxes_test",)

# Upper bound of rows per vehicle for each table: sizes each dealer's block of ids.
_ROWS_PER_VEHICLE = {"customer": 1, "vehicle": 1, "delivery": 1, "repair_order": 40,
                     "repair_order_line": 160, "appointment": 2, "opportunity": 4, "activity": 30}


def conninfo(url: str) -> str:
    """The libpq form of a SQLAlchemy URL (``postgresql+psycopg://...`` → ``postgresql://...``)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def database_name(url: str) -> str:
    return make_url(url).database or ""


def recreate_schema(url: str) -> None:
    """Create the database if missing, drop everything in it and run the migrations."""
    name = database_name(url)
    if not name or name in PROTECTED_DATABASES or name.startswith("boxes_test"):
        raise SystemExit(f"refusing to use database {name!r} for benchmarks")
    server = make_url(url).set(database="postgres")
    with psycopg.connect(conninfo(server.render_as_string(hide_password=False)), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")
    upgrade(url)


# ------------------------------------------------------------------------------ schema snapshot

def schema_snapshot(conn: psycopg.Connection) -> set[tuple]:
    indexes = conn.execute(
        "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public'"
    ).fetchall()
    constraints = conn.execute(
        """SELECT c.conrelid::regclass::text, c.conname, c.contype, pg_get_constraintdef(c.oid),
                  c.convalidated
           FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
           WHERE n.nspname = 'public'"""
    ).fetchall()
    invalid = conn.execute(
        "SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid OR NOT indisready"
    ).fetchall()
    return ({("index", *row) for row in indexes} | {("constraint", *row) for row in constraints}
            | {("invalid index", *row) for row in invalid})


@dataclass
class Deferred:
    """What was dropped before the load, to recreate after it."""

    indexes: list[tuple[str, str, str]] = field(default_factory=list)  # (table, name, CREATE INDEX ...)
    constraints: list[tuple[str, str, str, str]] = field(default_factory=list)  # (table, name, type, def)


def drop_secondary(conn: psycopg.Connection, tables: tuple[str, ...], *, indexes: bool = True) -> Deferred:
    """Drop the foreign keys of ``tables`` (always: the concurrent COPY streams of one dealer
    reference each other's uncommitted rows) and, with ``indexes``, their secondary indexes and
    unique constraints."""
    deferred = Deferred()
    kinds = ["f", "u"] if indexes else ["f"]
    for table, name, kind, definition in conn.execute(
        """SELECT c.conrelid::regclass::text, c.conname, c.contype, pg_get_constraintdef(c.oid)
           FROM pg_constraint c
           WHERE c.conrelid::regclass::text = ANY(%s) AND c.contype = ANY(%s)
           ORDER BY c.contype, c.conname""",
        (list(tables), kinds),
    ).fetchall():
        deferred.constraints.append((table, name, kind, definition))
    for table, name, definition in [] if not indexes else conn.execute(
        """SELECT tablename, indexname, indexdef FROM pg_indexes
           WHERE schemaname = 'public' AND tablename = ANY(%s)
             AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u'))
           ORDER BY tablename, indexname""",
        (list(tables),),
    ).fetchall():
        deferred.indexes.append((table, name, definition))
    for table, name, _kind, _definition in deferred.constraints:
        conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for _table, name, _definition in deferred.indexes:
        conn.execute(f'DROP INDEX "{name}"')
    conn.commit()
    return deferred


def recreate_secondary(conn: psycopg.Connection, deferred: Deferred) -> None:
    conn.execute("SET maintenance_work_mem = '1GB'")
    for _table, _name, definition in deferred.indexes:
        conn.execute(definition)
        conn.commit()
    # Unique constraints before foreign keys; each FK is validated by one join over the table.
    for table, name, _kind, definition in sorted(deferred.constraints, key=lambda c: c[2] != "u"):
        conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        conn.commit()


# --------------------------------------------------------------------------------------- load

@dataclass(frozen=True)
class DealerJob:
    url: str
    index: int
    dealer_id: int
    profile: DealerProfile
    seed: int
    vehicles: int
    now: datetime
    first_ids: dict[str, int]
    reason_ids: dict[str, int]
    campaign_ids: dict[str, int]
    user_ids: tuple[int, ...]


def id_blocks(vehicles_per_dealer: int) -> dict[str, int]:
    """Size of each dealer's block of ids per table (a power of ten, for readable ids)."""
    return {t: 10 ** math.ceil(math.log10(max(10, vehicles_per_dealer * n))) for t, n in _ROWS_PER_VEHICLE.items()}


def load_dealer(job: DealerJob) -> dict:
    """Worker: stream one dealer's generated rows into every bulk table (one COPY each)."""
    started = time.perf_counter()
    world = World(job.seed, job.profile, job.vehicles, job.now)
    builder = RowBuilder(world, job.dealer_id, job.first_ids, job.reason_ids, job.campaign_ids, job.user_ids)
    info = conninfo(job.url)
    conns = {t: psycopg.connect(info) for t in TABLES}
    try:
        for conn in conns.values():
            conn.execute("SET synchronous_commit = off")
        with ExitStack() as stack:
            copies = {
                t: stack.enter_context(conns[t].cursor().copy(f"COPY {t} ({', '.join(COLUMNS[t])}) FROM STDIN"))
                for t in TABLES
            }
            write = copies["customer"].write_row
            for row in builder.customer_rows():
                write(row)
            writers = [(t, copies[t].write_row) for t in BUNDLE_TABLES]
            for bundle in world.bundles():
                rows = builder.bundle_rows(bundle)
                for table, write in writers:
                    for row in rows[table]:
                        write(row)
        for conn in conns.values():
            conn.commit()
    finally:
        for conn in conns.values():
            conn.close()
    return {"code": job.profile.code, "counts": dict(builder.counts), "campaign_units": dict(builder.campaign_units),
            "campaign_ids": job.campaign_ids, "seconds": time.perf_counter() - started}


@dataclass
class LoadReport:
    dealers: list[Dealer]
    users: list[User]
    rows: dict[str, int]
    seconds: dict[str, float]  # schema, setup, copy, indexes, vacuum, total
    schema_identical: bool
    keep_indexes: bool
    jobs: int

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def build(url: str, profiles: list[DealerProfile], vehicles_per_dealer: int, *, seed: int, now: datetime,
          jobs: int | None = None, keep_indexes: bool = False, log=print) -> LoadReport:
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    recreate_schema(url)
    seconds["schema"] = time.perf_counter() - t0

    t = time.perf_counter()
    engine = make_engine(url)
    session = make_sessionmaker(engine)()
    dealers = []
    for p in profiles:
        dealer = Dealer(code=p.code, name=p.name, country=p.country, time_zone=p.time_zone,
                        locale="es" if p.country == "AR" else "pt_BR",
                        workshop_address="Av. de Prueba 1234", phone="", email="")
        session.add(dealer)
        dealers.append(dealer)
    session.flush()
    users = [create_user(session, email=email, name=role.title(), password=BENCH_PASSWORD,
                         memberships=[(d, role) for d in dealers]) for email, role in BENCH_USERS]
    user_ids = tuple(u.id for u in users)
    blocks = id_blocks(vehicles_per_dealer)
    if any(block * len(profiles) >= 2**31 for block in blocks.values()):
        raise SystemExit("too many rows for 32-bit ids: fewer dealers or vehicles per dealer")
    job_list = []
    for index, (dealer, p) in enumerate(zip(dealers, profiles, strict=True)):
        world = World(seed, p, vehicles_per_dealer, now)
        reasons = ensure_discard_reasons(session, dealer, world)
        campaigns = insert_campaigns(session, dealer, world, user_ids)
        first = {table: 1 + index * blocks[table] for table in TABLES}
        job_list.append(DealerJob(url, index, dealer.id, p, seed, vehicles_per_dealer, now, first, reasons, campaigns,
                                  user_ids))
    session.commit()
    seconds["setup"] = time.perf_counter() - t

    info = conninfo(url)
    with psycopg.connect(info) as conn:
        migrated = schema_snapshot(conn)
        deferred = drop_secondary(conn, TABLES, indexes=not keep_indexes)
    log(f"  load: {len(profiles)} dealers x {vehicles_per_dealer:,} vehicles; deferred until after COPY: "
        f"{len(deferred.indexes)} indexes, {len(deferred.constraints)} constraints")

    t = time.perf_counter()
    jobs = jobs or min(os.cpu_count() or 1, len(job_list))
    rows: dict[str, int] = dict.fromkeys(TABLES, 0)
    units: list[tuple[dict[str, int], dict[str, int]]] = []
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
        for result in pool.map(load_dealer, job_list):
            for table, count in result["counts"].items():
                rows[table] += count
            units.append((result["campaign_ids"], result["campaign_units"]))
            log(f"    {result['code']}: {sum(result['counts'].values()):,} rows in {result['seconds']:.1f}s")
    seconds["copy"] = time.perf_counter() - t

    t = time.perf_counter()
    with psycopg.connect(info) as conn:
        recreate_secondary(conn, deferred)
        for table in (*TABLES, "campaign", "discard_reason", "dealer", "user_account"):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)")
        conn.commit()
        for campaign_ids, campaign_units in units:
            set_campaign_units(session, campaign_ids, Counter(campaign_units))
        session.commit()
        identical = schema_snapshot(conn) == migrated
    seconds["indexes"] = time.perf_counter() - t

    t = time.perf_counter()
    with psycopg.connect(info, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
    seconds["vacuum"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t0

    dealers = list(session.scalars(select(Dealer).order_by(Dealer.id)))
    users = list(session.scalars(select(User).order_by(User.id)))
    session.close()
    engine.dispose()
    if not identical:
        raise SystemExit("the schema after the load differs from the migrations' schema")
    rows["campaign"] = sum(len(ids) for ids, _ in units)
    return LoadReport(dealers, users, rows, seconds, identical, keep_indexes, jobs)
