"""Appointment credit: an "appointment sold" opportunity is matched to the DMS appointment of the same
vehicle, and once that car arrives the caller who sold it is credited (reports count it).

A sold opportunity matches the vehicle's appointment scheduled on the same local day as the sold
appointment time, ± ``tolerance_days`` (the DMS sync's arrival tolerance, default 0). When several
qualify, the one closest in time wins. The DMS sync calls ``match_and_credit`` after every run; it is
idempotent (a matched opportunity is never re-matched, a credit is never given twice).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from boxes.audit import record
from boxes.db import utcnow
from boxes.localtime import local_days_around
from boxes.models import Appointment, Dealer, Opportunity
from boxes.models.workshop import ARRIVED


def match_and_credit(session: Session, dealer: Dealer, *, tolerance_days: int = 0) -> tuple[int, int]:
    """Returns (matched, credited) counts of this pass."""
    matched = credited = 0
    tz = ZoneInfo(dealer.time_zone)
    unmatched = session.scalars(select(Opportunity).where(
        Opportunity.dealer_id == dealer.id, Opportunity.status == "sold",
        Opportunity.matched_appointment_id.is_(None), Opportunity.vehicle_id.is_not(None),
        Opportunity.sold_appointment_at.is_not(None)))
    for opp in unmatched:
        try:
            start, end = local_days_around(opp.sold_appointment_at, tz, tolerance_days)
        except OverflowError:
            # A date no appointment can be on (stored before inputs were bounded, e.g. year 9999): it
            # never matches, and it must not stop the credit of every other opportunity.
            continue
        candidates = session.scalars(select(Appointment).where(
            Appointment.dealer_id == dealer.id, Appointment.vehicle_id == opp.vehicle_id,
            Appointment.scheduled_at >= start, Appointment.scheduled_at < end,
            Appointment.status != "cancelled")).all()
        if not candidates:
            continue
        best = min(candidates, key=lambda a: abs((a.scheduled_at - opp.sold_appointment_at).total_seconds()))
        opp.matched_appointment_id = best.id
        matched += 1
        record(session, dealer_id=dealer.id, user_id=None, action="opportunity.matched", entity="opportunity",
               entity_id=opp.id, data={"appointment_id": best.id})
    session.flush()
    to_credit = session.execute(select(Opportunity, Appointment).join(
        Appointment, Appointment.id == Opportunity.matched_appointment_id).where(
        Opportunity.dealer_id == dealer.id, Opportunity.status == "sold", Opportunity.credited_at.is_(None),
        (Appointment.arrived_at.is_not(None)) | (Appointment.status.in_(ARRIVED)))).all()
    for opp, appt in to_credit:
        opp.credited_user_id = opp.closed_by_id
        opp.credited_at = appt.arrived_at or utcnow()
        credited += 1
        record(session, dealer_id=dealer.id, user_id=None, action="opportunity.credited", entity="opportunity",
               entity_id=opp.id, data={"user_id": opp.credited_user_id, "appointment_id": appt.id})
    session.commit()
    return matched, credited
