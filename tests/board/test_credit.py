"""Appointment credit: a sold opportunity is matched to the DMS appointment and credited on arrival."""

from __future__ import annotations

from datetime import timedelta

from boxes.board import opportunities
from boxes.board.credit import match_and_credit
from boxes.db import utcnow
from boxes.models import Appointment, Opportunity
from tests import factories
from tests.factories import utc


def test_sold_opportunity_is_matched_then_credited_on_arrival(db, dealers):
    ar = dealers[0]
    caller = factories.user(db, role="caller", dealer=ar)
    c, v = factories.car(db, ar)
    opp = factories.opportunity(db, ar, utcnow() + timedelta(hours=1), customer_id=c.id, vehicle_id=v.id)
    when = (utcnow() + timedelta(days=2)).replace(microsecond=0)
    opportunities.mark_sold(db, ar, caller, opp.id, appointment_at=when, version=opp.version)
    assert match_and_credit(db, ar) == (0, 0)  # the DMS has no appointment yet
    appt = Appointment(dealer_id=ar.id, dms_id="DMS-1", vehicle_id=v.id, customer_id=c.id,
                       scheduled_at=when + timedelta(minutes=30), status="confirmed")
    other_car = factories.vehicle(db, ar, c)
    db.add_all([appt, Appointment(dealer_id=ar.id, dms_id="DMS-2", vehicle_id=other_car.id, customer_id=c.id,
                                  scheduled_at=when, status="confirmed")])
    db.commit()
    assert match_and_credit(db, ar) == (1, 0)
    db.refresh(opp)
    assert opp.matched_appointment_id == appt.id and opp.credited_user_id is None
    appt.status, appt.arrived_at = "arrived", when + timedelta(minutes=25)
    db.commit()
    assert match_and_credit(db, ar) == (0, 1)
    assert match_and_credit(db, ar) == (0, 0)  # idempotent
    db.refresh(opp)
    assert opp.credited_user_id == caller.id and opp.credited_at == appt.arrived_at


def test_matching_uses_the_dealers_local_day_and_tolerance(db, dealers):
    ar = dealers[0]
    caller = factories.user(db, role="caller", dealer=ar)
    c, v = factories.car(db, ar)
    # Sold for 2026-03-10 23:00 local (= 03-11 02:00 UTC); the DMS appointment is 03-11 09:00 local: next day.
    opp = Opportunity(dealer_id=ar.id, origin="manual", customer_id=c.id, vehicle_id=v.id, status="sold",
                      due_at=utc(2026, 3, 1), sold_appointment_at=utc(2026, 3, 11, 2, 0), closed_by_id=caller.id)
    appt = Appointment(dealer_id=ar.id, dms_id="A", vehicle_id=v.id, customer_id=c.id,
                       scheduled_at=utc(2026, 3, 11, 12, 0), status="confirmed")
    db.add_all([opp, appt])
    db.commit()
    assert match_and_credit(db, ar) == (0, 0)  # tolerance 0: a different local day
    assert match_and_credit(db, ar, tolerance_days=1) == (1, 0)
