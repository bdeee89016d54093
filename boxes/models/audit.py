"""The audit trail: who changed what, when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from boxes.db import Base, UTCDateTime, utcnow


class AuditLog(Base):
    """Not DealerOwned on purpose: user administration is audited with no dealer.
    Dealer rows are still filtered by ``dealer_id`` in every query that reads them."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_dealer_entity", "dealer_id", "entity", "entity_id"),
        Index("ix_audit_log_dealer_created", "dealer_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dealer_id: Mapped[int | None] = mapped_column(ForeignKey("dealer.id", ondelete="CASCADE"), nullable=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), nullable=True)
    action: Mapped[str] = mapped_column(String(60))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
