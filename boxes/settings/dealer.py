"""The dealer's own settings: first-service interval, working hours, workshop contact data, and the
support contact shown to its users."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from boxes import inputs
from boxes.audit import record
from boxes.errors import ActionError
from boxes.models import Dealer, User

WEEKDAYS = tuple(range(7))  # 0 = Monday


@dataclass
class DealerSettings:
    first_service_months: int | None
    first_service_km: int | None
    workshop_address: str
    phone: str
    email: str
    support_contact: str
    working_hours: dict[int, tuple[time | None, time | None] | None]  # None: closed that day


def update(session: Session, dealer: Dealer, actor: User, data: DealerSettings) -> Dealer:
    errors: dict = {}
    months = data.first_service_months
    if months is None or not 1 <= months <= 60:
        errors["first_service_months"] = _l("Enter a number of months from 1 to 60.")
    km = data.first_service_km
    if km is None or not 500 <= km <= 100000:
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
        if start is None or end is None or start >= end:
            errors[f"hours_{day}"] = _l("Opening must be before closing (HH:MM).")
        else:
            hours[str(day)] = [start.strftime("%H:%M"), end.strftime("%H:%M")]
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


# --- working hours ------------------------------------------------------------------------------

_LAST_MINUTE = time(23, 59)


def _span(dealer: Dealer, weekday: int) -> tuple[time, time] | None:
    span = (dealer.working_hours or {}).get(str(weekday))
    try:
        start, end = (time.fromisoformat(span[0]), time.fromisoformat(span[1])) if span else (None, None)
    except (TypeError, ValueError, IndexError):
        return None
    if start is None or start >= end:
        return None
    return start, (time.max if end == _LAST_MINUTE else end)  # closing at 23:59: open until midnight


def _has_hours(dealer: Dealer) -> bool:
    return any(_span(dealer, day) for day in WEEKDAYS)


def is_open(dealer: Dealer, instant: datetime) -> bool:
    """Whether ``instant`` falls in the dealer's working hours (its own time zone). A dealer with no
    working hours at all is taken as always open: a missing setting never holds mail back forever."""
    if not _has_hours(dealer):
        return True
    local = instant.astimezone(ZoneInfo(dealer.time_zone))
    span = _span(dealer, local.weekday())
    return span is not None and span[0] <= local.time() < span[1]


def next_opening(dealer: Dealer, instant: datetime) -> datetime:
    """``instant`` when the dealer is open then, else the next opening (UTC)."""
    if is_open(dealer, instant):
        return instant
    tz = ZoneInfo(dealer.time_zone)
    local = instant.astimezone(tz)
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        span = _span(dealer, day.weekday())
        if span is None:
            continue
        opening = datetime.combine(day, span[0], tzinfo=tz)
        if opening > local:
            return opening.astimezone(UTC)
    return instant  # unreachable: a dealer with hours opens within a week
def support_contact(dealer: Dealer | None, installation_contact: str) -> str:
    """Whom a stuck user should ask: the dealer's help desk (its Settings), else the installation's
    (``BOXES_SUPPORT_CONTACT``, set by the operator), else nobody (empty: nothing is shown)."""
    own = (dealer.support_contact or "").strip() if dealer is not None else ""
    return own or (installation_contact or "").strip()
