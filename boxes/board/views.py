"""The board blueprint: every URL under /d/<dealer_code>/.

Views are thin: resolve the dealer (404 for non-members, so ids of other dealers never leak),
parse the filters, call the button's query, render one template — the whole page on a direct
load, the ``list`` block plus out-of-band badges for htmx. The row actions are in
``boxes/board/actions.py`` on the same blueprint.
"""

from __future__ import annotations

from flask import current_app, g, redirect, request, url_for

from boxes.board import appointments, completed, deliveries, in_process, opportunities
from boxes.board.badges import badges
from boxes.board.common import clamp_page
from boxes.board.windows import BoardWindows
from boxes.inputs import row_id
from boxes.models.opportunities import OPPORTUNITY_ORIGINS
from boxes.web import db, dealer_blueprint, is_fragment_request, render_block, render_page, requires_role

bp = dealer_blueprint("board", __name__)
# The appointment rules a row's buttons follow, from the service module (templates hold no rules).
bp.add_app_template_global(appointments.is_to_confirm, "is_to_confirm")
bp.add_app_template_global(appointments.is_no_show, "is_no_show")

TEMPLATE = "board/board.html"
BOARD_ROLES = ("caller", "manager", "campaigns")


def windows() -> BoardWindows:
    return BoardWindows.at(g.dealer.time_zone)


def _per_page() -> int:
    return current_app.config["BOXES"].page_size


def _choice(name: str, allowed, default: str) -> str:
    value = request.args.get(name, default)
    return value if value in allowed else default


def _page() -> int:
    return clamp_page(request.args.get("page"))


# Each button's list, as template context built from the request's filters.

def deliveries_context(w: BoardWindows) -> dict:
    welcome = _choice("welcome", deliveries.WELCOME_FILTERS, "pending")
    page = deliveries.deliveries(db(), g.dealer, w, welcome=welcome, page=_page(), per_page=_per_page())
    return dict(page=page, filters={"welcome": welcome})


def opportunities_context(w: BoardWindows) -> dict:
    origin = _choice("origin", OPPORTUNITY_ORIGINS, "")
    campaign_id = row_id(request.args.get("campaign"))  # beyond any id: no such campaign, all of them
    page, groups = opportunities.opportunities_and_groups(db(), g.dealer, w, origin=origin or None,
                                                          campaign_id=campaign_id, page=_page(),
                                                          per_page=_per_page())
    return dict(
        page=page,
        groups=groups,
        campaign_choices=opportunities.campaigns_with_open_opportunities(db(), g.dealer),
        filters={"origin": origin, "campaign": campaign_id},
    )


def appointments_context(w: BoardWindows) -> dict:
    view = _choice("view", appointments.SUB_VIEWS, "to_confirm")
    sub_counts = appointments.sub_view_counts(db(), g.dealer, w)
    page = appointments.appointments(db(), g.dealer, w, view=view, page=_page(), per_page=_per_page(),
                                     total=sub_counts[view])
    return dict(page=page, sub_counts=sub_counts, filters={"view": view})


def in_process_context(w: BoardWindows) -> dict:
    opened = _choice("opened", in_process.OPENED_FILTERS, "all")
    page = in_process.in_process(db(), g.dealer, w, opened=opened, page=_page(), per_page=_per_page())
    return dict(page=page, filters={"opened": opened})


def completed_context(w: BoardWindows) -> dict:
    courtesy = _choice("courtesy", completed.COURTESY_FILTERS, "pending")
    page = completed.completed(db(), g.dealer, w, courtesy=courtesy, page=_page(), per_page=_per_page())
    return dict(page=page, filters={"courtesy": courtesy})


LIST_CONTEXT = {
    "deliveries": deliveries_context,
    "opportunities": opportunities_context,
    "appointments": appointments_context,
    "in_process": in_process_context,
    "completed": completed_context,
}
LIST_ENDPOINT = {
    "deliveries": "board.deliveries_list",
    "opportunities": "board.opportunities_list",
    "appointments": "board.appointments_list",
    "in_process": "board.in_process_list",
    "completed": "board.completed_list",
}


def nav_badges(w: BoardWindows):
    """The badges a page renders with itself. A full page shows them in its button bar; an htmx
    navigation (another button, a filter, a page) does not wait for them: its fragment carries a
    loader that fetches ``/badges`` at once, so the list arrives without the seven counts and the
    bar is refreshed a moment later (``badges_update`` in ``board/_macros.html``)."""
    return None if is_fragment_request() else badges(db(), g.dealer, w)


def page_context(button: str, w: BoardWindows, **extra) -> dict:
    """Everything the board template needs to render the page with ``button`` open."""
    return dict(
        button=button,
        badges=nav_badges(w),
        windows=w,
        **LIST_CONTEXT[button](w),
        **extra,
    )


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


from boxes.board import actions  # noqa: E402,F401  (registers the row actions on bp)
