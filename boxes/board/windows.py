"""The board's time windows, computed in the dealer's time zone.

Every boundary is a local midnight turned into a UTC instant, so "today" for a caller in
Buenos Aires starts at 00:00 in Buenos Aires whatever the server's clock says. The definitions
(also in docs/architecture.md):

- Deliveries: delivered from local midnight 30 days ago until now (today and the 30 days before).
- New opportunities: open, due from local midnight 15 days ago to the end of the day 15 days ahead;
  overdue = due before today's local midnight, today = due today, upcoming = due after today.
- Upcoming appointments → to confirm: not yet confirmed, scheduled from now on; confirmed: confirmed
  by a user, scheduled from today's local midnight on; not arrived: scheduled today, not arrived;
  no-shows: scheduled in the 7 days before today and never arrived; last arrivals: the last 10
  arrivals today.
- In process: RO open (not delivered); by opening: today, yesterday, 2–7 days ago, more than 7 days.
- Services completed: RO delivered from local midnight 15 days ago.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam

from boxes.db import UTCDateTime, utcnow
from boxes.localtime import local_midnight


def _local_midnight(days_from_today: int) -> cached_property[datetime]:
    """A window's boundary: the local midnight ``days_from_today`` days from today, as a UTC instant, computed
    once per ``BoardWindows`` (``cached_property`` writes the instance's ``__dict__`` directly, which a frozen
    dataclass allows)."""
    return cached_property(lambda w: w.midnight(days_from_today))


@dataclass(frozen=True)
class BoardWindows:
    now: datetime
    today: date
    tz: ZoneInfo

    @classmethod
    def at(cls, time_zone: str, now: datetime | None = None) -> BoardWindows:
        tz = ZoneInfo(time_zone)
        now = (now or utcnow()).astimezone(UTC)
        return cls(now=now, today=now.astimezone(tz).date(), tz=tz)

    def midnight(self, days_from_today: int) -> datetime:
        return local_midnight(self.today + timedelta(days=days_from_today), self.tz)

    # Every boundary but ``now``: a local midnight so many days from today. Cached: a board page asks for
    # some once per row (the opportunity groups).
    today_start = _local_midnight(0)
    tomorrow_start = _local_midnight(1)
    yesterday_start = _local_midnight(-1)
    week_start = _local_midnight(-7)
    deliveries_since = _local_midnight(-30)
    opportunities_from = _local_midnight(-15)
    opportunities_until = _local_midnight(16)
    no_shows_since = _local_midnight(-7)
    completed_since = _local_midnight(-15)

    BOUNDARIES = ("now", "today_start", "tomorrow_start", "yesterday_start", "week_start", "deliveries_since",
                  "opportunities_from", "opportunities_until", "no_shows_since", "completed_since")

    def parameters(self) -> dict[str, datetime]:
        """Every boundary, named as ``WindowParameters`` names its bound parameter."""
        return {f"w_{name}": getattr(self, name) for name in self.BOUNDARIES}

    def opportunity_group(self, due_at: datetime) -> str:
        if due_at < self.today_start:
            return "overdue"
        if due_at < self.tomorrow_start:
            return "today"
        return "upcoming"


class WindowParameters:
    """Stands for a ``BoardWindows`` while a statement is built once for every request: each
    boundary is a bound parameter (``w_<name>``), filled in from ``BoardWindows.parameters()``."""

    def __getattr__(self, name: str):
        if name not in BoardWindows.BOUNDARIES:
            raise AttributeError(name)
        return bindparam(f"w_{name}", type_=UTCDateTime)

