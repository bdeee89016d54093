"""Button 1, Deliveries: cars Sales delivered in the last 30 days, for the welcome call."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from boxes.board.statements import CALL_FILTERS, DEALER, WINDOWS, FilteredList, call_filter, one_row, subject_rows
from boxes.board.windows import BoardWindows
from boxes.models import Dealer, Delivery
from boxes.paging import ListQuery, list_query

WELCOME_FILTERS = CALL_FILTERS


def in_window(dealer: Dealer, w: BoardWindows) -> list:
    return [
        Delivery.dealer_id == dealer.id,
        Delivery.delivered_at >= w.deliveries_since,
        Delivery.delivered_at < w.tomorrow_start,
    ]


def pending_welcome_call():
    return Delivery.welcome_call_at.is_(None)


def _rows(dealer: Dealer):
    return subject_rows(Delivery, dealer)


def one(session: Session, dealer: Dealer, delivery_id: int):
    return one_row(session, _rows(dealer), Delivery, dealer, delivery_id)


def first_service_due(dealer: Dealer, delivered_at: datetime) -> datetime:
    """Default due date of the opportunity created from a delivery: delivery date plus the dealer's
    first-service interval, at 10:00 local time (a reasonable hour to call)."""
    tz = ZoneInfo(dealer.time_zone)
    local = delivered_at.astimezone(tz).date()
    month_index = local.month - 1 + dealer.first_service_months
    year, month = local.year + month_index // 12, month_index % 12 + 1
    day = min(local.day, calendar.monthrange(year, month)[1])
    return datetime(year, month, day, 10, 0, tzinfo=tz).astimezone(UTC)


@cache
def _list(welcome: str) -> ListQuery:
    conds = [*in_window(DEALER, WINDOWS), *call_filter(Delivery.welcome_call_at, welcome)]
    return list_query(select(Delivery.id).where(*conds), _rows(DEALER),
                      (Delivery.delivered_at.desc(), Delivery.id.desc()))


LIST = FilteredList(_list, "welcome", WELCOME_FILTERS, default="pending")
deliveries = LIST.page  # deliveries(session, dealer, w, welcome="pending", page=1, per_page=50) -> Page
count = LIST.count  # count(session, dealer, w, welcome="pending") -> int
contains = LIST.contains  # contains(session, dealer, w, delivery_id, welcome="pending") -> bool
_query = LIST.query
