"""Report date ranges in the dealer's time zone: presets and custom ranges (inclusive days)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l

from boxes import inputs
from boxes.db import utcnow
from boxes.errors import ActionError
from boxes.localtime import local_midnight

PRESETS = ("today", "this_week", "this_month", "last_30_days", "custom")
DEFAULT_PRESET = "this_month"
MAX_DAYS = 3 * 366


@dataclass(frozen=True)
class DateRange:
    preset: str
    first: date  # first local day, inclusive
    last: date  # last local day, inclusive
    start: datetime  # UTC instant of the first day's local midnight
    end: datetime  # UTC instant of the local midnight after the last day (exclusive)

    def query(self) -> dict:
        args = {"preset": self.preset}
        if self.preset == "custom":
            args.update(start=self.first.isoformat(), end=self.last.isoformat())
        return args


def make_range(time_zone: str, preset: str | None, start: str | None = None, end: str | None = None,
               now: datetime | None = None) -> DateRange:
    """The range for a preset (or custom dates). Bad custom dates raise ActionError (field errors)."""
    tz = ZoneInfo(time_zone)
    today = (now or utcnow()).astimezone(tz).date()
    preset = preset if preset in PRESETS else DEFAULT_PRESET
    if preset == "today":
        first = last = today
    elif preset == "this_week":
        first, last = today - timedelta(days=today.weekday()), today
    elif preset == "this_month":
        first, last = today.replace(day=1), today
    elif preset == "last_30_days":
        first, last = today - timedelta(days=29), today
    else:
        errors = {}
        first = _parse(start, "start", errors)
        last = _parse(end, "end", errors)
        if first and last and last < first:
            errors["end"] = _l("The end date must not be before the start date.")
        if first and last and (last - first).days > MAX_DAYS:
            errors["end"] = _l("Choose a range of at most three years.")
        if errors:
            raise ActionError(errors)
    return DateRange(preset, first, last, local_midnight(first, tz), local_midnight(last + timedelta(days=1), tz))


def _parse(raw: str | None, field: str, errors: dict) -> date | None:
    """A custom range's day, bounded (``boxes.inputs``): its midnight, and the next, must exist."""
    found = inputs.day(raw, field, errors)
    if found is None:
        errors.setdefault(field, _l("Enter a valid date."))
    return found
