"""The ``boxes`` command: run | worker | cron | demo | db | user | dms-simulator | oem-simulator | sync | mail-sink.

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


@user.command("group-admin")
@click.option("--email", required=True)
@click.option("--revoke", is_flag=True, help="Take the role away instead.")
def user_group_admin(email: str, revoke: bool) -> None:
    """Give (or take) the group-wide role: may reset the password of a user who works for several
    dealers. No page lets a dealer's admin set it."""
    from boxes.auth.service import UserError, set_group_admin
    from boxes.db import make_engine, make_sessionmaker

    session = make_sessionmaker(make_engine(_config().database_url))()
    try:
        changed = set_group_admin(session, email, not revoke)
    except UserError as exc:
        raise click.BadParameter(exc.message, param_hint=f"--{exc.field}") from exc
    click.echo(f"user {changed.email}: group admin {'yes' if changed.group_admin else 'no'}")


@user.command("reset-password")
@click.option("--email", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def user_reset_password(email: str, password: str) -> None:
    """Set any user's password (and reactivate the account); every open session of theirs ends."""
    from boxes.auth.service import UserError, operator_reset_password
    from boxes.db import make_engine, make_sessionmaker

    session = make_sessionmaker(make_engine(_config().database_url))()
    try:
        changed = operator_reset_password(session, email, password)
    except UserError as exc:
        raise click.BadParameter(exc.message, param_hint=f"--{exc.field}") from exc
    click.echo(f"user {changed.email}: password set, open sessions ended")


def _dealer_profiles(dealers: tuple[str, ...]) -> list:
    """A simulator's dealers from its ``--dealer CODE[:COUNTRY:TIME_ZONE]`` options, else the demo
    dealers. Unless told: country AR; the zone of Buenos Aires in Argentina, else of São Paulo."""
    from boxes.dms.simulator.demo import DEMO_DEALERS
    from boxes.dms.simulator.world_records import DealerProfile

    profiles = []
    for item in dealers or [f"{d['code']}:{d['country']}:{d['time_zone']}" for d in DEMO_DEALERS]:
        code, _, rest = item.partition(":")
        country, _, tz = rest.partition(":")
        country = country or "AR"
        tz = tz or ("America/Argentina/Buenos_Aires" if country == "AR" else "America/Sao_Paulo")
        profiles.append(DealerProfile(code=code, country=country, time_zone=tz))
    return profiles


def _set_faults(simulator, faults: tuple[str, ...]) -> None:
    """A simulator's ``--fault NAME=VALUE`` knobs (the last of a name wins); its fault draws seeded."""
    try:
        simulator.faults.update(dict(item.partition("=")[::2] for item in faults))
    except (KeyError, ValueError) as exc:
        raise click.BadParameter(f"unknown or bad fault {exc}", param_hint="--fault") from None
    simulator.fault_rng.seed(simulator.faults.seed)


@main.command("dms-simulator")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8765, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--vehicles", type=int, default=2000, show_default=True, help="Vehicles per dealer.")
@click.option("--dealer", "dealers", multiple=True, metavar="CODE[:COUNTRY:TIME_ZONE]",
              help="Dealer to simulate (repeatable; default: the demo dealers).")
@click.option("--clock", type=click.Choice(["real", "simulated"]), default="real", show_default=True)
@click.option("--tick-seconds", type=float, default=30.0, show_default=True, help="Real clock: seconds per tick.")
@click.option("--events-per-hour", type=float, default=40.0, show_default=True)
@click.option("--client-id", default="boxes", show_default=True)
@click.option("--client-secret", default="simulator", show_default=True)
@click.option("--fault", "faults", multiple=True, metavar="NAME=VALUE",
              help="Fault knob, e.g. --fault error_rate=0.2 (latency_ms, error_rate, timeout_rate, "
                   "timeout_seconds, truncate_rate, duplicate_rate, malformed_rate, out_of_order_rate, token_ttl).")
def dms_simulator(host, port, seed, vehicles, dealers, clock, tick_seconds, events_per_hour, client_id,
                  client_secret, faults) -> None:
    """The built-in DMS: a living workshop served in the feed v1 format (docs/integrations.md)."""
    from boxes.dms.simulator.living import LivingDms
    from boxes.dms.simulator.server import serve

    profiles = _dealer_profiles(dealers)
    dms = LivingDms(profiles, seed=seed, vehicles=vehicles, events_per_hour=events_per_hour)
    _set_faults(dms, faults)

    def ready(address):
        click.echo(f"DMS simulator on http://{address[0]}:{address[1]}/feed/v1/<dealer code>/ "
                   f"(dealers {', '.join(p.code for p in profiles)}; clock {clock})", err=False)

    serve(host, port, dms, clock=clock, tick_seconds=tick_seconds, client_id=client_id,
          client_secret=client_secret, ready=ready)


@main.command("oem-simulator")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8766, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True, help="The DMS simulator's seed: the same customers.")
@click.option("--vehicles", type=int, default=2000, show_default=True, help="The DMS simulator's vehicles per dealer.")
@click.option("--dealer", "dealers", multiple=True, metavar="CODE[:COUNTRY:TIME_ZONE]",
              help="Dealer to simulate (repeatable; default: the demo dealers).")
@click.option("--clock", type=click.Choice(["real", "simulated"]), default="real", show_default=True)
@click.option("--tick-seconds", type=float, default=30.0, show_default=True, help="Real clock: seconds per tick.")
@click.option("--leads-per-hour", type=float, default=6.0, show_default=True, help="New leads per dealer and hour.")
@click.option("--backlog", type=int, default=20, show_default=True,
              help="Leads per dealer already there at start (of the last three days).")
@click.option("--client-id", default="boxes", show_default=True)
@click.option("--client-secret", default="simulator", show_default=True)
@click.option("--fault", "faults", multiple=True, metavar="NAME=VALUE",
              help="Fault knob, e.g. --fault rate_limit_rate=0.1 (docs/integrations.md lists them).")
def oem_simulator(host, port, seed, vehicles, dealers, clock, tick_seconds, leads_per_hour, backlog, client_id,
                  client_secret, faults) -> None:
    """The OEM's CRM (Salesforce-like): leads for the dealers, status events back (docs/integrations.md)."""
    from boxes.oem.simulator.living import LivingOem
    from boxes.oem.simulator.server import serve

    profiles = _dealer_profiles(dealers)
    oem = LivingOem(profiles, seed=seed, vehicles=vehicles, clock=clock, leads_per_hour=leads_per_hour,
                    backlog=backlog, client_id=client_id, client_secret=client_secret)
    _set_faults(oem, faults)

    def ready(address):
        click.echo(f"OEM simulator on http://{address[0]}:{address[1]}/ (dealers "
                   f"{', '.join(p.code for p in profiles)}; clock {clock})")

    serve(host, port, oem, tick_seconds=tick_seconds, ready=ready)


@main.command("mail-sink")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, required=True)
@click.option("--dir", "maildir", required=True, type=click.Path(file_okay=False), help="Where to store .eml files.")
def mail_sink(host: str, port: int, maildir: str) -> None:
    """The local SMTP sink of embedded mode: keeps every message as an .eml file, relays nothing."""
    from boxes.mailsink import serve

    sys.exit(serve(host, port, maildir))


@main.command("sync")
@click.option("--dealer", "codes", multiple=True, metavar="CODE", help="Dealer code (default: every dealer).")
def sync(codes: tuple[str, ...]) -> None:
    """Run the DMS sync now, in this process (the scheduled one runs in the worker)."""
    from sqlalchemy import select

    from boxes.db import make_engine, make_sessionmaker
    from boxes.dms.connectors.base import ConnectorError
    from boxes.dms.sync.runs import sync_dealer
    from boxes.models import Dealer
    from jobs.runtime import redis_connection, tune_interpreter

    tune_interpreter()  # as the worker runs it
    config = _config()
    session = make_sessionmaker(make_engine(config.database_url))()
    redis = redis_connection(config.redis_url)
    query = select(Dealer).order_by(Dealer.code)
    if codes:
        query = query.where(Dealer.code.in_(codes))
    failed = False
    for dealer in session.scalars(query).all():
        try:
            runs = sync_dealer(session, dealer, redis=redis, trigger="manual", config=config)
            summary = ", ".join(f"{r.entity} +{r.inserted} ~{r.updated} ={r.unchanged} !{r.quarantined}" for r in runs)
            click.echo(f"{dealer.code}: {summary}")
        except ConnectorError as exc:
            failed = True
            click.echo(f"{dealer.code}: failed: {exc}", err=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
