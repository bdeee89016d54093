"""Automatic reminders: which appointments get one now.

A dealer's reminder for an appointment on local day D goes out at ``reminder_hour`` o'clock (local
time) of day D − ``reminder_days_before``. A run at instant *now* therefore takes every appointment
still to confirm whose send time has passed — scheduled before the local midnight that ends day
today + days_before (or the day before that, while today's hour has not come yet) — and that is at
least ``MIN_LEAD`` away, and that has no reminder row for its current time yet (a caller's manual
reminder counts). An appointment booked after its send time gets its reminder at the next run.

No customer gets an email at night: outside the dealer's working hours (``Dealer.working_hours``,
its time zone) a run creates nothing, so what fell due meanwhile — a first start's catch-up too —
goes out with the first run after the next opening (still at least ``MIN_LEAD`` before the
appointment). ``sending.deliver`` holds a reminder claimed outside the hours the same way.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from boxes.db import utcnow
from boxes.messaging.outbox import request_message
from boxes.messaging.settings import effective
from boxes.models import Appointment, Dealer, OutboundMessage
from boxes.models.workshop import UNCONFIRMED
from boxes.settings.dealer import is_open
from jobs.mail import enqueue_send

# No reminder for an appointment that starts sooner than this: the caller phones instead.
MIN_LEAD = timedelta(hours=2)
BATCH = 500


def window(dealer: Dealer, days_before: int, hour: int, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the appointment times whose reminder is due at ``now`` (UTC instants)."""
    tz = ZoneInfo(dealer.time_zone)
    local_now = now.astimezone(tz)
    last_day = local_now.date() + timedelta(days=days_before)
    if local_now.time() < time(hour):
        last_day -= timedelta(days=1)
    end = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=tz).astimezone(ZoneInfo("UTC"))
    return now + MIN_LEAD, end


def due_appointments(session: Session, dealer: Dealer, start: datetime, end: datetime, limit: int = BATCH):
    already = exists().where(
        OutboundMessage.dealer_id == dealer.id, OutboundMessage.appointment_id == Appointment.id,
        OutboundMessage.kind == "reminder", OutboundMessage.scheduled_for == Appointment.scheduled_at,
    ).correlate_except(OutboundMessage)
    return list(session.scalars(
        select(Appointment).where(Appointment.dealer_id == dealer.id, Appointment.status.in_(UNCONFIRMED),
                                  Appointment.scheduled_at >= start, Appointment.scheduled_at < end, ~already)
        .order_by(Appointment.scheduled_at, Appointment.id).limit(limit)))


def send_due_reminders(session: Session, dealer: Dealer, *, config, redis, now: datetime | None = None) -> dict:
    """Create (and enqueue) the reminders due now for one dealer. Idempotent: run it as often as you like."""
    now = now or utcnow()
    settings = effective(session, dealer, config)
    counts = {"queued": 0, "skipped": 0}
    if not settings.auto_reminders or not is_open(dealer, now):
        return counts
    start, end = window(dealer, settings.reminder_days_before, settings.reminder_hour, now)
    if end <= start:
        return counts
    while True:
        batch = due_appointments(session, dealer, start, end)
        for appt in batch:
            requested = request_message(session, dealer, appt, kind="reminder", origin="automatic", actor=None)
            if requested.enqueue:
                enqueue_send(redis, config, requested.message)
            counts["skipped" if requested.message.status == "skipped" else "queued"] += 1
        if len(batch) < BATCH:
            return counts


def send_all_due_reminders(session: Session, *, config, redis, now: datetime | None = None) -> dict[str, dict]:
    return {dealer.code: send_due_reminders(session, dealer, config=config, redis=redis, now=now)
            for dealer in session.scalars(select(Dealer).order_by(Dealer.id))}
