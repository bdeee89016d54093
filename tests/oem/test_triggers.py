"""The status events Boxes owes the OEM (boxes/oem/triggers.py), written into the outbox by the action
that causes them, in its transaction."""

from __future__ import annotations

from sqlalchemy import select

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
