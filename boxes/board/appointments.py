"""Button 3, Upcoming appointments, with its five sub-views."""

from __future__ import annotations

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from boxes.board.common import Page, has_open_opportunity, last_note, paginate
from boxes.board.windows import BoardWindows
from boxes.models import Appointment, Customer, Dealer, Vehicle
from boxes.models.workshop import UNCONFIRMED

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
                 page: int = 1, per_page: int = 50) -> Page:
    cond = sub_view_condition(view, dealer, w)
    order = {
        "to_confirm": (Appointment.scheduled_at, Appointment.id),
        "confirmed": (Appointment.scheduled_at, Appointment.id),
        "not_arrived": (Appointment.scheduled_at, Appointment.id),
        "no_shows": (Appointment.scheduled_at.desc(), Appointment.id.desc()),
        "arrivals": (Appointment.arrived_at.desc(), Appointment.id.desc()),
    }[view]
    rows = (
        select(
            Appointment,
            Customer,
            Vehicle,
            last_note(dealer.id, Appointment.customer_id).label("last_note"),
            has_open_opportunity(dealer.id, Appointment.customer_id, Appointment.vehicle_id).label("scheduled"),
        )
        .join(Vehicle, Vehicle.id == Appointment.vehicle_id)
        .outerjoin(Customer, Customer.id == Appointment.customer_id)
        .where(cond)
        .order_by(*order)
    )
    base = select(Appointment.id).where(cond)
    if view == "arrivals":
        # Only the last ten arrivals of the day, on one page.
        base = base.order_by(*order).limit(LAST_ARRIVALS)
        rows = rows.limit(LAST_ARRIVALS)
        page, per_page = 1, LAST_ARRIVALS
    return paginate(session, base, rows, page, per_page)


def sub_view_counts(session: Session, dealer: Dealer, w: BoardWindows) -> dict[str, int]:
    """All five sub-view counts in one query (arrivals capped at ten, as the list is)."""
    row = session.execute(
        select(*[func.count(case((sub_view_condition(v, dealer, w), 1))) for v in SUB_VIEWS]).where(
            Appointment.dealer_id == dealer.id,
            Appointment.scheduled_at >= w.no_shows_since,
        )
    ).one()
    counts = dict(zip(SUB_VIEWS, row, strict=True))
    counts["arrivals"] = min(counts["arrivals"], LAST_ARRIVALS)
    return counts
