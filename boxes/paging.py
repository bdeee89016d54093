"""Lists in pages: a list's statements (count, one page, membership of a row), the page of rows
and the ``?page=`` number. The board's lists, the outbox, the reports' grids and the campaign
manager page this way."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, Select, bindparam, func, select
from sqlalchemy.orm import Session

from boxes.inputs import page_number


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


def clamp_page(page: int | str | None) -> int:
    """``?page=``: 1 unless a page number, at most ``inputs.MAX_PAGE`` (its offset must stay a number
    every database takes); lists clamp it further to their last page."""
    return page_number(page)


@dataclass(frozen=True)
class ListQuery:
    """A list's statements: its count, one page of its rows (``page_limit``/``page_offset`` are
    bound parameters), and whether one row (``row_id``) is in it — after an action, the row the
    caller acted on may have left the list (a discard, a confirmation, a welcome call done)."""

    count: Select
    page: Select
    member: Select


def list_query(base: Select, rows: Select, order) -> ListQuery:
    """``base`` is ``select(<Model>.id).where(<the list's filters>)``: it is counted, and it picks the
    page's ids alone, in ``order``, straight from the list's index (a "deferred join"); ``rows`` (the
    row with its customer, vehicle, last note...) is then joined to those ids only. Without it the
    database would join every row of the window before sorting and cutting the page."""
    key = base.selected_columns[0]
    ids = (base.order_by(*order).limit(bindparam("page_limit", type_=Integer))
           .offset(bindparam("page_offset", type_=Integer)).subquery("page_ids"))
    return ListQuery(count=select(func.count()).select_from(base.order_by(None).subquery()),
                     page=rows.join(ids, key == ids.c[key.name]).order_by(*order),
                     member=select(base.order_by(None).where(key == bindparam("row_id", type_=Integer)).exists()))


def count_rows(session: Session, query: ListQuery, params: dict) -> int:
    """The list's number of rows (its pager's total)."""
    return session.scalar(query.count, params) or 0


def in_list(session: Session, query: ListQuery, params: dict, row_id: int) -> bool:
    """Whether the row is (still) one of the list's rows: the list's own conditions decide."""
    return bool(session.scalar(query.member, {**params, "row_id": int(row_id)}))


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
