"""Integrations → DMS (admins), under /d/<dealer_code>/admin/integrations/. Thin: parse (``forms``), call
``boxes.dms.admin``, render. The status block is polled by htmx while a sync runs."""

from __future__ import annotations

from flask import current_app, flash, g, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user

from boxes.dms import admin
from boxes.dms.forms import DmsConnectorForm
from boxes.dms.records import ENTITIES
from boxes.errors import ActionError
from boxes.forms import ActionForm
from boxes.models.integration import CONNECTOR_KINDS
from boxes.web import db, dealer_blueprint, redis_client, render_page, requires_role, submit_form

bp = dealer_blueprint("integrations", __name__, "/admin/integrations")
TEMPLATE = "integrations/dms.html"
RUN_TEMPLATE = "integrations/run.html"
SECRET_NAMES = {name for names in admin.SECRETS.values() for name in names}  # never sent back to the page


def _page(status: int = 200, blocks=("content",), **ctx):
    ctx.setdefault("errors", {})
    ctx.setdefault("form", None)
    info = admin.overview(db(), g.dealer)
    # Named, not shown as the server's path: where the root is on disk is the operator's business.
    folder = f"BOXES_CONNECTOR_ROOT/{g.dealer.code}"
    return render_page(TEMPLATE, list(blocks), info=info, kinds=CONNECTOR_KINDS, fields=admin.FIELDS,
                       secret_fields=admin.SECRETS, entities=ENTITIES, json_fields=admin.JSON_FIELDS,
                       connector_folder=folder, **ctx), status


@bp.get("/dms")
@requires_role("admin")
def dms_index():
    return _page()


@bp.get("/dms/status")
@requires_role("admin")
def dms_status():
    return _page(blocks=("status",))


@bp.post("/dms")
@requires_role("admin")
def save_dms():
    return submit_form(DmsConnectorForm, lambda f: admin.save(
        db(), g.dealer, current_user, f.typed(), config=current_app.config["BOXES"]),
        again=_page, saved=_("DMS connector saved."), to="integrations.dms_index", write_only=SECRET_NAMES)


@bp.post("/dms/sync")
@requires_role("admin")
def sync_now():
    return submit_form(ActionForm, lambda f: admin.request_sync(
        db(), g.dealer, current_user, redis_client(), current_app.config["BOXES"]),
        again=lambda status, errors, form: _page(status, errors=errors),
        saved=lambda outcome: {
            "queued": _("Sync queued."),
            "replaced": _("Sync queued: it replaces the retry that was scheduled for later."),
            "waiting": _("A sync is already queued: it starts as soon as a worker is free.")}[outcome],
        to="integrations.dms_index")


@bp.post("/dms/cursors/<entity>/reset")
@requires_role("admin")
def reset_cursor(entity: str):
    try:
        admin.reset_cursor(db(), g.dealer, current_user, entity)
    except ActionError as exc:
        db().rollback()
        return _page(422, errors=exc.errors)
    flash(_("Cursor reset: the next sync reads every record of this kind again."), "success")
    return redirect(url_for("integrations.dms_index"), code=303)


@bp.post("/dms/quarantine/retry")
@requires_role("admin")
def retry_all():
    totals = admin.retry(db(), g.dealer, current_user)
    flash(_("Retried: %(stored)d stored, %(quarantined)d still quarantined.", **totals), "success")
    return redirect(url_for("integrations.dms_index"), code=303)


@bp.post("/dms/quarantine/<int:record_id>/retry")
@requires_role("admin")
def retry_one(record_id: int):
    totals = admin.retry(db(), g.dealer, current_user, record_id)
    flash(_("Retried: %(stored)d stored, %(quarantined)d still quarantined.", **totals), "success")
    return redirect(url_for("integrations.dms_index"), code=303)


@bp.get("/dms/runs/<int:run_id>")
@requires_role("admin")
def run_detail(run_id: int):
    sync_run, entries = admin.get_run(db(), g.dealer, run_id)
    return render_page(RUN_TEMPLATE, ["content"], run=sync_run, entries=entries)
