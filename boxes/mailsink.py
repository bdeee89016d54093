"""The local SMTP sink of embedded mode and of the tests.

``boxes run`` starts one on ``127.0.0.1:BOXES_SMTP_PORT`` so reminders and booking confirmations
can be sent for real without an SMTP server: every message is kept as an ``.eml`` file under
``<instance>/mail/`` (open it with any mail client). Nothing is ever relayed.

The test suite's ``smtp`` fixture uses the same sink on a free port.
"""

from __future__ import annotations

import email.policy
import itertools
import socket
import threading
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from aiosmtpd.controller import Controller

# The greeting name; without it aiosmtpd calls socket.getfqdn(), a DNS lookup that can hang
# for seconds on a dealer intranet.
SERVER_HOSTNAME = "boxes-mailsink"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (aiosmtpd needs an explicit one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class _StoreHandler:
    """aiosmtpd handler: one ``.eml`` file per accepted message."""

    def __init__(self, maildir: Path):
        self.maildir = maildir
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        with self._lock:
            number = next(self._counter)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        name = f"{stamp}-{number:06d}.eml"
        # The envelope is not part of the message (Bcc recipients, bounces): keep it as headers
        # so a test or a person reading the file can see who the message really went to.
        envelope_headers = (
            f"X-Envelope-From: {envelope.mail_from}\r\n"
            f"X-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        content = envelope.original_content or envelope.content
        if isinstance(content, str):  # only when decode_data=True, which we never set
            content = content.encode()
        # Write then rename: a reader never sees half a message.
        partial = self.maildir / f".{name}.partial"
        partial.write_bytes(envelope_headers + content)
        partial.rename(self.maildir / name)
        return "250 Message accepted for delivery"


class Sink:
    """A running SMTP sink. ``stop()`` it when done (the fixture and ``boxes run`` do)."""

    def __init__(self, controller: Controller, host: str, port: int, maildir: Path):
        self._controller = controller
        self.host = host
        self.port = port
        self.maildir = maildir
        self._stopped = False

    @property
    def alive(self) -> bool:
        thread = getattr(self._controller, "_thread", None)
        return not self._stopped and thread is not None and thread.is_alive()

    def paths(self) -> list[Path]:
        """The stored ``.eml`` files, oldest first (names start with a UTC timestamp)."""
        return sorted(self.maildir.glob("*.eml"))

    def messages(self) -> list[EmailMessage]:
        """Every stored message, parsed, in arrival order."""
        parser = BytesParser(policy=email.policy.default)
        return [parser.parsebytes(path.read_bytes()) for path in self.paths()]  # type: ignore[misc]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        """Wait until at least ``count`` messages are stored (mail is sent by background jobs)."""
        deadline = time.monotonic() + timeout
        while len(self.paths()) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"expected {count} message(s) in {self.maildir}, got {len(self.paths())} "
                    f"after {timeout:.0f} s"
                )
            time.sleep(0.05)
        return self.messages()

    def clear(self) -> None:
        for path in self.paths():
            path.unlink(missing_ok=True)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._controller.stop()

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<Sink smtp://{self.host}:{self.port} -> {self.maildir}>"


def start_smtp_sink(host: str, port: int, maildir: Path | str) -> Sink:
    """Start the sink in a background thread; ``port=0`` picks a free port."""
    maildir = Path(maildir).resolve()
    maildir.mkdir(parents=True, exist_ok=True)
    if port == 0:
        port = free_port(host)
    controller = Controller(
        _StoreHandler(maildir),
        hostname=host,
        port=port,
        server_hostname=SERVER_HOSTNAME,
        ready_timeout=10.0,
    )
    try:
        controller.start()
    except Exception as exc:  # aiosmtpd re-raises the listener's error (port in use, bad address)
        raise RuntimeError(f"cannot start the SMTP sink on {host}:{port}: {exc}") from exc
    return Sink(controller, host, port, maildir)


def serve(host: str, port: int, maildir: Path | str) -> int:
    """``boxes mail-sink``: the sink as a process of its own, until SIGTERM or SIGINT.

    ``boxes run`` supervises it like every other service (restarted if it dies); being a process
    rather than a thread of the supervisor also keeps the supervisor single-threaded, which its
    forks with a ``preexec_fn`` require. Returns 1 if the listener stops by itself."""
    import signal

    stop: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, frame: stop.append(signum))
    sink = start_smtp_sink(host, port, maildir)
    print(f"SMTP sink on {sink.host}:{sink.port}, messages in {sink.maildir}", flush=True)
    try:
        while not stop:
            if not sink.alive:
                return 1
            time.sleep(0.2)
    finally:
        sink.stop()
    return 0
