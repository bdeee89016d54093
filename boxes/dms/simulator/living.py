"""A living DMS: the generator's world (``generator.World``) served as the feed-v1 truth, whose
workshop keeps moving — appointments are booked and confirmed, cars arrive and ROs open, ROs are
delivered, Sales delivers new cars — plus fault knobs for the tests.

State is in memory: ``truth[entity][dms_id]`` is the current feed-v1 object and ``index[entity]``
the sorted list of ``(dms_updated_at, dms_id)`` keys the feed pages through. A change always gets
an ``dms_updated_at`` after every existing one, so an incremental reader never misses it.
"""

from __future__ import annotations

import bisect
import json
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from boxes.dms.records import ENTITIES, feed_dict
from boxes.dms.simulator.generator import World
from boxes.dms.simulator.world_records import DealerProfile

FMT = "%Y-%m-%dT%H:%M:%S.%f"
SLOTS = tuple(8 * 60 + 30 * k for k in range(18))


def encode_cursor(updated: datetime, dms_id: str) -> str:
    return f"{updated.astimezone(UTC).strftime(FMT)}|{dms_id}"


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    stamp, _, dms_id = cursor.partition("|")
    return datetime.strptime(stamp, FMT).replace(tzinfo=UTC), dms_id


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


@dataclass
class Faults:
    latency_ms: int = 0
    error_rate: float = 0.0  # HTTP 500
    timeout_rate: float = 0.0  # the answer comes after timeout_seconds
    timeout_seconds: float = 2.0
    truncate_rate: float = 0.0  # the body is cut half-way
    duplicate_rate: float = 0.0  # a page repeats records and records of earlier pages
    malformed_rate: float = 0.0  # per record: a broken copy is served (and the DMS "fixes" it right after)
    out_of_order_rate: float = 0.0  # a page is shuffled and carries stale versions of some records
    token_ttl: float = 3600.0
    seed: int = 0

    def update(self, values: dict) -> None:
        for name, value in values.items():
            if name not in self.__dataclass_fields__:
                raise KeyError(name)
            setattr(self, name, type(getattr(self, name))(value))

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


BREAK = {
    "customers": ("name", None),
    "vehicles": ("vin", "IOQ-NOT-A-VIN"),
    "deliveries": ("delivered_at", "yesterday afternoon"),
    "appointments": ("status", "teleported"),
    "repair_orders": ("opened_at", "32/13/2025 25:61"),
}


@dataclass
class DealerFeed:
    code: str
    world: World
    tz: ZoneInfo
    now: datetime
    truth: dict = field(default_factory=dict)
    index: dict = field(default_factory=dict)
    previous: dict = field(default_factory=dict)  # entity → dms_id → the version before the current one
    next_vehicle: int = 0
    last_stamp: datetime | None = None
    serial: int = 0


class LivingDms:
    """Every dealer's feed of one simulator. Thread-safe (one lock)."""

    def __init__(self, dealers: list[DealerProfile], *, seed: int = 42, vehicles: int = 2000,
                 now: datetime | None = None, reserve: int = 400, events_per_hour: float = 40.0):
        self.lock = threading.RLock()
        self.seed = seed
        self.faults = Faults()
        self.fault_rng = random.Random(seed)
        self.rng = random.Random(seed * 7919 + 1)
        self.events_per_hour = events_per_hour
        self.malformed: list[tuple[str, str, str]] = []  # (dealer, entity, dms_id) served broken
        self.tokens: dict[str, tuple[str, datetime]] = {}
        self.feeds: dict[str, DealerFeed] = {}
        now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        for profile in dealers:
            # The demo's world (``vehicles``) plus the cars Sales will deliver: the first ``vehicles`` are
            # the demo's own, owners included.
            world = World(seed, profile, vehicles, now, reserve=reserve)
            feed = DealerFeed(profile.code, world, ZoneInfo(profile.time_zone), now, next_vehicle=vehicles)
            feed.truth = {e: {} for e in ENTITIES}
            feed.previous = {e: {} for e in ENTITIES}
            for c in world.customers():
                feed.truth["customers"][c.dms_id] = feed_dict("customers", c)
            for b in world.bundles(0, vehicles):
                feed.truth["vehicles"][b.vehicle.dms_id] = feed_dict("vehicles", b.vehicle)
                if b.delivery is not None:
                    feed.truth["deliveries"][b.delivery.dms_id] = feed_dict("deliveries", b.delivery)
                for ro in b.repair_orders:
                    feed.truth["repair_orders"][ro.dms_id] = feed_dict("repair_orders", ro)
                for a in b.appointments:
                    feed.truth["appointments"][a.dms_id] = feed_dict("appointments", a)
            for entity in ENTITIES:
                feed.index[entity] = sorted((_parse(r["dms_updated_at"]), k) for k, r in feed.truth[entity].items())
            feed.last_stamp = max((keys[-1][0] for keys in feed.index.values() if keys), default=now)
            self.feeds[profile.code] = feed

    # --------------------------------------------------------------------------- reading
    def feed(self, code: str) -> DealerFeed:
        return self.feeds[code]

    def page(self, code: str, entity: str, cursor: str | None, limit: int,
             updated_since: str | None = None) -> dict:
        with self.lock:
            feed = self.feeds[code]
            keys = feed.index[entity]
            if cursor:
                start = bisect.bisect_right(keys, decode_cursor(cursor))
            elif updated_since:
                start = bisect.bisect_left(keys, (_parse(updated_since), ""))
            else:
                start = 0
            chosen = keys[start:start + limit]
            records = [feed.truth[entity][k] for _, k in chosen]
            next_cursor = encode_cursor(*chosen[-1]) if chosen else cursor
            return {"entity": entity, "records": records, "next_cursor": next_cursor,
                    "has_more": start + limit < len(keys), "_start": start}

    def faulty_page(self, code: str, entity: str, cursor: str | None, limit: int,
                    updated_since: str | None = None) -> dict:
        """``page`` with the record-level faults applied (duplicates, stale, broken records)."""
        with self.lock:
            body = self.page(code, entity, cursor, limit, updated_since)
            start = body.pop("_start")
            feed = self.feeds[code]
            f, rng = self.faults, self.fault_rng
            records = list(body["records"])
            if f.duplicate_rate and rng.random() < f.duplicate_rate and records:
                records += rng.sample(records, k=max(1, len(records) // 3))
                keys = feed.index[entity][max(0, start - limit):start]
                records += [feed.truth[entity][k] for _, k in keys]
            if f.out_of_order_rate and rng.random() < f.out_of_order_rate:
                stale = [feed.previous[entity][r["dms_id"]] for r in records if r["dms_id"] in feed.previous[entity]]
                records += stale
                rng.shuffle(records)
            if f.malformed_rate:
                out = []
                for r in records:
                    if rng.random() < f.malformed_rate:
                        name, value = BREAK[entity]
                        broken = dict(r)
                        broken[name] = value
                        out.append(broken)
                        self.malformed.append((code, entity, r["dms_id"]))
                        self._touch(feed, entity, r["dms_id"], {})  # the DMS operator fixes it
                    else:
                        out.append(r)
                records = out
            body["records"] = records
            return body

    # --------------------------------------------------------------------------- writing
    def _stamp(self, feed: DealerFeed, at: datetime) -> datetime:
        stamp = max(at, feed.last_stamp + timedelta(microseconds=1))
        feed.last_stamp = stamp
        return stamp

    def _touch(self, feed: DealerFeed, entity: str, dms_id: str, changes: dict) -> dict:
        current = feed.truth[entity].get(dms_id)
        stamp = self._stamp(feed, feed.now)
        if current is not None:
            feed.previous[entity][dms_id] = current
            keys = feed.index[entity]
            i = bisect.bisect_left(keys, (_parse(current["dms_updated_at"]), dms_id))
            if i < len(keys) and keys[i][1] == dms_id:
                del keys[i]
        new = {**(current or {}), **changes, "dms_updated_at": stamp.isoformat()}
        feed.truth[entity][dms_id] = new
        feed.index[entity].append((stamp, dms_id))  # the newest key: the list stays sorted
        return new

    def _local(self, feed: DealerFeed, day_offset: int, minutes: int) -> datetime:
        today = feed.now.astimezone(feed.tz).date() + timedelta(days=day_offset)
        return datetime(today.year, today.month, today.day, tzinfo=feed.tz).astimezone(UTC) + timedelta(
            minutes=minutes)

    def advance(self, minutes: float = 10.0, events: int | None = None) -> int:
        """Move every dealer's clock ``minutes`` ahead and let the workshop live. Returns the
        number of changes made."""
        with self.lock:
            made = 0
            for feed in self.feeds.values():
                feed.now = max(feed.now + timedelta(minutes=minutes), feed.last_stamp)
                n = events if events is not None else self._poisson(self.events_per_hour * minutes / 60)
                for _ in range(n):
                    made += self._event(feed)
                made += self._workshop(feed, minutes)
            return made

    def set_now(self, now: datetime) -> int:
        """Real-time mode: advance to ``now``."""
        with self.lock:
            feed = next(iter(self.feeds.values()), None)
            if feed is None or now <= feed.now:
                return 0
            return self.advance((now - feed.now).total_seconds() / 60)

    def _poisson(self, mean: float) -> int:
        n, p, target = 0, 1.0, pow(2.718281828, -mean)
        while True:
            p *= self.rng.random()
            if p < target:
                return n
            n += 1

    def _event(self, feed: DealerFeed) -> int:
        r = self.rng.random()
        vehicles = list(feed.truth["vehicles"])
        if not vehicles:
            return 0
        if r < 0.45:  # a customer books
            v = feed.truth["vehicles"][self.rng.choice(vehicles)]
            feed.serial += 1
            day = self.rng.randint(1, 10)
            when = self._local(feed, day, self.rng.choice(SLOTS))
            self._touch(feed, "appointments", f"A-L{feed.serial:06d}", {
                "dms_id": f"A-L{feed.serial:06d}", "vehicle_dms_id": v["dms_id"],
                "customer_dms_id": v["customer_dms_id"], "scheduled_at": when.isoformat(),
                "service_type": "Service", "advisor": feed.world.advisors[0], "status": "requested",
                "source": "dms", "arrived_at": None, "repair_order_dms_id": None})
            return 1
        if r < 0.65:  # confirmation
            pending = [a for a in feed.truth["appointments"].values()
                       if a["status"] in ("requested", "confirmation_pending") and _parse(a["scheduled_at"]) > feed.now]
            if pending:
                a = self.rng.choice(pending)
                self._touch(feed, "appointments", a["dms_id"], {"status": "confirmed"})
                return 1
            return 0
        if r < 0.8:  # a walk-in
            v = feed.truth["vehicles"][self.rng.choice(vehicles)]
            self._open_ro(feed, v)
            return 1
        # Sales delivers a new car
        i = feed.next_vehicle
        if i >= feed.world.n_vehicles:
            return 0
        feed.next_vehicle += 1
        b = feed.world.bundle(i)
        buyer = feed.world.customer(b.customer_index)
        made = 2
        if buyer.dms_id not in feed.truth["customers"]:  # a new customer: Sales registers them with the sale
            customer = feed_dict("customers", buyer)
            customer.pop("dms_updated_at")
            self._touch(feed, "customers", buyer.dms_id, customer)
            made += 1
        v = feed_dict("vehicles", b.vehicle)
        v["sold_on"] = feed.now.astimezone(feed.tz).date().isoformat()
        v.pop("dms_updated_at")
        self._touch(feed, "vehicles", v["dms_id"], v)
        self._touch(feed, "deliveries", f"D-L{i + 1:07d}", {
            "dms_id": f"D-L{i + 1:07d}", "vehicle_dms_id": v["dms_id"], "customer_dms_id": v["customer_dms_id"],
            "delivered_at": feed.now.isoformat(), "salesperson": feed.world.salespeople[0]})
        return made

    def _open_ro(self, feed: DealerFeed, v: dict, appointment: dict | None = None) -> dict:
        feed.serial += 1
        dms_id = f"R-L{feed.serial:06d}"
        ro = self._touch(feed, "repair_orders", dms_id, {
            "dms_id": dms_id, "number": str(90_000_000 + feed.serial), "vehicle_dms_id": v["dms_id"],
            "customer_dms_id": v["customer_dms_id"], "opened_at": feed.now.isoformat(),
            "promised_at": (feed.now + timedelta(hours=6)).isoformat(), "delivered_at": None, "status": "open",
            "mileage": v.get("mileage"), "advisor": feed.world.advisors[1],
            "lines": [{"line_no": 1, "work_done": "Service", "result": "", "incidents": "", "declined": False}]})
        if appointment is not None:
            self._touch(feed, "appointments", appointment["dms_id"], {
                "status": "arrived", "arrived_at": feed.now.isoformat(), "repair_order_dms_id": dms_id})
        return ro

    def _workshop(self, feed: DealerFeed, minutes: float = 60.0) -> int:
        """Cars whose appointment time has come arrive (about one in ten never does: a no-show); ROs
        open for 2+ hours are delivered, a few per hour, so In process never drains at once."""
        made = 0
        today = feed.now.astimezone(feed.tz).date()
        arrive = min(1.0, 1.5 * minutes / 60)
        deliver = min(1.0, 0.2 * minutes / 60)
        for a in list(feed.truth["appointments"].values()):
            if a["status"] not in ("requested", "confirmation_pending", "confirmed"):
                continue
            if sum(a["dms_id"].encode()) % 10 == 0:
                continue  # this one does not come
            at = _parse(a["scheduled_at"])
            if at <= feed.now and at.astimezone(feed.tz).date() == today and self.rng.random() < arrive:
                v = feed.truth["vehicles"].get(a["vehicle_dms_id"])
                if v is not None:
                    self._open_ro(feed, v, a)
                    made += 1
        for ro in list(feed.truth["repair_orders"].values()):
            if ro["status"] == "open" and _parse(ro["opened_at"]) <= feed.now - timedelta(hours=2) \
                    and self.rng.random() < deliver:
                self._touch(feed, "repair_orders", ro["dms_id"], {
                    "status": "delivered", "delivered_at": feed.now.isoformat(),
                    "lines": [{**ln, "result": "OK"} for ln in ro.get("lines", [])]})
                made += 1
        return made

    # --------------------------------------------------------------------------- auth
    def issue_token(self, code: str) -> tuple[str, float]:
        with self.lock:
            token = f"{code}-{self.fault_rng.getrandbits(64):016x}"
            self.tokens[token] = (code, datetime.now(UTC) + timedelta(seconds=self.faults.token_ttl))
            return token, self.faults.token_ttl

    def token_valid(self, code: str, token: str) -> bool:
        found = self.tokens.get(token)
        return found is not None and found[0] == code and found[1] > datetime.now(UTC)

    def truth_json(self, code: str) -> str:
        with self.lock:
            return json.dumps(self.feeds[code].truth)
