"""The OEM lead import (issue 14, item 3): one dealer's leads changed since its watermark, read from
the OEM's CRM page by page and stored with the watermark, each page in one transaction.

    result = import_leads(session, dealer, redis, trigger="cron")   # jobs/oem_import.py calls it

- **Watermark**: ``OemConnector.watermark`` is where the next read starts. Each page is stored with
  its ``resume_from`` in the same transaction as its leads, so a process killed between pages resumes
  after the last page it committed. The OEM ignores seconds, so the leads of the watermark's minute
  come again on the next read: the upsert absorbs them, and a lead changed in the same second as a
  read is never missed.
- **Upsert by (dealer, lead id)** (``OemLead``): the same lead twice never makes two opportunities;
  a newer version (``SystemModstamp``) updates the stored lead and the opportunity's OEM text but
  never what a caller did (state, assignee, due date, a note they wrote); an older or equal version
  is ignored. A quarantined lead is decided again when any version at least as new comes.
- **The customer**: matched on the lead's phones (E.164), e-mail (case aside), tax id (digits), then
  its car's VIN or plate among the dealer's vehicles; else created from the lead's basic data,
  ``dms_id`` ``oem:<lead id>``, ``to_complete``. A lead Boxes cannot reach anybody through (no valid
  phone or e-mail, and no customer of the dealer with its tax id, VIN or plate) is quarantined with
  its reason.
- **Dispositions**: service and after-sales leads become board opportunities (origin ``oem_lead``),
  assigned per the connector's distribution (``direct`` to an active user, else the queue); parts
  leads go to the connector's parts user; vehicle leads are recorded "for Sales"; an unknown type,
  a malformed lead that carries its id, and a lead without contact are quarantined; another dealer's
  lead is refused. Every lead received and every HTTP call goes to the integration log
  (``OemCallLog``). A lead taken (board or parts) owes the OEM ``NEW`` then ``ATR``: written into the
  outbox by its page's transaction, the dealer's relay queued after the commit.
- **Failures**: the connector keeps ``last_import_at`` and ``last_import_error``. Refused credentials
  (``AuthStopped``) and a wrong setting (or an address off the operator's allow-list: the client
  connects through the DMS feed's guarded transport, :mod:`boxes.oem.reach`) stop the import with
  their message until an admin acts (returned, never retried); an OEM that is down, slow or
  rate-limiting raises after the message is stored, for RQ's ``Retry`` to run the job later.

No Flask here: the job calls it. docs/integrations.md ("OEM lead import") is its prose.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from boxes.audit import record
from boxes.board.opportunities import assignees
from boxes.db import utcnow
from boxes.dms.connectors.boundaries import OutOfBounds
from boxes.formatting import normalize_phone
from boxes.identifiers import normalize_tax_id, plate_variants, validate_vin
from boxes.inputs import shown
from boxes.models import Customer, Dealer, OemConnector, OemLead, Opportunity, Vehicle
from boxes.models.oem import BOARD_LEAD_TYPES, SALES_LEAD_TYPES
from boxes.oem import reach as oem_reach
from boxes.oem import triggers
from boxes.oem.api import LEAD_TYPES, parse_instant
from boxes.oem.client import AuthStopped, LeadPage, MalformedLead, OemError, OemSettingsError
from boxes.oem.connection import CallRecorder, open_client
from boxes.oem.leads import Lead
from jobs.oem_relay import enqueue_relay

NOTE_MAX = 2000  # what a caller's note may hold on the board (boxes.board.opportunities.MAX_NOTE)
PHONE_TAIL = 8  # digits that end every way a number is written: the subscriber's (see _phone_tail)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # the version of a malformed lead whose stamp cannot be read
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]{2,}")
# What people put between the digits of a phone number (a DMS keeps it as typed).
_PHONE_PUNCTUATION = " -().+/"


@dataclass
class ImportResult:
    """What one run did (the job's result, and the audit row's counts)."""

    pages: int = 0
    received: int = 0  # well-formed leads read, the watermark's overlap included
    opportunities: int = 0  # new leads on the board
    parts: int = 0  # new leads for the parts user
    sales: int = 0  # new vehicle leads, recorded for Sales
    quarantined: int = 0  # new quarantine entries (no contact, unknown type, malformed with an id)
    updated: int = 0  # newer versions of leads already stored
    unchanged: int = 0  # versions already stored
    duplicates: int = 0  # repeats of a lead within one read
    malformed: int = 0
    refused: int = 0  # leads of another dealer code
    customers_created: int = 0
    error: str = ""  # why the run stopped early ("" when it read everything)
    stopped: bool = False  # only an admin can make it go again (credentials, a setting)
    skipped: str = ""  # why nothing was read (no enabled connector)

    def add(self, counts: Counter) -> None:
        for name, value in counts.items():
            setattr(self, name, getattr(self, name) + value)


# ------------------------------------------------------------------------------------ the run

def import_leads(session: Session, dealer: Dealer, redis, *, trigger: str = "cron", config=None) -> ImportResult:
    """Read the dealer's leads changed since its watermark and store them. Raises the OEM's
    retryable errors (``RateLimited``, ``Transient``, ``MalformedAnswer``) once their message is
    stored on the connector, so the job is retried later; returns otherwise. ``config``: the
    operator's settings (the allow-list the OEM's address must stay on; else the environment's)."""
    result = ImportResult()
    connector = session.scalar(select(OemConnector).where(OemConnector.dealer_id == dealer.id))
    if connector is None or not connector.enabled:
        result.skipped = "no enabled OEM connector"
        return result
    recorder = CallRecorder(dealer.id)
    try:
        reach = oem_reach.boundaries(session, dealer, config)
        with open_client(connector, redis, recorder, reach=reach) as client:
            intake = _Intake(session, dealer, connector, client.connection.dealer_code, recorder, trigger)
            for page in client.read_leads(connector.watermark):
                counts = intake.store(page)
                result.add(counts)
                if counts["opportunities"] or counts["parts"]:
                    enqueue_relay(redis, dealer.id)  # their NEW and ATR are committed: the relay sends them
    except (OemSettingsError, OutOfBounds) as exc:
        _finish(session, connector, recorder, result, f"a setting of the OEM connector is wrong: {exc}", stop=True)
    except AuthStopped as exc:
        _finish(session, connector, recorder, result, exc.message, stop=True)
    except OemError as exc:
        _finish(session, connector, recorder, result, exc.message)
        if exc.retryable:
            raise
    except Exception as exc:  # a bug or the database: the page's transaction is undone, the next run redoes it
        session.rollback()
        _finish(session, connector, CallRecorder(dealer.id), result,
                f"internal error ({exc.__class__.__name__}: {str(exc)[:200]})")
        raise
    else:
        _finish(session, connector, recorder, result, "")
    return result


def _finish(session: Session, connector: OemConnector, recorder: CallRecorder, result: ImportResult, error: str,
            *, stop: bool = False) -> None:
    """The run's outcome on the connector, with the calls not yet logged. A stop is audited when it
    starts (not again at every cron run while it lasts)."""
    error = shown(error)
    result.error, result.stopped = error, stop
    if stop and connector.last_import_error != error:
        record(session, dealer_id=connector.dealer_id, user_id=None, action="oem.import_stopped",
               entity="oem_connector", entity_id=connector.id, data={"error": error})
    connector.last_import_at = utcnow()
    connector.last_import_error = error
    recorder.flush(session)
    session.commit()


# ------------------------------------------------------------------------------------ contact keys

@dataclass
class ContactKeys:
    """What a lead gives to find its customer, normalised for the dealer's country, and what was
    wrong with what it gave (the quarantine's reason)."""

    phones: dict[str, str] = field(default_factory=dict)  # column of Customer → E.164
    email: str = ""
    tax_id: str = ""
    vin: str = ""
    plates: tuple[str, ...] = ()
    problems: list[str] = field(default_factory=list)

    @property
    def reachable(self) -> bool:
        return bool(self.phones or self.email)

    @property
    def tails(self) -> set[str]:
        return {_phone_tail(e164) for e164 in self.phones.values()}


def contact_keys(lead: Lead, country: str) -> ContactKeys:
    keys = ContactKeys()
    for name, column, value in (("MobilePhone", "phone_mobile", lead.mobile_phone),
                                ("Phone", "phone_home", lead.phone)):
        value = value.strip()
        e164 = normalize_phone(value[:40], country).e164 if value else None
        if e164 is not None and e164 not in keys.phones.values():
            keys.phones[column] = e164
        elif value and e164 is None:
            keys.problems.append(f"{name} {value[:40]!r} is not a phone number of {country}")
    if not (lead.mobile_phone.strip() or lead.phone.strip()):
        keys.problems.append("no phone")
    email = lead.email.strip()
    if email and len(email) <= 200 and _EMAIL.fullmatch(email):
        keys.email = email
    else:
        keys.problems.append(f"Email {email[:60]!r} is not an e-mail address" if email else "no e-mail")
    keys.tax_id = normalize_tax_id(lead.tax_id[:40], country)
    if lead.tax_id.strip() and not keys.tax_id:
        keys.problems.append(f"Tax_Id__c {lead.tax_id[:40]!r} is not a tax id of {country}")
    vin = validate_vin(lead.vin[:40]) if lead.vin.strip() else None
    keys.vin = vin.vin if vin is not None and vin.valid else ""
    keys.plates = plate_variants(lead.plate[:20], country)
    return keys


def _phone_tail(e164: str) -> str:
    """The last digits of a number, the same whether it is written national or international."""
    return e164[-PHONE_TAIL:]


def _digits(column):
    for character in _PHONE_PUNCTUATION:
        column = func.replace(column, character, "")
    return column


def _stored_tail(column):
    """The SQL twin of :func:`_phone_tail` for a phone column kept as typed (``011 15-4567-8901``)."""
    digits = _digits(column)
    return func.substr(digits, func.length(digits) - (PHONE_TAIL - 1))


# ------------------------------------------------------------------------------------ a page's customers

class _Directory:
    """The dealer's customers and vehicles a page's leads may be about: read with one query each
    per page, and kept up to date with the customers the page creates."""

    def __init__(self, session: Session, dealer: Dealer):
        self.session = session
        self.dealer = dealer
        self.by_phone: dict[str, list[Customer]] = {}
        self.by_email: dict[str, list[Customer]] = {}
        self.by_tax_id: dict[str, list[Customer]] = {}
        self.by_dms_id: dict[str, Customer] = {}
        self.by_vin: dict[str, Vehicle] = {}
        self.by_plate: dict[str, Vehicle] = {}

    def load(self, keys: list[ContactKeys], lead_ids: list[str]) -> None:
        tails = set().union(*(k.tails for k in keys)) if keys else set()
        emails = {k.email.lower() for k in keys if k.email}
        tax_ids = {k.tax_id for k in keys if k.tax_id}
        conditions = [Customer.dms_id.in_([f"oem:{i}" for i in lead_ids])] if lead_ids else []
        if tails:
            conditions += [_stored_tail(c).in_(tails) for c in
                           (Customer.phone_mobile, Customer.phone_home, Customer.phone_work)]
        if emails:
            conditions.append(func.lower(Customer.email).in_(emails))
        if tax_ids:
            conditions.append(Customer.tax_id.in_(tax_ids))
        if conditions:
            for customer in self.session.scalars(select(Customer).where(
                    Customer.dealer_id == self.dealer.id, or_(*conditions)).order_by(Customer.id)):
                self.add(customer)
        vins = {k.vin for k in keys if k.vin}
        plates = {p for k in keys for p in k.plates}
        vehicle_conditions = ([Vehicle.vin.in_(vins)] if vins else []) + ([Vehicle.plate.in_(plates)] if plates else [])
        if vehicle_conditions:
            for vehicle in self.session.scalars(select(Vehicle).where(
                    Vehicle.dealer_id == self.dealer.id, or_(*vehicle_conditions)).order_by(Vehicle.id)):
                self.by_vin.setdefault(vehicle.vin, vehicle)
                self.by_plate.setdefault(vehicle.plate, vehicle)

    def add(self, customer: Customer) -> None:
        for raw in customer.phones:
            e164 = normalize_phone(raw, self.dealer.country).e164
            if e164 is not None:
                self.by_phone.setdefault(e164, []).append(customer)
        if customer.email:
            self.by_email.setdefault(customer.email.lower(), []).append(customer)
        if customer.tax_id:
            self.by_tax_id.setdefault(customer.tax_id, []).append(customer)
        self.by_dms_id[customer.dms_id] = customer

    def match(self, keys: ContactKeys) -> tuple[Customer | None, Vehicle | None]:
        """The customer (and car) of a lead: by phone, e-mail, tax id, then the car's VIN or plate.
        Among several, a customer of the DMS before one an OEM lead made, then the oldest."""
        customer = None
        for found in ([c for e164 in keys.phones.values() for c in self.by_phone.get(e164, ())],
                      self.by_email.get(keys.email.lower(), []) if keys.email else [],
                      self.by_tax_id.get(keys.tax_id, []) if keys.tax_id else []):
            if found:
                customer = min(found, key=lambda c: (c.to_complete, c.id))
                break
        vehicle = self.by_vin.get(keys.vin) if keys.vin else None
        vehicle = vehicle or next((self.by_plate[p] for p in keys.plates if p in self.by_plate), None)
        if customer is None and vehicle is not None and vehicle.customer_id is not None:
            customer = self.session.get(Customer, vehicle.customer_id)
        if vehicle is not None and customer is not None and vehicle.customer_id not in (None, customer.id):
            vehicle = None  # another customer's car now: the lead's customer is who asked
        return customer, vehicle


# ------------------------------------------------------------------------------------ a page

def _body(raw) -> str:
    return json.dumps(raw, ensure_ascii=True, default=str)


def _storable_json(value):
    """A lead's JSON as a column can hold it: no NUL, no lone surrogate, in keys or values."""
    if isinstance(value, str):
        return shown(value)
    if isinstance(value, dict):
        return {shown(str(k)): _storable_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable_json(v) for v in value]
    return value


def note_of(lead_type: str, text: str) -> str:
    """The opportunity's note from the OEM: its lead type and its text."""
    return shown(f"[{lead_type}] {text}".strip())[:NOTE_MAX]


@dataclass
class _Decision:
    disposition: str
    reason: str = ""
    customer: Customer | None = None
    vehicle: Vehicle | None = None


class _Intake:
    """Stores one page after another for one dealer's run."""

    def __init__(self, session: Session, dealer: Dealer, connector: OemConnector, dealer_code: str,
                 recorder: CallRecorder, trigger: str):
        self.session, self.dealer, self.connector = session, dealer, connector
        self.dealer_code, self.recorder, self.trigger = dealer_code.strip(), recorder, trigger
        self._members: set[int] | None = None

    def store(self, page: LeadPage) -> Counter:
        s = self.session
        counts: Counter = Counter(pages=1)
        # One run of a dealer writes at a time (PostgreSQL: the connector's row is locked until the
        # commit), and the watermark never goes back.
        stored = s.scalar(select(OemConnector.watermark).where(OemConnector.id == self.connector.id)
                          .with_for_update())
        ids = [lead.id for lead in page.leads] + [bad.lead_id for bad in page.malformed if bad.lead_id]
        rows = {row.lead_id: row for row in s.scalars(select(OemLead).where(
            OemLead.dealer_id == self.dealer.id, OemLead.lead_id.in_(ids)))} if ids else {}
        keys = {lead.id: contact_keys(lead, self.dealer.country) for lead in page.leads}
        directory = _Directory(s, self.dealer)
        directory.load(list(keys.values()), [lead.id for lead in page.leads])
        now = utcnow()
        for lead in page.leads:
            counts["received"] += 1
            self._lead(lead, keys[lead.id], rows, directory, now, counts)
        for lead in page.duplicates:
            counts["duplicates"] += 1
            self.recorder.received(lead.id, _body(lead.raw))
        for bad in page.malformed:
            counts["malformed"] += 1
            self._malformed(bad, rows, now, counts)
        self.connector.watermark = page.resume_from if stored is None else max(stored, page.resume_from)
        changed = {k: v for k, v in counts.items() if v and k not in ("pages", "received", "unchanged", "duplicates")}
        if changed:
            record(s, dealer_id=self.dealer.id, user_id=None, action="oem.leads_imported", entity="oem_connector",
                   entity_id=self.connector.id, data={**dict(counts), "trigger": self.trigger,
                                                      "watermark": page.resume_from.isoformat()})
        self.recorder.flush(s)
        s.commit()
        return counts

    # ---------------------------------------------------------------------------- one lead
    def _lead(self, lead: Lead, keys: ContactKeys, rows: dict, directory: _Directory, now: datetime,
              counts: Counter) -> None:
        body = _body(lead.raw)
        if lead.dealer_code.strip() != self.dealer_code:
            counts["refused"] += 1
            self.recorder.received(lead.id, body, error=shown(
                f"refused: Dealer_Code__c {lead.dealer_code[:40]!r} is not this dealer's code at the OEM "
                f"({self.dealer_code})"))
            return
        row = rows.get(lead.id)
        if row is not None and not _newer(lead, row):
            counts["unchanged"] += 1
            self.recorder.received(lead.id, body)
            return
        if row is not None and row.disposition != "quarantined":
            self._update(lead, keys, row, directory)
            counts["updated"] += 1
            self.recorder.received(lead.id, body)
            return
        decision = self._decide(lead, keys, directory, counts)
        if row is not None and decision.disposition == "quarantined" and decision.reason == row.reason:
            row.modified_at, row.payload = lead.modified_at, _storable_json(lead.raw)
            counts["unchanged"] += 1
        else:
            row = self._take(lead, decision, row, now)
            rows[lead.id] = row
            counts[{"opportunity": "opportunities"}.get(decision.disposition, decision.disposition)] += 1
        self.recorder.received(lead.id, body, error=row.reason if row.disposition == "quarantined" else "")

    def _decide(self, lead: Lead, keys: ContactKeys, directory: _Directory, counts: Counter) -> _Decision:
        if lead.lead_type not in LEAD_TYPES:
            return _Decision("quarantined", shown(
                f"unknown lead type {lead.lead_type[:40]!r} (Boxes takes {', '.join(LEAD_TYPES)})"))
        customer, vehicle = directory.match(keys)
        if lead.lead_type in SALES_LEAD_TYPES:  # Sales' work: recorded, no customer made for it
            return _Decision("sales", customer=customer)
        if customer is None:
            if not keys.reachable:
                missing = [*keys.problems]
                if keys.tax_id or keys.vin or keys.plates:
                    missing.append("no customer of the dealer has its tax id, VIN or plate")
                return _Decision("quarantined", shown("no usable contact: " + "; ".join(missing)))
            customer = self._new_customer(lead, keys, directory)
            counts["customers_created"] += 1
        disposition = "opportunity" if lead.lead_type in BOARD_LEAD_TYPES else "parts"  # PARTS_LEAD_TYPES
        return _Decision(disposition, customer=customer, vehicle=vehicle)

    def _new_customer(self, lead: Lead, keys: ContactKeys, directory: _Directory) -> Customer:
        dms_id = f"oem:{lead.id}"
        customer = directory.by_dms_id.get(dms_id)
        if customer is None:
            customer = Customer(dealer_id=self.dealer.id, dms_id=dms_id,
                                name=shown(lead.name or lead.last_name)[:200], to_complete=True,
                                phone_mobile=keys.phones.get("phone_mobile", ""),
                                phone_home=keys.phones.get("phone_home", ""), phone_work="",
                                email=shown(keys.email), tax_id=keys.tax_id, contact_opt_out=False)
            self.session.add(customer)
            self.session.flush()
            record(self.session, dealer_id=self.dealer.id, user_id=None, action="customer.create_from_oem_lead",
                   entity="customer", entity_id=customer.id, data={"lead_id": lead.id})
            directory.add(customer)
        return customer

    def _take(self, lead: Lead, decision: _Decision, row: OemLead | None, now: datetime) -> OemLead:
        """A new lead (or a quarantined one decided again) stored with its disposition."""
        if row is None:
            row = OemLead(dealer_id=self.dealer.id, lead_id=lead.id, received_at=now)
            self.session.add(row)
        c = self.connector
        row.lead_type = shown(lead.lead_type)[:16]
        row.disposition, row.reason = decision.disposition, decision.reason
        row.text = shown(lead.description)
        row.modified_at, row.oem_created_at, row.payload = lead.modified_at, lead.created_at, _storable_json(lead.raw)
        row.customer_id = decision.customer.id if decision.customer is not None else None
        if decision.disposition in ("opportunity", "parts"):
            row.first_contact_due = now + timedelta(hours=c.first_contact_hours or 0)
            row.assigned_user_id = (self._direct_user(lead.lead_type) if decision.disposition == "opportunity"
                                    else self._member(c.parts_user_id))
            triggers.lead_imported(self.session, self.dealer.id, lead.id)
        if decision.disposition == "opportunity":
            opportunity = Opportunity(
                dealer_id=self.dealer.id, origin="oem_lead", oem_lead_id=lead.id, customer_id=row.customer_id,
                vehicle_id=decision.vehicle.id if decision.vehicle is not None else None, due_at=now,
                status="open", note=note_of(row.lead_type, row.text), assigned_user_id=row.assigned_user_id)
            self.session.add(opportunity)
            self.session.flush()
            row.opportunity_id = opportunity.id
        return row

    def _update(self, lead: Lead, keys: ContactKeys, row: OemLead, directory: _Directory) -> None:
        """A newer version of a lead already taken: its text and data, never what a caller did."""
        previous_note = note_of(row.lead_type, row.text)
        row.modified_at, row.payload, row.text = lead.modified_at, _storable_json(lead.raw), shown(lead.description)
        if row.opportunity_id is not None:
            opportunity = self.session.get(Opportunity, row.opportunity_id)
            if opportunity is not None and opportunity.note == previous_note:  # a caller's own note stays
                opportunity.note = note_of(row.lead_type, row.text)
        customer = self.session.get(Customer, row.customer_id) if row.customer_id is not None else None
        if customer is not None and customer.to_complete and customer.dms_id == f"oem:{lead.id}":
            # The customer this lead made: what the OEM now knows fills what is still blank.
            for column, value in (("phone_mobile", keys.phones.get("phone_mobile", "")),
                                  ("phone_home", keys.phones.get("phone_home", "")),
                                  ("email", shown(keys.email)), ("tax_id", keys.tax_id)):
                if value and not getattr(customer, column):
                    setattr(customer, column, value)

    def _malformed(self, bad: MalformedLead, rows: dict, now: datetime, counts: Counter) -> None:
        """Logged; with a lead id it is also quarantined, unless a good version is stored already."""
        reason = shown(f"malformed: {bad.reason}")
        self.recorder.received(bad.lead_id, _body(bad.raw), error=reason)
        if bad.lead_id is None:
            return
        row = rows.get(bad.lead_id)
        if row is not None and row.disposition != "quarantined":
            return
        raw = bad.raw if isinstance(bad.raw, dict) else {}
        if row is None:
            row = rows[bad.lead_id] = OemLead(dealer_id=self.dealer.id, lead_id=bad.lead_id, received_at=now,
                                              modified_at=_instant(raw.get("SystemModstamp"), EPOCH),
                                              oem_created_at=_instant(raw.get("CreatedDate"), now))
            self.session.add(row)
            counts["quarantined"] += 1
        lead_type = raw.get("LeadType__c")
        row.lead_type = shown(lead_type)[:16] if isinstance(lead_type, str) else ""
        row.disposition, row.reason, row.payload = "quarantined", reason, _storable_json(raw)
        description = raw.get("Description")
        row.text = shown(description) if isinstance(description, str) else ""

    # ---------------------------------------------------------------------------- distribution
    def _member(self, user_id) -> int | None:
        """``user_id`` when it is an active user of the dealer (the dealer's active users are read once
        per run); None otherwise."""
        if self._members is None:
            self._members = {user_id for user_id, _name in assignees(self.session, self.dealer)}
        return user_id if isinstance(user_id, int) and user_id in self._members else None

    def _direct_user(self, lead_type: str) -> int | None:
        """The user a lead type goes to in ``direct`` mode, while still an active user of the dealer
        (whom Integrations → OEM offers, as the board assigns: ``opportunities.assignees``); None is
        the distribution queue."""
        rule = (self.connector.distribution or {}).get(lead_type)
        if not isinstance(rule, dict) or rule.get("mode") != "direct":
            return None
        return self._member(rule.get("user_id"))


def _newer(lead: Lead, row: OemLead) -> bool:
    """Whether this version is to be stored: newer than the stored one; or as new, for a lead in
    quarantine (its reason may be gone: the dealer's data changed, or the copy was malformed)."""
    if row.disposition == "quarantined":
        return lead.modified_at >= row.modified_at
    return lead.modified_at > row.modified_at


def _instant(value, default: datetime) -> datetime:
    try:
        return parse_instant(value)
    except (ValueError, TypeError):
        return default
