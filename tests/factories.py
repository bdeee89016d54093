"""Small builders of real rows for tests. Each commits, so the app's own sessions see the rows."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from boxes.auth.passwords import hash_password
from boxes.models import (
    Activity,
    Appointment,
    Campaign,
    Customer,
    Dealer,
    Delivery,
    Membership,
    OemLead,
    Opportunity,
    RepairOrder,
    RepairOrderLine,
    User,
    Vehicle,
)
from boxes.models.oem import BOARD_LEAD_TYPES, PARTS_LEAD_TYPES

PASSWORD = "correct-horse-battery"
_seq = itertools.count(1)
# One hash for every test user: argon2id is slow on purpose.
_HASH = hash_password(PASSWORD)


def _n() -> int:
    return next(_seq)


def _saved(db: Session, row):
    """The row, added and committed (every builder ends so)."""
    db.add(row)
    db.commit()
    return row


# The two test dealers, as their fields stand unless a test says otherwise.
DEALER_AR = {"code": "AR01", "name": "Autos del Plata", "country": "AR", "time_zone": "America/Argentina/Buenos_Aires",
             "locale": "es", "workshop_address": "Av. Libertador 1234, CABA", "phone": "+54 11 4321-0000",
             "email": "taller@autosdelplata.example"}
DEALER_BR = {"code": "BR01", "name": "Concessionária Paulista", "country": "BR", "time_zone": "America/Sao_Paulo",
             "locale": "pt_BR", "workshop_address": "Av. Paulista 1000, São Paulo", "phone": "+55 11 3000-0000",
             "email": "oficina@paulista.example"}


def dealer_ar(db: Session, **kw) -> Dealer:
    return _saved(db, Dealer(**{**DEALER_AR, **kw}))


def dealer_br(db: Session, **kw) -> Dealer:
    return _saved(db, Dealer(**{**DEALER_BR, **kw}))


def user(db: Session, *, role: str, dealer: Dealer, locale: str | None = None, name: str | None = None,
         email: str | None = None) -> User:
    n = _n()
    u = User(email=email or f"user{n}@test.example", name=name or f"User {n}", password_hash=_HASH,
             locale=locale)
    db.add(u)
    db.flush()
    db.add(Membership(user_id=u.id, dealer_id=dealer.id, role=role))
    db.commit()
    return u


def customer(db: Session, dealer: Dealer, **kw) -> Customer:
    n = _n()
    c = Customer(dealer_id=dealer.id, dms_id=kw.pop("dms_id", f"C{n}"), name=kw.pop("name", f"Cliente {n}"),
                 phone_mobile=kw.pop("phone_mobile", "+54 9 11 5555-0101" if dealer.country == "AR"
                                     else "+55 11 98888-0101"),
                 email=kw.pop("email", f"cliente{n}@mail.example"), **kw)
    return _saved(db, c)


def vehicle(db: Session, dealer: Dealer, customer: Customer | None = None, **kw) -> Vehicle:
    n = _n()
    v = Vehicle(dealer_id=dealer.id, dms_id=kw.pop("dms_id", f"V{n}"), vin=kw.pop("vin", f"8AGTEST{n:010d}"),
                plate=kw.pop("plate", f"AA{n % 1000:03d}BB"), brand=kw.pop("brand", "Chevrolet"),
                model=kw.pop("model", "Onix"), version=kw.pop("version", "LTZ 1.0T"),
                customer_id=customer.id if customer else None, **kw)
    return _saved(db, v)


# What a row's builder passes on to the customer of the car it makes (the rest is the row's own).
_CUSTOMER_FIELDS = ("name", "email", "phone_mobile")


def car(db: Session, dealer: Dealer, **kw) -> tuple[Customer, Vehicle]:
    c = customer(db, dealer, **{k: v for k, v in kw.items() if k in _CUSTOMER_FIELDS})
    return c, vehicle(db, dealer, c)


def _car_for(db: Session, dealer: Dealer, kw: dict) -> tuple[Customer, Vehicle]:
    """A new customer's car for a row, the customer's fields taken out of the row's keywords ``kw``."""
    return car(db, dealer, **{k: kw.pop(k) for k in list(kw) if k in _CUSTOMER_FIELDS})


def delivery(db: Session, dealer: Dealer, delivered_at: datetime, **kw) -> Delivery:
    c, v = _car_for(db, dealer, kw)
    return _saved(db, Delivery(dealer_id=dealer.id, dms_id=f"D{_n()}", vehicle_id=v.id, customer_id=c.id,
                               delivered_at=delivered_at, **kw))


def opportunity(db: Session, dealer: Dealer, due_at: datetime, **kw) -> Opportunity:
    if "customer_id" not in kw:
        c, v = _car_for(db, dealer, kw)
        kw.update(customer_id=c.id, vehicle_id=v.id)
    return _saved(db, Opportunity(dealer_id=dealer.id, origin=kw.pop("origin", "manual"), due_at=due_at, **kw))


def appointment(db: Session, dealer: Dealer, scheduled_at: datetime, **kw) -> Appointment:
    c, v = _car_for(db, dealer, kw)
    return _saved(db, Appointment(dealer_id=dealer.id, dms_id=f"A{_n()}", vehicle_id=v.id, customer_id=c.id,
                                  scheduled_at=scheduled_at, service_type=kw.pop("service_type", "Service 10.000 km"),
                                  **kw))


def repair_order(db: Session, dealer: Dealer, opened_at: datetime, **kw) -> RepairOrder:
    if "vehicle_id" not in kw:
        c, v = _car_for(db, dealer, kw)
        kw.update(vehicle_id=v.id, customer_id=c.id)
    n = _n()
    lines = kw.pop("lines", [("Service 10.000 km", "OK", "", False)])
    ro = RepairOrder(dealer_id=dealer.id, dms_id=f"RO{n}", number=kw.pop("number", f"OR-{n:06d}"),
                     opened_at=opened_at, **kw)
    db.add(ro)
    db.flush()
    for i, (work, result, incidents, declined) in enumerate(lines, start=1):
        db.add(RepairOrderLine(dealer_id=dealer.id, repair_order_id=ro.id, line_no=i, work_done=work,
                               result=result, incidents=incidents, declined=declined))
    db.commit()
    return ro


def activity(db: Session, dealer: Dealer, created_at: datetime, **kw) -> Activity:
    a = Activity(dealer_id=dealer.id, subject_type=kw.pop("subject_type", "customer"),
                 subject_id=kw.pop("subject_id", 0), created_at=created_at, **kw)
    return _saved(db, a)


def campaign(db: Session, dealer: Dealer, **kw) -> Campaign:
    c = Campaign(dealer_id=dealer.id, name=kw.pop("name", f"Recall {_n()}"), kind=kw.pop("kind", "recall"), **kw)
    return _saved(db, c)


def oem_lead(db: Session, dealer: Dealer, *, lead_type: str = "Service", text: str = "", lead_id: str | None = None,
             received_at: datetime | None = None, disposition: str | None = None, **kw) -> OemLead:
    """An OEM lead as the import leaves it (``boxes/oem/importer.py``): received ``received_at`` (now), going
    where its type goes (``disposition``), a board or parts lead with its first-contact deadline
    ``first_contact_due`` (a day later unless given); a Service or After-sales lead
    with its open opportunity on the board (origin "oem_lead", the OEM's text as its note, due when it
    arrived, its customer and car new unless ``customer_id``/``vehicle_id`` are given), in the holder's
    hands (``assigned_user_id``) or the distribution queue (None). ``status``, ``due_at`` go to the
    opportunity; ``first_contact_at``, ``first_contact_due``, ``assigned_user_id`` to both where they
    belong. Returns the lead (its opportunity: ``opportunity_id``)."""
    received_at = received_at or datetime.now(UTC)
    lead_id = lead_id or f"00Q{_n():015d}"
    disposition = disposition or ("opportunity" if lead_type in BOARD_LEAD_TYPES
                                  else "parts" if lead_type in PARTS_LEAD_TYPES else "sales")
    worked = disposition in ("opportunity", "parts")  # a deadline, a holder: the leads someone must call
    assigned = kw.pop("assigned_user_id", None)
    lead = OemLead(dealer_id=dealer.id, lead_id=lead_id, lead_type=lead_type, disposition=disposition, text=text,
                   modified_at=received_at, oem_created_at=received_at, received_at=received_at,
                   first_contact_due=kw.pop("first_contact_due", received_at + timedelta(days=1) if worked else None),
                   first_contact_at=kw.pop("first_contact_at", None), assigned_user_id=assigned)
    if disposition == "opportunity":
        opp = opportunity(db, dealer, kw.pop("due_at", received_at), origin="oem_lead", oem_lead_id=lead_id,
                          note=text, assigned_user_id=assigned, created_at=received_at, **kw)
        lead.opportunity_id, lead.customer_id = opp.id, opp.customer_id
    return _saved(db, lead)


def one_row_per_list(db: Session, dealer: Dealer, names: tuple[str, str, str, str, str], *,
                     opportunity_due: timedelta = timedelta(days=3), completed_lines=None) -> dict:
    """A row on each of the board's five lists, their customers named ``names`` in the board's order:
    a car delivered yesterday (welcome call pending), an opportunity due in three days (or
    ``opportunity_due`` from now: negative, overdue), an appointment requested for tomorrow (to
    confirm), a car in the workshop since two hours ago, and one delivered yesterday after three days
    there (courtesy call pending; ``completed_lines``: its repair order's lines). The rows by key:
    "delivery", "opportunity", "appointment", "in_process", "completed"."""
    now = datetime.now(UTC)
    delivered, due, requested, in_workshop, completed = names
    lines = {} if completed_lines is None else {"lines": completed_lines}
    return {
        "delivery": delivery(db, dealer, now - timedelta(days=1), name=delivered),
        "opportunity": opportunity(db, dealer, now + opportunity_due, name=due),
        "appointment": appointment(db, dealer, now + timedelta(days=1), status="requested", name=requested),
        "in_process": repair_order(db, dealer, now - timedelta(hours=2), name=in_workshop),
        "completed": repair_order(db, dealer, now - timedelta(days=3), delivered_at=now - timedelta(days=1),
                                  status="delivered", name=completed, **lines),
    }


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def ago(**kw) -> datetime:
    return datetime.now(UTC) - timedelta(**kw)
