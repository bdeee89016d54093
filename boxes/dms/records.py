"""Typed DMS records of the "Boxes DMS feed v1" and their validation.

Every connector produces feed-v1 dictionaries (the JSON objects of ``docs/integrations.md``); the
sync engine turns each one into a record here. A record is validated on its own: a bad one raises
:class:`RecordError` with a readable reason and becomes a quarantine entry, never an exception that
stops its page.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import NamedTuple

from boxes import inputs
from boxes.models.workshop import APPOINTMENT_STATUSES, RO_STATUSES

_fromisoformat = datetime.fromisoformat
_unstorable = inputs.unstorable_reason

# DMS dates and instants: the years a car's data can have (model years are 1950–2100 too). Outside
# them, a date is a DMS error, and a year-9999 one overflows as soon as a job adds a day or a zone.
FIRST_DAY, LAST_DAY = date(1950, 1, 1), date(2100, 12, 31)
_FIRST = datetime(1950, 1, 1, tzinfo=UTC)
_END = datetime(2101, 1, 1, tzinfo=UTC)

ENTITIES = ("customers", "vehicles", "deliveries", "appointments", "repair_orders")


class RecordError(ValueError):
    """The record is not valid; ``str(exc)`` is the reason shown to the admin."""


class CustomerRecord(NamedTuple):
    dms_id: str
    name: str
    phone_mobile: str
    phone_home: str
    phone_work: str
    email: str
    dms_updated_at: datetime


class VehicleRecord(NamedTuple):
    dms_id: str
    customer_dms_id: str | None
    vin: str
    plate: str
    brand: str
    model: str
    version: str
    model_year: int | None
    mileage: int | None
    sold_on: date | None
    dms_updated_at: datetime


class DeliveryRecord(NamedTuple):
    dms_id: str
    vehicle_dms_id: str
    customer_dms_id: str | None
    delivered_at: datetime
    salesperson: str
    dms_updated_at: datetime


class AppointmentRecord(NamedTuple):
    dms_id: str
    vehicle_dms_id: str
    customer_dms_id: str | None
    scheduled_at: datetime
    service_type: str
    advisor: str
    status: str
    source: str
    arrived_at: datetime | None
    repair_order_dms_id: str | None
    dms_updated_at: datetime


class RepairOrderLineRecord(NamedTuple):
    line_no: int
    work_done: str
    result: str
    incidents: str
    declined: bool


class RepairOrderRecord(NamedTuple):
    dms_id: str
    number: str
    vehicle_dms_id: str
    customer_dms_id: str | None
    opened_at: datetime
    promised_at: datetime | None
    delivered_at: datetime | None
    status: str
    mileage: int | None
    advisor: str
    lines: tuple[RepairOrderLineRecord, ...]
    dms_updated_at: datetime


Record = CustomerRecord | VehicleRecord | DeliveryRecord | AppointmentRecord | RepairOrderRecord


# ------------------------------------------------------------------------------------ fields

def _text(raw: dict, name: str, max_len: int, *, required: bool = False, default: str = "") -> str:
    value = raw.get(name)
    if value.__class__ is str:  # the common case first: this runs a dozen times per record
        text = value.strip()
        if text:
            if len(text) > max_len:
                raise RecordError(f"{name}: longer than {max_len} characters")
            # A NUL stops PostgreSQL's COPY of the whole page; a lone surrogate any UTF-8 encoder.
            problem = _unstorable(text)
            if problem is not None:
                raise RecordError(f"{name}: {problem}")
            return text
        if required:
            raise RecordError(f"{name}: missing")
        return text if value else default
    if value is None or value == "":
        if required:
            raise RecordError(f"{name}: missing")
        return default
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RecordError(f"{name}: expected text, got {type(value).__name__}")
    value = str(value).strip()
    if required and not value:
        raise RecordError(f"{name}: missing")
    if len(value) > max_len:
        raise RecordError(f"{name}: longer than {max_len} characters")
    return value


def _opt_text(raw: dict, name: str, max_len: int) -> str | None:
    return _text(raw, name, max_len) or None


def _instant(raw: dict, name: str, *, required: bool = False) -> datetime | None:
    value = raw.get(name)
    if value.__class__ is str and value:
        try:  # the common case: a well-formed ISO 8601 text (Python 3.11 reads "Z" itself)
            parsed = _fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return _bounded(name, value, parsed)
    if value is None or value == "":
        if required:
            raise RecordError(f"{name}: missing")
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = _fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise RecordError(f"{name}: {value[:40]!r} is not an ISO 8601 date and time") from None
    else:
        raise RecordError(f"{name}: expected an ISO 8601 date and time")
    if parsed.tzinfo is None:
        raise RecordError(f"{name}: {value!s:.40} has no UTC offset")
    return _bounded(name, value, parsed)


def _bounded(name: str, value, parsed: datetime) -> datetime:
    try:
        instant = parsed.astimezone(UTC)
    except OverflowError:
        instant = None
    if instant is None or not _FIRST <= instant < _END:
        raise RecordError(f"{name}: {str(value)[:40]!r} is out of range ({FIRST_DAY.year} to {LAST_DAY.year})")
    return instant


def _day(raw: dict, name: str) -> date | None:
    value = raw.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        day = value.date()
    elif isinstance(value, date):
        day = value
    else:
        try:
            day = date.fromisoformat(str(value).strip()[:10])
        except ValueError:
            raise RecordError(f"{name}: {str(value)[:40]!r} is not a date (YYYY-MM-DD)") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise RecordError(f"{name}: {day.isoformat()} is out of range ({FIRST_DAY.year} to {LAST_DAY.year})")
    return day


def _int(raw: dict, name: str, lo: int, hi: int) -> int | None:
    value = raw.get(name)
    if value.__class__ is int and lo <= value <= hi:  # the common case first
        return value
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RecordError(f"{name}: expected a whole number")
    try:
        number = int(value) if not isinstance(value, str) else int(value.strip().replace(".", ""))
    except (TypeError, ValueError):
        raise RecordError(f"{name}: {str(value)[:20]!r} is not a whole number") from None
    if not lo <= number <= hi:
        raise RecordError(f"{name}: {number} is out of range")
    return number


def _choice(raw: dict, name: str, allowed: tuple[str, ...], default: str | None = None) -> str:
    value = raw.get(name)
    if value is None or value == "":
        if default is None:
            raise RecordError(f"{name}: missing")
        return default
    value = str(value).strip().lower()
    if value not in allowed:
        raise RecordError(f"{name}: unknown value {value[:30]!r} (expected one of {', '.join(allowed)})")
    return value


def _bool(raw: dict, name: str) -> bool:
    value = raw.get(name)
    if isinstance(value, bool):
        return value
    if value is None or value == "":
        return False
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "si", "sí", "sim", "y", "s"):
        return True
    if text in ("0", "false", "no", "não", "nao", "n"):
        return False
    raise RecordError(f"{name}: {text[:20]!r} is not true or false")


def _vin(raw: dict) -> str:
    vin = _text(raw, "vin", 17).upper().replace(" ", "")
    if vin and (len(vin) != 17 or any(c in "IOQ" for c in vin) or not vin.isalnum()):
        raise RecordError(f"vin: {vin!r} is not a VIN (17 characters, no I, O or Q)")
    return vin


# ----------------------------------------------------------------------------------- entities

def _customer(raw: dict) -> CustomerRecord:
    return CustomerRecord(
        dms_id=_text(raw, "dms_id", 64, required=True),
        name=_text(raw, "name", 200, required=True),
        phone_mobile=_text(raw, "phone_mobile", 40),
        phone_home=_text(raw, "phone_home", 40),
        phone_work=_text(raw, "phone_work", 40),
        email=_text(raw, "email", 200),
        dms_updated_at=_instant(raw, "dms_updated_at", required=True),
    )


def _vehicle(raw: dict) -> VehicleRecord:
    vin = _vin(raw)
    plate = _text(raw, "plate", 10).upper().replace(" ", "").replace("-", "")
    if len(plate) > 10:  # upper case can be longer than the text ("ß" → "SS")
        raise RecordError("plate: longer than 10 characters")
    if not vin and not plate:
        raise RecordError("vin and plate: a vehicle needs at least one of them")
    return VehicleRecord(
        dms_id=_text(raw, "dms_id", 64, required=True),
        customer_dms_id=_opt_text(raw, "customer_dms_id", 64),
        vin=vin, plate=plate,
        brand=_text(raw, "brand", 60), model=_text(raw, "model", 80), version=_text(raw, "version", 120),
        model_year=_int(raw, "model_year", 1950, 2100),
        mileage=_int(raw, "mileage", 0, 5_000_000),
        sold_on=_day(raw, "sold_on"),
        dms_updated_at=_instant(raw, "dms_updated_at", required=True),
    )


def _delivery(raw: dict) -> DeliveryRecord:
    return DeliveryRecord(
        dms_id=_text(raw, "dms_id", 64, required=True),
        vehicle_dms_id=_text(raw, "vehicle_dms_id", 64, required=True),
        customer_dms_id=_opt_text(raw, "customer_dms_id", 64),
        delivered_at=_instant(raw, "delivered_at", required=True),
        salesperson=_text(raw, "salesperson", 120),
        dms_updated_at=_instant(raw, "dms_updated_at", required=True),
    )


def _appointment(raw: dict) -> AppointmentRecord:
    return AppointmentRecord(
        dms_id=_text(raw, "dms_id", 64, required=True),
        vehicle_dms_id=_text(raw, "vehicle_dms_id", 64, required=True),
        customer_dms_id=_opt_text(raw, "customer_dms_id", 64),
        scheduled_at=_instant(raw, "scheduled_at", required=True),
        service_type=_text(raw, "service_type", 80),
        advisor=_text(raw, "advisor", 120),
        status=_choice(raw, "status", APPOINTMENT_STATUSES),
        source=_choice(raw, "source", ("dms", "online", "board"), default="dms"),
        arrived_at=_instant(raw, "arrived_at"),
        repair_order_dms_id=_opt_text(raw, "repair_order_dms_id", 64),
        dms_updated_at=_instant(raw, "dms_updated_at", required=True),
    )


def _lines(raw: dict) -> tuple[RepairOrderLineRecord, ...]:
    value = raw.get("lines") or []
    if not isinstance(value, list):
        raise RecordError("lines: expected a list")
    out = []
    seen = set()
    for n, item in enumerate(value, 1):
        if not isinstance(item, dict):
            raise RecordError(f"lines[{n}]: expected an object")
        try:
            line_no = _int(item, "line_no", 1, 10_000) or n
            if line_no in seen:
                raise RecordError(f"line_no {line_no} repeated")
            seen.add(line_no)
            out.append(RepairOrderLineRecord(line_no, _text(item, "work_done", 300, required=True),
                                             _text(item, "result", 200), _text(item, "incidents", 4000),
                                             _bool(item, "declined")))
        except RecordError as exc:
            raise RecordError(f"lines[{n}].{exc}") from None
    return tuple(out)


def _repair_order(raw: dict) -> RepairOrderRecord:
    opened = _instant(raw, "opened_at", required=True)
    delivered = _instant(raw, "delivered_at")
    status = _choice(raw, "status", RO_STATUSES, default="delivered" if delivered else "open")
    if status in ("delivered", "closed") and delivered is None and status == "delivered":
        raise RecordError("delivered_at: missing for a delivered repair order")
    if delivered is not None and delivered < opened:
        raise RecordError("delivered_at: before opened_at")
    return RepairOrderRecord(
        dms_id=_text(raw, "dms_id", 64, required=True),
        number=_text(raw, "number", 40, required=True),
        vehicle_dms_id=_text(raw, "vehicle_dms_id", 64, required=True),
        customer_dms_id=_opt_text(raw, "customer_dms_id", 64),
        opened_at=opened,
        promised_at=_instant(raw, "promised_at"),
        delivered_at=delivered,
        status=status,
        mileage=_int(raw, "mileage", 0, 5_000_000),
        advisor=_text(raw, "advisor", 120),
        lines=_lines(raw),
        dms_updated_at=_instant(raw, "dms_updated_at", required=True),
    )


PARSERS = {
    "customers": _customer,
    "vehicles": _vehicle,
    "deliveries": _delivery,
    "appointments": _appointment,
    "repair_orders": _repair_order,
}


def parse(entity: str, raw) -> Record:
    """The typed record of a feed-v1 object, or :class:`RecordError`."""
    if not isinstance(raw, dict):
        raise RecordError(f"expected a JSON object, got {type(raw).__name__}")
    try:
        return PARSERS[entity](raw)
    except RecordError:
        raise
    except Exception as exc:  # a record must never stop its page
        raise RecordError(f"unreadable record ({exc.__class__.__name__})") from None


def dms_id_of(raw) -> str | None:
    """The id a quarantine entry shows: storable whatever the record holds (it is only displayed)."""
    if isinstance(raw, dict):
        value = raw.get("dms_id")
        if isinstance(value, str | int) and not isinstance(value, bool):
            return inputs.shown(str(value)[:64])
    return None


# ------------------------------------------------------------------ generator records → feed v1

def _iso(value):
    return value.isoformat() if value is not None else None


def feed_dict(entity: str, rec) -> dict:
    """A generator record (``boxes.dms.simulator.generator``) as a feed-v1 object."""
    if entity == "customers":
        return {"dms_id": rec.dms_id, "name": rec.name, "phone_mobile": rec.phone_mobile,
                "phone_home": rec.phone_home, "phone_work": rec.phone_work, "email": rec.email,
                "dms_updated_at": _iso(rec.dms_updated_at)}
    if entity == "vehicles":
        return {"dms_id": rec.dms_id, "customer_dms_id": rec.customer_dms_id, "vin": rec.vin, "plate": rec.plate,
                "brand": rec.brand, "model": rec.model, "version": rec.version, "model_year": rec.model_year,
                "mileage": rec.mileage, "sold_on": rec.sold_on.isoformat() if rec.sold_on else None,
                "dms_updated_at": _iso(rec.dms_updated_at)}
    if entity == "deliveries":
        return {"dms_id": rec.dms_id, "vehicle_dms_id": rec.vehicle_dms_id, "customer_dms_id": rec.customer_dms_id,
                "delivered_at": _iso(rec.delivered_at), "salesperson": rec.salesperson,
                "dms_updated_at": _iso(rec.dms_updated_at)}
    if entity == "appointments":
        return {"dms_id": rec.dms_id, "vehicle_dms_id": rec.vehicle_dms_id, "customer_dms_id": rec.customer_dms_id,
                "scheduled_at": _iso(rec.scheduled_at), "service_type": rec.service_type, "advisor": rec.advisor,
                "status": rec.status, "source": rec.source, "arrived_at": _iso(rec.arrived_at),
                "repair_order_dms_id": rec.repair_order_dms_id, "dms_updated_at": _iso(rec.dms_updated_at)}
    if entity == "repair_orders":
        return {"dms_id": rec.dms_id, "number": rec.number, "vehicle_dms_id": rec.vehicle_dms_id,
                "customer_dms_id": rec.customer_dms_id, "opened_at": _iso(rec.opened_at),
                "promised_at": _iso(rec.promised_at), "delivered_at": _iso(rec.delivered_at),
                "status": rec.status, "mileage": rec.mileage, "advisor": rec.advisor,
                "lines": [{"line_no": ln.line_no, "work_done": ln.work_done, "result": ln.result,
                           "incidents": ln.incidents, "declined": ln.declined} for ln in rec.lines],
                "dms_updated_at": _iso(rec.dms_updated_at)}
    raise KeyError(entity)
