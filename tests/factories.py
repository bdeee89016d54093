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
    Opportunity,
    RepairOrder,
    RepairOrderLine,
    User,
    Vehicle,
)

PASSWORD = "correct-horse-battery"
_seq = itertools.count(1)
# One hash for every test user: argon2id is slow on purpose.
_HASH = hash_password(PASSWORD)


def _n() -> int:
    return next(_seq)


def dealer_ar(db: Session, **kw) -> Dealer:
    d = Dealer(code=kw.pop("code", "AR01"), name=kw.pop("name", "Autos del Plata"), country="AR",
               time_zone="America/Argentina/Buenos_Aires", locale="es",
               workshop_address="Av. Libertador 1234, CABA", phone="+54 11 4321-0000",
               email="taller@autosdelplata.example", **kw)
    db.add(d)
    db.commit()
    return d


def dealer_br(db: Session, **kw) -> Dealer:
    d = Dealer(code=kw.pop("code", "BR01"), name=kw.pop("name", "Concessionária Paulista"), country="BR",
               time_zone="America/Sao_Paulo", locale="pt_BR",
               workshop_address="Av. Paulista 1000, São Paulo", phone="+55 11 3000-0000",
               email="oficina@paulista.example", **kw)
    db.add(d)
    db.commit()
    return d


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
    db.add(c)
    db.commit()
    return c


def vehicle(db: Session, dealer: Dealer, customer: Customer | None = None, **kw) -> Vehicle:
    n = _n()
    v = Vehicle(dealer_id=dealer.id, dms_id=kw.pop("dms_id", f"V{n}"), vin=kw.pop("vin", f"8AGTEST{n:010d}"),
                plate=kw.pop("plate", f"AA{n % 1000:03d}BB"), brand=kw.pop("brand", "Chevrolet"),
                model=kw.pop("model", "Onix"), version=kw.pop("version", "LTZ 1.0T"),
                customer_id=customer.id if customer else None, **kw)
    db.add(v)
    db.commit()
    return v


def car(db: Session, dealer: Dealer, **kw) -> tuple[Customer, Vehicle]:
    c = customer(db, dealer, **{k: v for k, v in kw.items() if k in ("name", "email", "phone_mobile")})
    return c, vehicle(db, dealer, c)


def delivery(db: Session, dealer: Dealer, delivered_at: datetime, **kw) -> Delivery:
    c, v = car(db, dealer, **{k: kw.pop(k) for k in list(kw) if k in ("name", "email", "phone_mobile")})
    d = Delivery(dealer_id=dealer.id, dms_id=f"D{_n()}", vehicle_id=v.id, customer_id=c.id,
                 delivered_at=delivered_at, **kw)
    db.add(d)
    db.commit()
    return d


def opportunity(db: Session, dealer: Dealer, due_at: datetime, **kw) -> Opportunity:
    if "customer_id" not in kw:
        c, v = car(db, dealer, **{k: kw.pop(k) for k in list(kw) if k in ("name", "email", "phone_mobile")})
        kw.update(customer_id=c.id, vehicle_id=v.id)
    o = Opportunity(dealer_id=dealer.id, origin=kw.pop("origin", "manual"), due_at=due_at, **kw)
    db.add(o)
    db.commit()
    return o


def appointment(db: Session, dealer: Dealer, scheduled_at: datetime, **kw) -> Appointment:
    c, v = car(db, dealer, **{k: kw.pop(k) for k in list(kw) if k in ("name", "email", "phone_mobile")})
    a = Appointment(dealer_id=dealer.id, dms_id=f"A{_n()}", vehicle_id=v.id, customer_id=c.id,
                    scheduled_at=scheduled_at, service_type=kw.pop("service_type", "Service 10.000 km"), **kw)
    db.add(a)
    db.commit()
    return a


def repair_order(db: Session, dealer: Dealer, opened_at: datetime, **kw) -> RepairOrder:
    if "vehicle_id" not in kw:
        c, v = car(db, dealer, **{k: kw.pop(k) for k in list(kw) if k in ("name", "email", "phone_mobile")})
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
    db.add(a)
    db.commit()
    return a


def campaign(db: Session, dealer: Dealer, **kw) -> Campaign:
    c = Campaign(dealer_id=dealer.id, name=kw.pop("name", f"Recall {_n()}"), kind=kw.pop("kind", "recall"), **kw)
    db.add(c)
    db.commit()
    return c


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def ago(**kw) -> datetime:
    return datetime.now(UTC) - timedelta(**kw)
