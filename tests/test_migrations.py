"""The schema is the migrations': upgrade head works on both databases, matches the models, one head."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from boxes.db import Base, make_engine
from boxes.migrate import alembic_config, upgrade
from tests.conftest import scratch_postgres


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
    with scratch_postgres(postgres_url, "migration_check") as url:
        upgrade(url)
        assert _diff(url) == []
        engine = make_engine(url)
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
        engine.dispose()
        assert set(Base.metadata.tables) <= tables


def test_every_dealer_owned_table_has_dealer_id():
    # A login is the user's, whichever dealers they work for (what they may reach is their memberships).
    exempt = {"dealer", "user_account", "login_session", "alembic_version"}
    for name, table in Base.metadata.tables.items():
        if name in exempt:
            continue
        assert "dealer_id" in table.c, f"{name} has no dealer_id"
