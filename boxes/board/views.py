"""The board blueprint: every URL under /d/<dealer_code>/.

Views are thin: resolve the dealer (404 for non-members, so ids of other dealers never leak),
parse the filters, call the button's query, render one template — the whole page on a direct
load, the ``list`` block plus out-of-band badges for htmx. The row actions are in
``boxes/board/actions.py`` on the same blueprint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from flask import current_app, g, redirect, request, url_for
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import HTTPException

from boxes.board import appointments, completed, deliveries, in_process, opportunities
from boxes.board.badges import BOARD_ROLES, badges
from boxes.board.common import Page, clamp_page
from boxes.board.windows import BoardWindows
from boxes.inputs import row_id
from boxes.models.opportunities import OPPORTUNITY_ORIGINS
from boxes.web import db, dealer_blueprint, is_fragment_request, render_block, render_page, requires_role

bp = dealer_blueprint("board", __name__)
# The appointment rules a row's buttons follow, from the service module (templates hold no rules).
bp.add_app_template_global(appointments.is_to_confirm, "is_to_confirm")
bp.add_app_template_global(appointments.is_no_show, "is_no_show")

TEMPLATE = "board/board.html"


def windows() -> BoardWindows:
    return BoardWindows.at(g.dealer.time_zone)


def _per_page() -> int:
    return current_app.config["BOXES"].page_size


def _choice(args, name: str, allowed, default: str) -> str:
    value = args.get(name, default)
    return value if value in allowed else default


def _page(args) -> int:
    return clamp_page(args.get("page"))


# Each button's filters, read from a list URL's query (the request's own, or the list an action
# was made on); anything unknown falls back to the default.
def _filters(button: str, args) -> dict:
    if button == "deliveries":
        return {"welcome": _choice(args, "welcome", deliveries.WELCOME_FILTERS, "pending")}
    if button == "opportunities":
        return {"origin": _choice(args, "origin", OPPORTUNITY_ORIGINS, ""), "campaign": row_id(args.get("campaign"))}
    if button == "appointments":
        return {"view": _choice(args, "view", appointments.SUB_VIEWS, "to_confirm")}
    if button == "in_process":
        return {"opened": _choice(args, "opened", in_process.OPENED_FILTERS, "all")}
    return {"courtesy": _choice(args, "courtesy", completed.COURTESY_FILTERS, "pending")}


# Each button's list, as template context built from the filters.

def deliveries_context(w: BoardWindows, args) -> dict:
    f = _filters("deliveries", args)
    page = deliveries.deliveries(db(), g.dealer, w, welcome=f["welcome"], page=_page(args), per_page=_per_page())
    return dict(page=page, filters=f)


def opportunities_context(w: BoardWindows, args) -> dict:
    f = _filters("opportunities", args)
    page, groups = opportunities.opportunities_and_groups(db(), g.dealer, w, origin=f["origin"] or None,
                                                          campaign_id=f["campaign"], page=_page(args),
                                                          per_page=_per_page())
    return dict(
        page=page,
        groups=groups,
        campaign_choices=opportunities.campaigns_with_open_opportunities(db(), g.dealer),
        filters=f,
    )


def appointments_context(w: BoardWindows, args) -> dict:
    f = _filters("appointments", args)
    sub_counts = appointments.sub_view_counts(db(), g.dealer, w)
    page = appointments.appointments(db(), g.dealer, w, view=f["view"], page=_page(args), per_page=_per_page(),
                                     total=sub_counts[f["view"]])
    return dict(page=page, sub_counts=sub_counts, filters=f)


def in_process_context(w: BoardWindows, args) -> dict:
    f = _filters("in_process", args)
    page = in_process.in_process(db(), g.dealer, w, opened=f["opened"], page=_page(args), per_page=_per_page())
    return dict(page=page, filters=f)


def completed_context(w: BoardWindows, args) -> dict:
    f = _filters("completed", args)
    page = completed.completed(db(), g.dealer, w, courtesy=f["courtesy"], page=_page(args), per_page=_per_page())
    return dict(page=page, filters=f)


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
ENDPOINT_LIST = {endpoint: button for button, endpoint in LIST_ENDPOINT.items()}


@dataclass(frozen=True)
class ListView:
    """The list a caller is on — button, filters, page — as its URL says. A row action is made on a
    list: its answer redraws the row with that list's markup and columns and refreshes that list's
    numbers and the button bar with that button active, so it must know which list it is."""

    button: str
    args: ImmutableMultiDict = field(default_factory=ImmutableMultiDict)

    @property
    def url(self) -> str:
        return url_for(LIST_ENDPOINT[self.button], **self.args.to_dict())

    def url_with(self, **changes) -> str:
        """This list's URL with some query arguments changed (its tabs and pager links)."""
        return url_for(LIST_ENDPOINT[self.button], **{**self.args.to_dict(), **changes})

    @property
    def filters(self) -> dict:
        return _filters(self.button, self.args)


def list_view_of(url: str | None) -> ListView | None:
    """The board list at ``url`` (a path or a full URL of this app), or None when it is no list of
    the current dealer."""
    if not url:
        return None
    parts = urlsplit(url)
    path = parts.path
    root = request.script_root
    if root and path.startswith(root):
        path = path[len(root):]
    try:
        endpoint, values = current_app.url_map.bind_to_environ(request.environ).match(path, method="GET")
    except HTTPException:  # NotFound, MethodNotAllowed, RequestRedirect: not a list URL
        return None
    button = ENDPOINT_LIST.get(endpoint)
    if button is None or values.get("dealer_code") != g.dealer.code:
        return None
    return ListView(button, ImmutableMultiDict(parse_qsl(parts.query)))


def list_numbers(view: ListView, w: BoardWindows) -> dict:
    """The list's own numbers without its rows (after an action): the pager's total, and the
    opportunity groups or the sub-view tabs — the same queries the list itself counts with."""
    s, dealer, f = db(), g.dealer, view.filters
    ctx: dict = {"filters": f}
    if view.button == "opportunities":
        ctx["groups"] = opportunities.group_counts(s, dealer, w, origin=f["origin"] or None, campaign_id=f["campaign"])
        total = sum(ctx["groups"].values())
    elif view.button == "appointments":
        ctx["sub_counts"] = appointments.sub_view_counts(s, dealer, w)
        total = ctx["sub_counts"][f["view"]]
    elif view.button == "deliveries":
        total = deliveries.count(s, dealer, w, welcome=f["welcome"])
    elif view.button == "in_process":
        total = in_process.count(s, dealer, w, opened=f["opened"])
    else:
        total = completed.count(s, dealer, w, courtesy=f["courtesy"])
    ctx["page"] = Page(rows=[], page=_page(view.args), per_page=_per_page(), total=total)
    return ctx


def row_in_list(view: ListView, w: BoardWindows, row_id: int) -> bool:
    """Whether the row an action was made on is still one of the list's rows."""
    s, dealer, f = db(), g.dealer, view.filters
    if view.button == "opportunities":
        return opportunities.contains(s, dealer, w, row_id, origin=f["origin"] or None, campaign_id=f["campaign"])
    if view.button == "appointments":
        return appointments.contains(s, dealer, w, row_id, view=f["view"])
    if view.button == "deliveries":
        return deliveries.contains(s, dealer, w, row_id, welcome=f["welcome"])
    if view.button == "in_process":
        return in_process.contains(s, dealer, w, row_id, opened=f["opened"])
    return completed.contains(s, dealer, w, row_id, courtesy=f["courtesy"])


def nav_badges(w: BoardWindows):
    """The badges a page renders with itself. A full page shows them in its button bar; an htmx
    navigation (another button, a filter, a page) does not wait for them: its fragment carries a
    loader that fetches ``/badges`` at once, so the list arrives without the seven counts and the
    bar is refreshed a moment later (``badges_update`` in ``board/_macros.html``)."""
    return None if is_fragment_request() else badges(db(), g.dealer, w)


def page_context(button: str, w: BoardWindows, args=None, **extra) -> dict:
    """Everything the board template needs to render the page with ``button`` open (its filters
    and page from ``args``, the request's query by default)."""
    return dict(
        button=button,
        badges=nav_badges(w),
        windows=w,
        **LIST_CONTEXT[button](w, request.args if args is None else args),
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
