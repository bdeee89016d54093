"""Step 1 of the campaign manager: which units (vehicles) match the creator's criteria.

Pasted or uploaded VIN/plate lists are validated (ISO 3779 VINs; plates of the dealer's country)
and looked up; every entry that is invalid or not found is reported back, never dropped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, bindparam, exists, func, or_, select
from sqlalchemy.orm import Session

from boxes import inputs
from boxes.errors import ActionError
from boxes.identifiers import normalize_plate, plate_variants, split_pasted, validate_plate, validate_vin
from boxes.localtime import local_midnight
from boxes.models import Campaign, Customer, Dealer, Opportunity, RepairOrder, Vehicle
from boxes.textmatch import contains_folded

OPEN_FILTERS = ("any", "with", "without")
MAX_LIST = 100_000
MAX_LIST_CHARS = MAX_LIST * 20  # a VIN and its separator, 100,000 times (the form's memory limit is above it)
LOOKUP_CHUNK = 5_000


@dataclass
class Criteria:
    brand: str = ""
    model: str = ""
    version: str = ""
    year_from: int | None = None
    year_to: int | None = None
    sold_from: str = ""  # ISO dates (JSON-friendly: the search is kept in Redis)
    sold_to: str = ""
    serviced_before: str = ""
    open_opportunity: str = "any"
    id_kind: str = ""  # "vin" | "plate" | "" (no list)
    vehicle_ids: list[int] | None = None  # the units a pasted list resolved to

    def as_dict(self) -> dict:
        return asdict(self)

    def is_empty(self) -> bool:
        """No criterion and no list: the search matches every unit of the dealer."""
        return (not (self.brand or self.model or self.version or self.year_from or self.year_to or self.sold_from
                     or self.sold_to or self.serviced_before) and self.open_opportunity == "any"
                and self.vehicle_ids is None)


@dataclass
class ListReport:
    """What became of a pasted list: found, invalid (with why), not found, duplicates, warnings."""

    kind: str = ""
    entries: int = 0
    found: int = 0
    duplicates: int = 0
    invalid: list[tuple[str, str]] = field(default_factory=list)  # (entry, reason code)
    not_found: list[str] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # valid VINs with a check-digit mismatch

    def as_dict(self) -> dict:
        return asdict(self)


def read_upload(filename: str, data: bytes) -> str:
    """Every cell of an uploaded CSV or XLSX, one per line, for ``split_pasted``. Read within the
    caps of ``boxes.inputs`` (rows, cells, time, an XLSX's unpacked size): a file beyond them, binary
    or unreadable is a field error, never a held web thread."""
    try:
        return "\n".join(inputs.table_cells(filename, data))
    except inputs.UnreadableUpload as exc:
        raise ActionError.field("upload", exc.message) from None


def resolve_list(session: Session, dealer: Dealer, kind: str, text: str) -> tuple[list[int], ListReport]:
    """The dealer's vehicles a pasted list names, and the report of every entry that is not one."""
    pasted = split_pasted(text, kind, dealer.country)
    if len(pasted.entries) > MAX_LIST:
        raise ActionError.field("ids", _l("At most %(n)d entries per list.", n=MAX_LIST))
    report = ListReport(kind=kind, entries=len(pasted.entries), duplicates=pasted.duplicates)
    wanted: dict[str, str] = {}  # stored form → the entry as pasted (normalised)
    for entry in pasted.entries:
        if kind == "vin":
            check = validate_vin(entry)
            if not check.valid:
                report.invalid.append((entry, check.reason))
                continue
            if check.warning:
                report.warnings.append((entry, check.warning))
            wanted[check.vin] = entry
        else:
            check = validate_plate(entry, dealer.country)
            if not check.valid:
                report.invalid.append((entry, check.reason))
                continue
            for variant in plate_variants(entry, dealer.country):
                wanted.setdefault(variant, entry)
    column = Vehicle.vin if kind == "vin" else Vehicle.plate
    keys = list(wanted)
    ids: dict[int, None] = {}
    matched: set[str] = set()
    for start in range(0, len(keys), LOOKUP_CHUNK):
        chunk = keys[start:start + LOOKUP_CHUNK]
        rows = session.execute(
            select(Vehicle.id, column).where(
                Vehicle.dealer_id == dealer.id,
                column.in_(bindparam("keys", chunk, expanding=True, literal_execute=True)),
            ).order_by(Vehicle.id)
        )
        for vid, value in rows:
            ids.setdefault(vid, None)
            key = value if kind == "vin" else normalize_plate(value)
            matched.add(wanted.get(key, key))
    found_entries = {wanted[k] for k in keys if wanted[k] in matched}
    report.not_found = [e for e in dict.fromkeys(wanted.values()) if e not in found_entries]
    report.found = len(found_entries)
    return list(ids), report


def conditions(dealer: Dealer, c: Criteria) -> list:
    tz = ZoneInfo(dealer.time_zone)
    conds = [Vehicle.dealer_id == dealer.id]
    for col, value in ((Vehicle.brand, c.brand), (Vehicle.model, c.model), (Vehicle.version, c.version)):
        if value:
            conds.append(contains_folded(col, value))
    if c.year_from:
        conds.append(Vehicle.model_year >= c.year_from)
    if c.year_to:
        conds.append(Vehicle.model_year <= c.year_to)
    if c.sold_from:
        conds.append(Vehicle.sold_on >= date.fromisoformat(c.sold_from))
    if c.sold_to:
        conds.append(Vehicle.sold_on <= date.fromisoformat(c.sold_to))
    if c.serviced_before:
        # The last service before that day: no repair order opened on or after it.
        since = local_midnight(date.fromisoformat(c.serviced_before), tz)
        conds.append(~exists().where(RepairOrder.dealer_id == dealer.id, RepairOrder.vehicle_id == Vehicle.id,
                                     RepairOrder.opened_at >= since))
    if c.open_opportunity in ("with", "without"):
        has_open = exists().where(
            Opportunity.dealer_id == dealer.id, Opportunity.status == "open",
            or_(Opportunity.vehicle_id == Vehicle.id,
                and_(Opportunity.vehicle_id.is_(None), Opportunity.customer_id == Vehicle.customer_id)),
        )
        conds.append(has_open if c.open_opportunity == "with" else ~has_open)
    if c.vehicle_ids is not None:
        conds.append(Vehicle.id.in_(bindparam("vehicle_ids", c.vehicle_ids or [-1], expanding=True,
                                              literal_execute=True)))
    return conds


def matching_ids(session: Session, dealer: Dealer, c: Criteria) -> list[int]:
    return list(session.scalars(select(Vehicle.id).where(*conditions(dealer, c)).order_by(Vehicle.id)))


def matches(session: Session, dealer: Dealer, c: Criteria, vehicle_id: int) -> bool:
    return session.scalar(select(Vehicle.id).where(*conditions(dealer, c), Vehicle.id == vehicle_id)) is not None


def count(session: Session, dealer: Dealer, c: Criteria) -> int:
    return session.scalar(select(func.count()).select_from(Vehicle).where(*conditions(dealer, c))) or 0


def page(session: Session, dealer: Dealer, c: Criteria, *, page: int, per_page: int) -> list:
    """One page of matching units with their customer (VIN, plate, model, customer) and their open
    opportunity, if any: its due date, when it was made and the campaign it belongs to."""
    def open_opp(col):
        return (select(col).where(Opportunity.dealer_id == dealer.id, Opportunity.status == "open",
                                  Opportunity.vehicle_id == Vehicle.id)
                .order_by(Opportunity.due_at.desc()).limit(1).correlate_except(Opportunity).scalar_subquery())

    campaign_name = select(Campaign.name).where(Campaign.id == Opportunity.campaign_id).scalar_subquery()
    stmt = (
        select(Vehicle, Customer, open_opp(Opportunity.due_at).label("due_at"),
               open_opp(Opportunity.created_at).label("assigned_at"), open_opp(campaign_name).label("campaign"))
        .outerjoin(Customer, Customer.id == Vehicle.customer_id)
        .where(*conditions(dealer, c))
        .order_by(Vehicle.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return list(session.execute(stmt).all())
