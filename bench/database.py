"""The benchmarks' own PostgreSQL databases: a fresh schema at the migrations' head, and the one dealer the
measured work belongs to."""

from __future__ import annotations

import sqlalchemy as sa


def _ensure_database(url: str) -> None:
    target = sa.engine.make_url(url)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}):
            conn.execute(sa.text(f'CREATE DATABASE "{target.database}"'))
    admin.dispose()


def fresh_schema(url: str) -> sa.Engine:
    """The database (created if missing) with its schema dropped and migrated again; its engine."""
    from boxes.migrate import upgrade

    _ensure_database(url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE"))
        conn.execute(sa.text("CREATE SCHEMA public"))
    upgrade(url)
    return engine


def add_dealer(conn, code: str = "BENCH") -> int:
    """An Argentine dealer with the settings a new one gets; its id."""
    return conn.scalar(sa.text(
        "INSERT INTO dealer (code, name, country, time_zone, locale, workshop_address, phone, email, "
        "first_service_months, first_service_km, support_contact, working_hours, created_at) VALUES "
        "(:code, 'Bench Motors', 'AR', 'America/Argentina/Buenos_Aires', 'es', '', '', '', 6, 10000, '', "
        "'{}', now()) RETURNING id"), {"code": code})
