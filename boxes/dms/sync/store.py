"""Validate a page of DMS feed records and store it (no commit): the caller commits it with its
cursor (:mod:`.runs`) or an admin's retry commits it (:mod:`.quarantine`).

A record invalid in itself, or naming a customer or vehicle not received yet, is quarantined with
its reason (:func:`quarantine_record`); the rest is deduplicated and upserted under the version
guard of :mod:`.tables`. SQLite takes the plain ``INSERT … VALUES … ON CONFLICT`` path here;
PostgreSQL the COPY fast path of :mod:`.postgres`, with the same rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from boxes.db import upsert, utcnow
from boxes.dms import records as R
from boxes.dms.sync import postgres
from boxes.dms.sync.postgres import is_postgres
from boxes.dms.sync.tables import COLUMNS, LINE_COLUMNS, MODELS, UPDATES, chunks, guard
from boxes.inputs import shown
from boxes.models import Customer, QuarantinedRecord, RepairOrder, RepairOrderLine, Vehicle


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



def id_map(session: Session, model, dealer_id: int, dms_ids: set[str], *extra) -> dict:
    """dms_id → id (or → (id, *extra)) of the dealer's stored rows among ``dms_ids``."""
    if not dms_ids:
        return {}
    if is_postgres(session):
        return postgres.lookup_ids(session, model, dealer_id, dms_ids, *extra)
    out = {}
    ids = list(dms_ids)
    t = model.__table__.c  # Core columns: no ORM overhead on this hot path (still filtered by dealer)
    extra = [t[e.key] for e in extra]
    for i in range(0, len(ids), 5000):
        query = select(t.dms_id, t.id, *extra).where(t.dealer_id == dealer_id, t.dms_id.in_(ids[i:i + 5000]))
        for row in session.execute(query):
            out[row[0]] = row[1:] if extra else row[1]
    return out


def quarantine_record(session: Session, dealer_id: int, entity: str, raw, reason: str, kind: str, run_id) -> None:
    payload = raw if isinstance(raw, dict) else {"value": repr(raw)[:2000]}
    # The payload is JSON (a NUL is escaped there); the id and the reason are text columns, so what
    # made the record bad must not make its quarantine entry fail too.
    session.add(QuarantinedRecord(dealer_id=dealer_id, entity=entity, dms_id=R.dms_id_of(raw), payload=payload,
                                  reason=shown(reason[:2000]), kind=kind, sync_run_id=run_id))



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
        quarantine_record(session, dealer_id, entity, raw, reason, "invalid", run_id)
    items = prepared.items
    if not items:
        return counts
    rows: list[tuple] = []  # dealer_id, created_at, then COLUMNS[entity]
    kept: list = []

    def missing(raw, what: str, ref: str) -> None:
        quarantine_record(session, dealer_id, entity, raw, f"unknown {what} {ref}: not received from the DMS yet",
                    "reference", run_id)
        counts.quarantined += 1

    if entity == "customers":
        for rec, _raw in items:
            rows.append((dealer_id, now, rec.dms_id, rec.name, rec.phone_mobile, rec.phone_home, rec.phone_work,
                         rec.email, False, rec.dms_updated_at))
            kept.append(rec)
    elif entity == "vehicles":
        customers = id_map(session, Customer, dealer_id, {r.customer_dms_id for r, _ in items if r.customer_dms_id})
        for rec, raw in items:
            customer_id = customers.get(rec.customer_dms_id) if rec.customer_dms_id else None
            if rec.customer_dms_id and customer_id is None:
                missing(raw, "customer", rec.customer_dms_id)
                continue
            rows.append((dealer_id, now, rec.dms_id, customer_id, rec.vin, rec.plate, rec.brand, rec.model, rec.version,
                         rec.model_year, rec.mileage, rec.sold_on, rec.dms_updated_at))
            kept.append(rec)
    else:
        vehicles = id_map(session, Vehicle, dealer_id, {r.vehicle_dms_id for r, _ in items}, Vehicle.customer_id)
        customers = id_map(session, Customer, dealer_id, {r.customer_dms_id for r, _ in items if r.customer_dms_id})
        ros = {}
        if entity == "appointments":
            ros = id_map(session, RepairOrder, dealer_id,
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
    if is_postgres(session):
        written, inserted = postgres.write_rows(session, dealer_id, entity, rows)
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
    for chunk in chunks(rows, len(names)):
        existing = set(id_map(session, model, dealer_id, {r[2] for r in chunk}))
        values = [dict(zip(names, row, strict=True)) for row in chunk]
        result = upsert(session, model, values, ["dealer_id", "dms_id"], UPDATES[entity], where=guard(entity),
                        returning=[model.__table__.c.dms_id, model.__table__.c.id])
        for dms_id, row_id in result:
            written[dms_id] = row_id
            if dms_id not in existing:
                inserted.add(dms_id)
    return written, inserted



def _replace_lines(session: Session, dealer_id: int, recs: list, ids: dict[str, int], inserted: set[str]) -> None:
    """The lines of the repair orders just written are the DMS's: those of an updated RO are
    replaced, an inserted RO gets its own (an RO kept as it was keeps its lines)."""
    changed = [ids[r.dms_id] for r in recs if r.dms_id in ids and r.dms_id not in inserted]
    lines = [(dealer_id, ids[r.dms_id], ln.line_no, ln.work_done, ln.result, ln.incidents, ln.declined)
             for r in recs if r.dms_id in ids for ln in r.lines]
    if is_postgres(session):
        postgres.replace_lines(session, dealer_id, changed, lines)
        return
    for i in range(0, len(changed), 5000):
        session.execute(delete(RepairOrderLine).where(RepairOrderLine.dealer_id == dealer_id,
                                                      RepairOrderLine.repair_order_id.in_(changed[i:i + 5000])))
    for chunk in chunks(lines, len(LINE_COLUMNS)):
        session.execute(insert(RepairOrderLine), [dict(zip(LINE_COLUMNS, line, strict=True)) for line in chunk])

