"""The workshop: appointments and repair orders (ROs) with their lines."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from boxes.db import Base, DealerOwned, UTCDateTime, utcnow
from boxes.models.customers import Customer, Vehicle

# The STAR appointment vocabulary (Standards for Technology in Automotive Retail).
APPOINTMENT_STATUSES = (
    "requested",
    "confirmation_pending",
    "confirmed",
    "arrived",
    "in_progress",
    "fulfilled",
    "cancelled",
    "no_show",
)
# One appointment's status (a row's cell): "confirmed" has its own msgid, apart from the plural tab
# "Confirmed" of Upcoming appointments.
APPOINTMENT_STATUS_LABELS = {
    "requested": _l("Requested"), "confirmation_pending": _l("Confirmation pending"),
    "confirmed": lazy_pgettext("appointment status", "Confirmed"), "arrived": _l("Arrived"),
    "in_progress": _l("In progress"), "fulfilled": _l("Fulfilled"), "cancelled": _l("Cancelled"),
    "no_show": _l("No-show"),
}
UNCONFIRMED = ("requested", "confirmation_pending")
ARRIVED = ("arrived", "in_progress", "fulfilled")
APPOINTMENT_SOURCES = ("dms", "online", "board")


class Appointment(DealerOwned, Base):
    __tablename__ = "appointment"
    __table_args__ = (
        UniqueConstraint("dealer_id", "dms_id"),
        Index("ix_appointment_dealer_status_scheduled", "dealer_id", "status", "scheduled_at"),
        Index("ix_appointment_dealer_scheduled", "dealer_id", "scheduled_at"),
        Index("ix_appointment_dealer_arrived", "dealer_id", "arrived_at"),
        Index("ix_appointment_dealer_vehicle", "dealer_id", "vehicle_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # None for appointments born in Boxes (online booking, board) until the DMS knows them.
    dms_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicle.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), nullable=True)
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    service_type: Mapped[str] = mapped_column(String(80), default="")
    advisor: Mapped[str] = mapped_column(String(120), default="")
    status: Mapped[str] = mapped_column(String(24), default="requested")
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), nullable=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(16), default="dms")
    arrived_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    repair_order_id: Mapped[int | None] = mapped_column(ForeignKey("repair_order.id"), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    dms_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    vehicle: Mapped[Vehicle] = relationship(lazy="raise")
    customer: Mapped[Customer | None] = relationship(lazy="raise")

    __mapper_args__ = {"version_id_col": version}


RO_STATUSES = ("open", "closed", "delivered")


class RepairOrder(DealerOwned, Base):
    __tablename__ = "repair_order"
    __table_args__ = (
        UniqueConstraint("dealer_id", "dms_id"),
        # Services completed (delivered_at >= :since ORDER BY delivered_at).
        Index("ix_repair_order_dealer_delivered_opened", "dealer_id", "delivered_at", "opened_at"),
        # In process: the few open ROs of a dealer, newest first, without touching the closed millions.
        Index("ix_repair_order_open", "dealer_id", "opened_at", postgresql_where=text("delivered_at IS NULL"),
              sqlite_where=text("delivered_at IS NULL")),
        # Services completed → courtesy call pending (the list's default filter and its badge).
        Index("ix_repair_order_courtesy_pending", "dealer_id", "delivered_at",
              postgresql_where=text("courtesy_call_at IS NULL"), sqlite_where=text("courtesy_call_at IS NULL")),
        Index("ix_repair_order_dealer_vehicle", "dealer_id", "vehicle_id", "opened_at"),
        Index("ix_repair_order_dealer_number", "dealer_id", "number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dms_id: Mapped[str] = mapped_column(String(64))
    number: Mapped[str] = mapped_column(String(40))
    vehicle_id: Mapped[int] = mapped_column(ForeignKey("vehicle.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), nullable=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    promised_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Set when a user marks the unit delivered before the DMS reports it.
    delivered_manually_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id"), nullable=True
    )
    status: Mapped[str] = mapped_column(String(16), default="open")
    # Set when a caller registers the courtesy call after service; None means pending.
    courtesy_call_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    mileage: Mapped[int | None] = mapped_column(Integer, nullable=True)
    advisor: Mapped[str] = mapped_column(String(120), default="")
    dms_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    vehicle: Mapped[Vehicle] = relationship(lazy="raise")
    customer: Mapped[Customer | None] = relationship(lazy="raise")
    lines: Mapped[list[RepairOrderLine]] = relationship(
        back_populates="repair_order", lazy="raise", order_by="RepairOrderLine.line_no"
    )


class RepairOrderLine(DealerOwned, Base):
    __tablename__ = "repair_order_line"
    __table_args__ = (UniqueConstraint("repair_order_id", "line_no"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repair_order_id: Mapped[int] = mapped_column(ForeignKey("repair_order.id", ondelete="CASCADE"))
    line_no: Mapped[int] = mapped_column(Integer)
    work_done: Mapped[str] = mapped_column(String(300))
    result: Mapped[str] = mapped_column(String(200), default="")
    incidents: Mapped[str] = mapped_column(Text, default="")
    # The customer declined this line: the next opportunity to call about.
    declined: Mapped[bool] = mapped_column(Boolean, default=False)

    repair_order: Mapped[RepairOrder] = relationship(back_populates="lines", lazy="raise")
