"""Shared pieces of the DMS tests (no tests here): the simulator as a separate HTTP server process
on loopback, connector rows, and a comparable snapshot of what the database holds."""

from __future__ import annotations

from datetime import datetime

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from boxes.models import (
    Appointment,
    Customer,
    Delivery,
    DmsConnector,
    RepairOrder,
    RepairOrderLine,
    Vehicle,
)
from tests.simulators import SimulatorProcess

AR_TZ = "America/Argentina/Buenos_Aires"
BR_TZ = "America/Sao_Paulo"


class Simulator(SimulatorProcess):
    command, title = "dms-simulator", "DMS simulator"

    def __init__(self, vehicles: int = 80, seed: int = 7, dealers=("AR01:AR:" + AR_TZ, "BR01:BR:" + BR_TZ)):
        super().__init__(seed=seed, vehicles=vehicles, dealers=dealers)

    def feed_url(self, code: str) -> str:
        return f"{self.base}/feed/v1/{code}"

    def faults(self, **knobs) -> dict:
        defaults = {"latency_ms": 0, "error_rate": 0, "timeout_rate": 0, "truncate_rate": 0, "duplicate_rate": 0,
                    "malformed_rate": 0, "out_of_order_rate": 0, "token_ttl": 3600}
        return httpx.post(f"{self.base}/_sim/faults", json={**defaults, **knobs}, timeout=5).json()

    def advance(self, minutes: float = 30, events: int | None = None) -> int:
        body = {"minutes": minutes} | ({"events": events} if events is not None else {})
        return httpx.post(f"{self.base}/_sim/advance", json=body, timeout=30).json()["changes"]

    def truth(self, code: str) -> dict:
        return httpx.get(f"{self.base}/_sim/truth/{code}", timeout=30).json()

    def malformed(self) -> list:
        return httpx.get(f"{self.base}/_sim/malformed", timeout=5).json()["malformed"]


def connect(db, dealer, sim: Simulator, *, page_size: int = 40, timeout: float = 2.0, tolerance: int = 0,
            **settings) -> DmsConnector:
    row = DmsConnector(dealer_id=dealer.id, kind="simulator", enabled=True, tolerance_days=tolerance,
                       settings={"base_url": sim.feed_url(dealer.code), "client_id": "boxes", "page_size": page_size,
                                 "timeout_seconds": timeout, **settings},
                       secrets={"client_secret": "simulator"})
    db.add(row)
    db.commit()
    return row


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _norm(value: str | None) -> str | None:
    return datetime.fromisoformat(value).isoformat() if value else None


def snapshot(db, dealer_id: int) -> dict:
    """What the database holds of the DMS, keyed by dms_id, in the truth's terms."""
    v = aliased(Vehicle)
    c = aliased(Customer)
    out = {e: {} for e in ("customers", "vehicles", "deliveries", "repair_orders", "appointments")}
    for row in db.execute(select(Customer).where(Customer.dealer_id == dealer_id)).scalars():
        out["customers"][row.dms_id] = (row.name, row.email, _iso(row.dms_updated_at))
    for row, cust in db.execute(select(Vehicle, c.dms_id).outerjoin(c, c.id == Vehicle.customer_id)
                                .where(Vehicle.dealer_id == dealer_id)):
        out["vehicles"][row.dms_id] = (row.vin, row.plate, cust, _iso(row.dms_updated_at))
    for row, vehicle in db.execute(select(Delivery, v.dms_id).join(v, v.id == Delivery.vehicle_id)
                                   .where(Delivery.dealer_id == dealer_id)):
        out["deliveries"][row.dms_id] = (vehicle, _iso(row.delivered_at), _iso(row.dms_updated_at))
    lines = dict(db.execute(select(RepairOrderLine.repair_order_id, func.count()).where(
        RepairOrderLine.dealer_id == dealer_id).group_by(RepairOrderLine.repair_order_id)).all())
    for row, vehicle in db.execute(select(RepairOrder, v.dms_id).join(v, v.id == RepairOrder.vehicle_id)
                                   .where(RepairOrder.dealer_id == dealer_id)):
        out["repair_orders"][row.dms_id] = (row.number, vehicle, _iso(row.opened_at), _iso(row.delivered_at),
                                            row.status, lines.get(row.id, 0), _iso(row.dms_updated_at))
    for row, vehicle in db.execute(select(Appointment, v.dms_id).join(v, v.id == Appointment.vehicle_id)
                                   .where(Appointment.dealer_id == dealer_id)):
        out["appointments"][row.dms_id] = (vehicle, _iso(row.scheduled_at), _iso(row.dms_updated_at))
    return out


def truth_snapshot(truth: dict) -> dict:
    out = {e: {} for e in truth}
    for k, r in truth["customers"].items():
        out["customers"][k] = (r["name"], r["email"] or "", _norm(r["dms_updated_at"]))
    for k, r in truth["vehicles"].items():
        out["vehicles"][k] = (r["vin"], r["plate"], r["customer_dms_id"], _norm(r["dms_updated_at"]))
    for k, r in truth["deliveries"].items():
        out["deliveries"][k] = (r["vehicle_dms_id"], _norm(r["delivered_at"]), _norm(r["dms_updated_at"]))
    for k, r in truth["repair_orders"].items():
        out["repair_orders"][k] = (r["number"], r["vehicle_dms_id"], _norm(r["opened_at"]), _norm(r["delivered_at"]),
                                   r["status"], len(r["lines"]), _norm(r["dms_updated_at"]))
    for k, r in truth["appointments"].items():
        out["appointments"][k] = (r["vehicle_dms_id"], _norm(r["scheduled_at"]), _norm(r["dms_updated_at"]))
    return out


def table_counts(db, dealer_id: int) -> dict:
    return {m.__tablename__: db.scalar(select(func.count()).select_from(m).where(m.dealer_id == dealer_id))
            for m in (Customer, Vehicle, Delivery, RepairOrder, RepairOrderLine, Appointment)}
