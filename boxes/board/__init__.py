"""The board: one module per button (its statements, counts and actions), the badges, and the
blueprint every board URL is on — ``views`` (the lists) and ``actions`` (the row actions) put their
routes on it; ``lists`` is what both need of a list (its filters, context, numbers)."""

from __future__ import annotations

from boxes.web import dealer_blueprint

bp = dealer_blueprint("board", __name__)
