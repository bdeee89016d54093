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


def test_0013_spells_discard_reasons_oem_reason_as_the_oems_list(tmp_path):
    """A discard reason's OEM reason typed before it was a choice: another case is put right, a value the
    OEM's list does not have is cleared (the admin maps it again), none stays none."""
    url = f"sqlite:///{tmp_path / 'm.db'}"
    upgrade(url, "0008")
    engine = make_engine(url)
    typed = {"a": "price", "b": " VehicleSold ", "c": "Preço alto", "d": None, "e": "NotInterested"}
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO dealer (id, code, name, country, time_zone, locale, workshop_address, phone, "
                             "email, first_service_months, first_service_km, support_contact, working_hours, "
                             "created_at) VALUES (1, 'AR01', 'A', 'AR', 'UTC', 'es', '', '', '', 6, 10000, '', '{}', "
                             "'2025-01-01 00:00:00')"))
        for position, (code, oem) in enumerate(typed.items()):
            conn.execute(sa.text("INSERT INTO discard_reason (dealer_id, code, label_es, label_pt_br, label_en, "
                                 "oem_reason, active, position) VALUES (1, :code, :code, :code, :code, :oem, 1, :p)"),
                         {"code": code, "oem": oem, "p": position})
    upgrade(url)
    with engine.connect() as conn:
        found = dict(conn.execute(sa.text("SELECT code, oem_reason FROM discard_reason")).all())
    engine.dispose()
    assert found == {"a": "Price", "b": "VehicleSold", "c": None, "d": None, "e": "NotInterested"}
