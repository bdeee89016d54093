"""Login, logout, CSRF, sessions, roles and the `boxes user create` command."""

from __future__ import annotations

import re
import subprocess
import sys

from sqlalchemy import select

from boxes import create_app
from boxes.models import AuditLog, User
from tests import factories
from tests.conftest import csrf_token_of


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


def test_rotating_the_session_token_ends_open_sessions(client, db, login_as, dealers):
    from boxes.models.tenancy import new_session_token

    ar, _ = dealers
    user = login_as("caller", ar)
    db.get(User, user.id).session_token = new_session_token()
    db.commit()
    assert client.get(f"/d/{ar.code}/board/deliveries").status_code == 302


def test_locale_per_user(client, login_as, db, dealers):
    ar, _ = dealers
    login_as("caller", ar)
    assert "Entregas" in client.get(f"/d/{ar.code}/board/deliveries").get_data(as_text=True)
    token = csrf_token_of(client, f"/d/{ar.code}/board/deliveries")
    client.post("/locale", data={"locale": "pt_BR", "csrf_token": token})
    html = client.get(f"/d/{ar.code}/board/deliveries").get_data(as_text=True)
    assert "Entregas de veículos" in html and 'lang="pt-BR"' in html
    client.post("/locale", data={"locale": "en", "csrf_token": token})
    assert "New opportunities" in client.get(f"/d/{ar.code}/board/deliveries").get_data(as_text=True)
    assert db.scalar(select(AuditLog).where(AuditLog.action == "user.locale")) is not None


def test_dealer_switcher_lists_only_own_dealers(client, login_as, db, dealers):
    ar, br = dealers
    user = login_as("caller", ar)
    html = client.get(f"/d/{ar.code}/board/deliveries").get_data(as_text=True)
    assert 'id="dealer-switcher"' not in html  # one dealer: no switcher
    login_as("manager", br, user=user)
    html = client.get(f"/d/{ar.code}/board/deliveries").get_data(as_text=True)
    options = re.findall(r'<option value="/d/([^/]+)/"', html)
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
