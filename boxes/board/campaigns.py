"""The campaign manager's entry list: the dealer's campaigns with their opportunity counts."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from boxes.board.common import Page, paginate
from boxes.models import Campaign, Dealer, Opportunity


def campaigns(session: Session, dealer: Dealer, *, page: int = 1, per_page: int = 50) -> Page:
    counts = (
        select(
            Opportunity.campaign_id.label("campaign_id"),
            func.count().label("total"),
            func.count().filter(Opportunity.status == "open").label("open"),
        )
        .where(Opportunity.dealer_id == dealer.id, Opportunity.campaign_id.is_not(None))
        .group_by(Opportunity.campaign_id)
        .subquery()
    )
    conds = [Campaign.dealer_id == dealer.id]
    rows = (
        select(Campaign, func.coalesce(counts.c.total, 0).label("total"),
               func.coalesce(counts.c.open, 0).label("open"))
        .outerjoin(counts, counts.c.campaign_id == Campaign.id)
        .where(*conds)
        .order_by(Campaign.created_at.desc(), Campaign.id.desc())
    )
    return paginate(session, select(Campaign.id).where(*conds), rows, page, per_page)


def active_campaigns_condition(dealer: Dealer):
    """A campaign is active while one of its opportunities is still open."""
    return Campaign.id.in_(
        select(Opportunity.campaign_id).where(
            Opportunity.dealer_id == dealer.id, Opportunity.status == "open", Opportunity.campaign_id.is_not(None)
        )
    )
