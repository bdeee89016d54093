"""Managers' settings pages: the dealer's data and the discard-reason catalog. Thin views."""

from __future__ import annotations

from flask import abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from boxes.errors import ActionError, NotFound
from boxes.forms import field_errors
from boxes.models import DiscardReason
from boxes.owned import get_owned
from boxes.settings import dealer as dealer_settings
from boxes.settings import discard_reasons
from boxes.settings.forms import DealerSettingsForm, DiscardReasonForm
from boxes.web import db, dealer_blueprint, render_page, requires_role

bp = dealer_blueprint("settings", __name__, "/settings")
TEMPLATE = "settings/settings.html"


def _page(status: int = 200, **ctx):
    ctx.setdefault("errors", {})
    ctx.setdefault("form", {})
    return render_page(TEMPLATE, ["content"], reasons=discard_reasons.catalog(db(), g.dealer), **ctx), status


@bp.get("/")
@requires_role("manager")
def index():
    return _page()


@bp.post("/dealer")
@requires_role("manager")
def update_dealer():
    form = DealerSettingsForm()
    data = dealer_settings.DealerSettings(
        first_service_months=form.first_service_months.data, first_service_km=form.first_service_km.data,
        workshop_address=form.workshop_address.data, phone=form.phone.data, email=form.email.data,
        support_contact=form.support_contact.data, working_hours=form.working_hours())
    try:
        if not form.validate():
            raise ActionError(field_errors(form))
        dealer_settings.update(db(), g.dealer, current_user, data)
    except ActionError as exc:
        db().rollback()
        return _page(422, errors=exc.errors, form=request.form.to_dict())
    flash(_("Settings saved."), "success")
    return redirect(url_for("settings.index"), code=303)


@bp.post("/discard-reasons")
@requires_role("manager")
def add_reason():
    form = DiscardReasonForm()
    try:
        if not form.validate():
            raise ActionError(field_errors(form))
        discard_reasons.add(db(), g.dealer, current_user, label_es=form.label_es.data,
                            label_pt_br=form.label_pt_br.data, label_en=form.label_en.data,
                            oem_reason=form.oem_reason.data)
    except ActionError as exc:
        db().rollback()
        return _page(422, errors={f"new_{k}": v for k, v in exc.errors.items()}, form=request.form.to_dict())
    flash(_("Reason added."), "success")
    return redirect(url_for("settings.index"), code=303)


@bp.post("/discard-reasons/<int:reason_id>")
@requires_role("manager")
def change_reason(reason_id: int):
    form = DiscardReasonForm()
    operation = form.operation.data
    try:
        get_owned(db(), DiscardReason, g.dealer.id, reason_id)
        if not form.validate():
            raise ActionError(field_errors(form))
        if operation == "rename":
            discard_reasons.rename(db(), g.dealer, current_user, reason_id, label_es=form.label_es.data,
                                   label_pt_br=form.label_pt_br.data, label_en=form.label_en.data,
                                   oem_reason=form.oem_reason.data)
        elif operation in ("activate", "deactivate"):
            discard_reasons.set_active(db(), g.dealer, current_user, reason_id, operation == "activate")
        elif operation == "delete":
            discard_reasons.delete(db(), g.dealer, current_user, reason_id)
        else:
            raise ActionError.field("operation", _("Unknown operation."))
    except NotFound:
        abort(404)
    except ActionError as exc:
        db().rollback()
        return _page(422, errors={f"reason_{reason_id}_{k}": v for k, v in exc.errors.items()},
                     form=request.form.to_dict())
    flash(_("Catalog updated."), "success")
    return redirect(url_for("settings.index"), code=303)
