"""Button 5, Services completed: cars delivered from the workshop in the last 15 days."""

from __future__ import annotations

from functools import cache

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from boxes.board.contact import FINAL_OUTCOMES, CallInput, register_call
from boxes.board.in_process import repair_order_rows
from boxes.board.statements import CALL_FILTERS, DEALER, WINDOWS, FilteredList, call_filter
from boxes.board.windows import BoardWindows
from boxes.db import utcnow
from boxes.errors import ActionError
from boxes.models import Activity, Dealer, RepairOrder, User
from boxes.owned import get_owned
from boxes.paging import ListQuery, list_query

COURTESY_FILTERS = CALL_FILTERS


def in_window(dealer: Dealer, w: BoardWindows) -> list:
    return [
        RepairOrder.dealer_id == dealer.id,
        RepairOrder.delivered_at >= w.completed_since,
        RepairOrder.delivered_at < w.tomorrow_start,
    ]


def pending_courtesy_call():
    return RepairOrder.courtesy_call_at.is_(None)


@cache
def _list(courtesy: str) -> ListQuery:
    conds = [*in_window(DEALER, WINDOWS), *call_filter(RepairOrder.courtesy_call_at, courtesy)]
    return list_query(select(RepairOrder.id).where(*conds), repair_order_rows(DEALER),
                      (RepairOrder.delivered_at.desc(), RepairOrder.id.desc()))


LIST = FilteredList(_list, "courtesy", COURTESY_FILTERS, default="pending")
completed = LIST.page  # completed(session, dealer, w, courtesy="pending", page=1, per_page=50) -> Page
count = LIST.count  # count(session, dealer, w, courtesy="pending") -> int
contains = LIST.contains  # contains(session, dealer, w, repair_order_id, courtesy="pending") -> bool
_query = LIST.query


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
