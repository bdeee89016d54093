"""The ``sql`` connector: one read-only SELECT per entity on the DMS's own database.

Settings: ``queries`` (entity → SQL), ``db_time_zone`` (the zone of the DMS's naive date-times,
default UTC), ``page_size``; secret: ``url`` (a SQLAlchemy URL, e.g.
``mysql+pymysql://boxes:…@dms-host/dms``). Each query returns columns named as the feed-v1 fields
(aliases: ``SELECT os.numero AS number, …``) and must filter and order on the version column with
the ``:cursor`` parameter::

    SELECT … , updated_at AS dms_updated_at FROM v_ordens
    WHERE updated_at >= :cursor ORDER BY updated_at

``:cursor`` is the ``dms_updated_at`` of the last stored page (``1970-01-01 00:00:00`` on a
first run), as DMS-local text; rows with that very time are read again and count as unchanged.
A repair order's ``lines`` column, when present, is JSON text (a list of line objects).

What it reaches (:mod:`boxes.dms.connectors.boundaries`): PostgreSQL, MySQL/MariaDB, or a SQLite
file inside the dealer's connector folder; never Boxes' own database (checked on the address, and
on PostgreSQL again on the server's identity once connected) nor the database another dealer's
connector reads with the same user; only the operator's allowed hosts.

How it reads: every connection is read-only with a statement timeout
(``BOXES_CONNECTOR_SQL_TIMEOUT_SECONDS``) — PostgreSQL ``default_transaction_read_only`` and
``statement_timeout`` as connection options; MySQL/MariaDB ``SET SESSION TRANSACTION READ ONLY``
and ``max_statement_time`` / ``max_execution_time``; SQLite opened ``mode=ro`` with
``query_only`` and a progress handler that interrupts a statement past the timeout. Only one
SELECT (or WITH … SELECT) per entity, no ``INTO OUTFILE``; the transaction is rolled back.

Errors name the entity and the kind of failure with its SQLSTATE (or the server's error number),
never the database's message: it can quote the data (``invalid input syntax for type integer:
"<a customer's name>"``), so it goes to the server log only.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from boxes.dms.connectors.base import ConfigurationError, Page, TransportError
from boxes.dms.connectors.boundaries import OWN_DATABASE, Boundaries, OutOfBounds

log = logging.getLogger("boxes.dms.connectors.sql")

START = "1970-01-01 00:00:00"
DATE_FIELDS = {"delivered_at", "scheduled_at", "arrived_at", "opened_at", "promised_at", "dms_updated_at"}
_LEADING = re.compile(r"^\s*(--[^\n]*\n\s*|/\*.*?\*/\s*)*", re.S)
_INTO_FILE = re.compile(r"\binto\s+(outfile|dumpfile)\b", re.I)
CONNECT_TIMEOUT = 10

# What went wrong, by kind: (message, retried?). A retried kind is a TransportError (the job's
# Retry runs it again), the others a ConfigurationError (only an admin can fix them).
KINDS = {
    "syntax": ("the query is not valid SQL for this database", False),
    "undefined": ("the query names a table, column or function the database does not have", False),
    "privilege": ("the database user may not read what the query names", False),
    "data": ("the query failed on a value it could not convert (a data error)", False),
    "timeout": ("the query ran longer than {timeout} (BOXES_CONNECTOR_SQL_TIMEOUT_SECONDS)", False),
    "read_only": ("the query tried to write or lock: the connector only reads", False),
    "connection": ("the connection to the DMS database was lost", True),
    "busy": ("the DMS database is busy or restarting", True),
    "other": ("the query failed", False),
}
POSTGRES = {"42601": "syntax", "42P01": "undefined", "42703": "undefined", "42883": "undefined",
            "42704": "undefined", "3F000": "undefined", "42501": "privilege", "57014": "timeout",
            "25006": "read_only"}
POSTGRES_CLASSES = {"22": "data", "08": "connection", "53": "busy", "57": "busy", "40": "busy", "42": "syntax"}
MYSQL = {1064: "syntax", 1149: "syntax", 1146: "undefined", 1054: "undefined", 1305: "undefined",
         1049: "undefined", 1142: "privilege", 1143: "privilege", 1044: "privilege", 1227: "privilege",
         1292: "data", 1366: "data", 1264: "data", 1690: "data", 1365: "data", 1969: "timeout", 3024: "timeout",
         1792: "read_only", 2006: "connection", 2013: "connection", 2055: "connection", 1205: "busy",
         1213: "busy", 1040: "busy", 1053: "busy"}
SQLITE = {"SQLITE_INTERRUPT": "timeout", "SQLITE_READONLY": "read_only", "SQLITE_BUSY": "busy",
          "SQLITE_LOCKED": "busy", "SQLITE_AUTH": "privilege", "SQLITE_MISMATCH": "data",
          "SQLITE_CORRUPT": "other", "SQLITE_IOERR": "connection"}


def read_only_sql(sql: str) -> bool:
    body = _LEADING.sub("", sql).lstrip("(").lower()
    return (body.startswith(("select", "with")) and ";" not in sql.strip().rstrip(";")
            and not _INTO_FILE.search(sql))


def _codes(error) -> tuple[str | None, int | None, str | None]:
    """(SQLSTATE, server error number, SQLite error name) of a driver error, whichever it has."""
    sqlstate = getattr(error, "sqlstate", None)
    number = None
    args = getattr(error, "args", ())
    if args and isinstance(args[0], int):  # PyMySQL: (errno, message)
        number = args[0]
    return sqlstate, number, getattr(error, "sqlite_errorname", None)


def classify(error) -> str:
    """The kind of a driver error (see KINDS), from its codes; SQLite has one code for most
    query errors, so there the message's first words decide (they name no data)."""
    sqlstate, number, sqlite_name = _codes(error)
    if sqlite_name:
        if sqlite_name in SQLITE:
            return SQLITE[sqlite_name]
        message = str(error).lower()
        if message.startswith(("no such table", "no such column", "no such function")):
            return "undefined"
        if "syntax error" in message or message.startswith(("near ", "incomplete input", "unrecognized token")):
            return "syntax"
        if message.startswith(("malformed json", "integer overflow")):
            return "data"
        return "other"
    if number is not None and number in MYSQL:
        return MYSQL[number]
    if sqlstate:
        return POSTGRES.get(sqlstate) or POSTGRES_CLASSES.get(sqlstate[:2], "other")
    return "other"


class SqlConnector:
    kind = "sql"

    def __init__(self, settings: dict, secrets: dict, *, boundaries: Boundaries):
        url = secrets.get("url") or settings.get("url")
        if not url:
            raise ConfigurationError("url: the DMS database address is not set")
        self.boundaries = boundaries
        self.url = boundaries.database(url)  # refused here when it is out of the dealer's reach
        self.queries = settings.get("queries") or {}
        for entity, sql in self.queries.items():
            if not isinstance(sql, str) or not read_only_sql(sql):
                raise ConfigurationError(f"queries.{entity}: only one SELECT (or WITH … SELECT) is allowed")
        self.tz = ZoneInfo(settings.get("db_time_zone") or "UTC")
        self.page_size = int(settings.get("page_size") or 1000)
        self.timeout = float(boundaries.sql_timeout_seconds)
        self.family = self.url.get_backend_name()
        try:
            self.engine = self._engine()
        except (SQLAlchemyError, ValueError, ImportError) as exc:
            raise ConfigurationError(f"url: not a usable database address ({exc.__class__.__name__})") from None
        self._deadline = 0.0

    # ------------------------------------------------------------------------- connecting
    def _engine(self):
        ms = max(1, int(self.timeout * 1000))
        if self.family == "sqlite":
            path = self.url.database

            def connect():
                conn = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, check_same_thread=False,
                                       timeout=CONNECT_TIMEOUT)
                conn.execute("PRAGMA query_only = ON")
                conn.set_progress_handler(self._past_deadline, 10_000)
                return conn

            return create_engine("sqlite://", creator=connect, poolclass=NullPool)
        if self.family == "postgresql":
            args = {"connect_timeout": CONNECT_TIMEOUT,
                    "options": f"-c default_transaction_read_only=on -c statement_timeout={ms}"}
            return create_engine(self.url, poolclass=NullPool, connect_args=args)
        # MySQL / MariaDB: the read timeout only catches a dead server; the statement timeout is
        # the server's own, set on every connection below.
        args = {"connect_timeout": CONNECT_TIMEOUT, "read_timeout": int(self.timeout) + 60, "local_infile": False}
        engine = create_engine(self.url, poolclass=NullPool, connect_args=args)

        @event.listens_for(engine, "connect")
        def _limits(dbapi_connection, _record):
            mariadb = "mariadb" in (dbapi_connection.get_server_info() or "").lower()
            with dbapi_connection.cursor() as cur:
                cur.execute("SET SESSION TRANSACTION READ ONLY")
                if mariadb:
                    cur.execute(f"SET SESSION max_statement_time = {self.timeout:.3f}")
                else:
                    cur.execute(f"SET SESSION max_execution_time = {ms}")

        return engine

    def _past_deadline(self) -> int:
        return 1 if self._deadline and time.monotonic() > self._deadline else 0

    def _arm(self) -> None:
        """SQLite's statement timeout: each step of the statement (its start, each page fetched)
        may take up to the timeout."""
        self._deadline = time.monotonic() + self.timeout

    def _check_identity(self, conn) -> None:
        """PostgreSQL: whatever name the address used, the server says which database this is."""
        own = self.boundaries.own_identity
        if self.family != "postgresql" or own is None:
            return
        found = tuple(conn.exec_driver_sql(
            "SELECT system_identifier::text, current_database() FROM pg_control_system()").one())
        if found == tuple(own):
            raise OutOfBounds("url", OWN_DATABASE, "this is Boxes' own database")

    # ----------------------------------------------------------------------------- errors
    def _failure(self, entity: str, exc: Exception) -> Exception:
        error = getattr(exc, "orig", None) or exc.__cause__ or exc
        kind = classify(error)
        sqlstate, number, sqlite_name = _codes(error)
        message, retried = KINDS[kind]
        message = message.format(timeout=f"{self.timeout:g} s")
        code = (f"SQLSTATE {sqlstate}" if sqlstate and number is None else
                f"SQLSTATE {sqlstate}, error {number}" if sqlstate else
                f"error {number}" if number is not None else sqlite_name)
        text_ = f"{entity}: {message}" + (f" ({code})" if code else "")
        # The database's own words can quote the data: the server log only, never the page.
        log.warning("sql connector, %s: %s: %s", entity, error.__class__.__name__, error)
        return TransportError(text_) if retried else ConfigurationError(text_)

    # --------------------------------------------------------------------------- values
    def _value(self, name: str, value):
        if name in DATE_FIELDS and isinstance(value, str):
            try:
                value = datetime.fromisoformat(value.strip())
            except ValueError:
                return value  # quarantined by validation, with its reason
        if isinstance(value, datetime):
            local = value if value.tzinfo else value.replace(tzinfo=self.tz)
            try:
                return local.astimezone(UTC).isoformat()
            except OverflowError:  # year 9999 (or 1) near a zone: validation quarantines it with its reason
                return local.isoformat()
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if name == "lines" and isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value  # quarantined by validation, with its reason
        return value

    def _cursor_of(self, value) -> str | None:
        if isinstance(value, datetime):
            try:
                local = value.astimezone(self.tz).replace(tzinfo=None) if value.tzinfo else value
            except OverflowError:  # a year-9999 stamp: kept as it is rather than stopping every run
                local = value.replace(tzinfo=None)
            return local.isoformat(sep=" ")
        return str(value) if value is not None else None

    # ----------------------------------------------------------------------------- pages
    def pages(self, entity: str, cursor: str | None) -> Iterator[Page]:
        sql = self.queries.get(entity)
        if not sql:
            yield Page([], cursor)  # this DMS does not export the entity
            return
        try:
            self._arm()
            conn = self.engine.connect()
        except DBAPIError as exc:
            # One message whatever the reason (no such host, port closed, credentials refused):
            # an admin's connector is not a way to map which servers answer. Details: server log.
            log.warning("sql connector, %s: cannot connect: %s", entity, getattr(exc, "orig", exc))
            raise TransportError(f"{entity}: cannot connect to the DMS database (no answer, or it refused the "
                                 "connection or the credentials)") from None
        try:
            self._check_identity(conn)
            try:
                self._arm()
                result = conn.execution_options(stream_results=True).execute(text(sql), {"cursor": cursor or START})
            except SQLAlchemyError as exc:
                raise self._failure(entity, exc) from None
            names = list(result.keys())
            if "dms_updated_at" not in names:
                raise ConfigurationError(f"queries.{entity}: no dms_updated_at column")
            at = names.index("dms_updated_at")
            while True:
                try:
                    self._arm()
                    rows = result.fetchmany(self.page_size)
                except SQLAlchemyError as exc:
                    raise self._failure(entity, exc) from None
                self._deadline = 0.0
                if not rows:
                    break
                records = [{n: self._value(n, v) for n, v in zip(names, row, strict=True)} for row in rows]
                cursor = self._cursor_of(rows[-1][at]) or cursor
                yield Page(records, cursor)
            conn.rollback()
        finally:
            self._deadline = 0.0
            conn.close()

    def close(self) -> None:
        self.engine.dispose()
