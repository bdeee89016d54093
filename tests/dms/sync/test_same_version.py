"""The DMS sends a record again with the version Boxes holds but different content (a DMS that
changed a record without moving its timestamp, or Boxes data that never came from this feed): the
DMS's content wins for what the DMS owns — counted as updated — while what Boxes owns (a caller's
confirmation, a manual "unit delivered") stays; the same content again is unchanged. On both
databases (the PostgreSQL bulk path sorts rows by version before the guarded upsert)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from boxes.dms.sync.store import store_records
from boxes.models import Appointment, Customer, RepairOrder, Vehicle
from tests import factories

T0 = "2025-01-01T00:00:00+00:00"


def _owner(db, model, dms_id) -> str:
    db.expire_all()
    return db.scalar(select(Customer.dms_id).join(model, model.customer_id == Customer.id)
                     .where(model.dms_id == dms_id))


def _same_version_differs(db):
    ar = factories.dealer_ar(db)
    store_records(db, ar.id, "customers", [{"dms_id": "C1", "name": "Ana", "dms_updated_at": T0},
                                           {"dms_id": "C2", "name": "Bruno", "dms_updated_at": T0}])
    vehicle = {"dms_id": "V1", "customer_dms_id": "C1", "plate": "AB123CD", "mileage": 1000, "dms_updated_at": T0}
    store_records(db, ar.id, "vehicles", [vehicle])
    appointment = {"dms_id": "A1", "vehicle_dms_id": "V1", "customer_dms_id": "C1", "status": "requested",
                   "scheduled_at": "2025-02-01T12:00:00Z", "advisor": "Luis", "dms_updated_at": T0}
    store_records(db, ar.id, "appointments", [appointment])
    ro = {"dms_id": "R1", "number": "R1", "vehicle_dms_id": "V1", "customer_dms_id": "C1", "status": "open",
          "opened_at": "2025-01-01T09:00:00Z", "mileage": 1000, "dms_updated_at": T0,
          "lines": [{"line_no": 1, "work_done": "Service"}]}
    store_records(db, ar.id, "repair_orders", [ro])
    db.commit()
    # What Boxes owns: a caller confirmed the appointment, another marked the unit delivered.
    appt = db.scalar(select(Appointment).where(Appointment.dms_id == "A1"))
    appt.status, appt.confirmed_at = "confirmed", datetime(2025, 1, 20, tzinfo=UTC)
    order = db.scalar(select(RepairOrder).where(RepairOrder.dms_id == "R1"))
    order.delivered_at, order.status = datetime(2025, 1, 2, tzinfo=UTC), "delivered"
    db.commit()

    # The same version, another owner (and a few other DMS fields).
    counts = [store_records(db, ar.id, "vehicles", [{**vehicle, "customer_dms_id": "C2", "mileage": 1500}]),
              store_records(db, ar.id, "appointments", [{**appointment, "customer_dms_id": "C2", "advisor": "Ana"}]),
              store_records(db, ar.id, "repair_orders", [{**ro, "customer_dms_id": "C2", "mileage": 1500}])]
    db.commit()
    assert [(c.updated, c.unchanged) for c in counts] == [(1, 0)] * 3
    assert {_owner(db, m, k) for m, k in ((Vehicle, "V1"), (Appointment, "A1"), (RepairOrder, "R1"))} == {"C2"}
    db.expire_all()
    assert db.scalar(select(Vehicle.mileage).where(Vehicle.dms_id == "V1")) == 1500
    appt = db.scalar(select(Appointment).where(Appointment.dms_id == "A1"))
    assert (appt.advisor, appt.status) == ("Ana", "confirmed")  # the DMS's advisor, the caller's confirmation
    order = db.scalar(select(RepairOrder).where(RepairOrder.dms_id == "R1"))
    assert (order.mileage, order.status, order.delivered_at) == (1500, "delivered", datetime(2025, 1, 2, tzinfo=UTC))

    # The same content again: nothing to write.
    again = [store_records(db, ar.id, "vehicles", [{**vehicle, "customer_dms_id": "C2", "mileage": 1500}]),
             store_records(db, ar.id, "appointments", [{**appointment, "customer_dms_id": "C2", "advisor": "Ana"}]),
             store_records(db, ar.id, "repair_orders", [{**ro, "customer_dms_id": "C2", "mileage": 1500}])]
    db.commit()
    assert [(c.updated, c.unchanged) for c in again] == [(0, 1)] * 3


def test_same_version_with_other_content_takes_the_dms_content(db):
    _same_version_differs(db)


def test_same_version_with_other_content_takes_the_dms_content_on_postgresql(pg_db):
    _same_version_differs(pg_db)
