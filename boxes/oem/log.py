"""The OEM integration log (seed 001's "Consulta de Logs"): every call to the OEM and every lead
received (``OemCallLog``, written by ``boxes.oem.connection.CallRecorder``), searched by lead id and
by the dealer's local days, failed calls alone if asked; one call in detail with its request body and
answer pretty-printed; and the pruning of rows older than the dealer's retention
(``OemConnector.retention_days``, default 180 days). The dead letters shown under the log are the
relay's (``boxes.oem.relay.dead_letter``).

A search by lead id walks ``ix_oem_call_log_dealer_lead_created`` (dealer, lead, newest first: the
board's lead rows link here); the whole log walks ``ix_oem_call_log_dealer_created``, and its count
stops at ``MAX_COUNTED`` rows (a page of a million rows is found by its dates, not by its number).
Nothing here is secret: the client redacted the credentials and the token before the rows were written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from boxes import inputs
from boxes.audit import record
from boxes.errors import ActionError
from boxes.localtime import local_midnight
from boxes.models import Dealer, OemCallLog, OemConnector
from boxes.owned import get_owned
from boxes.paging import ListQuery, Page, list_query, paginate

MAX_LEAD_ID = 18  # the OEM's record ids: 15 or 18 characters
MAX_COUNTED = 10_000
DEFAULT_RETENTION_DAYS = 180
# What a row of the list shows (the bodies only in the detail).
LIST_COLUMNS = (OemCallLog.id, OemCallLog.created_at, OemCallLog.direction, OemCallLog.kind, OemCallLog.lead_id,
                OemCallLog.event_id, OemCallLog.trigger, OemCallLog.stage, OemCallLog.substage, OemCallLog.method,
                OemCallLog.url, OemCallLog.status_code, OemCallLog.duration_ms, OemCallLog.attempt,
                OemCallLog.failed, OemCallLog.error)
ORDER = (OemCallLog.created_at.desc(), OemCallLog.id.desc())

# Who reads the log (its page, and the links to one lead's log on the board's rows): managers, and admins.
LOG_ROLES = ("manager",)


@dataclass(frozen=True)
class LogSearch:
    """What the admin searches for: one lead's calls (its exact id), the calls of some local days
    (``first`` and ``last`` included), the failed ones only."""

    lead: str = ""
    first: date | None = None
    last: date | None = None
    failed_only: bool = False

    def query(self) -> dict:
        """The search as a page's query string (its pager's and its detail links')."""
        args = {"lead": self.lead, "start": self.first and self.first.isoformat(),
                "end": self.last and self.last.isoformat(), "failed": "1" if self.failed_only else None}
        return {k: v for k, v in args.items() if v}


@dataclass
class Results:
    page: Page
    capped: bool  # more rows than MAX_COUNTED: the total shown is a floor


def check(criteria: LogSearch) -> LogSearch:
    """The search, bounded; ActionError (field → message) when it cannot be one."""
    errors: dict = {}
    lead = inputs.text(criteria.lead, "lead", errors, max_len=MAX_LEAD_ID,
                       too_long_message=_l("A lead id has 15 or 18 characters."))
    if criteria.first and criteria.last and criteria.last < criteria.first:
        errors["end"] = _l("The end date must not be before the start date.")
    if errors:
        raise ActionError(errors)
    return LogSearch(lead, criteria.first, criteria.last, criteria.failed_only)


def search(session: Session, dealer: Dealer, criteria: LogSearch, *, page: int, per_page: int) -> Results:
    """One page of the dealer's log, newest first."""
    count, query = statements(dealer, check(criteria))
    counted = session.scalar(count) or 0
    return Results(paginate(session, query, page, per_page, total=min(counted, MAX_COUNTED)), counted > MAX_COUNTED)


def statements(dealer: Dealer, criteria: LogSearch) -> tuple[Select, ListQuery]:
    """A checked search's count (up to ``MAX_COUNTED + 1``) and its list (``boxes.paging``)."""
    conditions = [OemCallLog.dealer_id == dealer.id]
    if criteria.lead:
        conditions.append(OemCallLog.lead_id == criteria.lead)
    tz = ZoneInfo(dealer.time_zone)
    if criteria.first:
        conditions.append(OemCallLog.created_at >= local_midnight(criteria.first, tz))
    if criteria.last:
        conditions.append(OemCallLog.created_at < local_midnight(criteria.last + timedelta(days=1), tz))
    if criteria.failed_only:
        conditions.append(OemCallLog.failed.is_(True))
    base = select(OemCallLog.id).where(*conditions)
    count = select(func.count()).select_from(base.limit(MAX_COUNTED + 1).subquery())
    return count, list_query(base, select(*LIST_COLUMNS), ORDER)


def call(session: Session, dealer: Dealer, call_id) -> OemCallLog:
    """One row of the dealer's log; NotFound for any other (another dealer's id is simply not found)."""
    return get_owned(session, OemCallLog, dealer.id, call_id)


def pretty(text: str) -> str:
    """A body as JSON indented for reading; as it is when it is no JSON (an answer the log cut, a page
    of HTML an outage served). The template escapes it like any text."""
    if not text:
        return ""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def retention_days(session: Session, dealer: Dealer) -> int:
    days = session.scalar(select(OemConnector.retention_days).where(OemConnector.dealer_id == dealer.id))
    return days or DEFAULT_RETENTION_DAYS


def prune(session: Session, dealer: Dealer, now: datetime) -> int:
    """Delete the dealer's log rows older than its retention; commits, with an audit row when any went.
    Returns how many."""
    cutoff = now - timedelta(days=retention_days(session, dealer))
    deleted = session.execute(delete(OemCallLog).where(OemCallLog.dealer_id == dealer.id,
                                                       OemCallLog.created_at < cutoff)
                              .execution_options(synchronize_session=False)).rowcount or 0
    if deleted:
        record(session, dealer_id=dealer.id, user_id=None, action="oem_log.pruned", entity="dealer",
               entity_id=dealer.id, data={"deleted": deleted, "before": cutoff.isoformat()})
    session.commit()
    return deleted


def prune_all(session: Session, now: datetime) -> dict[int, int]:
    """:func:`prune` for every dealer (the cron's daily job): dealer id → rows deleted, where any were."""
    pruned = {}
    for dealer in session.scalars(select(Dealer).order_by(Dealer.id)).all():
        deleted = prune(session, dealer, now)
        if deleted:
            pruned[dealer.id] = deleted
    return pruned
