"""Admins' page: the dealer's users and their roles. Thin views over ``boxes.admin.users``."""

from __future__ import annotations

from flask import abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from boxes.admin import users
from boxes.admin.forms import AddMemberForm, ChangeMemberForm
from boxes.errors import ActionError, NotFound
from boxes.forms import field_errors
from boxes.models.tenancy import ROLES
from boxes.web import db, dealer_blueprint, render_page, requires_role

bp = dealer_blueprint("admin", __name__, "/admin")
TEMPLATE = "admin/users.html"


def _page(status: int = 200, **ctx):
    ctx.setdefault("errors", {})
    ctx.setdefault("form", {})
    return render_page(TEMPLATE, ["content"], members=users.members(db(), g.dealer),
                       invitations=users.invitations(db(), g.dealer), all_roles=ROLES, **ctx), status


@bp.get("/users")
@requires_role("admin")
def users_index():
    return _page()


@bp.post("/users")
@requires_role("admin")
def add_user():
    form = AddMemberForm()
    shown = {k: v for k, v in request.form.to_dict().items() if k != "password"}  # never sent back
    try:
        if not form.validate():
            raise ActionError(field_errors(form))
        added = users.add_member(db(), g.dealer, current_user, email=form.email.data, name=form.name.data,
                                 password=form.password.data, roles=form.roles.data, locale=form.locale.data or None)
    except ActionError as exc:
        db().rollback()
        return _page(422, errors={f"new_{k}": v for k, v in exc.errors.items()}, form=shown)
    if added.invitation is not None:
        flash(_("%(email)s already has a Boxes account: they are invited, and get these roles when they accept. "
                "Their password stays theirs.", email=added.user.email), "success")
    else:
        flash(_("User added."), "success")
    return redirect(url_for("admin.users_index"), code=303)


@bp.post("/invitations/<int:invitation_id>/revoke")
@requires_role("admin")
def revoke_invitation(invitation_id: int):
    try:
        users.revoke_invitation(db(), g.dealer, current_user, invitation_id)
    except NotFound:
        abort(404)
    flash(_("Invitation revoked."), "success")
    return redirect(url_for("admin.users_index"), code=303)


@bp.post("/users/<int:user_id>")
@requires_role("admin")
def change_user(user_id: int):
    form = ChangeMemberForm()
    operation = form.operation.data
    try:
        users.member(db(), g.dealer, user_id)  # 404 before anything else for users of other dealers
        if not form.validate():
            raise ActionError(field_errors(form))
        if operation == "roles":
            users.set_roles(db(), g.dealer, current_user, user_id, form.roles.data)
            message = _("Roles saved.")
        elif operation == "deactivate":
            user = users.deactivate(db(), g.dealer, current_user, user_id)
            message = (_("User deactivated: their open sessions ended.") if not user.active
                       else _("User removed from this dealer; they keep working for their other dealers."))
        elif operation == "password":
            users.reset_password(db(), g.dealer, current_user, user_id, form.password.data)
            message = _("Password reset: their open sessions ended.")
        else:
            raise ActionError.field("operation", _("Unknown operation."))
    except NotFound:
        abort(404)
    except ActionError as exc:
        db().rollback()
        return _page(422, errors={f"user_{user_id}_{k}": v for k, v in exc.errors.items()})
    flash(message, "success")
    return redirect(url_for("admin.users_index"), code=303)
