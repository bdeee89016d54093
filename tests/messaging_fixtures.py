"""Fixtures of the messaging tests: a real SMTP server (the aiosmtpd sink on loopback), the app
configured to use it, and real ``rq worker`` processes on the test database and Redis; and the
reminder button as a caller meets it (``appointment_to_confirm``, ``reminder_url``,
``caller_on_appointments``, ``click_reminder``).

Import the fixtures into a test module: ``from tests.messaging_fixtures import *  # noqa: F403``
(the helpers by name).
"""

from __future__ import annotations

import socket
import threading
import time
from datetime import timedelta

import pytest

from boxes.config import Config
from boxes.db import utcnow
from boxes.mailsink import free_port, start_smtp_sink
from tests import factories
from tests.conftest import csrf_token_of
from tests.workers import Workers, worker_env

RETRY_INTERVALS = (1, 1, 1)
LEASE_SECONDS = 4
SMTP_TIMEOUT = 2.0
HX = {"HX-Request": "true"}

__all__ = ["blackhole_smtp", "config", "dealers", "mail_env", "send_now", "smtp", "worker"]


@pytest.fixture
def dealers(dealers, db):
    """The suite's two dealers, open around the clock: these tests send mail at whatever hour they
    run (real workers included), while reminders wait outside working hours (test_messaging_hours)."""
    for dealer in dealers:
        dealer.working_hours = {str(day): ["00:00", "23:59"] for day in range(7)}
    db.commit()
    return dealers


@pytest.fixture
def smtp(tmp_path):
    """The SMTP sink on a free loopback port; ``smtp.messages()`` are the received messages."""
    sink = start_smtp_sink("127.0.0.1", 0, tmp_path / "mail")
    yield sink
    sink.stop()


@pytest.fixture
def config(database_url, redis_url, tmp_path, smtp) -> Config:
    """The suite's config, sending mail to the test SMTP server, with short retries and lease."""
    return Config.from_env(
        instance_dir=tmp_path / "instance", database_url=database_url, redis_url=redis_url,
        secret_key="test-secret-key", embedded=True, testing=True, page_size=50,
        smtp_host=smtp.host, smtp_port=smtp.port, smtp_security="none", smtp_username="", smtp_password="",
        smtp_timeout_seconds=SMTP_TIMEOUT, mail_retry_intervals=RETRY_INTERVALS, mail_lease_seconds=LEASE_SECONDS,
        mail_sender="taller@boxes.example", mail_daily_cap=2000, mail_rate_per_minute=600,
        reminder_days_before=1, reminder_hour=10,
    )


@pytest.fixture
def mail_env(config, tmp_path) -> dict:
    """The environment of a worker process: the same database, Redis, SMTP and mail settings."""
    return worker_env(
        config.database_url, config.redis_url, BOXES_SECRET_KEY="test-secret-key",
        BOXES_INSTANCE_DIR=str(tmp_path / "worker-instance"),
        BOXES_SMTP_HOST=config.smtp_host, BOXES_SMTP_PORT=str(config.smtp_port), BOXES_SMTP_SECURITY="none",
        BOXES_SMTP_TIMEOUT_SECONDS=str(SMTP_TIMEOUT),
        BOXES_MAIL_RETRY_INTERVALS=",".join(str(i) for i in RETRY_INTERVALS),
        BOXES_MAIL_LEASE_SECONDS=str(LEASE_SECONDS), BOXES_MAIL_SENDER=config.mail_sender,
        BOXES_MAIL_RATE_PER_MINUTE=str(config.mail_rate_per_minute), BOXES_MAIL_DAILY_CAP=str(config.mail_daily_cap),
        PYTHONUNBUFFERED="1")


@pytest.fixture
def worker(mail_env, redis_url, tmp_path):
    log_dir = tmp_path / "worker-logs"
    log_dir.mkdir()
    workers = Workers(mail_env, redis_url, log_dir, queue="mail")
    yield workers
    workers.stop_all()


class BlackHole:
    """A TCP server that accepts connections and never says a word: an SMTP server that hangs."""

    def __init__(self):
        self.port = free_port()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(16)
        self.connections: list[socket.socket] = []
        self._stop = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
                self.connections.append(conn)
            except OSError:
                continue

    def close(self):
        self._stop = True
        self.thread.join(timeout=2)
        for conn in self.connections:
            conn.close()
        self.sock.close()


@pytest.fixture
def blackhole_smtp():
    hole = BlackHole()
    yield hole
    hole.close()


def send_now(app, message, retries_left: int | None = None) -> str:
    """Run the mail job's service in this process (what ``jobs.mail.send_message`` does)."""
    from boxes.messaging import sending

    with app.app_context():
        session = app.extensions["boxes.sessionmaker"]()
        try:
            return sending.deliver(session, message.dealer_id, message.id, config=app.config["BOXES"],
                                   redis=app.extensions["boxes.redis"], retries_left=retries_left)
        finally:
            session.close()


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}")


def appointment_to_confirm(db, dealer, **kw):
    """An appointment requested for two days from now: on the "to confirm" list, a reminder to send."""
    kw.setdefault("status", "requested")
    return factories.appointment(db, dealer, utcnow() + timedelta(days=2), **kw)


def reminder_url(dealer, appointment) -> str:
    """The appointment's reminder cell: its button POSTs here, and a queued one polls it (GET)."""
    return f"/d/{dealer.code}/appointments/{appointment.id}/reminder"


def caller_on_appointments(client, login_as, dealer) -> str:
    """A new caller of ``dealer`` logged in on ``client``; the CSRF token of their appointments list,
    where the reminder buttons are."""
    login_as("caller", dealer)
    return csrf_token_of(client, f"/d/{dealer.code}/board/appointments")


def click_reminder(client, url: str, token: str):
    """The reminder button's click, as htmx sends it."""
    return client.post(url, headers={**HX, "X-CSRFToken": token})
