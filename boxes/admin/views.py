"""Admins' page: the dealer's users and their roles. Thin views over ``boxes.admin.users``."""

from __future__ import annotations

from flask import flash, g, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user

from boxes.admin import users
from boxes.admin.forms import AddMemberForm, ChangeMemberForm
from boxes.models.tenancy import ROLES
from boxes.web import db, dealer_blueprint, render_page, requires_role, submit_form

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
    return submit_form(AddMemberForm, lambda f: users.add_member(
        db(), g.dealer, current_user, email=f.email.data, name=f.name.data, password=f.password.data,
        roles=f.roles.data, locale=f.locale.data or None),
        again=_page, saved=_added, to="admin.users_index", prefix="new_", write_only={"password"})


def _added(added: users.Added) -> str:
    if added.invitation is not None:
        return _("%(email)s already has a Boxes account: they are invited, and get these roles when they accept. "
                 "Their password stays theirs.", email=added.user.email)
    return _("User added.")


@bp.post("/invitations/<int:invitation_id>/revoke")
@requires_role("admin")
def revoke_invitation(invitation_id: int):
    users.revoke_invitation(db(), g.dealer, current_user, invitation_id)
    flash(_("Invitation revoked."), "success")
    return redirect(url_for("admin.users_index"), code=303)


@bp.post("/users/<int:user_id>")
@requires_role("admin")
def change_user(user_id: int):
    users.member(db(), g.dealer, user_id)  # 404 before anything else for users of other dealers
    return submit_form(ChangeMemberForm, lambda f: users.change_member(
        db(), g.dealer, current_user, user_id, f.operation.data, roles=f.roles.data, password=f.password.data),
        again=_page, saved=_changed, to="admin.users_index", prefix=f"user_{user_id}_", write_only={"password"})


def _changed(outcome: str) -> str:
    return {"roles": _("Roles saved."),
            "deactivated": _("User deactivated: their open sessions ended."),
            "removed": _("User removed from this dealer; they keep working for their other dealers."),
            "password": _("Password reset: their open sessions ended.")}[outcome]
