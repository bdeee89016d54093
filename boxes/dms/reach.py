"""The boundaries of one dealer's connector (:mod:`boxes.dms.connectors.boundaries`), from the
operator's settings and what the database knows: Boxes' own database (the one this session is
bound to, whatever the settings say) and the other dealers' connectors. Used by the sync (every
run) and by Integrations → DMS (at save time), so both refuse the same settings."""

from __future__ import annotations

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from boxes.dms.connectors.boundaries import Boundaries
from boxes.models import Dealer, DmsConnector


def operator_config(config=None):
    """The operator's settings: the app's or the job's, else the environment (a worker's)."""
    if config is not None:
        return config
    from boxes.config import Config

    return Config.from_env(secret_key="")  # the connectors sign nothing: no key needed (nor generated)


def boundaries(session: Session, dealer: Dealer, config=None, *, kind: str | None = None) -> Boundaries:
    config = operator_config(config)
    bind = session.get_bind()
    own_identity = None
    if kind == "sql" and bind.dialect.name == "postgresql":
        # The server's own name for this database: another spelling of its address is still it.
        own_identity = tuple(session.execute(text(
            "SELECT system_identifier::text, current_database() FROM pg_control_system()")).one())
    # Core columns, not the mapped class: these are other dealers' rows, read only to compare with
    # (the tenant guard keeps ORM selects of a dealer's request to that dealer).
    t = DmsConnector.__table__
    others = session.execute(select(t.c.kind, t.c.settings, t.c.secrets).where(t.c.dealer_id != dealer.id)).all()
    return Boundaries.of(config, dealer.code, own_database=bind.url.render_as_string(hide_password=False),
                         own_identity=own_identity,
                         others=[(k, dict(s or {}), dict(x or {})) for k, s, x in others])
