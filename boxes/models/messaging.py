"""Outbound messages (reminders, booking confirmations): claimed before sending, sent once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from boxes.db import Base, DealerOwned, UTCDateTime, utcnow

MESSAGE_KINDS = ("reminder", "booking_confirmation")
MESSAGE_STATUSES = ("queued", "sending", "sent", "failed", "skipped")


class OutboundMessage(DealerOwned, Base):
    __tablename__ = "outbound_message"
    __table_args__ = (
        # The idempotency key: one message per appointment, kind and scheduled time.
        UniqueConstraint("dealer_id", "appointment_id", "kind", "scheduled_for"),
        Index("ix_outbound_message_dealer_status", "dealer_id", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointment.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(24))
    scheduled_for: Mapped[datetime] = mapped_column(UTCDateTime)
    to_address: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str] = mapped_column(String(200), default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
