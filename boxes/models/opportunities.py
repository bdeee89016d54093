"""Opportunities (the next reason to call a customer), the call log and the discard catalog."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from boxes.db import Base, DealerOwned, UTCDateTime, utcnow
from boxes.models.customers import Customer, Vehicle

OPPORTUNITY_ORIGINS = (
    "delivery",  # welcome call after a sales delivery
    "appointment",  # from Upcoming appointments
    "no_show",  # recovery of a missed appointment
    "in_process",  # from a car in the workshop
    "completed",  # from the courtesy call after service
    "campaign",  # created in bulk by the campaign manager
    "oem_lead",  # imported from the OEM's CRM
    "manual",
)
ORIGIN_LABELS = {"delivery": _l("Delivery"), "appointment": _l("Appointment"), "no_show": _l("No-show"),
                 "in_process": _l("In process"), "completed": _l("Service completed"), "campaign": _l("Campaign"),
                 "oem_lead": _l("OEM lead"), "manual": _l("Manual")}
OPPORTUNITY_STATUSES = ("open", "sold", "discarded")
# One opportunity's state (a row's cell); counts and report categories of opportunities are plural
# strings of their own ("opportunities" context).
OPPORTUNITY_STATUS_LABELS = {"open": lazy_pgettext("opportunity", "Open"), "sold": lazy_pgettext("opportunity", "Sold"),
                             "discarded": lazy_pgettext("opportunity", "Discarded")}


# Every new dealer's discard catalog: code, es, pt_BR, en, and the OEM CRM's lost-sale reason ("Motivo
# no CRM", seed 001; None: not usable to discard an OEM lead). Managers edit their copy in Settings.
DEFAULT_DISCARD_REASONS = (
    ("price", "Precio", "Preço", "Price", "Price"),
    ("distance", "Distancia", "Distância", "Distance", "Distance"),
    ("serviced_elsewhere", "Hace el service en otro taller", "Faz revisão em outra oficina",
     "Serviced elsewhere", "BoughtElsewhere"),
    ("sold_car", "Vendió el vehículo", "Vendeu o veículo", "Sold the car", "VehicleSold"),
    ("not_interested", "No le interesa", "Sem interesse", "Not interested", "NotInterested"),
    ("wrong_data", "Datos incorrectos", "Dados incorretos", "Wrong data", None),
)


class DiscardReason(DealerOwned, Base):
    __tablename__ = "discard_reason"
    __table_args__ = (UniqueConstraint("dealer_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    label_es: Mapped[str] = mapped_column(String(120))
    label_pt_br: Mapped[str] = mapped_column(String(120))
    label_en: Mapped[str] = mapped_column(String(120))
    # The OEM CRM's lost-sale reason ("Motivo no CRM"); None: not usable for OEM leads.
    oem_reason: Mapped[str | None] = mapped_column(String(80), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    def label(self, locale: str) -> str:
        return {"es": self.label_es, "pt_BR": self.label_pt_br}.get(locale, self.label_en)


class Opportunity(DealerOwned, Base):
    __tablename__ = "opportunity"
    __table_args__ = (
        # The trailing id keeps "ORDER BY due_at, id LIMIT 50" an index walk even when thousands of
        # opportunities share one due instant (every unit of a campaign does).
        Index("ix_opportunity_dealer_status_due", "dealer_id", "status", "due_at", "id"),
        Index("ix_opportunity_dealer_status_origin_due", "dealer_id", "status", "origin", "due_at", "id"),
        Index("ix_opportunity_dealer_customer_status", "dealer_id", "customer_id", "status"),
        Index("ix_opportunity_dealer_vehicle_status", "dealer_id", "vehicle_id", "status"),
        Index("ix_opportunity_dealer_campaign_status_due", "dealer_id", "campaign_id", "status", "due_at", "id"),
        Index("ix_opportunity_dealer_oem_lead", "dealer_id", "oem_lead_id"),
        # The opportunities report (the Reports button's first page): its range and the state's
        # columns, so its pie and KPIs are an index-only scan.
        Index("ix_opportunity_dealer_created", "dealer_id", "created_at", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    origin: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), nullable=True)
    vehicle_id: Mapped[int | None] = mapped_column(ForeignKey("vehicle.id"), nullable=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="open")
    note: Mapped[str] = mapped_column(Text, default="")
    discard_reason_id: Mapped[int | None] = mapped_column(ForeignKey("discard_reason.id"), nullable=True)
    discard_comment: Mapped[str] = mapped_column(Text, default="")
    # "Appointment sold": the time of the appointment the caller booked in the DMS.
    sold_appointment_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    matched_appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointment.id"), nullable=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id"), nullable=True)
    oem_lead_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    assigned_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), nullable=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), nullable=True)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Appointment credit: the caller who sold the appointment, once the car actually arrived.
    credited_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), nullable=True)
    credited_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    customer: Mapped[Customer | None] = relationship(lazy="raise")
    vehicle: Mapped[Vehicle | None] = relationship(lazy="raise")
    discard_reason: Mapped[DiscardReason | None] = relationship(lazy="raise")

    __mapper_args__ = {"version_id_col": version}


ACTIVITY_CHANNELS = ("phone", "whatsapp", "email", "in_person")
ACTIVITY_OUTCOMES = ("contacted", "no_answer", "wrong_number", "call_back_later", "do_not_contact")
ACTIVITY_KINDS = ("welcome_call", "call", "confirmation", "courtesy_call", "note")
CHANNEL_LABELS = {"phone": _l("Phone"), "whatsapp": "WhatsApp", "email": _l("Email"), "in_person": _l("In person")}
OUTCOME_LABELS = {"contacted": _l("Contacted"), "no_answer": _l("No answer"), "wrong_number": _l("Wrong number"),
                  "call_back_later": _l("Call back later"), "do_not_contact": _l("Do not contact")}
ACTIVITY_KIND_LABELS = {"welcome_call": _l("Welcome call"), "call": _l("Call"), "confirmation": _l("Confirmation"),
                        "courtesy_call": _l("Courtesy call"), "note": _l("Note")}


class Activity(DealerOwned, Base):
    """One contact with a customer (or a note about one), on whatever row it was made."""

    __tablename__ = "activity"
    __table_args__ = (
        Index("ix_activity_dealer_subject", "dealer_id", "subject_type", "subject_id"),
        Index("ix_activity_dealer_customer_created", "dealer_id", "customer_id", "created_at"),
        Index("ix_activity_dealer_created", "dealer_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="call")
    # The board row it was registered on: delivery, opportunity, appointment, repair_order.
    subject_type: Mapped[str] = mapped_column(String(24))
    subject_id: Mapped[int] = mapped_column(Integer)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), nullable=True)
    vehicle_id: Mapped[int | None] = mapped_column(ForeignKey("vehicle.id"), nullable=True)
    channel: Mapped[str] = mapped_column(String(16), default="phone")
    outcome: Mapped[str] = mapped_column(String(24), default="contacted")
    comment: Mapped[str] = mapped_column(Text, default="")
    satisfaction: Mapped[int | None] = mapped_column(Integer, nullable=True)
    next_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
