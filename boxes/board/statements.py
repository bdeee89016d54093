"""What the board's statements share: stand-ins for the dealer and the windows, the parameters
that replace them, counts as sub-selects and the row's customer context.

Statements built once: building a board statement (select, joins, correlated sub-selects) and
computing its cache key costs the app ~1 ms of Python per statement and request, more than
PostgreSQL takes to run most of them. So each statement has a module-level builder cached with
``functools.cache`` on exactly the arguments that change its shape (a list's filter choices), which
builds it for the stand-ins ``DEALER`` and ``WINDOWS`` (their values are bound parameters); it is
executed with ``board_parameters(dealer, w)``. A builder sees nothing but its arguments, so a filter
that shapes the statement is one of them and two shapes never share a statement. Callers pass only
values of a fixed set (an unknown filter falls back to its default first), so each cache holds at
most one statement per shape.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Integer, bindparam, exists, func, or_, select
from sqlalchemy.orm import Session

from boxes.board.windows import BoardWindows, WindowParameters
from boxes.models import Activity, Customer, Opportunity, Vehicle
from boxes.paging import ListQuery, Page, count_rows, in_list, paginate


class DealerParameter:
    """Stands for the dealer while a statement is built once: its id is the ``dealer_id`` parameter."""

    id = bindparam("dealer_id", type_=Integer)


DEALER = DealerParameter()
WINDOWS = WindowParameters()


def board_parameters(dealer, w: BoardWindows, **extra) -> dict:
    """The values of a board statement's parameters: the dealer's id and every window boundary."""
    return {"dealer_id": dealer.id, **w.parameters(), **extra}


def count_of(model, *conds):
    """``count(*)`` of ``model`` rows matching ``conds``, as a scalar sub-select: several counts in one
    statement, each served by its own index (an index-only range scan where the index covers the
    conditions) instead of one scan of the widest window with a CASE per count."""
    return select(func.count()).select_from(model).where(*conds).scalar_subquery()


# The welcome / courtesy call filter's choices (``call_filter``).
CALL_FILTERS = ("pending", "done", "all")


def call_filter(called_at, choice: str) -> list:
    """The welcome / courtesy call filter of Deliveries and Services completed on the column that
    records the call: "pending" (not called yet), "done", anything else all."""
    if choice == "pending":
        return [called_at.is_(None)]
    if choice == "done":
        return [called_at.is_not(None)]
    return []


def last_note(dealer_id: int, customer_col):
    """The customer's most recent non-empty comment, as a correlated subquery (no N+1)."""
    return (
        select(Activity.comment)
        .where(Activity.dealer_id == dealer_id, Activity.customer_id == customer_col, Activity.comment != "")
        .order_by(Activity.created_at.desc(), Activity.id.desc())
        .limit(1)
        .correlate_except(Activity)
        .scalar_subquery()
    )


def has_open_opportunity(dealer_id: int, customer_col, vehicle_col):
    """The "opportunity scheduled" icon: the customer or the vehicle has an open opportunity."""
    return exists().where(
        Opportunity.dealer_id == dealer_id,
        Opportunity.status == "open",
        or_(Opportunity.customer_id == customer_col, Opportunity.vehicle_id == vehicle_col),
    ).correlate_except(Opportunity)


def subject_rows(model, dealer, *columns):
    """The rows of a list of deliveries, appointments or repair orders: the row, its vehicle and customer
    (if any), the customer's last note and the "opportunity scheduled" icon, then ``columns``."""
    return (
        select(
            model,
            Customer,
            Vehicle,
            last_note(dealer.id, model.customer_id).label("last_note"),
            has_open_opportunity(dealer.id, model.customer_id, model.vehicle_id).label("scheduled"),
            *columns,
        )
        .join(Vehicle, Vehicle.id == model.vehicle_id)
        .outerjoin(Customer, Customer.id == model.customer_id)
    )


def one_row(session: Session, rows, model, dealer, row_id: int):
    """The list row (``rows``: the list's row statement) of one of the dealer's ``model`` rows, in whatever
    state: the row an action sends back."""
    return session.execute(rows.where(model.dealer_id == dealer.id, model.id == row_id)).one_or_none()


class FilteredList:
    """A list whose statements one filter shapes, its choices a fixed set: Deliveries' welcome call, In
    process's opening day, Services completed's courtesy call. ``name`` is the filter's name (the list URL's
    query argument, and the keyword of ``page``, ``count`` and ``contains``), ``default`` its choice when
    none is given. ``build(choice)`` is the list's cached statement builder, asked only for a known choice:
    anything else is ``fallback``, so a hostile filter never grows its cache."""

    def __init__(self, build: Callable[[str], ListQuery], name: str, choices: tuple[str, ...], default: str,
                 fallback: str = "all"):
        self.build, self.name, self.choices, self.default, self.fallback = build, name, choices, default, fallback

    def query(self, choice: str) -> ListQuery:
        return self.build(choice if choice in self.choices else self.fallback)

    def _chosen(self, filters: dict[str, str]) -> ListQuery:
        if filters.keys() - {self.name}:
            raise TypeError(f"this list's filter is {self.name!r}, not {', '.join(filters.keys() - {self.name})}")
        return self.query(filters.get(self.name, self.default))

    def page(self, session: Session, dealer, w: BoardWindows, *, page: int = 1, per_page: int = 50,
             **filters: str) -> Page:
        """A page of the list: ``deliveries(session, dealer, w, welcome="done", page=2)``."""
        return paginate(session, self._chosen(filters), page, per_page, params=board_parameters(dealer, w))

    def count(self, session: Session, dealer, w: BoardWindows, **filters: str) -> int:
        return count_rows(session, self._chosen(filters), board_parameters(dealer, w))

    def contains(self, session: Session, dealer, w: BoardWindows, row_id: int, **filters: str) -> bool:
        """Whether the row is one of the list's rows."""
        return in_list(session, self._chosen(filters), board_parameters(dealer, w), row_id)
