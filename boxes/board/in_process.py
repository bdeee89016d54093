"""Button 4, In process: cars with an open repair order, by how long ago it was opened."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from boxes.board.common import Page, has_open_opportunity, last_note, paginate
from boxes.board.windows import BoardWindows
from boxes.models import Customer, Dealer, RepairOrder, Vehicle

OPENED_FILTERS = ("all", "today", "yesterday", "week", "older")


def open_orders(dealer: Dealer) -> list:
    return [RepairOrder.dealer_id == dealer.id, RepairOrder.delivered_at.is_(None)]


def opened_condition(opened: str, w: BoardWindows) -> list:
    if opened == "today":
        return [RepairOrder.opened_at >= w.today_start]
    if opened == "yesterday":
        return [RepairOrder.opened_at >= w.yesterday_start, RepairOrder.opened_at < w.today_start]
    if opened == "week":
        return [RepairOrder.opened_at >= w.week_start, RepairOrder.opened_at < w.yesterday_start]
    if opened == "older":
        return [RepairOrder.opened_at < w.week_start]
    return []


def in_process(session: Session, dealer: Dealer, w: BoardWindows, *, opened: str = "all", page: int = 1,
               per_page: int = 50) -> Page:
    conds = open_orders(dealer) + opened_condition(opened, w)
    rows = (
        select(
            RepairOrder,
            Customer,
            Vehicle,
            last_note(dealer.id, RepairOrder.customer_id).label("last_note"),
            has_open_opportunity(dealer.id, RepairOrder.customer_id, RepairOrder.vehicle_id).label("scheduled"),
        )
        .join(Vehicle, Vehicle.id == RepairOrder.vehicle_id)
        .outerjoin(Customer, Customer.id == RepairOrder.customer_id)
        .where(*conds)
        .order_by(RepairOrder.opened_at.desc(), RepairOrder.id.desc())
    )
    return paginate(session, select(RepairOrder.id).where(*conds), rows, page, per_page)
