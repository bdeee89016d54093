"""View client: the customer's vehicles and the full service history of each, last service first."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import case, select, union
from sqlalchemy.orm import Session

from boxes.models import (
    Activity,
    Appointment,
    Customer,
    Dealer,
    Delivery,
    Opportunity,
    RepairOrder,
    RepairOrderLine,
    User,
    Vehicle,
)
from boxes.owned import get_owned

RECENT_CONTACTS = 20


@dataclass
class Service:
    repair_order: RepairOrder
    lines: list[RepairOrderLine]


@dataclass
class VehicleHistory:
    vehicle: Vehicle
    services: list[Service] = field(default_factory=list)

    @property
    def last_service(self) -> Service | None:
        return self.services[0] if self.services else None


@dataclass
class ClientHistory:
    customer: Customer
    vehicles: list[VehicleHistory]
    open_opportunities: list[Opportunity]
    contacts: list[tuple[Activity, str | None]]


def _brought(dealer: Dealer, customer: Customer):
    """Ids of the vehicles the customer owns, bought, brought to the workshop or booked: a fleet's
    driver or a family member brings cars another customer owns (the DMS names them on the RO, the
    appointment, the delivery)."""
    return union(*[select(model.vehicle_id).where(model.dealer_id == dealer.id, model.customer_id == customer.id)
                   for model in (RepairOrder, Appointment, Delivery)],
                 select(Vehicle.id).where(Vehicle.dealer_id == dealer.id, Vehicle.customer_id == customer.id))


def client_history(session: Session, dealer: Dealer, customer_id) -> ClientHistory:
    """Five queries whatever the number of vehicles and services. Every vehicle the customer owns or
    brought, each with its whole service history (whoever brought it each time)."""
    customer = get_owned(session, Customer, dealer.id, customer_id)
    vehicles = list(session.scalars(
        select(Vehicle).where(Vehicle.dealer_id == dealer.id, Vehicle.id.in_(_brought(dealer, customer)))
        .order_by(case((Vehicle.customer_id == customer.id, 0), else_=1),  # their own cars first
                  Vehicle.model_year.desc().nulls_last(), Vehicle.id)))
    vehicle_ids = [v.id for v in vehicles]
    orders = list(session.scalars(
        select(RepairOrder).where(RepairOrder.dealer_id == dealer.id, RepairOrder.vehicle_id.in_(vehicle_ids))
        .order_by(RepairOrder.opened_at.desc(), RepairOrder.id.desc()))) if vehicle_ids else []
    lines_by_order: dict[int, list[RepairOrderLine]] = defaultdict(list)
    if orders:
        for line in session.scalars(
            select(RepairOrderLine).where(RepairOrderLine.dealer_id == dealer.id,
                                          RepairOrderLine.repair_order_id.in_([o.id for o in orders]))
            .order_by(RepairOrderLine.repair_order_id, RepairOrderLine.line_no)):
            lines_by_order[line.repair_order_id].append(line)
    history = {v.id: VehicleHistory(v) for v in vehicles}
    for order in orders:
        history[order.vehicle_id].services.append(Service(order, lines_by_order[order.id]))
    opportunities = list(session.scalars(
        select(Opportunity).where(Opportunity.dealer_id == dealer.id, Opportunity.customer_id == customer.id,
                                  Opportunity.status == "open").order_by(Opportunity.due_at)))
    contacts = list(session.execute(
        select(Activity, User.name).outerjoin(User, User.id == Activity.user_id)
        .where(Activity.dealer_id == dealer.id, Activity.customer_id == customer.id)
        .order_by(Activity.created_at.desc(), Activity.id.desc()).limit(RECENT_CONTACTS)))
    return ClientHistory(customer, list(history.values()), opportunities, contacts)
