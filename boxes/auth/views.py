"""Login, logout, language. Thin: the rules live in ``boxes.auth.service``."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from boxes.auth import service
from boxes.auth.forms import LocaleForm, LoginForm
from boxes.web import db, redis_client

bp = Blueprint("auth", __name__)


def _throttle() -> service.LoginThrottle:
    config = current_app.config["BOXES"]
    return service.LoginThrottle(redis_client(), config.login_max_failures, config.login_window_seconds)


def _safe_next(target: str | None) -> str | None:
    # Only local paths: never an open redirect to another site.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("auth.home"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        throttle = _throttle()
        address = request.remote_addr or "-"
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
                session.clear()
                login_user(user)
                return redirect(_safe_next(request.args.get("next")) or url_for("auth.home"))
    elif request.method == "POST":
        status = 422
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


@bp.get("/")
@login_required
def home():
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
    return redirect(_safe_next(request.form.get("next")) or url_for("auth.home"))
