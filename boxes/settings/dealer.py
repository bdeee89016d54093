"""The dealer's own settings: first-service interval, working hours, workshop contact data."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from boxes import inputs
from boxes.audit import record
from boxes.errors import ActionError
from boxes.models import Dealer, User

WEEKDAYS = tuple(range(7))  # 0 = Monday
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


@dataclass
class DealerSettings:
    first_service_months: str
    first_service_km: str
    workshop_address: str
    phone: str
    email: str
    support_contact: str
    working_hours: dict[int, tuple[str, str] | None]  # None: closed that day


def update(session: Session, dealer: Dealer, actor: User, data: DealerSettings) -> Dealer:
    errors: dict = {}
    months = _int(data.first_service_months, 1, 60)
    if months is None:
        errors["first_service_months"] = _l("Enter a number of months from 1 to 60.")
    km = _int(data.first_service_km, 500, 100000)
    if km is None:
        errors["first_service_km"] = _l("Enter a distance from 500 to 100,000 km.")
    # Each text bounded by its column (boxes.inputs); what cannot be stored is refused, never cut.
    address = inputs.text(data.workshop_address, "workshop_address", errors, max_len=300,
                          required=_l("Customers need the workshop's address."))
    phone = inputs.text(data.phone, "phone", errors, max_len=40)
    email = inputs.text(data.email, "email", errors, max_len=200)
    support_contact = inputs.text(data.support_contact, "support_contact", errors, max_len=200)
    if email and "@" not in email:
        errors["email"] = _l("Enter a valid email address.")
    hours = {}
    for day in WEEKDAYS:
        span = data.working_hours.get(day)
        if span is None:
            continue
        start, end = span
        if not (_HHMM.match(start or "") and _HHMM.match(end or "")) or start >= end:
            errors[f"hours_{day}"] = _l("Opening must be before closing (HH:MM).")
        else:
            hours[str(day)] = [start, end]
    if errors:
        raise ActionError(errors)
    before = {"first_service_months": dealer.first_service_months, "first_service_km": dealer.first_service_km,
              "workshop_address": dealer.workshop_address, "phone": dealer.phone, "email": dealer.email,
              "support_contact": dealer.support_contact, "working_hours": dealer.working_hours}
    dealer.first_service_months = months
    dealer.first_service_km = km
    dealer.workshop_address = address
    dealer.phone = phone
    dealer.email = email
    dealer.support_contact = support_contact
    dealer.working_hours = hours
    record(session, dealer_id=dealer.id, user_id=actor.id, action="dealer.settings", entity="dealer",
           entity_id=dealer.id, data={"before": before})
    session.commit()
    return dealer


def _int(value, low: int, high: int) -> int | None:
    try:
        number = int(str(value).replace(".", "").replace(",", "").strip())
    except (TypeError, ValueError):
        return None
    return number if low <= number <= high else None
