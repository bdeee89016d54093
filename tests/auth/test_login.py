"""Login, logout, CSRF, sessions, roles and the `boxes user create` command."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from boxes import create_app
from boxes.db import utcnow
from boxes.models import AuditLog, LoginSession, User
from tests import factories
from tests.conftest import csrf_token_of
from tests.html import every, one


def login(client, email, password, token=None, next_url=None):
    token = token or csrf_token_of(client)
    url = "/login" + (f"?next={next_url}" if next_url else "")
    return client.post(url, data={"email": email, "password": password, "csrf_token": token})


def test_password_hashes_are_argon2id(db, dealers):
    user = factories.user(db, role="caller", dealer=dealers[0])
    assert user.password_hash.startswith("$argon2id$")


def test_login_and_logout(client, db, dealers):
    ar, _ = dealers
    user = factories.user(db, role="caller", dealer=ar, email="ana@test.example")
    response = login(client, "ANA@test.example ", factories.PASSWORD)
    assert response.status_code == 302
    assert client.get("/").headers["Location"].endswith(f"/d/{ar.code}/")
    board = client.get(f"/d/{ar.code}/board/deliveries")
    assert board.status_code == 200 and user.name in board.get_data(as_text=True)
    token = csrf_token_of(client, f"/d/{ar.code}/board/deliveries")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get(f"/d/{ar.code}/board/deliveries").status_code == 302


def test_wrong_password_is_refused_with_localized_message(client, db, dealers):
    factories.user(db, role="caller", dealer=dealers[0], email="ana@test.example")
    response = client.post("/login", data={"email": "ana@test.example", "password": "nope-nope-nope",
                                           "csrf_token": csrf_token_of(client)},
                           headers={"Accept-Language": "es-AR"})
    assert response.status_code == 401
    assert "Email o contraseña incorrectos." in response.get_data(as_text=True)


def test_login_is_rate_limited(client, db, dealers, app):
    factories.user(db, role="caller", dealer=dealers[0], email="ana@test.example")
    limit = app.config["BOXES"].login_max_failures
    token = csrf_token_of(client)
    for _ in range(limit):
        assert login(client, "ana@test.example", "wrong-password!", token).status_code == 401
    # Even the right password waits now: the counter lives in Redis, shared by all web workers.
    blocked = client.post("/login", data={"email": "ana@test.example", "password": factories.PASSWORD,
                                          "csrf_token": token}, headers={"Accept-Language": "en"})
    assert blocked.status_code == 429
    assert "Too many failed attempts" in blocked.get_data(as_text=True)


def test_next_is_never_an_open_redirect(client, db, dealers):
    factories.user(db, role="caller", dealer=dealers[0], email="ana@test.example")
    response = login(client, "ana@test.example", factories.PASSWORD, next_url="//evil.example/x")
    assert "evil.example" not in response.headers["Location"]


def test_state_change_without_csrf_token_is_refused(client, login_as, dealers):
    login_as("caller", dealers[0])
    assert client.post("/logout").status_code == 400
    assert client.post("/locale", data={"locale": "en"}).status_code == 400
    # htmx requests carry the token in a header (hx-headers on <body>):
    token = csrf_token_of(client, f"/d/{dealers[0].code}/board/deliveries")
    ok = client.post("/locale", data={"locale": "en"}, headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert ok.status_code == 302


def test_login_without_csrf_token_is_refused(client, db, dealers):
    factories.user(db, role="caller", dealer=dealers[0], email="ana@test.example")
    response = client.post("/login", data={"email": "ana@test.example", "password": factories.PASSWORD},
                           headers={"Accept-Language": "es"})
    assert response.status_code == 400
    assert "La sesión de este formulario expiró" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302  # still anonymous


def test_session_cookie_flags(config, clean_db, redis):
    from dataclasses import replace

    for embedded, secure in ((True, False), (False, True)):
        app = create_app(replace(config, embedded=embedded))
        assert app.config["SESSION_COOKIE_HTTPONLY"] is True
        assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
        assert app.config["SESSION_COOKIE_SECURE"] is secure
        app.extensions["boxes.engine"].dispose()


def test_session_cookie_set_on_login_is_httponly_lax(client, db, dealers):
    factories.user(db, role="caller", dealer=dealers[0], email="ana@test.example")
    response = login(client, "ana@test.example", factories.PASSWORD)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_deactivating_a_user_ends_open_sessions(client, db, login_as, dealers):
    ar, _ = dealers
    user = login_as("caller", ar)
    assert client.get(f"/d/{ar.code}/board/deliveries").status_code == 200
    db.get(User, user.id).active = False
    db.commit()
    assert client.get(f"/d/{ar.code}/board/deliveries").status_code == 302


def _age_login(db, user, *, started: timedelta, last_seen: timedelta) -> None:
    """Moves the user's login session back in time, as a day at the board would."""
    now = utcnow()
    db.execute(update(LoginSession).where(LoginSession.user_id == user.id)
               .values(created_at=now - started, last_seen_at=now - last_seen))
    db.commit()


def test_a_board_open_all_day_stays_logged_in(client, db, login_as, dealers, app):
    """The bar polls /badges every minute: a login ten hours old, seen a minute ago, still works."""
    ar, _ = dealers
    user = login_as("caller", ar)
    _age_login(db, user, started=timedelta(hours=10), last_seen=timedelta(minutes=1))
    assert client.get(f"/d/{ar.code}/badges", headers={"HX-Request": "true"}).status_code == 200
    max_hours = app.config["BOXES"].session_max_hours
    _age_login(db, user, started=timedelta(hours=max_hours, minutes=1), last_seen=timedelta(minutes=1))
    assert client.get(f"/d/{ar.code}/badges", headers={"HX-Request": "true"}).status_code == 401


def test_an_idle_login_ends(client, db, login_as, dealers, app):
    ar, _ = dealers
    user = login_as("caller", ar)
    idle = app.config["BOXES"].session_idle_minutes
    _age_login(db, user, started=timedelta(hours=1), last_seen=timedelta(minutes=idle - 10))
    assert client.get(f"/d/{ar.code}/board/deliveries").status_code == 200
    _age_login(db, user, started=timedelta(hours=3), last_seen=timedelta(minutes=idle + 1))
    response = client.get(f"/d/{ar.code}/board/deliveries")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_last_seen_is_written_every_few_minutes_not_every_request(client, db, login_as, dealers):
    from boxes.auth.sessions import TOUCH_EVERY

    ar, _ = dealers
    user = login_as("caller", ar)

    def last_seen():
        db.expire_all()
        return db.scalar(select(LoginSession.last_seen_at).where(LoginSession.user_id == user.id))

    _age_login(db, user, started=timedelta(hours=1), last_seen=TOUCH_EVERY - timedelta(minutes=1))
    before = last_seen()
    client.get(f"/d/{ar.code}/badges", headers={"HX-Request": "true"})
    assert last_seen() == before
    _age_login(db, user, started=timedelta(hours=1), last_seen=TOUCH_EVERY + timedelta(minutes=1))
    client.get(f"/d/{ar.code}/badges", headers={"HX-Request": "true"})
    assert utcnow() - last_seen() < timedelta(minutes=1)


def test_the_login_session_rides_on_the_users_statement(client, db, login_as, dealers, app):
    """No round trip of its own per request: the statement that loads the user reads the session."""
    from sqlalchemy import event

    ar, _ = dealers
    login_as("caller", ar)
    statements = []
    engine = app.extensions["boxes.engine"]

    def before(conn, cursor, statement, params, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        assert client.get(f"/d/{ar.code}/badges", headers={"HX-Request": "true"}).status_code == 200
        assert client.get("/invitations").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", before)
    reading_sessions = [s for s in statements if "login_session" in s]
    assert len(reading_sessions) == 2
    assert all("user_account" in s for s in reading_sessions)


def test_the_cookie_lasts_as_long_as_the_longest_login(client, db, dealers, app):
    from email.utils import parsedate_to_datetime

    factories.user(db, role="caller", dealer=dealers[0], email="ana@test.example")
    cookie = login(client, "ana@test.example", factories.PASSWORD).headers["Set-Cookie"]
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", cookie).group(1))
    lifetime = expires - utcnow()
    max_hours = app.config["BOXES"].session_max_hours
    assert timedelta(hours=max_hours) - timedelta(minutes=1) < lifetime <= timedelta(hours=max_hours)
    assert app.config["WTF_CSRF_TIME_LIMIT"] == max_hours * 3600  # not Flask-WTF's hour, not forever


def test_locale_per_user(client, login_as, db, dealers):
    ar, _ = dealers
    login_as("caller", ar)
    assert "Entregas" in client.get(f"/d/{ar.code}/board/deliveries").get_data(as_text=True)
    token = csrf_token_of(client, f"/d/{ar.code}/board/deliveries")
    client.post("/locale", data={"locale": "pt_BR", "csrf_token": token})
    html = client.get(f"/d/{ar.code}/board/deliveries").get_data(as_text=True)
    assert "Entregas de veículos" in html and one(html, "html")["lang"] == "pt-BR"
    client.post("/locale", data={"locale": "en", "csrf_token": token})
    assert "New opportunities" in client.get(f"/d/{ar.code}/board/deliveries").get_data(as_text=True)
    assert db.scalar(select(AuditLog).where(AuditLog.action == "user.locale")) is not None


def test_dealer_switcher_lists_only_own_dealers(client, login_as, db, dealers):
    ar, br = dealers
    user = login_as("caller", ar)
    html = client.get(f"/d/{ar.code}/board/deliveries").get_data(as_text=True)
    assert not every(html, "#dealer-switcher")  # one dealer: no switcher
    login_as("manager", br, user=user)
    html = client.get(f"/d/{ar.code}/board/deliveries").get_data(as_text=True)
    options = [re.fullmatch(r"/d/([^/]+)/", option["value"]).group(1)
               for option in every(html, "option[value]") if re.fullmatch(r"/d/([^/]+)/", option["value"])]
    assert options == sorted(options, key=lambda c: {ar.code: ar.name, br.code: br.name}[c])
    assert set(options) == {ar.code, br.code}
    assert client.get(f"/d/{br.code}/reports").status_code == 200  # manager there
    assert client.get(f"/d/{ar.code}/reports").status_code == 403  # caller here


def test_user_create_cli(config, clean_db, db, dealers):
    import os

    env = {**os.environ, "BOXES_DATABASE_URL": config.database_url, "BOXES_SECRET_KEY": "x",
           "BOXES_INSTANCE_DIR": str(config.instance_dir)}
    result = subprocess.run(
        [sys.executable, "-m", "boxes.cli", "user", "create", "--email", "New.User@Test.example", "--name", "Nueva",
         "--password", "a-long-password", "--dealer", f"{dealers[0].code}:manager"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    db.expire_all()
    user = db.scalar(select(User).where(User.email == "new.user@test.example"))
    assert user is not None and user.password_hash.startswith("$argon2id$")
    assert [(m.dealer_id, m.role) for m in user.memberships] == [(dealers[0].id, "manager")]
    bad = subprocess.run(
        [sys.executable, "-m", "boxes.cli", "user", "create", "--email", "x@test.example", "--password", "short",
         "--dealer", f"{dealers[0].code}:caller"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert bad.returncode != 0 and "at least 10 characters" in bad.stderr


# --- issue 11: attacked from outside ---------------------------------------------------------

def _as_the_browser_follows(location: str, base: str = "http://localhost/login") -> tuple[str, str]:
    """(scheme, host) a browser goes to for this Location: it drops tabs and line breaks and reads
    backslashes as slashes (WHATWG URL parsing) before resolving against the page."""
    from urllib.parse import urljoin, urlsplit

    cleaned = "".join(ch for ch in location if ch not in "\t\r\n").strip("\x00 ").replace("\\", "/")
    target = urlsplit(urljoin(base, cleaned))
    return target.scheme, target.hostname


OPEN_REDIRECTS = ["/%09/evil.example", "/%0d%0a/evil.example", "/\\evil.example", "%5C%5Cevil.example",
                  "//evil.example/x", "https://evil.example/", "%20//evil.example", "/%5Cevil.example",
                  "javascript:alert(1)", "/%2F/evil.example", "\\/evil.example", "http:evil.example"]


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
def test_login_next_only_follows_same_site_paths(client, db, dealers, target):
    factories.user(db, role="caller", dealer=dealers[0], email="ana@test.example")
    response = login(client, "ana@test.example", factories.PASSWORD, next_url=target)
    assert response.status_code == 302
    assert _as_the_browser_follows(response.headers["Location"]) == ("http", "localhost"), response.headers["Location"]


@pytest.mark.parametrize("target", [t.replace("%09", "\t").replace("%0d%0a", "\r\n").replace("%5C", "\\")
                                    .replace("%20", " ").replace("%2F", "/") for t in OPEN_REDIRECTS])
def test_locale_next_only_follows_same_site_paths(client, login_as, dealers, target):
    login_as("caller", dealers[0])
    token = csrf_token_of(client, f"/d/{dealers[0].code}/board/deliveries")
    response = client.post("/locale", data={"locale": "en", "next": target, "csrf_token": token})
    assert response.status_code == 302
    assert _as_the_browser_follows(response.headers["Location"]) == ("http", "localhost"), response.headers["Location"]


def test_next_keeps_a_same_site_path_with_its_query(client, db, dealers):
    factories.user(db, role="caller", dealer=dealers[0], email="ana@test.example")
    response = login(client, "ana@test.example", factories.PASSWORD,
                     next_url="/d/AR01/board/appointments%3Fview%3Dconfirmed")
    assert response.headers["Location"] == "/d/AR01/board/appointments?view=confirmed"


def _copy_of_cookie(app, client):
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def test_logout_ends_the_session_on_the_server(app, client, db, dealers):
    ar, _ = dealers
    factories.user(db, role="caller", dealer=ar, email="ana@test.example")
    login(client, "ana@test.example", factories.PASSWORD)
    assert client.get(f"/d/{ar.code}/board/deliveries").status_code == 200
    thief = _copy_of_cookie(app, client)
    assert thief.get(f"/d/{ar.code}/board/deliveries").status_code == 200  # a copied cookie works while logged in
    token = csrf_token_of(client, f"/d/{ar.code}/board/deliveries")
    client.post("/logout", data={"csrf_token": token})
    assert thief.get(f"/d/{ar.code}/board/deliveries").status_code == 302
    # Its CSRF token ended with it: no state change goes through.
    changed = thief.post("/locale", data={"locale": "en", "csrf_token": token})
    assert changed.status_code in (302, 401) and "/login" in changed.headers.get("Location", "/login")
    db.expire_all()
    assert db.scalar(select(User.locale).where(User.email == "ana@test.example")) is None


def test_throttle_behind_the_proxy_never_locks_the_user_out(config, clean_db, redis, db):
    """Behind one reverse proxy every request comes from the proxy's address: the attacker's failures
    must count against the attacker's own address (X-Forwarded-For), not the user's."""
    from dataclasses import replace

    app = create_app(replace(config, proxy_count=1))
    try:
        ar = factories.dealer_ar(db)
        factories.user(db, role="caller", dealer=ar, email="ana@test.example")
        attacker, user = app.test_client(), app.test_client()
        proxy = {"REMOTE_ADDR": "10.0.0.2"}
        token = csrf_token_of(attacker)
        for _ in range(config.login_max_failures + 2):
            attacker.post("/login", data={"email": "ana@test.example", "password": "guessing-wrong",
                                          "csrf_token": token},
                          headers={"X-Forwarded-For": "203.0.113.66"}, environ_base=proxy)
        blocked = attacker.post("/login", data={"email": "ana@test.example", "password": factories.PASSWORD,
                                                "csrf_token": token},
                                headers={"X-Forwarded-For": "203.0.113.66"}, environ_base=proxy)
        assert blocked.status_code == 429  # the attacker's address waits, even with the right password
        ok = user.post("/login", data={"email": "ana@test.example", "password": factories.PASSWORD,
                                       "csrf_token": csrf_token_of(user)},
                       headers={"X-Forwarded-For": "198.51.100.7"}, environ_base=proxy)
        assert ok.status_code == 302
    finally:
        app.extensions["boxes.engine"].dispose()


def test_forwarded_address_is_ignored_unless_a_proxy_is_configured(client, db, dealers, app):
    """Without the setting a client could name any address in X-Forwarded-For and never be throttled."""
    factories.user(db, role="caller", dealer=dealers[0], email="ana@test.example")
    token = csrf_token_of(client)
    for i in range(app.config["BOXES"].login_max_failures):
        client.post("/login", data={"email": "ana@test.example", "password": "guessing-wrong", "csrf_token": token},
                    headers={"X-Forwarded-For": f"203.0.113.{i}"})
    blocked = client.post("/login", data={"email": "ana@test.example", "password": "guessing-wrong",
                                          "csrf_token": token}, headers={"X-Forwarded-For": "203.0.113.99"})
    assert blocked.status_code == 429


def test_password_spraying_from_one_address_is_throttled(client, db, dealers, app):
    ar, _ = dealers
    config = app.config["BOXES"]
    for i in range(config.login_max_accounts_per_address + 1):
        factories.user(db, role="caller", dealer=ar, email=f"sprayed{i}@test.example")
    token = csrf_token_of(client)
    for i in range(config.login_max_accounts_per_address):
        # One try per account: no single account reaches its own limit.
        assert client.post("/login", data={"email": f"sprayed{i}@test.example", "password": "Summer2025!",
                                           "csrf_token": token}).status_code == 401
    last = config.login_max_accounts_per_address
    sprayed = client.post("/login", data={"email": f"sprayed{last}@test.example", "password": factories.PASSWORD,
                                          "csrf_token": token})
    assert sprayed.status_code == 429
