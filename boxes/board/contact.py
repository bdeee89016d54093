"""Register call: every button's contact log, and what an outcome changes.

Final outcomes (contacted, wrong number, do not contact) complete the welcome call of a delivery;
no answer / call back later leave it pending so the caller tries again. "Do not contact" also sets
the customer's contact opt-out, which every message respects. A next-contact date replans the
opportunity the call was made on, or creates one on any other row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from boxes import inputs
from boxes.audit import record
from boxes.db import utcnow
from boxes.errors import ActionError
from boxes.models import Activity, Appointment, Customer, Dealer, Delivery, Opportunity, RepairOrder, User
from boxes.models.opportunities import ACTIVITY_CHANNELS, ACTIVITY_OUTCOMES
from boxes.oem import triggers
from boxes.owned import check_version, get_owned

FINAL_OUTCOMES = ("contacted", "wrong_number", "do_not_contact")
MAX_COMMENT = 2000

# URL segment → (model, activity subject type, origin of an opportunity created from it)
SUBJECTS = {
    "deliveries": (Delivery, "delivery", "delivery"),
    "opportunities": (Opportunity, "opportunity", "manual"),
    "appointments": (Appointment, "appointment", "appointment"),
    "repair-orders": (RepairOrder, "repair_order", "in_process"),
}


@dataclass
class CallInput:
    channel: str
    outcome: str
    comment: str = ""
    next_contact_at: datetime | None = None
    version: str | int | None = None


def validate_call(data: CallInput, now: datetime) -> dict[str, str]:
    errors = {}
    if data.channel not in ACTIVITY_CHANNELS:
        errors["channel"] = _l("Choose how you contacted the customer.")
    if data.outcome not in ACTIVITY_OUTCOMES:
        errors["outcome"] = _l("Choose the outcome of the call.")
    inputs.text(data.comment, "comment", errors, max_len=MAX_COMMENT, too_long_message=_l(
        "The comment is too long (at most %(n)d characters).", n=MAX_COMMENT))
    if data.next_contact_at is not None and data.next_contact_at <= now:
        errors["next_contact_at"] = _l("The next contact must be in the future.")
    return errors


def subject_origin(subject: str, row) -> str:
    origin = SUBJECTS[subject][2]
    if subject == "repair-orders" and row.delivered_at is not None:
        return "completed"
    if subject == "appointments" and row.status == "no_show":
        return "no_show"
    return origin


def register_call(session: Session, dealer: Dealer, actor: User, subject: str, subject_id: int,
                  data: CallInput, *, kind: str | None = None, satisfaction: int | None = None,
                  commit: bool = True) -> Activity:
    """``commit=False`` lets a caller add its own changes to the same transaction."""
    model, subject_type, _origin = SUBJECTS[subject]
    row = get_owned(session, model, dealer.id, subject_id)
    now = utcnow()
    errors = validate_call(data, now)
    if errors:
        raise ActionError(errors)
    if subject == "opportunities":
        check_version(row, data.version)
        if data.next_contact_at is not None and row.status != "open":
            raise ActionError.field("next_contact_at", _l("This opportunity is already closed."))
    customer_id = row.customer_id
    vehicle_id = getattr(row, "vehicle_id", None)
    kind = kind or ("welcome_call" if subject == "deliveries" else "call")
    activity = Activity(
        dealer_id=dealer.id, kind=kind, subject_type=subject_type, subject_id=row.id, customer_id=customer_id,
        vehicle_id=vehicle_id, channel=data.channel, outcome=data.outcome, comment=(data.comment or "").strip(),
        satisfaction=satisfaction, next_contact_at=data.next_contact_at, user_id=actor.id, created_at=now,
    )
    session.add(activity)
    session.flush()
    if data.outcome == "do_not_contact" and customer_id is not None:
        customer = get_owned(session, Customer, dealer.id, customer_id)
        if not customer.contact_opt_out:
            customer.contact_opt_out = True
            record(session, dealer_id=dealer.id, user_id=actor.id, action="customer.opt_out", entity="customer",
                   entity_id=customer.id, data={"activity_id": activity.id})
    if subject == "deliveries" and data.outcome in FINAL_OUTCOMES and row.welcome_call_at is None:
        row.welcome_call_at = now
    if subject == "opportunities":
        triggers.call_registered(session, row, channel=data.channel, outcome=data.outcome)
    if data.next_contact_at is not None:
        if subject == "opportunities":
            row.due_at = data.next_contact_at
        else:
            session.add(Opportunity(
                dealer_id=dealer.id, origin=subject_origin(subject, row), customer_id=customer_id,
                vehicle_id=vehicle_id, due_at=data.next_contact_at, note=activity.comment,
                assigned_user_id=actor.id, created_by_id=actor.id,
            ))
    record(session, dealer_id=dealer.id, user_id=actor.id, action=f"{kind}.register", entity=subject_type,
           entity_id=row.id, data={"activity_id": activity.id, "channel": data.channel, "outcome": data.outcome,
                                   "next_contact_at": data.next_contact_at.isoformat()
                                   if data.next_contact_at else None})
    if commit:
        session.commit()
    return activity


def current_version(session: Session, subject: str, row_id: int) -> int | None:
    """The row's version as committed now (after a conflict: what the caller's next try must carry); rows
    that several callers edit (opportunities, appointments) have one, the others ``None``."""
    model = SUBJECTS[subject][0]
    if model not in (Opportunity, Appointment):
        return None
    session.expire_all()
    row = session.get(model, row_id)
    return row.version if row is not None else None
