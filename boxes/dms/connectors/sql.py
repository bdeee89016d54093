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

The session is made read-only where the database supports it (MySQL/MariaDB ``SET SESSION
TRANSACTION READ ONLY``, PostgreSQL ``SET TRANSACTION READ ONLY``, SQLite ``PRAGMA query_only``),
only SELECT/WITH statements are accepted, and the transaction is rolled back at the end.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from boxes.dms.connectors.base import ConfigurationError, Page, TransportError

START = "1970-01-01 00:00:00"
DATE_FIELDS = {"delivered_at", "scheduled_at", "arrived_at", "opened_at", "promised_at", "dms_updated_at"}
_LEADING = re.compile(r"^\s*(--[^\n]*\n\s*|/\*.*?\*/\s*)*", re.S)


def _read_only_sql(sql: str) -> bool:
    body = _LEADING.sub("", sql).lstrip("(").lower()
    return body.startswith(("select", "with")) and ";" not in sql.strip().rstrip(";")


class SqlConnector:
    kind = "sql"

    def __init__(self, settings: dict, secrets: dict):
        url = secrets.get("url") or settings.get("url")
        if not url:
            raise ConfigurationError("url: the DMS database address is not set")
        self.queries = settings.get("queries") or {}
        for entity, sql in self.queries.items():
            if not isinstance(sql, str) or not _read_only_sql(sql):
                raise ConfigurationError(f"queries.{entity}: only one SELECT (or WITH … SELECT) is allowed")
        self.tz = ZoneInfo(settings.get("db_time_zone") or "UTC")
        self.page_size = int(settings.get("page_size") or 1000)
        connect_args = {}
        if url.startswith("mysql"):
            connect_args = {"connect_timeout": 10, "read_timeout": 300}
        elif url.startswith("postgresql"):
            connect_args = {"connect_timeout": 10}
        try:
            self.engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)
        except (SQLAlchemyError, ValueError, ImportError) as exc:
            raise ConfigurationError(f"url: not a usable database address ({exc.__class__.__name__})") from None

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

    def pages(self, entity: str, cursor: str | None) -> Iterator[Page]:
        sql = self.queries.get(entity)
        if not sql:
            yield Page([], cursor)  # this DMS does not export the entity
            return
        try:
            conn = self.engine.connect()
        except (OperationalError, DBAPIError) as exc:
            raise TransportError(f"{entity}: cannot reach the DMS database ({exc.__class__.__name__})") from None
        try:
            dialect = self.engine.dialect.name
            if dialect in ("mysql", "mariadb"):
                conn.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")
                conn.commit()
            elif dialect == "sqlite":
                conn.exec_driver_sql("PRAGMA query_only = ON")
                conn.commit()
            if dialect == "postgresql":
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            try:
                result = conn.execution_options(stream_results=True).execute(text(sql), {"cursor": cursor or START})
            except OperationalError as exc:
                raise TransportError(f"{entity}: the DMS database failed ({exc.__class__.__name__})") from None
            except SQLAlchemyError as exc:
                raise ConfigurationError(f"queries.{entity}: {str(exc.__cause__ or exc)[:300]}") from None
            names = list(result.keys())
            if "dms_updated_at" not in names:
                raise ConfigurationError(f"queries.{entity}: no dms_updated_at column")
            at = names.index("dms_updated_at")
            while True:
                try:
                    rows = result.fetchmany(self.page_size)
                except OperationalError as exc:
                    raise TransportError(f"{entity}: the DMS database failed ({exc.__class__.__name__})") from None
                if not rows:
                    break
                records = [{n: self._value(n, v) for n, v in zip(names, row, strict=True)} for row in rows]
                cursor = self._cursor_of(rows[-1][at]) or cursor
                yield Page(records, cursor)
            conn.rollback()
        finally:
            conn.close()

    def close(self) -> None:
        self.engine.dispose()
