"""Automatic reminders (the ``rq cron`` job): the window's edges in both dealers' time zones."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from rq import Queue
from sqlalchemy import select

from boxes.db import utcnow
from boxes.messaging import automatic, outbox
from boxes.models import MailSettings, OutboundMessage
from tests import factories
from tests.messaging_fixtures import *  # noqa: F403


def _local(dealer, day, hh, mm=0):
    return datetime.combine(day, time(hh, mm), tzinfo=ZoneInfo(dealer.time_zone)).astimezone(UTC)


def _reminded(db) -> set[int]:
    db.expire_all()
    return set(db.scalars(select(OutboundMessage.appointment_id).where(OutboundMessage.kind == "reminder")))


def _run(app, db, dealer, redis, now):
    return automatic.send_due_reminders(db, dealer, config=app.config["BOXES"], redis=redis, now=now)


@pytest.mark.parametrize("which", [0, 1], ids=["AR-Buenos_Aires", "BR-Sao_Paulo"])
def test_window_edges_in_the_dealers_zone(app, db, dealers, redis, which):
    dealer = dealers[which]
    tz = ZoneInfo(dealer.time_zone)
    day = (utcnow().astimezone(tz) + timedelta(days=10)).date()  # the appointments' local day D
    eve = day - timedelta(days=1)
    appt = {
        "D 08:00": factories.appointment(db, dealer, _local(dealer, day, 8), status="requested"),
        "D 23:59": factories.appointment(db, dealer, _local(dealer, day, 23, 59), status="confirmation_pending"),
        "D+1 00:00": factories.appointment(db, dealer, _local(dealer, day + timedelta(days=1), 0), status="requested"),
        "D 09:00 confirmed": factories.appointment(db, dealer, _local(dealer, day, 9), status="confirmed"),
        "eve 11:00": factories.appointment(db, dealer, _local(dealer, eve, 11), status="requested"),
        "eve 12:30": factories.appointment(db, dealer, _local(dealer, eve, 12, 30), status="requested"),
    }
    ids = {k: v.id for k, v in appt.items()}

    # The eve at 09:59 local: the hour has not come; only appointments of the eve itself are due,
    # and only those at least two hours away (11:00 is too close: the caller phones instead).
    assert _run(app, db, dealer, redis, _local(dealer, eve, 9, 59)) == {"queued": 1, "skipped": 0}
    assert _reminded(db) == {ids["eve 12:30"]}

    # Exactly 10:00 local on the eve: every unconfirmed appointment of day D, up to its last minute.
    # (The eve's appointments already have theirs; nothing is sent twice.)
    assert _run(app, db, dealer, redis, _local(dealer, eve, 10)) == {"queued": 2, "skipped": 0}
    assert _reminded(db) == {ids["eve 12:30"], ids["D 08:00"], ids["D 23:59"]}
    # Run again: nothing new.
    assert _run(app, db, dealer, redis, _local(dealer, eve, 10, 5)) == {"queued": 0, "skipped": 0}
    # D+1 00:00 belongs to the next day's run.
    assert _run(app, db, dealer, redis, _local(dealer, day, 9, 59))["queued"] == 0
    assert _run(app, db, dealer, redis, _local(dealer, day, 10))["queued"] == 1
    assert ids["D+1 00:00"] in _reminded(db)
    assert ids["D 09:00 confirmed"] not in _reminded(db)
    assert ids["eve 11:00"] not in _reminded(db)
    assert Queue("mail", connection=redis).count == 4
    origins = set(db.scalars(select(OutboundMessage.origin)))
    assert origins == {"automatic"}


def test_window_uses_the_dealer_not_utc(app, db, dealers, redis):
    """At 10:30 UTC it is 07:30 in both zones: neither dealer's 10:00 has come."""
    ar, br = dealers
    day = (utcnow() + timedelta(days=10)).date()
    a = factories.appointment(db, ar, _local(ar, day + timedelta(days=1), 9), status="requested")
    b = factories.appointment(db, br, _local(br, day + timedelta(days=1), 9), status="requested")
    now = datetime.combine(day, time(10, 30), tzinfo=UTC)
    assert _run(app, db, ar, redis, now)["queued"] == 0
    assert _run(app, db, br, redis, now)["queued"] == 0
    now = datetime.combine(day, time(13, 0), tzinfo=UTC)  # 10:00 in both
    assert _run(app, db, ar, redis, now)["queued"] == 1
    assert _run(app, db, br, redis, now)["queued"] == 1
    assert _reminded(db) == {a.id, b.id}


def test_dealer_window_settings_manual_reminder_and_opt_out(app, db, dealers, redis):
    _, br = dealers
    db.add(MailSettings(dealer_id=br.id, reminder_days_before=2, reminder_hour=8))
    db.commit()
    day = (utcnow().astimezone(ZoneInfo(br.time_zone)) + timedelta(days=10)).date()
    two_before = day - timedelta(days=2)
    manual = factories.appointment(db, br, _local(br, day, 15), status="requested")
    opted = factories.appointment(db, br, _local(br, day, 16), status="requested")
    plain = factories.appointment(db, br, _local(br, day, 17), status="requested")
    from boxes.models import Customer

    db.get(Customer, opted.customer_id).contact_opt_out = True
    db.commit()
    # A caller already sent one by hand: the automatic run does not add another.
    outbox.request_message(db, br, manual, kind="reminder", origin="manual", actor=None)

    assert _run(app, db, br, redis, _local(br, two_before, 7, 59))["queued"] == 0
    assert _run(app, db, br, redis, _local(br, two_before, 8)) == {"queued": 1, "skipped": 1}
    rows = {r.appointment_id: r for r in db.scalars(select(OutboundMessage))}
    assert rows[manual.id].origin == "manual"
    assert rows[opted.id].status == "skipped" and rows[opted.id].reason == "opt_out"
    assert rows[plain.id].status == "queued"
    # Turned off: nothing.
    settings = db.scalar(select(MailSettings).where(MailSettings.dealer_id == br.id))
    settings.auto_reminders = False
    db.commit()
    factories.appointment(db, br, _local(br, day, 18), status="requested")
    assert _run(app, db, br, redis, _local(br, two_before, 9))["queued"] == 0


def test_cron_job_on_a_real_worker_sends_the_due_reminders(db, dealers, smtp, worker, redis):
    ar, br = dealers
    soon = utcnow() + timedelta(hours=3)  # its reminder time has passed whatever the local hour
    factories.appointment(db, ar, soon, status="requested")
    factories.appointment(db, br, soon, status="requested")
    factories.appointment(db, ar, utcnow() + timedelta(days=9), status="requested")  # not yet
    Queue("mail", connection=redis).enqueue("jobs.mail.send_due_reminders")
    worker.burst()
    mails = smtp.wait_for(2)
    assert len(mails) == 2
    subjects = sorted(m["Subject"].split(":")[0] for m in mails)
    assert subjects == ["Lembrete", "Recordatorio"]
    # The cron runs again: no second email.
    Queue("mail", connection=redis).enqueue("jobs.mail.send_due_reminders")
    worker.burst()
    assert len(smtp.messages()) == 2


def test_cron_table_registers_the_mail_jobs(redis):
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=redis)
    scheduler.load_config_from_file("jobs.cron")
    jobs = {job.func_name: job for job in scheduler.get_jobs()}
    assert jobs["jobs.mail.send_due_reminders"].queue_name == "mail"
    assert jobs["jobs.mail.recover_messages"].queue_name == "mail"
    assert jobs["jobs.mail.recover_messages"].interval == 60
