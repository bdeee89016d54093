"""Button 1, Deliveries: cars Sales delivered in the last 30 days, for the welcome call."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from boxes.board.statements import DEALER, WINDOWS, board_parameters, call_filter, has_open_opportunity, last_note
from boxes.board.windows import BoardWindows
from boxes.models import Customer, Dealer, Delivery, Vehicle
from boxes.paging import ListQuery, Page, count_rows, in_list, list_query, paginate

WELCOME_FILTERS = ("pending", "done", "all")


def in_window(dealer: Dealer, w: BoardWindows) -> list:
    return [
        Delivery.dealer_id == dealer.id,
        Delivery.delivered_at >= w.deliveries_since,
        Delivery.delivered_at < w.tomorrow_start,
    ]


def pending_welcome_call():
    return Delivery.welcome_call_at.is_(None)


def _rows(dealer: Dealer):
    return (
        select(
            Delivery,
            Customer,
            Vehicle,
            last_note(dealer.id, Delivery.customer_id).label("last_note"),
            has_open_opportunity(dealer.id, Delivery.customer_id, Delivery.vehicle_id).label("scheduled"),
        )
        .join(Vehicle, Vehicle.id == Delivery.vehicle_id)
        .outerjoin(Customer, Customer.id == Delivery.customer_id)
    )


def one(session: Session, dealer: Dealer, delivery_id: int):
    stmt = _rows(dealer).where(Delivery.dealer_id == dealer.id, Delivery.id == delivery_id)
    return session.execute(stmt).one_or_none()


def first_service_due(dealer: Dealer, delivered_at: datetime) -> datetime:
    """Default due date of the opportunity created from a delivery: delivery date plus the dealer's
    first-service interval, at 10:00 local time (a reasonable hour to call)."""
    tz = ZoneInfo(dealer.time_zone)
    local = delivered_at.astimezone(tz).date()
    month_index = local.month - 1 + dealer.first_service_months
    year, month = local.year + month_index // 12, month_index % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return datetime(year, month, day, 10, 0, tzinfo=tz).astimezone(UTC)


def _query(welcome: str) -> ListQuery:
    return _list(welcome if welcome in WELCOME_FILTERS else "all")


@cache
def _list(welcome: str) -> ListQuery:
    conds = [*in_window(DEALER, WINDOWS), *call_filter(Delivery.welcome_call_at, welcome)]
    return list_query(select(Delivery.id).where(*conds), _rows(DEALER),
                      (Delivery.delivered_at.desc(), Delivery.id.desc()))


def deliveries(session: Session, dealer: Dealer, w: BoardWindows, *, welcome: str = "pending",
               page: int = 1, per_page: int = 50) -> Page:
    return paginate(session, _query(welcome), page, per_page, params=board_parameters(dealer, w))


def count(session: Session, dealer: Dealer, w: BoardWindows, *, welcome: str = "pending") -> int:
    return count_rows(session, _query(welcome), board_parameters(dealer, w))


def contains(session: Session, dealer: Dealer, w: BoardWindows, delivery_id: int, *, welcome: str = "pending") -> bool:
    return in_list(session, _query(welcome), board_parameters(dealer, w), delivery_id)
