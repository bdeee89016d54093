"""Integrations → DMS, the admins' page: the connector's kind and settings (secrets write-only), the
last runs, quarantined records, "Sync now" and "Retry quarantined". Views stay thin; rules here."""

from __future__ import annotations

import json
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from boxes import inputs
from boxes.audit import record
from boxes.db import utcnow
from boxes.dms.records import ENTITIES
from boxes.errors import ActionError, NotFound
from boxes.models import Dealer, DmsConnector, QuarantinedRecord, SyncRun, User
from boxes.models.integration import CONNECTOR_KINDS

# Plain settings per kind (shown and editable) and secrets (write-only).
FIELDS = {
    "simulator": ("base_url", "client_id", "page_size", "timeout_seconds", "token_refresh_margin"),
    "http": ("base_url", "client_id", "page_size", "timeout_seconds", "token_refresh_margin", "updated_since"),
    "files": ("inbox", "archive", "rejected", "delimiter", "encoding", "date_format", "columns", "values"),
    "sql": ("page_size", "db_time_zone", "queries"),
}
SECRETS = {"simulator": ("client_secret",), "http": ("client_secret",), "files": (), "sql": ("url",)}
JSON_FIELDS = ("columns", "values", "queries")
NUMBER_FIELDS = {"page_size": (1, 5000), "timeout_seconds": (1, 300), "token_refresh_margin": (0, 3600)}
MAX_TOLERANCE = 7
MAX_SETTING = 1000  # a URL, a folder, a secret: far longer than any real one
MAX_JSON = 64 * 1024  # a column mapping or a set of queries


@dataclass
class Overview:
    connector: DmsConnector | None
    runs: list[SyncRun]
    quarantine: list[QuarantinedRecord]
    quarantine_open: int
    running: bool


def connector(session: Session, dealer: Dealer) -> DmsConnector | None:
    return session.scalar(select(DmsConnector).where(DmsConnector.dealer_id == dealer.id))


def overview(session: Session, dealer: Dealer, *, runs: int = 15, quarantine: int = 50) -> Overview:
    recent = session.scalars(select(SyncRun).where(SyncRun.dealer_id == dealer.id)
                             .order_by(SyncRun.started_at.desc(), SyncRun.id.desc()).limit(runs)).all()
    open_q = select(QuarantinedRecord).where(QuarantinedRecord.dealer_id == dealer.id,
                                             QuarantinedRecord.resolved_at.is_(None))
    rows = session.scalars(open_q.order_by(QuarantinedRecord.id.desc()).limit(quarantine)).all()
    count = session.scalar(select(func.count()).select_from(open_q.subquery()))
    return Overview(connector(session, dealer), list(recent), list(rows), count or 0,
                    any(r.status == "running" for r in recent))


def get_run(session: Session, dealer: Dealer, run_id: int) -> tuple[SyncRun, list[QuarantinedRecord]]:
    found = session.scalar(select(SyncRun).where(SyncRun.dealer_id == dealer.id, SyncRun.id == run_id))
    if found is None:
        raise NotFound(run_id)
    rows = session.scalars(select(QuarantinedRecord).where(QuarantinedRecord.dealer_id == dealer.id,
                                                           QuarantinedRecord.sync_run_id == run_id)
                           .order_by(QuarantinedRecord.id).limit(200)).all()
    return found, list(rows)


def save(session: Session, dealer: Dealer, actor: User, form: dict, cleared: set[str] | None = None) -> DmsConnector:
    """Validates and stores the connector. Empty secret inputs keep the stored secret; ``cleared``
    names secrets to remove. Commits with an audit row (keys only, never secret values)."""
    # Nothing a database cannot store (a NUL in a path or a secret would also break every sync), and
    # no setting longer than any real one (boxes.inputs).
    errors: dict = inputs.unstorable_fields(form)
    kind = (form.get("kind") or "").strip()
    if kind not in CONNECTOR_KINDS:
        raise ActionError.field("kind", _l("Choose a connector kind."))
    settings: dict = {}
    for name in FIELDS[kind]:
        raw = (form.get(name) or "").strip()
        if not raw or name in errors:
            continue
        if len(raw) > (MAX_JSON if name in JSON_FIELDS else MAX_SETTING):
            errors[name] = inputs.too_long(MAX_JSON if name in JSON_FIELDS else MAX_SETTING)
            continue
        if name in JSON_FIELDS:
            try:
                value = json.loads(raw)
            except ValueError:
                errors[name] = _l("Enter valid JSON.")
                continue
            if not isinstance(value, dict):
                errors[name] = _l("Enter a JSON object.")
                continue
            settings[name] = value
        elif name in NUMBER_FIELDS:
            lo, hi = NUMBER_FIELDS[name]
            try:
                number = float(raw)
            except ValueError:
                errors[name] = _l("Enter a number.")
                continue
            if not lo <= number <= hi:
                errors[name] = _l("Enter a number from %(lo)s to %(hi)s.", lo=lo, hi=hi)
                continue
            settings[name] = int(number) if number.is_integer() else number
        else:
            settings[name] = raw
    if kind in ("http", "simulator") and not str(settings.get("base_url", "")).startswith(("http://", "https://")):
        errors["base_url"] = _l("Enter the feed's address (http:// or https://).")
    if kind == "files" and not settings.get("inbox"):
        errors["inbox"] = _l("Enter the folder the DMS exports to.")
    if kind == "sql":
        queries = settings.get("queries") or {}
        unknown = [k for k in queries if k not in ENTITIES]
        if not queries or unknown:
            errors["queries"] = _l("Give one SELECT per entity (customers, vehicles, deliveries, appointments, "
                                   "repair_orders).")
    tolerance = inputs.whole((form.get("tolerance_days") or "0").strip() or "0", "tolerance_days", errors, lo=0,
                             hi=MAX_TOLERANCE, optional=False, message=_l(
                                 "Enter a whole number of days from 0 to %(max)d.", max=MAX_TOLERANCE))
    row = connector(session, dealer)
    secrets = dict(row.secrets or {}) if row is not None and row.kind == kind else {}
    for name in SECRETS[kind]:
        value = form.get(name) or ""
        if len(value) > MAX_SETTING:
            errors[name] = inputs.too_long(MAX_SETTING)
        elif value and name not in errors:
            secrets[name] = value
        elif cleared and name in cleared:
            secrets.pop(name, None)
    if kind == "sql" and not secrets.get("url"):
        errors["url"] = _l("Enter the database address (SQLAlchemy URL).")
    if errors:
        raise ActionError(errors)
    if row is None:
        row = DmsConnector(dealer_id=dealer.id)
        session.add(row)
    if row.kind != kind or row.settings != settings or row.secrets != secrets:
        row.token, row.token_expires_at = None, None  # new credentials: a new token
    row.kind = kind
    row.settings = settings
    row.secrets = secrets
    row.enabled = bool(form.get("enabled"))
    row.tolerance_days = tolerance
    row.updated_at = utcnow()
    session.flush()
    record(session, dealer_id=dealer.id, user_id=actor.id, action="dms_connector.saved", entity="dms_connector",
           entity_id=row.id, data={"kind": kind, "settings": sorted(settings), "secrets_set": sorted(secrets),
                                   "enabled": row.enabled, "tolerance_days": row.tolerance_days})
    session.commit()
    return row


def request_sync(session: Session, dealer: Dealer, actor: User, redis, config) -> bool:
    from boxes.dms.sync import enqueue_sync

    row = connector(session, dealer)
    if row is None or not row.enabled:
        raise ActionError.field("sync", _l("Configure and enable a connector first."))
    queued = enqueue_sync(redis, config, dealer.id, trigger="manual")
    record(session, dealer_id=dealer.id, user_id=actor.id, action="dms_sync.requested", entity="dealer",
           entity_id=dealer.id, data={"queued": queued})
    session.commit()
    return queued


def retry(session: Session, dealer: Dealer, actor: User, record_id: int | None = None) -> dict:
    """Feed open quarantined records through the store path again (after the mapping was fixed).
    Returns the counts; commits with an audit row."""
    from boxes.dms.sync import _resolve_quarantine, store_records

    q = select(QuarantinedRecord).where(QuarantinedRecord.dealer_id == dealer.id,
                                        QuarantinedRecord.resolved_at.is_(None),
                                        QuarantinedRecord.kind.in_(("invalid", "reference")))
    if record_id is not None:
        entry = session.scalar(select(QuarantinedRecord).where(QuarantinedRecord.dealer_id == dealer.id,
                                                               QuarantinedRecord.id == record_id))
        if entry is None:
            raise NotFound(record_id)
        q = q.where(QuarantinedRecord.id == record_id)
    totals = {"stored": 0, "quarantined": 0}
    last = 0
    # What fails again is quarantined anew (a higher id): only what was open when we started.
    ceiling = session.scalar(select(func.max(QuarantinedRecord.id)).where(
        QuarantinedRecord.dealer_id == dealer.id)) or 0
    while True:
        entries = session.scalars(q.where(QuarantinedRecord.id > last, QuarantinedRecord.id <= ceiling)
                                  .order_by(QuarantinedRecord.id).limit(500)).all()
        if not entries:
            break
        last = entries[-1].id
        now = utcnow()
        by_entity: dict[str, list] = {}
        for entry in entries:
            entry.resolved_at = now
            by_entity.setdefault(entry.entity, []).append(entry.payload)
        session.flush()
        from boxes.models.integration import SYNC_ORDER

        for entity in SYNC_ORDER:
            if entity in by_entity:
                counts = store_records(session, dealer.id, entity, by_entity[entity], now=now)
                _resolve_quarantine(session, dealer.id, entity, counts.stored_ids, None, now)
                totals["stored"] += counts.inserted + counts.updated + counts.unchanged
                totals["quarantined"] += counts.quarantined
    record(session, dealer_id=dealer.id, user_id=actor.id, action="dms_quarantine.retried", entity="dealer",
           entity_id=dealer.id, data={"record_id": record_id, **totals})
    session.commit()
    return totals
