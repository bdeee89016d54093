"""The OEM's CRM as the simulator keeps it: the leads of every simulated dealer, the status events
received, the tokens issued, the open queries — and what was served broken, for the tests.

State is in memory, behind one lock. A lead is a dict that is replaced, never changed in place, so
a query's snapshot (a list of the dicts it matched) stays what it was when the query ran.
``index[code]`` is the sorted list of ``(SystemModstamp, Id)`` the feed reads from.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import secrets
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from boxes.dms.simulator.generator import DealerProfile
from boxes.oem.api import (
    LEAD_STATUS_OF_STAGE,
    LEADS_PATH,
    STAGES,
    STATUS_FIELDS,
    SUBSTAGES,
    error_body,
    floor_minute,
    format_instant,
    parse_instant,
    record_id,
    valid_event_id,
)
from boxes.oem.simulator.generator import ORG, UNKNOWN_TYPES, LeadGenerator

# Faults drawn per call: which endpoints each one can hit.
FAULT_TARGETS = {
    "error": ("token", "leads", "status"),  # HTTP 500 UNKNOWN_EXCEPTION
    "unavailable": ("token", "leads", "status"),  # HTTP 503 SERVER_UNAVAILABLE + Retry-After
    "rate_limit": ("token", "leads", "status"),  # HTTP 429 REQUEST_LIMIT_EXCEEDED + Retry-After
    "timeout": ("token", "leads", "status"),  # handled, then answered after timeout_seconds
    "truncate": ("token", "leads", "status"),  # a 200 whose JSON is cut half-way
    "expired_token": ("leads", "status"),  # HTTP 401 INVALID_SESSION_ID (the token is revoked)
    "row_lock": ("status",),  # HTTP 400 UNABLE_TO_LOCK_ROW
}
RATE_OF = {"error": "error_rate", "unavailable": "unavailable_rate", "rate_limit": "rate_limit_rate",
           "timeout": "timeout_rate", "truncate": "truncate_rate", "row_lock": "row_lock_rate"}
# How a malformed copy of a lead is broken (in turn).
MALFORMATIONS = ("no_id", "bad_id", "bad_stamp", "not_object", "no_type", "wrong_type")


@dataclass
class Faults:
    latency_ms: int = 0
    error_rate: float = 0.0
    unavailable_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after: int = 2  # seconds, sent with 429 and 503
    timeout_rate: float = 0.0
    timeout_seconds: float = 2.0
    truncate_rate: float = 0.0
    row_lock_rate: float = 0.0
    duplicate_rate: float = 0.0  # per page: it repeats some of its leads and leads of the page before
    malformed_rate: float = 0.0  # per lead served: a broken copy (the OEM fixes the lead right after)
    unknown_type_rate: float = 0.0  # per new lead: a lead type Boxes does not know
    foreign_dealer_rate: float = 0.0  # per new lead: another dealer's code, in this dealer's feed
    token_ttl: float = 7200.0
    announce_ttl: bool = True  # send expires_in (Salesforce does not; RFC 6749 recommends it)
    token_error: str = ""  # "invalid_client" | "invalid_grant": the token endpoint refuses everyone
    locator_ttl: float = 900.0  # seconds a query's next page stays readable after its last use
    seed: int = 0

    def update(self, values: dict) -> None:
        for name, value in values.items():
            if name not in self.__dataclass_fields__:
                raise KeyError(name)
            kind = type(getattr(self, name))
            if kind is bool:
                value = value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
            setattr(self, name, kind(value))
        if self.token_error not in ("", "invalid_client", "invalid_grant"):
            self.token_error = ""
            raise ValueError("token_error")

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def parse_next(entries: list) -> list[tuple[str, str | None]]:
    """``["row_lock@status", "timeout"]`` → ``[("row_lock", "status"), ("timeout", None)]``."""
    out = []
    for entry in entries:
        kind, _, target = str(entry).partition("@")
        if kind not in FAULT_TARGETS or (target and target not in FAULT_TARGETS[kind]):
            raise ValueError(entry)
        out.append((kind, target or None))
    return out


@dataclass
class Query:
    code: str
    records: list
    covered: datetime
    batch: int
    used: float = field(default_factory=time.monotonic)


class LivingOem:
    """The leads of ``dealers`` and the org's API state. Thread-safe (one lock)."""

    def __init__(self, dealers: list[DealerProfile], *, seed: int = 42, vehicles: int = 2000,
                 now: datetime | None = None, clock: str = "simulated", leads_per_hour: float = 6.0,
                 backlog: int = 20, backlog_hours: float = 72.0, client_id: str = "boxes",
                 client_secret: str = "simulator"):  # noqa: S107 - the demo OEM's published secret
        self.lock = threading.RLock()
        self.faults = Faults()
        self.next_faults: list[tuple[str, str | None]] = []
        self.fault_rng = random.Random(seed)
        self.rng = random.Random(seed * 7919 + 3)
        self.real_clock = clock == "real"
        self.now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        self.generated_until = self.now  # real clock: the leads of the time up to here are made
        self.leads_per_hour = leads_per_hour
        self.client_id, self.client_secret = client_id, client_secret
        self.generator = LeadGenerator(seed, dealers, vehicles, self.now)
        self.codes = [d.code for d in dealers]
        self.leads: dict[str, dict[str, dict]] = {code: {} for code in self.codes}
        self.index: dict[str, list[tuple[datetime, str]]] = {code: [] for code in self.codes}
        self.owner: dict[str, str] = {}  # lead id → the dealer whose feed has it
        self.serial = 0
        self.events: dict[str, dict] = {}
        self.event_serial = itertools.count(1)
        self.tokens: dict[str, float] = {}  # token → expiry (epoch)
        self.queries: dict[str, Query] = {}
        self.malformed: list[dict] = []
        self.stats: Counter[str] = Counter()
        self.calls: deque[dict] = deque(maxlen=5000)
        self.call_seq = 0
        self.not_before = 0.0  # monotonic: a Retry-After given is in force until then
        start = self.now - timedelta(hours=backlog_hours)
        for code in self.codes:
            for n in range(backlog):
                at = start + (self.now - start) * (n + 1) / (backlog + 1)
                self._new_lead(code, at.replace(microsecond=0))

    # ------------------------------------------------------------------------------ time
    def clock(self) -> datetime:
        """The org's current second (the wall clock, or the simulated one)."""
        if self.real_clock:
            self.now = max(self.now, datetime.now(UTC).replace(microsecond=0))
        return self.now

    def advance(self, minutes: float = 10.0, leads: int | None = None) -> int:
        """Simulated time: move ``minutes`` ahead; each dealer gets ``leads`` new leads (default: a
        Poisson draw at ``leads_per_hour``), spread over those minutes. Returns how many were made."""
        with self.lock:
            start = self.now
            self.now = start + timedelta(seconds=round(minutes * 60))
            return self._generate(start, leads, minutes)

    def set_now(self, now: datetime) -> int:
        """Real time: the leads of the time since the last tick, stamped now (never before a read
        that already happened, so no reader can miss them)."""
        with self.lock:
            previous = self.generated_until
            now = now.astimezone(UTC).replace(microsecond=0)
            if now <= previous:
                return 0
            self.generated_until = now
            self.now = max(self.now, now)
            return self._generate(self.now, None, (now - previous).total_seconds() / 60)

    def _generate(self, start: datetime, leads: int | None, minutes: float) -> int:
        made = 0
        for code in self.codes:
            n = leads if leads is not None else self._poisson(self.leads_per_hour * minutes / 60)
            for k in range(n):
                at = start + (self.now - start) * (k + 1) / n if start < self.now else self.now
                self._new_lead(code, at.replace(microsecond=0))
                made += 1
        return made

    def _poisson(self, mean: float) -> int:
        n, p, target = 0, 1.0, math.exp(-mean)
        while True:
            p *= self.rng.random()
            if p < target:
                return n
            n += 1

    # ------------------------------------------------------------------------------ leads
    def _index_put(self, code: str, lead: dict, old: dict | None) -> None:
        keys = self.index[code]
        if old is not None:
            i = bisect.bisect_left(keys, (parse_instant(old["SystemModstamp"]), old["Id"]))
            if i < len(keys) and keys[i][1] == old["Id"]:
                del keys[i]
        bisect.insort(keys, (parse_instant(lead["SystemModstamp"]), lead["Id"]))
        self.leads[code][lead["Id"]] = lead

    def _new_lead(self, code: str, at: datetime, fields: dict | None = None, **kwargs) -> dict:
        self.serial += 1
        lead = self.generator.lead(code, self.serial, at, **kwargs) | (fields or {})
        f = self.faults
        if f.unknown_type_rate and self.fault_rng.random() < f.unknown_type_rate:
            lead["LeadType__c"] = self.fault_rng.choice(UNKNOWN_TYPES)
        if f.foreign_dealer_rate and self.fault_rng.random() < f.foreign_dealer_rate:
            lead["Dealer_Code__c"] = code[:-2] + "99"  # a sister dealer Boxes does not serve
        self.owner[lead["Id"]] = code
        self._index_put(code, lead, None)
        self.stats["leads_created"] += 1
        return lead

    def create_lead(self, code: str, lead_type: str | None = None, contact: str | None = None,
                    fields: dict | None = None) -> dict:
        """One lead now; ``fields`` replace what the generator made (a test's phone, a type Boxes
        does not know, another dealer's code...)."""
        with self.lock:
            return self._new_lead(code, self.clock(), fields, lead_type=lead_type, contact=contact)

    def change_lead(self, lead_id: str, fields: dict) -> dict | None:
        """A user of the OEM's CRM edits a lead: a new version (SystemModstamp now). None: no such lead."""
        with self.lock:
            if lead_id not in self.owner:
                return None
            self.stats["leads_changed"] += 1
            return self._touch(lead_id, fields)

    def _touch(self, lead_id: str, changes: dict) -> dict:
        code = self.owner[lead_id]
        old = self.leads[code][lead_id]
        # Every edit is a new version, as Salesforce's SystemModstamp (milliseconds) is: two edits in
        # one second of the clock are a millisecond apart.
        stamp = format_instant(max(self.clock(), parse_instant(old["SystemModstamp"]) + timedelta(milliseconds=1)))
        new = {**old, **changes, "LastModifiedDate": stamp, "SystemModstamp": stamp}
        self._index_put(code, new, old)
        return new

    # ------------------------------------------------------------------------------ the feed
    def query(self, code: str, start: datetime, batch: int) -> dict:
        """The leads of ``code`` changed since ``start`` (its seconds ignored), as of now."""
        with self.lock:
            start = floor_minute(start)
            keys = self.index[code]
            i = bisect.bisect_left(keys, (start, ""))
            records = [self.leads[code][lead_id] for _, lead_id in keys[i:]]
            # Whatever changes during this second or later may not be in this answer: the next
            # read starts at the minute of now, so it gets them (and reads that minute again).
            covered = floor_minute(self.clock())
            now = time.monotonic()
            for key in [k for k, q in self.queries.items() if now - q.used > self.faults.locator_ttl]:
                del self.queries[key]
            locator = "01g" + ORG + secrets.token_hex(5).upper()
            self.queries[locator] = Query(code, records, covered, batch)
            self.stats["queries"] += 1
            return self._page(locator, 0)

    def next_page(self, locator: str, offset: int) -> dict | None:
        """A later page of a query; None when the query is unknown or expired."""
        with self.lock:
            q = self.queries.get(locator)
            if q is None or time.monotonic() - q.used > self.faults.locator_ttl or not 0 < offset < len(q.records):
                return None
            return self._page(locator, offset)

    def _page(self, locator: str, offset: int) -> dict:
        q = self.queries[locator]
        q.used = time.monotonic()
        records = list(q.records[offset:offset + q.batch])
        done = offset + q.batch >= len(q.records)
        f, rng = self.faults, self.fault_rng
        if records and f.duplicate_rate and rng.random() < f.duplicate_rate:
            records += rng.sample(records, k=max(1, len(records) // 3))
            records += q.records[max(0, offset - 3):offset]
            self.stats["duplicated_pages"] += 1
        if f.malformed_rate:
            records = [self._malformed(q.code, r) if rng.random() < f.malformed_rate else r for r in records]
        body = {"totalSize": len(q.records), "done": done, "latestDateCovered": format_instant(q.covered),
                "records": records}
        if done:
            del self.queries[locator]
        else:
            body["nextRecordsUrl"] = f"{LEADS_PATH}/{locator}-{offset + q.batch}"
        self.stats["pages"] += 1
        return body

    def _malformed(self, code: str, lead: dict):
        kind = MALFORMATIONS[len(self.malformed) % len(MALFORMATIONS)]
        broken: object = dict(lead)
        if kind == "no_id":
            del broken["Id"]
        elif kind == "bad_id":
            broken["Id"] = lead["Id"][:14] + "-"
        elif kind == "bad_stamp":
            broken["SystemModstamp"] = "31/02/2025 25:61"
        elif kind == "not_object":
            broken = f"{lead['Id']};{lead['LastName']}"
        elif kind == "no_type":
            broken["LeadType__c"] = None
        else:
            broken["MobilePhone"] = 5491144445555
        self.malformed.append({"dealer": code, "lead_id": lead["Id"], "kind": kind})
        self._touch(lead["Id"], {})  # the OEM fixes the record: its good version comes on the next read
        return broken

    # ------------------------------------------------------------------------------ status events
    def upsert_status(self, event_id: str, body: object) -> tuple[int, object]:
        """One status event, keyed by its event id. Returns (HTTP status, answer)."""
        with self.lock:
            if not valid_event_id(event_id):
                return 400, error_body("INVALID_FIELD", f"Event_Id__c: bad value {event_id[:90]!r}",
                                       ["Event_Id__c"])
            if not isinstance(body, dict):
                return 400, error_body("JSON_PARSER_ERROR", "the body is not a JSON object")
            unknown = [k for k in body if k not in STATUS_FIELDS]
            if unknown:
                return 400, error_body("INVALID_FIELD",
                                       f"No such column '{unknown[0][:80]}' on sobject of type Lead_Status_Event__c",
                                       unknown[:1])
            missing = [k for k in ("Lead__c", "Trigger__c", "Stage__c", "Event_Date__c") if not body.get(k)]
            if missing:
                return 400, error_body("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]",
                                       missing)
            lead_id = body["Lead__c"]
            if not isinstance(lead_id, str) or lead_id not in self.owner:
                return 400, error_body("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["Lead__c"])
            for name, allowed in (("Stage__c", STAGES), ("Substage__c", SUBSTAGES)):
                value = body.get(name)
                if value is not None and value not in allowed:
                    return 400, error_body("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                                           f"{name[:-3]}: bad value for restricted picklist field: {str(value)[:80]}",
                                           [name])
            try:
                parse_instant(body["Event_Date__c"])
            except (ValueError, TypeError):
                return 400, error_body("INVALID_TYPE_ON_FIELD_IN_RECORD", "Event Date: value not of required type",
                                       ["Event_Date__c"])
            known = self.events.get(event_id)
            if known is not None:
                known["repeats"] += 1
                if known["body"] != body:
                    known["differing_repeats"] += 1
                self.stats["status_repeats"] += 1
                return 200, {"id": known["id"], "success": True, "errors": [], "created": False}
            event = {"event_id": event_id, "id": record_id("a0X", ORG, next(self.event_serial)),
                     "dealer": self.owner[lead_id], "body": body, "received_at": format_instant(datetime.now(UTC)),
                     "repeats": 0, "differing_repeats": 0}
            self.events[event_id] = event
            changes = {"Stage__c": body["Stage__c"], "Substage__c": body.get("Substage__c")}
            if body["Stage__c"] in LEAD_STATUS_OF_STAGE:
                changes["Status"] = LEAD_STATUS_OF_STAGE[body["Stage__c"]]
            self._touch(lead_id, changes)
            self.stats["status_created"] += 1
            return 201, {"id": event["id"], "success": True, "errors": [], "created": True}

    # ------------------------------------------------------------------------------ tokens
    def issue_token(self) -> tuple[str, float]:
        with self.lock:
            token = f"00D{ORG}000000Boxes!AQ{secrets.token_urlsafe(36)}"
            self.tokens[token] = time.time() + self.faults.token_ttl
            self.stats["tokens_issued"] += 1
            return token, self.faults.token_ttl

    def token_valid(self, token: str) -> bool:
        return self.tokens.get(token, 0.0) > time.time()

    def revoke(self, token: str | None = None) -> int:
        """End one session (or all of them) before its time."""
        with self.lock:
            chosen = [token] if token is not None else list(self.tokens)
            for t in chosen:
                if t in self.tokens:
                    self.tokens[t] = 0.0
            return len(chosen)

    # ------------------------------------------------------------------------------ faults
    def draw_fault(self, endpoint: str) -> str | None:
        """The fault this call meets: the first queued one for its endpoint, else one drawn at the
        knobs' rates."""
        with self.lock:
            for i, (kind, target) in enumerate(self.next_faults):
                if endpoint in FAULT_TARGETS[kind] and target in (None, endpoint):
                    del self.next_faults[i]
                    return kind
            for kind, rate_name in RATE_OF.items():
                rate = getattr(self.faults, rate_name)
                if rate and endpoint in FAULT_TARGETS[kind] and self.fault_rng.random() < rate:
                    return kind
            return None

    def slow_down(self) -> int:
        """A Retry-After is given: calls before it ends are refused again (and counted)."""
        with self.lock:
            seconds = max(0, int(self.faults.retry_after))
            self.not_before = max(self.not_before, time.monotonic() + seconds)
            return seconds

    def too_early(self) -> int:
        """Seconds (rounded up) a caller still had to wait; 0 when it is welcome."""
        left = self.not_before - time.monotonic()
        return math.ceil(left) if left > 0 else 0

    def record_call(self, endpoint: str, method: str, status: int, fault: str | None) -> None:
        with self.lock:
            self.call_seq += 1
            self.calls.append({"seq": self.call_seq, "endpoint": endpoint, "method": method, "status": status,
                               "fault": fault})
            self.stats[f"{endpoint}_{status}"] += 1

    # ------------------------------------------------------------------------------ truth
    def truth(self, code: str) -> dict:
        with self.lock:
            return {"leads": dict(self.leads[code]),
                    "events": {k: e for k, e in self.events.items() if e["dealer"] == code},
                    "malformed": [m for m in self.malformed if m["dealer"] == code],
                    "now": format_instant(self.clock())}
