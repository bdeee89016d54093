"""Button 6, Reports: its badge counts the contacts registered today (the reports are ``boxes/reports``)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from boxes.board.common import board_parameters, board_statement
from boxes.board.windows import BoardWindows
from boxes.models import Activity, Dealer


def today(dealer: Dealer, w: BoardWindows) -> list:
    return [Activity.dealer_id == dealer.id, Activity.created_at >= w.today_start,
            Activity.created_at < w.tomorrow_start]


def count_today(session: Session, dealer: Dealer, w: BoardWindows) -> int:
    """Contacts registered today (the Reports button's badge)."""
    stmt = board_statement(("contacts_today",), lambda d, bw: select(func.count()).select_from(Activity)
                           .where(*today(d, bw)))
    return session.scalar(stmt, board_parameters(dealer, w)) or 0
