"""Derived state at the edges: arrival by an RO of the same vehicle (VIN, else plate) on the
appointment's local day ± tolerance, no-show once that window has ended, delivered → Completed
(keeping a manual "unit delivered" and its author), unknown references, appointment credit —
at local midnight and the tolerance boundaries, in both dealers' time zones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from boxes.dms.connectors.base import Page
from boxes.dms.derived import derive
from boxes.dms.sync.runs import sync_dealer
from boxes.dms.sync.store import store_records
from boxes.models import Appointment, DmsConnector, Opportunity, QuarantinedRecord, RepairOrder, Vehicle
from tests import factories

T0 = "2025-01-01T00:00:00+00:00"


def local(tz: str, *args) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def _feed(db, dealer, *, vin="9BGKS48B0KG123456", plate="AB123CD", vehicle="V1", other_vehicle=None):
    store_records(db, dealer.id, "customers", [{"dms_id": "C1", "name": "Ana Pérez", "dms_updated_at": T0}])
    vehicles = [{"dms_id": vehicle, "customer_dms_id": "C1", "vin": vin, "plate": plate, "dms_updated_at": T0}]
    if other_vehicle:
        vehicles.append({"dms_id": other_vehicle, "customer_dms_id": "C1", "vin": vin, "plate": plate,
                         "dms_updated_at": T0})
    store_records(db, dealer.id, "vehicles", vehicles)
    db.commit()


def _appointment(db, dealer, at: datetime, status="confirmed", dms_id="A1", vehicle="V1", **extra):
    store_records(db, dealer.id, "appointments", [{
        "dms_id": dms_id, "vehicle_dms_id": vehicle, "scheduled_at": at.isoformat(), "status": status,
        "dms_updated_at": T0, **extra}])
    db.commit()


def _ro(db, dealer, opened: datetime, dms_id="R1", vehicle="V1", delivered: datetime | None = None, stamp=T0):
    store_records(db, dealer.id, "repair_orders", [{
        "dms_id": dms_id, "number": dms_id, "vehicle_dms_id": vehicle, "opened_at": opened.isoformat(),
        "delivered_at": delivered.isoformat() if delivered else None,
        "status": "delivered" if delivered else "open", "dms_updated_at": stamp,
        "lines": [{"line_no": 1, "work_done": "Service 10.000 km"}]}])
    db.commit()


def _appt(db, dms_id="A1") -> Appointment:
    db.expire_all()
    return db.scalar(select(Appointment).where(Appointment.dms_id == dms_id))


@pytest.mark.parametrize("which", [0, 1], ids=["AR", "BR"])
@pytest.mark.parametrize(("opened", "tolerance", "arrived"), [
    ((2025, 3, 10, 0, 0, 0), 0, True),  # local midnight starting the day: in
    ((2025, 3, 10, 23, 59, 59), 0, True),  # last second of the day: in
    ((2025, 3, 9, 23, 59, 59), 0, False),  # one second before: out
    ((2025, 3, 11, 0, 0, 0), 0, False),  # next local midnight: out
    ((2025, 3, 9, 8, 0, 0), 1, True),  # the day before, tolerance 1: in
    ((2025, 3, 11, 23, 59, 59), 1, True),  # the day after, tolerance 1: in
    ((2025, 3, 12, 0, 0, 0), 1, False),  # two days after, tolerance 1: out
])
def test_arrival_window_is_the_local_day_plus_minus_tolerance(db, dealers, which, opened, tolerance, arrived):
    dealer = dealers[which]
    tz = dealer.time_zone
    _feed(db, dealer)
    # 22:30 local is already the next day in UTC: the local day is what counts.
    _appointment(db, dealer, local(tz, 2025, 3, 10, 22, 30))
    _ro(db, dealer, local(tz, *opened))
    derive(db, dealer, tolerance_days=tolerance, now=local(tz, 2025, 3, 10, 23, 0))
    appt = _appt(db)
    assert (appt.arrived_at is not None) is arrived
    if arrived:
        assert appt.arrived_at == local(tz, *opened) and appt.status == "arrived"
        assert appt.repair_order_id is not None


def test_arrival_matches_the_vin_across_vehicle_records_else_the_plate(db, dealers):
    ar = dealers[0]
    tz = ar.time_zone
    _feed(db, ar, other_vehicle="V1-DUP")  # the DMS has the same car twice
    _appointment(db, ar, local(tz, 2025, 3, 10, 9, 0))
    _ro(db, ar, local(tz, 2025, 3, 10, 9, 20), vehicle="V1-DUP")
    derive(db, ar, now=local(tz, 2025, 3, 10, 12, 0))
    assert _appt(db).arrived_at == local(tz, 2025, 3, 10, 9, 20)

    store_records(db, ar.id, "vehicles", [
        {"dms_id": "P1", "customer_dms_id": "C1", "vin": "", "plate": "AC456DE", "dms_updated_at": T0},
        {"dms_id": "P2", "customer_dms_id": "C1", "vin": "", "plate": "AC456DE", "dms_updated_at": T0},
        {"dms_id": "P3", "customer_dms_id": "C1", "vin": "", "plate": "ZZ999ZZ", "dms_updated_at": T0}])
    db.commit()
    _appointment(db, ar, local(tz, 2025, 3, 10, 10, 0), dms_id="A2", vehicle="P1")
    _appointment(db, ar, local(tz, 2025, 3, 10, 10, 0), dms_id="A3", vehicle="P3")
    _ro(db, ar, local(tz, 2025, 3, 10, 10, 5), dms_id="R2", vehicle="P2")
    derive(db, ar, now=local(tz, 2025, 3, 10, 12, 0))
    assert _appt(db, "A2").arrived_at is not None
    assert _appt(db, "A3").arrived_at is None


@pytest.mark.parametrize("which", [0, 1], ids=["AR", "BR"])
@pytest.mark.parametrize("tolerance", [0, 1])
def test_no_show_once_the_arrival_window_has_ended(db, dealers, which, tolerance):
    dealer = dealers[which]
    tz = dealer.time_zone
    _feed(db, dealer)
    _appointment(db, dealer, local(tz, 2025, 3, 10, 23, 30))
    end = local(tz, 2025, 3, 11 + tolerance, 0, 0)
    derive(db, dealer, tolerance_days=tolerance, now=end - timedelta(microseconds=1))
    assert _appt(db).status == "confirmed"
    derive(db, dealer, tolerance_days=tolerance, now=end)
    appt = _appt(db)
    assert appt.status == "no_show" and appt.arrived_at is None
    # An RO that shows up late but inside the window still counts as arrival.
    _ro(db, dealer, local(tz, 2025, 3, 10, 23, 50))
    derive(db, dealer, tolerance_days=tolerance, now=end + timedelta(hours=1))
    assert _appt(db).status == "arrived"


def test_dms_says_arrived_and_delivered_moves_to_completed_keeping_the_manual_mark(db, dealers):
    ar = dealers[0]
    tz = ar.time_zone
    admin = factories.user(db, role="caller", dealer=ar)
    _feed(db, ar)
    _ro(db, ar, local(tz, 2025, 3, 10, 9, 10))
    _appointment(db, ar, local(tz, 2025, 3, 10, 9, 0), status="arrived", repair_order_dms_id="R1")
    derive(db, ar, now=local(tz, 2025, 3, 10, 12, 0))
    appt = _appt(db)
    assert appt.arrived_at == local(tz, 2025, 3, 10, 9, 10)

    # A caller marks the unit delivered; the DMS, still late, sends the RO open again: nothing is undone.
    ro = db.scalar(select(RepairOrder).where(RepairOrder.dms_id == "R1"))
    ro.delivered_at, ro.status, ro.delivered_manually_by_id = local(tz, 2025, 3, 10, 17, 0), "delivered", admin.id
    db.commit()
    _ro(db, ar, local(tz, 2025, 3, 10, 9, 10), stamp="2025-03-10T20:00:00+00:00")
    db.expire_all()
    ro = db.scalar(select(RepairOrder).where(RepairOrder.dms_id == "R1"))
    assert (ro.status, ro.delivered_manually_by_id) == ("delivered", admin.id)
    # Then the DMS reports its delivery: its time wins, the author of the manual mark stays.
    _ro(db, ar, local(tz, 2025, 3, 10, 9, 10), delivered=local(tz, 2025, 3, 10, 18, 30),
        stamp="2025-03-10T22:00:00+00:00")
    derive(db, ar, now=local(tz, 2025, 3, 10, 23, 0))
    db.expire_all()
    ro = db.scalar(select(RepairOrder).where(RepairOrder.dms_id == "R1"))
    assert ro.delivered_at == local(tz, 2025, 3, 10, 18, 30) and ro.delivered_manually_by_id == admin.id
    assert _appt(db).status == "fulfilled"


class ListConnector:
    kind = "test"

    def __init__(self, feed: dict[str, list]):
        self.feed = feed

    def pages(self, entity, cursor):
        records = self.feed.get(entity, [])
        yield Page(records, str(len(records)))

    def close(self):
        pass


def test_unknown_vehicle_is_quarantined_then_converges_and_sold_opportunity_gets_credited(db, dealers):
    ar = dealers[0]
    tz = ar.time_zone
    db.add(DmsConnector(dealer_id=ar.id, kind="http", tolerance_days=1, settings={}, secrets={}))
    caller = factories.user(db, role="caller", dealer=ar)
    now = datetime.now(UTC)
    ro = {"dms_id": "R9", "number": "9", "vehicle_dms_id": "V9", "opened_at": (now - timedelta(hours=1)).isoformat(),
          "status": "open", "dms_updated_at": now.isoformat()}
    appt = {"dms_id": "A9", "vehicle_dms_id": "V9", "scheduled_at": (now - timedelta(hours=2)).isoformat(),
            "status": "confirmed", "dms_updated_at": now.isoformat()}
    sync_dealer(db, ar, connector=ListConnector({"repair_orders": [ro], "appointments": [appt]}))
    entries = db.scalars(select(QuarantinedRecord).where(QuarantinedRecord.resolved_at.is_(None))).all()
    assert {(q.entity, q.kind) for q in entries} == {("repair_orders", "reference"), ("appointments", "reference")}
    assert all("unknown vehicle V9" in q.reason for q in entries)

    # The vehicle arrives in a later run: the waiting records are stored, the car has arrived.
    vehicle = {"dms_id": "V9", "vin": "9BGKS48B0KG654321", "plate": "AD111AA", "dms_updated_at": now.isoformat()}
    sync_dealer(db, ar, connector=ListConnector({"vehicles": [vehicle]}))
    v = db.scalar(select(Vehicle).where(Vehicle.dms_id == "V9"))
    opp = factories.opportunity(db, ar, now - timedelta(days=3), customer_id=None, vehicle_id=v.id, status="sold",
                                sold_appointment_at=now - timedelta(days=1), closed_by_id=caller.id)
    sync_dealer(db, ar, connector=ListConnector({}))
    db.expire_all()
    assert db.scalar(select(QuarantinedRecord).where(QuarantinedRecord.resolved_at.is_(None))) is None
    assert _appt(db, "A9").arrived_at is not None
    opp = db.get(Opportunity, opp.id)
    assert opp.matched_appointment_id == _appt(db, "A9").id  # tolerance 1 from the connector
    assert opp.credited_user_id == caller.id
    del tz
