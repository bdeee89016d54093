"""The one way to write an audit row. Callers commit it in the same transaction as the change."""

from __future__ import annotations

from flask import g, has_request_context
from sqlalchemy.orm import Session

from boxes.models import AuditLog


def record(session: Session, *, dealer_id: int | None, user_id: int | None, action: str, entity: str,
           entity_id: int | None, data: dict | None = None) -> AuditLog:
    request_id = g.get("request_id") if has_request_context() else None
    row = AuditLog(dealer_id=dealer_id, user_id=user_id, action=action, entity=entity,
                   entity_id=entity_id, data=data or {}, request_id=request_id)
    session.add(row)
    return row
