"""The campaign manager's blueprint (★ on the board): /d/<code>/campaigns.

Thin views: parse the request, call ``search`` / ``selection`` / ``service``, render one template
(``campaigns/campaigns.html``) whole or as named blocks for htmx.
"""

from __future__ import annotations

import contextlib

from flask import abort, current_app, flash, g, make_response, redirect, request, url_for
from flask_babel import gettext
from flask_htmx.responses import HTMXResponseStopPolling
from flask_login import current_user

from boxes import outage
from boxes.board.common import Page, clamp_page
from boxes.board.views import nav_badges
from boxes.board.windows import BoardWindows
from boxes.campaigns import search, service
from boxes.campaigns.selection import Searches
from boxes.errors import ActionError, NotFound
from boxes.inputs import row_id
from boxes.models.campaigns import CAMPAIGN_KINDS
from boxes.web import db, dealer_blueprint, redis_client, render_page, requires_role
from jobs.campaigns import enqueue_campaign

bp = dealer_blueprint("campaigns", __name__, "/campaigns")
TEMPLATE = "campaigns/campaigns.html"
ROLES = ("campaigns", "manager")
PER_PAGE = 50


def _shell(view: str, **ctx) -> dict:
    w = BoardWindows.at(g.dealer.time_zone)
    return dict(button="campaigns", view=view, oob=True, badges=nav_badges(w), kinds=CAMPAIGN_KINDS,
                **ctx)


def _searches() -> Searches:
    return Searches(redis_client(), g.dealer.id, current_user.id)


def _per_page() -> int:
    return min(PER_PAGE, current_app.config["BOXES"].page_size)


@bp.get("")
@requires_role(*ROLES)
def campaigns_list():
    page = service.campaigns(db(), g.dealer, page=clamp_page(request.args.get("page")), per_page=_per_page())
    return render_page(TEMPLATE, ["list", "badges_oob"], **_shell("list", page=page))


def _step_context(search_id: str | None, *, errors=None, form=None, process_errors=None, process_form=None,
                  report=None) -> dict:
    searches = _searches()
    loaded = searches.load(search_id)
    ctx = dict(search_id=None, criteria=search.Criteria(), report=report, errors=errors or {}, form=form or {},
               process_errors=process_errors or {}, process_form=process_form or {},
               callers=service.callers(db(), g.dealer), pasted="")
    if loaded is None:
        return ctx
    criteria, report = loaded
    ctx.update(pasted=searches.pasted(search_id), every_unit=criteria.is_empty(),
               open_campaigns=service.open_campaigns(db(), g.dealer))
    total = search.count(db(), g.dealer, criteria)
    page_no = clamp_page(request.values.get("page"))
    per_page = _per_page()
    page_no = min(page_no, max(1, -(-total // per_page)))
    rows = search.page(db(), g.dealer, criteria, page=page_no, per_page=per_page)
    ctx.update(search_id=search_id, criteria=criteria, report=report, total=total,
               units=Page(rows=rows, page=page_no, per_page=per_page, total=total),
               selected=searches.selected(search_id), selected_count=searches.selected_count(search_id))
    return ctx


@bp.get("/new")
@requires_role(*ROLES)
def new():
    return render_page(TEMPLATE, ["list", "badges_oob"], **_shell("new", **_step_context(request.args.get("search"))))


@bp.post("/new")
@requires_role(*ROLES)
def run_search():
    list_errors: dict = {}
    text = search.list_text(request.form.get("ids"), list_errors)
    upload = request.files.get("upload")
    try:
        if upload is not None and upload.filename:
            text = text + "\n" + search.read_upload(upload.filename, upload.read())
        criteria, errors = search.parse_criteria(request.form, text)
        if errors or list_errors:
            raise ActionError(errors | list_errors)
        report = None
        if criteria.id_kind:
            criteria.vehicle_ids, report = search.resolve_list(db(), g.dealer, criteria.id_kind, text)
    except ActionError as exc:
        ctx = _step_context(None, errors=exc.errors, form=request.form)
        return render_page(TEMPLATE, ["list"], **_shell("new", **ctx)), 422
    search_id = _searches().save(criteria, report, pasted=request.form.get("ids", ""))
    target = url_for("campaigns.new", search=search_id)
    if request.headers.get("HX-Request"):
        response = make_response(render_page(TEMPLATE, ["list"], **_shell("new", **_step_context(search_id))))
        response.headers["HX-Push-Url"] = target
        return response
    return redirect(target)


def _loaded_search_id() -> str:
    search_id = request.args.get("search")
    if _searches().load(search_id) is None:
        abort(404)
    return search_id


@bp.post("/new/select")
@requires_role(*ROLES)
def select_unit():
    search_id = _loaded_search_id()
    vehicle_id = row_id(request.form.get("vehicle_id"))
    if vehicle_id is None:
        abort(404)
    searches = _searches()
    criteria, _ = searches.load(search_id)
    # Only a unit of this search (and so of this dealer) can be selected.
    if request.form.get("on") and not search.matches(db(), g.dealer, criteria, vehicle_id):
        abort(404)
    searches.select(search_id, [vehicle_id], on=bool(request.form.get("on")))
    return render_page(TEMPLATE, ["totals"], **_shell("new", **_step_context(search_id)))


@bp.post("/new/select-all")
@requires_role(*ROLES)
def select_all():
    search_id = _loaded_search_id()
    searches = _searches()
    criteria, _ = searches.load(search_id)
    searches.select(search_id, search.matching_ids(db(), g.dealer, criteria))
    return render_page(TEMPLATE, ["results"], **_shell("new", **_step_context(search_id)))


@bp.post("/new/clear")
@requires_role(*ROLES)
def clear_selection():
    search_id = _loaded_search_id()
    _searches().clear(search_id)
    return render_page(TEMPLATE, ["results"], **_shell("new", **_step_context(search_id)))


@bp.post("/new/process")
@requires_role(*ROLES)
def process():
    search_id = _loaded_search_id()
    searches = _searches()
    criteria, _ = searches.load(search_id)
    matching = set(search.matching_ids(db(), g.dealer, criteria))
    chosen = [i for i in searches.selected(search_id) if i in matching]
    form = request.form
    try:
        every_unit_confirmed = bool(form.get("confirm_all")) if criteria.is_empty() else None
        if form.get("mode") == "add":
            campaign = service.add_units(db(), g.dealer, current_user, form.get("campaign_id"), chosen,
                                         every_unit_confirmed=every_unit_confirmed)
        else:
            campaign = service.create_campaign(
                db(), g.dealer, current_user, name=form.get("name", ""), kind=form.get("kind", ""),
                due_date=form.get("due_date", ""), assignment=form.get("assignment", ""),
                assigned_user_id=form.get("assigned_user_id"), note=form.get("note", ""), vehicle_ids=chosen,
                every_unit_confirmed=every_unit_confirmed)
    except NotFound:
        db().rollback()
        abort(404)
    except ActionError as exc:
        db().rollback()
        ctx = _step_context(search_id, process_errors=exc.errors, process_form=form)
        return render_page(TEMPLATE, ["process_form"], **_shell("new", **ctx)), 422
    try:
        _enqueue(campaign)
    except outage.UNAVAILABLE:
        # The campaign is saved: the campaign sweep starts it once Redis is back. A 503 here would
        # invite the user to save it a second time.
        current_app.logger.warning("campaign %s saved, its job not queued: Redis unavailable", campaign.id,
                                   exc_info=True)
        flash(gettext("The campaign was saved. It starts by itself within a few minutes, when the job "
                      "service answers again."), "warning")
    else:
        with contextlib.suppress(*outage.UNAVAILABLE):  # the selection expires by itself anyway
            searches.clear(search_id)
    target = url_for("campaigns.detail", campaign_id=campaign.id)
    if request.headers.get("HX-Request"):
        response = make_response("", 204)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


def _enqueue(campaign) -> None:
    job_id = enqueue_campaign(redis_client(), campaign.id)
    service.mark_queued(db(), g.dealer, current_user, campaign, job_id)


def _campaign(campaign_id: int):
    try:
        return service.get_campaign(db(), g.dealer, campaign_id)
    except NotFound:
        abort(404)


@bp.get("/<int:campaign_id>")
@requires_role(*ROLES)
def detail(campaign_id: int):
    return render_page(TEMPLATE, ["list", "badges_oob"], **_shell("detail", campaign=_campaign(campaign_id)))


@bp.get("/<int:campaign_id>/opportunities")
@requires_role(*ROLES)
def opportunities(campaign_id: int):
    """The campaign's own list of opportunities: the board shows only those due within ±15 days."""
    campaign = _campaign(campaign_id)
    page = service.campaign_opportunities(db(), g.dealer, campaign, page=clamp_page(request.args.get("page")),
                                          per_page=_per_page())
    return render_page(TEMPLATE, ["list", "badges_oob"], **_shell("opportunities", campaign=campaign, page=page))


@bp.get("/<int:campaign_id>/progress")
@requires_role(*ROLES)
def progress(campaign_id: int):
    campaign = _campaign(campaign_id)
    body = render_page(TEMPLATE, ["progress"], **_shell("detail", campaign=campaign))
    if campaign.status in ("done", "failed"):
        return HTMXResponseStopPolling(body)  # the job is over (a dead one: see service.recover)
    return body


@bp.post("/<int:campaign_id>/run")
@requires_role(*ROLES)
def rerun(campaign_id: int):
    """Run the job again (after a crash or a failure): it resumes and never duplicates."""
    campaign = _campaign(campaign_id)
    if campaign.status != "done":
        _enqueue(campaign)
    target = url_for("campaigns.detail", campaign_id=campaign.id)
    if request.headers.get("HX-Request"):
        response = make_response("", 204)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)
