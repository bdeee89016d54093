"""The ``boxes`` command: run | worker | cron | demo | db | user.

Every command builds its configuration from the environment (``boxes.config``), so the same
command works in embedded mode and in production.
"""

from __future__ import annotations

import sys

import click

from boxes.config import Config


def _config() -> Config:
    return Config.from_env()


@click.group()
def main() -> None:
    """Boxes: the active after-sales scheduling board."""


@main.command()
@click.option("--port", type=int, default=None, help="Web server port (default BOXES_PORT, 5000).")
@click.option("--no-simulator", is_flag=True, help="Do not start the built-in DMS simulator.")
def run(port: int | None, no_simulator: bool) -> None:
    """Start everything in embedded mode: Redis, SMTP sink, worker, cron and the web server."""
    from boxes.embedded import run as run_embedded

    overrides = {"port": port} if port else {}
    sys.exit(run_embedded(Config.from_env(**overrides), simulator=not no_simulator))


@main.command()
def worker() -> None:
    """An RQ worker (with scheduler) on every Boxes queue."""
    from jobs.runtime import run_worker

    sys.exit(run_worker(_config()))


@main.command()
def cron() -> None:
    """The one `rq cron` process of the installation (periodic jobs in jobs/cron.py)."""
    from jobs.runtime import run_cron

    sys.exit(run_cron(_config()))


@main.command()
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--vehicles", type=int, default=2000, show_default=True, help="Vehicles per dealer set.")
@click.option("--if-empty", is_flag=True, help="Load only when the database has no dealer yet.")
def demo(seed: int, vehicles: int, if_empty: bool) -> None:
    """Load the deterministic demo dataset: two dealers (AR, BR), one user per role."""
    from boxes.dms.simulator.demo import load_demo

    config = _config()
    loaded = load_demo(config, seed=seed, vehicles=vehicles, if_empty=if_empty)
    click.echo(loaded)


@main.group()
def db() -> None:
    """Database schema (Alembic)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION."""
    from boxes.migrate import upgrade

    config = _config()
    config.instance_dir.mkdir(parents=True, exist_ok=True)
    upgrade(config.database_url, revision)
    click.echo(f"database at {revision}")


@db.command("revision")
@click.option("-m", "--message", required=True)
def db_revision(message: str) -> None:
    """Autogenerate a migration from the models (developers)."""
    from boxes.migrate import revision

    revision(_config().database_url, message)


@main.group()
def user() -> None:
    """Users and memberships."""


@user.command("create")
@click.option("--email", required=True)
@click.option("--name", default="")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--locale", type=click.Choice(["es", "pt_BR", "en"]), default=None)
@click.option("--dealer", "dealer_roles", multiple=True, metavar="CODE:ROLE",
              help="Membership, e.g. --dealer AR01:caller (repeatable).")
def user_create(email: str, name: str, password: str, locale: str | None, dealer_roles: tuple[str, ...]) -> None:
    """Create a user (argon2id password hash) with memberships."""
    from sqlalchemy import select

    from boxes.auth.service import UserError, create_user
    from boxes.db import make_engine, make_sessionmaker
    from boxes.models import Dealer

    config = _config()
    session = make_sessionmaker(make_engine(config.database_url))()
    memberships = []
    for item in dealer_roles:
        code, _, role = item.partition(":")
        dealer = session.scalar(select(Dealer).where(Dealer.code == code))
        if dealer is None:
            raise click.BadParameter(f"no dealer with code {code!r}", param_hint="--dealer")
        memberships.append((dealer, role))
    try:
        created = create_user(session, email=email, name=name, password=password, locale=locale,
                              memberships=memberships)
    except UserError as exc:
        raise click.BadParameter(exc.message, param_hint=f"--{exc.field}") from exc
    click.echo(f"user {created.email} created (id {created.id})")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
