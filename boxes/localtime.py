"""Local days as UTC instants: a day starts at midnight in the dealer's time zone, whatever the
server's clock says. The board's windows, the report ranges, the campaign search, arrival and
no-show derivation and appointment credit all count days this way."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant at which ``day`` starts in ``tz``."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def local_days_around(instant: datetime, tz: ZoneInfo, days: int = 0) -> tuple[datetime, datetime]:
    """The local day of ``instant`` widened by ``days`` on each side, as [start, end) UTC instants
    (an appointment's day ± the sync's tolerance)."""
    day = instant.astimezone(tz).date()
    return local_midnight(day - timedelta(days=days), tz), local_midnight(day + timedelta(days=days + 1), tz)
