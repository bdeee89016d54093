"""The mail settings that apply to a dealer: its own (``MailSettings``) over the global ``BOXES_*``."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from boxes import inputs
from boxes.audit import record
from boxes.dms.connectors.boundaries import Boundaries, OutOfBounds
from boxes.errors import ActionError
from boxes.messaging.addresses import address_problem
from boxes.models import Dealer, MailSettings, User
from boxes.models.messaging import SMTP_SECURITY


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: str
    username: str
    password: str = field(repr=False)
    timeout: float = 30.0
    own: bool = False  # the dealer's own server: an address a dealer's admin typed


DEFAULT_PORTS = {"ssl": 465, "starttls": 587}


@dataclass(frozen=True)
class Effective:
    smtp: SmtpServer
    sender: str
    auto_reminders: bool
    reminder_days_before: int
    reminder_hour: int
    daily_cap: int
    rate_per_minute: int
    own_smtp: bool


def stored(session: Session, dealer_id: int) -> MailSettings | None:
    return session.scalar(select(MailSettings).where(MailSettings.dealer_id == dealer_id))


def effective(session: Session, dealer: Dealer, config) -> Effective:
    own = stored(session, dealer.id)
    use_own = bool(own and own.use_own_smtp and own.smtp_host)
    if use_own:
        smtp = SmtpServer(own.smtp_host, own.smtp_port or DEFAULT_PORTS.get(own.smtp_security, 25),
                          own.smtp_security, own.smtp_username, own.smtp_password, config.smtp_timeout_seconds,
                          own=True)
    else:
        smtp = SmtpServer(config.smtp_host, config.smtp_port, config.smtp_security, config.smtp_username,
                          config.smtp_password, config.smtp_timeout_seconds)
    return Effective(
        smtp=smtp,
        sender=(own.sender if own and own.sender else "") or config.mail_sender,
        auto_reminders=own.auto_reminders if own else True,
        reminder_days_before=own.reminder_days_before if own else config.reminder_days_before,
        reminder_hour=own.reminder_hour if own else config.reminder_hour,
        daily_cap=own.daily_cap if own and own.daily_cap is not None else config.mail_daily_cap,
        rate_per_minute=own.rate_per_minute if own and own.rate_per_minute is not None else config.mail_rate_per_minute,
        own_smtp=use_own,
    )


def server_allowed(config, dealer: Dealer, host: str, port: int) -> bool:
    """A dealer's own SMTP server is an address its admin types, like the DMS connector's: the operator's
    allow-list (BOXES_CONNECTOR_ALLOWED_HOSTS) bounds both, so that in a multi-dealer installation an admin
    cannot point Boxes at the network behind it. Checked at save time and again before each connection."""
    try:
        Boundaries.of(config, dealer.code).check_host(host, port, "smtp_host")
    except OutOfBounds:
        return False
    return True


@dataclass(frozen=True)
class MailSettingsInput:
    """What Settings → Mail posts, typed (``boxes.messaging.forms.MailSettingsForm``). Numbers: ``None`` when
    left empty (the default applies), anything outside their range is refused here."""

    use_own_smtp: bool = False
    smtp_host: str = ""
    smtp_port: int | None = None
    smtp_security: str = "none"
    smtp_username: str = ""
    smtp_password: str = field(default="", repr=False)  # empty: keep the stored one
    clear_password: bool = False
    sender: str = ""
    auto_reminders: bool = False
    reminder_days_before: int | None = 1
    reminder_hour: int | None = 10
    daily_cap: int | None = None
    rate_per_minute: int | None = None


def _within(value: int | None, low: int, high: int, *, optional: bool = False) -> bool:
    return optional if value is None else low <= value <= high


def update(session: Session, dealer: Dealer, actor: User, data: MailSettingsInput, *, config) -> MailSettings:
    """Save the dealer's mail settings. An empty password keeps the stored one (write-only field);
    ``clear_password`` removes it. ``config``: the operator's settings (the allow-list)."""
    # Texts bounded by their columns; anything no database can store is refused (boxes.inputs).
    errors: dict = inputs.unstorable_fields({k: v for k, v in vars(data).items() if isinstance(v, str)})
    use_own, host, security, port = data.use_own_smtp, data.smtp_host.strip(), data.smtp_security, data.smtp_port
    if security not in SMTP_SECURITY:
        errors["smtp_security"] = _l("Choose none, STARTTLS or SSL.")
    if not _within(port, 1, 65535, optional=True):
        errors["smtp_port"] = _l("Enter a port from 1 to 65535.")
    if use_own and not host:
        errors["smtp_host"] = _l("Enter the SMTP server's name or address.")
    if len(host) > 200 or any(c.isspace() for c in host):
        errors["smtp_host"] = _l("Enter the SMTP server's name or address.")
    username, password, sender = data.smtp_username.strip(), data.smtp_password, data.sender.strip()
    if sender and (len(sender) > 200 or address_problem(sender)):
        errors.setdefault("sender", _l("Enter a valid email address."))
    days, hour, cap, rate = data.reminder_days_before, data.reminder_hour, data.daily_cap, data.rate_per_minute
    if not _within(days, 0, 14):
        errors["reminder_days_before"] = _l("Enter a number of days from 0 to 14.")
    if not _within(hour, 0, 23):
        errors["reminder_hour"] = _l("Enter an hour from 0 to 23.")
    if not _within(cap, 0, 1_000_000, optional=True):
        errors["daily_cap"] = _l("Enter a whole number, or leave it empty for the default.")
    if not _within(rate, 1, 100_000, optional=True):
        errors["rate_per_minute"] = _l("Enter a whole number, or leave it empty for the default.")
    if use_own and host and "smtp_host" not in errors and "smtp_port" not in errors and not server_allowed(
            config, dealer, host, port or DEFAULT_PORTS.get(security, 25)):
        errors["smtp_host"] = _l("The operator does not allow connections to this address.")
    if len(username) > 200:
        errors["smtp_username"] = inputs.too_long(200)
    if len(password) > 500:
        errors["smtp_password"] = inputs.too_long(500)
    if errors:
        raise ActionError(errors)
    row = stored(session, dealer.id)
    if row is None:
        row = MailSettings(dealer_id=dealer.id)
        session.add(row)
    row.use_own_smtp = use_own
    row.smtp_host = host
    row.smtp_port = port
    row.smtp_security = security
    row.smtp_username = username
    password_changed = False
    if data.clear_password:
        password_changed = bool(row.smtp_password)
        row.smtp_password = ""
    elif password:
        password_changed = True
        row.smtp_password = password
    row.sender = sender
    row.auto_reminders = data.auto_reminders
    row.reminder_days_before = days
    row.reminder_hour = hour
    row.daily_cap = cap
    row.rate_per_minute = rate
    session.flush()
    # The password itself never goes to the audit trail: only that it changed.
    record(session, dealer_id=dealer.id, user_id=actor.id, action="mail_settings.update", entity="mail_settings",
           entity_id=row.id, data={"use_own_smtp": use_own, "smtp_host": host, "smtp_port": port,
                                   "smtp_security": security, "smtp_username": username, "sender": sender,
                                   "password_changed": password_changed, "auto_reminders": row.auto_reminders,
                                   "reminder_days_before": days, "reminder_hour": hour, "daily_cap": cap,
                                   "rate_per_minute": rate})
    session.commit()
    return row
