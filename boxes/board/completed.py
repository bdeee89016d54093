"""Button 5, Services completed: cars delivered from the workshop in the last 15 days."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from boxes.board.common import Page, has_open_opportunity, last_note, paginate
from boxes.board.windows import BoardWindows
from boxes.models import Customer, Dealer, RepairOrder, Vehicle

COURTESY_FILTERS = ("pending", "done", "all")


def in_window(dealer: Dealer, w: BoardWindows) -> list:
    return [
        RepairOrder.dealer_id == dealer.id,
        RepairOrder.delivered_at >= w.completed_since,
        RepairOrder.delivered_at < w.tomorrow_start,
    ]


def pending_courtesy_call():
    return RepairOrder.courtesy_call_at.is_(None)


def completed(session: Session, dealer: Dealer, w: BoardWindows, *, courtesy: str = "pending",
              page: int = 1, per_page: int = 50) -> Page:
    conds = in_window(dealer, w)
    if courtesy == "pending":
        conds.append(pending_courtesy_call())
    elif courtesy == "done":
        conds.append(RepairOrder.courtesy_call_at.is_not(None))
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
        .order_by(RepairOrder.delivered_at.desc(), RepairOrder.id.desc())
    )
    return paginate(session, select(RepairOrder.id).where(*conds), rows, page, per_page)
