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

from sqlalchemy import Integer, bindparam, exists, func, or_, select

from boxes.board.windows import BoardWindows, WindowParameters
from boxes.models import Activity, Opportunity


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
