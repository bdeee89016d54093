"""Campaigns: a recall or technical note turned into one opportunity per unit.

``CampaignUnit`` is the campaign's work list, written when the campaign is created: the job walks
it by ``position`` and records its progress in ``Campaign.units_processed`` in the same
transaction as each batch of opportunities, so a crashed job resumes where it stopped. The partial
unique index on ``opportunity`` makes a duplicate open opportunity of one campaign for one unit
impossible even if two jobs raced.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from boxes.db import Base, DealerOwned, UTCDateTime, utcnow
from boxes.models.opportunities import Opportunity

CAMPAIGN_KINDS = ("recall", "technical_note", "service_campaign", "other")
CAMPAIGN_STATUSES = ("draft", "processing", "done", "failed")
CAMPAIGN_FAILURES = ("error", "stopped")
CAMPAIGN_KIND_LABELS = {"recall": _l("Recall"), "technical_note": _l("Technical note"),
                        "service_campaign": _l("Service campaign"), "other": _l("Other")}
CAMPAIGN_STATUS_LABELS = {"draft": _l("Draft"), "processing": _l("Processing"), "done": _l("Done"),
                          "failed": _l("Failed")}
# Why a failed campaign failed, and what to do about it.
CAMPAIGN_FAILURE_LABELS = {
    "error": _l("Its job ended with an error. Run it again: it resumes where it stopped; if it fails again, tell "
                "your administrator."),
    "stopped": _l("Its job stopped before the end several times (the worker running it was stopped or restarted). "
                  "Run it again: it resumes where it stopped."),
}


class Campaign(DealerOwned, Base):
    __tablename__ = "campaign"
    __table_args__ = (Index("ix_campaign_dealer_status", "dealer_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(24), default="other")
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    units_total: Mapped[int] = mapped_column(Integer, default=0)
    units_processed: Mapped[int] = mapped_column(Integer, default=0)
    job_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # "one" (every unit to assigned_user_id) or "round_robin" (over the dealer's callers).
    assignment: Mapped[str] = mapped_column(String(16), default="one", server_default="one")
    assigned_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), nullable=True)
    opportunities_created: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Times the recovery sweep started the job again (its worker died, its job was lost); a
    # person's "Run again" resets it. Why it failed: "error" (the job raised), "stopped" (the sweep
    # gave up after campaigns.service.MAX_RECOVERIES), "" otherwise.
    recoveries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failure: Mapped[str] = mapped_column(String(16), default="", server_default="")


class CampaignUnit(DealerOwned, Base):
    """One selected vehicle of a campaign, in processing order, with the caller it goes to."""

    __tablename__ = "campaign_unit"
    __table_args__ = (
        # The job reads its work list by position; the service never lists a vehicle twice.
        UniqueConstraint("dealer_id", "campaign_id", "position"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicle.id"))
    assigned_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), nullable=True)


# Never two open opportunities of the same campaign for the same unit, whatever writes them.
Index(
    "uq_opportunity_open_campaign_vehicle",
    Opportunity.vehicle_id,
    Opportunity.campaign_id,
    unique=True,
    postgresql_where=text("status = 'open' AND campaign_id IS NOT NULL AND vehicle_id IS NOT NULL"),
    sqlite_where=text("status = 'open' AND campaign_id IS NOT NULL AND vehicle_id IS NOT NULL"),
)
