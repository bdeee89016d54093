"""Customers and their vehicles, as read from the DMS (and customers an OEM lead brought, "to complete")."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from boxes.db import Base, DealerOwned, UTCDateTime, utcnow


class Customer(DealerOwned, Base):
    __tablename__ = "customer"
    __table_args__ = (
        UniqueConstraint("dealer_id", "dms_id"),
        Index("ix_customer_dealer_tax_id", "dealer_id", "tax_id"),  # an OEM lead's customer, by CPF/CUIT/DNI
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dms_id: Mapped[str] = mapped_column(String(64))  # "oem:<lead id>": made from an OEM lead
    name: Mapped[str] = mapped_column(String(200))
    phone_mobile: Mapped[str] = mapped_column(String(40), default="")
    phone_home: Mapped[str] = mapped_column(String(40), default="")
    phone_work: Mapped[str] = mapped_column(String(40), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    # CPF/CNPJ (BR), CUIT/CUIL/DNI (AR), digits only (boxes.identifiers.normalize_tax_id); "" unknown.
    tax_id: Mapped[str] = mapped_column(String(14), default="", server_default="")
    # Made by Boxes from what an OEM lead said, not read from the DMS: its data is to be completed.
    to_complete: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # "Do not contact": set by a call outcome, respected by every list and every message.
    contact_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    dms_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    vehicles: Mapped[list[Vehicle]] = relationship(back_populates="customer", lazy="raise")

    @property
    def phones(self) -> list[str]:
        return [p for p in (self.phone_mobile, self.phone_home, self.phone_work) if p]


class Vehicle(DealerOwned, Base):
    __tablename__ = "vehicle"
    __table_args__ = (
        UniqueConstraint("dealer_id", "dms_id"),
        Index("ix_vehicle_dealer_vin", "dealer_id", "vin"),
        Index("ix_vehicle_dealer_plate", "dealer_id", "plate"),
        Index("ix_vehicle_dealer_customer", "dealer_id", "customer_id"),
        Index("ix_vehicle_dealer_model", "dealer_id", "brand", "model", "version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dms_id: Mapped[str] = mapped_column(String(64))
    vin: Mapped[str] = mapped_column(String(17))
    plate: Mapped[str] = mapped_column(String(10), default="")
    brand: Mapped[str] = mapped_column(String(60), default="")
    model: Mapped[str] = mapped_column(String(80), default="")
    version: Mapped[str] = mapped_column(String(120), default="")
    model_year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    mileage: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sold_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), nullable=True)
    dms_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    customer: Mapped[Customer | None] = relationship(back_populates="vehicles", lazy="raise")

    @property
    def description(self) -> str:
        return " ".join(p for p in (self.model, self.version) if p)
