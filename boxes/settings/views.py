"""Managers' settings pages: the dealer's data and the discard-reason catalog. Thin views."""

from __future__ import annotations

from flask import g
from flask_babel import gettext as _
from flask_login import current_user

from boxes.models import DiscardReason
from boxes.owned import get_owned
from boxes.settings import dealer as dealer_settings
from boxes.settings import discard_reasons
from boxes.settings.forms import DealerSettingsForm, DiscardReasonForm
from boxes.web import db, dealer_blueprint, render_page, requires_role, submit_form

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
    return submit_form(DealerSettingsForm, lambda f: dealer_settings.update(db(), g.dealer, current_user, f.typed()),
                       again=_page, saved=_("Settings saved."), to="settings.index")


@bp.post("/discard-reasons")
@requires_role("manager")
def add_reason():
    return submit_form(DiscardReasonForm, lambda f: discard_reasons.add(db(), g.dealer, current_user, **f.labels()),
                       again=_page, saved=_("Reason added."), to="settings.index", prefix="new_")


@bp.post("/discard-reasons/<int:reason_id>")
@requires_role("manager")
def change_reason(reason_id: int):
    get_owned(db(), DiscardReason, g.dealer.id, reason_id)  # 404 before anything else for other dealers' rows
    return submit_form(DiscardReasonForm, lambda f: discard_reasons.change(
        db(), g.dealer, current_user, reason_id, f.operation.data, **f.labels()),
        again=_page, saved=_("Catalog updated."), to="settings.index", prefix=f"reason_{reason_id}_")
