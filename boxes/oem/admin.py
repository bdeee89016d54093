"""Integrations → OEM, the admins' page: the connector to the car maker's CRM (its settings, the client
secret write-only), the token's state, the last import, "Try again" after the OEM refused the
credentials, and where each kind of lead goes (seed 001's "Encaminhamento dos Leads"). Views stay thin;
rules here.

- **Settings** are ``boxes.oem.connection.SETTINGS`` (what ``connection_of`` builds the client from);
  the address stays inside the dealer's reach (:mod:`boxes.oem.reach`: the operator's allow-list, as a
  DMS feed's; no other dealer's code at the same OEM).
- **New credentials** (address, client id or secret) forget the token and a refusal of the old ones;
  a new address or dealer code also restarts the lead read (the watermark): the next import reads the
  OEM's recent leads again, which the idempotent import absorbs.
- **Enabling** needs the credentials and every active discard reason mapped to one of the OEM's
  reasons (``boxes.settings.discard_reasons.without_oem_reason``): a VPE trigger carries it.
- **Refused credentials** (``SessionState.stopped``): the client never asks again with them; the
  admin's "Try again" forgets the refusal on the row (``OemClient.resume``'s semantics).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import LazyString, get_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from boxes import inputs
from boxes.audit import record
from boxes.board.opportunities import assignees
from boxes.db import utcnow
from boxes.dms.admin import MAX_SETTING, REASONS
from boxes.dms.connectors import boundaries as B
from boxes.errors import ActionError, NotFound
from boxes.models import Dealer, DiscardReason, OemConnector, User
from boxes.models.oem import DISTRIBUTED_LEAD_TYPES, DISTRIBUTION_MODES, PARTS_LEAD_TYPES
from boxes.oem import reach as oem_reach
from boxes.oem.client import OemConnection, SessionState
from boxes.oem.connection import SETTINGS, RowTokenStore
from boxes.oem.log import DEFAULT_RETENTION_DAYS
from boxes.settings.discard_reasons import without_oem_reason
from jobs.oem_import import import_now

SECRETS = ("client_secret",)
NUMBER_FIELDS = {"page_size": (1, 2000), "timeout_seconds": (1, 300), "token_refresh_margin": (0, 3600)}
TEXT_FIELDS = tuple(name for name in SETTINGS if name not in NUMBER_FIELDS)
# What the client uses when a number is left empty (the page shows it as the placeholder).
NUMBER_DEFAULTS = {name: OemConnection.__dataclass_fields__[client_name].default for name, client_name in (
    ("page_size", "page_size"), ("timeout_seconds", "timeout"), ("token_refresh_margin", "token_refresh_margin"))}
MAX_DEALER_CODE = 80  # the OEM's Dealer_Code__c
CREDENTIALS = ("base_url", "client_id")  # with the secret: who Boxes is at the OEM
SOURCE = ("base_url", "dealer_code")  # whose leads are read
# The lead settings' numbers: (lowest, highest, default).
LEAD_NUMBERS = {"first_contact_hours": (1, 720, 24), "open_leads_cap": (1, 1000, 25),
                "retention_days": (7, 3650, DEFAULT_RETENTION_DAYS)}
# The lead settings' form names each lead type's fields with these (``service_mode``, ``service_user_id``…;
# the parts user is ``parts_user_id``, as its column).
ROUTE_KEYS = {"Service": "service", "AfterSales": "after_sales", "Parts": "parts"}


def connector(session: Session, dealer: Dealer) -> OemConnector | None:
    return session.scalar(select(OemConnector).where(OemConnector.dealer_id == dealer.id))


def session_state(row: OemConnector | None) -> SessionState:
    """What the client keeps on the row: the token and its validity, or the OEM's refusal."""
    if row is None:
        return SessionState()
    return RowTokenStore(row).load()


@dataclass
class Overview:
    connector: OemConnector | None
    state: SessionState
    token_valid: bool  # a token held and not expired (the client renews it before it expires)
    unmapped: list[DiscardReason]  # active discard reasons an OEM lead cannot be discarded with
    users: list[tuple[int, str]]  # whom a kind of lead may go to directly: the dealer's active users
    routes: dict[str, tuple[str, int | None]]  # lead type → (mode, user id)


def overview(session: Session, dealer: Dealer, now: datetime | None = None) -> Overview:
    row = connector(session, dealer)
    state = session_state(row)
    valid = state.token is not None and state.token.expires_at > (now or utcnow())
    return Overview(row, state, valid, without_oem_reason(session, dealer), assignees(session, dealer),
                    routes(row))


def routes(row: OemConnector | None) -> dict[str, tuple[str, int | None]]:
    """Where each distributed lead type goes: (mode, user id); the queue when nothing is set."""
    stored = dict(row.distribution or {}) if row is not None else {}
    found = {}
    for lead_type in DISTRIBUTED_LEAD_TYPES:
        entry = stored.get(lead_type) if isinstance(stored.get(lead_type), dict) else {}
        mode = entry.get("mode") if entry.get("mode") in DISTRIBUTION_MODES else "queue"
        found[lead_type] = (mode, entry.get("user_id") if mode == "direct" else None)
    return found


# --- the connector ---------------------------------------------------------------------------------

@dataclass
class ConnectorInput:
    """The connector form, parsed (``boxes.oem.forms``): the settings typed (texts stripped, numbers as
    numbers, empty ones left out), the secret typed this time, the stored secrets to remove."""

    settings: dict = field(default_factory=dict)
    secrets: dict = field(default_factory=dict)
    cleared: set = field(default_factory=set)
    enabled: bool = False


REQUIRED = {
    "base_url": _l("Enter the OEM's address (http:// or https://)."),
    "client_id": _l("Enter the client id the OEM gave this dealer."),
    "dealer_code": _l("Enter this dealer's code at the OEM."),
}


def save(session: Session, dealer: Dealer, actor: User, data: ConnectorInput, config=None) -> OemConnector:
    """Validates and stores the connector settings; commits with an audit row (names, never the
    secret). ``config``: the operator's settings (the allow-list)."""
    errors: dict = {}
    settings = {}
    for name in TEXT_FIELDS:
        limit = MAX_DEALER_CODE if name == "dealer_code" else MAX_SETTING
        value = inputs.text(data.settings.get(name), name, errors, max_len=limit, required=REQUIRED.get(name))
        if value:
            settings[name] = value
    if "base_url" in settings and not settings["base_url"].startswith(("http://", "https://")):
        errors["base_url"] = REQUIRED["base_url"]
    for name, (lo, hi) in NUMBER_FIELDS.items():
        value = data.settings.get(name)
        if value is None:
            continue
        if not lo <= value <= hi or (name == "page_size" and value != int(value)):
            errors[name] = _l("Enter a number from %(lo)s to %(hi)s.", lo=lo, hi=hi)
        else:
            settings[name] = value
    row = connector(session, dealer)
    secrets = dict(row.secrets or {}) if row is not None else {}
    for name in SECRETS:
        typed = data.secrets.get(name) or ""
        if len(typed) > MAX_SETTING:
            errors[name] = inputs.too_long(MAX_SETTING)
        elif typed:
            secrets[name] = typed
        elif name in data.cleared:
            secrets.pop(name, None)
    if "base_url" not in errors:
        _check_reach(session, dealer, settings, errors, config)
    if data.enabled:
        if not secrets.get("client_secret") and "client_secret" not in errors:
            errors["client_secret"] = _l("Enter the client secret: the integration cannot run without it.")
        gaps = without_oem_reason(session, dealer)
        if gaps:
            errors["enabled"] = unmapped_message(gaps)
    if errors:
        raise ActionError(errors)
    if row is None:
        row = OemConnector(dealer_id=dealer.id, settings={}, secrets={}, session_state={}, distribution={})
        session.add(row)
    before, before_secrets = dict(row.settings or {}), dict(row.secrets or {})
    new_credentials = (any(before.get(n) != settings.get(n) for n in CREDENTIALS)
                       or before_secrets.get("client_secret") != secrets.get("client_secret"))
    new_source = row.watermark is not None and any(before.get(n) != settings.get(n) for n in SOURCE)
    if new_credentials:
        row.session_state = {}  # no token of the old credentials, no refusal of them either
    if new_source:
        row.watermark = None
    row.settings = settings
    row.secrets = secrets
    row.enabled = data.enabled
    row.updated_at = utcnow()
    session.flush()
    record(session, dealer_id=dealer.id, user_id=actor.id, action="oem_connector.saved", entity="oem_connector",
           entity_id=row.id, data={"settings": sorted(settings), "secrets_set": sorted(secrets),
                                   "enabled": row.enabled, "new_credentials": new_credentials,
                                   "read_restarted": new_source})
    session.commit()
    return row


def _check_reach(session: Session, dealer: Dealer, settings: dict, errors: dict, config) -> None:
    """The address and the dealer code stay inside the dealer's reach, with the reason next to the field."""
    if "base_url" not in settings:
        return
    try:
        oem_reach.check(session, dealer, oem_reach.boundaries(session, dealer, config), settings["base_url"],
                        settings.get("dealer_code", ""))
    except B.OutOfBounds as exc:
        if exc.field == "dealer_code":
            errors["dealer_code"] = _l("Another dealer of this installation reads its leads with this dealer code.")
        else:
            errors["base_url"] = REASONS.get(exc.reason, _l("This setting is outside this dealer's reach."))


def unmapped_message(reasons: list[DiscardReason]) -> LazyString:
    """Why the integration cannot be enabled, naming each reason in the reader's language (rendered
    when shown: the page is drawn after the refused transaction rolled back)."""
    labels = [(r.label_es, r.label_pt_br, r.label_en) for r in reasons]

    def render() -> str:
        locale = str(get_locale() or "es")
        index = {"es": 0, "pt_BR": 1}.get(locale, 2)
        return str(_l("These active discard reasons have no OEM reason: %(reasons)s. Map each one to the OEM's "
                      "list (or deactivate it) in Settings → Discard reasons, then enable the integration.",
                      reasons=", ".join(f"“{label[index]}”" for label in labels)))

    return LazyString(render)


def try_again(session: Session, dealer: Dealer, actor: User) -> bool:
    """"Try again" after the OEM refused the credentials (its admin re-enabled the integration user):
    the refusal is forgotten on the row, the token kept, as ``OemClient.resume`` does without needing
    a client. False when nothing was stopped. Commits with an audit row."""
    row = connector(session, dealer)
    if row is None:
        raise NotFound(dealer.id)
    store = RowTokenStore(row)
    state = store.load()
    if not state.stopped:
        return False
    store.save(SessionState(state.token))
    record(session, dealer_id=dealer.id, user_id=actor.id, action="oem_connector.resumed", entity="oem_connector",
           entity_id=row.id, data={"code": state.stopped_code})
    session.commit()
    return True


def request_import(session: Session, dealer: Dealer, actor: User, redis, config) -> str:
    """"Import now": the dealer's lead import queued now, replacing a retry scheduled for later; refused
    while no connector is enabled or an import runs. Returns :func:`jobs.oem_import.import_now`'s outcome.
    Commits with an audit row."""
    row = connector(session, dealer)
    if row is None or not row.enabled:
        raise ActionError.field("import", _l("Configure and enable the OEM connector first."))
    outcome = import_now(redis, config, dealer.id)
    if outcome == "running":
        raise ActionError.field("import", _l("An import is running now: “Import now” is available again when it "
                                             "ends."))
    record(session, dealer_id=dealer.id, user_id=actor.id, action="oem_import.requested", entity="dealer",
           entity_id=dealer.id, data={"outcome": outcome})
    session.commit()
    return outcome


# --- where the leads go ----------------------------------------------------------------------------

@dataclass
class DistributionInput:
    """The lead settings' form, parsed: per lead type (mode, user id), and the numbers (``None``:
    empty)."""

    routes: dict[str, tuple[str | None, int | None]] = field(default_factory=dict)
    first_contact_hours: int | None = None
    open_leads_cap: int | None = None
    retention_days: int | None = None


def save_distribution(session: Session, dealer: Dealer, actor: User, data: DistributionInput) -> OemConnector:
    """Where each kind of lead goes, the first-contact deadline, the cap of open leads per caller and
    how long the integration log is kept. A user chosen must be an active user of this dealer. Commits
    with an audit row."""
    errors: dict = {}
    active = {user_id for user_id, _name in assignees(session, dealer)}
    distribution = {}
    for lead_type in DISTRIBUTED_LEAD_TYPES:
        mode, user_id = data.routes.get(lead_type, ("queue", None))
        if mode not in DISTRIBUTION_MODES:
            errors[f"{ROUTE_KEYS[lead_type]}_mode"] = _l("Choose where these leads go.")
            continue
        if mode == "direct" and user_id not in active:
            errors[f"{ROUTE_KEYS[lead_type]}_user_id"] = _l("Choose a user of this dealer.")
            continue
        distribution[lead_type] = {"mode": mode, "user_id": user_id if mode == "direct" else None}
    numbers = {}
    for name, (lo, hi, default) in LEAD_NUMBERS.items():
        value = getattr(data, name)
        value = default if value is None else value
        if not lo <= value <= hi:
            errors[name] = _l("Enter a number from %(lo)s to %(hi)s.", lo=lo, hi=hi)
        numbers[name] = value
    if errors:
        raise ActionError(errors)
    row = connector(session, dealer)
    if row is None:
        row = OemConnector(dealer_id=dealer.id, settings={}, secrets={}, session_state={}, distribution={})
        session.add(row)
    row.distribution = distribution
    (parts,) = PARTS_LEAD_TYPES
    row.parts_user_id = distribution[parts]["user_id"]
    for name, value in numbers.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    session.flush()
    record(session, dealer_id=dealer.id, user_id=actor.id, action="oem_distribution.saved", entity="oem_connector",
           entity_id=row.id, data={"distribution": distribution, **numbers})
    session.commit()
    return row
