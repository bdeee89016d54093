"""What the board's pages and its row actions both need of a list: each button's filters read from a
URL's query, its template context, the list a caller is on (``ListView``, from its URL), its
numbers after an action and whether a row is still in it, and the badges a page renders with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from flask import current_app, g, request, url_for
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import HTTPException

from boxes.board import appointments, completed, deliveries, in_process, opportunities
from boxes.board.badges import badges
from boxes.board.windows import BoardWindows
from boxes.inputs import row_id
from boxes.models.opportunities import OPPORTUNITY_ORIGINS
from boxes.paging import Page, clamp_page
from boxes.web import db, is_fragment_request

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


# The lists one filter shapes (``statements.FilteredList``: its name, choices and default).
FILTERED_LISTS = {"deliveries": deliveries.LIST, "in_process": in_process.LIST, "completed": completed.LIST}


# Each button's filters, read from a list URL's query (the request's own, or the list an action
# was made on); anything unknown falls back to the default.
def _filters(button: str, args) -> dict:
    if button == "opportunities":
        return {"origin": _choice(args, "origin", OPPORTUNITY_ORIGINS, ""), "campaign": row_id(args.get("campaign"))}
    if button == "appointments":
        return {"view": _choice(args, "view", appointments.SUB_VIEWS, "to_confirm")}
    one_filter = FILTERED_LISTS[button]
    return {one_filter.name: _choice(args, one_filter.name, one_filter.choices, one_filter.default)}


# Each button's list, as template context built from the filters.

def _filtered_list(button: str) -> Callable[[BoardWindows, Any], dict]:
    """The context of a list one filter shapes (Deliveries, In process, Services completed)."""
    def context(w: BoardWindows, args) -> dict:
        f = _filters(button, args)
        page = FILTERED_LISTS[button].page(db(), g.dealer, w, **f, page=_page(args), per_page=_per_page())
        return dict(page=page, filters=f)

    return context


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


LIST_CONTEXT = {
    "deliveries": _filtered_list("deliveries"),
    "opportunities": opportunities_context,
    "appointments": appointments_context,
    "in_process": _filtered_list("in_process"),
    "completed": _filtered_list("completed"),
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
    else:
        total = FILTERED_LISTS[view.button].count(s, dealer, w, **f)
    ctx["page"] = Page(rows=[], page=_page(view.args), per_page=_per_page(), total=total)
    return ctx


def row_in_list(view: ListView, w: BoardWindows, row_id: int) -> bool:
    """Whether the row an action was made on is still one of the list's rows."""
    s, dealer, f = db(), g.dealer, view.filters
    if view.button == "opportunities":
        return opportunities.contains(s, dealer, w, row_id, origin=f["origin"] or None, campaign_id=f["campaign"])
    if view.button == "appointments":
        return appointments.contains(s, dealer, w, row_id, view=f["view"])
    return FILTERED_LISTS[view.button].contains(s, dealer, w, row_id, **f)


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
