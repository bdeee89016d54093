"""Button 5, Services completed: cars delivered from the workshop in the last 15 days."""

from __future__ import annotations

from functools import cache

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from boxes.board.contact import FINAL_OUTCOMES, CallInput, register_call
from boxes.board.in_process import repair_order_rows
from boxes.board.statements import DEALER, WINDOWS, board_parameters, call_filter
from boxes.board.windows import BoardWindows
from boxes.db import utcnow
from boxes.errors import ActionError
from boxes.models import Activity, Dealer, RepairOrder, User
from boxes.owned import get_owned
from boxes.paging import ListQuery, Page, count_rows, in_list, list_query, paginate

COURTESY_FILTERS = ("pending", "done", "all")


def in_window(dealer: Dealer, w: BoardWindows) -> list:
    return [
        RepairOrder.dealer_id == dealer.id,
        RepairOrder.delivered_at >= w.completed_since,
        RepairOrder.delivered_at < w.tomorrow_start,
    ]


def pending_courtesy_call():
    return RepairOrder.courtesy_call_at.is_(None)


def _query(courtesy: str) -> ListQuery:
    return _list(courtesy if courtesy in COURTESY_FILTERS else "all")


@cache
def _list(courtesy: str) -> ListQuery:
    conds = [*in_window(DEALER, WINDOWS), *call_filter(RepairOrder.courtesy_call_at, courtesy)]
    return list_query(select(RepairOrder.id).where(*conds), repair_order_rows(DEALER),
                      (RepairOrder.delivered_at.desc(), RepairOrder.id.desc()))


def completed(session: Session, dealer: Dealer, w: BoardWindows, *, courtesy: str = "pending",
              page: int = 1, per_page: int = 50) -> Page:
    return paginate(session, _query(courtesy), page, per_page, params=board_parameters(dealer, w))


def count(session: Session, dealer: Dealer, w: BoardWindows, *, courtesy: str = "pending") -> int:
    return count_rows(session, _query(courtesy), board_parameters(dealer, w))


def contains(session: Session, dealer: Dealer, w: BoardWindows, repair_order_id: int, *,
             courtesy: str = "pending") -> bool:
    return in_list(session, _query(courtesy), board_parameters(dealer, w), repair_order_id)


def register_courtesy_call(session: Session, dealer: Dealer, actor: User, repair_order_id, data: CallInput,
                           satisfaction) -> Activity:
    """The courtesy call after service: satisfaction 1–5 (required when the customer was reached)."""
    ro = get_owned(session, RepairOrder, dealer.id, repair_order_id)
    if ro.delivered_at is None:
        raise ActionError.field("status", _l("The car has not been delivered yet."))
    score = None
    if satisfaction not in (None, ""):
        try:
            score = int(satisfaction)
        except (TypeError, ValueError):
            score = 0
        if not 1 <= score <= 5:
            raise ActionError.field("satisfaction", _l("Satisfaction goes from 1 to 5."))
    elif data.outcome == "contacted":
        raise ActionError.field("satisfaction", _l("Ask the customer for a satisfaction score from 1 to 5."))
    activity = register_call(session, dealer, actor, "repair-orders", ro.id, data, kind="courtesy_call",
                             satisfaction=score, commit=False)
    if data.outcome in FINAL_OUTCOMES and ro.courtesy_call_at is None:
        ro.courtesy_call_at = utcnow()
    session.commit()
    return activity
