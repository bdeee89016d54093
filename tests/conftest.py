"""Fixtures on real services: SQLite or PostgreSQL (``BOXES_TEST_DATABASE_URL``), a real Redis
server (the embedded binary, or ``BOXES_TEST_REDIS_URL``), and Chromium through Playwright.

What a machine lacks (PostgreSQL, Chromium) is skipped with a reason; with ``CI=true`` a missing
one fails the run instead, so CI can never pass by skipping.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from boxes import create_app
from boxes.auth import sessions
from boxes.config import Config
from boxes.db import Base, make_engine, make_sessionmaker
from boxes.migrate import upgrade
from boxes.models import Dealer, Membership, User
from boxes.settings.discard_reasons import seed_defaults
from tests import factories

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def missing(reason: str):
    """Skip locally, fail in CI: CI must never be green by skipping."""
    if IN_CI:
        pytest.fail(f"{reason} (required under CI=true)")
    pytest.skip(reason)


# --- database -------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = os.environ.get("BOXES_TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'boxes-test.db'}"


@pytest.fixture(scope="session")
def engine(database_url):
    if database_url.startswith("postgresql"):
        # A clean schema each session: the suite owns this database.
        eng = make_engine(database_url)
        with eng.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE"))
            conn.execute(sa.text("CREATE SCHEMA public"))
        eng.dispose()
    upgrade(database_url)
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


def _truncate(engine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # A connection a previous test leaked inside a transaction (an abandoned streamed
            # response, a killed worker's session) would block TRUNCATE forever: end it first.
            conn.execute(sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND state IN ('idle in transaction', 'idle in transaction (aborted)')"))
            conn.execute(sa.text("SET LOCAL lock_timeout = '30s'"))
            conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in tables:
                conn.execute(sa.text(f"DELETE FROM {name}"))


@pytest.fixture
def clean_db(engine):
    _truncate(engine)
    yield engine


@pytest.fixture(scope="session")
def postgres_url(database_url) -> str:
    """A PostgreSQL server for the tests that need one whatever the suite runs on."""
    if database_url.startswith("postgresql"):
        return database_url
    url = os.environ.get("BOXES_TEST_POSTGRES_URL", DEFAULT_PG)
    try:
        eng = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with eng.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        eng.dispose()
    except Exception as exc:
        missing(f"PostgreSQL not reachable at {url}: {exc.__class__.__name__}")
    return url


@contextlib.contextmanager
def scratch_postgres(postgres_url: str, purpose: str):
    """A database of its own on the PostgreSQL server (its URL), dropped afterwards: the suite's
    schema stays untouched."""
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    name = f"boxes_{purpose}_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield postgres_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_engine(engine, postgres_url):
    """An engine on PostgreSQL with the schema: the suite's own when it runs on PostgreSQL, else a
    scratch database of the PostgreSQL server (created and migrated once, dropped at the end), so
    the tests of PostgreSQL-only paths run — never skip — in the SQLite run too."""
    if engine.dialect.name == "postgresql":
        yield engine
        return
    with scratch_postgres(postgres_url, "test_pg") as url:
        upgrade(url)
        pg = make_engine(url)
        yield pg
        pg.dispose()


@pytest.fixture
def pg_db(pg_engine, db):
    """A session on PostgreSQL (see ``pg_engine``), its tables emptied first."""
    if pg_engine is db.get_bind():
        yield db
        return
    _truncate(pg_engine)
    session = make_sessionmaker(pg_engine)()
    yield session
    session.close()


# --- redis ----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    url = os.environ.get("BOXES_TEST_REDIS_URL")
    if url:
        yield url
        return
    from boxes.embedded import start_redis

    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server.url
    server.stop()


@pytest.fixture
def redis(redis_url):
    import redis as redis_lib

    client = redis_lib.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


# --- app ------------------------------------------------------------------------------------

@pytest.fixture
def config(database_url, redis_url, tmp_path) -> Config:
    return Config.from_env(
        instance_dir=tmp_path / "instance",
        database_url=database_url,
        redis_url=redis_url,
        secret_key="test-secret-key",
        embedded=True,
        testing=True,
        page_size=50,
    )


@pytest.fixture
def app(config, clean_db, redis):
    application = create_app(config)
    # The test client is plain HTTP; production keeps SESSION_COOKIE_SECURE.
    yield application
    application.extensions["boxes.engine"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def db(app):
    session = app.extensions["boxes.sessionmaker"]()
    yield session
    session.close()


@pytest.fixture
def dealers(db) -> tuple[Dealer, Dealer]:
    """Dealer A (Argentina, es) and dealer B (Brazil, pt_BR)."""
    return factories.dealer_ar(db), factories.dealer_br(db)


@pytest.fixture
def board_caller(db, dealers) -> User:
    """Carolina, dealer A's caller (caller@test.example, whom ``tests/browser/login.log_in`` logs in),
    and A's discard reasons (the discard form offers them): a board every row action works on."""
    ar = dealers[0]
    seed_defaults(db, ar)
    db.commit()
    return factories.user(db, role="caller", dealer=ar, email="caller@test.example", name="Carolina Caller")


@pytest.fixture
def login_as(client, db):
    """``login_as(role, dealer)``: a new user with that membership, logged in on ``client``."""

    def _login(role: str, dealer: Dealer, *, locale: str | None = None, user=None, on=None):
        target = on or client
        if user is None:
            user = factories.user(db, role=role, dealer=dealer, locale=locale)
        elif db.scalar(select(Membership).where(Membership.user_id == user.id, Membership.dealer_id == dealer.id,
                                                Membership.role == role)) is None:
            db.add(Membership(user_id=user.id, dealer_id=dealer.id, role=role))
            db.commit()
        # A real login session on the server, as the login page makes (boxes.auth.sessions).
        sessions.start(db, user, sessions.Lifetimes.of(target.application.config["BOXES"]))
        with target.session_transaction() as sess:
            sess["_user_id"] = user.get_id()
            sess["_fresh"] = True
            sess.permanent = True
        return user

    return _login


CSRF_RE = re.compile(r'"X-CSRFToken": "([^"]+)"')


def csrf_token_of(client, path: str = "/login") -> str:
    html = client.get(path).get_data(as_text=True)
    found = CSRF_RE.search(html) or re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


# --- simulators (tests/simulators.py) -------------------------------------------------------------

@pytest.fixture
def clean_faults(sim):
    """Every fault knob of the module's simulator (its ``sim`` fixture) at its default, before and
    after the test: ``pytestmark = pytest.mark.usefixtures("clean_faults")``."""
    sim.faults()
    yield
    sim.faults()


# --- live server and browser -------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(app):
    """``app`` served by a threaded werkzeug server on a free port of 127.0.0.1: yields its URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def live_server(app):
    with serving(app) as url:
        yield url


@pytest.fixture(scope="session")
def _playwright():
    if not Path(CHROMIUM).exists():
        missing(f"Chromium not found at {CHROMIUM} (Debian package 'chromium')")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def _chromium(_playwright):
    browser = _playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    )
    yield browser
    browser.close()


@pytest.fixture
def browser(_chromium):
    """A fresh browser context (own cookies) per test.

    It bypasses the Content-Security-Policy: Playwright evaluates a string predicate
    (``wait_for_function("document....")``) with eval in the page, which the strict policy refuses.
    The policy itself is tested by tests/browser/test_csp.py, in contexts that do not bypass it."""
    context = _chromium.new_context(locale="es-AR", bypass_csp=True)
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def make_engine_for():
    """An engine on a given URL, disposed after the test."""
    engines = []

    def _make(url):
        eng = make_engine(url)
        engines.append(eng)
        return eng

    yield _make
    for eng in engines:
        eng.dispose()


@pytest.fixture
def session_for():
    sessions = []

    def _make(engine):
        s = make_sessionmaker(engine)()
        sessions.append(s)
        return s

    yield _make
    for s in sessions:
        s.close()
