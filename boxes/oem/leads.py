"""A lead of the OEM feed, read and checked.

``parse_lead`` checks what makes a record a lead at all — an object with a lead id, its versions
(``CreatedDate``, ``SystemModstamp``), a lead type, a dealer code and a last name, and fields of
the right JSON type — and raises :class:`LeadError` with a readable reason otherwise. Whether Boxes
takes the lead (a type it handles, a dealer it serves, a usable contact) is the importer's
decision, made on a well-formed :class:`Lead`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime

from boxes.oem.api import is_record_id, parse_instant


class LeadError(ValueError):
    """Not a lead; ``str(exc)`` is the reason shown in the integration log."""


def _optional_text(json_name: str):
    """A lead's optional text field, "" when the feed has none; ``json_name``: its name in the feed."""
    return field(default="", metadata={"json": json_name})


@dataclass(frozen=True)
class Lead:
    id: str
    dealer_code: str
    lead_type: str
    last_name: str
    created_at: datetime
    modified_at: datetime  # SystemModstamp: the version (newest wins)
    first_name: str = _optional_text("FirstName")
    email: str = _optional_text("Email")
    phone: str = _optional_text("Phone")
    mobile_phone: str = _optional_text("MobilePhone")
    company: str = _optional_text("Company")
    description: str = _optional_text("Description")
    source: str = _optional_text("LeadSource")
    status: str = _optional_text("Status")
    stage: str = _optional_text("Stage__c")
    substage: str = _optional_text("Substage__c")
    vin: str = _optional_text("Vehicle_VIN__c")
    plate: str = _optional_text("Vehicle_Plate__c")
    vehicle_model: str = _optional_text("Vehicle_Model__c")
    vehicle_year: int | None = None
    preferred_date: str = _optional_text("Preferred_Date__c")
    tax_id: str = _optional_text("Tax_Id__c")  # CPF/CNPJ (BR), CUIT/CUIL/DNI (AR), as the OEM typed it
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


# The optional text fields: JSON name → attribute.
_TEXTS = {f.metadata["json"]: f.name for f in fields(Lead) if "json" in f.metadata}


def _required_text(raw: dict, name: str) -> str:
    value = raw.get(name)
    if value is None or value == "":
        raise LeadError(f"{name}: missing")
    if not isinstance(value, str):
        raise LeadError(f"{name}: {value!r} is not text")
    return value


def _instant(raw: dict, name: str) -> datetime:
    value = raw.get(name)
    if value is None:
        raise LeadError(f"{name}: missing")
    try:
        return parse_instant(value)
    except (ValueError, TypeError):
        raise LeadError(f"{name}: {str(value)[:40]!r} is not an instant") from None


def parse_lead(raw: object) -> Lead:
    if not isinstance(raw, dict):
        raise LeadError(f"not a JSON object: {str(raw)[:40]!r}")
    lead_id = raw.get("Id")
    if lead_id is None or lead_id == "":
        raise LeadError("Id: missing")
    if not is_record_id(lead_id):
        raise LeadError(f"Id: {str(lead_id)[:40]!r} is not a lead id")
    values = {}
    for name, attribute in _TEXTS.items():
        value = raw.get(name)
        if value is not None and not isinstance(value, str):
            raise LeadError(f"{name}: {str(value)[:40]!r} is not text")
        values[attribute] = value or ""
    year = raw.get("Vehicle_Year__c")
    if year is not None and (isinstance(year, bool) or not isinstance(year, int)):
        raise LeadError(f"Vehicle_Year__c: {str(year)[:40]!r} is not a year")
    return Lead(
        id=lead_id, dealer_code=_required_text(raw, "Dealer_Code__c"), lead_type=_required_text(raw, "LeadType__c"),
        last_name=_required_text(raw, "LastName"), created_at=_instant(raw, "CreatedDate"),
        modified_at=_instant(raw, "SystemModstamp"), vehicle_year=year, raw=raw, **values)
