"""Rows a dealer owns, looked up by an id from outside and written with optimistic locking. Every
service that acts on one of the dealer's rows (the board's actions, settings, messaging, campaigns)
finds it here: another dealer's id is simply not found."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from boxes.errors import Conflict, NotFound
from boxes.inputs import row_id as parse_id


def get_owned(session: Session, model, dealer_id: int, row_id, *, lock: bool = False):
    """The dealer's row with that id, or NotFound (another dealer's id is simply not found)."""
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
    try:
        session.commit()
    except StaleDataError:
        session.rollback()
        raise Conflict() from None
