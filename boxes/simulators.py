"""What the two simulators, ``boxes dms-simulator`` (boxes/dms/simulator/) and ``boxes oem-simulator``
(boxes/oem/simulator/), share: the HTTP server plumbing under their APIs (a threaded server, a JSON
request handler, serving with a real clock) and what ``boxes run`` needs to start one as a child
process on the demo world and to know when it serves. Each simulator's routes, faults and world stay
in its own package; so do the demo dealers' connectors pointed at them (``add_demo_connectors``)."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The demo world both simulators serve in embedded mode: the DMS's workshop is the demo dataset's,
# and the OEM's leads come from the same customers.
SEED = 42
VEHICLES = 2000  # the demo dataset's size


# ------------------------------------------------------------------------------------ HTTP server

class SimulatorHandler(BaseHTTPRequestHandler):
    """A simulator's request handler: HTTP/1.1 kept-alive connections, JSON answers, quiet logs."""

    protocol_version = "HTTP/1.1"
    # Headers and body leave in two writes: without TCP_NODELAY each answer on a kept-alive
    # connection waited for the reader's delayed ACK, ~45 ms per DMS page whatever its size (and
    # the OEM's status endpoint did 21 calls/s).
    disable_nagle_algorithm = True
    logger = logging.getLogger("boxes.simulators")  # each simulator's handler sets its own
    content_type = "application/json"
    max_body: int | None = None  # bytes of a request body read at most; None: all its Content-Length says

    def log_message(self, fmt, *args):  # quiet; errors are logged by the simulator's logger
        self.logger.debug("%s " + fmt, self.address_string(), *args)

    def write_answer(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        """Answer ``data`` (Content-Length: its length, unless ``headers`` say otherwise); a reader
        that has hung up meanwhile is no error."""
        self.send_response(status)
        self.send_header("Content-Type", self.content_type)
        for name, value in ({"Content-Length": str(len(data))} | (headers or {})).items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def read_body(self) -> bytes:
        """The request's body, at most ``max_body`` bytes of it."""
        length = int(self.headers.get("Content-Length") or 0)
        if self.max_body is not None:
            length = min(length, self.max_body)
        return self.rfile.read(length) if length else b""


def half(data: bytes) -> bytes:
    """What a truncation fault sends of an answer: its first half (at least a byte)."""
    return data[: max(1, len(data) // 2)]


class SimulatorHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(server: SimulatorHttpServer, logger: logging.Logger, *,
          tick: Callable[[datetime], object] | None = None, tick_seconds: float = 30.0,
          ready: Callable[[tuple], object] | None = None) -> None:
    """Serve until interrupted, then close. With a real clock, ``tick`` is called with the wall
    clock every ``tick_seconds`` in a thread of its own; the API keeps serving whatever happens to a
    tick. ``ready(address)`` is called once the server listens."""
    stop = threading.Event()
    if tick is not None:
        def _live():
            while not stop.wait(tick_seconds):
                try:
                    tick(datetime.now(UTC))
                except Exception:
                    logger.exception("simulator tick failed")
        threading.Thread(target=_live, daemon=True).start()
    if ready is not None:
        ready(server.server_address)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        stop.set()
        server.server_close()


# ------------------------------------------------------------------------------ as a child process

def child_argv(command: str, port: int, *options: str) -> list[str]:
    """The command line of ``boxes <command>`` (a simulator) in embedded mode: on 127.0.0.1:``port``,
    the demo world, the wall clock, the demo dealers; ``options`` are the simulator's own."""
    from boxes.dms.simulator.demo import DEMO_DEALERS

    argv = [sys.executable, "-m", "boxes.cli", command, "--host", "127.0.0.1", "--port", str(port),
            "--seed", str(SEED), "--vehicles", str(VEHICLES), "--clock", "real", *options]
    for d in DEMO_DEALERS:
        argv += ["--dealer", f"{d['code']}:{d['country']}:{d['time_zone']}"]
    return argv


def wait_until_serving(base_url: str, timeout: float = 30.0, *, process: subprocess.Popen | None = None) -> bool:
    """Whether the simulator at ``base_url`` answers its health check within ``timeout`` seconds
    (it builds its worlds first); False at once when its ``process`` has ended."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/_sim/health", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        if process is not None and process.poll() is not None:
            return False
        time.sleep(0.1)
    return False


def add_demo_connectors(session, model, dealers, make: Callable) -> int:
    """Give each of ``dealers`` that has no ``model`` row (a DMS or OEM connector) the one
    ``make(dealer)`` returns, pointed at its simulator; a connector an admin set up stays as it is.
    Added to ``session``, not committed; returns how many were added."""
    from sqlalchemy import select

    have = set(session.scalars(select(model.dealer_id).where(model.dealer_id.in_([d.id for d in dealers]))))
    missing = [d for d in dealers if d.id not in have]
    session.add_all(make(d) for d in missing)
    return len(missing)
