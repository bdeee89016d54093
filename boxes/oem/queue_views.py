"""The distribution queue's page (managers): /d/<dealer_code>/leads/queue. Thin: the page lists the queue
(``boxes.oem.queue``) under the board's button bar; its form posts the leads ticked and how to hand them out
(``DistributeForm``), then back to the page (post/redirect/get) with what was done, or 422 with the
message beside the field, or 409 when a lead changed meanwhile (nothing was handed out)."""

from __future__ import annotations

from flask import current_app, g, request
from flask_babel import ngettext
from flask_login import current_user

from boxes.board.lists import nav_badges
from boxes.board.windows import BoardWindows
from boxes.errors import Conflict
from boxes.oem import queue
from boxes.oem.queue_forms import DistributeForm
from boxes.paging import clamp_page
from boxes.web import db, dealer_blueprint, render_page, requires_role, submit_form

bp = dealer_blueprint("lead_queue", __name__, "/leads/queue")
TEMPLATE = "oem/queue.html"
ROLES = ("manager",)  # and admins


def _page(status: int = 200, **ctx):
    ctx.setdefault("errors", {})
    ctx.setdefault("form", {})
    w = BoardWindows.at(g.dealer.time_zone)
    page = queue.queue(db(), g.dealer, page=clamp_page(request.args.get("page")),
                       per_page=current_app.config["BOXES"].page_size)
    return render_page(TEMPLATE, ["list", "badges_oob"], button="", oob=True, badges=nav_badges(w), windows=w,
                       page=page, callers=queue.caller_loads(db(), g.dealer),
                       cap=queue.open_leads_cap(db(), g.dealer), **ctx), status


@bp.get("")
@requires_role(*ROLES)
def index():
    return _page()


def _done(result: queue.Distribution) -> str:
    """What a distribution did, in one sentence or two."""
    message = ngettext("%(num)d lead handed out: %(who)s.", "%(num)d leads handed out: %(who)s.", result.total,
                       who=", ".join(f"{c.name} ({c.given})" for c in result.given)) if result.total else ""
    if result.left:
        message += " " + ngettext(
            "%(num)d lead stayed in the queue: no caller has room under the cap of %(cap)d open OEM leads.",
            "%(num)d leads stayed in the queue: no caller has room under the cap of %(cap)d open OEM leads.",
            result.left, cap=result.cap)
    return message.strip()


@bp.post("")
@requires_role(*ROLES)
def distribute():
    try:
        return submit_form(DistributeForm, lambda f: queue.distribute(
            db(), g.dealer, current_user, f.leads.data, how=f.how.data, user_id=f.user_id.data),
            again=_page, saved=_done, to="lead_queue.index")
    except Conflict:
        db().rollback()
        return _page(409, conflict=True, form=request.form.to_dict())
