"""Request plumbing shared by every blueprint: database session, Redis, login, CSRF, i18n,
request ids, and the one way to render a page or its fragments."""

from __future__ import annotations

import itertools
import logging
import re
import uuid
from functools import cache, wraps
from urllib.parse import urlsplit

import jinja2_fragments.flask as fragments
import redis
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import Babel
from flask_babel import gettext as _
from flask_htmx import HTMX
from flask_htmx import make_response as htmx_response
from flask_htmx.responses import HTMXResponseClientRedirect
from flask_login import LoginManager, current_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from jinja2 import Undefined, nodes
from markupsafe import Markup, escape
from sqlalchemy.orm import Session
from werkzeug.exceptions import NotFound as HTTPNotFound

from boxes import formatting, inputs, outage
from boxes.db import make_engine, make_sessionmaker
from boxes.errors import ActionError, NotFound
from boxes.forms import field_errors
from boxes.models import Dealer

csrf = CSRFProtect()
login_manager = LoginManager()
babel = Babel()
htmx = HTMX()

log = logging.getLogger("boxes")


class RequestIdFilter(logging.Filter):
    def filter(self, record):
        try:
            record.request_id = g.get("request_id", "-")
        except RuntimeError:  # outside a request
            record.request_id = "-"
        return True


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if any(getattr(h, "_boxes", False) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler._boxes = True  # type: ignore[attr-defined]
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")
    )
    root.addHandler(handler)
    root.setLevel(level)


def init_app(app: Flask, config) -> None:
    configure_logging(config.log_level)
    engine = make_engine(config.database_url)
    app.extensions["boxes.engine"] = engine
    app.extensions["boxes.sessionmaker"] = make_sessionmaker(engine)
    outage.init_app(app, config)  # the Redis client, and 503 "temporarily unavailable" while it is down

    # Ids in URLs are PostgreSQL integers: a larger number is a page that does not exist (404), never a
    # query the database refuses. Registered before the blueprints add their rules.
    app.url_map.converters["int"] = inputs.RowIdConverter
    csrf.init_app(app)
    htmx.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = None
    login_manager.session_protection = "basic"
    formatting.init_app(app)

    @app.before_request
    def _request_id():
        incoming = request.headers.get("X-Request-ID", "")
        # Echoed in a response header and every log line: only a plain token is taken as it comes.
        g.request_id = incoming[:64] if _REQUEST_ID.fullmatch(incoming[:64]) else uuid.uuid4().hex

    @app.after_request
    def _headers(response):
        response.headers["X-Request-ID"] = g.get("request_id", "")
        # One URL serves a full page and its htmx fragment: caches must key on HX-Request.
        response.vary.add("HX-Request")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        # A view with content of its own (the Outbox's email preview) sets a policy of its own.
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        if request.endpoint not in CACHEABLE_ENDPOINTS:
            # Pages, fragments and exports carry customers' personal data: never kept by the browser
            # or a proxy (a shared computer's back button, a disk cache). Static assets stay cacheable.
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(CSRFError)
    def _csrf_error(exc):
        return render_template("errors.html", code=400, message=_(
            "This form's session expired or is not valid. Reload the page and try again.")), 400

    for code in (403, 404, 405, 413):
        app.register_error_handler(code, _error_page)
    # A service's "no such row for this dealer" (another dealer's id too) is the 404 page wherever it is
    # raised: views do not translate it one by one.
    app.register_error_handler(NotFound, lambda exc: _error_page(HTTPNotFound()))

    @app.teardown_appcontext
    def _close_session(exc):
        db = g.pop("db", None)
        if db is not None:
            if exc is not None:
                db.rollback()
            db.close()

    app.jinja_env.globals.update(url_with=url_with, row_url=row_url, ROW_ID=_ROW_ID)
    app.jinja_env.filters["for_row"] = for_row

    @app.context_processor
    def _globals():
        from boxes.auth.service import dealers_of

        authenticated = current_user and current_user.is_authenticated
        return {"current_dealer": g.get("dealer"), "roles": g.get("roles", frozenset()),
                "my_dealers": _OnFirstUse(lambda: dealers_of(current_user)) if authenticated else []}

    app.jinja_env.globals.update(support_contact=support_contact)

    # Browsers ask every site for /favicon.ico (a 404 and a console error on every page without it).
    @app.get("/favicon.ico")
    def favicon():
        return app.send_static_file("favicon.ico")


# Strict: scripts and styles only from our own files (no inline <script>, style= or on*= anywhere;
# htmx is configured not to inject its indicator style nor to eval), nothing may frame us, forms post
# only here. ``data:`` images: Bootstrap's form controls draw their icons with data: SVGs.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "object-src 'none'",
    "base-uri 'none'", "frame-ancestors 'none'", "form-action 'self'"))
CACHEABLE_ENDPOINTS = frozenset({"static", "assets.plotly_js"})


class _OnFirstUse:
    """A list computed when a template first reads it: the dealer switcher's dealers are only shown
    by full pages, not by the fragments that make most requests."""

    def __init__(self, compute):
        self._compute = compute
        self._value = None

    def _get(self) -> list:
        if self._value is None:
            self._value = self._compute()
        return self._value

    def __iter__(self):
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def __bool__(self) -> bool:
        return bool(self._get())


_ROW_ID = 987_654_321_987_654  # stands for the row's id while a row URL is built once
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]+")


def row_url(endpoint: str, row_id: int, **values) -> str:
    """``url_for(endpoint, <its id argument>=row_id, **values)``, built once per request.

    A board page has 200-300 action buttons whose URLs differ only by the row's id; ``url_for``
    runs the URL map (and the dealer's ``url_defaults``) each time. Here the URL is built once with
    a placeholder id and split around it; each row only joins its id in."""
    cache = g.setdefault("_boxes_row_urls", {})
    key = (endpoint, *sorted(values.items()))
    parts = cache.get(key)
    if parts is None:
        names = {a for rule in current_app.url_map.iter_rules(endpoint) for a in rule.arguments}
        free = names - set(values) - {"dealer_code"}
        if len(free) != 1:
            raise ValueError(f"{endpoint} has no single id argument besides {sorted(values)}: {sorted(free)}")
        parts = cache[key] = url_for(endpoint, **values, **{free.pop(): _ROW_ID}).split(str(_ROW_ID))
    return f"{parts[0]}{int(row_id)}{parts[1]}"


def for_row(markup: str, row_id: int) -> Markup:
    """Markup rendered once per page around the placeholder ``ROW_ID`` (a row's action buttons),
    with this row's id in its place: a page has 200-300 buttons that differ only by the id."""
    if isinstance(markup, Undefined):  # a kind the page did not render: never a silent empty cell
        raise ValueError(f"no row markup to put row {row_id} in: {markup._undefined_hint or 'undefined'}")
    # str.replace, not Markup.replace (which escapes its arguments): the id is digits only.
    return Markup(str.replace(escape(markup), _ROW_ID_TEXT, str(int(row_id))))  # noqa: S704


_ROW_ID_TEXT = str(_ROW_ID)


_TAB_AND_NEWLINE = str.maketrans("", "", "\t\r\n")
_C0_AND_SPACE = "".join(chr(c) for c in range(0x21))


def safe_next(target: str | None) -> str | None:
    """``target`` if a browser would stay on this site following it, else None: the one check of every
    redirect whose target comes from input (``?next=``, a form's ``next``).

    Read it as the browser will (WHATWG URL parsing): tabs and line breaks anywhere are dropped,
    leading and trailing control characters and spaces are stripped, a backslash is a slash. Then
    only a path is accepted — no scheme, no authority (``//host``). The normalized form is returned,
    so what we check is exactly what the browser follows."""
    if not target:
        return None
    cleaned = target.translate(_TAB_AND_NEWLINE).strip(_C0_AND_SPACE).replace("\\", "/")
    if not cleaned.startswith("/") or cleaned.startswith("//"):
        return None
    parts = urlsplit(cleaned)
    if parts.scheme or parts.netloc or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in cleaned):
        return None
    return cleaned
def support_contact() -> str:
    """The help desk the footer shows: the current dealer's; on a page outside any dealer URL (an
    error page, the no-dealer page) the dealer the user's session was last on, if still theirs; on
    the login page, or without any, the installation's (``BOXES_SUPPORT_CONTACT``)."""
    from boxes.auth.service import dealers_of
    from boxes.settings.dealer import support_contact as contact_of

    dealer = g.get("dealer")
    if dealer is None and current_user and current_user.is_authenticated:
        code = session.get("dealer_code")
        dealer = next((d for d in dealers_of(current_user) if d.code == code), None)
    return contact_of(dealer, current_app.config["BOXES"].support_contact)


def url_with(**changes) -> str:
    """The current URL with some query arguments changed (filters, page)."""
    args = {**request.args.to_dict(), **changes}
    return url_for(request.endpoint, **(request.view_args or {}), **args)


def _error_page(exc):
    messages = {
        403: _("Your role does not give access to this page."),
        404: _("This page does not exist."),
        405: _("This action is not available here."),
        413: _("What you sent is too large (at most %(mb)d MB). Send a smaller file or a shorter list.",
               mb=(current_app.config["MAX_CONTENT_LENGTH"] or 0) // (1024 * 1024)),
    }
    if is_fragment_request():
        if exc.code == 413:
            return _too_large_fragment(messages[413])
        return messages.get(exc.code, exc.description), exc.code
    return render_template("errors.html", code=exc.code, message=messages.get(exc.code, exc.description)), exc.code


def _too_large_fragment(message: str):
    """An htmx form sent more than the app takes: the message goes at the top of that form (the
    element htmx names in ``HX-Trigger``), as a 422 htmx swaps like every bad input; the form and
    what the user typed stay."""
    form_id = htmx.trigger or htmx.target or ""
    body = Markup('<div class="alert alert-danger py-2" role="alert" data-error="request">{}</div>').format(message)
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", form_id):
        return body, 413
    return htmx_response(body, 422, retarget=f"#{form_id}", reswap="afterbegin")


def db() -> Session:
    """The request's session. Scoped to the current dealer once the dealer is resolved."""
    if "db" not in g:
        g.db = current_app.extensions["boxes.sessionmaker"]()
    return g.db


def redis_client() -> redis.Redis:
    """Raises at once while Redis is known to be down (``boxes.outage``): the request gets a 503."""
    return outage.client(current_app)


@login_manager.user_loader
def _load_user(identity: str):
    """The user of this cookie's login session (``boxes.auth.sessions``): an ended or expired session,
    or an inactive user, is nobody. On a dealer URL the same statement brings the dealer and the
    user's roles there (``dealer_blueprint``'s membership check reads them from ``g``)."""
    from boxes.auth import sessions

    code = g.get("dealer_code")
    found = sessions.load(db(), identity, code, sessions.Lifetimes.of(current_app.config["BOXES"]))
    if found is None:
        return None
    user, dealer, roles = found
    if code is not None:
        g.membership = (dealer, roles)
    return user


@login_manager.unauthorized_handler
def _unauthorized():
    """Not logged in (never was, or the login session ended): the login page, then back here. An htmx
    request (the badge poll of a board left open overnight) gets 401 and ``HX-Redirect``, so the whole
    page goes to the login form instead of a fragment swapped in with the login form inside."""
    if htmx:
        current = urlsplit(htmx.current_url or "")
        back = safe_next(f"{current.path}?{current.query}" if current.query else current.path)
        return HTMXResponseClientRedirect(url_for("auth.login", next=back) if back else url_for("auth.login"),
                                          status=401)
    return redirect(url_for("auth.login", next=safe_next(request.full_path.rstrip("?"))))


def select_locale() -> str:
    if current_user and current_user.is_authenticated and current_user.locale:
        return current_user.locale
    dealer = g.get("dealer")
    if dealer is not None:
        return dealer.locale
    return request.accept_languages.best_match(["es", "pt_BR", "pt", "en"]) or "es"


def select_timezone() -> str:
    dealer = g.get("dealer")
    return dealer.time_zone if dealer is not None else "UTC"


def set_dealer(dealer: Dealer, roles: frozenset[str]) -> None:
    g.dealer = dealer
    g.roles = roles
    db().info["dealer_id"] = dealer.id


def dealer_blueprint(name: str, import_name: str, url_prefix: str = "") -> Blueprint:
    """A blueprint whose every URL lives under /d/<dealer_code>/: the dealer is resolved before the
    view runs, and a user who is not a member gets 404 (never 403, so other dealers' codes and ids
    don't leak). The session is then scoped to that dealer (see ``boxes.db``)."""
    from flask_login import login_required

    from boxes.auth.service import user_with_membership

    bp = Blueprint(name, import_name, url_prefix=f"/d/<dealer_code>{url_prefix}")

    @bp.url_value_preprocessor
    def _pop_dealer(endpoint, values):
        g.dealer_code = values.pop("dealer_code", None) if values else None

    @bp.url_defaults
    def _add_dealer(endpoint, values):
        if "dealer_code" not in values and g.get("dealer") is not None:
            values["dealer_code"] = g.dealer.code

    @bp.before_request
    @login_required
    def _membership():
        found = g.pop("membership", None)  # read with the user when the login loaded it
        if found is None:  # the user was loaded before this URL's dealer was known
            _, *found = user_with_membership(db(), current_user.id, g.dealer_code or "")
        dealer, roles = found
        if not roles:
            abort(404)
        set_dealer(dealer, roles)
        if session.get("dealer_code") != dealer.code:  # (a write re-signs the cookie)
            session["dealer_code"] = dealer.code
        if current_user.last_dealer_id != dealer.id:  # where the next login lands
            from boxes.auth.service import remember_dealer

            remember_dealer(db(), current_user, dealer)

    return bp


def requires_role(*allowed: str):
    """Members without one of these roles get 403 (the dealer is theirs; the page is not)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            roles = g.get("roles", frozenset())
            if "admin" not in roles and not roles.intersection(allowed):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def is_fragment_request() -> bool:
    # A history-restore request (back button after the cache expired) needs the whole page.
    return bool(htmx) and not htmx.history_restore_request


def submit_form(form_class, change, *, again, saved, to: str, prefix: str = "", write_only=()):
    """A page form's POST, the one shape of every settings and admin page: the form parsed
    (``form_class``), then ``change(form)``, the service that keeps the rules. Refused (by the form or by
    the service's ``ActionError``): nothing is kept, and ``again(422, errors=…, form=…)`` draws the page
    with each message next to its field (``prefix`` names the form of the page they belong to) and what
    was typed, except the ``write_only`` fields (passwords and secrets are never sent back). Done: the
    ``saved`` flash (a message, or a function of what ``change`` returned) and a 303 to the page
    ``to`` (post/redirect/get: a reload does not post again)."""
    form = form_class()
    try:
        if not form.validate():
            raise ActionError(field_errors(form))
        result = change(form)
    except ActionError as exc:
        db().rollback()
        typed = {k: v for k, v in request.form.to_dict().items() if k not in write_only}
        return again(422, errors={f"{prefix}{k}": v for k, v in exc.errors.items()}, form=typed)
    flash(saved(result) if callable(saved) else saved, "success")
    return redirect(url_for(to), code=303)


def render_page(template: str, blocks: list[str], **context):
    """One template per page: the full page on a direct load, its named blocks for htmx."""
    if is_fragment_request():
        return render_blocks(template, blocks, **context)
    return render_template(template, **context)


def render_blocks(template: str, blocks: list[str], **context) -> str:
    """A page's named blocks, in order, each from the page or from the shell it extends (the board
    shell's button bar is every board page's): a block is rendered from the template that defines
    it, as jinja2-fragments renders a block alone only from its own template."""
    return "".join(fragments.render_blocks(owner, list(group), **context)
                   for owner, group in itertools.groupby(blocks, key=lambda block: _block_owner(template, block)))


def render_block(template: str, block: str, **context) -> str:
    return fragments.render_block(_block_owner(template, block), block, **context)


@cache
def _block_owner(template: str, block: str) -> str:
    """The first template that defines ``block``, from ``template`` up the ``{% extends %}`` chain
    (the page itself when none does: jinja2-fragments then names the missing block)."""
    env = current_app.jinja_env
    name = template
    while name is not None:
        if block in env.get_template(name).blocks:
            return name
        name = _parent_template(name)
    return template


@cache
def _parent_template(template: str) -> str | None:
    """The template ``template`` extends, None for a root (an ``{% extends %}`` names it as a constant)."""
    env = current_app.jinja_env
    extends = env.parse(env.loader.get_source(env, template)[0]).find(nodes.Extends)
    return extends.template.value if extends is not None and isinstance(extends.template, nodes.Const) else None


__all__ = ["db", "redis_client", "render_block", "render_blocks", "render_page", "session"]
