"""Login, logout, language, invitations. Thin: the rules live in ``boxes.auth.service``,
``boxes.auth.sessions`` and ``boxes.admin.users``."""

from __future__ import annotations

import logging

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from boxes.admin import users as memberships
from boxes.auth import service, sessions
from boxes.auth.forms import LocaleForm, LoginForm
from boxes.web import db, redis_client, safe_next

bp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)
_warned_about_proxy = False


def _throttle() -> service.LoginThrottle:
    config = current_app.config["BOXES"]
    return service.LoginThrottle(redis_client(), config.login_max_failures, config.login_max_accounts_per_address,
                                 config.login_window_seconds)


def _client_address() -> str:
    global _warned_about_proxy
    config = current_app.config["BOXES"]
    if not config.proxy_count and "X-Forwarded-For" in request.headers and not _warned_about_proxy:
        _warned_about_proxy = True
        log.warning("requests carry X-Forwarded-For but BOXES_PROXY_COUNT is 0: every client behind the proxy "
                    "shares the proxy's address for the login throttle (see docs/operations.md, Security)")
    return request.remote_addr or "-"


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("auth.home"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        throttle = _throttle()
        address = _client_address()
        if throttle.blocked(form.email.data, address):
            minutes = max(1, throttle.window_seconds // 60)
            form.email.errors.append(
                _("Too many failed attempts. Try again in %(minutes)d minutes.", minutes=minutes)
            )
            status = 429
        else:
            user = service.authenticate(db(), form.email.data, form.password.data)
            if user is None:
                throttle.failed(form.email.data, address)
                form.password.errors.append(_("Wrong email or password."))
                status = 401
            else:
                throttle.succeeded(form.email.data, address)
                session.clear()  # a new cookie session: nothing (no CSRF token) survives from before
                sessions.start(db(), user, sessions.Lifetimes.of(current_app.config["BOXES"]),
                               user_agent=request.user_agent.string, address=address)
                session.permanent = True  # the cookie expires with the login's absolute lifetime
                login_user(user)
                return redirect(safe_next(request.args.get("next")) or url_for("auth.home"))
    elif request.method == "POST":
        status = 422
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    sessions.end(db(), current_user.get_id())
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


@bp.get("/")
@login_required
def home():
    if memberships.pending_invitations(db(), current_user):
        return redirect(url_for("auth.invitations"))
    dealer = service.landing_dealer(current_user)
    if dealer is None:
        return render_template("auth/no_dealer.html"), 403
    return redirect(url_for("board.index", dealer_code=dealer.code))


@bp.post("/locale")
@login_required
def set_locale():
    form = LocaleForm()
    if not form.validate_on_submit():
        abort(422)
    service.set_locale(db(), current_user, form.locale.data)
    flash(_("Language changed."), "success")
    return redirect(safe_next(form.next.data) or url_for("auth.home"))


@bp.get("/invitations")
@login_required
def invitations():
    return render_template("auth/invitations.html", invitations=memberships.pending_invitations(db(), current_user),
                           dealers=service.dealers_of(current_user))


def _answered(answer, invitation_id: int):
    """``answer`` (accept or decline) given to one of the user's invitations: its dealer. Any other id: 404."""
    return answer(db(), current_user, invitation_id)


@bp.post("/invitations/<int:invitation_id>/accept")
@login_required
def accept_invitation(invitation_id: int):
    dealer = _answered(memberships.accept_invitation, invitation_id)
    flash(_("You are now a member of %(dealer)s.", dealer=dealer.name), "success")
    return redirect(url_for("board.index", dealer_code=dealer.code), code=303)


@bp.post("/invitations/<int:invitation_id>/decline")
@login_required
def decline_invitation(invitation_id: int):
    dealer = _answered(memberships.decline_invitation, invitation_id)
    flash(_("Invitation from %(dealer)s declined.", dealer=dealer.name), "success")
    return redirect(url_for("auth.invitations"), code=303)
