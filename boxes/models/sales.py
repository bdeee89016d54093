"""Sales deliveries: the cars Sales handed over, the start of the after-sales relationship."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from boxes.db import Base, DealerOwned, UTCDateTime, utcnow
from boxes.models.customers import Customer, Vehicle


class Delivery(DealerOwned, Base):
    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("dealer_id", "dms_id"),
        Index("ix_delivery_dealer_delivered", "dealer_id", "delivered_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dms_id: Mapped[str] = mapped_column(String(64))
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicle.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), nullable=True)
    delivered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    salesperson: Mapped[str] = mapped_column(String(120), default="")
    # Set when a caller registers the welcome call; None means pending.
    welcome_call_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    dms_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    vehicle: Mapped[Vehicle] = relationship(lazy="raise")
    customer: Mapped[Customer | None] = relationship(lazy="raise")
