"""All models, imported here so Alembic and ``Base.metadata`` see every table."""

from boxes.models.audit import AuditLog
from boxes.models.campaigns import Campaign, CampaignUnit
from boxes.models.customers import Customer, Vehicle
from boxes.models.integration import DmsConnector, QuarantinedRecord, SyncCursor, SyncRun
from boxes.models.messaging import CalendarEvent, MailSettings, OutboundMessage
from boxes.models.oem import OemCallLog, OemConnector, OemLead, OemStatusEvent
from boxes.models.opportunities import Activity, DiscardReason, Opportunity
from boxes.models.sales import Delivery
from boxes.models.tenancy import Dealer, Invitation, LoginSession, Membership, User
from boxes.models.workshop import Appointment, RepairOrder, RepairOrderLine

__all__ = [
    "Activity",
    "Appointment",
    "AuditLog",
    "CalendarEvent",
    "Campaign",
    "CampaignUnit",
    "Customer",
    "Dealer",
    "DealerOwned",
    "Delivery",
    "DiscardReason",
    "DmsConnector",
    "Invitation",
    "LoginSession",
    "MailSettings",
    "Membership",
    "OemCallLog",
    "OemConnector",
    "OemLead",
    "OemStatusEvent",
    "Opportunity",
    "OutboundMessage",
    "QuarantinedRecord",
    "RepairOrder",
    "RepairOrderLine",
    "SyncCursor",
    "SyncRun",
    "User",
    "Vehicle",
]

from boxes.db import DealerOwned
