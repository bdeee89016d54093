"""The DMS sync engine: per dealer and entity, incremental, idempotent, resumable.

``run(session, dealer, entity)`` reads the dealer's connector page by page from the stored cursor.
Each page is validated record by record (a bad one is quarantined with its reason), deduplicated,
upserted in batches (``INSERT … ON CONFLICT DO UPDATE`` guarded by ``dms_updated_at`` so an
older version never overwrites a newer one), and committed *together with* the cursor after the
page. A crash or a DMS outage therefore loses nothing and the next run resumes after the last
stored page; a page read twice only counts as "unchanged". Pages are streamed and nothing is
kept between them, so memory does not grow with the feed.

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
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import String, and_, case, delete, func, insert, literal, literal_column, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from boxes.db import upsert, utcnow
from boxes.dms import records as R
from boxes.dms.connectors.base import ConfigurationError, Connector, ConnectorError, Page, TransportError
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


def open_connector(session: Session, dealer: Dealer) -> Connector:
    from sqlalchemy.orm import sessionmaker

    from boxes.dms.connectors import build

    row = connector_row(session, dealer)
    if row is None or not row.enabled:
        raise ConfigurationError("no DMS connector is configured for this dealer")
    store = _RowTokenStore(sessionmaker(bind=session.get_bind()), row.id, row.token, row.token_expires_at)
    return build(row.kind, dict(row.settings or {}), dict(row.secrets or {}), dealer=dealer, token_store=store)


# --------------------------------------------------------------------------------- store

def _chunks(rows: list, width: int) -> Iterable[list]:
    size = max(1, MAX_PARAMS // max(1, width))
    for i in range(0, len(rows), size):
        yield rows[i:i + size]


def _newer(excluded, table):
    return or_(table.c.dms_updated_at.is_(None), excluded.dms_updated_at > table.c.dms_updated_at)


def _id_map(session: Session, model, dealer_id: int, dms_ids: set[str], *extra) -> dict:
    if not dms_ids:
        return {}
    out = {}
    ids = list(dms_ids)
    t = model.__table__.c  # Core columns: no ORM overhead on this hot path (still filtered by dealer)
    extra = [t[e.key] for e in extra]
    postgres = session.get_bind().dialect.name == "postgresql"
    for i in range(0, len(ids), 5000):
        chunk = ids[i:i + 5000]
        if postgres:
            # A join on unnest(array): psycopg prepares repeated statements, and a generic plan of
            # "= ANY($array)" scans the table; this one stays an index lookup per id.
            wanted = func.unnest(literal(chunk, ARRAY(String))).table_valued("dms_id").render_derived(name="wanted")
            query = select(t.dms_id, t.id, *extra).join_from(model.__table__, wanted, t.dms_id == wanted.c.dms_id) \
                .where(t.dealer_id == dealer_id)
        else:
            query = select(t.dms_id, t.id, *extra).where(t.dealer_id == dealer_id, t.dms_id.in_(chunk))
        for row in session.execute(query):
            out[row[0]] = row[1:] if extra else row[1]
    return out


def _quarantine(session: Session, dealer_id: int, entity: str, raw, reason: str, kind: str, run_id) -> None:
    payload = raw if isinstance(raw, dict) else {"value": repr(raw)[:2000]}
    session.add(QuarantinedRecord(dealer_id=dealer_id, entity=entity, dms_id=R.dms_id_of(raw), payload=payload,
                                  reason=reason[:2000], kind=kind, sync_run_id=run_id))


class _Upserter:
    """The per-entity upsert of validated records (dicts of column values)."""

    def __init__(self, session: Session, dealer_id: int):
        self.session = session
        self.dealer_id = dealer_id
        self.postgres = session.get_bind().dialect.name == "postgresql"

    def __call__(self, model, rows: list[dict], update_cols) -> tuple[dict[str, int], set[str]]:
        """Upserts ``rows``; returns (dms_id → id of rows written, dms_ids that were inserted)."""
        written: dict[str, int] = {}
        inserted: set[str] = set()
        if not rows:
            return written, inserted
        table = model.__table__
        if self.postgres:
            return self._staged(table, rows, update_cols)
        for chunk in _chunks(rows, len(rows[0])):
            existing = set()
            returning = [table.c.dms_id, table.c.id]
            if self.postgres:
                returning.append(literal_column("(xmax = 0)").label("inserted"))
            else:
                existing = set(_id_map(self.session, model, self.dealer_id, {r["dms_id"] for r in chunk}))
            result = upsert(self.session, model, chunk, ["dealer_id", "dms_id"], update_cols, where=_newer,
                            returning=returning)
            for row in result:
                written[row[0]] = row[1]
                if (row[2] if self.postgres else row[0] not in existing):
                    inserted.add(row[0])
        return written, inserted


    def _staged(self, table, rows: list[dict], update_cols) -> tuple[dict[str, int], set[str]]:
        """PostgreSQL: COPY the page into a temporary staging table, then one set-based
        ``INSERT … SELECT … ON CONFLICT DO UPDATE … RETURNING``. Same rules as the VALUES path (the
        statement is built by the same ``upsert`` helper), a fraction of its cost."""
        from sqlalchemy import column as sql_column
        from sqlalchemy import table as sql_table
        from sqlalchemy.dialects import postgresql

        cols = list(rows[0])
        stage = f"boxes_stage_{table.name}"
        conn = self.session.connection()
        raw = conn.connection.driver_connection
        with raw.cursor() as cur:
            cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "
                        f"SELECT {', '.join(cols)} FROM {table.name} WITH NO DATA")
            cur.execute(f"DELETE FROM {stage}")
            with cur.copy(f"COPY {stage} ({', '.join(cols)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([row[c] for c in cols])
        source = sql_table(stage, *[sql_column(c) for c in cols])
        stmt = postgresql.insert(table).from_select(cols, select(*[source.c[c] for c in cols]))
        excluded = stmt.excluded
        if isinstance(update_cols, dict):
            set_ = {name: fn(excluded, table) for name, fn in update_cols.items()}
        else:
            set_ = {name: excluded[name] for name in update_cols}
        stmt = stmt.on_conflict_do_update(index_elements=["dealer_id", "dms_id"], set_=set_,
                                          where=_newer(excluded, table)).returning(
            table.c.dms_id, table.c.id, literal_column("(xmax = 0)"))
        written: dict[str, int] = {}
        inserted: set[str] = set()
        for dms_id, row_id, is_new in self.session.execute(stmt):
            written[dms_id] = row_id
            if is_new:
                inserted.add(dms_id)
        return written, inserted


def _expected(column):
    return column.in_(("requested", "confirmation_pending", "confirmed", "no_show"))


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


def store_records(session: Session, dealer_id: int, entity: str, raws: list, *, run_id: int | None = None,
                  now: datetime | None = None) -> Counts:
    """Validate and upsert one page of feed-v1 objects (no commit). Returns the counts."""
    counts = Counts()
    now = now or utcnow()
    parsed: dict[str, tuple] = {}
    for raw in raws:
        try:
            rec = R.parse(entity, raw)
        except R.RecordError as exc:
            _quarantine(session, dealer_id, entity, raw, str(exc), "invalid", run_id)
            counts.quarantined += 1
            continue
        seen = parsed.get(rec.dms_id)
        if seen is not None:
            counts.unchanged += 1  # the same id twice in one page: the newest version wins
            if seen[0].dms_updated_at >= rec.dms_updated_at:
                continue
        parsed[rec.dms_id] = (rec, raw)
    if not parsed:
        return counts
    items = list(parsed.values())
    rows: list[dict] = []
    kept: list = []
    base = {"dealer_id": dealer_id, "created_at": now}

    def missing(raw, what: str, ref: str) -> None:
        _quarantine(session, dealer_id, entity, raw, f"unknown {what} {ref}: not received from the DMS yet",
                    "reference", run_id)
        counts.quarantined += 1

    if entity == "customers":
        for rec, _raw in items:
            rows.append({**base, "dms_id": rec.dms_id, "name": rec.name, "phone_mobile": rec.phone_mobile,
                         "phone_home": rec.phone_home, "phone_work": rec.phone_work, "email": rec.email,
                         "contact_opt_out": False, "dms_updated_at": rec.dms_updated_at})
            kept.append(rec)
    elif entity == "vehicles":
        customers = _id_map(session, Customer, dealer_id, {r.customer_dms_id for r, _ in items if r.customer_dms_id})
        for rec, raw in items:
            customer_id = customers.get(rec.customer_dms_id) if rec.customer_dms_id else None
            if rec.customer_dms_id and customer_id is None:
                missing(raw, "customer", rec.customer_dms_id)
                continue
            rows.append({**base, "dms_id": rec.dms_id, "customer_id": customer_id, "vin": rec.vin,
                         "plate": rec.plate, "brand": rec.brand, "model": rec.model, "version": rec.version,
                         "model_year": rec.model_year, "mileage": rec.mileage, "sold_on": rec.sold_on,
                         "dms_updated_at": rec.dms_updated_at})
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
            customer_id = customers.get(rec.customer_dms_id) if rec.customer_dms_id else None
            customer_id = customer_id or vehicle_customer
            row = {**base, "dms_id": rec.dms_id, "vehicle_id": vehicle_id, "customer_id": customer_id,
                   "dms_updated_at": rec.dms_updated_at}
            if entity == "deliveries":
                row.update(delivered_at=rec.delivered_at, salesperson=rec.salesperson, welcome_call_at=None)
            elif entity == "repair_orders":
                row.update(number=rec.number, opened_at=rec.opened_at, promised_at=rec.promised_at,
                           delivered_at=rec.delivered_at, status=rec.status, mileage=rec.mileage,
                           advisor=rec.advisor, courtesy_call_at=None, delivered_manually_by_id=None)
            else:
                row.update(scheduled_at=rec.scheduled_at, service_type=rec.service_type, advisor=rec.advisor,
                           status=rec.status, source=rec.source, arrived_at=rec.arrived_at,
                           repair_order_id=ros.get(rec.repair_order_dms_id) if rec.repair_order_dms_id else None,
                           version=1, comment="", confirmed_at=None, confirmed_by_id=None)
            rows.append(row)
            kept.append(rec)
    written, inserted = _Upserter(session, dealer_id)(MODELS[entity], rows, UPDATES[entity])
    counts.inserted += len(inserted)
    counts.updated += len(written) - len(inserted)
    counts.unchanged += len(rows) - len(written)
    counts.stored_ids = {r.dms_id for r in kept}
    if entity == "repair_orders" and written:
        _replace_lines(session, dealer_id, [r for r in kept if r.dms_id in written], written, inserted)
    return counts


def _replace_lines(session: Session, dealer_id: int, recs: list, ids: dict[str, int], inserted: set[str]) -> None:
    changed = [ids[r.dms_id] for r in recs if r.dms_id not in inserted]
    for i in range(0, len(changed), 5000):
        session.execute(delete(RepairOrderLine).where(RepairOrderLine.dealer_id == dealer_id,
                                                      RepairOrderLine.repair_order_id.in_(changed[i:i + 5000])))
    if session.get_bind().dialect.name == "postgresql":
        raw = session.connection().connection.driver_connection
        with raw.cursor() as cur, cur.copy("COPY repair_order_line (dealer_id, repair_order_id, line_no, work_done, "
                                           "result, incidents, declined) FROM STDIN") as copy:
            for r in recs:
                for ln in r.lines:
                    copy.write_row((dealer_id, ids[r.dms_id], ln.line_no, ln.work_done, ln.result, ln.incidents,
                                    ln.declined))
        return
    lines = [{"dealer_id": dealer_id, "repair_order_id": ids[r.dms_id], "line_no": ln.line_no,
              "work_done": ln.work_done, "result": ln.result, "incidents": ln.incidents, "declined": ln.declined}
             for r in recs for ln in r.lines]
    for chunk in _chunks(lines, 7):
        session.execute(insert(RepairOrderLine), chunk)


def _resolve_quarantine(session: Session, dealer_id: int, entity: str, dms_ids: set[str], run_id, now) -> None:
    """A record stored now makes its older quarantined versions obsolete."""
    if not dms_ids:
        return
    ids = list(dms_ids)
    for i in range(0, len(ids), 5000):
        session.execute(update(QuarantinedRecord).where(
            QuarantinedRecord.dealer_id == dealer_id, QuarantinedRecord.entity == entity,
            QuarantinedRecord.resolved_at.is_(None), QuarantinedRecord.dms_id.in_(ids[i:i + 5000]),
            or_(QuarantinedRecord.sync_run_id.is_(None), QuarantinedRecord.sync_run_id != run_id)
            if run_id is not None else QuarantinedRecord.id.is_not(None),
        ).values(resolved_at=now))


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
        trigger: str = "cron", lock_seconds: int = DEFAULT_LOCK_SECONDS) -> SyncRun:
    """One incremental sync of ``entity`` for ``dealer``. Records the run; re-raises a connector
    error after recording it (``TransportError`` is what the job retries)."""
    if entity not in SYNC_ORDER:
        raise ValueError(f"unknown entity {entity!r}")
    lock = _Lock(redis, dealer.id, entity, lock_seconds)
    if not lock.acquire():
        raise SyncBusy(f"a sync of {entity} for {dealer.code} is already running")
    own_connector = connector is None
    started = time.monotonic()
    sync_run = None
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
            connector = open_connector(session, dealer)
        cursor = cursor_row.cursor
        for page in connector.pages(entity, cursor):
            _store_page(session, dealer.id, entity, page, sync_run, cursor_row)
            lock.renew()
        sync_run.status = "succeeded"
        return sync_run
    except Exception as exc:
        session.rollback()
        if sync_run is not None:
            sync_run.status = "failed"
            sync_run.error = _describe(exc)
        log.warning("sync %s/%s failed: %s", dealer.code, entity, _describe(exc))
        raise
    finally:
        if sync_run is not None:
            sync_run.finished_at = utcnow()
            sync_run.duration_ms = int((time.monotonic() - started) * 1000)
            try:
                session.commit()
            except Exception:
                session.rollback()
        if own_connector and connector is not None:
            connector.close()
        lock.release()


def _describe(exc: Exception) -> str:
    if isinstance(exc, ConnectorError):
        return str(exc)[:2000]
    return f"{exc.__class__.__name__}: {str(exc)[:500]}"


def _account(sync_run: SyncRun, counts: Counts) -> None:
    sync_run.inserted += counts.inserted
    sync_run.updated += counts.updated
    sync_run.unchanged += counts.unchanged
    sync_run.quarantined += counts.quarantined


def _store_page(session: Session, dealer_id: int, entity: str, page: Page, sync_run: SyncRun,
                cursor_row: SyncCursor) -> None:
    now = utcnow()
    for payload, reason in page.problems:
        _quarantine(session, dealer_id, entity, payload, reason, "file", sync_run.id)
        sync_run.quarantined += 1
    counts = store_records(session, dealer_id, entity, page.records, run_id=sync_run.id, now=now)
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
                now: datetime | None = None) -> list[SyncRun]:
    """Every entity in reference order, then the derived state and the appointment credit. Stops at
    the first transport error (the DMS is down or slow: the others would fail the same way),
    derives what was stored, and re-raises it for the job's retry."""
    from boxes.board.credit import match_and_credit
    from boxes.dms.derived import derive

    row = connector_row(session, dealer)
    tolerance = row.tolerance_days if row is not None else 0
    own = connector is None
    runs: list[SyncRun] = []
    failure: Exception | None = None
    try:
        if connector is None:
            connector = open_connector(session, dealer)
        for entity in SYNC_ORDER:
            try:
                runs.append(run(session, dealer, entity, connector=connector, redis=redis, trigger=trigger,
                                lock_seconds=lock_seconds))
            except SyncBusy:
                continue
            except TransportError as exc:
                failure = exc
                break
            except ConnectorError as exc:
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
    queued a job."""
    from rq import Queue, Retry
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
    intervals = list(config.sync_retry_intervals)
    Queue("sync", connection=redis).enqueue(
        SYNC_JOB, dealer_id, trigger, job_id=job_id(dealer_id),
        retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
        job_timeout=max(600, config.sync_lock_seconds * 10), result_ttl=3600, failure_ttl=86_400,
    )
    return True


def enqueue_all(session: Session, redis, config) -> int:
    """Cron: queue the sync of every dealer with an enabled connector."""
    ids = session.scalars(select(DmsConnector.dealer_id).where(DmsConnector.enabled.is_(True))).all()
    return sum(enqueue_sync(redis, config, dealer_id) for dealer_id in ids)
