"""The records of a generated world that the DMS feed's own types (:mod:`boxes.dms.records`) do
not cover: a DMS record that also carries Boxes state (a delivery's ``welcome_call_at``, an RO's
``courtesy_call_at``, an appointment's ``confirmed_at`` and ``comment``: the feed leaves them out)
and that the living workshop (:mod:`.living`) changes in place, and the Boxes side of a dealer
(opportunities, campaigns, calls, the discard catalog). A customer and an RO's lines are the feed's
own :class:`~boxes.dms.records.CustomerRecord` and :class:`~boxes.dms.records.RepairOrderLineRecord`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from boxes.dms.records import RepairOrderLineRecord


@dataclass(frozen=True, slots=True)
class DealerProfile:
    """What the generator needs to know about a dealer."""

    code: str
    country: str  # "AR" | "BR"
    time_zone: str
    name: str = ""
    brands: tuple[str, ...] = ()  # empty: every brand of the catalog
    area_codes: tuple[str, ...] = ()  # customers' phone areas (repeat one to weight it); empty: by country

    @property
    def language(self) -> str:
        return "es" if self.country == "AR" else "pt"


@dataclass(slots=True)
class DiscardReasonRec:
    code: str
    label_es: str
    label_pt_br: str
    label_en: str
    oem_reason: str | None
    position: int


@dataclass(slots=True)
class CampaignRec:
    key: str
    name: str
    kind: str
    due_at: datetime
    note: str
    status: str
    created_at: datetime
    brands: tuple[str, ...]  # the units it targets; empty: any
    models: tuple[str, ...]


@dataclass(slots=True)
class VehicleRec:
    dms_id: str
    customer_dms_id: str
    vin: str
    plate: str
    brand: str
    model: str
    version: str
    model_year: int
    mileage: int
    sold_on: date
    dms_updated_at: datetime


@dataclass(slots=True)
class DeliveryRec:
    dms_id: str
    vehicle_dms_id: str
    customer_dms_id: str
    delivered_at: datetime
    salesperson: str
    dms_updated_at: datetime
    welcome_call_at: datetime | None = None  # Boxes state


@dataclass(slots=True)
class RepairOrderRec:
    dms_id: str
    number: str
    vehicle_dms_id: str
    customer_dms_id: str
    opened_at: datetime
    promised_at: datetime | None
    delivered_at: datetime | None
    status: str  # open | delivered | closed
    mileage: int
    advisor: str
    dms_updated_at: datetime
    lines: tuple[RepairOrderLineRecord, ...]
    courtesy_call_at: datetime | None = None  # Boxes state


@dataclass(slots=True)
class AppointmentRec:
    dms_id: str
    vehicle_dms_id: str
    customer_dms_id: str
    scheduled_at: datetime
    service_type: str
    advisor: str
    status: str  # the STAR vocabulary of boxes.models.workshop.APPOINTMENT_STATUSES
    source: str
    arrived_at: datetime | None
    repair_order_dms_id: str | None
    created_at: datetime
    dms_updated_at: datetime
    confirmed_at: datetime | None = None  # Boxes state
    comment: str = ""  # Boxes state


@dataclass(slots=True)
class OpportunityRec:
    key: str
    origin: str
    vehicle_dms_id: str
    customer_dms_id: str
    due_at: datetime
    status: str  # open | sold | discarded
    note: str
    created_at: datetime
    campaign_key: str | None = None
    discard_reason: str | None = None  # a DiscardReasonRec code
    discard_comment: str = ""
    sold_appointment_at: datetime | None = None
    closed_at: datetime | None = None


@dataclass(slots=True)
class ActivityRec:
    kind: str
    subject_type: str  # delivery | opportunity | appointment | repair_order
    subject_key: str  # the subject's dms_id (an opportunity's key)
    customer_dms_id: str
    vehicle_dms_id: str
    channel: str
    outcome: str
    comment: str
    created_at: datetime
    satisfaction: int | None = None
    next_contact_at: datetime | None = None


@dataclass(slots=True)
class VehicleBundle:
    """One vehicle and everything that happened around it, in load order."""

    index: int
    customer_index: int
    vehicle: VehicleRec | None = None
    delivery: DeliveryRec | None = None
    repair_orders: list[RepairOrderRec] = field(default_factory=list)
    appointments: list[AppointmentRec] = field(default_factory=list)
    opportunities: list[OpportunityRec] = field(default_factory=list)
    activities: list[ActivityRec] = field(default_factory=list)

