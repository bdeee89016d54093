"""A real ``rq worker`` process in tests (no helper of RQ's own runs it in-process): its environment,
a burst run, a long-running worker, and SIGKILL of a worker with its work horse."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

RQ = str(Path(sys.executable).with_name("rq"))


def worker_env(database_url: str, redis_url: str, **extra) -> dict:
    """What a Boxes job reads from the environment, pointed at the test's database and Redis."""
    return {**os.environ, "BOXES_DATABASE_URL": database_url, "BOXES_REDIS_URL": redis_url, "BOXES_EMBEDDED": "0",
            "BOXES_SECRET_KEY": "test", "BOXES_LOG_LEVEL": "WARNING", **extra}


def burst(env: dict, redis_url: str, queue: str) -> None:
    """Run ``queue``'s jobs until it is empty."""
    done = subprocess.run([RQ, "worker", queue, "--url", redis_url, "--burst", "--quiet"], env=env,
                          capture_output=True, timeout=120, start_new_session=True)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]


def start(env: dict, redis_url: str, queue: str) -> subprocess.Popen:
    """A worker on ``queue`` that runs until it is killed (in a session of its own)."""
    return subprocess.Popen([RQ, "worker", queue, "--url", redis_url, "--quiet"], env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def wait_gone(pids: list[int], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while any(Path(f"/proc/{p}").exists() for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)


def kill(worker: subprocess.Popen) -> None:
    """SIGKILL the worker and its work horse (RQ puts the horse in a session of its own), no goodbye."""
    horses = children(worker.pid)
    for pid in [*horses, worker.pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    worker.wait(10)
    wait_gone(horses)


def stop(worker: subprocess.Popen) -> None:
    """End a worker the test may already have killed."""
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
