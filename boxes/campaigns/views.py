"""The campaign manager's blueprint (★ on the board): /d/<code>/campaigns.

Thin views: parse the request, call ``search`` / ``selection`` / ``service``, render one template
(``campaigns/campaigns.html``) whole or as named blocks for htmx.
"""

from __future__ import annotations

import contextlib

from flask import abort, current_app, flash, g, redirect, request, url_for
from flask_babel import gettext
from flask_htmx import make_response
from flask_htmx.responses import HTMXResponseClientRedirect, HTMXResponseStopPolling
from flask_login import current_user

from boxes import outage
from boxes.board.badges import BUTTON_ROLES
from boxes.board.lists import nav_badges
from boxes.board.windows import BoardWindows
from boxes.campaigns import search, service
from boxes.campaigns.forms import CampaignSearchForm, ProcessForm, SelectUnitForm
from boxes.campaigns.selection import Searches
from boxes.errors import ActionError
from boxes.forms import field_errors
from boxes.models.campaigns import CAMPAIGN_KINDS
from boxes.paging import Page, clamp_page
from boxes.web import db, dealer_blueprint, htmx, redis_client, render_page, requires_role
from jobs.campaigns import enqueue_campaign

bp = dealer_blueprint("campaigns", __name__, "/campaigns")
TEMPLATE = "campaigns/campaigns.html"
ROLES = BUTTON_ROLES["campaigns"]
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
    return _new_campaign_step(["list", "badges_oob"], request.args.get("search"))


@bp.post("/new")
@requires_role(*ROLES)
def run_search():
    form = CampaignSearchForm()
    text = form.ids.data
    try:
        errors = {} if form.validate() else field_errors(form)
        upload = form.upload.data
        if not errors and upload is not None and upload.filename:
            text = text + "\n" + search.read_upload(upload.filename, upload.read())
        errors |= form.list_errors(text)
        if errors:
            raise ActionError(errors)
        criteria = form.criteria(text)
        report = None
        if criteria.id_kind:
            criteria.vehicle_ids, report = search.resolve_list(db(), g.dealer, criteria.id_kind, text)
    except ActionError as exc:
        ctx = _step_context(None, errors=exc.errors, form=request.form)
        return render_page(TEMPLATE, ["list"], **_shell("new", **ctx)), 422
    search_id = _searches().save(criteria, report, pasted=form.ids.data)
    target = url_for("campaigns.new", search=search_id)
    if htmx:
        return make_response(_new_campaign_step(["list"], search_id), push_url=target)
    return redirect(target)


def _loaded_search() -> tuple[str, Searches, search.Criteria]:
    """The search the request names (``?search=``): its id, the user's searches and its criteria; 404 when
    it is not one of this user's (or it expired)."""
    search_id, searches = request.args.get("search"), _searches()
    loaded = searches.load(search_id)
    if loaded is None:
        abort(404)
    return search_id, searches, loaded[0]


def _new_campaign_step(blocks: list[str], search_id: str | None):
    """The "new campaign" page (its search, results, selection and process form), whole or as ``blocks``."""
    return render_page(TEMPLATE, blocks, **_shell("new", **_step_context(search_id)))


@bp.post("/new/select")
@requires_role(*ROLES)
def select_unit():
    search_id, searches, criteria = _loaded_search()
    form = SelectUnitForm()
    form.validate()
    vehicle_id = form.vehicle_id.data
    if not vehicle_id:  # none, or no id at all
        abort(404)
    # Only a unit of this search (and so of this dealer) can be selected.
    if form.on.data and not search.matches(db(), g.dealer, criteria, vehicle_id):
        abort(404)
    searches.select(search_id, [vehicle_id], on=form.on.data)
    return _new_campaign_step(["totals"], search_id)


@bp.post("/new/select-all")
@requires_role(*ROLES)
def select_all():
    search_id, searches, criteria = _loaded_search()
    searches.select(search_id, search.matching_ids(db(), g.dealer, criteria))
    return _new_campaign_step(["results"], search_id)


@bp.post("/new/clear")
@requires_role(*ROLES)
def clear_selection():
    search_id, searches, _criteria = _loaded_search()
    searches.clear(search_id)
    return _new_campaign_step(["results"], search_id)


@bp.post("/new/process")
@requires_role(*ROLES)
def process():
    search_id, searches, criteria = _loaded_search()
    matching = set(search.matching_ids(db(), g.dealer, criteria))
    chosen = [i for i in searches.selected(search_id) if i in matching]
    form = ProcessForm()
    try:
        if not form.validate():
            raise ActionError(field_errors(form))
        every_unit_confirmed = form.confirm_all.data if criteria.is_empty() else None
        if form.mode.data == "add":
            campaign = service.add_units(db(), g.dealer, current_user, form.campaign_id.data, chosen,
                                         every_unit_confirmed=every_unit_confirmed)
        else:
            campaign = service.create_campaign(
                db(), g.dealer, current_user, name=form.name.data, kind=form.kind.data, due_date=form.due_date.data,
                assignment=form.assignment.data, assigned_user_id=form.assigned_user_id.data, note=form.note.data,
                vehicle_ids=chosen, every_unit_confirmed=every_unit_confirmed)
    except ActionError as exc:
        db().rollback()
        ctx = _step_context(search_id, process_errors=exc.errors, process_form=request.form)
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
    return _to_campaign(campaign)


def _to_campaign(campaign):
    """After a change: the campaign's page (htmx: a client redirect)."""
    target = url_for("campaigns.detail", campaign_id=campaign.id)
    if htmx:
        return HTMXResponseClientRedirect(target, status=204)
    return redirect(target)


def _enqueue(campaign) -> None:
    job_id = enqueue_campaign(redis_client(), campaign.id)
    service.mark_queued(db(), g.dealer, current_user, campaign, job_id)


def _campaign(campaign_id: int):
    return service.get_campaign(db(), g.dealer, campaign_id)


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
    return _to_campaign(campaign)
