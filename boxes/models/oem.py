"""The OEM lead loop (seed 001): each dealer's connection to the car maker's CRM, the leads it sent,
the status events ("gatilhos") Boxes owes it, and the log of every call in and out.

- ``OemConnector``: one per dealer, as ``DmsConnector``: settings shown to admins, secrets write-only;
  ``session_state`` is the client's token store (the token and its validity, or why the OEM refused
  the credentials); ``watermark`` is where the next lead read starts.
- ``OemLead``: one per (dealer, OEM lead id), whatever became of it: an opportunity on the board, a
  parts lead for the parts user, a vehicle lead recorded "for Sales", or quarantined with its reason.
- ``OemStatusEvent``: the outbox. Written in the same transaction as the action that caused it; the
  relay sends each lead's events in ``id`` order, the ``event_id`` as idempotency key.
- ``OemCallLog``: every call (token, lead page, status event) and every lead received, for the
  admins' integration log ("Consulta de Logs"); pruned after the retention period.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from boxes.db import Base, DealerOwned, UTCDateTime, utcnow

# The OEM's lead types (boxes.oem.api.LEAD_TYPES) and what Boxes does with each.
LEAD_TYPE_LABELS = {"Service": _l("Service"), "AfterSales": _l("After-sales"), "Parts": _l("Parts"),
                    "NewVehicle": _l("New vehicle"), "UsedVehicle": _l("Used vehicle")}
BOARD_LEAD_TYPES = ("Service", "AfterSales")  # after-sales work: opportunities on the board
PARTS_LEAD_TYPES = ("Parts",)  # to the dealer's parts user
SALES_LEAD_TYPES = ("NewVehicle", "UsedVehicle")  # not after-sales work: recorded "for Sales"
LEAD_DISPOSITIONS = ("opportunity", "parts", "sales", "quarantined")
LEAD_DISPOSITION_LABELS = {"opportunity": _l("On the board"), "parts": _l("To the parts user"),
                           "sales": _l("For Sales"), "quarantined": _l("Quarantined")}
# Where each of these goes is the dealer's choice (OemConnector.distribution); a Parts lead "direct"
# goes to the parts user (OemConnector.parts_user_id).
DISTRIBUTED_LEAD_TYPES = BOARD_LEAD_TYPES + PARTS_LEAD_TYPES
DISTRIBUTION_MODES = ("queue", "direct")  # seed 001: the distribution queue, or straight to a user
DISTRIBUTION_MODE_LABELS = {"queue": _l("To the distribution queue"), "direct": _l("Direct to a user")}
EVENT_STATUSES = ("pending", "sent", "dead")
EVENT_STATUS_LABELS = {"pending": _l("Pending"), "sent": _l("Sent"), "dead": _l("Failed: needs an admin")}
# The OEM's fixed lost-sale reasons (boxes.oem.api.LOST_SALE_REASONS, "Motivo no CRM"), as the settings
# page names them beside the OEM's own value.
LOST_SALE_REASON_LABELS = {"BoughtElsewhere": _l("Bought elsewhere"), "CustomerNoshow": _l("Customer did not show up"),
                           "Price": _l("Price"), "Distance": _l("Distance"), "VehicleSold": _l("Sold the vehicle"),
                           "NotInterested": _l("Not interested")}
CALL_KINDS = ("token", "leads", "status", "lead")  # "lead": one lead received (direction "in")
CALL_KIND_LABELS = {"token": _l("Token"), "leads": _l("Lead page"), "status": _l("Status event"),
                    "lead": _l("Lead received")}


class OemConnector(DealerOwned, Base):
    __tablename__ = "oem_connector"
    __table_args__ = (UniqueConstraint("dealer_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # base_url, client_id, dealer_code (the dealer's code at the OEM), page_size, timeout_seconds,
    # token_refresh_margin: boxes.oem.client.OemConnection's names.
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    secrets: Mapped[dict] = mapped_column(JSON, default=dict)
    session_state: Mapped[dict] = mapped_column(JSON, default=dict)
    watermark: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Per lead type of DISTRIBUTED_LEAD_TYPES: {"mode": "queue" | "direct", "user_id": int | None}; a type
    # missing goes to the queue. "Parts" direct: user_id is parts_user_id (boxes.oem.admin keeps both).
    distribution: Mapped[dict] = mapped_column(JSON, default=dict)
    parts_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"),
                                                      nullable=True)
    first_contact_hours: Mapped[int] = mapped_column(Integer, default=24)
    open_leads_cap: Mapped[int] = mapped_column(Integer, default=25)  # per caller, when distributing
    retention_days: Mapped[int] = mapped_column(Integer, default=180)
    last_import_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_import_error: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OemLead(DealerOwned, Base):
    __tablename__ = "oem_lead"
    __table_args__ = (
        UniqueConstraint("dealer_id", "lead_id"),
        Index("ix_oem_lead_dealer_disposition_received", "dealer_id", "disposition", "received_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[str] = mapped_column(String(18))
    lead_type: Mapped[str] = mapped_column(String(16))
    disposition: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")  # why it is quarantined
    text: Mapped[str] = mapped_column(Text, default="")  # the OEM's description, shown on the row
    modified_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the OEM's SystemModstamp: newest wins
    oem_created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"), nullable=True)
    opportunity_id: Mapped[int | None] = mapped_column(ForeignKey("opportunity.id"), nullable=True)
    assigned_user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"),
                                                         nullable=True)
    first_contact_due: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    first_contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class OemStatusEvent(DealerOwned, Base):
    __tablename__ = "oem_status_event"
    __table_args__ = (
        UniqueConstraint("dealer_id", "event_id"),
        # The relay's read: a dealer's pending events, each lead's oldest first.
        Index("ix_oem_status_event_dealer_status_lead", "dealer_id", "status", "lead_id", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(80))
    lead_id: Mapped[str] = mapped_column(String(18))
    trigger: Mapped[str] = mapped_column(String(8))
    stage: Mapped[str] = mapped_column(String(24))
    substage: Mapped[str | None] = mapped_column(String(40), nullable=True)
    communication: Mapped[str] = mapped_column(String(32), default="DISPOSITION_UPDATE")
    comment: Mapped[str] = mapped_column(Text, default="")
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class OemCallLog(DealerOwned, Base):
    __tablename__ = "oem_call_log"
    __table_args__ = (
        Index("ix_oem_call_log_dealer_created", "dealer_id", "created_at"),
        Index("ix_oem_call_log_dealer_lead_created", "dealer_id", "lead_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    direction: Mapped[str] = mapped_column(String(3))  # "out": Boxes called the OEM; "in": a lead received
    kind: Mapped[str] = mapped_column(String(8))
    lead_id: Mapped[str | None] = mapped_column(String(18), nullable=True)
    event_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    trigger: Mapped[str | None] = mapped_column(String(8), nullable=True)
    stage: Mapped[str | None] = mapped_column(String(24), nullable=True)
    substage: Mapped[str | None] = mapped_column(String(40), nullable=True)
    method: Mapped[str] = mapped_column(String(8), default="")
    url: Mapped[str] = mapped_column(Text, default="")
    request_body: Mapped[str] = mapped_column(Text, default="")  # secrets redacted
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    response: Mapped[str] = mapped_column(Text, default="")  # truncated
    duration_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    failed: Mapped[bool] = mapped_column(Boolean, default=False)
    error: Mapped[str] = mapped_column(Text, default="")
