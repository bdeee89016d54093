"""The demo: two dealers (Argentina, Brazil), one user per role, and a generated world each.

``boxes demo`` calls :func:`load_demo`; tests call :func:`load_dataset` with their own session
to get a realistic dataset. Both go through :class:`RowBuilder`, which the benchmarks reuse to
stream the same rows into PostgreSQL with ``COPY``.

Rows get their ids here rather than from the database, so references between the generated
records (vehicle → customer, line → RO, call → its board row, ...) resolve without a round
trip. :func:`load_dataset` starts after the highest id of each table and moves the PostgreSQL
sequences past what it inserted; it expects no other writer meanwhile (demo load, test setup).
"""

from __future__ import annotations

import time as clock
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta

from sqlalchemy import insert, select, text, update
from sqlalchemy.orm import Session

from boxes.db import make_engine, make_sessionmaker, utcnow
from boxes.dms.simulator.generator import World
from boxes.dms.simulator.world_records import DealerProfile, VehicleBundle
from boxes.models import Campaign, Dealer, DiscardReason, Membership, User
from boxes.oem.simulator.embedded import connect_demo_dealers as connect_oem_simulator

DEMO_PASSWORD = "boxes-demo-2025"  # noqa: S105 - the published demo password
# (email, password, role): each one a member of both demo dealers with that role.
DEMO_USERS: list[tuple[str, str, str]] = [
    ("caller@demo.boxes", DEMO_PASSWORD, "caller"),
    ("manager@demo.boxes", DEMO_PASSWORD, "manager"),
    ("campaigns@demo.boxes", DEMO_PASSWORD, "campaigns"),
    ("admin@demo.boxes", DEMO_PASSWORD, "admin"),
]
DEMO_USER_NAMES = {
    "caller": "Lucía Fernández",
    "manager": "Martín Gómez",
    "campaigns": "Paula Souza",
    "admin": "Admin Demo",
}
DEMO_DEALERS: list[dict] = [
    dict(
        code="AR-BA01",
        name="Autos del Sur (Buenos Aires)",
        country="AR",
        time_zone="America/Argentina/Buenos_Aires",
        locale="es",
        workshop_address="Av. Hipólito Yrigoyen 8450, B1832 Lomas de Zamora, Buenos Aires",
        phone="+54 11 4292-5500",
        email="posventa@autosdelsur.example.com",
        first_service_months=6,
        first_service_km=10_000,
        support_contact="Mesa de ayuda Boxes: soporte@autosdelsur.example.com",
    ),
    dict(
        code="BR-SP01",
        name="Auto Sul Veículos (São Paulo)",
        country="BR",
        time_zone="America/Sao_Paulo",
        locale="pt_BR",
        workshop_address="Av. Interlagos, 3500 - Jardim Umuarama, São Paulo - SP, 04661-200",
        phone="+55 11 5660-7700",
        email="posvenda@autosul.example.com",
        first_service_months=6,
        first_service_km=10_000,
        support_contact="Suporte Boxes: suporte@autosul.example.com",
    ),
]

# Column order of every generated table (the COPY column lists of the benchmarks too).
COLUMNS: dict[str, tuple[str, ...]] = {
    "customer": ("id", "dealer_id", "dms_id", "name", "phone_mobile", "phone_home", "phone_work", "email",
                 "contact_opt_out", "dms_updated_at", "created_at"),
    "vehicle": ("id", "dealer_id", "dms_id", "vin", "plate", "brand", "model", "version", "model_year", "mileage",
                "sold_on", "customer_id", "dms_updated_at", "created_at"),
    "delivery": ("id", "dealer_id", "dms_id", "vehicle_id", "customer_id", "delivered_at", "salesperson",
                 "welcome_call_at", "dms_updated_at", "created_at"),
    "repair_order": ("id", "dealer_id", "dms_id", "number", "vehicle_id", "customer_id", "opened_at", "promised_at",
                     "delivered_at", "status", "courtesy_call_at", "mileage", "advisor", "dms_updated_at",
                     "created_at"),
    "repair_order_line": ("id", "dealer_id", "repair_order_id", "line_no", "work_done", "result", "incidents",
                          "declined"),
    "appointment": ("id", "dealer_id", "dms_id", "vehicle_id", "customer_id", "scheduled_at", "service_type",
                    "advisor", "status", "confirmed_by_id", "confirmed_at", "comment", "source", "arrived_at",
                    "repair_order_id", "version", "dms_updated_at", "created_at"),
    "opportunity": ("id", "dealer_id", "origin", "customer_id", "vehicle_id", "due_at", "status", "note",
                    "discard_reason_id", "discard_comment", "sold_appointment_at", "campaign_id",
                    "assigned_user_id", "created_by_id", "closed_by_id", "closed_at", "created_at", "version"),
    "activity": ("id", "dealer_id", "kind", "subject_type", "subject_id", "customer_id", "vehicle_id", "channel",
                 "outcome", "comment", "satisfaction", "next_contact_at", "user_id", "created_at"),
}
# Insert order (foreign keys): customers first, then per vehicle bundle.
BUNDLE_TABLES = ("vehicle", "delivery", "repair_order", "repair_order_line", "appointment", "opportunity",
                 "activity")
TABLES = ("customer", *BUNDLE_TABLES)


def profile_for(dealer: Dealer) -> DealerProfile:
    return DealerProfile(code=dealer.code, country=dealer.country, time_zone=dealer.time_zone, name=dealer.name)


class RowBuilder:
    """Turns a :class:`World`'s records into table rows (tuples in ``COLUMNS`` order).

    ``first_ids`` is the first free id per table. Customer ``k`` gets ``first + k`` and vehicle
    ``i`` gets ``first + i``, so references to them are arithmetic; other rows are numbered as
    they come. ``user_ids`` (callers first) are who made the calls, confirmations and closes.
    """

    def __init__(self, world: World, dealer_id: int, first_ids: dict[str, int], reason_ids: dict[str, int],
                 campaign_ids: dict[str, int], user_ids: Sequence[int] = ()):
        self.world = world
        self.dealer_id = dealer_id
        self.customer_base = first_ids["customer"]
        self.vehicle_base = first_ids["vehicle"]
        self.next_ids = {t: first_ids[t] for t in BUNDLE_TABLES}
        self.next_ids["vehicle"] += world.n_vehicles
        self.reason_ids = reason_ids
        self.campaign_ids = campaign_ids
        self.users = tuple(user_ids)
        self.campaign_units: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()

    def _user(self, n: int) -> int | None:
        return self.users[n % len(self.users)] if self.users else None

    def customer_rows(self) -> Iterator[tuple]:
        base, dealer, counts = self.customer_base, self.dealer_id, self.counts
        for n, c in enumerate(self.world.customers()):
            counts["customer"] += 1
            yield (base + n, dealer, c.dms_id, c.name, c.phone_mobile, c.phone_home, c.phone_work, c.email,
                   False, c.dms_updated_at, c.dms_updated_at)

    def bundle_rows(self, b: VehicleBundle) -> dict[str, list[tuple]]:
        dealer = self.dealer_id
        ids = self.next_ids
        vehicle_id = self.vehicle_base + b.index
        customer_id = self.customer_base + b.customer_index
        v = b.vehicle
        out: dict[str, list[tuple]] = {t: [] for t in BUNDLE_TABLES}
        out["vehicle"].append((vehicle_id, dealer, v.dms_id, v.vin, v.plate, v.brand, v.model, v.version,
                               v.model_year, v.mileage, v.sold_on, customer_id, v.dms_updated_at, v.dms_updated_at))
        subjects: dict[tuple[str, str], int] = {}
        if (d := b.delivery) is not None:
            ids["delivery"] = (delivery_id := ids["delivery"]) + 1
            subjects["delivery", d.dms_id] = delivery_id
            out["delivery"].append((delivery_id, dealer, d.dms_id, vehicle_id, customer_id, d.delivered_at,
                                    d.salesperson, d.welcome_call_at, d.dms_updated_at, d.dms_updated_at))
        ro_rows, line_rows = out["repair_order"], out["repair_order_line"]
        for ro in b.repair_orders:
            ids["repair_order"] = (ro_id := ids["repair_order"]) + 1
            subjects["repair_order", ro.dms_id] = ro_id
            ro_rows.append((ro_id, dealer, ro.dms_id, ro.number, vehicle_id, customer_id, ro.opened_at,
                            ro.promised_at, ro.delivered_at, ro.status, ro.courtesy_call_at, ro.mileage, ro.advisor,
                            ro.dms_updated_at, ro.opened_at))
            line_id = ids["repair_order_line"]
            for line in ro.lines:
                line_rows.append((line_id, dealer, ro_id, line.line_no, line.work_done, line.result, line.incidents,
                                  line.declined))
                line_id += 1
            ids["repair_order_line"] = line_id
        for n, a in enumerate(b.appointments):
            ids["appointment"] = (appointment_id := ids["appointment"]) + 1
            subjects["appointment", a.dms_id] = appointment_id
            ro_id = subjects["repair_order", a.repair_order_dms_id] if a.repair_order_dms_id else None
            confirmed_by = self._user(b.index + n) if a.confirmed_at is not None else None
            out["appointment"].append((appointment_id, dealer, a.dms_id, vehicle_id, customer_id, a.scheduled_at,
                                       a.service_type, a.advisor, a.status, confirmed_by, a.confirmed_at, a.comment,
                                       a.source, a.arrived_at, ro_id, 1, a.dms_updated_at, a.created_at))
        for n, o in enumerate(b.opportunities):
            ids["opportunity"] = (opportunity_id := ids["opportunity"]) + 1
            subjects["opportunity", o.key] = opportunity_id
            campaign_id = None
            if o.campaign_key is not None:
                campaign_id = self.campaign_ids[o.campaign_key]
                self.campaign_units[o.campaign_key] += 1
            assigned = self._user(b.index + n)
            created_by = None if o.origin in ("campaign", "no_show") else assigned
            out["opportunity"].append((
                opportunity_id, dealer, o.origin, customer_id, vehicle_id, o.due_at, o.status, o.note,
                self.reason_ids[o.discard_reason] if o.discard_reason else None, o.discard_comment,
                o.sold_appointment_at, campaign_id, assigned, created_by,
                assigned if o.closed_at is not None else None, o.closed_at, o.created_at, 1,
            ))
        for n, act in enumerate(b.activities):
            ids["activity"] = (activity_id := ids["activity"]) + 1
            out["activity"].append((activity_id, dealer, act.kind, act.subject_type,
                                    subjects[act.subject_type, act.subject_key], customer_id, vehicle_id,
                                    act.channel, act.outcome, act.comment, act.satisfaction, act.next_contact_at,
                                    self._user(b.index + n), act.created_at))
        counts = self.counts
        for table, rows in out.items():
            counts[table] += len(rows)
        return out


# ------------------------------------------------------------------------------ SQLAlchemy load

def next_ids(session: Session, tables: Iterable[str] = TABLES) -> dict[str, int]:
    return {t: (session.scalar(text(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {t}")) or 1) for t in tables}


def sync_sequences(session: Session, tables: Iterable[str]) -> None:
    """PostgreSQL: move each ``id`` sequence past the ids this module set itself."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for t in tables:
        session.execute(text(
            f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), "
            f"COALESCE((SELECT MAX(id) FROM {t}), 0) + 1, false)"
        ))


def ensure_discard_reasons(session: Session, dealer: Dealer, world: World | None = None) -> dict[str, int]:
    """The dealer's discard catalog (created when missing): code → id."""
    existing = dict(session.execute(
        select(DiscardReason.code, DiscardReason.id).where(DiscardReason.dealer_id == dealer.id)
    ).all())
    reasons = (world or World(0, profile_for(dealer), 0, utcnow())).discard_reasons()
    missing = [r for r in reasons if r.code not in existing]
    for r in missing:
        session.add(DiscardReason(dealer_id=dealer.id, code=r.code, label_es=r.label_es, label_pt_br=r.label_pt_br,
                                  label_en=r.label_en, oem_reason=r.oem_reason, active=True, position=r.position))
    if missing:
        session.flush()
        return ensure_discard_reasons(session, dealer, world)
    return existing


def member_ids(session: Session, dealer_id: int) -> list[int]:
    """The dealer's users, callers first: who the generated calls are attributed to."""
    order = {"caller": 0, "manager": 1, "campaigns": 2, "admin": 3}
    rows = session.execute(select(Membership.user_id, Membership.role).where(Membership.dealer_id == dealer_id))
    ranked = sorted(rows.all(), key=lambda r: (order.get(r.role, 9), r.user_id))
    return list(dict.fromkeys(r.user_id for r in ranked))


def _campaign_columns(**values) -> dict:
    # Only the columns this schema has: the campaign manager's columns arrive with its migration.
    return {k: v for k, v in values.items() if k in Campaign.__table__.c}


def insert_campaigns(session: Session, dealer: Dealer, world: World, user_ids: Sequence[int]) -> dict[str, int]:
    """The world's campaigns, already processed (status done); units are counted after the load."""
    out = {}
    for c in world.campaigns():
        campaign = Campaign(**_campaign_columns(
            dealer_id=dealer.id, name=c.name, kind=c.kind, due_at=c.due_at, note=c.note, status=c.status,
            created_at=c.created_at, created_by_id=user_ids[-1] if user_ids else None, assignment="round_robin",
            finished_at=c.created_at + timedelta(minutes=3),
        ))
        session.add(campaign)
        session.flush()
        out[c.key] = campaign.id
    return out


def set_campaign_units(session: Session, campaign_ids: dict[str, int], units: Counter[str]) -> None:
    for key, campaign_id in campaign_ids.items():
        n = units[key]
        session.execute(update(Campaign).where(Campaign.id == campaign_id).values(
            **_campaign_columns(units_total=n, units_processed=n, opportunities_created=n)))


def _insert(session: Session, table: str, rows: list[tuple]) -> None:
    if rows:
        columns = COLUMNS[table]
        session.execute(insert(_TABLES[table]), [dict(zip(columns, row, strict=True)) for row in rows])


def load_dataset(session: Session, dealer: Dealer, seed: int = 42, vehicles: int = 2000,
                 now: datetime | None = None, *, user_ids: Sequence[int] | None = None,
                 chunk_size: int = 1000) -> dict[str, int]:
    """Generate ``vehicles`` vehicles' worth of data for ``dealer`` (which must be flushed) and
    insert it with ``session``. Flushes but does not commit: the caller owns the transaction.

    Calls, confirmations and closes are attributed to ``user_ids`` (default: the dealer's
    members, callers first). Returns the number of rows per table.
    """
    world = World(seed, profile_for(dealer), vehicles, now or utcnow())
    users = list(user_ids) if user_ids is not None else member_ids(session, dealer.id)
    reason_ids = ensure_discard_reasons(session, dealer, world)
    campaign_ids = insert_campaigns(session, dealer, world, users)
    builder = RowBuilder(world, dealer.id, next_ids(session), reason_ids, campaign_ids, users)

    batch: list[tuple] = []
    for row in builder.customer_rows():
        batch.append(row)
        if len(batch) >= chunk_size * 5:
            _insert(session, "customer", batch)
            batch = []
    _insert(session, "customer", batch)

    pending: dict[str, list[tuple]] = {t: [] for t in BUNDLE_TABLES}
    for n, b in enumerate(world.bundles(), 1):
        for table, rows in builder.bundle_rows(b).items():
            pending[table].extend(rows)
        if n % chunk_size == 0:
            for table in BUNDLE_TABLES:
                _insert(session, table, pending[table])
                pending[table] = []
    for table in BUNDLE_TABLES:
        _insert(session, table, pending[table])

    set_campaign_units(session, campaign_ids, builder.campaign_units)
    sync_sequences(session, (*TABLES, "campaign", "discard_reason"))
    session.flush()
    return {**builder.counts, "campaign": len(campaign_ids)}


def load_demo(config, *, seed: int = 42, vehicles: int = 2000, if_empty: bool = False,
              now: datetime | None = None) -> str:
    """Create the demo dealers, users (one per role, members of both dealers), discard reasons
    and generated data. Returns a one-line summary."""
    from boxes.auth.service import create_user

    started = clock.perf_counter()
    engine = make_engine(config.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            if if_empty and session.scalar(select(Dealer.id).limit(1)) is not None:
                return "demo: the database already has dealers, nothing loaded"
            codes = [d["code"] for d in DEMO_DEALERS]
            taken = session.scalars(select(Dealer.code).where(Dealer.code.in_(codes))).all()
            if taken:
                return f"demo: dealer(s) {', '.join(sorted(taken))} already exist, nothing loaded"
            dealers = [Dealer(**values) for values in DEMO_DEALERS]
            session.add_all(dealers)
            session.flush()
            for email, password, role in DEMO_USERS:
                user = session.scalar(select(User).where(User.email == email))
                if user is None:
                    create_user(session, email=email, name=DEMO_USER_NAMES[role], password=password,
                                memberships=[(d, role) for d in dealers])
                else:
                    session.add_all(Membership(user_id=user.id, dealer_id=d.id, role=role) for d in dealers)
            connect_oem_simulator(session, config, dealers)
            session.commit()
            now = now or utcnow()
            totals: Counter[str] = Counter()
            for dealer in dealers:
                totals.update(load_dataset(session, dealer, seed, vehicles, now))
                session.commit()
    finally:
        engine.dispose()
    elapsed = clock.perf_counter() - started
    return (
        f"demo loaded in {elapsed:.1f}s: dealers {', '.join(codes)}; {totals['customer']:,} customers, "
        f"{totals['vehicle']:,} vehicles, {totals['delivery']:,} deliveries, {totals['appointment']:,} appointments, "
        f"{totals['repair_order']:,} repair orders, {totals['opportunity']:,} opportunities, "
        f"{totals['activity']:,} calls; log in as {', '.join(e for e, _, _ in DEMO_USERS)} "
        f"(password {DEMO_PASSWORD})"
    )


def _tables() -> dict:
    from boxes.db import Base

    return {name: Base.metadata.tables[name] for name in TABLES}


_TABLES = _tables()
