"""Integrations → OEM, under /d/<dealer_code>/admin/integrations/oem: the connector and the lead settings
(admins), and the integration log (admins and managers: ``LOG_ROLES``). Thin: parse (``forms``), call
``boxes.oem.admin`` / ``boxes.oem.log``, render.

The board's lead rows link to one lead's log: ``url_for("oem.log_index", lead=<lead id>)``, for the
users with one of ``LOG_ROLES`` (admins always)."""

from __future__ import annotations

import contextlib

from flask import current_app, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from boxes import outage
from boxes.errors import ActionError
from boxes.forms import ActionForm, field_errors
from boxes.models.oem import DISTRIBUTED_LEAD_TYPES
from boxes.oem import admin, log, relay
from boxes.oem.forms import LogSearchForm, OemConnectorForm, OemDistributionForm
from boxes.oem.log import LOG_ROLES
from boxes.paging import clamp_page
from boxes.web import (
    db,
    dealer_blueprint,
    is_fragment_request,
    redis_client,
    render_page,
    requires_role,
    submit_form,
)
from jobs.oem_relay import enqueue_relay

bp = dealer_blueprint("oem", __name__, "/admin/integrations")
TEMPLATE = "integrations/oem.html"
LOG_TEMPLATE = "integrations/oem_log.html"
MAX_DEAD_SHOWN = 100  # the dead letters listed under the log


def _page(status: int = 200, *, submitted: str = "", **ctx):
    """The page; after a refused form, ``submitted`` names it (``connector``, ``distribution``): only
    that form shows what was typed."""
    ctx.setdefault("errors", {})
    ctx.setdefault("form", None)
    return render_page(TEMPLATE, ["content"], info=admin.overview(db(), g.dealer), submitted=submitted,
                       number_defaults=admin.NUMBER_DEFAULTS, lead_numbers=admin.LEAD_NUMBERS,
                       lead_types=DISTRIBUTED_LEAD_TYPES, route_keys=admin.ROUTE_KEYS, **ctx), status


@bp.get("/oem")
@requires_role("admin")
def index():
    return _page()


@bp.post("/oem")
@requires_role("admin")
def save():
    return submit_form(OemConnectorForm, lambda f: admin.save(
        db(), g.dealer, current_user, f.typed(), config=current_app.config["BOXES"]),
        again=lambda status, **ctx: _page(status, submitted="connector", **ctx),
        saved=_("OEM connector saved."), to="oem.index", write_only=set(admin.SECRETS))


@bp.post("/oem/leads")
@requires_role("admin")
def save_distribution():
    return submit_form(OemDistributionForm, lambda f: admin.save_distribution(db(), g.dealer, current_user, f.typed()),
                       again=lambda status, **ctx: _page(status, submitted="distribution", **ctx),
                       saved=_("Lead settings saved."), to="oem.index")


@bp.post("/oem/try-again")
@requires_role("admin")
def try_again():
    if admin.try_again(db(), g.dealer, current_user):
        flash(_("The OEM's refusal is forgotten: the next import asks for a token again."), "success")
    return redirect(url_for("oem.index"), code=303)


@bp.post("/oem/import")
@requires_role("admin")
def import_leads_now():
    return submit_form(ActionForm, lambda f: admin.request_import(
        db(), g.dealer, current_user, redis_client(), current_app.config["BOXES"]),
        again=lambda status, errors, form: _page(status, errors=errors),
        saved=lambda outcome: {
            "queued": _("Import queued."),
            "replaced": _("Import queued: it replaces the retry that was scheduled for later."),
            "waiting": _("An import is already queued: it starts as soon as a worker is free.")}[outcome],
        to="oem.index")


# --- the integration log -----------------------------------------------------------------------------

def _log(**ctx) -> dict:
    """The log's search from the query string, its page of calls and the dead letters (the relay's: the
    status events it gave up on, one lead's when searching by lead)."""
    form = LogSearchForm(formdata=request.args)
    criteria = form.typed()
    errors: dict = {}
    results = None
    try:
        if not form.validate():
            raise ActionError(field_errors(form))
        results = log.search(db(), g.dealer, criteria, page=clamp_page(request.args.get("page")),
                             per_page=current_app.config["BOXES"].page_size)
    except ActionError as exc:
        errors = exc.errors
    dead = relay.dead_letter(db(), g.dealer, lead="" if errors else criteria.lead, limit=MAX_DEAD_SHOWN)
    return dict(results=results, criteria=criteria, errors=errors, form=request.args.to_dict(), dead=dead,
                dead_limit=MAX_DEAD_SHOWN, can_resend="admin" in g.roles, **ctx)


@bp.get("/oem/log")
@requires_role(*LOG_ROLES)
def log_index():
    return render_page(LOG_TEMPLATE, ["list"], **_log(selected=None))


@bp.get("/oem/log/<int:call_id>")
@requires_role(*LOG_ROLES)
def log_call(call_id: int):
    row = log.call(db(), g.dealer, call_id)
    bodies = {"request": log.pretty(row.request_body), "response": log.pretty(row.response)}
    if is_fragment_request():
        return render_page(LOG_TEMPLATE, ["detail"], selected=row, bodies=bodies)
    return render_page(LOG_TEMPLATE, [], **_log(selected=row, bodies=bodies))


@bp.post("/oem/events/<int:event_id>/resend")
@requires_role("admin")
def resend_event(event_id: int):
    """"Resend" on an event the relay gave up on: back in line for its lead, and the relay queued now."""
    try:
        event = relay.resend(db(), g.dealer, current_user, event_id)
    except ActionError as exc:  # sent meanwhile, or already back in line (a second click)
        db().rollback()
        flash(str(next(iter(exc.errors.values()))), "warning")
        return redirect(url_for("oem.log_index"), code=303)
    with contextlib.suppress(*outage.UNAVAILABLE):  # Redis down: the relay's cron round takes it
        enqueue_relay(redis_client(), g.dealer.id)
    flash(_("The %(trigger)s event of lead %(lead)s goes to the OEM again.", trigger=event.trigger,
            lead=event.lead_id), "success")
    return redirect(url_for("oem.log_index", lead=event.lead_id), code=303)
