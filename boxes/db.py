"""Engine, sessions, the declarative base and the tenant guard.

Sessions come from a plain ``sessionmaker`` so jobs and CLI commands use them without Flask.

Tenancy: every dealer-owned model inherits :class:`DealerOwned`. A session whose
``info["dealer_id"]`` is set (every web request for a dealer does it) adds
``dealer_id = :id`` to every ORM SELECT of such a model, so a query that forgot its dealer
filter still cannot read another dealer's rows. Services keep their explicit filters too: the
guard is the safety net, not the rule.
"""

from __future__ import annotations

import sys
import weakref
from datetime import UTC, datetime

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    bindparam,
    create_engine,
    event,
    insert,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    sessionmaker,
    with_loader_criteria,
)
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """An instant. Stored as UTC (timestamptz on PostgreSQL), always returned tz-aware in UTC.

    SQLite has no time zone type; storing naive UTC there and re-attaching UTC on the way out
    keeps comparisons and window arithmetic identical on both databases.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


if sys.version_info < (3, 12):
    # CPython 3.11 frees memory it still reads when, while an attribute store turns an object's
    # inline attribute values into a real __dict__, the allocation runs the cyclic GC and a weakref
    # callback stores an attribute on that same object (tests/test_db.py has the 20-line proof; 3.12
    # rewrote that code). SQLAlchemy's ORM does exactly this: each loaded object's InstanceState
    # holds it through a weakref whose callback (``_cleanup``) sets attributes on the state, and
    # closing a session stores ``_strong_obj`` on every state. When a request's objects are only
    # kept by reference cycles (Jinja's render context is one), the collector frees them in the
    # middle of that store: the process crashes (seen serving 50-row board pages on PostgreSQL).
    # Giving each state a real __dict__ while its object is certainly alive removes the window:
    # later stores are plain dict inserts, which never allocate a GC-tracked object.
    from sqlalchemy.orm.base import instance_state

    def _materialize_state_dict(target, *_args) -> None:
        instance_state(target).__dict__  # noqa: B018 - reading it is what materializes it

    for _event in ("init", "load"):
        event.listen(Base, _event, _materialize_state_dict, propagate=True)


class DealerOwned:
    """Mixin of every table that belongs to one dealer."""

    dealer_id: Mapped[int] = mapped_column(Integer, ForeignKey("dealer.id", ondelete="CASCADE"), index=False)


def make_engine(url: str, **kwargs) -> Engine:
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            # WAL lets the web server read while a job writes; foreign keys are off by default.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()
            # Case- and accent-insensitive text filters (boxes.textmatch): SQLite's lower() is ASCII only.
            from boxes.textmatch import register_sqlite

            register_sqlite(dbapi_conn)

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


# The guard's criterion compares with a bound parameter, not a value: the guarded copy of a statement
# is then the same for every dealer and is made once per statement object (the board's statements
# are built once per process, and their SQL compiled once), and each execution only passes the id.
_TENANT = bindparam("tenant_dealer_id", type_=Integer)
_TENANT_CRITERIA = with_loader_criteria(DealerOwned, lambda cls: cls.dealer_id == _TENANT, include_aliases=True)
_GUARDED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # statement → statement with the guard


@event.listens_for(Session, "do_orm_execute")
def _tenant_guard(state):
    dealer_id = state.session.info.get("dealer_id")
    if dealer_id is None or not state.is_select:
        return
    statement = state.statement
    guarded = _GUARDED.get(statement)
    if guarded is None:
        guarded = _GUARDED[statement] = statement.options(_TENANT_CRITERIA)
    state.statement = guarded
    state.parameters = {**(state.parameters or {}), "tenant_dealer_id": dealer_id}


def upsert(session: Session, model, rows: list[dict], index_elements: list[str], update,
           where=None, returning=None):
    """INSERT ... ON CONFLICT DO UPDATE on SQLite and PostgreSQL alike.

    ``update`` is a list of column names set from the incoming row, or a dict name → callable
    ``(excluded, table) -> expression`` (e.g. keep a value Boxes owns, bump a version).
    ``where`` (a callable taking the ``excluded`` pseudo-table, or ``(excluded, table)``) guards the
    update, e.g. so an older DMS version never overwrites a newer one. ``returning`` (columns or
    expressions) makes the result return the inserted and updated rows (not the ones the guard kept).
    """
    if not rows:
        return None
    dialect = session.get_bind().dialect.name
    table = model.__table__
    if dialect == "postgresql":
        stmt = postgresql.insert(table).values(rows)
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).values(rows)
    else:  # pragma: no cover - only the two databases are supported
        return session.execute(insert(table), rows)
    excluded = stmt.excluded
    if isinstance(update, dict):
        set_ = {name: (value(excluded, table) if callable(value) else value) for name, value in update.items()}
    else:
        set_ = {name: excluded[name] for name in update}
    guard = None
    if where is not None:
        import inspect

        guard = where(excluded, table) if len(inspect.signature(where).parameters) == 2 else where(excluded)
    stmt = stmt.on_conflict_do_update(index_elements=index_elements, set_=set_, where=guard)
    if returning is not None:
        stmt = stmt.returning(*returning)
    return session.execute(stmt)
