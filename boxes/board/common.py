"""What every board list shares: the row's customer context and pagination."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, Select, bindparam, exists, func, or_, select
from sqlalchemy.orm import Session

from boxes.board.windows import BoardWindows, WindowParameters
from boxes.models import Activity, Opportunity


@dataclass
class Page:
    rows: list[Any]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_prev(self) -> bool:
        return self.page > 1


def count_of(model, *conds):
    """``count(*)`` of ``model`` rows matching ``conds``, as a scalar sub-select: several counts in one
    statement, each served by its own index (an index-only range scan where the index covers the
    conditions) instead of one scan of the widest window with a CASE per count."""
    return select(func.count()).select_from(model).where(*conds).scalar_subquery()


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


def clamp_page(page: int | str | None) -> int:
    """``?page=``: 1 unless a page number, at most ``inputs.MAX_PAGE`` (its offset must stay a number
    every database takes); lists clamp it further to their last page."""
    from boxes.inputs import page_number

    return page_number(page)


@dataclass(frozen=True)
class ListQuery:
    """A list's two statements: its count, and one page of its rows (``page_limit``/``page_offset``
    are bound parameters)."""

    count: Select
    page: Select


def list_query(base: Select, rows: Select, order) -> ListQuery:
    """``base`` is ``select(<Model>.id).where(<the list's filters>)``: it is counted, and it picks the
    page's ids alone, in ``order``, straight from the list's index (a "deferred join"); ``rows`` (the
    row with its customer, vehicle, last note...) is then joined to those ids only. Without it the
    database would join every row of the window before sorting and cutting the page."""
    key = base.selected_columns[0]
    ids = (base.order_by(*order).limit(bindparam("page_limit", type_=Integer))
           .offset(bindparam("page_offset", type_=Integer)).subquery("page_ids"))
    return ListQuery(count=select(func.count()).select_from(base.order_by(None).subquery()),
                     page=rows.join(ids, key == ids.c[key.name]).order_by(*order))


def paginate(session: Session, query: ListQuery, page: int, per_page: int, *, params: dict | None = None,
             total: int | None = None, cap: int | None = None) -> Page:
    """One page of a list: counted (unless the caller knows ``total``; ``cap`` bounds it), the page
    number clamped to the pages there are."""
    params = params or {}
    if total is None:
        total = session.scalar(query.count, params) or 0
    if cap is not None:
        total = min(total, cap)
    page = min(page, max(1, math.ceil(total / per_page)))
    rows = session.execute(query.page, {**params, "page_limit": per_page, "page_offset": (page - 1) * per_page})
    return Page(rows=list(rows.all()), page=page, per_page=per_page, total=total)


# --- statements built once ------------------------------------------------------------------
#
# Building a board statement (select, joins, correlated sub-selects) and computing its cache key
# costs the app ~1 ms of Python per statement and request, more than PostgreSQL takes to run most
# of them. So each statement is built once per process, for a stand-in dealer and windows whose
# values are bound parameters, and executed with ``board_parameters(dealer, w)``.

class DealerParameter:
    """Stands for the dealer while a statement is built once: its id is the ``dealer_id`` parameter."""

    id = bindparam("dealer_id", type_=Integer)


_STATEMENTS: dict = {}


def board_statement(key: tuple, build: Callable):
    """``build(dealer, windows)``, built once per ``key``. The key names everything the statement's
    shape depends on (the list, its filter choices); values go in as parameters."""
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = build(DealerParameter(), WindowParameters())
    return stmt


def board_parameters(dealer, w: BoardWindows, **extra) -> dict:
    """The values of a board statement's parameters: the dealer's id and every window boundary."""
    return {"dealer_id": dealer.id, **w.parameters(), **extra}


def get_owned(session: Session, model, dealer_id: int, row_id, *, lock: bool = False):
    """The dealer's row with that id, or NotFound (another dealer's id is simply not found)."""
    from boxes.errors import NotFound
    from boxes.inputs import row_id as parse_id

    row_id = parse_id(row_id)  # not an id of any row (nor one a database could hold): not found
    if row_id is None:
        raise NotFound(model.__name__)
    stmt = select(model).where(model.id == row_id, model.dealer_id == dealer_id)
    if lock:
        stmt = stmt.with_for_update()
    row = session.scalar(stmt)
    if row is None:
        raise NotFound(model.__name__)
    return row


def check_version(row, version) -> None:
    """The version the user saw must still be the row's version (optimistic locking)."""
    from boxes.errors import Conflict

    if version in (None, ""):
        return
    try:
        seen = int(version)
    except (TypeError, ValueError):
        raise Conflict(row.version) from None
    if seen != row.version:
        raise Conflict(row.version)


def commit_or_conflict(session: Session) -> None:
    """Commit; a concurrent commit on the same versioned row is a conflict, never an overwrite."""
    from sqlalchemy.orm.exc import StaleDataError

    from boxes.errors import Conflict

    try:
        session.commit()
    except StaleDataError:
        session.rollback()
        raise Conflict() from None
