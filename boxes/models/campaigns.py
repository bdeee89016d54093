"""Campaigns: a recall or technical note turned into one opportunity per unit."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from boxes.db import Base, DealerOwned, UTCDateTime, utcnow

CAMPAIGN_KINDS = ("recall", "technical_note", "service_campaign", "other")
CAMPAIGN_STATUSES = ("draft", "processing", "done", "failed")


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
