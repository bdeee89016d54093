"""The OEM CRM's API as Boxes speaks it: a Salesforce org (seed 001: GM's CRM is Salesforce).

Shared by the client (``boxes.oem.client``) and the simulator (``boxes.oem.simulator``), so both
sides agree on one description of the contract; docs/integrations.md ("The OEM CRM") is its prose.

Salesforce conventions kept here: instants as ``2025-03-10T12:00:07.000+0000`` (UTC), record ids
of 18 characters (15 case-sensitive + a 3-character case checksum; the OEM's leads start with
``006``),
errors as ``[{"errorCode": ..., "message": ...}]`` (OAuth: ``{"error", "error_description"}``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import quote

API_VERSION = "v60.0"
TOKEN_PATH = "/services/oauth2/token"  # noqa: S105 - a path, not a secret
# An Apex REST resource of the OEM: Salesforce's getUpdated semantics (seconds ignored, a
# latestDateCovered to start the next read from) with the records themselves, paginated like a
# query (totalSize / done / nextRecordsUrl).
LEADS_PATH = "/services/apexrest/dealer-leads/v1/updated"
STATUS_OBJECT = "Lead_Status_Event__c"
EVENT_ID_FIELD = "Event_Id__c"


def status_path(event_id: str, api_version: str = API_VERSION) -> str:
    """Upsert of one status event by its external id: the event id is the idempotency key."""
    return f"/services/data/{api_version}/sobjects/{STATUS_OBJECT}/{EVENT_ID_FIELD}/{quote(event_id, safe='')}"


# Lead types of seed 001 ("Veículos Novos, Veículos Usados, After Sales, Serviços e Peças"): the API
# value and the seed's name.
LEAD_TYPES: dict[str, str] = {
    "Service": "Serviços",
    "AfterSales": "After Sales",
    "Parts": "Peças",
    "NewVehicle": "Veículos Novos",
    "UsedVehicle": "Veículos Usados",
}

# The Stage and Substage picklists of a status event (seed 001's trigger descriptions). Which
# trigger sends which pair is Boxes' business (the trigger table comes with the relay).
STAGES = ("New", "Assigned", "Experiencing", "Deciding", "Converted", "Delivered", "NotConverted",
          "WithoutStage")
# NotConverted carries the OEM's lost-sale reason ("Motivo no CRM") as its Substage.
LOST_SALE_REASONS = ("BoughtElsewhere", "CustomerNoshow", "Price", "Distance", "VehicleSold", "NotInterested")
SUBSTAGES = ("New", "InProgressPhone", "InProgressEmail", "InProgressInPerson", "InProgressUnresponsive",
             "Contacted", "TestDriveScheduled", "TestDriveShowed", "ShowroomVisit", "OfferPresented",
             "ServiceScheduled", "ServiceComplete", "PartsAndAccessoriesOrdered", "PartsAndAccessories",
             "AfterSales", "WithoutSubstage", *LOST_SALE_REASONS)
COMMUNICATIONS = ("DISPOSITION_UPDATE", "CREATE_MODEL_OF_INTEREST", "CREATE_TRADE_IN_DETAILS")
# The fields of a status event Boxes sends (anything else is refused by the org: INVALID_FIELD).
STATUS_FIELDS = ("Lead__c", "Dealer_Code__c", "Trigger__c", "Communication__c", "Stage__c", "Substage__c",
                 "Event_Date__c", "Comment__c")
# The lead's own Status picklist (Salesforce's standard values), following the stage it reached.
LEAD_STATUS_OF_STAGE = {
    "New": "Open - Not Contacted", "Assigned": "Open - Not Contacted", "Experiencing": "Working - Contacted",
    "Deciding": "Working - Contacted", "Converted": "Closed - Converted", "Delivered": "Closed - Converted",
    "NotConverted": "Closed - Not Converted",
}

EVENT_ID_MAX = 80  # Event_Id__c is a Text(80) external id
_EVENT_ID = re.compile(rf"[A-Za-z0-9._:-]{{1,{EVENT_ID_MAX}}}")


def valid_event_id(value: object) -> bool:
    return isinstance(value, str) and _EVENT_ID.fullmatch(value) is not None


# ------------------------------------------------------------------------------------ instants

def format_instant(value: datetime) -> str:
    """Salesforce's dateTime: UTC, milliseconds, ``+0000``."""
    if value.tzinfo is None:
        raise ValueError("a naive datetime has no instant")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def parse_instant(value: object) -> datetime:
    """An ISO 8601 instant with an offset (``Z``, ``+0000`` or ``+00:00``), in UTC; ValueError else."""
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError("not an instant")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("an instant needs its UTC offset")
    return parsed.astimezone(UTC)


def floor_minute(value: datetime) -> datetime:
    """What getUpdated does to its dates: the seconds are ignored."""
    return value.replace(second=0, microsecond=0)


# ------------------------------------------------------------------------------------ record ids

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID = re.compile(r"[0-9A-Za-z]{15}([A-Z0-5]{3})?")
# Seed 001's example lead id, 006WD00000H4eBaYAJ, is an id of Salesforce's Opportunity object (key
# prefix 006, checksum "YAJ" matches): the OEM's "lead" lives there, not in the Lead object (00Q).
LEAD_PREFIX = "006"


def id_checksum(id15: str) -> str:
    """The 3 characters Salesforce appends so an id survives case-insensitive systems: one per
    block of 5, whose bits say which characters of the block are upper-case letters."""
    out = []
    for block in range(3):
        bits = 0
        for position, char in enumerate(id15[block * 5:block * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        out.append(_SUFFIX[bits])
    return "".join(out)


def record_id(prefix: str, org: str, serial: int) -> str:
    """An 18-character id: key prefix (3), org pod (2), zeros, the serial in base 62."""
    digits = ""
    while True:
        serial, rest = divmod(serial, 62)
        digits = _BASE62[rest] + digits
        if not serial:
            break
    id15 = (prefix + org[:2]).ljust(15 - len(digits), "0") + digits
    if len(id15) != 15:
        raise ValueError("serial too large for a record id")
    return id15 + id_checksum(id15)


def is_record_id(value: object, prefix: str = LEAD_PREFIX) -> bool:
    """An 18-character id of that object whose checksum matches (a 15-character one is accepted too)."""
    if not isinstance(value, str) or _ID.fullmatch(value) is None or not value.startswith(prefix):
        return False
    return len(value) == 15 or value[15:] == id_checksum(value[:15])


def error_body(code: str, message: str, fields: list[str] | None = None) -> list[dict]:
    return [{"errorCode": code, "message": message, "fields": fields or []}]
