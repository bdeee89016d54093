"""What the mail job does with one row: claim it, check it may still go, respect the dealer's
limits, render it, hand it to SMTP, record the result.

Exactly once:
1. **Claim** — one conditional UPDATE moves the row from ``queued`` (or from ``sending`` whose lease
   ran out) to ``sending`` with this attempt's token and a lease, and commits *before* SMTP is
   contacted. Two jobs for the same row (double click, retry, recovery) race on that UPDATE; one
   wins, the other does nothing.
2. **Send** with a Message-ID derived from the key; then mark ``sent`` — only if the row still
   carries our token.
3. A worker that dies after the claim leaves a ``sending`` row; once its lease expires the recovery
   sweep enqueues it again and the next claim sends it. RQ's job timeout is shorter than the lease,
   so a slow worker is stopped before anyone else may claim its row.
The one case no protocol can close — the SMTP server accepted the message and the worker died
before committing ``sent`` — sends it again after the lease, with the same Message-ID, so mail
clients show one message (docs/messaging.md).
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from boxes.audit import record
from boxes.db import utcnow
from boxes.messaging import content
from boxes.messaging.outbox import recipient_problem
from boxes.messaging.settings import Effective, SmtpServer, effective, server_allowed
from boxes.models import Appointment, Customer, Dealer, OutboundMessage, Vehicle
from boxes.settings.dealer import is_open, next_opening

log = logging.getLogger(__name__)

# SMTP replies that will not get better by retrying the same message.
PERMANENT = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPNotSupportedError)
MAX_ERROR = 1000


class TemporaryFailure(Exception):
    """Raised so RQ retries the job after its backoff interval (``Retry``)."""


class ServerUnreachable(OSError):
    """A dealer's own server did not answer as an SMTP server. One message whatever happened (no answer,
    a closed port, a service that is not SMTP, a failed TLS handshake): the outbox shows errors to the
    dealer, whose admin typed the address, and must not tell a port scan's answers apart. The details go
    to the server log. Once the server has greeted, its replies (535, 550…) are shown as they are."""

    def __init__(self):
        super().__init__("the mail server could not be reached (details in the server log)")


NOT_ALLOWED = "the operator does not allow connections to this mail server (BOXES_CONNECTOR_ALLOWED_HOSTS)"


def claim(session: Session, dealer_id: int, message_id: int, lease_seconds: int) -> str | None:
    """Take the row for this attempt; the token, or None when it is not ours to send. Commits."""
    now = utcnow()
    token = uuid.uuid4().hex
    result = session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == message_id, OutboundMessage.dealer_id == dealer_id,
               or_(OutboundMessage.status == "queued",
                   and_(OutboundMessage.status == "sending", OutboundMessage.lease_until < now)))
        .values(status="sending", claim_token=token, lease_until=now + timedelta(seconds=lease_seconds),
                attempts=OutboundMessage.attempts + 1, updated_at=now)
        .execution_options(synchronize_session=False))
    session.commit()
    return token if result.rowcount == 1 else None


def _finish(session: Session, row_id: int, token: str, **values) -> bool:
    """Change our claimed row; False when the claim is no longer ours (nothing changes). Commits."""
    values.setdefault("updated_at", utcnow())
    result = session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id == row_id, OutboundMessage.claim_token == token,
               OutboundMessage.status == "sending")
        .values(**values).execution_options(synchronize_session=False))
    session.commit()
    return result.rowcount == 1


def _audit(session: Session, msg: OutboundMessage, action: str, **data) -> None:
    record(session, dealer_id=msg.dealer_id, user_id=None, action=action, entity="outbound_message",
           entity_id=msg.id, data={"kind": msg.kind, "attempt": msg.attempts, **data})
    session.commit()


def _rate_allows(redis, dealer: Dealer, settings: Effective) -> float:
    """0 when a message may go now, else the seconds to wait (per-dealer SMTP rate, per minute)."""
    now = utcnow().timestamp()
    minute = int(now // 60)
    key = f"boxes:mail:rate:{dealer.id}:{minute}"
    pipe = redis.pipeline()
    pipe.incr(key)
    pipe.expire(key, 120)
    count = pipe.execute()[0]
    if count <= settings.rate_per_minute:
        return 0
    return (minute + 1) * 60 - now + 0.5


def _cap_allows(redis, dealer: Dealer, settings: Effective) -> bool:
    """Per-dealer daily cap, per local day of the dealer."""
    day = utcnow().astimezone(ZoneInfo(dealer.time_zone)).date().isoformat()
    key = f"boxes:mail:day:{dealer.id}:{day}"
    pipe = redis.pipeline()
    pipe.incr(key)
    pipe.expire(key, 3 * 24 * 3600)
    count = pipe.execute()[0]
    if count <= settings.daily_cap:
        return True
    redis.decr(key)
    return False


def smtp_send(server: SmtpServer, mail, sender: str, recipient: str) -> None:
    """Hand the message to the SMTP server (every network step bounded by the timeout)."""
    # local_hostname: without it smtplib asks DNS for our FQDN, which can hang on an intranet.
    try:
        if server.security == "ssl":
            smtp = smtplib.SMTP_SSL(server.host, server.port, timeout=server.timeout, local_hostname="boxes",
                                    context=ssl.create_default_context())
        else:  # connects and reads the greeting
            smtp = smtplib.SMTP(server.host, server.port, timeout=server.timeout, local_hostname="boxes")
    except (smtplib.SMTPException, OSError) as exc:
        if not server.own:
            raise
        log.warning("dealer's mail server %s:%s did not answer as SMTP: %s", server.host, server.port,
                    _error_text(exc))
        raise ServerUnreachable() from None
    with smtp:
        if server.security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if server.username:
            smtp.login(server.username, server.password)
        smtp.send_message(mail, from_addr=sender, to_addrs=[recipient])


def _error_text(exc: BaseException) -> str:
    text = f"{exc.__class__.__name__}: {exc}"
    return text[:MAX_ERROR]


def deliver(session: Session, dealer_id: int, message_id: int, *, config, redis, retries_left: int | None = None,
            requeue=None) -> str:
    """Send one row if it is ours to send. Returns what happened (for the job's result and logs).

    ``retries_left``: RQ retries still available for this job; at 0 (or None) an SMTP failure is final.
    ``requeue(message, delay)``: how to try again later when the dealer's rate limit is reached.
    """
    token = claim(session, dealer_id, message_id, config.mail_lease_seconds)
    if token is None:
        return "not-claimed"

    def prepare():
        msg = session.scalar(select(OutboundMessage).where(OutboundMessage.id == message_id)
                             .execution_options(populate_existing=True))
        dealer = session.get(Dealer, dealer_id)
        appt = session.get(Appointment, msg.appointment_id) if msg.appointment_id else None
        customer = session.get(Customer, appt.customer_id) if appt is not None and appt.customer_id else None
        vehicle = session.get(Vehicle, appt.vehicle_id) if appt is not None else None

        # Checked again at send time: the customer may have opted out since the click.
        problem = recipient_problem(customer) if appt is not None else "appointment_changed"
        if problem is None and (appt.status == "cancelled" or appt.scheduled_at != msg.scheduled_for):
            problem = "appointment_changed"
        if problem is not None:
            if _finish(session, message_id, token, status="skipped", reason=problem, lease_until=None):
                _audit(session, msg, "message.skip", reason=problem)
            return f"skipped:{problem}"

        if msg.kind == "reminder" and not is_open(dealer, utcnow()):
            # Not at night: give the claim back (not an attempt) and go out at the next opening. A booking
            # confirmation is the answer to the customer's own booking: it goes at once.
            opening = next_opening(dealer, utcnow())
            _finish(session, message_id, token, status="queued", claim_token="", lease_until=None,
                    attempts=OutboundMessage.attempts - 1, next_attempt_at=opening)
            if requeue is not None:
                requeue(msg, (opening - utcnow()).total_seconds())
            return "outside-working-hours"
        settings = effective(session, dealer, config)
        if settings.smtp.own and not server_allowed(config, dealer, settings.smtp.host, settings.smtp.port):
            # Saved before the operator set the allow-list (or edited in the database): not connected, final.
            if _finish(session, message_id, token, status="failed", reason="smtp_error", error=NOT_ALLOWED,
                       lease_until=None):
                _audit(session, msg, "message.fail", reason="smtp_error", error=NOT_ALLOWED)
            return "failed:smtp_error"
        wait = _rate_allows(redis, dealer, settings)
        if wait:
            # Not an attempt: give the claim back and come again after the minute.
            _finish(session, message_id, token, status="queued", claim_token="", lease_until=None,
                    attempts=OutboundMessage.attempts - 1, next_attempt_at=utcnow() + timedelta(seconds=wait))
            if requeue is not None:
                requeue(msg, wait)
            return "rate-limited"
        if not _cap_allows(redis, dealer, settings):
            if _finish(session, message_id, token, status="skipped", reason="daily_cap", lease_until=None):
                _audit(session, msg, "message.skip", reason="daily_cap")
            return "skipped:daily_cap"

        address = customer.email.strip()
        rendered = content.render(session, msg, dealer, appt, customer, vehicle)
        message_id_header = content.message_id_for(msg, settings.sender)
        if not _finish(session, message_id, token, subject=rendered.subject[:300], body_text=rendered.text,
                       body_html=rendered.html, ics_sequence=rendered.sequence, message_id=message_id_header,
                       to_address=address):
            return "lost-claim"
        msg.to_address = address
        mail = content.build_email(msg, rendered, dealer=dealer, customer=customer, sender=settings.sender,
                                   message_id=message_id_header)
        return msg, settings, address, mail

    try:
        prepared = prepare()
    except Exception as exc:
        # Anything unexpected before SMTP (database, Redis, a template): give the claim back so the
        # retry can take the row at once, instead of waiting for the lease to run out.
        # On the last retry the row fails, so a lasting fault cannot loop through the sweep forever.
        session.rollback()
        with contextlib.suppress(Exception):
            _finish(session, message_id, token, status="queued" if retries_left else "failed",
                    reason="internal_error", claim_token="", lease_until=None, error=_error_text(exc),
                    next_attempt_at=utcnow() if retries_left else None)
        raise
    if isinstance(prepared, str):
        return prepared
    msg, settings, address, mail = prepared
    try:
        smtp_send(settings.smtp, mail, settings.sender, address)
    except PERMANENT as exc:
        if _finish(session, message_id, token, status="failed", reason="rejected", error=_error_text(exc),
                   lease_until=None):
            _audit(session, msg, "message.fail", reason="rejected")
        return "failed:rejected"
    except (smtplib.SMTPException, OSError) as exc:
        error = _error_text(exc)
        final = not retries_left
        log.warning("mail %s attempt %s: %s%s", message_id, msg.attempts, error, "" if final else " (will retry)")
        if final:
            if _finish(session, message_id, token, status="failed", reason="smtp_error", error=error,
                       lease_until=None):
                _audit(session, msg, "message.fail", reason="smtp_error", error=error)
            return "failed:smtp_error"
        interval = _next_interval(config, retries_left)
        _finish(session, message_id, token, status="queued", reason="smtp_error", error=error, claim_token="",
                lease_until=None, next_attempt_at=utcnow() + timedelta(seconds=interval))
        raise TemporaryFailure(error) from exc
    if _finish(session, message_id, token, status="sent", sent_at=utcnow(), reason="", error="", lease_until=None,
               next_attempt_at=None):
        _audit(session, msg, "message.sent", to=address, message_id=mail["Message-ID"])
    return "sent"


def _next_interval(config, retries_left: int) -> int:
    intervals = list(config.mail_retry_intervals) or [60]
    index = max(len(intervals) - retries_left, 0)
    return intervals[min(index, len(intervals) - 1)]
