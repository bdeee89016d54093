"""Button 6's live list until the reports arrive: today's registered contacts, newest first."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from boxes.board.common import Page, paginate
from boxes.board.windows import BoardWindows
from boxes.models import Activity, Customer, Dealer, User


def today(dealer: Dealer, w: BoardWindows) -> list:
    return [Activity.dealer_id == dealer.id, Activity.created_at >= w.today_start,
            Activity.created_at < w.tomorrow_start]


def count_today(session: Session, dealer: Dealer, w: BoardWindows) -> int:
    """Contacts registered today (the Reports button's badge)."""
    return session.scalar(select(func.count()).select_from(Activity).where(*today(dealer, w))) or 0


def activities_today(session: Session, dealer: Dealer, w: BoardWindows, *, page: int = 1,
                     per_page: int = 50) -> Page:
    conds = today(dealer, w)
    rows = (
        select(Activity, Customer, User.name.label("user_name"))
        .outerjoin(Customer, Customer.id == Activity.customer_id)
        .outerjoin(User, User.id == Activity.user_id)
    )
    return paginate(session, select(Activity.id).where(*conds), rows, page, per_page,
                    order=(Activity.created_at.desc(), Activity.id.desc()))
