"""A deterministic, seeded DMS world: customers, vehicles, sales deliveries, appointments, repair
orders with their lines — and the Boxes side of a dealer that has used the board for a while:
opportunities, campaigns, calls and the discard catalog.

Used by ``boxes demo``, by the tests (``boxes.dms.simulator.demo.load_dataset``), by the
benchmarks (``bench``) and by the DMS simulator, which serves the same records as a feed.

The data tables are :mod:`.catalog`; the records are the feed's own types (:mod:`boxes.dms.records`)
where they suffice and :mod:`.world_records` where they carry Boxes state. Never ORM objects: DMS
ids are strings, references go by DMS id (``vehicle_dms_id``, ...), every instant is a tz-aware
UTC ``datetime`` and every DMS record has a ``dms_updated_at``. A few fields are Boxes state
rather than DMS data (a delivery's ``welcome_call_at``, an RO's ``courtesy_call_at``, an
appointment's ``confirmed_at`` and ``comment``); the feed leaves them out.

Determinism and size:
- everything is relative to the anchor instant ``now``: the same ``(seed, dealer, vehicles,
  now)`` gives identical records, and a demo loaded today looks current;
- each vehicle's story is computed from its own ``random.Random``, seeded from ``(seed, dealer
  code, aspect, index)``: identity (model, VIN, plate), service history, current state
  (appointment, open RO, delivery) and call-centre side (opportunities, calls). Streams are
  independent of each other and of the order they are read in, and any vehicle can be
  regenerated alone (``World.bundle(i)``);
- nothing is kept between vehicles, so memory stays flat however many millions of rows are
  streamed. Uniqueness of VINs and plates comes from a bijection of the vehicle index, not from
  a set of used values;
- the first vehicles of every dealer follow a fixed script (a delivery pending, an appointment
  to confirm, an open RO of each age, ...) so every board list has rows at any size.

Rates per vehicle (the benchmark's "group" scale is 1 M vehicles → ~5 M ROs, ~500 k
opportunities, ~200 k appointments): ~5 repair orders of history, 0.2 appointments within
±14 days, 0.5 opportunities due within ±15 days, 2.5 % delivered by Sales in the last 30 days,
~1.2 % with a walk-in RO open now.
"""

from __future__ import annotations

import hashlib
import unicodedata
from bisect import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import cache
from itertools import accumulate
from random import Random
from zoneinfo import ZoneInfo

import phonenumbers

from boxes.dms.records import CustomerRecord, RepairOrderLineRecord
from boxes.dms.simulator.catalog import (
    AREA_CODES,
    BR_PARTICLES,
    COMPANIES,
    COMPOUND_FIRST,
    DISCARD_REASONS,
    DISCARD_WEIGHTS,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    MODELS,
    SURNAMES,
    TEXTS,
    ModelSpec,
)
from boxes.dms.simulator.vin import ar_plate, br_plate, make_vin, random_vds, vin_serial
from boxes.dms.simulator.world_records import (
    ActivityRec,
    AppointmentRec,
    CampaignRec,
    DealerProfile,
    DeliveryRec,
    DiscardReasonRec,
    OpportunityRec,
    RepairOrderRec,
    VehicleBundle,
    VehicleRec,
)

# ==================================================================================== parameters

MAX_VEHICLES = 676_000  # the plate space of one registration-year letter series stays collision-free
MAX_AGE_DAYS = 12 * 365
CUSTOMER_SHARE = 0.85  # customers per vehicle: the rest belong to customers with two or three cars
NEW_SHARE = 0.025  # delivered by Sales in the last 30 days
APPOINTMENT_SHARE = 0.2  # with an appointment within ±14 days
OPEN_RO_SHARE = 0.012  # with a walk-in RO open now
HISTORY_CHURN = 0.05  # chance, after each visit, that the owner stops coming
MAX_HISTORY = 30  # ROs of history per vehicle (RO numbers leave room for 40)
SLOTS = tuple(480 + 30 * k for k in range(18))  # workshop appointments, 08:00 … 16:30 local
SATURDAY_LAST_SLOT = 690  # 11:30: the workshop closes at noon on Saturdays
CALL_SLOTS = tuple(540 + 30 * k for k in range(19))  # planned calls, 09:00 … 18:00 local
CHANNELS = ("phone", "whatsapp", "email")
OUTCOMES = ("no_answer", "call_back_later", "contacted")
CHANNEL_WEIGHTS = tuple(accumulate((80, 15, 5)))
SATISFACTION = (5, 4, 3, 2, 1)
SATISFACTION_WEIGHTS = tuple(accumulate((50, 30, 12, 5, 3)))
LINE_COUNTS = (1, 2, 3, 4)
LINE_COUNT_WEIGHTS = tuple(accumulate((25, 35, 25, 15)))
DISCARD_CODES = tuple(r[0] for r in DISCARD_REASONS)
DISCARD_CUM_WEIGHTS = tuple(accumulate(DISCARD_WEIGHTS))

# The first vehicles of every dealer: one of each board situation, so no list is ever empty.
SCRIPT: tuple[dict[str, str], ...] = (
    {"delivery": "pending"},
    {"delivery": "welcome_today"},
    {"appointment": "future_unconfirmed"},
    {"appointment": "future_confirmed"},
    {"appointment": "today_expected"},
    {"appointment": "today_arrived"},
    {"appointment": "no_show", "opportunity": "no_show"},
    {"appointment": "fulfilled"},
    {"open_ro": "today"},
    {"open_ro": "yesterday"},
    {"open_ro": "week"},
    {"open_ro": "older"},
    {"completed": "pending"},
    {"completed": "done_today"},
    {"opportunity": "overdue"},
    {"opportunity": "today"},
    {"opportunity": "upcoming"},
    {"opportunity": "campaign"},
)


_MINUTES = tuple(timedelta(minutes=m) for m in range(24 * 60))


def _seed_base(seed: int, code: str, aspect: str) -> int:
    digest = hashlib.blake2b(f"{seed}|{code}|{aspect}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") << 32


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower().replace(" ", "")


def _km(value: int) -> str:
    return f"{value:,}".replace(",", ".")


# Faster than Random.randint/choice/choices, which are written in Python; the streams stay
# deterministic (they only ever call Random.random()).
def _randint(rng: Random, lo: int, hi: int) -> int:
    return lo + int(rng.random() * (hi - lo + 1))


def _randbelow(rng: Random, n: int) -> int:
    return int(rng.random() * n)


def _pick(rng: Random, seq):
    return seq[int(rng.random() * len(seq))]


def _weighted(rng: Random, seq, cum_weights):
    return seq[bisect(cum_weights, rng.random() * cum_weights[-1])]


def _sample(rng: Random, seq, k: int) -> list:
    """``k`` distinct items of ``seq`` (k is small)."""
    picked: list = []
    while len(picked) < k:
        item = seq[int(rng.random() * len(seq))]
        if item not in picked:
            picked.append(item)
    return picked


# ======================================================================================== phones

_MOBILE = (phonenumbers.PhoneNumberType.MOBILE,)
_FIXED = (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def _e164(country: str, area: str, subscriber: str, kind: str) -> str:
    if country == "AR":
        return f"+549{area}{subscriber}" if kind == "mobile" else f"+54{area}{subscriber}"
    return f"+55{area}{subscriber}"


def format_phone(country: str, area: str, subscriber: str, kind: str, national: bool) -> str:
    """As people and DMSs write them: ``+54 9 11 4567-8901`` or ``011 15-4567-8901``,
    ``+55 11 91234-5678`` or ``(11) 91234-5678``."""
    head, tail = subscriber[:-4], subscriber[-4:]
    if country == "AR":
        if kind == "mobile":
            return f"0{area} 15-{head}-{tail}" if national else f"+54 9 {area} {head}-{tail}"
        return f"(0{area}) {head}-{tail}" if national else f"+54 {area} {head}-{tail}"
    return f"({area}) {head}-{tail}" if national else f"+55 {area} {head}-{tail}"


@cache
def phone_plan(country: str, area: str, kind: str) -> tuple[tuple[str, ...], int]:
    """The two-digit subscriber prefixes after which any digits make a valid number of ``kind``
    (``mobile`` or ``fixed``) in ``area``, as the ``phonenumbers`` metadata says, and the
    subscriber length. Probed once per process with a fixed sample."""
    length = 10 - len(area) if country == "AR" else 9 if kind == "mobile" else 8
    types = _MOBILE if kind == "mobile" else _FIXED
    rng = Random(f"{country}|{area}|{kind}")
    good = []
    for first in ("9",) if (country, kind) == ("BR", "mobile") else "23456789":
        for second in "0123456789":
            prefix = first + second
            for _ in range(8):
                subscriber = prefix + "".join(_pick(rng, "0123456789") for _ in range(length - 2))
                number = phonenumbers.parse(_e164(country, area, subscriber, kind))
                if not phonenumbers.is_valid_number(number) or phonenumbers.number_type(number) not in types:
                    break
            else:
                good.append(prefix)
    return tuple(good), length


# ========================================================================================= world


@dataclass(slots=True)
class _Identity:
    index: int
    dms_id: str
    customer_index: int
    customer_dms_id: str
    spec: ModelSpec
    version: str
    model_year: int
    sold_day: int  # local day offset from today (negative: past)
    vin: str
    plate: str
    km_per_day: float
    new: bool  # delivered by Sales in the last 30 days
    campaigns: tuple[int, ...]  # campaigns this unit is a target of
    script: dict[str, str] | None


class World:
    """The generated world of one dealer. Cheap to build; records are made as they are read."""

    def __init__(self, seed: int, dealer: DealerProfile, vehicles: int, now: datetime, reserve: int = 0):
        """``vehicles`` on the road today; ``reserve`` more that Sales delivers later (the living
        simulator's), each to a new customer. The reserve changes nothing of the first
        ``vehicles``: a demo of N vehicles and a simulator of N plus a reserve are the same world."""
        if now.tzinfo is None:
            raise ValueError("now must be a tz-aware datetime")
        if dealer.country not in ("AR", "BR"):
            raise ValueError(f"unsupported country {dealer.country!r}")
        if not 0 <= vehicles + reserve <= MAX_VEHICLES or reserve < 0:
            raise ValueError(f"vehicles must be between 0 and {MAX_VEHICLES}")
        self.seed = seed
        self.dealer = dealer
        self.n_fleet = vehicles
        self.n_vehicles = vehicles + reserve
        # Today's owners; the reserve's buyers (one each) come after them.
        self.n_customers = max(1, round(vehicles * CUSTOMER_SHARE)) if vehicles else 0
        self.n_buyers = reserve
        self.now = now.astimezone(UTC)
        self.tz = ZoneInfo(dealer.time_zone)
        self.today = self.now.astimezone(self.tz).date()
        self._weekday = self.today.weekday()
        self.country = dealer.country
        self.t = TEXTS[dealer.language]
        self._midnights: dict[int, datetime] = {}
        self._bases = {
            aspect: _seed_base(seed, dealer.code, aspect)
            for aspect in ("dealer", "customer", "vehicle", "history", "current", "crm")
        }
        self._offset = self._bases["dealer"] >> 40
        rng = self._rng("dealer", 0)
        self.advisors = tuple(self._person(rng)[0] for _ in range(5))
        self.salespeople = tuple(self._person(rng)[0] for _ in range(6))
        models = [m for m in MODELS if not dealer.brands or m.brand in dealer.brands]
        if not models:
            raise ValueError(f"no model of brands {dealer.brands!r} in the catalog")
        self._models = models
        self._models_by_year: dict[int, tuple[list[ModelSpec], list[int]]] = {}
        areas = dealer.area_codes or AREA_CODES[dealer.country]
        self._areas = tuple(a for a in areas if phone_plan(self.country, a, "mobile")[0])
        if not self._areas:
            raise ValueError(f"no valid mobile phone area among {areas!r}")
        self._campaigns = self._make_campaigns()
        self._campaign_targets: dict[tuple[str, str], tuple[int, ...]] = {}

    # ------------------------------------------------------------------------------ time helpers

    def midnight(self, day: int) -> datetime:
        """Local midnight ``day`` days from today, as a UTC instant."""
        value = self._midnights.get(day)
        if value is None:
            local = datetime.combine(self.today + timedelta(days=day), time(0), tzinfo=self.tz)
            value = self._midnights[day] = local.astimezone(UTC)
        return value

    def at(self, day: int, minutes: int) -> datetime:
        """Local time ``minutes`` after midnight, ``day`` days from today."""
        return self.midnight(day) + _MINUTES[minutes]

    def past(self, instant: datetime, rng: Random, floor: datetime) -> datetime:
        """``instant`` if it is not in the future, else a random instant between ``floor`` and now."""
        if instant <= self.now:
            return instant
        if floor >= self.now:
            return self.now
        return (floor + (self.now - floor) * rng.random()).replace(microsecond=0)

    def workday(self, day: int, last: int | None = None) -> int:
        """``day`` moved off Sunday, when the workshop is closed: to Monday, or to Saturday when
        Monday would pass ``last``."""
        if (self._weekday + day) % 7 == 6:
            return day + 1 if last is None or day + 1 <= last else day - 1
        return day

    def is_saturday(self, day: int) -> bool:
        return (self._weekday + day) % 7 == 5

    def local_day(self, instant: datetime) -> int:
        return (instant.astimezone(self.tz).date() - self.today).days

    def _rng(self, aspect: str, index: int) -> Random:
        return Random(self._bases[aspect] + index)

    # ------------------------------------------------------------------------------ dealer level

    def discard_reasons(self) -> list[DiscardReasonRec]:
        return [DiscardReasonRec(code, es, pt, en, oem, position)
                for position, (code, es, pt, en, oem) in enumerate(DISCARD_REASONS)]

    def campaigns(self) -> list[CampaignRec]:
        return list(self._campaigns)

    def _make_campaigns(self) -> tuple[CampaignRec, ...]:
        rng = self._rng("dealer", 1)
        due_days = (3, -8, 10, -2)
        out = []
        for n, (name, kind, brands, models, note) in enumerate(self.t["campaigns"]):
            day = due_days[n % len(due_days)]
            out.append(CampaignRec(
                key=f"CMP{n + 1}",
                name=name.format(year=self.today.year),
                kind=kind,
                due_at=self.at(day, 540),
                note=note,
                status="done",
                created_at=self.at(day - _randint(rng, 15, 30), _randint(rng, 600, 1020)),
                brands=brands,
                models=models,
            ))
        return tuple(out)

    def _targets(self, spec: ModelSpec) -> tuple[int, ...]:
        key = (spec.brand, spec.model)
        found = self._campaign_targets.get(key)
        if found is None:
            found = self._campaign_targets[key] = tuple(
                n for n, c in enumerate(self._campaigns)
                if (not c.brands or spec.brand in c.brands) and (not c.models or spec.model in c.models)
            )
        return found

    # ---------------------------------------------------------------------------------- people

    def _person(self, rng: Random) -> tuple[str, str, str]:
        """(full name, first name, surname) in the country's style."""
        country = self.country
        first = _pick(rng, COMPOUND_FIRST[country]) if rng.random() < 0.12 else _pick(rng, FIRST_NAMES[country])
        surname = _pick(rng, SURNAMES[country])
        r = rng.random()
        if country == "BR":
            if r < 0.4:
                last = surname
            elif r < 0.75:
                last = f"{self._other_surname(rng, surname)} {surname}"
            else:
                last = f"{_pick(rng, BR_PARTICLES)} {surname}"
        else:
            last = surname if r < 0.8 else f"{surname} {self._other_surname(rng, surname)}"
        return f"{first} {last}", first, surname

    def _other_surname(self, rng: Random, surname: str) -> str:
        other = _pick(rng, SURNAMES[self.country])
        return other if other != surname else _pick(rng, SURNAMES[self.country][:5])

    def _phone(self, rng: Random, kind: str) -> str:
        area = _pick(rng, self._areas)
        prefixes, length = phone_plan(self.country, area, kind)
        if not prefixes:
            area = self._areas[0]
            prefixes, length = phone_plan(self.country, area, kind)
        rest = length - 2
        subscriber = _pick(rng, prefixes) + f"{_randbelow(rng, 10 ** rest):0{rest}d}"
        return format_phone(self.country, area, subscriber, kind, national=rng.random() < 0.25)

    def customer(self, index: int) -> CustomerRecord:
        """Customer ``index``: today's owners, then the reserve cars' buyers (``customers()`` lists
        only today's)."""
        if not 0 <= index < self.n_customers + self.n_buyers:
            raise IndexError(index)
        rng = self._rng("customer", index)
        company = rng.random() < 0.04
        name, first, surname = self._person(rng)
        home = work = email = ""
        if company:
            name = _pick(rng, COMPANIES[self.country]).format(s=surname)
            work = self._phone(rng, "fixed")
            mobile = self._phone(rng, "mobile")
            local = ("administracion." if self.country == "AR" else "financeiro.") + _ascii(surname)
            email = f"{local}@{_pick(rng, EMAIL_DOMAINS)}"
        else:
            mobile = self._phone(rng, "mobile")
            r = rng.random()
            if r < 0.15:
                home = self._phone(rng, "fixed")
            elif r < 0.25:
                work = self._phone(rng, "mobile")
            if rng.random() < 0.88:
                f, s = _ascii(first), _ascii(surname)
                local = _pick(rng, (f"{f}.{s}", f"{f[0]}{s}", f"{f}{s}{_randint(rng, 1, 99)}", f"{s}.{f}"))
                email = f"{local}@{_pick(rng, EMAIL_DOMAINS)}"
        updated = self.now - timedelta(minutes=_randbelow(rng, 60 * 24 * 900))
        return CustomerRecord(f"C{index + 1:07d}", name, mobile, home, work, email, updated.replace(microsecond=0))

    def customers(self) -> Iterator[CustomerRecord]:
        for index in range(self.n_customers):
            yield self.customer(index)

    # -------------------------------------------------------------------------------- vehicles

    def _model_for(self, rng: Random, year: int) -> ModelSpec:
        table = self._models_by_year.get(year)
        if table is None:
            weight = (lambda m: m.weight_ar) if self.country == "AR" else (lambda m: m.weight_br)
            specs = [m for m in self._models if m.sold_in(year) and weight(m) > 0] or self._models
            table = self._models_by_year[year] = (specs, list(accumulate(max(1, weight(m)) for m in specs)))
        specs, cum = table
        return _weighted(rng, specs, cum)

    def _identity(self, i: int) -> _Identity:
        rng = self._rng("vehicle", i)
        script = SCRIPT[i] if i < len(SCRIPT) else None
        if script is not None:
            mode = script.get("delivery")
            new = mode is not None
            sold_day = {"pending": -1, "welcome_today": -3}.get(mode, 0) if new else -_randint(rng, 400, 2500)
        else:
            new = rng.random() < NEW_SHARE
            sold_day = -_randint(rng, 0, 29) if new else -int(rng.triangular(31, MAX_AGE_DAYS, 31))
            sold_day = self.workday(sold_day, last=0)
        sold_on = self.today + timedelta(days=sold_day)
        year = sold_on.year + (1 if sold_on.month >= 10 and rng.random() < 0.5 else 0)
        spec = self._model_for(rng, year)
        version = _pick(rng, spec.versions)
        vin = make_vin(spec.wmi, random_vds(rng, spec.vds), year, spec.plant, vin_serial(i, self._offset))
        if self.country == "AR":
            plate = ar_plate(i, sold_on, self._offset)
        else:
            plate = br_plate(i, sold_on, self._offset, converted=rng.random() < 0.3)
        if i >= self.n_fleet:  # a reserve car: its buyer is a new customer
            customer_index = self.n_customers + i - self.n_fleet
        else:  # today's fleet; beyond one car each, a second or third car of an existing owner
            customer_index = i if i < self.n_customers else _randbelow(rng, self.n_customers)
        return _Identity(
            index=i,
            dms_id=f"V{i + 1:07d}",
            customer_index=customer_index,
            customer_dms_id=f"C{customer_index + 1:07d}",
            spec=spec,
            version=version,
            model_year=year,
            sold_day=sold_day,
            vin=vin,
            plate=plate,
            km_per_day=rng.uniform(8000, 22000) * spec.km_factor / 365,
            new=new,
            campaigns=self._targets(spec),
            script=script,
        )

    def _odometer(self, ident: _Identity, instant: datetime) -> int:
        """The mileage at ``instant``: a steady use since the sale, so it never goes back."""
        days = (instant - self.midnight(ident.sold_day)).total_seconds() / 86_400
        return 5 + int(ident.km_per_day * max(0.0, days))

    def bundle(self, i: int) -> VehicleBundle:
        """Vehicle ``i`` and its deliveries, ROs, appointments, opportunities and calls."""
        if not 0 <= i < self.n_vehicles:
            raise IndexError(i)
        ident = self._identity(i)
        b = VehicleBundle(index=i, customer_index=ident.customer_index)
        self._history(b, ident)
        no_show_day = self._current(b, ident)
        self._crm(b, ident, no_show_day)
        if b.repair_orders:
            last = max(b.repair_orders, key=lambda ro: ro.opened_at)
            mileage = last.mileage
            updated = max(ro.dms_updated_at for ro in b.repair_orders)
        else:
            mileage = self._odometer(ident, self.now)
            updated = self.at(ident.sold_day, 660)
        if b.delivery is not None:
            updated = max(updated, b.delivery.dms_updated_at)
        s = ident.spec
        b.vehicle = VehicleRec(
            ident.dms_id, ident.customer_dms_id, ident.vin, ident.plate, s.brand, s.model, ident.version,
            ident.model_year, mileage, self.today + timedelta(days=ident.sold_day), min(updated, self.now),
        )
        return b

    def bundles(self, start: int = 0, stop: int | None = None) -> Iterator[VehicleBundle]:
        for i in range(start, self.n_vehicles if stop is None else min(stop, self.n_vehicles)):
            yield self.bundle(i)

    # Per-entity streams (each one regenerates the bundles: read bundles() to get them all at once).
    def vehicles(self) -> Iterator[VehicleRec]:
        for b in self.bundles():
            yield b.vehicle

    def deliveries(self) -> Iterator[DeliveryRec]:
        for b in self.bundles():
            if b.delivery is not None:
                yield b.delivery

    def _each(self, records: str) -> Iterator:
        """The ``records`` (a bundle's attribute: a tuple of them) of every bundle, in order."""
        for b in self.bundles():
            yield from getattr(b, records)

    def repair_orders(self) -> Iterator[RepairOrderRec]:
        return self._each("repair_orders")

    def appointments(self) -> Iterator[AppointmentRec]:
        return self._each("appointments")

    def opportunities(self) -> Iterator[OpportunityRec]:
        return self._each("opportunities")

    def activities(self) -> Iterator[ActivityRec]:
        return self._each("activities")

    # ------------------------------------------------------------------------------- workshop

    def _lines(self, rng: Random, km: int, service: bool, is_open: bool) -> tuple[RepairOrderLineRecord, ...]:
        t = self.t
        count = _weighted(rng, LINE_COUNTS, LINE_COUNT_WEIGHTS)
        works = [t["service"].format(km=_km(max(10_000, round(km / 10_000) * 10_000)))] if service else []
        works.extend(_sample(rng, t["works"], count - len(works)))
        lines = []
        for no, work in enumerate(works, 1):
            declined = False
            incidents = ""
            if is_open:
                result = _pick(rng, t["open"])
            elif no > 1 and rng.random() < 0.06:
                work, result, declined = _pick(rng, t["declined"]), t["declined_result"], True
            else:
                result = _pick(rng, t["done"])
                if rng.random() < 0.05:
                    incidents = _pick(rng, t["incidents"])
            lines.append(RepairOrderLineRecord(no, work, result, incidents, declined))
        return tuple(lines)

    def _repair_order(self, b: VehicleBundle, ident: _Identity, rng: Random, opened: datetime,
                      delivered: datetime | None, day: int, *, service: bool) -> RepairOrderRec:
        k = len(b.repair_orders)
        km = self._odometer(ident, opened)
        old = delivered is not None and delivered < self.now - timedelta(days=30)
        status = "open" if delivered is None else "closed" if old else "delivered"
        updated = delivered or opened
        updated = min(self.now, updated + timedelta(minutes=_randint(rng, 1, 90)))
        ro = RepairOrderRec(
            dms_id=f"R{ident.index + 1:07d}-{k:02d}",
            number=str(10_000_000 + ident.index * 40 + k),
            vehicle_dms_id=ident.dms_id,
            customer_dms_id=ident.customer_dms_id,
            opened_at=opened,
            promised_at=self.at(day + (0 if rng.random() < 0.7 else _randint(rng, 1, 2)), 1080),
            delivered_at=delivered,
            status=status,
            mileage=km,
            advisor=_pick(rng, self.advisors),
            dms_updated_at=updated,
            lines=self._lines(rng, km, service, delivered is None),
        )
        b.repair_orders.append(ro)
        return ro

    def _courtesy(self, b: VehicleBundle, ident: _Identity, rng: Random, ro: RepairOrderRec, delivered_day: int,
                  force: bool | None = None) -> None:
        """The courtesy call after a service delivered in the last 15 days (about half are done)."""
        if delivered_day < -15 or ro.delivered_at is None:
            return
        if force is False or (force is None and rng.random() >= 0.45):
            return
        day = 0 if force else min(0, delivered_day + _randint(rng, 1, 3))
        if day == delivered_day and ro.delivered_at > self.at(day, 1110):
            return
        when = self.at(day, _randint(rng, 600, 1110))
        floor = max(ro.delivered_at, self.midnight(day))
        when = self.past(max(when, floor), rng, floor)
        score = _weighted(rng, SATISFACTION, SATISFACTION_WEIGHTS)
        ro.courtesy_call_at = when
        b.activities.append(ActivityRec(
            "courtesy_call", "repair_order", ro.dms_id, ident.customer_dms_id, ident.dms_id, "phone",
            "contacted", _pick(rng, self.t["courtesy"][score]), when, satisfaction=score,
        ))

    def _history(self, b: VehicleBundle, ident: _Identity) -> None:
        """Past services: the first at about six months, then every 4 to 11 months until the owner
        stops coming. Only up to four days ago: what is recent comes from the current state."""
        if ident.new:
            return
        rng = self._rng("history", ident.index)
        day = ident.sold_day + _randint(rng, 150, 210)
        while day <= -4 and len(b.repair_orders) < MAX_HISTORY:
            day = self.workday(day, last=-4)
            opened = self.at(day, _randint(rng, 450, 690))
            if rng.random() < 0.7:
                delivered_day, minutes = day, _randint(rng, 960, 1170)
            else:
                delivered_day, minutes = day + _randint(rng, 1, 3), _randint(rng, 600, 1140)
            ro = self._repair_order(b, ident, rng, opened, self.at(delivered_day, minutes), day,
                                    service=rng.random() < 0.8)
            self._courtesy(b, ident, rng, ro, delivered_day)
            if rng.random() < HISTORY_CHURN:
                break
            day += _randint(rng, 120, 330)

    def _current(self, b: VehicleBundle, ident: _Identity) -> int | None:
        """What is going on now: a Sales delivery, an appointment, an open RO. Returns the day of a
        no-show, for the recovery opportunity."""
        rng = self._rng("current", ident.index)
        script = ident.script
        if ident.new:
            self._delivery(b, ident, rng, script.get("delivery") if script else None)
        no_show_day = None
        if script is not None:
            kind = script.get("appointment")
        else:
            kind = "random" if rng.random() < APPOINTMENT_SHARE else None
        if kind is not None:
            no_show_day = self._appointment(b, ident, rng, kind)
        open_kind = script.get("open_ro") if script is not None else (
            "random" if rng.random() < OPEN_RO_SHARE else None)
        if open_kind is not None and all(ro.delivered_at is not None for ro in b.repair_orders):
            self._open_ro(b, ident, rng, open_kind)
        if script is not None and "completed" in script:
            day = -3 if script["completed"] == "pending" else -4
            ro = self._repair_order(b, ident, rng, self.at(day, _randint(rng, 450, 600)),
                                    self.at(day, _randint(rng, 960, 1100)), day, service=True)
            self._courtesy(b, ident, rng, ro, day, force=script["completed"] == "done_today")
        return no_show_day

    def _delivery(self, b: VehicleBundle, ident: _Identity, rng: Random, mode: str | None) -> None:
        day = ident.sold_day
        delivered = self.past(self.at(day, _randint(rng, 600, 1140)), rng, self.midnight(day))
        welcome = None
        if mode == "welcome_today":
            floor = max(delivered, self.midnight(0))
            welcome = self.past(max(floor, self.at(0, _randint(rng, 570, 1110))), rng, floor)
        elif mode is None and day <= -1 and rng.random() < 0.55:
            wday = min(0, day + _randint(rng, 1, 4))
            floor = max(delivered, self.midnight(wday))
            welcome = self.past(max(floor, self.at(wday, _randint(rng, 570, 1110))), rng, floor)
        dms_id = f"D{ident.index + 1:07d}"
        b.delivery = DeliveryRec(
            dms_id, ident.dms_id, ident.customer_dms_id, delivered, _pick(rng, self.salespeople),
            min(self.now, delivered + timedelta(minutes=_randint(rng, 5, 240))), welcome,
        )
        t = self.t
        if welcome is not None:
            b.activities.append(ActivityRec("welcome_call", "delivery", dms_id, ident.customer_dms_id, ident.dms_id,
                                            "phone", "contacted", _pick(rng, t["welcome"]), welcome))
        elif day <= -2 and rng.random() < 0.35:
            when = self.at(day + 1, _randint(rng, 570, 1110))
            b.activities.append(ActivityRec("welcome_call", "delivery", dms_id, ident.customer_dms_id, ident.dms_id,
                                            "phone", "no_answer", _pick(rng, t["comments"]["no_answer"]), when))

    def _appointment(self, b: VehicleBundle, ident: _Identity, rng: Random, kind: str) -> int | None:
        now = self.now
        status = None
        if kind == "random":
            # Not before the car was sold: a new car's first visit comes after its delivery.
            day = self.workday(max(_randint(rng, -14, 14), ident.sold_day + 1), last=14)
            minutes = _pick(rng, SLOTS)
            if self.is_saturday(day) and minutes > SATURDAY_LAST_SLOT:
                minutes = _pick(rng, SLOTS[:8])
        elif kind in ("today_expected", "today_arrived"):
            day = 0
            later = [m for m in SLOTS if self.at(0, m) > now]
            earlier = [m for m in SLOTS if self.at(0, m) <= now]
            if kind == "today_expected":
                minutes = later[0] if later else SLOTS[0]
                status = "confirmed"
            else:
                minutes = earlier[-1] if earlier else None
                status = "arrived"
        else:
            day, status = {
                "future_unconfirmed": (2, "requested"),
                "future_confirmed": (1, "confirmed"),
                "no_show": (-3, "no_show"),
                "fulfilled": (-2, "fulfilled"),
            }[kind]
            minutes = _pick(rng, SLOTS)
        # minutes is None before opening hours: the car was booked for right after midnight.
        scheduled = (self.past(self.at(0, SLOTS[0]), rng, self.midnight(0)) if minutes is None
                     else self.at(day, minutes))
        created = scheduled - timedelta(days=_randint(rng, 1, 20), minutes=_randint(rng, 0, 600))
        if created > now:
            created = now - timedelta(minutes=_randint(rng, 1, 600))
        if status is None:
            r = rng.random()
            if day < 0:
                status = ("fulfilled" if r < 0.70 else "in_progress" if r < 0.74
                          else "no_show" if r < 0.90 else "cancelled")
            elif day == 0 and scheduled <= now:
                status = ("arrived" if r < 0.33 else "in_progress" if r < 0.65
                          else "confirmed" if r < 0.86 else "confirmation_pending")
            elif day == 0:
                status = "confirmed" if r < 0.5 else "confirmation_pending" if r < 0.8 else "requested"
            else:
                status = "confirmed" if r < 0.4 else "confirmation_pending" if r < 0.75 else "requested"

        arrived = None
        ro = None
        updated = created
        if status in ("arrived", "in_progress", "fulfilled"):
            floor = self.midnight(day)
            arrived = max(floor, scheduled + timedelta(minutes=_randint(rng, -20, 25)))
            arrived = self.past(arrived, rng, floor)
            opened = self.past(arrived + timedelta(minutes=_randint(rng, 5, 15)), rng, arrived)
            delivered = None
            delivered_day = day
            if status == "fulfilled":
                if day < 0:
                    delivered_day = day if rng.random() < 0.7 else day + _randint(rng, 1, 2)
                    delivered = max(self.at(delivered_day, _randint(rng, 960, 1170)),
                                    opened + _MINUTES[_randint(rng, 60, 180)])
                    if delivered > now:
                        delivered = None
                elif now - opened >= timedelta(hours=3):
                    delivered = opened + timedelta(hours=2) + (now - opened - timedelta(hours=2)) * rng.random()
                    delivered = delivered.replace(microsecond=0)
                if delivered is None:
                    status = "in_progress"
            ro = self._repair_order(b, ident, rng, opened, delivered, day, service=rng.random() < 0.8)
            if delivered is not None:
                self._courtesy(b, ident, rng, ro, delivered_day)
            updated = ro.dms_updated_at
        elif status == "no_show":
            updated = min(now, scheduled + timedelta(hours=_randint(rng, 2, 30)))
        elif status == "cancelled":
            updated = created + (min(scheduled, now) - created) * rng.random()

        confirmed = None
        comment = ""
        if status == "confirmed" or (status != "requested" and day < 0 and rng.random() < 0.4):
            floor = min(now, created + timedelta(minutes=5))
            confirmed = scheduled - timedelta(minutes=_randint(rng, 120, 4320))
            confirmed = self.past(max(confirmed, floor), rng, floor)
            comment = _pick(rng, self.t["confirm"])
        if kind == "random" and rng.random() < 0.6:
            service_type = self.t["service"].format(
                km=_km(max(10_000, round(self._odometer(ident, scheduled) / 10_000) * 10_000)))
        else:
            service_type = _pick(rng, self.t["service_types"])
        dms_id = f"A{ident.index + 1:07d}-{len(b.appointments)}"
        b.appointments.append(AppointmentRec(
            dms_id=dms_id,
            vehicle_dms_id=ident.dms_id,
            customer_dms_id=ident.customer_dms_id,
            scheduled_at=scheduled,
            service_type=service_type,
            advisor=ro.advisor if ro is not None else _pick(rng, self.advisors),
            status=status,
            source="online" if rng.random() < 0.08 else "dms",
            arrived_at=arrived,
            repair_order_dms_id=ro.dms_id if ro is not None else None,
            created_at=created,
            dms_updated_at=min(now, max(created, updated)),
            confirmed_at=confirmed,
            comment=comment,
        ))
        if confirmed is not None:
            b.activities.append(ActivityRec("confirmation", "appointment", dms_id, ident.customer_dms_id,
                                            ident.dms_id, "phone", "contacted", comment, confirmed))
        return day if status == "no_show" else None

    def _open_ro(self, b: VehicleBundle, ident: _Identity, rng: Random, kind: str) -> None:
        if kind == "random":
            r = rng.random()
            kind = "today" if r < 0.25 else "yesterday" if r < 0.45 else "week" if r < 0.8 else "older"
        day = {"today": 0, "yesterday": -1, "week": _randint(rng, -7, -2), "older": _randint(rng, -40, -8)}[kind]
        if kind in ("week", "older"):
            day = self.workday(day, last=-2 if kind == "week" else -8)
        day = max(day, ident.sold_day)  # a new car: its pre-delivery inspection
        opened = self.past(self.at(day, _randint(rng, 450, 690)), rng, self.midnight(day))
        self._repair_order(b, ident, rng, opened, None, day, service=rng.random() < 0.6)

    # ------------------------------------------------------------------------------- call centre

    def _call(self, b: VehicleBundle, ident: _Identity, rng: Random, subject: str, key: str, outcome: str,
              comment: str, when: datetime, kind: str = "call") -> None:
        channel = _weighted(rng, CHANNELS, CHANNEL_WEIGHTS)
        next_contact = None
        if outcome == "call_back_later":
            next_contact = self.at(self.local_day(when) + _randint(rng, 1, 3), _pick(rng, CALL_SLOTS))
        b.activities.append(ActivityRec(kind, subject, key, ident.customer_dms_id, ident.dms_id, channel, outcome,
                                        comment, when, next_contact_at=next_contact))

    def _crm(self, b: VehicleBundle, ident: _Identity, no_show_day: int | None) -> None:
        rng = self._rng("crm", ident.index)
        plan: list[tuple[str | None, int | None, str | None]] = []  # (origin, due day, status)
        script = ident.script
        if script is not None:
            mode = script.get("opportunity")
            if mode == "no_show" and no_show_day is not None:
                plan.append(("no_show", None, "open"))
            elif mode in ("overdue", "today", "upcoming"):
                plan.append(("manual" if mode != "today" else "completed", {"overdue": -5, "today": 0,
                                                                            "upcoming": 5}[mode], "open"))
            elif mode == "campaign":
                plan.append(("campaign", None, "open"))
        else:
            if no_show_day is not None and rng.random() < 0.6:
                plan.append(("no_show", None, None))
            r = rng.random()
            plan.extend([(None, None, None)] * (1 if r < 0.40 else 2 if r < 0.45 else 0))
        history = [ro for ro in b.repair_orders if ro.delivered_at is not None]
        for k, (origin, day, status) in enumerate(plan):
            self._opportunity(b, ident, rng, k, origin, day, status, no_show_day, history)

    def _opportunity(self, b: VehicleBundle, ident: _Identity, rng: Random, k: int, origin: str | None,
                     day: int | None, status: str | None, no_show_day: int | None,
                     history: list[RepairOrderRec]) -> None:
        now = self.now
        t = self.t
        # One opportunity per campaign and unit: what the campaign manager guarantees too.
        taken = {o.campaign_key for o in b.opportunities}
        targets = [n for n in ident.campaigns if self._campaigns[n].key not in taken]
        if origin is None:
            r = rng.random()
            if -220 <= ident.sold_day <= -150 and rng.random() < 0.7:
                origin = "delivery"
            elif r < 0.35 and targets:
                origin = "campaign"
            elif r < 0.78 and history:
                origin = "completed"
            else:
                origin = "manual"
        if origin == "completed" and not history:
            origin = "manual"
        campaign = None
        if origin == "campaign":
            targets = targets or [0]
            campaign = self._campaigns[targets[0] if ident.script else _pick(rng, targets)]
            due = campaign.due_at
            day = self.local_day(due)
            created = campaign.created_at + timedelta(minutes=_randint(rng, 1, 30))
            note = campaign.note
        elif origin == "delivery":
            day = max(-15, min(15, ident.sold_day + 182)) if day is None else day
            due = self.at(day, _pick(rng, CALL_SLOTS))
            created = self.at(ident.sold_day + 2, _randint(rng, 600, 1080))
            note = t["notes"]["delivery"]
        elif origin == "no_show":
            assert no_show_day is not None
            day = min(15, no_show_day + _randint(rng, 1, 5)) if day is None else day
            due = self.at(day, _pick(rng, CALL_SLOTS))
            floor = self.midnight(no_show_day + 1)
            created = self.past(max(floor, self.at(no_show_day + 1, _randint(rng, 570, 1080))), rng, floor)
            shown = (self.today + timedelta(days=no_show_day)).strftime("%d/%m")
            note = t["notes"]["no_show"].format(date=shown)
        else:
            day = self.workday(_randint(rng, -15, 15), last=15) if day is None else day
            due = self.at(day, _pick(rng, CALL_SLOTS))
            if origin == "completed":
                last = history[-1]
                created = last.delivered_at + timedelta(days=_randint(rng, 1, 3), minutes=_randint(rng, 0, 300))
            else:
                created = self.at(day - _randint(rng, 2, 40), _randint(rng, 570, 1110))
            note = _pick(rng, t["notes"][origin])
        if created > now:
            created = now - timedelta(minutes=_randint(rng, 1, 300))
        if status is None:
            r = rng.random()
            if day < 0:
                status = "open" if r < 0.62 else "sold" if r < 0.84 else "discarded"
            else:
                status = "open" if r < 0.85 else "sold" if r < 0.94 else "discarded"
        key = f"{ident.dms_id}-O{k}"
        opp = OpportunityRec(key, origin, ident.dms_id, ident.customer_dms_id, due, status, note, created,
                             campaign_key=campaign.key if campaign else None)
        if status != "open":
            lo = max(created, due - timedelta(days=3))
            if lo > now:
                lo = created
            closed = (lo + (now - lo) * rng.random()).replace(microsecond=0)
            opp.closed_at = max(closed, created)
            if status == "discarded":
                code = _weighted(rng, DISCARD_CODES, DISCARD_CUM_WEIGHTS)
                opp.discard_reason = code
                opp.discard_comment = t["discard"][code]
                self._call(b, ident, rng, "opportunity", key, "contacted", opp.discard_comment, opp.closed_at)
            else:
                appointment_day = self.local_day(opp.closed_at) + _randint(rng, 1, 10)
                opp.sold_appointment_at = self.at(appointment_day, _pick(rng, SLOTS))
                shown = (self.today + timedelta(days=appointment_day)).strftime("%d/%m")
                self._call(b, ident, rng, "opportunity", key, "contacted", t["sold"].format(date=shown),
                           opp.closed_at)
        else:
            if rng.random() < 0.45:
                outcome = _weighted(rng, OUTCOMES, (50, 75, 100))
                when = (created + (now - created) * rng.random()).replace(microsecond=0)
                self._call(b, ident, rng, "opportunity", key, outcome,
                           _pick(rng, t["comments"][outcome]), max(when, created))
            if rng.random() < 0.08:  # today's work of the call centre
                floor = max(created, self.midnight(0))
                when = self.past(max(floor, self.at(0, _randint(rng, 540, 1140))), rng, floor)
                outcome = _weighted(rng, OUTCOMES, (45, 70, 100))
                self._call(b, ident, rng, "opportunity", key, outcome, _pick(rng, t["comments"][outcome]), when)
        b.opportunities.append(opp)


def generate(seed: int, dealer: DealerProfile, vehicles: int, now: datetime) -> World:
    """The world of ``dealer`` with ``vehicles`` vehicles, anchored at ``now``."""
    return World(seed, dealer, vehicles, now)

