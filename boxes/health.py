"""/healthz: is the database reachable, is Redis reachable."""

from __future__ import annotations

import logging

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from boxes import outage
from boxes.web import db

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.get("/healthz")
def healthz():
    checks = {}
    try:
        db().execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "not healthy"; the reason goes to the log only
        log.warning("health: database check failed: %s", exc)
        checks["database"] = "error"
    try:
        outage.ping(current_app)  # for real, even while web requests skip Redis (boxes.outage)
        checks["redis"] = "ok"
    except Exception as exc:
        log.warning("health: redis check failed: %s", exc)
        checks["redis"] = "error"
    healthy = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if healthy else "error", **checks), 200 if healthy else 503
