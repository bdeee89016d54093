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
from boxes.oem import board as oem_board
from boxes.web import db, render_block, render_page, requires_role

# The appointment rules a row's buttons follow, from the service module (templates hold no rules).
bp.add_app_template_global(appointments.is_to_confirm, "is_to_confirm")
bp.add_app_template_global(appointments.is_no_show, "is_no_show")
# An OEM lead's row: its first-contact deadline and the link to its integration log.
bp.add_app_template_global(oem_board.first_contact_overdue, "first_contact_overdue")
bp.add_app_template_global(oem_board.log_url, "lead_log_url")


@bp.get("/")
def index():
    return redirect(url_for("board.opportunities_list"))


@bp.get("/badges")
def badge_counts():
    """Polled by the page so the counts stay live while a caller works."""
    return render_block(TEMPLATE, "badges", badges=badges(db(), g.dealer, windows()),
                        button=request.args.get("button"))


# The five lists, one page each: button → URL (the endpoint is ``board.<button>_list``).
LIST_URLS = {
    "deliveries": "/board/deliveries",
    "opportunities": "/board/opportunities",
    "appointments": "/board/appointments",
    "in_process": "/board/in-process",
    "completed": "/board/completed",
}


def _list_page(button: str):
    """The page of a button's list: the whole board, or for htmx the list and the badges out of band."""
    def page():
        return render_page(TEMPLATE, ["list", "badges_oob"], oob=True, **page_context(button, windows()))

    page.__name__ = f"{button}_list"
    return requires_role(*BOARD_ROLES)(page)


for _button, _url in LIST_URLS.items():
    bp.add_url_rule(_url, f"{_button}_list", _list_page(_button), methods=["GET"])
