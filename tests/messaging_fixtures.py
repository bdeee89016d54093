"""Fixtures of the messaging tests: a real SMTP server (the aiosmtpd sink on loopback), the app
configured to use it, and real ``rq worker`` processes on the test database and Redis; and the
reminder button as a caller meets it (``appointment_to_confirm``, ``reminder_url``,
``caller_on_appointments``, ``click_reminder``).

Import the fixtures into a test module: ``from tests.messaging_fixtures import *  # noqa: F403``
(the helpers by name).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from boxes.config import ROOT, Config
from boxes.db import utcnow
from boxes.mailsink import free_port, start_smtp_sink
from tests import factories
from tests.conftest import csrf_token_of

RQ = str(Path(sys.executable).parent / "rq")
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
    env = dict(os.environ)
    env.update(
        BOXES_DATABASE_URL=config.database_url, BOXES_REDIS_URL=config.redis_url, BOXES_EMBEDDED="0",
        BOXES_SECRET_KEY="test-secret-key", BOXES_INSTANCE_DIR=str(tmp_path / "worker-instance"),
        BOXES_SMTP_HOST=config.smtp_host, BOXES_SMTP_PORT=str(config.smtp_port), BOXES_SMTP_SECURITY="none",
        BOXES_SMTP_TIMEOUT_SECONDS=str(SMTP_TIMEOUT),
        BOXES_MAIL_RETRY_INTERVALS=",".join(str(i) for i in RETRY_INTERVALS),
        BOXES_MAIL_LEASE_SECONDS=str(LEASE_SECONDS), BOXES_MAIL_SENDER=config.mail_sender,
        BOXES_MAIL_RATE_PER_MINUTE=str(config.mail_rate_per_minute), BOXES_MAIL_DAILY_CAP=str(config.mail_daily_cap),
        BOXES_LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1",
    )
    return env


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Workers:
    """Real ``rq worker`` processes, each in its own process group (so SIGKILL takes its work horse too)."""

    def __init__(self, env: dict, redis_url: str, log_dir: Path):
        self.env = env
        self.redis_url = redis_url
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen] = []

    def _argv(self, burst: bool, scheduler: bool) -> list[str]:
        argv = [RQ, "worker", "mail", "--url", self.redis_url, "--logging_level", "WARNING"]
        if burst:
            argv.append("--burst")
        if scheduler:
            argv.append("--with-scheduler")
        return argv

    def start(self, *, scheduler: bool = True) -> subprocess.Popen:
        log = open(self.log_dir / f"worker-{len(self.processes)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(self._argv(False, scheduler), cwd=ROOT, env=self.env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)
        return process

    def burst(self, timeout: float = 60) -> str:
        """One burst worker: runs every job queued now (and those they enqueue), then exits."""
        result = subprocess.run(self._argv(True, False), cwd=ROOT, env=self.env, capture_output=True,
                                timeout=timeout, start_new_session=True)
        output = (result.stdout + result.stderr).decode(errors="replace")
        assert result.returncode == 0, output
        return output

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL the worker and every process it started (RQ's work horse runs in its own session,
        so killing the group would leave it running): the machine died."""
        victims = [process.pid, *_descendants(process.pid)]
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(timeout=10)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.log_dir.glob("worker-*.log")))


@pytest.fixture
def worker(mail_env, redis_url, tmp_path):
    log_dir = tmp_path / "worker-logs"
    log_dir.mkdir()
    workers = Workers(mail_env, redis_url, log_dir)
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
