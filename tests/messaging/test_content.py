"""What the customer receives, read back from a real SMTP server: headers, both bodies in each
locale, and the .ics invite parsed with icalendar (UID, DTSTART in the dealer's zone, SEQUENCE)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from sqlalchemy import select

from boxes.db import utcnow
from boxes.messaging import outbox
from boxes.models import Appointment, CalendarEvent, OutboundMessage, Vehicle
from tests import factories
from tests.messaging_fixtures import *  # noqa: F403
from tests.messaging_fixtures import send_now


def _future(days=3, hour=14, minute=30, tz="America/Argentina/Buenos_Aires"):
    local = (utcnow().astimezone(ZoneInfo(tz)) + timedelta(days=days)).replace(hour=hour, minute=minute, second=0,
                                                                              microsecond=0)
    return local.astimezone(UTC)


def _appointment(db, dealer, when, **kw):
    appt = factories.appointment(db, dealer, when, status="requested", **kw)
    vehicle = db.get(Vehicle, appt.vehicle_id)
    vehicle.brand, vehicle.model, vehicle.version, vehicle.plate = "Toyota", "Corolla", "XEi 2.0 CVT", "AE123CD"
    db.commit()
    return appt


def _request(db, dealer, appt, kind="reminder"):
    requested = outbox.request_message(db, dealer, appt, kind=kind, origin="manual", actor=None)
    assert requested.enqueue
    return requested.message


def _parts(mail):
    text = mail.get_body(preferencelist=("plain",)).get_content()
    html = mail.get_body(preferencelist=("html",)).get_content()
    ics = [part for part in mail.iter_attachments() if part.get_content_type() == "text/calendar"]
    assert len(ics) == 1
    assert ics[0].get_content_charset() == "utf-8"
    return text, html, Calendar.from_ical(ics[0].get_payload(decode=True))


EXPECTED = {
    # locale: (subject start, greeting, date words, what to bring, reschedule)
    "es": ("Recordatorio: tu turno de servicio", "Hola", "lunes|martes|miércoles|jueves|viernes|sábado|domingo",
           "Qué traer", "¿Necesitás cambiar el horario?"),
    "pt_BR": ("Lembrete: seu agendamento de serviço", "Olá",
              "segunda-feira|terça-feira|quarta-feira|quinta-feira|sexta-feira|sábado|domingo",
              "O que trazer", "Precisa mudar o horário?"),
    "en": ("Reminder: your service appointment", "Hello", "Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday",
           "What to bring", "Need to change the time?"),
}


@pytest.mark.parametrize("locale", ["es", "pt_BR", "en"])
def test_reminder_headers_bodies_and_invite_per_locale(app, db, dealers, smtp, locale):
    import re

    ar, br = dealers
    dealer = br if locale == "pt_BR" else ar
    dealer.locale = locale
    db.commit()
    when = _future(tz=dealer.time_zone)
    appt = _appointment(db, dealer, when, name="Lucía <Pérez> & Cía")
    msg = _request(db, dealer, appt)

    assert send_now(app, msg) == "sent"
    [mail] = smtp.wait_for(1)
    customer_email = db.scalar(select(OutboundMessage.to_address).where(OutboundMessage.id == msg.id))
    subject_start, hello, weekdays, bring, reschedule = EXPECTED[locale]

    # Headers
    assert mail["Subject"].startswith(subject_start)
    assert dealer.name in mail["Subject"]
    assert mail["To"].addresses[0].addr_spec == customer_email
    assert mail["X-Envelope-To"] == customer_email
    assert mail["From"].addresses[0].addr_spec == "taller@boxes.example"
    assert mail["Reply-To"].addresses[0].addr_spec == dealer.email
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    assert mail["Message-ID"] == f"<reminder.{dealer.id}.{appt.id}.{stamp}@boxes.example>"
    assert mail["Content-Language"] == locale.replace("_", "-")
    assert mail["Date"]

    text, html, cal = _parts(mail)
    local = when.astimezone(ZoneInfo(dealer.time_zone))
    for body in (text, html):
        assert hello in body
        assert re.search(weekdays, body), body
        assert str(local.day) in body
        assert local.strftime("%H:%M").lstrip("0") in body or local.strftime("%I:%M").lstrip("0") in body
        assert "Corolla" in body and "XEi 2.0 CVT" in body and "AE123CD" in body
        assert dealer.workshop_address in body and dealer.phone in body and dealer.name in body
        assert bring in body and reschedule.replace("?", "") in body.replace("&#39;", "'")
    # The customer's name is escaped in HTML, verbatim in text.
    assert "Lucía &lt;Pérez&gt; &amp; Cía" in html and "Lucía <Pérez> & Cía" in text

    # The invite
    [event] = cal.walk("VEVENT")
    assert str(event["UID"]) == f"appointment-{appt.id}@{dealer.code.lower()}.boxes"
    assert int(event["SEQUENCE"]) == 0
    start = event.decoded("DTSTART")
    assert start == when
    assert str(start.tzinfo) == dealer.time_zone
    assert event["DTSTART"].params["TZID"] == dealer.time_zone
    assert cal.walk("VTIMEZONE") and str(cal.walk("VTIMEZONE")[0]["TZID"]) == dealer.time_zone
    assert dealer.workshop_address in str(event["LOCATION"]) and dealer.name in str(event["LOCATION"])
    assert str(cal["METHOD"]) == "PUBLISH"

    stored = db.get(OutboundMessage, msg.id)
    db.refresh(stored)
    assert stored.status == "sent" and stored.attempts == 1 and stored.sent_at is not None
    assert stored.body_html and stored.body_text and stored.subject == mail["Subject"]


def test_moving_the_appointment_raises_sequence_and_keeps_uid(app, db, dealers, smtp):
    ar, _ = dealers
    appt = _appointment(db, ar, _future(days=4))
    send_now(app, _request(db, ar, appt))
    first = _parts(smtp.wait_for(1)[0])[2].walk("VEVENT")[0]

    # The appointment moves (the DMS or a user): the reminder for the new time is a new key.
    moved = _future(days=5, hour=9, minute=0)
    db.get(Appointment, appt.id).scheduled_at = moved
    db.commit()
    send_now(app, _request(db, ar, db.get(Appointment, appt.id)))
    second = _parts(smtp.wait_for(2)[1])[2].walk("VEVENT")[0]

    assert str(second["UID"]) == str(first["UID"])
    assert int(first["SEQUENCE"]) == 0 and int(second["SEQUENCE"]) == 1
    assert second.decoded("DTSTART") == moved
    assert db.scalar(select(CalendarEvent.sequence).where(CalendarEvent.appointment_id == appt.id)) == 1


def test_booking_confirmation_template(app, db, dealers, smtp):
    _, br = dealers
    appt = _appointment(db, br, _future(days=2, tz=br.time_zone))
    requested = outbox.request_booking_confirmation(db, br, appt.id)
    assert requested.enqueue and requested.message.origin == "booking"
    assert send_now(app, requested.message) == "sent"
    [mail] = smtp.wait_for(1)
    assert mail["Subject"].startswith("Seu agendamento de serviço está marcado")
    text, html, cal = _parts(mail)
    assert "Seu agendamento de serviço está marcado" in text and "Seu agendamento de serviço está marcado" in html
    assert mail["Message-ID"].startswith(f"<booking_confirmation.{br.id}.{appt.id}.")
    assert cal.walk("VEVENT")[0].decoded("DTSTART").tzinfo is not None
    # A second request for the same booking changes nothing.
    again = outbox.request_booking_confirmation(db, br, appt.id)
    assert not again.enqueue and again.message.id == requested.message.id


def test_times_in_dealer_zone_not_utc(app, db, dealers, smtp):
    """23:30 in Buenos Aires is 02:30 UTC the next day: the email says the local day and time."""
    ar, _ = dealers
    ar.locale = "en"
    db.commit()
    local = (utcnow().astimezone(ZoneInfo(ar.time_zone)) + timedelta(days=3)).replace(hour=23, minute=30, second=0,
                                                                                      microsecond=0)
    appt = _appointment(db, ar, local.astimezone(UTC))
    send_now(app, _request(db, ar, appt))
    text, _, _ = _parts(smtp.wait_for(1)[0])
    assert "11:30\u202fPM" in text or "11:30 PM" in text
    assert local.strftime("%B") in text and f" {local.day}, " in text
    assert isinstance(datetime.now(), datetime)
