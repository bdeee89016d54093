"""Derived state of the workshop, computed after every sync (rules in docs/integrations.md).

- **Arrived**: an appointment still expected (requested, confirmation pending, confirmed, or a
  no-show declared by Boxes or the DMS) gets ``arrived_at`` = the opening time of a repair order of
  the same vehicle — same VIN, else same plate when the vehicle has no VIN — opened from local
  midnight of its day − ``tolerance_days`` until local midnight after its day + ``tolerance_days``
  (the dealer's time zone). The closest RO to the scheduled time wins. The DMS saying so (status
  arrived / in progress / fulfilled) counts too; without a time, the linked RO's opening or the
  scheduled time is used.
- **No-show**: an expected appointment whose arrival window (its local day + tolerance) has ended
  without arrival.
- **Completed**: an arrived appointment whose RO is delivered becomes ``fulfilled``; the RO itself
  moves to Services completed by its ``delivered_at`` (from the DMS, or a user's "unit delivered").

Each change bumps the appointment's version (an open board form becomes stale) and is audited.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from boxes.audit import record
from boxes.db import utcnow
from boxes.localtime import local_days_around
from boxes.models import Appointment, Dealer, RepairOrder, Vehicle
from boxes.models.workshop import ARRIVED

EXPECTED = ("requested", "confirmation_pending", "confirmed")
ARRIVAL_CANDIDATES = (*EXPECTED, "no_show")
# How far back arrival matching looks: an RO synced late still finds its appointment.
LOOKBACK_DAYS = 31


def _vehicle_key(vin: str, plate: str) -> tuple[str, str] | None:
    if vin:
        return ("vin", vin)
    if plate:
        return ("plate", plate)
    return None


def derive(session: Session, dealer: Dealer, *, tolerance_days: int = 0, now: datetime | None = None) -> dict:
    now = now or utcnow()
    tz = ZoneInfo(dealer.time_zone)
    changed = {"arrived": 0, "no_show": 0, "fulfilled": 0}
    since = now - timedelta(days=LOOKBACK_DAYS + tolerance_days)
    until = now + timedelta(days=tolerance_days + 1)

    # 1. Arrival by a repair order of the same vehicle.
    candidates = session.execute(
        select(Appointment, Vehicle.vin, Vehicle.plate).join(Vehicle, Vehicle.id == Appointment.vehicle_id).where(
            Appointment.dealer_id == dealer.id, Appointment.arrived_at.is_(None),
            Appointment.status.in_(ARRIVAL_CANDIDATES),
            Appointment.scheduled_at >= since, Appointment.scheduled_at < until)
    ).all()
    if candidates:
        vins = {vin for _, vin, _ in candidates if vin}
        plates = {plate for _, vin, plate in candidates if not vin and plate}
        rv = aliased(Vehicle)
        ro_rows = []
        start = since - timedelta(days=tolerance_days + 1)
        for field, values in (("vin", vins), ("plate", plates)):
            values = list(values)
            for i in range(0, len(values), 1000):
                ro_rows += [(field, *row) for row in session.execute(
                    select(RepairOrder.id, RepairOrder.opened_at, RepairOrder.delivered_at, getattr(rv, field))
                    .join(rv, rv.id == RepairOrder.vehicle_id).where(
                        RepairOrder.dealer_id == dealer.id, getattr(rv, field).in_(values[i:i + 1000]),
                        RepairOrder.opened_at >= start, RepairOrder.opened_at < until + timedelta(days=1)))]
        by_key: dict[tuple[str, str], list] = {}
        for field, ro_id, opened, delivered, value in ro_rows:
            by_key.setdefault((field, value), []).append((ro_id, opened, delivered))
        taken = set(session.scalars(select(Appointment.repair_order_id).where(
            Appointment.dealer_id == dealer.id, Appointment.repair_order_id.is_not(None),
            Appointment.arrived_at.is_not(None), Appointment.scheduled_at >= since)))
        for appt, vin, plate in sorted(candidates, key=lambda c: c[0].scheduled_at):
            key = _vehicle_key(vin, plate)
            if key is None:
                continue
            lo, hi = local_days_around(appt.scheduled_at, tz, tolerance_days)
            options = [ro for ro in by_key.get(key, []) if lo <= ro[1] < hi and ro[0] not in taken]
            if not options:
                continue
            ro_id, opened, delivered = min(options, key=lambda ro: abs((ro[1] - appt.scheduled_at).total_seconds()))
            taken.add(ro_id)
            appt.arrived_at = opened
            appt.repair_order_id = ro_id
            appt.status = "fulfilled" if delivered is not None else "arrived"
            changed["arrived"] += 1
            record(session, dealer_id=dealer.id, user_id=None, action="appointment.arrived", entity="appointment",
                   entity_id=appt.id, data={"repair_order_id": ro_id, "rule": "repair_order"})

    # The DMS says arrived without a time.
    for appt in session.scalars(select(Appointment).where(
            Appointment.dealer_id == dealer.id, Appointment.arrived_at.is_(None), Appointment.status.in_(ARRIVED))):
        opened = None
        if appt.repair_order_id is not None:
            opened = session.scalar(select(RepairOrder.opened_at).where(RepairOrder.id == appt.repair_order_id))
        appt.arrived_at = opened or min(appt.scheduled_at, now)
        changed["arrived"] += 1
        record(session, dealer_id=dealer.id, user_id=None, action="appointment.arrived", entity="appointment",
               entity_id=appt.id, data={"rule": "dms_status"})

    # 2. No-show once the arrival window has ended.
    for appt in session.scalars(select(Appointment).where(
            Appointment.dealer_id == dealer.id, Appointment.arrived_at.is_(None),
            Appointment.status.in_(EXPECTED), Appointment.scheduled_at < now)):
        if local_days_around(appt.scheduled_at, tz, tolerance_days)[1] <= now:
            appt.status = "no_show"
            changed["no_show"] += 1
            record(session, dealer_id=dealer.id, user_id=None, action="appointment.no_show", entity="appointment",
                   entity_id=appt.id, data={"rule": "day_passed", "tolerance_days": tolerance_days})

    # 3. An arrived appointment whose RO is delivered is fulfilled.
    for appt in session.scalars(select(Appointment).join(RepairOrder, RepairOrder.id == Appointment.repair_order_id)
                                .where(Appointment.dealer_id == dealer.id,
                                       Appointment.status.in_(("arrived", "in_progress")),
                                       RepairOrder.delivered_at.is_not(None))):
        appt.status = "fulfilled"
        changed["fulfilled"] += 1
        record(session, dealer_id=dealer.id, user_id=None, action="appointment.fulfilled", entity="appointment",
               entity_id=appt.id, data={"repair_order_id": appt.repair_order_id})
    session.commit()
    return changed
