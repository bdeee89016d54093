"""The board's pages: the five lists (``/d/<dealer_code>/board/...``), the dealer's index, the badges.

Views are thin: resolve the dealer (404 for non-members, so ids of other dealers never leak),
parse the filters, call the button's query, render one template — the whole page on a direct
load, the ``list`` block plus out-of-band badges for htmx (``boxes/board/lists.py``). The row
actions are in ``boxes/board/actions.py``, on the same blueprint (``boxes/board/__init__.py``).
"""

from __future__ import annotations

from flask import g, redirect, request, url_for

from boxes.board import appointments, bp
from boxes.board.badges import BOARD_ROLES, badges
from boxes.board.lists import TEMPLATE, page_context, windows
from boxes.web import db, render_block, render_page, requires_role

# The appointment rules a row's buttons follow, from the service module (templates hold no rules).
bp.add_app_template_global(appointments.is_to_confirm, "is_to_confirm")
bp.add_app_template_global(appointments.is_no_show, "is_no_show")


def _render(button: str):
    w = windows()
    return render_page(TEMPLATE, ["list", "badges_oob"], oob=True, **page_context(button, w))


@bp.get("/")
def index():
    return redirect(url_for("board.opportunities_list"))


@bp.get("/badges")
def badge_counts():
    """Polled by the page so the counts stay live while a caller works."""
    return render_block(TEMPLATE, "badges", badges=badges(db(), g.dealer, windows()),
                        button=request.args.get("button"))


@bp.get("/board/deliveries")
@requires_role(*BOARD_ROLES)
def deliveries_list():
    return _render("deliveries")


@bp.get("/board/opportunities")
@requires_role(*BOARD_ROLES)
def opportunities_list():
    return _render("opportunities")


@bp.get("/board/appointments")
@requires_role(*BOARD_ROLES)
def appointments_list():
    return _render("appointments")


@bp.get("/board/in-process")
@requires_role(*BOARD_ROLES)
def in_process_list():
    return _render("in_process")


@bp.get("/board/completed")
@requires_role(*BOARD_ROLES)
def completed_list():
    return _render("completed")
