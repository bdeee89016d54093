"""The status events ("gatilhos", seed 001) Boxes owes the OEM for what happens to a lead, derived from
what the dealer's people do in Boxes. The table is docs/integrations.md's "Status triggers"; the code
of each trigger is the seed's.

Each event is written into the outbox (``OemStatusEvent``) by the same transaction as the action that
caused it: an action that rolls back leaves no event, and a process that dies after the commit leaves
the event to the relay (``boxes.oem.relay``), which sends each lead's events in order. Only the
opportunities of OEM leads (``oem_lead_id`` set) make events; nothing here calls the OEM, so a
caller's action never waits on it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from boxes.db import utcnow
from boxes.models import Appointment, OemLead, OemStatusEvent, Opportunity, RepairOrder


@dataclass(frozen=True)
class Trigger:
    code: str
    stage: str
    substage: str | None


# Seed 001's trigger table, as Boxes' actions raise them.
NEW = Trigger("NEW", "New", None)  # the lead was imported at the dealer
ASSIGNED = Trigger("ATR", "Assigned", None)  # … and is in someone's hands (a user or the queue)
CONTACT_PHONE = Trigger("CRE", "Experiencing", "InProgressPhone")
CONTACT_EMAIL = Trigger("CRE", "Experiencing", "InProgressEmail")
CONTACT_IN_PERSON = Trigger("CRE", "Experiencing", "InProgressInPerson")
NO_CONTACT = Trigger("CNR", "Experiencing", "InProgressUnresponsive")
SHOWROOM_VISIT = Trigger("VRE", "Deciding", "ShowroomVisit")  # an after-sales customer in the store
SERVICE_SCHEDULED = Trigger("ACO", "Converted", "ServiceScheduled")  # "Appointment sold"
SERVICE_COMPLETE = Trigger("NFF", "Delivered", "ServiceComplete")  # the car left the workshop
AFTER_SALES_SOLD = Trigger("NFF", "Converted", "AfterSales")
LOST = "VPE"  # NotConverted, with the dealer's reason mapped to the OEM's as the substage

# The channel of a registered call → the substage of its CRE. WhatsApp is a conversation on the
# customer's phone number and the OEM's picklist has no messaging value: it counts as a phone contact.
CONTACT_OF_CHANNEL = {"phone": CONTACT_PHONE, "whatsapp": CONTACT_PHONE, "email": CONTACT_EMAIL,
                      "in_person": CONTACT_IN_PERSON}
# Outcomes that reached the customer (CRE); the others did not (CNR).
REACHED = ("contacted", "call_back_later", "do_not_contact")


def new_event_id() -> str:
    """Boxes' id of one event, made once when the event is written: every resend uses it, so the
    OEM stores the event once however often it arrives."""
    return f"bx-{uuid.uuid4().hex}"


def emit(session: Session, dealer_id: int, lead_id: str, trigger: Trigger, *, substage: str | None = None,
         comment: str = "", occurred_at: datetime | None = None) -> OemStatusEvent:
    """Write one event into the outbox, in the caller's transaction (its commit sends it, its rollback
    forgets it)."""
    event = OemStatusEvent(dealer_id=dealer_id, event_id=new_event_id(), lead_id=lead_id, trigger=trigger.code,
                           stage=trigger.stage, substage=substage if substage is not None else trigger.substage,
                           comment=comment[:255], occurred_at=occurred_at or utcnow(), status="pending")
    session.add(event)
    return event


# --- what Boxes' actions raise --------------------------------------------------------------------

def lead_imported(session: Session, dealer_id: int, lead_id: str) -> None:
    """A new lead on the board (or in the parts user's or the queue's hands): New, then Assigned."""
    now = utcnow()
    emit(session, dealer_id, lead_id, NEW, occurred_at=now)
    emit(session, dealer_id, lead_id, ASSIGNED, occurred_at=now)


def _lead(session: Session, opportunity) -> OemLead | None:
    if not opportunity.oem_lead_id:
        return None
    # Not flushed first: the action's own change of a versioned row must meet a concurrent one at its
    # commit (a 409 "changed by someone else"), not here.
    with session.no_autoflush:
        return session.scalar(select(OemLead).where(OemLead.dealer_id == opportunity.dealer_id,
                                                    OemLead.lead_id == opportunity.oem_lead_id))


def call_registered(session: Session, opportunity, *, channel: str, outcome: str) -> None:
    """A call, an email or a visit registered on a lead's opportunity: CRE by channel when it reached
    the customer, CNR when it did not; an after-sales customer seen in person is also a showroom
    visit (VRE). The first one is the lead's first contact (its deadline stops counting)."""
    lead = _lead(session, opportunity)
    if lead is None:
        return
    if lead.first_contact_at is None:
        lead.first_contact_at = utcnow()
    if outcome not in REACHED:
        emit(session, lead.dealer_id, lead.lead_id, NO_CONTACT)
        return
    emit(session, lead.dealer_id, lead.lead_id, CONTACT_OF_CHANNEL.get(channel, CONTACT_PHONE))
    if lead.lead_type == "AfterSales" and channel == "in_person":
        emit(session, lead.dealer_id, lead.lead_id, SHOWROOM_VISIT)


def appointment_sold(session: Session, opportunity) -> None:
    """"Appointment sold" on a lead: ACO (a service booked); an after-sales lead closed as sold: NFF
    Converted/AfterSales."""
    lead = _lead(session, opportunity)
    if lead is None:
        return
    emit(session, lead.dealer_id, lead.lead_id, AFTER_SALES_SOLD if lead.lead_type == "AfterSales"
         else SERVICE_SCHEDULED)


def discarded(session: Session, opportunity, *, oem_reason: str, comment: str = "") -> None:
    """Discarded with a reason the dealer mapped to the OEM's list (an OEM lead cannot be discarded
    with an unmapped one): VPE NotConverted/<the OEM's reason>."""
    if not opportunity.oem_lead_id:
        return
    emit(session, opportunity.dealer_id, opportunity.oem_lead_id, Trigger(LOST, "NotConverted", oem_reason),
         comment=comment)


def services_completed(session: Session, dealer_id: int) -> int:
    """After each DMS sync: a lead whose sold appointment's car has left the workshop (the repair order
    the DMS opened for that appointment is delivered) gets NFF Delivered/ServiceComplete, once.
    Commits; returns how many were written."""
    done = select(OemStatusEvent.lead_id).where(OemStatusEvent.dealer_id == dealer_id,
                                                OemStatusEvent.trigger == SERVICE_COMPLETE.code)
    rows = session.execute(
        select(Opportunity.oem_lead_id, RepairOrder.delivered_at)
        .join(Appointment, Appointment.id == Opportunity.matched_appointment_id)
        .join(RepairOrder, RepairOrder.id == Appointment.repair_order_id)
        .where(Opportunity.dealer_id == dealer_id, Opportunity.oem_lead_id.is_not(None),
               Opportunity.status == "sold", RepairOrder.delivered_at.is_not(None),
               Opportunity.oem_lead_id.not_in(done))).all()
    for lead_id, delivered_at in rows:
        emit(session, dealer_id, lead_id, SERVICE_COMPLETE, occurred_at=delivered_at)
    session.commit()
    return len(rows)
