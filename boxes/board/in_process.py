"""Button 4, In process: cars with an open repair order, by how long ago it was opened."""

from __future__ import annotations

from functools import cache

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from boxes.audit import record
from boxes.board.statements import DEALER, WINDOWS, FilteredList, one_row, subject_rows
from boxes.board.windows import BoardWindows
from boxes.db import utcnow
from boxes.errors import ActionError
from boxes.models import Dealer, RepairOrder, User
from boxes.owned import get_owned
from boxes.paging import ListQuery, list_query

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
    return subject_rows(RepairOrder, dealer)


def one(session: Session, dealer: Dealer, repair_order_id: int):
    return one_row(session, repair_order_rows(dealer), RepairOrder, dealer, repair_order_id)


@cache
def _list(opened: str) -> ListQuery:
    return list_query(select(RepairOrder.id).where(*open_orders(DEALER), *opened_condition(opened, WINDOWS)),
                      repair_order_rows(DEALER), (RepairOrder.opened_at.desc(), RepairOrder.id.desc()))


LIST = FilteredList(_list, "opened", OPENED_FILTERS, default="all")
in_process = LIST.page  # in_process(session, dealer, w, opened="all", page=1, per_page=50) -> Page
count = LIST.count  # count(session, dealer, w, opened="all") -> int
contains = LIST.contains  # contains(session, dealer, w, repair_order_id, opened="all") -> bool
_query = LIST.query


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
