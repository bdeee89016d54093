"""Exactly once, with real processes: a real ``rq worker`` on the test database and Redis sends to
a real SMTP server. Double click, SMTP down then up, a worker SIGKILLed right after claiming,
customers who must not get mail, and the per-dealer limits."""

from __future__ import annotations

import dataclasses

from rq import Queue
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select

from boxes.db import utcnow
from boxes.mailsink import free_port, start_smtp_sink
from boxes.messaging import outbox
from boxes.models import AuditLog, Customer, MailSettings, OutboundMessage
from jobs.mail import enqueue_send, recover_messages
from tests.html import every, one
from tests.messaging_fixtures import *  # noqa: F403
from tests.messaging_fixtures import (
    HX,
    LEASE_SECONDS,
    appointment_to_confirm,
    caller_on_appointments,
    click_reminder,
    reminder_url,
    send_now,
    wait_until,
)


def _row(db, appointment_id) -> OutboundMessage:
    db.expire_all()
    return db.scalar(select(OutboundMessage).where(OutboundMessage.appointment_id == appointment_id))


def _own_smtp(db, dealer, port: int, **kw):
    settings = db.scalar(select(MailSettings).where(MailSettings.dealer_id == dealer.id))
    if settings is None:
        settings = MailSettings(dealer_id=dealer.id)
        db.add(settings)
    settings.use_own_smtp = port is not None
    settings.smtp_host = "127.0.0.1"
    settings.smtp_port = port
    settings.smtp_security = "none"
    for key, value in kw.items():
        setattr(settings, key, value)
    db.commit()


def test_double_click_sends_one_email(client, db, dealers, login_as, smtp, worker, redis):
    ar, _ = dealers
    appt = appointment_to_confirm(db, ar)
    token = caller_on_appointments(client, login_as, ar)
    url = reminder_url(ar, appt)

    first = click_reminder(client, url, token)
    second = click_reminder(client, url, token)
    assert first.status_code == 200 and every(first, '[data-reminder-status="queued"]')
    assert second.status_code == 200 and every(second, '[data-reminder-status="queued"]')
    assert db.scalar(select(func.count()).select_from(OutboundMessage)) == 1
    assert Queue("mail", connection=redis).count == 1  # the second click enqueued nothing
    # Even an extra job for the same row (a retry, the recovery sweep) sends nothing more.
    enqueue_send(redis, client.application.config["BOXES"], _row(db, appt.id))

    worker.burst()
    assert len(smtp.wait_for(1)) == 1
    row = _row(db, appt.id)
    assert row.status == "sent" and row.attempts == 1 and row.sent_at is not None
    worker.burst()
    assert len(smtp.messages()) == 1

    # The row now says when it was sent, and polling stops (286).
    polled = client.get(url, headers=HX)
    assert polled.status_code == 286
    assert every(polled, '[data-reminder-status="sent"]')
    # A third click after sending changes nothing either.
    assert click_reminder(client, url, token).status_code == 286
    worker.burst()
    assert len(smtp.messages()) == 1
    actions = [a.action for a in db.scalars(select(AuditLog).where(AuditLog.entity == "outbound_message"))]
    assert actions.count("message.queue") == 1 and actions.count("message.sent") == 1


def test_smtp_down_then_up_sends_once_after_retries(app, db, dealers, worker, redis, tmp_path):
    ar, _ = dealers
    port = free_port()  # nothing listens here yet: connection refused
    _own_smtp(db, ar, port)
    appt = appointment_to_confirm(db, ar)
    requested = outbox.request_message(db, ar, appt, kind="reminder", origin="manual", actor=None)
    config = dataclasses.replace(app.config["BOXES"], mail_retry_intervals=(1,) * 20)
    enqueue_send(redis, config, requested.message)
    worker.start(scheduler=True)

    row = wait_until(lambda: (r := _row(db, appt.id)).attempts >= 2 and r.status == "queued" and r,
                     timeout=30, message="two failed attempts")
    # The dealer's own server: "could not be reached", not the socket's own words (tests/messaging/test_smtp.py).
    assert row.reason == "smtp_error" and "could not be reached" in row.error
    assert row.next_attempt_at is not None

    sink = start_smtp_sink("127.0.0.1", port, tmp_path / "late-mail")
    try:
        row = wait_until(lambda: (r := _row(db, appt.id)).status == "sent" and r, timeout=30, message="sent")
        assert row.attempts >= 3 and row.error == "" and row.reason == ""
        assert len(sink.wait_for(1)) == 1
        # More retries or sweeps later change nothing.
        enqueue_send(redis, config, row)
        wait_until(lambda: Queue("mail", connection=redis).count == 0, timeout=10, message="queue drained")
        assert len(sink.messages()) == 1
    finally:
        sink.stop()


def test_worker_killed_right_after_claiming_sends_exactly_once(app, db, dealers, smtp, worker, redis,
                                                                blackhole_smtp):
    ar, _ = dealers
    # The SMTP server hangs: the worker claims the row, then waits for a greeting that never comes.
    _own_smtp(db, ar, blackhole_smtp.port)
    worker.env["BOXES_SMTP_TIMEOUT_SECONDS"] = "30"
    appt = appointment_to_confirm(db, ar)
    requested = outbox.request_message(db, ar, appt, kind="reminder", origin="manual", actor=None)
    enqueue_send(redis, app.config["BOXES"], requested.message)
    process = worker.start(scheduler=False)

    wait_until(lambda: _row(db, appt.id).status == "sending", timeout=30, interval=0.02, message="claimed")
    worker.kill(process)  # SIGKILL the worker and its work horse
    row = _row(db, appt.id)
    assert row.status == "sending" and row.attempts == 1 and row.lease_until is not None
    assert smtp.messages() == []

    # The SMTP server is back (the dealer now uses the installation's server: the sink).
    _own_smtp(db, ar, None)
    # While the lease runs, nobody may take the row: the sweep does nothing.
    config = app.config["BOXES"]
    with app.app_context():
        assert outbox.recover(db, redis, config) == 0
    wait_until(lambda: utcnow() > row.lease_until, timeout=LEASE_SECONDS + 5, message="lease expiry")

    # The cron's sweep runs on a fresh worker: it re-enqueues the row, whose job claims and sends it.
    Queue("mail", connection=redis).enqueue(recover_messages)
    worker.burst()
    assert len(smtp.wait_for(1)) == 1
    row = _row(db, appt.id)
    assert row.status == "sent" and row.attempts == 2

    # Later sweeps and workers find nothing to do.
    Queue("mail", connection=redis).enqueue(recover_messages)
    worker.burst()
    assert len(smtp.messages()) == 1


def test_opt_out_and_bad_addresses_send_nothing_and_say_why(client, db, dealers, login_as, smtp, worker, redis):
    ar, _ = dealers
    token = caller_on_appointments(client, login_as, ar)
    cases = {
        "opt_out": ("ok@mail.example", True, "The customer asked not to be contacted."),
        "invalid_address": ("not-an-address@", False, "The customer's email address is not valid."),
        "no_address": ("", False, "The customer has no email address."),
    }
    for reason, (email, opt_out, _message) in cases.items():
        appt = appointment_to_confirm(db, ar)
        customer = db.get(Customer, appt.customer_id)
        customer.email, customer.contact_opt_out = email, opt_out
        db.commit()
        response = click_reminder(client, reminder_url(ar, appt), token)
        assert response.status_code == 286  # final at once: nothing to poll
        body = response.get_data(as_text=True)
        assert every(body, '[data-reminder-status="skipped"]')
        row = _row(db, appt.id)
        assert row.status == "skipped" and row.reason == reason
        # The board row says why.
        page = client.get(f"/d/{ar.code}/board/appointments?view=to_confirm").get_data(as_text=True)
        assert one(page, f"#reminder-{appt.id}")

    # A customer who opts out after the click gets nothing either: the job checks again.
    appt = appointment_to_confirm(db, ar)
    assert click_reminder(client, reminder_url(ar, appt), token).status_code == 200
    db.get(Customer, appt.customer_id).contact_opt_out = True
    db.commit()

    assert Queue("mail", connection=redis).count == 1  # only the last one was enqueued
    worker.burst()
    assert smtp.messages() == []
    row = _row(db, appt.id)
    assert row.status == "skipped" and row.reason == "opt_out"


def test_spanish_reason_on_the_row(client, db, dealers, login_as, smtp):
    ar, _ = dealers
    token = caller_on_appointments(client, login_as, ar)
    appt = appointment_to_confirm(db, ar)
    db.get(Customer, appt.customer_id).contact_opt_out = True
    db.commit()
    body = click_reminder(client, reminder_url(ar, appt), token).get_data(as_text=True)
    assert "El cliente pidió no ser contactado." in body


def test_daily_cap_and_rate_limit_per_dealer(app, db, dealers, smtp, redis):
    ar, br = dealers
    _own_smtp(db, ar, None, daily_cap=1)
    first, second = appointment_to_confirm(db, ar), appointment_to_confirm(db, ar)
    messages = [outbox.request_message(db, ar, a, kind="reminder", origin="automatic", actor=None).message
                for a in (first, second)]
    assert send_now(app, messages[0]) == "sent"
    assert send_now(app, messages[1]) == "skipped:daily_cap"
    assert _row(db, second.id).reason == "daily_cap"
    # The other dealer has its own cap.
    other = appointment_to_confirm(db, br)
    assert send_now(app, outbox.request_message(db, br, other, kind="reminder", origin="manual",
                                                actor=None).message) == "sent"
    assert len(smtp.wait_for(2)) == 2

    # Rate: one message per minute for AR; the next waits (not an attempt, not a failure).
    _own_smtp(db, ar, None, daily_cap=None, rate_per_minute=1)
    redis.flushdb()
    third, fourth = appointment_to_confirm(db, ar), appointment_to_confirm(db, ar)
    m3, m4 = (outbox.request_message(db, ar, a, kind="reminder", origin="manual", actor=None).message
              for a in (third, fourth))
    assert send_now(app, m3) == "sent"
    from boxes.messaging import sending

    with app.app_context():
        session = app.extensions["boxes.sessionmaker"]()
        try:
            result = sending.deliver(session, ar.id, m4.id, config=app.config["BOXES"], redis=redis,
                                     requeue=lambda msg, delay: enqueue_send(redis, app.config["BOXES"], msg,
                                                                                    delay=delay))
        finally:
            session.close()
    assert result == "rate-limited"
    row = _row(db, fourth.id)
    assert row.status == "queued" and row.attempts == 0 and row.next_attempt_at > utcnow()
    assert len(ScheduledJobRegistry("mail", connection=redis)) == 1
    assert len(smtp.messages()) == 3


def test_unexpected_error_before_smtp_gives_the_claim_back(app, db, dealers, smtp):
    import pytest

    ar, _ = dealers
    appt = appointment_to_confirm(db, ar)
    message = outbox.request_message(db, ar, appt, kind="reminder", origin="manual", actor=None).message
    ar.time_zone = "Nowhere/Broken"  # bad data: the message cannot be prepared
    db.commit()
    with pytest.raises(Exception, match="Nowhere/Broken"):
        send_now(app, message, retries_left=2)
    row = _row(db, appt.id)
    # Not stuck in "sending" until the lease runs out: the next retry can take it at once.
    assert (row.status, row.reason, row.claim_token, row.attempts) == ("queued", "internal_error", "", 1)
    with pytest.raises(Exception, match="Nowhere/Broken"):
        send_now(app, message, retries_left=0)
    row = _row(db, appt.id)
    assert (row.status, row.reason, row.attempts) == ("failed", "internal_error", 2)
    assert smtp.messages() == []
