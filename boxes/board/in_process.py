"""Button 4, In process: cars with an open repair order, by how long ago it was opened."""

from __future__ import annotations

from functools import cache

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from boxes.audit import record
from boxes.board.statements import DEALER, WINDOWS, board_parameters, has_open_opportunity, last_note
from boxes.board.windows import BoardWindows
from boxes.db import utcnow
from boxes.errors import ActionError
from boxes.models import Customer, Dealer, RepairOrder, User, Vehicle
from boxes.owned import get_owned
from boxes.paging import ListQuery, Page, count_rows, in_list, list_query, paginate

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


def repair_order_rows(dealer: Dealer):
    """Row shape shared by In process and Services completed."""
    return (
        select(
            RepairOrder,
            Customer,
            Vehicle,
            last_note(dealer.id, RepairOrder.customer_id).label("last_note"),
            has_open_opportunity(dealer.id, RepairOrder.customer_id, RepairOrder.vehicle_id).label("scheduled"),
        )
        .join(Vehicle, Vehicle.id == RepairOrder.vehicle_id)
        .outerjoin(Customer, Customer.id == RepairOrder.customer_id)
    )


def one(session: Session, dealer: Dealer, repair_order_id: int):
    return session.execute(
        repair_order_rows(dealer).where(RepairOrder.dealer_id == dealer.id, RepairOrder.id == repair_order_id)
    ).one_or_none()


def _query(opened: str) -> ListQuery:
    return _list(opened if opened in OPENED_FILTERS else "all")


@cache
def _list(opened: str) -> ListQuery:
    return list_query(select(RepairOrder.id).where(*open_orders(DEALER), *opened_condition(opened, WINDOWS)),
                      repair_order_rows(DEALER), (RepairOrder.opened_at.desc(), RepairOrder.id.desc()))


def in_process(session: Session, dealer: Dealer, w: BoardWindows, *, opened: str = "all", page: int = 1,
               per_page: int = 50) -> Page:
    return paginate(session, _query(opened), page, per_page, params=board_parameters(dealer, w))


def count(session: Session, dealer: Dealer, w: BoardWindows, *, opened: str = "all") -> int:
    return count_rows(session, _query(opened), board_parameters(dealer, w))


def contains(session: Session, dealer: Dealer, w: BoardWindows, repair_order_id: int, *, opened: str = "all") -> bool:
    return in_list(session, _query(opened), board_parameters(dealer, w), repair_order_id)


def mark_unit_delivered(session: Session, dealer: Dealer, actor: User, repair_order_id) -> RepairOrder:
    """"Unit delivered" when the DMS is late: the car moves to Services completed now.
    When the DMS later reports its own delivery time, the sync keeps the manual mark's author."""
    ro = get_owned(session, RepairOrder, dealer.id, repair_order_id)
    if ro.delivered_at is not None:
        raise ActionError.field("status", _l("This unit was already delivered."))
    now = utcnow()
    ro.delivered_at = now
    ro.status = "delivered"
    ro.delivered_manually_by_id = actor.id
    record(session, dealer_id=dealer.id, user_id=actor.id, action="repair_order.delivered", entity="repair_order",
           entity_id=ro.id, data={"number": ro.number, "manual": True})
    session.commit()
    return ro
