"""Managers' settings pages: the dealer's data and the discard-reason catalog. Thin views."""

from __future__ import annotations

from flask import abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from boxes.errors import ActionError, NotFound
from boxes.models import DiscardReason
from boxes.owned import get_owned
from boxes.settings import dealer as dealer_settings
from boxes.settings import discard_reasons
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
    f = request.form
    data = dealer_settings.DealerSettings(
        first_service_months=f.get("first_service_months", ""), first_service_km=f.get("first_service_km", ""),
        workshop_address=f.get("workshop_address", ""), phone=f.get("phone", ""), email=f.get("email", ""),
        support_contact=f.get("support_contact", ""),
        working_hours={day: (f.get(f"open_{day}", ""), f.get(f"close_{day}", "")) if f.get(f"works_{day}") else None
                       for day in dealer_settings.WEEKDAYS})
    try:
        dealer_settings.update(db(), g.dealer, current_user, data)
    except ActionError as exc:
        db().rollback()
        return _page(422, errors=exc.errors, form=f.to_dict())
    flash(_("Settings saved."), "success")
    return redirect(url_for("settings.index"), code=303)


@bp.post("/discard-reasons")
@requires_role("manager")
def add_reason():
    f = request.form
    try:
        discard_reasons.add(db(), g.dealer, current_user, label_es=f.get("label_es", ""),
                            label_pt_br=f.get("label_pt_br", ""), label_en=f.get("label_en", ""),
                            oem_reason=f.get("oem_reason", ""))
    except ActionError as exc:
        db().rollback()
        return _page(422, errors={f"new_{k}": v for k, v in exc.errors.items()}, form=f.to_dict())
    flash(_("Reason added."), "success")
    return redirect(url_for("settings.index"), code=303)


@bp.post("/discard-reasons/<int:reason_id>")
@requires_role("manager")
def change_reason(reason_id: int):
    f = request.form
    operation = f.get("operation")
    try:
        get_owned(db(), DiscardReason, g.dealer.id, reason_id)
        if operation == "rename":
            discard_reasons.rename(db(), g.dealer, current_user, reason_id, label_es=f.get("label_es", ""),
                                   label_pt_br=f.get("label_pt_br", ""), label_en=f.get("label_en", ""),
                                   oem_reason=f.get("oem_reason", ""))
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
        return _page(422, errors={f"reason_{reason_id}_{k}": v for k, v in exc.errors.items()}, form=f.to_dict())
    flash(_("Catalog updated."), "success")
    return redirect(url_for("settings.index"), code=303)
