"""Integrations → DMS, the admins' page: the connector's kind and settings (secrets write-only), the
last runs, quarantined records, the cursors, "Sync now", "Retry quarantined" and "Reset cursor".
Views stay thin; rules here.

Settings stay inside the dealer's reach (:mod:`boxes.dms.connectors.boundaries`): its own folder,
the operator's allowed hosts, never Boxes' own database nor another dealer's DMS. Changing the
kind or the source (feed address, export folder, database address, an entity's query) makes the
stored cursors meaningless, so it resets them, once the admin confirms."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from boxes.audit import record
from boxes.db import utcnow
from boxes.dms.connectors import boundaries as B
from boxes.dms.connectors.sql import read_only_sql
from boxes.dms.records import ENTITIES
from boxes.dms.sync.quarantine import retry_quarantined
from boxes.dms.sync.runs import is_running
from boxes.errors import ActionError, NotFound
from boxes.models import Dealer, DmsConnector, QuarantinedRecord, SyncCursor, SyncRun, User
from boxes.models.integration import CONNECTOR_KINDS, SYNC_ORDER
from jobs.sync import sync_now

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
# Why a setting is out of the dealer's reach, as the admin reads it next to the field.
REASONS = {
    B.ABSOLUTE: _l("Enter a folder inside this dealer's connector folder, as a relative path (e.g. exports)."),
    B.OUTSIDE: _l("This path leads outside this dealer's connector folder."),
    B.HOST_NOT_ALLOWED: _l("The operator does not allow connections to this address."),
    B.OWN_DATABASE: _l("This is Boxes' own database: a connector cannot read it."),
    B.OTHER_DEALER: _l("Another dealer's connector reads this source with these credentials."),
    B.UNSUPPORTED: _l("Boxes reads PostgreSQL, MySQL/MariaDB and SQLite databases."),
    B.URL_OPTION: _l("The address may not carry this option."),
    B.BAD_ADDRESS: _l("Enter a complete address (host and database, or the path of a SQLite file)."),
}
ENTITY_LABELS = {"customers": _l("Customers"), "vehicles": _l("Vehicles"), "deliveries": _l("Sales deliveries"),
                 "appointments": _l("Appointments"), "repair_orders": _l("Repair orders")}
# The settings that say where the records come from, per kind: a change resets the cursors.
SOURCES = {"simulator": ("base_url",), "http": ("base_url",), "files": ("inbox",), "sql": ()}


@dataclass
class Overview:
    connector: DmsConnector | None
    runs: list[SyncRun]
    quarantine: list[QuarantinedRecord]
    quarantine_open: int
    running: bool
    cursors: list[SyncCursor]


def connector(session: Session, dealer: Dealer) -> DmsConnector | None:
    return session.scalar(select(DmsConnector).where(DmsConnector.dealer_id == dealer.id))


def overview(session: Session, dealer: Dealer, *, runs: int = 15, quarantine: int = 50) -> Overview:
    recent = session.scalars(select(SyncRun).where(SyncRun.dealer_id == dealer.id)
                             .order_by(SyncRun.started_at.desc(), SyncRun.id.desc()).limit(runs)).all()
    open_q = select(QuarantinedRecord).where(QuarantinedRecord.dealer_id == dealer.id,
                                             QuarantinedRecord.resolved_at.is_(None))
    rows = session.scalars(open_q.order_by(QuarantinedRecord.id.desc()).limit(quarantine)).all()
    count = session.scalar(select(func.count()).select_from(open_q.subquery()))
    cursors = session.scalars(select(SyncCursor).where(SyncCursor.dealer_id == dealer.id)).all()
    cursors = sorted(cursors, key=lambda c: SYNC_ORDER.index(c.entity) if c.entity in SYNC_ORDER else 99)
    return Overview(connector(session, dealer), list(recent), list(rows), count or 0,
                    any(r.status == "running" for r in recent), cursors)


def get_run(session: Session, dealer: Dealer, run_id: int) -> tuple[SyncRun, list[QuarantinedRecord]]:
    found = session.scalar(select(SyncRun).where(SyncRun.dealer_id == dealer.id, SyncRun.id == run_id))
    if found is None:
        raise NotFound(run_id)
    rows = session.scalars(select(QuarantinedRecord).where(QuarantinedRecord.dealer_id == dealer.id,
                                                           QuarantinedRecord.sync_run_id == run_id)
                           .order_by(QuarantinedRecord.id).limit(200)).all()
    return found, list(rows)


@dataclass
class ConnectorInput:
    """The connector form, parsed (``boxes.dms.forms``): the chosen kind's settings (JSON mappings as
    objects, numbers as numbers, empty ones left out), the secrets typed this time, the stored secrets
    to remove, and the admin's confirmation that the cursors may be reset."""

    kind: str
    settings: dict = field(default_factory=dict)
    secrets: dict = field(default_factory=dict)
    cleared: set = field(default_factory=set)
    enabled: bool = True
    tolerance_days: int | None = 0
    reset_cursors: bool = False


def save(session: Session, dealer: Dealer, actor: User, data: ConnectorInput, config=None) -> DmsConnector:
    """Validates and stores the connector. Secrets not typed keep the stored ones; ``data.cleared``
    names secrets to remove. A change of kind or source resets the cursors it invalidates, once
    ``data.reset_cursors`` confirms it, in the same transaction. Commits with an audit row (keys only,
    never secret values). ``config``: the operator's settings (the connector boundaries)."""
    kind = data.kind
    if kind not in CONNECTOR_KINDS:
        raise ActionError.field("kind", _l("Choose a connector kind."))
    errors: dict = {}
    settings = {name: value for name, value in data.settings.items() if name in FIELDS[kind]}
    for name, (lo, hi) in NUMBER_FIELDS.items():
        if name in settings and not lo <= settings[name] <= hi:
            errors[name] = _l("Enter a number from %(lo)s to %(hi)s.", lo=lo, hi=hi)
            del settings[name]
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
    tolerance = 0 if data.tolerance_days is None else data.tolerance_days
    if not 0 <= tolerance <= MAX_TOLERANCE:
        errors["tolerance_days"] = _l("Enter a whole number of days from 0 to %(max)d.", max=MAX_TOLERANCE)
    row = connector(session, dealer)
    secrets = dict(row.secrets or {}) if row is not None and row.kind == kind else {}
    for name in SECRETS[kind]:
        if data.secrets.get(name):
            secrets[name] = data.secrets[name]
        elif name in data.cleared:
            secrets.pop(name, None)
    if kind == "sql" and not secrets.get("url"):
        errors["url"] = _l("Enter the database address (SQLAlchemy URL).")
    if kind == "sql" and "queries" not in errors and any(
            not isinstance(q, str) or not read_only_sql(q) for q in (settings.get("queries") or {}).values()):
        errors["queries"] = _l("Each query must be one SELECT (or WITH … SELECT) that only reads.")
    _check_reach(session, dealer, kind, settings, secrets, errors, config)
    reset = _cursors_to_reset(session, dealer, row, kind, settings, secrets)
    if reset and not errors:
        if is_running(session, dealer.id):
            errors["reset_cursors"] = _l("A sync is running: save this change when it has ended.")
        elif not data.reset_cursors:
            if data.secrets.get("url"):  # a secret: the page never shows it back, so it has to be typed again
                errors["url"] = _l("Enter the new address again, with the box below ticked.")
            errors["reset_cursors"] = _l(
                "This changes where the records come from: the stored cursors no longer apply, so the next sync "
                "reads everything from the DMS again (%(entities)s). Tick “Reset the cursors” and save to confirm.",
                entities=", ".join(str(ENTITY_LABELS[e]) for e in reset))
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
    row.enabled = data.enabled
    row.tolerance_days = tolerance
    row.updated_at = utcnow()
    if reset:
        session.execute(update(SyncCursor).where(SyncCursor.dealer_id == dealer.id, SyncCursor.entity.in_(reset))
                        .values(cursor=None, updated_at=utcnow()))
    session.flush()
    record(session, dealer_id=dealer.id, user_id=actor.id, action="dms_connector.saved", entity="dms_connector",
           entity_id=row.id, data={"kind": kind, "settings": sorted(settings), "secrets_set": sorted(secrets),
                                   "enabled": row.enabled, "tolerance_days": row.tolerance_days,
                                   "cursors_reset": reset})
    session.commit()
    return row


def _check_reach(session: Session, dealer: Dealer, kind: str, settings: dict, secrets: dict, errors: dict,
                 config) -> None:
    """The settings stay inside the dealer's reach: the same checks every sync run makes, here
    with the reason next to the field."""
    from boxes.dms.reach import boundaries

    reach = boundaries(session, dealer, config)
    checks = []
    if kind == "files":
        inbox = settings.get("inbox")
        for name in ("inbox", "archive", "rejected"):
            value = settings.get(name) or (f"{inbox}/{name}" if inbox and name != "inbox" else None)
            if value:
                checks.append((name, lambda v=value, n=name: reach.path(v, n)))
    elif kind in ("http", "simulator") and str(settings.get("base_url", "")).startswith(("http://", "https://")):
        checks.append(("base_url", lambda: reach.check_feed(settings["base_url"], settings.get("client_id"))))
    elif kind == "sql" and secrets.get("url"):
        checks.append(("url", lambda: reach.database(secrets["url"])))
    for name, check in checks:
        if name in errors:
            continue
        try:
            check()
        except B.OutOfBounds as exc:
            errors[name] = REASONS.get(exc.reason, _l("This setting is outside this dealer's reach."))


def _cursors_to_reset(session: Session, dealer: Dealer, row: DmsConnector | None, kind: str, settings: dict,
                      secrets: dict) -> list[str]:
    """The entities whose stored cursor a change of kind or source makes meaningless (only those
    that hold one), in sync order."""
    held = [c.entity for c in session.scalars(select(SyncCursor).where(SyncCursor.dealer_id == dealer.id,
                                                                       SyncCursor.cursor.is_not(None)))]
    if not held:
        return []
    old_settings = dict(row.settings or {}) if row is not None else {}
    old_secrets = dict(row.secrets or {}) if row is not None else {}
    if row is None or row.kind != kind or any(
            _source(old_settings.get(n)) != _source(settings.get(n)) for n in SOURCES[kind]) or (
            kind == "sql" and old_secrets.get("url") != secrets.get("url")):
        changed = set(held)
    elif kind == "sql":
        old, new = old_settings.get("queries") or {}, settings.get("queries") or {}
        changed = {e for e in held if old.get(e) != new.get(e)}
    else:
        changed = set()
    return [e for e in SYNC_ORDER if e in changed]


def _source(value) -> str:
    return str(value or "").strip().rstrip("/")


def reset_cursor(session: Session, dealer: Dealer, actor: User, entity: str) -> None:
    """The next sync of ``entity`` reads everything from the DMS again (idempotent upserts: what is
    stored and unchanged only counts as unchanged). Refused while that entity's sync runs (it
    would write its own cursor back). Commits with an audit row."""
    if entity not in SYNC_ORDER:
        raise NotFound(entity)
    running = session.scalar(select(SyncRun.id).where(SyncRun.dealer_id == dealer.id, SyncRun.entity == entity,
                                                      SyncRun.status == "running").limit(1))
    if running is not None:
        raise ActionError.field("cursor", _l("A sync is running: reset the cursor when it has ended."))
    row = session.scalar(select(SyncCursor).where(SyncCursor.dealer_id == dealer.id, SyncCursor.entity == entity))
    before = row.cursor if row is not None else None
    if row is not None:
        row.cursor, row.updated_at = None, utcnow()
    record(session, dealer_id=dealer.id, user_id=actor.id, action="dms_cursor.reset", entity="sync_cursor",
           entity_id=row.id if row is not None else None, data={"entity": entity, "cursor_before": before})
    session.commit()


def request_sync(session: Session, dealer: Dealer, actor: User, redis, config) -> str:
    """"Sync now": queued now, replacing a retry scheduled for later; refused only while the
    dealer's sync is running. Returns :func:`jobs.sync.sync_now`'s outcome."""
    row = connector(session, dealer)
    if row is None or not row.enabled:
        raise ActionError.field("sync", _l("Configure and enable a connector first."))
    outcome = sync_now(redis, config, dealer.id)
    if outcome == "running":
        raise ActionError.field("sync", _l("A sync is running now: “Sync now” is available again when it ends."))
    record(session, dealer_id=dealer.id, user_id=actor.id, action="dms_sync.requested", entity="dealer",
           entity_id=dealer.id, data={"outcome": outcome})
    session.commit()
    return outcome


def retry(session: Session, dealer: Dealer, actor: User, record_id: int | None = None) -> dict:
    """Feed open quarantined records (invalid ones too: the mapping may have been fixed) through the
    sync's own retry. Returns the counts; commits with an audit row."""
    if record_id is not None and session.scalar(select(QuarantinedRecord.id).where(
            QuarantinedRecord.dealer_id == dealer.id, QuarantinedRecord.id == record_id)) is None:
        raise NotFound(record_id)
    counts = retry_quarantined(session, dealer.id, kinds=("invalid", "reference"), record_id=record_id)
    totals = {"stored": counts.inserted + counts.updated + counts.unchanged, "quarantined": counts.quarantined}
    record(session, dealer_id=dealer.id, user_id=actor.id, action="dms_quarantine.retried", entity="dealer",
           entity_id=dealer.id, data={"record_id": record_id, **totals})
    session.commit()
    return totals
