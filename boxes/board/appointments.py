"""Button 3, Upcoming appointments, with its five sub-views."""

from __future__ import annotations

from datetime import datetime
from functools import cache

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, and_, select
from sqlalchemy.orm import Session

from boxes import inputs
from boxes.audit import record
from boxes.board import opportunities
from boxes.board.statements import DEALER, WINDOWS, board_parameters, count_of, one_row, subject_rows
from boxes.board.windows import BoardWindows
from boxes.db import utcnow
from boxes.errors import ActionError
from boxes.messaging.outbox import reminder_columns
from boxes.models import Appointment, Dealer, Opportunity, User
from boxes.models.workshop import UNCONFIRMED
from boxes.owned import check_version, commit_or_conflict, get_owned
from boxes.paging import ListQuery, Page, in_list, list_query, paginate

MAX_COMMENT = 2000

SUB_VIEWS = ("to_confirm", "confirmed", "not_arrived", "no_shows", "arrivals")
LAST_ARRIVALS = 10
# Still expected: neither arrived nor cancelled nor already declared a no-show.
_EXPECTED = (*UNCONFIRMED, "confirmed")


def sub_view_condition(view: str, dealer: Dealer, w: BoardWindows):
    own = Appointment.dealer_id == dealer.id
    if view == "to_confirm":
        return and_(own, Appointment.status.in_(UNCONFIRMED), Appointment.scheduled_at >= w.now)
    if view == "confirmed":
        return and_(own, Appointment.status == "confirmed", Appointment.scheduled_at >= w.today_start)
    if view == "not_arrived":
        return and_(own, Appointment.status.in_(_EXPECTED), Appointment.scheduled_at >= w.today_start,
                    Appointment.scheduled_at < w.tomorrow_start)
    if view == "no_shows":
        return and_(own, Appointment.status.in_((*_EXPECTED, "no_show")),
                    Appointment.scheduled_at >= w.no_shows_since, Appointment.scheduled_at < w.today_start)
    if view == "arrivals":
        return and_(own, Appointment.arrived_at >= w.today_start, Appointment.arrived_at < w.tomorrow_start)
    raise ValueError(view)


def appointments(session: Session, dealer: Dealer, w: BoardWindows, *, view: str = "to_confirm",
                 page: int = 1, per_page: int = 50, total: int | None = None) -> Page:
    """``total``: the sub-view's count when the caller has it already (``sub_view_counts``)."""
    view = view if view in SUB_VIEWS else "to_confirm"
    cap = None
    if view == "arrivals":  # only the last ten arrivals of the day, on one page
        page, per_page, cap = 1, LAST_ARRIVALS, LAST_ARRIVALS
    return paginate(session, _list(view), page, per_page, params=board_parameters(dealer, w), total=total, cap=cap)


ORDER = {
    "to_confirm": (Appointment.scheduled_at, Appointment.id),
    "confirmed": (Appointment.scheduled_at, Appointment.id),
    "not_arrived": (Appointment.scheduled_at, Appointment.id),
    "no_shows": (Appointment.scheduled_at.desc(), Appointment.id.desc()),
    "arrivals": (Appointment.arrived_at.desc(), Appointment.id.desc()),
}


@cache
def _list(view: str) -> ListQuery:
    """A sub-view's statements (``view`` is one of ``SUB_VIEWS``: callers fall back to "to confirm")."""
    return list_query(select(Appointment.id).where(sub_view_condition(view, DEALER, WINDOWS)), _rows(DEALER),
                      ORDER[view])


def contains(session: Session, dealer: Dealer, w: BoardWindows, appointment_id: int, *,
             view: str = "to_confirm") -> bool:
    """Whether the appointment is one of the sub-view's rows (last arrivals: one of the last ten)."""
    view = view if view in SUB_VIEWS else "to_confirm"
    if view == "arrivals":
        last_ten = appointments(session, dealer, w, view=view).rows
        return any(row.Appointment.id == int(appointment_id) for row in last_ten)
    return in_list(session, _list(view), board_parameters(dealer, w), appointment_id)


def _rows(dealer: Dealer):
    # With the email reminder's state on the row (reminder_status, reminder_sent_at, reminder_reason).
    return subject_rows(Appointment, dealer, *reminder_columns(dealer.id))


def one(session: Session, dealer: Dealer, appointment_id: int):
    return one_row(session, _rows(dealer), Appointment, dealer, appointment_id)


@cache
def _sub_view_counts() -> Select:
    return select(*[count_of(Appointment, sub_view_condition(v, DEALER, WINDOWS)) for v in SUB_VIEWS])


def sub_view_counts(session: Session, dealer: Dealer, w: BoardWindows) -> dict[str, int]:
    """All five sub-view counts in one statement, each from its own index (arrivals capped at ten,
    as the list is)."""
    row = session.execute(_sub_view_counts(), board_parameters(dealer, w)).one()
    counts = dict(zip(SUB_VIEWS, row, strict=True))
    counts["arrivals"] = min(counts["arrivals"], LAST_ARRIVALS)
    return counts


# --- actions ------------------------------------------------------------------------------------

def confirm(session: Session, dealer: Dealer, actor: User, appointment_id, *, comment: str = "",
            version=None) -> Appointment:
    """The customer confirmed they will come: the row moves from "to confirm" to "confirmed"."""
    appt = get_owned(session, Appointment, dealer.id, appointment_id)
    check_version(appt, version)
    if appt.status not in UNCONFIRMED:
        raise ActionError.field("status", _l("This appointment is no longer waiting for confirmation."))
    errors: dict = {}
    comment = inputs.text(comment, "comment", errors, max_len=MAX_COMMENT, too_long_message=_l(
        "The comment is too long (at most %(n)d characters).", n=MAX_COMMENT))
    if errors:
        raise ActionError(errors)
    now = utcnow()
    appt.status = "confirmed"
    appt.confirmed_by_id = actor.id
    appt.confirmed_at = now
    appt.comment = (comment or "").strip()
    record(session, dealer_id=dealer.id, user_id=actor.id, action="appointment.confirm", entity="appointment",
           entity_id=appt.id, data={"comment": appt.comment})
    commit_or_conflict(session)
    return appt


def is_to_confirm(appt: Appointment, w: BoardWindows) -> bool:
    """Still to confirm: the row of the "to confirm" sub-view (``sub_view_condition``)."""
    return appt.status in UNCONFIRMED and appt.scheduled_at >= w.now


def is_no_show(appt: Appointment, w: BoardWindows) -> bool:
    return appt.status == "no_show" or (appt.status in _EXPECTED and appt.scheduled_at < w.today_start)


def create_recovery_opportunity(session: Session, dealer: Dealer, actor: User, appointment_id, *,
                                due_at: datetime | None, note: str = "", assigned_user_id=None) -> Opportunity:
    """From a no-show: an opportunity to call the customer back and book again."""
    appt = get_owned(session, Appointment, dealer.id, appointment_id)
    if not is_no_show(appt, BoardWindows.at(dealer.time_zone)):
        raise ActionError.field("status", _l("Only a missed appointment can get a recovery opportunity."))
    existing = session.scalar(select(Opportunity.id).where(
        Opportunity.dealer_id == dealer.id, Opportunity.vehicle_id == appt.vehicle_id,
        Opportunity.origin == "no_show", Opportunity.status == "open").limit(1))
    if existing is not None:
        raise ActionError.field("status", _l("This vehicle already has an open recovery opportunity."))
    return opportunities.create_opportunity(
        session, dealer, actor, origin="no_show", due_at=due_at, note=note, customer_id=appt.customer_id,
        vehicle_id=appt.vehicle_id, assigned_user_id=assigned_user_id)
