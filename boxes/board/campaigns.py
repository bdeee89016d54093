"""The campaign manager's button: a campaign counts on its badge while one of its opportunities is
open. The manager itself (search, selection, processing, the campaign list) is ``boxes/campaigns``."""

from __future__ import annotations

from sqlalchemy import select

from boxes.models import Campaign, Dealer, Opportunity


def active_campaigns_condition(dealer: Dealer):
    """A campaign is active while one of its opportunities is still open."""
    return Campaign.id.in_(
        select(Opportunity.campaign_id).where(
            Opportunity.dealer_id == dealer.id, Opportunity.status == "open", Opportunity.campaign_id.is_not(None)
        )
    )
