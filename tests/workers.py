"""Real ``rq worker`` processes for the tests that need the jobs to run as in production: started on
one queue with the test database and Redis, SIGKILLed with their work horse (the machine died), run in
burst mode, stopped at the end."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from boxes.config import ROOT

RQ = str(Path(sys.executable).parent / "rq")


def worker_env(database_url: str, redis_url: str, **extra: str) -> dict:
    """What a worker reads its settings from, as every Boxes process: the test database and Redis."""
    return {**os.environ, "BOXES_DATABASE_URL": database_url, "BOXES_REDIS_URL": redis_url, "BOXES_EMBEDDED": "0",
            "BOXES_SECRET_KEY": "test", "BOXES_LOG_LEVEL": "WARNING", **extra}


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
    """Real ``rq worker`` processes on one queue, each in its own process group."""

    def __init__(self, env: dict, redis_url: str, log_dir: Path, *, queue: str):
        self.queue = queue
        self.env = env
        self.redis_url = redis_url
        self.log_dir = log_dir
        self.processes: list[subprocess.Popen] = []

    def _argv(self, burst: bool, scheduler: bool) -> list[str]:
        argv = [RQ, "worker", self.queue, "--url", self.redis_url, "--logging_level", "WARNING"]
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

    def kill_when(self, process: subprocess.Popen, done, *, timeout: float = 60) -> None:
        """SIGKILL ``process`` (see ``kill``) as soon as ``done()`` says its job is where the test wants
        it; fails if the worker died by itself or never got there."""
        deadline = time.monotonic() + timeout
        while not done():
            assert process.poll() is None, "the worker died by itself"
            assert time.monotonic() < deadline, "the worker never got going"
            time.sleep(0.02)
        self.kill(process)

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL the worker and every process it started (RQ's work horse runs in its own session,
        so killing the group would leave it running): the machine died."""
        victims = [process.pid, *_descendants(process.pid)]
        for pid in victims:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        process.wait(timeout=10)
        deadline = time.monotonic() + 10  # the horse is not our child: wait until it is really gone
        while any(Path(f"/proc/{pid}").exists() for pid in victims[1:]) and time.monotonic() < deadline:
            time.sleep(0.05)

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
