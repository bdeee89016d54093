"""Admins' page: the dealer's users and their roles. Thin views over ``boxes.admin.users``."""

from __future__ import annotations

from flask import abort, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from boxes import inputs
from boxes.admin import users
from boxes.errors import ActionError, NotFound
from boxes.models.tenancy import ROLES
from boxes.web import db, dealer_blueprint, render_page, requires_role

bp = dealer_blueprint("admin", __name__, "/admin")
TEMPLATE = "admin/users.html"


def _page(status: int = 200, **ctx):
    ctx.setdefault("errors", {})
    ctx.setdefault("form", {})
    return render_page(TEMPLATE, ["content"], members=users.members(db(), g.dealer), all_roles=ROLES, **ctx), status


@bp.get("/users")
@requires_role("admin")
def users_index():
    return _page()


@bp.post("/users")
@requires_role("admin")
def add_user():
    f = request.form
    # Bounded like every input (boxes.inputs): the name by its column, nothing a database cannot store.
    problems = inputs.unstorable_fields(f)
    inputs.text(f.get("name"), "name", problems, max_len=200)
    if problems:
        return _page(422, errors={f"new_{k}": v for k, v in problems.items()},
                     form={k: v for k, v in f.to_dict().items() if k != "password"})
    try:
        users.add_member(db(), g.dealer, current_user, email=f.get("email", ""), name=f.get("name", ""),
                         password=f.get("password", ""), roles=f.getlist("roles"), locale=f.get("locale") or None)
    except ActionError as exc:
        db().rollback()
        return _page(422, errors={f"new_{k}": v for k, v in exc.errors.items()},
                     form={k: v for k, v in f.to_dict().items() if k != "password"})
    flash(_("User added."), "success")
    return redirect(url_for("admin.users_index"), code=303)


@bp.post("/users/<int:user_id>")
@requires_role("admin")
def change_user(user_id: int):
    f = request.form
    operation = f.get("operation")
    try:
        users.member(db(), g.dealer, user_id)  # 404 before anything else for users of other dealers
        if operation == "roles":
            users.set_roles(db(), g.dealer, current_user, user_id, f.getlist("roles"))
            message = _("Roles saved.")
        elif operation == "deactivate":
            users.deactivate(db(), g.dealer, current_user, user_id)
            message = _("User deactivated: their open sessions ended.")
        elif operation == "password":
            users.reset_password(db(), g.dealer, current_user, user_id, f.get("password", ""))
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
