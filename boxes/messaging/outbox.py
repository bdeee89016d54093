"""The service functions of messaging: request a message (the idempotent row, then its job), read
the Outbox, and sweep up rows whose job was lost or whose worker died.

The row is the truth; the RQ job is only a nudge. A request inserts the row with the unique key
(dealer, appointment, kind, scheduled time) — ON CONFLICT DO NOTHING — so a double click, two
callers or the cron and a caller at once make one row, and the job that sends it first claims it
(see ``sending``). Only rows that never went out (failed, skipped) can be queued again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from boxes.audit import record
from boxes.db import utcnow
from boxes.errors import ActionError
from boxes.messaging.addresses import address_problem
from boxes.models import Appointment, Customer, Dealer, OutboundMessage, User, Vehicle
from boxes.models.messaging import MESSAGE_STATUSES
from boxes.models.workshop import UNCONFIRMED
from boxes.owned import get_owned
from boxes.paging import Page, list_query, paginate
from jobs.mail import enqueue_send

# A queued row still waiting this long after it was due lost its job: the sweep enqueues it again.
LOST_JOB_GRACE = timedelta(minutes=2)
REQUEUABLE = ("failed", "skipped")


def recipient_problem(customer: Customer | None) -> str | None:
    """Why this customer must not get an email, or None."""
    if customer is None:
        return "no_customer"
    if customer.contact_opt_out:
        return "opt_out"
    return address_problem(customer.email)


def _insert_ignore(session: Session, values: dict) -> bool:
    """Insert the row unless its key exists. True when this call inserted it."""
    dialect = session.get_bind().dialect.name
    table = OutboundMessage.__table__
    ins = (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)).values(**values)
    ins = ins.on_conflict_do_nothing(index_elements=["dealer_id", "appointment_id", "kind", "scheduled_for"])
    # RETURNING, not rowcount: psycopg reports no row count for INSERT ... ON CONFLICT here.
    return session.execute(ins.returning(table.c.id)).first() is not None


def _key(dealer_id: int, appointment_id: int, kind: str, scheduled_for: datetime):
    return and_(OutboundMessage.dealer_id == dealer_id, OutboundMessage.appointment_id == appointment_id,
                OutboundMessage.kind == kind, OutboundMessage.scheduled_for == scheduled_for)


@dataclass
class Requested:
    message: OutboundMessage
    enqueue: bool  # True when a job must be started for it (after the commit)


def request_message(session: Session, dealer: Dealer, appt: Appointment, *, kind: str, origin: str,
                    actor: User | None) -> Requested:
    """The message of this kind for the appointment's current time: created (queued, or skipped with
    the reason), re-queued when it failed or was skipped before, or left alone when it is queued,
    being sent or sent. Commits; the caller enqueues the job when ``enqueue``."""
    customer = session.get(Customer, appt.customer_id) if appt.customer_id else None
    problem = recipient_problem(customer)
    now = utcnow()
    status = "skipped" if problem else "queued"
    values = dict(dealer_id=dealer.id, appointment_id=appt.id, kind=kind, scheduled_for=appt.scheduled_at,
                  to_address=(customer.email or "").strip() if customer else "", status=status,
                  reason=problem or "", origin=origin, locale=dealer.locale, attempts=0, error="", subject="",
                  message_id="", body_text="", body_html="", claim_token="", created_at=now, updated_at=now,
                  next_attempt_at=None if problem else now, created_by_id=actor.id if actor else None)
    inserted = _insert_ignore(session, values)
    key = _key(dealer.id, appt.id, kind, appt.scheduled_at)
    requeued = False
    if not inserted:
        # Only a message that never went out may be tried again; the condition makes it atomic.
        result = session.execute(
            update(OutboundMessage).where(key, OutboundMessage.status.in_(REQUEUABLE)).values(
                status=status, reason=problem or "", error="", to_address=values["to_address"],
                next_attempt_at=values["next_attempt_at"], updated_at=now, origin=origin,
                created_by_id=values["created_by_id"]))
        requeued = result.rowcount == 1
    message = session.scalar(select(OutboundMessage).where(key).execution_options(populate_existing=True))
    if inserted or requeued:
        record(session, dealer_id=dealer.id, user_id=actor.id if actor else None,
               action=f"message.{'skip' if problem else 'queue'}", entity="outbound_message", entity_id=message.id,
               data={"kind": kind, "origin": origin, "appointment_id": appt.id, "reason": problem or "",
                     "requeued": requeued})
    session.commit()
    return Requested(message=message, enqueue=(inserted or requeued) and not problem)


def request_reminder(session: Session, dealer: Dealer, actor: User, appointment_id) -> Requested:
    """A caller's "send reminder" on a row of "to confirm"."""
    appt = get_owned(session, Appointment, dealer.id, appointment_id)
    if appt.status not in UNCONFIRMED or appt.scheduled_at <= utcnow():
        raise ActionError.field("status", _l("Reminders are for future appointments still to confirm."))
    return request_message(session, dealer, appt, kind="reminder", origin="manual", actor=actor)


def request_booking_confirmation(session: Session, dealer: Dealer, appointment_id, *, actor: User | None = None,
                                 redis=None, config=None) -> Requested:
    """The confirmation email of an appointment booked online (called by online booking)."""
    appt = get_owned(session, Appointment, dealer.id, appointment_id)
    requested = request_message(session, dealer, appt, kind="booking_confirmation", origin="booking", actor=actor)
    if requested.enqueue and redis is not None and config is not None:
        enqueue_send(redis, config, requested.message)
    return requested


def recover(session: Session, redis, config, now: datetime | None = None) -> int:
    """The sweep (cron, every minute): a claim whose lease ran out (its worker died) and a queued row
    whose job was lost get a new job. The claim keeps it exactly once. Returns how many."""
    now = now or utcnow()
    rows = session.execute(
        select(OutboundMessage.id, OutboundMessage.dealer_id, OutboundMessage.attempts, OutboundMessage.kind)
        .where(or_(and_(OutboundMessage.status == "sending", OutboundMessage.lease_until < now),
                   and_(OutboundMessage.status == "queued", OutboundMessage.next_attempt_at < now - LOST_JOB_GRACE)))
        .order_by(OutboundMessage.id).limit(1000)).all()
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    enqueued = 0
    for row in rows:
        suffix = f"recover-{row.attempts}"
        # One recovery job per row and attempt, however often the sweep runs meanwhile.
        try:
            if Job.fetch(f"mail-{row.id}-{suffix}", connection=redis).get_status() in (
                    "queued", "scheduled", "started", "deferred"):
                continue
        except NoSuchJobError:
            pass
        enqueue_send(redis, config, OutboundMessage(id=row.id, dealer_id=row.dealer_id, kind=row.kind), suffix=suffix)
        enqueued += 1
    return enqueued


# --- reading ----------------------------------------------------------------------------------

def reminder_columns(dealer_id: int):
    """The latest reminder of each row's appointment (for its current time), as correlated scalar
    sub-selects of the board's one statement: status, when sent, why not."""
    def latest(column):
        return (select(column)
                .where(OutboundMessage.dealer_id == dealer_id, OutboundMessage.appointment_id == Appointment.id,
                       OutboundMessage.kind == "reminder", OutboundMessage.scheduled_for == Appointment.scheduled_at)
                .limit(1).correlate_except(OutboundMessage).scalar_subquery())

    return (latest(OutboundMessage.status).label("reminder_status"),
            latest(OutboundMessage.sent_at).label("reminder_sent_at"),
            latest(OutboundMessage.reason).label("reminder_reason"))


@dataclass
class ReminderState:
    appointment: Appointment
    status: str | None
    sent_at: datetime | None
    reason: str
    can_send: bool
    problem: str | None = None  # why the customer cannot get an email now (recipient_problem)


def reminder_problem(customer: Customer | None) -> str | None:
    """For the reminder cell: while this holds, sending (or trying again) can only be skipped again,
    so the cell says why instead of offering the button. Once the DMS fixes the customer's email,
    a skipped reminder can be tried again."""
    return recipient_problem(customer)


def reminder_state(session: Session, dealer: Dealer, appointment_id) -> ReminderState:
    appt = get_owned(session, Appointment, dealer.id, appointment_id)
    message = session.scalar(select(OutboundMessage).where(_key(dealer.id, appt.id, "reminder", appt.scheduled_at))
                             .execution_options(populate_existing=True))
    customer = session.get(Customer, appt.customer_id, populate_existing=True) if appt.customer_id else None
    return ReminderState(appointment=appt, status=message.status if message else None,
                         sent_at=message.sent_at if message else None, reason=message.reason if message else "",
                         can_send=appt.status in UNCONFIRMED and appt.scheduled_at > utcnow(),
                         problem=reminder_problem(customer))


def outbox(session: Session, dealer: Dealer, *, status: str = "", page: int = 1, per_page: int = 50) -> Page:
    cond = OutboundMessage.dealer_id == dealer.id
    if status in MESSAGE_STATUSES:
        cond = and_(cond, OutboundMessage.status == status)
    rows = (select(OutboundMessage, Customer.name.label("customer_name"), Vehicle.plate.label("plate"))
            .outerjoin(Appointment, Appointment.id == OutboundMessage.appointment_id)
            .outerjoin(Customer, Customer.id == Appointment.customer_id)
            .outerjoin(Vehicle, Vehicle.id == Appointment.vehicle_id))
    query = list_query(select(OutboundMessage.id).where(cond), rows,
                       (OutboundMessage.created_at.desc(), OutboundMessage.id.desc()))
    return paginate(session, query, page, per_page)


def status_counts(session: Session, dealer: Dealer) -> dict[str, int]:
    rows = session.execute(select(OutboundMessage.status, func.count()).where(OutboundMessage.dealer_id == dealer.id)
                           .group_by(OutboundMessage.status)).all()
    return {status: 0 for status in MESSAGE_STATUSES} | dict(rows)


def message(session: Session, dealer: Dealer, message_id) -> OutboundMessage:
    """The dealer's message with that id, or NotFound (another dealer's id is simply not found)."""
    return get_owned(session, OutboundMessage, dealer.id, message_id)
