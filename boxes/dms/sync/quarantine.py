"""Quarantined records of the DMS feed: resolved when a newer valid version is stored, and fed
through the store path again — at the start of every run of their entity (``reference`` entries:
what they point to may have arrived) and on an admin's "Retry quarantined" (every kind, after the
mapping was fixed). The entries themselves are written by :func:`.store.quarantine_record`."""

from __future__ import annotations

from sqlalchemy import String, any_, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from boxes.db import utcnow
from boxes.dms.sync.postgres import is_postgres
from boxes.dms.sync.store import Counts, store_records
from boxes.models import QuarantinedRecord
from boxes.models.integration import SYNC_ORDER


def resolve_quarantined(session: Session, dealer_id: int, entity: str, dms_ids: set[str], run_id, now) -> None:
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
    postgres = is_postgres(session)
    step = len(ids) if postgres else 5000
    for i in range(0, len(ids), step):
        chunk = ids[i:i + step]
        # One array parameter on PostgreSQL (the index on dealer, entity, resolved_at finds the few
        # open entries; the ids only filter them), an IN list on SQLite.
        wanted = q.dms_id == any_(literal(chunk, ARRAY(String))) if postgres else q.dms_id.in_(chunk)
        session.execute(update(q).where(*open_entries, wanted).values(resolved_at=now))


def retry_quarantined(session: Session, dealer_id: int, entity: str | None = None, *, kinds=("reference",),
                      record_id: int | None = None, run_id: int | None = None, batch: int = 500) -> Counts:
    """Feed open quarantine entries (of ``entity``, or the one ``record_id``) through the store path
    again (no commit). An entry that fails again is replaced by a fresh one with the current reason."""
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
        if record_id is not None:
            q = q.where(QuarantinedRecord.id == record_id)
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
                resolve_quarantined(session, dealer_id, name, counts.stored_ids, run_id, now)
                total.add(counts)
        session.flush()

