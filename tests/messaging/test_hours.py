"""No customer gets a reminder at night: outside the dealer's working hours (its time zone) a
reminder waits for the next opening — the first start's catch-up too. Real SMTP sink; the clock is
moved with time-machine."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import time_machine
from sqlalchemy import select

from boxes.messaging import automatic, outbox
from boxes.models import OutboundMessage
from tests import factories, messaging_fixtures
from tests.messaging_fixtures import send_now

# The mail fixtures, but not their around-the-clock dealers: these keep the default working hours.
config, smtp = messaging_fixtures.config, messaging_fixtures.smtp

TUESDAY = datetime(2027, 3, 9).date()
FRIDAY = datetime(2027, 3, 12).date()
SATURDAY = datetime(2027, 3, 13).date()


def _local(dealer, day, hh, mm=0):
    return datetime.combine(day, time(hh, mm), tzinfo=ZoneInfo(dealer.time_zone)).astimezone(UTC)


def _messages(db):
    db.expire_all()
    return list(db.scalars(select(OutboundMessage).order_by(OutboundMessage.id)))


def test_first_start_at_night_sends_the_catch_up_at_the_next_opening(app, db, dealers, redis, smtp):
    ar, _ = dealers
    assert TUESDAY.weekday() == 1 and ar.working_hours["1"] == ["08:00", "18:00"]
    # Due yesterday at 10:00 (one day before, config reminder_hour=10): the first run catches it up.
    factories.appointment(db, ar, _local(ar, TUESDAY, 15), status="requested", email="marta@mail.example")
    boxes_config = app.config["BOXES"]

    for hh, mm in ((1, 55), (2, 30), (7, 59)):
        with time_machine.travel(_local(ar, TUESDAY, hh, mm), tick=False):
            assert automatic.send_due_reminders(db, ar, config=boxes_config, redis=redis) == {"queued": 0,
                                                                                               "skipped": 0}
    assert _messages(db) == []

    with time_machine.travel(_local(ar, TUESDAY, 8, 0), tick=False):
        assert automatic.send_due_reminders(db, ar, config=boxes_config, redis=redis) == {"queued": 1, "skipped": 0}
        [message] = _messages(db)
        assert send_now(app, message) == "sent"
    [mail] = smtp.wait_for(1)
    assert "marta@mail.example" in mail["To"]


def test_a_reminder_queued_before_closing_waits_for_the_next_opening(app, db, dealers, redis, smtp):
    ar, _ = dealers
    assert ar.working_hours["5"] == ["08:00", "12:00"]
    appt = factories.appointment(db, ar, _local(ar, SATURDAY, 11), status="requested")
    with time_machine.travel(_local(ar, FRIDAY, 17, 59), tick=False):
        message = outbox.request_message(db, ar, appt, kind="reminder", origin="manual", actor=None).message
    requeued: list[float] = []
    # The job runs (a worker that was busy, a retry after an SMTP failure) at 18:00, after closing.
    with time_machine.travel(_local(ar, FRIDAY, 18, 0), tick=False):
        from boxes.messaging import sending

        with app.app_context():
            session = app.extensions["boxes.sessionmaker"]()
            result = sending.deliver(session, ar.id, message.id, config=app.config["BOXES"], redis=redis,
                                     requeue=lambda msg, delay: requeued.append(delay))
            session.close()
    assert result == "outside-working-hours"
    assert requeued == [14 * 3600]  # Saturday 08:00
    [row] = _messages(db)
    assert row.status == "queued" and row.attempts == 0 and row.next_attempt_at == _local(ar, SATURDAY, 8)
    assert smtp.messages() == []
    with time_machine.travel(_local(ar, SATURDAY, 8, 0), tick=False):
        assert send_now(app, row) == "sent"
    assert len(smtp.wait_for(1)) == 1


def test_a_booking_confirmation_answers_the_customer_at_once_even_at_night(app, db, dealers, redis, smtp):
    ar, _ = dealers
    appt = factories.appointment(db, ar, _local(ar, SATURDAY, 9), status="requested", source="online")
    with time_machine.travel(_local(ar, FRIDAY, 23, 30), tick=False):
        message = outbox.request_booking_confirmation(db, ar, appt.id).message
        assert send_now(app, message) == "sent"
    assert len(smtp.wait_for(1)) == 1
