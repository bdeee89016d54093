"""The schema is the migrations': upgrade head works on both databases, matches the models, one head."""

from __future__ import annotations

import os

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from boxes.db import Base, make_engine
from boxes.migrate import alembic_config, upgrade


def _diff(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            return compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()


def test_one_head():
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


def test_upgrade_head_on_sqlite_matches_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url)
    assert _diff(url) == []


def test_upgrade_head_on_postgresql_matches_models(postgres_url):
    # A database of its own, so the suite's schema is untouched.
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    name = f"boxes_migration_check_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    url = postgres_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade(url)
        assert _diff(url) == []
        engine = make_engine(url)
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
        engine.dispose()
        assert set(Base.metadata.tables) <= tables
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def test_every_dealer_owned_table_has_dealer_id():
    exempt = {"dealer", "user_account", "alembic_version"}
    for name, table in Base.metadata.tables.items():
        if name in exempt:
            continue
        assert "dealer_id" in table.c, f"{name} has no dealer_id"
