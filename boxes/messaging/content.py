"""What a message says: subject, HTML and text bodies in the dealer's locale, the ``.ics`` invite
(stable UID, SEQUENCE raised when the appointment moves) and the MIME message with a stable
Message-ID derived from the idempotency key.

Rendering needs a Flask app context (the templates and translations); jobs build the app once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime as rfc2822_datetime
from email.utils import formataddr
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from flask_babel import force_locale
from icalendar import Calendar, Event
from jinja2_fragments.flask import render_block
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from boxes.db import utcnow
from boxes.models import Appointment, CalendarEvent, Customer, Dealer, OutboundMessage, Vehicle

TEMPLATE = "email/appointment.html"
# How long the calendar entry lasts when the DMS gives no end: a typical service visit.
EVENT_DURATION = timedelta(hours=1)


@dataclass
class Rendered:
    subject: str
    text: str
    html: str
    ics: bytes
    sequence: int
    uid: str


def message_id_for(message: OutboundMessage, sender: str) -> str:
    """The same key always gives the same Message-ID, so a mail client shows a duplicate once."""
    domain = sender.rpartition("@")[2] or "boxes.local"
    stamp = message.scheduled_for.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"<{message.kind}.{message.dealer_id}.{message.appointment_id}.{stamp}@{domain}>"


def event_uid(dealer: Dealer, appointment_id: int) -> str:
    return f"appointment-{appointment_id}@{dealer.code.lower()}.boxes"


def calendar_sequence(session: Session, dealer: Dealer, appt: Appointment) -> CalendarEvent:
    """The appointment's calendar identity; SEQUENCE goes up once each time its time changed since
    the last message, whoever moved it (a DMS sync or a user). Commits."""
    own = (CalendarEvent.dealer_id == dealer.id) & (CalendarEvent.appointment_id == appt.id)
    event = session.scalar(select(CalendarEvent).where(own))
    if event is None:
        try:
            with session.begin_nested():
                event = CalendarEvent(dealer_id=dealer.id, appointment_id=appt.id, uid=event_uid(dealer, appt.id),
                                      sequence=0, scheduled_at=appt.scheduled_at)
                session.add(event)
            session.commit()
            return event
        except IntegrityError:  # another job created it first
            session.rollback()
            event = session.scalar(select(CalendarEvent).where(own))
    if event.scheduled_at != appt.scheduled_at:
        # Conditional: two jobs seeing the same move raise SEQUENCE once.
        session.execute(update(CalendarEvent).where(own, CalendarEvent.scheduled_at != appt.scheduled_at)
                        .values(sequence=CalendarEvent.sequence + 1, scheduled_at=appt.scheduled_at,
                                updated_at=utcnow()))
        session.commit()
        session.refresh(event)
    return event


def _context(dealer: Dealer, appt: Appointment, customer: Customer, vehicle: Vehicle, kind: str, locale: str):
    local = appt.scheduled_at.astimezone(ZoneInfo(dealer.time_zone))
    return dict(
        kind=kind,
        dealer=dealer,
        customer=customer,
        vehicle=vehicle,
        appointment=appt,
        vehicle_text=" ".join(p for p in (vehicle.brand, vehicle.model, vehicle.version) if p),
        date_text=format_date(local.date(), "full", locale=locale),
        time_text=format_time(local.time(), "short", locale=locale),
        local_start=local,
    )


def render(session: Session, message: OutboundMessage, dealer: Dealer, appt: Appointment, customer: Customer,
           vehicle: Vehicle) -> Rendered:
    """Subject, bodies and invite of ``message`` in the dealer's locale (the customer's language)."""
    locale = message.locale or dealer.locale
    event = calendar_sequence(session, dealer, appt)
    ctx = _context(dealer, appt, customer, vehicle, message.kind, locale)
    with force_locale(locale):
        subject = " ".join(render_block(TEMPLATE, "subject", **ctx).split())
        text = render_block(TEMPLATE, "text", **ctx).strip() + "\n"
        html = render_block(TEMPLATE, "html", **ctx)
        summary = " ".join(render_block(TEMPLATE, "ics_summary", **ctx).split())
    ics = build_ics(dealer, event, ctx["local_start"], summary, text)
    return Rendered(subject=subject, text=text, html=html, ics=ics, sequence=event.sequence, uid=event.uid)


def build_ics(dealer: Dealer, event: CalendarEvent, start: datetime, summary: str, description: str) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//Boxes//Service appointments//EN")
    cal.add("version", "2.0")
    # PUBLISH: the calendar keeps one entry per UID and replaces it when SEQUENCE goes up.
    cal.add("method", "PUBLISH")
    ev = Event()
    ev.add("uid", event.uid)
    ev.add("dtstamp", utcnow())
    ev.add("dtstart", start)
    ev.add("dtend", start + EVENT_DURATION)
    ev.add("sequence", event.sequence)
    ev.add("summary", summary)
    ev.add("location", ", ".join(p for p in (dealer.name, dealer.workshop_address) if p))
    ev.add("description", description)
    ev.add("status", "CONFIRMED")
    cal.add_component(ev)
    cal.add_missing_timezones()
    return cal.to_ical()


def build_email(message: OutboundMessage, rendered: Rendered, *, dealer: Dealer, customer: Customer, sender: str,
                message_id: str) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = rendered.subject
    mail["From"] = formataddr((dealer.name, sender))
    mail["To"] = formataddr((customer.name, message.to_address))
    if dealer.email:
        mail["Reply-To"] = formataddr((dealer.name, dealer.email))
    mail["Date"] = rfc2822_datetime(utcnow())
    mail["Message-ID"] = message_id
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(rendered.text)
    mail.add_alternative(rendered.html, subtype="html")
    mail.add_attachment(rendered.ics, maintype="text", subtype="calendar", filename="appointment.ics",
                        params={"method": "PUBLISH", "charset": "utf-8"})
    # After the parts: making the message multipart moves every Content-* header into the first part.
    mail["Content-Language"] = (message.locale or dealer.locale).replace("_", "-")
    return mail


@dataclass
class Preview:
    subject: str
    text: str
    html: str
    stored: bool  # True: exactly what was sent; False: rendered now from today's data


def preview(session: Session, dealer: Dealer, message: OutboundMessage) -> Preview | None:
    """The Outbox preview: what was sent, or (not sent yet) what would be sent. Writes nothing."""
    if message.body_html or message.body_text:
        return Preview(message.subject, message.body_text, message.body_html, stored=True)
    appt = session.get(Appointment, message.appointment_id) if message.appointment_id else None
    if appt is None or appt.customer_id is None:
        return None
    customer = session.get(Customer, appt.customer_id)
    vehicle = session.get(Vehicle, appt.vehicle_id)
    locale = message.locale or dealer.locale
    ctx = _context(dealer, appt, customer, vehicle, message.kind, locale)
    with force_locale(locale):
        subject = " ".join(render_block(TEMPLATE, "subject", **ctx).split())
        text = render_block(TEMPLATE, "text", **ctx).strip() + "\n"
        html = render_block(TEMPLATE, "html", **ctx)
    return Preview(subject, text, html, stored=False)
