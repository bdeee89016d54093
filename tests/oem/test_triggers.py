"""The status events Boxes owes the OEM (boxes/oem/triggers.py), written into the outbox by the action
that causes them, in its transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from boxes.models import OemStatusEvent
from boxes.oem import triggers as T
from tests import factories

LEAD = "006AR0000000001AAA"


def _events(db) -> list[tuple[str, str, str | None]]:
    return [(e.trigger, e.stage, e.substage) for e in db.scalars(select(OemStatusEvent).order_by(OemStatusEvent.id))]


def test_an_event_is_kept_only_if_its_action_commits(db, dealers):
    ar = dealers[0]
    T.emit(db, ar.id, LEAD, T.NEW)
    db.rollback()
    assert _events(db) == []
    first = T.emit(db, ar.id, LEAD, T.NEW)
    second = T.emit(db, ar.id, LEAD, T.ASSIGNED)
    db.commit()
    assert _events(db) == [("NEW", "New", None), ("ATR", "Assigned", None)]
    assert first.event_id != second.event_id and first.event_id.startswith("bx-") and len(first.event_id) <= 80


def test_a_sold_appointments_car_delivered_by_the_workshop_makes_nff_once(db, dealers):
    ar = dealers[0]
    appt = factories.appointment(db, ar, factories.ago(days=2), status="arrived")
    ro = factories.repair_order(db, ar, factories.ago(days=2), vehicle_id=appt.vehicle_id,
                                customer_id=appt.customer_id)
    appt.repair_order_id = ro.id
    factories.opportunity(db, ar, factories.ago(days=3), origin="oem_lead", oem_lead_id=LEAD,
                                customer_id=appt.customer_id, vehicle_id=appt.vehicle_id, status="sold",
                                matched_appointment_id=appt.id)
    factories.opportunity(db, ar, factories.ago(days=3), status="sold", matched_appointment_id=appt.id,
                                  customer_id=appt.customer_id, vehicle_id=appt.vehicle_id)  # not a lead
    db.commit()
    assert T.services_completed(db, ar.id) == 0  # still in the workshop
    ro.delivered_at = factories.ago(hours=1)
    db.commit()
    assert T.services_completed(db, ar.id) == 1
    assert T.services_completed(db, ar.id) == 0  # once
    assert _events(db) == [("NFF", "Delivered", "ServiceComplete")]
    event = db.scalar(select(OemStatusEvent))
    assert event.lead_id == LEAD and event.occurred_at == ro.delivered_at


# --- raised by the board's actions -------------------------------------------------------------------

def _lead_opportunity(db, dealer, lead_type="Service", lead_id=LEAD):
    from boxes.models import Opportunity

    lead = factories.oem_lead(db, dealer, lead_type=lead_type, lead_id=lead_id, received_at=factories.ago(hours=2),
                              due_at=factories.ago(hours=1))
    return db.get(Opportunity, lead.opportunity_id)


def test_calls_sales_and_discards_on_a_lead_become_its_triggers(db, dealers):
    from boxes.board import contact, opportunities
    from boxes.models import DiscardReason, OemLead
    from boxes.settings.discard_reasons import seed_defaults

    ar = dealers[0]
    seed_defaults(db, ar)
    db.commit()
    caller = factories.user(db, role="caller", dealer=ar)
    opp = _lead_opportunity(db, ar)
    contact.register_call(db, ar, caller, "opportunities", opp.id, contact.CallInput("phone", "no_answer"))
    contact.register_call(db, ar, caller, "opportunities", opp.id, contact.CallInput("whatsapp", "contacted"))
    contact.register_call(db, ar, caller, "opportunities", opp.id, contact.CallInput("email", "call_back_later"))
    opportunities.mark_sold(db, ar, caller, opp.id, appointment_at=factories.ago(hours=-30))
    assert _events(db) == [("CNR", "Experiencing", "InProgressUnresponsive"),
                           ("CRE", "Experiencing", "InProgressPhone"), ("CRE", "Experiencing", "InProgressEmail"),
                           ("ACO", "Converted", "ServiceScheduled")]
    assert db.scalar(select(OemLead.first_contact_at)) is not None  # the first call stopped its deadline

    after_sales = _lead_opportunity(db, ar, "AfterSales", "006AR0000000002AAA")
    contact.register_call(db, ar, caller, "opportunities", after_sales.id, contact.CallInput("in_person", "contacted"))
    opportunities.mark_sold(db, ar, caller, after_sales.id, appointment_at=factories.ago(hours=-30))
    assert _events(db)[-3:] == [("CRE", "Experiencing", "InProgressInPerson"), ("VRE", "Deciding", "ShowroomVisit"),
                                ("NFF", "Converted", "AfterSales")]

    lost = _lead_opportunity(db, ar, "Service", "006AR0000000003AAA")
    price = db.scalar(select(DiscardReason).where(DiscardReason.dealer_id == ar.id, DiscardReason.code == "price"))
    opportunities.discard(db, ar, caller, lost.id, reason_id=price.id, comment="Too expensive")
    event = db.scalar(select(OemStatusEvent).order_by(OemStatusEvent.id.desc()).limit(1))
    assert (event.trigger, event.stage, event.substage, event.comment) == ("VPE", "NotConverted", "Price",
                                                                           "Too expensive")


def test_an_action_that_fails_writes_no_event_and_other_rows_write_none(db, dealers):
    from boxes.board import contact, opportunities
    from boxes.errors import Conflict

    ar = dealers[0]
    caller = factories.user(db, role="caller", dealer=ar)
    opp = _lead_opportunity(db, ar)
    seen = opp.version
    with Session(db.get_bind()) as other:  # another caller replans it after this one opened the panel
        other.get(type(opp), opp.id).note = "replanned elsewhere"
        other.commit()
    with pytest.raises(Conflict):  # found at the commit: nothing is kept, the ACO event either
        opportunities.mark_sold(db, ar, caller, opp.id, appointment_at=factories.ago(hours=-30), version=seen)
    db.rollback()
    plain = factories.opportunity(db, ar, factories.ago(hours=1))
    contact.register_call(db, ar, caller, "opportunities", plain.id, contact.CallInput("phone", "contacted"))
    opportunities.mark_sold(db, ar, caller, plain.id, appointment_at=factories.ago(hours=-30))
    assert _events(db) == []
