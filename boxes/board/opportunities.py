"""Button 2, New opportunities: open, due from 15 days ago to 15 days ahead, in three groups."""

from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from boxes.board.common import Page, last_note, paginate
from boxes.board.windows import BoardWindows
from boxes.models import Campaign, Customer, Dealer, Opportunity, Vehicle
from boxes.models.opportunities import OPPORTUNITY_ORIGINS


def in_window(dealer: Dealer, w: BoardWindows) -> list:
    return [
        Opportunity.dealer_id == dealer.id,
        Opportunity.status == "open",
        Opportunity.due_at >= w.opportunities_from,
        Opportunity.due_at < w.opportunities_until,
    ]


def _filters(dealer: Dealer, w: BoardWindows, origin: str | None, campaign_id: int | None) -> list:
    conds = in_window(dealer, w)
    if origin in OPPORTUNITY_ORIGINS:
        conds.append(Opportunity.origin == origin)
    if campaign_id is not None:
        conds.append(Opportunity.campaign_id == campaign_id)
    return conds


def opportunities(session: Session, dealer: Dealer, w: BoardWindows, *, origin: str | None = None,
                  campaign_id: int | None = None, page: int = 1, per_page: int = 50) -> Page:
    conds = _filters(dealer, w, origin, campaign_id)
    rows = (
        select(
            Opportunity,
            Customer,
            Vehicle,
            last_note(dealer.id, Opportunity.customer_id).label("last_note"),
            Campaign.name.label("campaign_name"),
        )
        .outerjoin(Customer, Customer.id == Opportunity.customer_id)
        .outerjoin(Vehicle, Vehicle.id == Opportunity.vehicle_id)
        .outerjoin(Campaign, Campaign.id == Opportunity.campaign_id)
        .where(*conds)
        .order_by(Opportunity.due_at, Opportunity.id)
    )
    return paginate(session, select(Opportunity.id).where(*conds), rows, page, per_page)


def group_counts(session: Session, dealer: Dealer, w: BoardWindows, *, origin: str | None = None,
                 campaign_id: int | None = None) -> dict[str, int]:
    """Overdue / today / upcoming counts in one query."""
    conds = _filters(dealer, w, origin, campaign_id)
    row = session.execute(
        select(
            func.count(case((Opportunity.due_at < w.today_start, 1))),
            func.count(case(((Opportunity.due_at >= w.today_start) & (Opportunity.due_at < w.tomorrow_start), 1))),
            func.count(case((Opportunity.due_at >= w.tomorrow_start, 1))),
        ).where(*conds)
    ).one()
    return {"overdue": row[0], "today": row[1], "upcoming": row[2]}


def campaigns_with_open_opportunities(session: Session, dealer: Dealer) -> list[tuple[int, str]]:
    """For the "Op. Campaña" filter."""
    return list(
        session.execute(
            select(Campaign.id, Campaign.name)
            .where(Campaign.dealer_id == dealer.id)
            .order_by(Campaign.created_at.desc())
        ).all()
    )
