"""The DMS sync engine: per dealer and entity, incremental, idempotent, resumable.

``run(session, dealer, entity)`` reads the dealer's connector page by page from the stored cursor.
Each page is validated record by record (a bad one is quarantined with its reason), deduplicated,
upserted in batches (``INSERT … ON CONFLICT DO UPDATE`` guarded by ``dms_updated_at`` so an
older version never overwrites a newer one, and the same version only when its content differs —
see ``_guard``), and committed *together with* the cursor after the
page. A crash or a DMS outage therefore loses nothing and the next run resumes after the last
stored page; a page read twice only counts as "unchanged". Pages are streamed and nothing is
kept between them, so memory does not grow with the feed.

Speed (PostgreSQL; ``docs/integrations.md`` has the figures): a prefetch thread reads and
validates the next page while this one is stored; one lookup sorts a page into ids not stored
yet (binary COPY straight into the table), ids stored with an older version (staged binary COPY,
then the guarded upsert above) and ids stored as they are (not written at all). SQLite takes the
plain ``INSERT … VALUES … ON CONFLICT`` path with the same rules.

One run per dealer × entity at a time: a Redis lock (a lease renewed after every page; a killed
worker's lease expires by itself). Every run is a :class:`SyncRun` with its counts, duration and
error. ``sync_dealer`` runs every entity in reference order, then the derived state
(:mod:`boxes.dms.derived`) and the appointment credit (``board.credit.match_and_credit``).

Unknown references (an RO or appointment for a vehicle never seen, a vehicle of an unknown
customer) are quarantined as ``reference`` entries and retried automatically at the start of
every run of that entity, so they converge once the DMS sends what they point to. Records that
are invalid in themselves wait for an admin's "Retry quarantined" (after fixing the mapping) or
for a newer valid version from the DMS, which resolves them.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import queue
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import String, and_, any_, case, delete, func, insert, literal, literal_column, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from boxes.db import upsert, utcnow
from boxes.dms import records as R
from boxes.dms.connectors.base import ConfigurationError, Connector, ConnectorError, Page, TransportError
from boxes.inputs import shown, storable
from boxes.models import (
    Appointment,
    Customer,
    Dealer,
    Delivery,
    DmsConnector,
    QuarantinedRecord,
    RepairOrder,
    RepairOrderLine,
    SyncCursor,
    SyncRun,
    Vehicle,
)
from boxes.models.integration import SYNC_ORDER

log = logging.getLogger("boxes.dms.sync")

LOCK_KEY = "boxes:sync:lock:{dealer_id}:{entity}"
DEFAULT_LOCK_SECONDS = 120
PREFETCH_PAGES = 1  # pages read and validated ahead of the one being stored
CURSOR_LENGTH = SyncCursor.__table__.c.cursor.type.length
MAX_PARAMS = 30_000  # bound parameters per statement (SQLite allows 32766, PostgreSQL 65535)
MODELS = {"customers": Customer, "vehicles": Vehicle, "deliveries": Delivery, "appointments": Appointment,
          "repair_orders": RepairOrder}


class SyncBusy(RuntimeError):
    """Another sync of this dealer and entity holds the lock."""


@dataclass
class Counts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    stored_ids: set = field(default_factory=set)

    def add(self, other: Counts) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.quarantined += other.quarantined


# ----------------------------------------------------------------------------- connector

def connector_row(session: Session, dealer: Dealer) -> DmsConnector | None:
    return session.scalar(select(DmsConnector).where(DmsConnector.dealer_id == dealer.id))


class _RowTokenStore:
    """Keeps the http connector's bearer token in the connector row, in its own short commit (a
    token is worth keeping even when the run fails later)."""

    def __init__(self, session_factory, connector_id: int, token, expires_at):
        self.session_factory = session_factory
        self.connector_id = connector_id
        self.token, self.expires_at = token, expires_at

    def load(self):
        return self.token, self.expires_at

    def save(self, token, expires_at):
        self.token, self.expires_at = token, expires_at
        with self.session_factory() as s:
            s.execute(update(DmsConnector).where(DmsConnector.id == self.connector_id)
                      .values(token=token, token_expires_at=expires_at))
            s.commit()


def open_connector(session: Session, dealer: Dealer, config=None) -> Connector:
    """The dealer's connector, within the boundaries the operator sets (``config``, else the
    environment): see :mod:`boxes.dms.reach`."""
    from sqlalchemy.orm import sessionmaker

    from boxes.dms.connectors import build
    from boxes.dms.reach import boundaries

    row = connector_row(session, dealer)
    if row is None or not row.enabled:
        raise ConfigurationError("no DMS connector is configured for this dealer")
    store = _RowTokenStore(sessionmaker(bind=session.get_bind()), row.id, row.token, row.token_expires_at)
    # The feed has answered under these settings before: a token it gave, or a run that succeeded
    # since they were saved (its errors may then say what happened; see the http connector).
    proven = row.token is not None or session.scalar(select(SyncRun.id).where(
        SyncRun.dealer_id == dealer.id, SyncRun.status == "succeeded", SyncRun.started_at >= row.updated_at)
        .limit(1)) is not None
    return build(row.kind, dict(row.settings or {}), dict(row.secrets or {}), dealer=dealer, token_store=store,
                 boundaries=boundaries(session, dealer, config, kind=row.kind), proven=proven)


# --------------------------------------------------------------------------------- store

def _chunks(rows: list, width: int) -> Iterable[list]:
    size = max(1, MAX_PARAMS // max(1, width))
    for i in range(0, len(rows), size):
        yield rows[i:i + size]


def _guard(entity: str):
    """When a stored row takes the feed's record: a newer version; or the *same* version whose DMS
    content differs from what Boxes holds. The DMS is the system of record for what it owns — a
    record it changed without moving its timestamp (or data Boxes got elsewhere, a demo) would
    otherwise never be corrected, since the cursor moves on. "Differs" means the update would
    change a column (the ``UPDATES`` expressions, so a fact Boxes owns — a caller's confirmation, a
    manual delivery — is compared as kept); the same content again is "unchanged". An older
    version never overwrites a newer one."""
    update = UPDATES[entity]
    compared = [name for name in update if name not in ("dms_updated_at", "version")]

    def guard(excluded, table):
        def value(name):
            return update[name](excluded, table) if isinstance(update, dict) else excluded[name]

        differs = or_(*[value(name).is_distinct_from(table.c[name]) for name in compared])
        return or_(table.c.dms_updated_at.is_(None), excluded.dms_updated_at > table.c.dms_updated_at,
                   and_(excluded.dms_updated_at == table.c.dms_updated_at, differs))

    return guard


def _driver(session: Session):
    """The psycopg connection inside the session's transaction (PostgreSQL fast paths)."""
    return session.connection().connection.driver_connection


def _postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _id_map(session: Session, model, dealer_id: int, dms_ids: set[str], *extra) -> dict:
    if not dms_ids:
        return {}
    out = {}
    ids = list(dms_ids)
    t = model.__table__.c  # Core columns: no ORM overhead on this hot path (still filtered by dealer)
    extra = [t[e.key] for e in extra]
    if _postgres(session):
        sql = _lookup_sql(model.__tablename__, [c.name for c in (t.id, *extra)])
        with _driver(session).cursor() as cur:
            _statistics_known(cur, model.__tablename__)
            for i in range(0, len(ids), 20_000):
                cur.execute(sql, (ids[i:i + 20_000], dealer_id), prepare=False)
                if extra:
                    out.update((row[0], row[1:]) for row in cur)
                else:
                    out.update(cur)
        return out
    for i in range(0, len(ids), 5000):
        query = select(t.dms_id, t.id, *extra).where(t.dealer_id == dealer_id, t.dms_id.in_(ids[i:i + 5000]))
        for row in session.execute(query):
            out[row[0]] = row[1:] if extra else row[1]
    return out


def _statistics_known(cur, table: str) -> None:
    """Analyze a table PostgreSQL has no statistics for, once it has rows (a fresh installation's
    first load, a table just truncated). Without them the planner may probe another index of the
    dealer (dealer_id, vin) and filter every row of the dealer for each id: measured, 0.4 s for
    one page of 2,000 ids against 2,000 vehicles, instead of 2 ms. As the table grows the planner
    scales what it knows by the table's size, and autovacuum takes over."""
    cur.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (table,))
    (tuples,) = cur.fetchone()
    if tuples <= 0:
        cur.execute(f"SELECT EXISTS (SELECT FROM {table})")
        if cur.fetchone()[0]:
            cur.execute(f"ANALYZE {table}")


def _lookup_sql(table: str, columns: list[str]) -> str:
    """dms_id → columns of the dealer's rows, for an array of dms_ids (parameters: ids, dealer).

    One probe of the (dealer_id, dms_id) index per id, whatever the statistics say: OFFSET 0
    keeps the LATERAL subquery from being flattened into a join (which stale statistics turn
    into a hash join over all the dealer's rows, e.g. while a first load grows the table), and
    it is planned per call (``prepare=False``), against the table's current size. Not LIMIT 1:
    with it the planner expects a match early in a sequential scan, and an id that is not there
    yet (every id of a first load) scans the whole table."""
    names = ", ".join(f"t.{c}" for c in columns)
    return (f"SELECT wanted.dms_id, {names} FROM unnest(%b::varchar[]) AS wanted(dms_id) CROSS JOIN LATERAL "
            f"(SELECT {names} FROM {table} t WHERE t.dealer_id = %s AND t.dms_id = wanted.dms_id OFFSET 0) AS t")


def _quarantine(session: Session, dealer_id: int, entity: str, raw, reason: str, kind: str, run_id) -> None:
    payload = raw if isinstance(raw, dict) else {"value": repr(raw)[:2000]}
    # The payload is JSON (a NUL is escaped there); the id and the reason are text columns, so what
    # made the record bad must not make its quarantine entry fail too.
    session.add(QuarantinedRecord(dealer_id=dealer_id, entity=entity, dms_id=R.dms_id_of(raw), payload=payload,
                                  reason=shown(reason[:2000]), kind=kind, sync_run_id=run_id))


def _expected(column):
    return column.in_(("requested", "confirmation_pending", "confirmed", "no_show"))


# What a page writes, per entity, besides dealer_id and created_at (the same for the whole page).
# Columns left out are NULL on insert and never touched by an update (Boxes owns them: welcome and
# courtesy calls, a manual delivery's author, a caller's confirmation).
COLUMNS = {
    "customers": ("dms_id", "name", "phone_mobile", "phone_home", "phone_work", "email", "contact_opt_out",
                  "dms_updated_at"),
    "vehicles": ("dms_id", "customer_id", "vin", "plate", "brand", "model", "version", "model_year", "mileage",
                 "sold_on", "dms_updated_at"),
    "deliveries": ("dms_id", "vehicle_id", "customer_id", "delivered_at", "salesperson", "dms_updated_at"),
    "repair_orders": ("dms_id", "vehicle_id", "customer_id", "number", "opened_at", "promised_at", "delivered_at",
                      "status", "mileage", "advisor", "dms_updated_at"),
    "appointments": ("dms_id", "vehicle_id", "customer_id", "scheduled_at", "service_type", "advisor", "status",
                     "source", "arrived_at", "repair_order_id", "version", "comment", "dms_updated_at"),
}

UPDATES = {
    "customers": ["name", "phone_mobile", "phone_home", "phone_work", "email", "dms_updated_at"],
    "vehicles": ["customer_id", "vin", "plate", "brand", "model", "version", "model_year", "mileage", "sold_on",
                 "dms_updated_at"],
    "deliveries": ["vehicle_id", "customer_id", "delivered_at", "salesperson", "dms_updated_at"],
    # A delivery is never undone by the DMS: a manual "unit delivered" (and its author) stays until the
    # DMS reports its own delivery time.
    "repair_orders": {
        "number": lambda x, t: x.number, "vehicle_id": lambda x, t: x.vehicle_id,
        "customer_id": lambda x, t: x.customer_id, "opened_at": lambda x, t: x.opened_at,
        "promised_at": lambda x, t: x.promised_at,
        "delivered_at": lambda x, t: case((x.delivered_at.is_(None), t.c.delivered_at), else_=x.delivered_at),
        "status": lambda x, t: case((and_(x.delivered_at.is_(None), t.c.delivered_at.is_not(None)), t.c.status),
                                    else_=x.status),
        "mileage": lambda x, t: x.mileage, "advisor": lambda x, t: x.advisor,
        "dms_updated_at": lambda x, t: x.dms_updated_at,
    },
    # Arrival and a caller's confirmation are facts Boxes keeps: an older-fashioned DMS status does not undo
    # them. The version bump makes an open board form on this appointment stale (409, never a silent overwrite).
    "appointments": {
        "vehicle_id": lambda x, t: x.vehicle_id, "customer_id": lambda x, t: x.customer_id,
        "scheduled_at": lambda x, t: x.scheduled_at, "service_type": lambda x, t: x.service_type,
        "advisor": lambda x, t: x.advisor,
        "status": lambda x, t: case(
            (and_(t.c.arrived_at.is_not(None), _expected(x.status)), t.c.status),
            (and_(t.c.confirmed_at.is_not(None), x.status.in_(("requested", "confirmation_pending"))), "confirmed"),
            else_=x.status),
        "source": lambda x, t: x.source,
        "arrived_at": lambda x, t: case((x.arrived_at.is_(None), t.c.arrived_at), else_=x.arrived_at),
        "repair_order_id": lambda x, t: case((x.repair_order_id.is_(None), t.c.repair_order_id),
                                             else_=x.repair_order_id),
        "version": lambda x, t: t.c.version + 1,
        "dms_updated_at": lambda x, t: x.dms_updated_at,
    },
}


@dataclass
class Prepared:
    """One page validated record by record and deduplicated. Needs no database, so the sync's
    prefetch thread prepares the next page while this one is being stored."""

    entity: str
    items: list  # (record, raw): one per dms_id, the newest version the page holds
    invalid: list  # (raw, reason)
    duplicates: int = 0  # older copies of an id already in the page: "unchanged"


def prepare(entity: str, raws: list) -> Prepared:
    parsed: dict[str, tuple] = {}
    invalid = []
    duplicates = 0
    parse, error = R.parse, R.RecordError
    for raw in raws:
        try:
            rec = parse(entity, raw)
        except error as exc:
            invalid.append((raw, str(exc)))
            continue
        seen = parsed.get(rec.dms_id)
        if seen is not None:
            duplicates += 1  # the same id twice in one page: the newest version wins
            if seen[0].dms_updated_at >= rec.dms_updated_at:
                continue
        parsed[rec.dms_id] = (rec, raw)
    return Prepared(entity, list(parsed.values()), invalid, duplicates)


def store_records(session: Session, dealer_id: int, entity: str, raws: list, *, run_id: int | None = None,
                  now: datetime | None = None) -> Counts:
    """Validate and upsert one page of feed-v1 objects (no commit). Returns the counts."""
    return store_prepared(session, dealer_id, prepare(entity, raws), run_id=run_id, now=now)


def store_prepared(session: Session, dealer_id: int, prepared: Prepared, *, run_id: int | None = None,
                   now: datetime | None = None) -> Counts:
    """Upsert a prepared page (no commit): quarantine what is invalid or names an unknown
    reference, write the rest. Returns the counts."""
    entity = prepared.entity
    counts = Counts(unchanged=prepared.duplicates, quarantined=len(prepared.invalid))
    now = now or utcnow()
    for raw, reason in prepared.invalid:
        _quarantine(session, dealer_id, entity, raw, reason, "invalid", run_id)
    items = prepared.items
    if not items:
        return counts
    rows: list[tuple] = []  # dealer_id, created_at, then COLUMNS[entity]
    kept: list = []

    def missing(raw, what: str, ref: str) -> None:
        _quarantine(session, dealer_id, entity, raw, f"unknown {what} {ref}: not received from the DMS yet",
                    "reference", run_id)
        counts.quarantined += 1

    if entity == "customers":
        for rec, _raw in items:
            rows.append((dealer_id, now, rec.dms_id, rec.name, rec.phone_mobile, rec.phone_home, rec.phone_work,
                         rec.email, False, rec.dms_updated_at))
            kept.append(rec)
    elif entity == "vehicles":
        customers = _id_map(session, Customer, dealer_id, {r.customer_dms_id for r, _ in items if r.customer_dms_id})
        for rec, raw in items:
            customer_id = customers.get(rec.customer_dms_id) if rec.customer_dms_id else None
            if rec.customer_dms_id and customer_id is None:
                missing(raw, "customer", rec.customer_dms_id)
                continue
            rows.append((dealer_id, now, rec.dms_id, customer_id, rec.vin, rec.plate, rec.brand, rec.model, rec.version,
                         rec.model_year, rec.mileage, rec.sold_on, rec.dms_updated_at))
            kept.append(rec)
    else:
        vehicles = _id_map(session, Vehicle, dealer_id, {r.vehicle_dms_id for r, _ in items}, Vehicle.customer_id)
        customers = _id_map(session, Customer, dealer_id, {r.customer_dms_id for r, _ in items if r.customer_dms_id})
        ros = {}
        if entity == "appointments":
            ros = _id_map(session, RepairOrder, dealer_id,
                          {r.repair_order_dms_id for r, _ in items if r.repair_order_dms_id})
        for rec, raw in items:
            vehicle = vehicles.get(rec.vehicle_dms_id)
            if vehicle is None:
                missing(raw, "vehicle", rec.vehicle_dms_id)
                continue
            vehicle_id, vehicle_customer = vehicle
            customer_id = (customers.get(rec.customer_dms_id) if rec.customer_dms_id else None) or vehicle_customer
            if entity == "repair_orders":
                rows.append((dealer_id, now, rec.dms_id, vehicle_id, customer_id, rec.number, rec.opened_at,
                             rec.promised_at, rec.delivered_at, rec.status, rec.mileage, rec.advisor,
                             rec.dms_updated_at))
            elif entity == "deliveries":
                rows.append((dealer_id, now, rec.dms_id, vehicle_id, customer_id, rec.delivered_at, rec.salesperson,
                             rec.dms_updated_at))
            else:
                rows.append((dealer_id, now, rec.dms_id, vehicle_id, customer_id, rec.scheduled_at,
                             rec.service_type, rec.advisor, rec.status, rec.source, rec.arrived_at,
                             ros.get(rec.repair_order_dms_id) if rec.repair_order_dms_id else None, 1, "",
                             rec.dms_updated_at))
            kept.append(rec)
    if _postgres(session):
        written, inserted = _write_postgres(session, dealer_id, entity, rows)
    else:
        written, inserted = _upsert_values(session, dealer_id, entity, rows)
    counts.inserted += len(inserted)
    counts.updated += len(written) - len(inserted)
    counts.unchanged += len(rows) - len(written)
    counts.stored_ids = {r.dms_id for r in kept}
    if entity == "repair_orders" and written:
        _replace_lines(session, dealer_id, kept, written, inserted)
    return counts


def _upsert_values(session: Session, dealer_id: int, entity: str, rows: list[tuple]
                   ) -> tuple[dict[str, int], set[str]]:
    """SQLite: ``INSERT … VALUES … ON CONFLICT DO UPDATE … RETURNING`` in chunks (bound parameters
    are limited). Returns (dms_id → id of the rows written, dms_ids that were inserted)."""
    model = MODELS[entity]
    names = ("dealer_id", "created_at", *COLUMNS[entity])
    written: dict[str, int] = {}
    inserted: set[str] = set()
    for chunk in _chunks(rows, len(names)):
        existing = set(_id_map(session, model, dealer_id, {r[2] for r in chunk}))
        values = [dict(zip(names, row, strict=True)) for row in chunk]
        result = upsert(session, model, values, ["dealer_id", "dms_id"], UPDATES[entity], where=_guard(entity),
                        returning=[model.__table__.c.dms_id, model.__table__.c.id])
        for dms_id, row_id in result:
            written[dms_id] = row_id
            if dms_id not in existing:
                inserted.add(dms_id)
    return written, inserted


@dataclass(frozen=True)
class _Statements:
    table: str
    columns: tuple  # dealer_id, created_at, then COLUMNS[entity]
    types: list  # their binary COPY types
    stage: str  # the temporary staging table of updates
    create_stage: str
    copy_stage: str
    copy_table: str  # new rows straight into the table (repair orders: with ids taken beforehand)
    upsert: str  # from the stage, guarded by dms_updated_at


_STATEMENTS: dict[str, _Statements] = {}


def _copy_type(column) -> str:
    from sqlalchemy import Boolean, Date, Integer

    from boxes.db import UTCDateTime

    kind = column.type
    if isinstance(kind, UTCDateTime):
        return "timestamptz"
    if isinstance(kind, Boolean):
        return "bool"
    if isinstance(kind, Integer):
        return "int4"
    if isinstance(kind, Date):
        return "date"
    return "text"  # String, Text: the same binary format as varchar


def _statements(entity: str) -> _Statements:
    """The PostgreSQL statements of an entity, built once (the upsert's SET and guard come from
    UPDATES, like the SQLite path's)."""
    statements = _STATEMENTS.get(entity)
    if statements is not None:
        return statements
    from sqlalchemy import column as sql_column
    from sqlalchemy import table as sql_table
    from sqlalchemy.dialects import postgresql

    table = MODELS[entity].__table__
    cols = ("dealer_id", "created_at", *COLUMNS[entity])
    stage = f"boxes_stage_{table.name}"
    source = sql_table(stage, *[sql_column(c) for c in cols])
    stmt = postgresql.insert(table).from_select(list(cols), select(*[source.c[c] for c in cols]))
    excluded = stmt.excluded
    update_cols = UPDATES[entity]
    if isinstance(update_cols, dict):
        set_ = {name: fn(excluded, table) for name, fn in update_cols.items()}
    else:
        set_ = {name: excluded[name] for name in update_cols}
    stmt = stmt.on_conflict_do_update(index_elements=["dealer_id", "dms_id"], set_=set_,
                                      where=_guard(entity)(excluded, table)).returning(
        table.c.dms_id, table.c.id, literal_column("(xmax = 0)"))
    names = ", ".join(cols)
    direct = ("id", *cols) if entity == "repair_orders" else cols
    statements = _Statements(
        table=table.name,
        columns=cols,
        types=[_copy_type(table.c[c]) for c in cols],
        stage=stage,
        create_stage=f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "
                     f"SELECT {names} FROM {table.name} WITH NO DATA",
        copy_stage=f"COPY {stage} ({names}) FROM STDIN (FORMAT BINARY)",
        copy_table=f"COPY {table.name} ({', '.join(direct)}) FROM STDIN (FORMAT BINARY)",
        upsert=str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})),
    )
    _STATEMENTS[entity] = statements
    return statements


def _write_postgres(session: Session, dealer_id: int, entity: str, rows: list[tuple]
                    ) -> tuple[dict[str, int | None], set[str]]:
    """PostgreSQL. One lookup of what is stored sorts the page: an id not stored yet goes
    straight into the table by binary COPY (what a bulk load costs, no conflict handling); an id
    stored with an older or the same version goes through the staged ``INSERT … ON CONFLICT DO
    UPDATE`` (the Boxes-owned facts and the guard live there: the same version is written only when
    its content differs, see ``_guard``); an id stored with a newer version is not written at all.
    Should another writer insert one of the new ids meanwhile (an admin's "retry quarantined"),
    the COPY fails on the unique key, is undone to its savepoint, and those rows take the upsert
    path too: the result is the upsert's either way.

    Returns (dms_id → id of the rows written — None where the COPY did not ask —, dms_ids that
    were inserted)."""
    import psycopg

    model = MODELS[entity]
    st = _statements(entity)
    stored = _id_map(session, model, dealer_id, {row[2] for row in rows}, model.dms_updated_at)
    new: list[tuple] = []
    newer: list[tuple] = []
    for row in rows:
        got = stored.get(row[2])
        if got is None:
            new.append(row)
        elif got[1] is None or row[-1] >= got[1]:  # dms_updated_at, the last column: _guard decides
            newer.append(row)
    written: dict[str, int | None] = {}
    inserted: set[str] = set()
    with _driver(session).cursor() as cur:
        if new:
            if entity == "repair_orders":  # the lines need the ids: taken from the sequence first
                cur.execute("SELECT nextval(pg_get_serial_sequence('repair_order', 'id')) "
                            "FROM generate_series(1, %s)", (len(new),))
                new = [(row_id, *row) for (row_id,), row in zip(cur.fetchall(), new, strict=True)]
            cur.execute("SAVEPOINT boxes_sync_new_rows")
            try:
                with cur.copy(st.copy_table) as copy:
                    copy.set_types(["int4", *st.types] if entity == "repair_orders" else st.types)
                    write = copy.write_row
                    for row in new:
                        write(row)
            except psycopg.errors.UniqueViolation:
                cur.execute("ROLLBACK TO SAVEPOINT boxes_sync_new_rows")
                newer.extend(row[1:] if entity == "repair_orders" else row for row in new)
                new = []
            cur.execute("RELEASE SAVEPOINT boxes_sync_new_rows")
            at = 3 if entity == "repair_orders" else 2
            for row in new:
                written[row[at]] = row[0] if entity == "repair_orders" else None
                inserted.add(row[at])
        if newer:
            cur.execute(st.create_stage)
            # Emptied at every commit, and here: a caller may store several pages in one transaction.
            cur.execute(f"DELETE FROM {st.stage}")
            with cur.copy(st.copy_stage) as copy:
                copy.set_types(st.types)
                write = copy.write_row
                for row in newer:
                    write(row)
            cur.execute(st.upsert)
            for dms_id, row_id, is_new in cur.fetchall():
                written[dms_id] = row_id
                if is_new:
                    inserted.add(dms_id)
    return written, inserted


DELETE_LINES = "DELETE FROM repair_order_line WHERE dealer_id = %s AND repair_order_id = ANY(%s)"
LINE_COLUMNS = ("dealer_id", "repair_order_id", "line_no", "work_done", "result", "incidents", "declined")


def _replace_lines(session: Session, dealer_id: int, recs: list, ids: dict[str, int], inserted: set[str]) -> None:
    """The lines of the repair orders just written are the DMS's: those of an updated RO are
    replaced, an inserted RO gets its own (an RO kept as it was keeps its lines)."""
    changed = [ids[r.dms_id] for r in recs if r.dms_id in ids and r.dms_id not in inserted]
    lines = [(dealer_id, ids[r.dms_id], ln.line_no, ln.work_done, ln.result, ln.incidents, ln.declined)
             for r in recs if r.dms_id in ids for ln in r.lines]
    if _postgres(session):
        with _driver(session).cursor() as cur:
            if changed:
                # Planned for this array (not prepared): an index scan on (repair_order_id, line_no)
                # whatever the statistics say. A join on unnest(array) was planned, on a freshly
                # loaded table, as a nested loop over a sequential scan: a second per page.
                cur.execute(DELETE_LINES, (dealer_id, changed), prepare=False)
            with cur.copy(f"COPY repair_order_line ({', '.join(LINE_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int4", "int4", "int4", "text", "text", "text", "bool"])
                write = copy.write_row
                for line in lines:
                    write(line)
        return
    for i in range(0, len(changed), 5000):
        session.execute(delete(RepairOrderLine).where(RepairOrderLine.dealer_id == dealer_id,
                                                      RepairOrderLine.repair_order_id.in_(changed[i:i + 5000])))
    for chunk in _chunks(lines, len(LINE_COLUMNS)):
        session.execute(insert(RepairOrderLine), [dict(zip(LINE_COLUMNS, line, strict=True)) for line in chunk])


def _resolve_quarantine(session: Session, dealer_id: int, entity: str, dms_ids: set[str], run_id, now) -> None:
    """A record stored now makes its older quarantined versions obsolete."""
    if not dms_ids:
        return
    q = QuarantinedRecord
    open_entries = [q.dealer_id == dealer_id, q.entity == entity, q.resolved_at.is_(None),
                    or_(q.sync_run_id.is_(None), q.sync_run_id != run_id) if run_id is not None else q.id.is_not(None)]
    # Usually there is nothing to resolve: one index probe instead of sending every id of the page.
    if session.scalar(select(q.id).where(*open_entries).limit(1)) is None:
        return
    ids = list(dms_ids)
    postgres = _postgres(session)
    step = len(ids) if postgres else 5000
    for i in range(0, len(ids), step):
        chunk = ids[i:i + step]
        # One array parameter on PostgreSQL (the index on dealer, entity, resolved_at finds the few
        # open entries; the ids only filter them), an IN list on SQLite.
        wanted = q.dms_id == any_(literal(chunk, ARRAY(String))) if postgres else q.dms_id.in_(chunk)
        session.execute(update(q).where(*open_entries, wanted).values(resolved_at=now))


def retry_quarantined(session: Session, dealer_id: int, entity: str | None = None, *, kinds=("reference",),
                      run_id: int | None = None, batch: int = 500) -> Counts:
    """Feed open quarantine entries through the store path again (no commit). An entry that fails
    again is replaced by a fresh one with the current reason."""
    total = Counts()
    last_id = 0
    # Entries that fail again are re-created with higher ids: only what was open when we started.
    ceiling = session.scalar(select(func.max(QuarantinedRecord.id)).where(
        QuarantinedRecord.dealer_id == dealer_id)) or 0
    while True:
        q = select(QuarantinedRecord).where(
            QuarantinedRecord.dealer_id == dealer_id, QuarantinedRecord.resolved_at.is_(None),
            QuarantinedRecord.kind.in_(kinds), QuarantinedRecord.id > last_id, QuarantinedRecord.id <= ceiling,
        ).order_by(QuarantinedRecord.id).limit(batch)
        if entity is not None:
            q = q.where(QuarantinedRecord.entity == entity)
        entries = session.scalars(q).all()
        if not entries:
            return total
        last_id = entries[-1].id
        now = utcnow()
        by_entity: dict[str, list] = {}
        for entry in entries:
            entry.resolved_at = now
            by_entity.setdefault(entry.entity, []).append(entry.payload)
        session.flush()
        for name in SYNC_ORDER:
            if name in by_entity:
                counts = store_records(session, dealer_id, name, by_entity[name], run_id=run_id, now=now)
                _resolve_quarantine(session, dealer_id, name, counts.stored_ids, run_id, now)
                total.add(counts)
        session.flush()


# ----------------------------------------------------------------------------------- run

class _Lock:
    def __init__(self, redis, dealer_id: int, entity: str, seconds: int):
        self.lock = None
        if redis is not None:
            self.lock = redis.lock(LOCK_KEY.format(dealer_id=dealer_id, entity=entity), timeout=seconds,
                                   blocking=False)

    def acquire(self) -> bool:
        return self.lock is None or self.lock.acquire()

    def renew(self) -> None:
        if self.lock is not None:
            self.lock.reacquire()

    def release(self) -> None:
        if self.lock is not None:
            with contextlib.suppress(Exception):  # expired meanwhile: nothing to release
                self.lock.release()


def _cursor_row(session: Session, dealer_id: int, entity: str) -> SyncCursor:
    row = session.scalar(select(SyncCursor).where(SyncCursor.dealer_id == dealer_id, SyncCursor.entity == entity))
    if row is None:
        upsert(session, SyncCursor, [{"dealer_id": dealer_id, "entity": entity, "cursor": None,
                                      "updated_at": utcnow()}], ["dealer_id", "entity"], ["entity"])
        session.commit()
        row = session.scalar(select(SyncCursor).where(SyncCursor.dealer_id == dealer_id,
                                                      SyncCursor.entity == entity))
    return row


def run(session: Session, dealer: Dealer, entity: str, *, connector: Connector | None = None, redis=None,
        trigger: str = "cron", lock_seconds: int = DEFAULT_LOCK_SECONDS, config=None) -> SyncRun:
    """One incremental sync of ``entity`` for ``dealer``. Records the run; re-raises a connector
    error after recording it (``TransportError`` is what the job retries). ``config``: the
    operator's settings (connector boundaries), else the environment."""
    if entity not in SYNC_ORDER:
        raise ValueError(f"unknown entity {entity!r}")
    lock = _Lock(redis, dealer.id, entity, lock_seconds)
    if not lock.acquire():
        raise SyncBusy(f"a sync of {entity} for {dealer.code} is already running")
    own_connector = connector is None
    started = time.monotonic()
    sync_run = None
    prefetch = None
    try:
        # Holding the lock, any other "running" run of this dealer and entity is a dead worker's.
        session.execute(update(SyncRun).where(
            SyncRun.dealer_id == dealer.id, SyncRun.entity == entity, SyncRun.status == "running",
        ).values(status="failed", finished_at=utcnow(), error="interrupted: the worker stopped during this run"))
        cursor_row = _cursor_row(session, dealer.id, entity)
        sync_run = SyncRun(dealer_id=dealer.id, entity=entity, status="running", trigger=trigger,
                           started_at=utcnow(), cursor_before=cursor_row.cursor, cursor_after=cursor_row.cursor,
                           pages=0, inserted=0, updated=0, unchanged=0, quarantined=0, error="")
        session.add(sync_run)
        session.commit()
        run_id = sync_run.id

        # What waited for a reference gets another chance first.
        counts = retry_quarantined(session, dealer.id, entity, run_id=run_id)
        _account(sync_run, counts)
        session.commit()

        if connector is None:
            connector = open_connector(session, dealer, config)
        prefetch = _Prefetch(connector, entity, cursor_row.cursor)
        with _streaming():
            for page, prepared in prefetch:
                _store_page(session, dealer.id, entity, page, prepared, sync_run, cursor_row)
                lock.renew()
        sync_run.status = "succeeded"
        return sync_run
    except Exception as exc:
        session.rollback()
        if sync_run is not None:
            sync_run.status = "failed"
            sync_run.error = _describe(exc)
        log.warning("sync %s/%s failed: %s", dealer.code, entity, _describe(exc),
                    exc_info=not isinstance(exc, ConnectorError))
        raise
    finally:
        if sync_run is not None:
            sync_run.finished_at = utcnow()
            sync_run.duration_ms = int((time.monotonic() - started) * 1000)
            try:
                session.commit()
            except Exception:
                session.rollback()
        if prefetch is not None:
            prefetch.close()
        if own_connector and connector is not None:
            connector.close()
        lock.release()


def _describe(exc: Exception) -> str:
    """The run's error as the admin reads it. A connector's errors are written for that; any other
    exception's text may hold what the admin must not see (a server path, another database's
    words, data): its class only, the rest in the server log."""
    if isinstance(exc, ConnectorError):
        return shown(str(exc)[:2000])
    return f"internal error ({exc.__class__.__name__}); details in the server log"


def _account(sync_run: SyncRun, counts: Counts) -> None:
    sync_run.inserted += counts.inserted
    sync_run.updated += counts.updated
    sync_run.unchanged += counts.unchanged
    sync_run.quarantined += counts.quarantined


_streaming_lock = threading.Lock()
_streaming_runs = 0
_saved: tuple = ()
GC_YOUNG_THRESHOLD = 50_000
SWITCH_INTERVAL = 0.0005


@contextlib.contextmanager
def _streaming():
    """Interpreter settings for a run that streams pages through two threads, restored when the
    last such run of the process ends (a sync job has its process to itself).

    - The GIL switch interval, 5 ms → 0.5 ms: the run's thread waits for the database with the
      GIL released while the prefetch thread validates; when the answer comes, it gets the GIL
      back within 0.5 ms instead of 5, a dozen times per page. Measured: the prefetch thread
      made a run slower than none at 5 ms, 10-15 % faster at 0.5 ms.
    - The garbage collector's young threshold, 700 → 50,000 allocations: a page of 2,000 records
      is some 50,000 container objects that live for one page; at 700 the collector traverses
      and promotes them again and again and runs a full collection every few pages (measured:
      1.0 s of the 2.3 s of Python for 50,000 repair orders). Garbage with cycles (a few objects
      per page) still goes, 50,000 allocations late at most: memory stays bounded."""
    global _streaming_runs, _saved
    with _streaming_lock:
        if _streaming_runs == 0:
            _saved = (gc.get_threshold(), sys.getswitchinterval())
            threshold, interval = _saved
            gc.set_threshold(max(GC_YOUNG_THRESHOLD, threshold[0]), *threshold[1:])
            sys.setswitchinterval(min(SWITCH_INTERVAL, interval))
        _streaming_runs += 1
    try:
        yield
    finally:
        with _streaming_lock:
            _streaming_runs -= 1
            if _streaming_runs == 0:
                gc.set_threshold(*_saved[0])
                sys.setswitchinterval(_saved[1])


class _Prefetch:
    """Reads and validates the next page in a thread while the current one is being stored.

    Reading a page (HTTP and JSON, a file, a DMS query) and validating its records needs no
    database; storing it is mostly waiting for the database, and that wait releases the GIL. The
    two overlap, on two cores. Pages still come out in order, each committed with its cursor
    before the next is stored, and a connector error comes out where it happened, after every
    page before it. At most ``depth`` prepared pages wait, so memory stays bounded."""

    _DONE = object()

    def __init__(self, connector: Connector, entity: str, cursor: str | None, depth: int = PREFETCH_PAGES):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(connector, entity, cursor),
                                        name=f"boxes-sync-prefetch-{entity}", daemon=True)
        self._thread.start()

    def _read(self, connector: Connector, entity: str, cursor: str | None) -> None:
        pages = ()
        try:
            pages = connector.pages(entity, cursor)  # inside: an error here must reach the run, not hang it
            for page in pages:
                if not self._put((page, prepare(entity, page.records))):
                    return  # the run stopped: read no further
            self._put(self._DONE)
        except BaseException as exc:  # handed over: raised in the run's thread, where the page would be
            self._put(exc)
        finally:
            close = getattr(pages, "close", None)  # the connector's cleanup runs in the thread that read
            if close is not None:
                with contextlib.suppress(Exception):
                    close()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self):
        while True:
            item = self._queue.get()
            if item is self._DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
        self._thread.join(timeout)


def _store_page(session: Session, dealer_id: int, entity: str, page: Page, prepared: Prepared,
                sync_run: SyncRun, cursor_row: SyncCursor) -> None:
    if page.cursor is not None and (len(page.cursor) > CURSOR_LENGTH or not storable(page.cursor)):
        # Stored with the page or not at all: a cursor no column can hold is the DMS's error.
        raise ConnectorError(f"the DMS sent a cursor that cannot be stored ({len(page.cursor)} characters, "
                             f"{shown(page.cursor[:40])!r}…)")
    now = utcnow()
    for payload, reason in page.problems:
        _quarantine(session, dealer_id, entity, payload, reason, "file", sync_run.id)
        sync_run.quarantined += 1
    counts = store_prepared(session, dealer_id, prepared, run_id=sync_run.id, now=now)
    _resolve_quarantine(session, dealer_id, entity, counts.stored_ids, sync_run.id, now)
    _account(sync_run, counts)
    sync_run.pages += 1
    sync_run.cursor_after = page.cursor
    cursor_row.cursor = page.cursor
    cursor_row.updated_at = now
    session.commit()  # the records and the cursor after them, together
    session.expunge_all()
    session.add(sync_run)
    session.add(cursor_row)
    if page.after_commit is not None:
        page.after_commit()


# -------------------------------------------------------------------------------- dealer

def sync_dealer(session: Session, dealer: Dealer, *, redis=None, trigger: str = "cron",
                connector: Connector | None = None, lock_seconds: int = DEFAULT_LOCK_SECONDS,
                now: datetime | None = None, config=None) -> list[SyncRun]:
    """Every entity in reference order, then the derived state and the appointment credit. Stops at
    the first transport error (the DMS is down or slow: the others would fail the same way),
    derives what was stored, and re-raises it for the job's retry. Any other error of one entity
    (a configuration error, a bug no validation foresaw) is recorded on its run and the other
    entities still run; the first such error is re-raised at the end."""
    from boxes.board.credit import match_and_credit
    from boxes.dms.derived import derive

    row = connector_row(session, dealer)
    tolerance = row.tolerance_days if row is not None else 0
    own = connector is None
    runs: list[SyncRun] = []
    failure: Exception | None = None
    try:
        if connector is None:
            with contextlib.suppress(ConnectorError):  # else the first run opens it and records why it cannot
                connector = open_connector(session, dealer, config)
        for entity in SYNC_ORDER:
            try:
                runs.append(run(session, dealer, entity, connector=connector, redis=redis, trigger=trigger,
                                lock_seconds=lock_seconds, config=config))
            except SyncBusy:
                continue
            except TransportError as exc:
                failure = exc
                break
            except ConnectorError as exc:
                failure = failure or exc
                if connector is None:
                    break
            except Exception as exc:  # recorded on the entity's run (``run``); the others still run
                failure = failure or exc
    finally:
        if own and connector is not None:
            connector.close()
    derive(session, dealer, tolerance_days=tolerance, now=now)
    match_and_credit(session, dealer, tolerance_days=tolerance)
    if failure is not None:
        raise failure
    return runs


def is_running(session: Session, dealer_id: int) -> bool:
    return session.scalar(select(SyncRun.id).where(SyncRun.dealer_id == dealer_id, SyncRun.status == "running")
                          .limit(1)) is not None


def now_utc() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------------------------- jobs

SYNC_JOB = "jobs.sync.sync_dealer"


def job_id(dealer_id: int) -> str:
    return f"boxes-sync-{dealer_id}"


def enqueue_sync(redis, config, dealer_id: int, *, trigger: str = "cron") -> bool:
    """Queue the dealer's sync on ``sync`` with ``Retry`` (backoff from BOXES_SYNC_RETRY_INTERVALS).
    One job per dealer at a time: a queued or running one is not queued twice. Returns whether it
    queued a job. "Sync now" goes through :func:`sync_now` instead."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus

    try:
        existing = Job.fetch(job_id(dealer_id), connection=redis)
        status = existing.get_status(refresh=True)
        if status in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED):
            return False
        # A started job whose worker stopped beating was killed: a new one takes over (the locks'
        # leases have expired by then, and the sync resumes from the stored cursors).
        beat = existing.last_heartbeat
        if status == JobStatus.STARTED and beat is not None and (
                datetime.now(UTC) - beat.replace(tzinfo=beat.tzinfo or UTC)).total_seconds() < 120:
            return False
    except NoSuchJobError:
        pass
    _enqueue(redis, config, dealer_id, trigger)
    return True


def _enqueue(redis, config, dealer_id: int, trigger: str) -> None:
    from rq import Queue, Retry

    intervals = list(config.sync_retry_intervals)
    Queue("sync", connection=redis).enqueue(
        SYNC_JOB, dealer_id, trigger, job_id=job_id(dealer_id),
        retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
        job_timeout=max(600, config.sync_lock_seconds * 10), result_ttl=3600, failure_ttl=86_400,
    )


def sync_now(redis, config, dealer_id: int) -> str:
    """"Sync now": the dealer's sync runs as soon as a worker is free. Returns what happened:

    - ``"queued"``: a new job;
    - ``"replaced"``: a retry was scheduled for later (the DMS failed a while ago): it is taken off
      the schedule and the sync is queued now instead (an admin who fixed the cause should not
      wait up to the last retry interval);
    - ``"waiting"``: a job is already queued, nothing to add;
    - ``"running"``: a worker is running the dealer's sync right now (the only refusal)."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus
    from rq.registry import ScheduledJobRegistry

    outcome = "queued"
    try:
        existing = Job.fetch(job_id(dealer_id), connection=redis)
        status = existing.get_status(refresh=True)
        if status == JobStatus.QUEUED:
            return "waiting"
        beat = existing.last_heartbeat
        if status == JobStatus.STARTED and beat is not None and (
                datetime.now(UTC) - beat.replace(tzinfo=beat.tzinfo or UTC)).total_seconds() < 120:
            return "running"
        if status in (JobStatus.SCHEDULED, JobStatus.DEFERRED):
            ScheduledJobRegistry(existing.origin, connection=redis).remove(existing)
            existing.delete()  # also off the queue, should the scheduler have moved it there meanwhile
            outcome = "replaced"
    except NoSuchJobError:
        pass
    _enqueue(redis, config, dealer_id, "manual")
    return outcome


def enqueue_all(session: Session, redis, config) -> int:
    """Cron: queue the sync of every dealer with an enabled connector."""
    ids = session.scalars(select(DmsConnector.dealer_id).where(DmsConnector.enabled.is_(True))).all()
    return sum(enqueue_sync(redis, config, dealer_id) for dealer_id in ids)
