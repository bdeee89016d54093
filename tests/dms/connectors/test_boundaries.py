"""Connectors attacked from outside (issue 11, items 2 and 3): what a dealer's admin types into
Integrations → DMS reaches only that dealer's DMS.

- sql: never Boxes' own database (however its address is spelled) nor another dealer's; every
  connection read-only with a statement timeout; a failing query says which entity and what kind of
  failure (SQLSTATE), never the database's text (which can echo data). Real SQLite, PostgreSQL and
  MariaDB.
- files: folders are relative paths inside ``<BOXES_CONNECTOR_ROOT>/<dealer code>/``; nothing
  outside is read, moved or created (symlinks included).
- http: only the operator's allow-list (checked on the address actually connected); an address
  that never answered as a DMS feed gets one message whatever it did (closed port, 404, garbage).

Each test drives the admin page (the 422 next to the field) and the sync run of a row saved before
these rules existed (the run refuses it too). The run reads the operator's settings from the
environment, as a worker does.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from boxes.dms.connectors.base import ConnectorError
from boxes.dms.sync.runs import run, sync_dealer
from boxes.models import Customer, DmsConnector, SyncCursor, SyncRun
from tests import factories
from tests.conftest import csrf_token_of, free_port, scratch_postgres
from tests.dms.test_helpers import Simulator

MARIADB_ADMIN = "mysql+pymysql://root@127.0.0.1:3306/test"
SECRET_NAME = "Bravo Secreta Silva"


def _url(dealer, path=""):
    return f"/d/{dealer.code}/admin/integrations/dms{path}"


@pytest.fixture
def operator(monkeypatch, config, tmp_path):
    """The operator's settings: the connector root (and, per test, the allow-list and the SQL
    timeout), for the web app (its config) and for a sync run in this process (the environment)."""
    root = tmp_path / "connectors"
    root.mkdir()
    monkeypatch.setenv("BOXES_CONNECTOR_ROOT", str(root))
    monkeypatch.delenv("BOXES_CONNECTOR_ALLOWED_HOSTS", raising=False)
    config.connector_root = root

    def allow(*entries: str) -> None:
        monkeypatch.setenv("BOXES_CONNECTOR_ALLOWED_HOSTS", ",".join(entries))
        config.connector_allowed_hosts = tuple(entries)

    def sql_timeout(seconds: float) -> None:
        monkeypatch.setenv("BOXES_CONNECTOR_SQL_TIMEOUT_SECONDS", str(seconds))
        config.connector_sql_timeout_seconds = seconds

    return SimpleNamespace(root=root, allow=allow, sql_timeout=sql_timeout)


def _save(client, dealer, token, **fields):
    data = {"csrf_token": token, "tolerance_days": "0", "enabled": "1", **fields}
    return client.post(_url(dealer), data=data)


def _error_of(response, field: str) -> str:
    body = response.get_data(as_text=True)
    marker = f'data-error="{field}">'
    assert marker in body, body[-3000:]
    return body.split(marker, 1)[1].split("<", 1)[0]


def _force(db, dealer, kind, settings, secrets=None) -> None:
    """A connector row as it could have been saved before these rules (or edited in the database)."""
    db.add(DmsConnector(dealer_id=dealer.id, kind=kind, enabled=True, settings=settings, secrets=secrets or {}))
    db.commit()


def _customers_of(db, dealer) -> list[str]:
    db.expire_all()
    return db.scalars(select(Customer.name).where(Customer.dealer_id == dealer.id)).all()


def _last_error(db, dealer, entity="customers") -> str:
    db.expire_all()
    return db.scalar(select(SyncRun.error).where(SyncRun.dealer_id == dealer.id, SyncRun.entity == entity)
                     .order_by(SyncRun.id.desc()).limit(1))


# ------------------------------------------------------------------------------------------ sql

def _steal_query(dealer_id: int) -> dict:
    """What dealer A's admin typed to import dealer B's customers from Boxes' own tables."""
    return {"customers": f"SELECT dms_id, name, '2025-01-01 00:00:00' AS dms_updated_at FROM customer "
                         f"WHERE dealer_id = {dealer_id} AND CAST(:cursor AS TEXT) IS NOT NULL"}


def _stealing_run_fails(db, dealer, victim, url: str) -> str:
    """The run of a connector row saved before these rules, reading ``victim``'s customers from Boxes'
    own tables at ``url``: it fails and imports nothing. Its error."""
    db.query(DmsConnector).delete()
    db.commit()
    _force(db, dealer, "sql", {"queries": _steal_query(victim.id)}, {"url": url})
    with pytest.raises(ConnectorError):
        run(db, dealer, "customers")
    assert SECRET_NAME not in _customers_of(db, dealer)
    return _last_error(db, dealer)


def _own_sqlite_spellings(database_url: str, dealer_folder) -> list[str]:
    path = sa.engine.make_url(database_url).database
    dealer_folder.mkdir(parents=True, exist_ok=True)
    link = dealer_folder / "dms.db"
    link.symlink_to(path)
    head, tail = os.path.split(path)
    return [database_url, f"sqlite:///{head}/./{tail}", f"sqlite:///{head}/../{os.path.basename(head)}/{tail}",
            "sqlite:///dms.db"]  # the last one: a symlink in the dealer's own folder


def test_sql_connector_refuses_boxes_own_sqlite_database(client, db, dealers, login_as, operator, database_url,
                                                         config, tmp_path):
    ar, br = dealers
    if not database_url.startswith("sqlite"):
        # The suite runs on PostgreSQL: an installation whose own database is a SQLite file (a real one,
        # migrated) is checked through the same rule the form and the run apply.
        from boxes.dms.connectors.boundaries import OWN_DATABASE, Boundaries, OutOfBounds
        from boxes.migrate import upgrade

        own = f"sqlite:///{tmp_path / 'boxes.db'}"
        upgrade(own)
        bounds = Boundaries.of(config, ar.code, own_database=own)
        for url in _own_sqlite_spellings(own, operator.root / ar.code):
            with pytest.raises(OutOfBounds) as refused:
                bounds.database(url)
            assert refused.value.reason == OWN_DATABASE, url
        return
    factories.customer(db, br, name=SECRET_NAME)
    login_as("admin", ar)
    token = csrf_token_of(client, _url(ar))
    spellings = _own_sqlite_spellings(database_url, operator.root / ar.code)
    for url in spellings:
        response = _save(client, ar, token, kind="sql", url=url, queries=json.dumps(_steal_query(br.id)))
        assert response.status_code == 422, url
        assert _error_of(response, "url")
    assert db.scalar(select(DmsConnector)) is None

    # A row saved before the rule: the run refuses it and imports nothing.
    for url in spellings:
        error = _stealing_run_fails(db, ar, br, url)
        assert "Boxes" in error or "connector folder" in error, (url, error)


def test_sql_connector_refuses_boxes_own_postgresql_database(pg_db, operator):
    """On PostgreSQL (the suite's database, or a scratch one when the suite runs on SQLite) the
    same database spelled another way — localhost for 127.0.0.1, the default port written out, the
    other driver name — is refused before connecting, and a spelling that gets past the address
    (a host name of the same server) is refused by the server's own identity once connected."""
    ar, br = factories.dealer_ar(pg_db), factories.dealer_br(pg_db)
    factories.customer(pg_db, br, name=SECRET_NAME)
    own = pg_db.get_bind().url
    name, user = own.database, own.username or "postgres"
    password = f":{own.password}" if own.password else ""
    port = own.port or 5432
    spellings = [own.render_as_string(hide_password=False),
                 f"postgresql+psycopg://{user}{password}@localhost:{port}/{name}",
                 f"postgresql://{user}{password}@127.0.0.1/{name}" if port == 5432 else
                 f"postgresql://{user}{password}@127.0.0.1:{port}/{name}",
                 f"postgresql+psycopg://{user}{password}@{socket.gethostname()}:{port}/{name}"]
    for url in spellings:
        error = _stealing_run_fails(pg_db, ar, br, url)
        assert "Boxes" in error or "cannot connect" in error, (url, error)
        assert SECRET_NAME not in error


def _dms_holding_the_secret(url: str, code: str, timestamp: str = "DATETIME") -> str:
    """The DMS database at ``url`` gets its customers' table (``clientes``) with one customer, ``code``,
    named SECRET_NAME; ``timestamp``: the database's type for a date and time. Its URL."""
    eng = sa.create_engine(url)
    with eng.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE clientes (codigo VARCHAR(20) PRIMARY KEY, nome VARCHAR(200), "
                             f"alterado_em {timestamp} NOT NULL)")
        conn.exec_driver_sql(f"INSERT INTO clientes VALUES ('{code}', '{SECRET_NAME}', '2025-03-01 10:00:00')")
    eng.dispose()
    return url


def _mariadb(name: str, code: str) -> str:
    try:
        admin = sa.create_engine(MARIADB_ADMIN, connect_args={"connect_timeout": 3}, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
            conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
        admin.dispose()
    except Exception as exc:
        pytest.skip(f"MariaDB not reachable at 127.0.0.1:3306 ({exc.__class__.__name__})")
    return _dms_holding_the_secret(f"mysql+pymysql://root@127.0.0.1:3306/{name}", code)


DMS_QUERY = {"customers": "SELECT codigo AS dms_id, nome AS name, alterado_em AS dms_updated_at FROM clientes "
                          "WHERE alterado_em >= :cursor ORDER BY alterado_em"}


def test_sql_connector_refuses_another_dealers_database(client, db, dealers, login_as, operator):
    ar, br = dealers
    b_url = _mariadb("boxes_dms_bravo", "B1")
    _force(db, br, "sql", {"queries": DMS_QUERY}, {"url": b_url})
    login_as("admin", ar)
    token = csrf_token_of(client, _url(ar))
    for url in (b_url, "mysql+pymysql://root@localhost/boxes_dms_bravo",
                "mariadb+pymysql://root@127.0.0.1:3306/boxes_dms_bravo"):
        response = _save(client, ar, token, kind="sql", url=url, queries=json.dumps(DMS_QUERY))
        assert response.status_code == 422, url
        assert _error_of(response, "url")
    assert db.scalar(select(func.count()).select_from(DmsConnector).where(DmsConnector.dealer_id == ar.id)) == 0
    _force(db, ar, "sql", {"queries": DMS_QUERY}, {"url": "mysql+pymysql://root@localhost/boxes_dms_bravo"})
    with pytest.raises(ConnectorError):
        run(db, ar, "customers")
    assert "another dealer" in _last_error(db, ar)
    assert SECRET_NAME not in _customers_of(db, ar)


def _sqlite_dms(path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    return _dms_holding_the_secret(f"sqlite:///{path}", "B1")


def test_a_sqlite_dms_file_lives_in_the_dealers_folder(client, db, dealers, login_as, operator):
    ar, br = dealers
    b_file = operator.root / br.code / "dms" / "dms.db"
    b_url = _sqlite_dms(b_file)
    outside = _sqlite_dms(operator.root.parent / "elsewhere" / "dms.db")
    login_as("admin", ar)
    token = csrf_token_of(client, _url(ar))
    for url in (b_url, f"sqlite:///../{br.code}/dms/dms.db", outside):
        response = _save(client, ar, token, kind="sql", url=url, queries=json.dumps(DMS_QUERY))
        assert response.status_code == 422, url
        assert _error_of(response, "url")
    # Its own file, relative to its folder (or written out in full), is fine.
    own = _sqlite_dms(operator.root / ar.code / "dms.db")
    for url in ("sqlite:///dms.db", own):
        assert _save(client, ar, token, kind="sql", url=url, queries=json.dumps(DMS_QUERY)).status_code == 303
    db.query(DmsConnector).delete()
    db.commit()
    _force(db, ar, "sql", {"queries": DMS_QUERY}, {"url": b_url})
    with pytest.raises(ConnectorError):
        run(db, ar, "customers")
    assert "connector folder" in _last_error(db, ar)
    assert SECRET_NAME not in _customers_of(db, ar)


@pytest.fixture
def pg_dms(postgres_url):
    with scratch_postgres(postgres_url, "dms_pg") as url:
        yield _dms_holding_the_secret(url, "C1", timestamp="TIMESTAMP")


def _dms_of(kind: str, request, tmp_path, operator, dealer) -> str:
    if kind == "postgresql":
        return request.getfixturevalue("pg_dms")
    if kind == "mariadb":
        return _mariadb("boxes_dms_alfa", "C1")
    return _sqlite_dms(operator.root / dealer.code / "dms.db")


# A query that makes each database put a row's data into its error message (the classic
# error-based extraction), and one that runs far longer than the operator's timeout.
LEAKING = {
    "postgresql": "SELECT CAST(nome AS INTEGER) AS dms_id, alterado_em AS dms_updated_at FROM clientes "
                  "WHERE CAST(:cursor AS TEXT) IS NOT NULL",
    "mariadb": "SELECT EXTRACTVALUE(1, CONCAT(0x7e, (SELECT nome FROM clientes LIMIT 1))) AS dms_id, "
               "alterado_em AS dms_updated_at FROM clientes WHERE alterado_em >= :cursor",
    "sqlite": "SELECT codigo AS dms_id, alterado_em AS dms_updated_at FROM clientes WHERE nome = :cursor AND "
              "json_extract(nome, '$') IS NOT NULL",
}
SLOW = {
    "postgresql": "SELECT codigo AS dms_id, alterado_em AS dms_updated_at FROM clientes, pg_sleep(5) "
                  "WHERE CAST(:cursor AS TEXT) IS NOT NULL",
    "mariadb": "SELECT codigo AS dms_id, alterado_em AS dms_updated_at FROM clientes "
               "WHERE SLEEP(5) = 0 AND alterado_em >= :cursor",
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000000) "
              "SELECT codigo AS dms_id, alterado_em AS dms_updated_at FROM clientes "
              "WHERE (SELECT max(i) FROM n) > 0 AND alterado_em >= :cursor",
}
WRITING = {
    "postgresql": "SELECT codigo AS dms_id, alterado_em AS dms_updated_at FROM clientes "
                  "WHERE CAST(:cursor AS TEXT) IS NOT NULL FOR UPDATE",
    "mariadb": "SELECT codigo AS dms_id, alterado_em AS dms_updated_at FROM clientes "
               "WHERE alterado_em >= :cursor FOR UPDATE",
    "sqlite": "WITH x AS (SELECT 1) DELETE FROM clientes WHERE :cursor IS NOT NULL",
}


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "mariadb"])
def test_sql_errors_say_what_failed_without_the_databases_text(db, dealers, operator, kind, request, tmp_path):
    ar = dealers[0]
    url = _dms_of(kind, request, tmp_path, operator, ar)
    _force(db, ar, "sql", {"queries": {"customers": LEAKING[kind]}}, {"url": url})
    with pytest.raises(ConnectorError):
        run(db, ar, "customers")
    error = _last_error(db, ar)
    assert SECRET_NAME not in error and "Secreta" not in error
    assert error.startswith("customers: ") and "query" in error
    if kind == "postgresql":
        assert "SQLSTATE 22P02" in error
    elif kind == "mariadb":
        assert "1105" in error or "HY000" in error


@pytest.mark.parametrize("kind", ["sqlite", "postgresql", "mariadb"])
def test_sql_connector_reads_only_within_the_statement_timeout(db, dealers, operator, kind, request, tmp_path):
    ar = dealers[0]
    url = _dms_of(kind, request, tmp_path, operator, ar)
    operator.sql_timeout(1)
    _force(db, ar, "sql", {"queries": {"customers": SLOW[kind]}}, {"url": url})
    with pytest.raises(ConnectorError):
        run(db, ar, "customers")
    assert "longer than 1 s" in _last_error(db, ar)

    row = db.scalar(select(DmsConnector))
    row.settings = {"queries": {"customers": WRITING[kind]}}
    db.commit()
    with pytest.raises(ConnectorError):
        run(db, ar, "customers")
    eng = sa.create_engine(url)
    with eng.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM clientes").scalar() == 1  # nothing deleted or locked
    eng.dispose()
    assert "read" in _last_error(db, ar)
    if kind == "sqlite":  # opened read-only: not even a journal appears next to the DMS's file
        assert sorted(p.name for p in (operator.root / ar.code).iterdir()) == ["dms.db"]


# ---------------------------------------------------------------------------------------- files

def _export(folder, name="customers.csv", who=SECRET_NAME):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(f"Id;Nombre;Mod\nX1;{who};01/03/2025 10:00\n", encoding="utf-8")


COLUMNS = {"customers": {"dms_id": "Id", "name": "Nombre", "dms_updated_at": "Mod"}}


def test_files_connector_stays_inside_the_dealers_folder(client, db, dealers, login_as, operator, tmp_path):
    ar, br = dealers
    b_inbox = operator.root / br.code / "exports"
    _export(b_inbox)
    (operator.root / ar.code).mkdir()
    (operator.root / ar.code / "b-link").symlink_to(b_inbox)
    login_as("admin", ar)
    token = csrf_token_of(client, _url(ar))
    columns = json.dumps(COLUMNS)
    attempts = [
        ("inbox", {"inbox": str(b_inbox)}),  # an absolute path
        ("inbox", {"inbox": f"../{br.code}/exports"}),
        ("inbox", {"inbox": "b-link"}),  # a symlink out of the folder
        ("archive", {"inbox": "exports", "archive": str(tmp_path / "anywhere")}),
        ("rejected", {"inbox": "exports", "rejected": "../../outside"}),
        ("archive", {"inbox": "exports", "archive": "b-link/archive"}),
    ]
    for field, settings in attempts:
        response = _save(client, ar, token, kind="files", columns=columns, **settings)
        assert response.status_code == 422, settings
        assert _error_of(response, field), settings
    assert db.scalar(select(DmsConnector)) is None
    assert not (tmp_path / "anywhere").exists() and not (operator.root.parent / "outside").exists()

    # Rows saved before the rule: refused at run time, B's file stays where it was, untouched.
    for _, settings in attempts:
        db.query(DmsConnector).delete()
        db.commit()
        _force(db, ar, "files", {"columns": COLUMNS, **settings})
        with pytest.raises(ConnectorError):
            run(db, ar, "customers")
        assert "connector folder" in _last_error(db, ar)
    assert SECRET_NAME not in _customers_of(db, ar)
    assert [p.name for p in b_inbox.iterdir()] == ["customers.csv"]
    assert not (tmp_path / "anywhere").exists() and not (operator.root.parent / "outside").exists()

    # Its own folder works: imported, archived inside it.
    db.query(DmsConnector).delete()
    db.commit()
    _export(operator.root / ar.code / "exports", who="Alfa Cliente")
    assert _save(client, ar, token, kind="files", columns=columns, inbox="exports").status_code == 303
    assert run(db, ar, "customers").status == "succeeded"
    assert _customers_of(db, ar) == ["Alfa Cliente"]
    assert (operator.root / ar.code / "exports" / "archive" / "customers.csv").exists()


def test_a_folder_that_cannot_be_used_is_named_by_its_setting_not_by_the_servers_path(db, dealers, operator):
    ar = dealers[0]
    inbox = operator.root / ar.code / "exports"
    _export(inbox, who="Alfa Cliente")
    (inbox / "archive").write_text("a file where the archive folder should be")
    _force(db, ar, "files", {"columns": COLUMNS, "inbox": "exports"})
    with pytest.raises(ConnectorError):
        run(db, ar, "customers")
    error = _last_error(db, ar)
    assert error.startswith("archive: cannot move customers.csv") and str(operator.root) not in error


def test_a_file_symlinked_into_the_inbox_from_outside_is_not_read(db, dealers, operator):
    ar, br = dealers
    _export(operator.root / br.code / "exports")
    inbox = operator.root / ar.code / "exports"
    inbox.mkdir(parents=True)
    (inbox / "customers.csv").symlink_to(operator.root / br.code / "exports" / "customers.csv")
    _force(db, ar, "files", {"columns": COLUMNS, "inbox": "exports"})
    sync_dealer(db, ar)
    assert SECRET_NAME not in _customers_of(db, ar)
    assert (operator.root / br.code / "exports" / "customers.csv").exists()


# ----------------------------------------------------------------------------------------- http

class _Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _reply(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests += 1
        status, body, kind = self.server.answer
        path = self.path.split("?", 1)[0]
        for suffix, answer in self.server.routes.items():
            if path.endswith(suffix):
                status, body, kind = answer
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _reply


class HttpAnswer:
    """A loopback HTTP server that is not a DMS feed: it answers every request the same way."""

    def __init__(self, status=404, body="<h1>Not Found</h1>", kind="text/html", routes=None):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
        self.server.answer = (status, body, kind)
        self.server.routes = routes or {}  # path suffix → (status, body, kind)
        self.server.requests = 0
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def requests(self) -> int:
        return self.server.requests

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Garbage:
    """A loopback TCP service that is not HTTP at all (an SSH banner, then it hangs up)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
            conn.close()

    def close(self):
        self._stop = True
        self.sock.close()


@pytest.fixture
def servers():
    made = []

    def make(cls, *args, **kw):
        server = cls(*args, **kw)
        made.append(server)
        return server

    yield make
    for server in made:
        server.close()


def _http(db, dealer, port, host="127.0.0.1", **settings):
    db.query(DmsConnector).delete()
    db.query(SyncCursor).delete()
    db.commit()
    _force(db, dealer, "http", {"base_url": f"http://{host}:{port}/feed/v1/{dealer.code}", "client_id": "boxes",
                                "timeout_seconds": 2, **settings}, {"client_secret": "x"})


def test_http_connector_reaches_only_the_operators_allowed_hosts(client, db, dealers, login_as, operator, servers):
    ar = dealers[0]
    feed = servers(HttpAnswer, 200, '{"access_token": "t", "expires_in": 60}', "application/json")
    operator.allow("10.20.0.0/16", "dms.example.com")
    login_as("admin", ar)
    token = csrf_token_of(client, _url(ar))
    for host in ("127.0.0.1", "localhost", "[::1]", "2130706433"):  # the last: 127.0.0.1 as one number
        response = _save(client, ar, token, kind="http", base_url=f"http://{host}:{feed.port}/feed/v1/AR01")
        assert response.status_code == 422, host
        assert _error_of(response, "base_url")
    assert db.scalar(select(DmsConnector)) is None

    # A row saved before (or a name that resolved elsewhere when it was saved): refused when
    # connecting, on the address the name resolves to now; the server never hears from Boxes.
    for host in ("127.0.0.1", "localhost"):
        _http(db, ar, feed.port, host=host)
        with pytest.raises(ConnectorError):
            run(db, ar, "customers")
        assert "does not allow connections" in _last_error(db, ar)
    assert feed.requests == 0

    # The operator allows it by address and port: it connects.
    operator.allow("127.0.0.1/32")
    assert _save(client, ar, token, kind="http",
                 base_url=f"http://127.0.0.1:{feed.port}/feed/v1/AR01").status_code == 303
    operator.allow(f"localhost:{feed.port}")
    assert _save(client, ar, token, kind="http",
                 base_url=f"http://localhost:{feed.port + 1}/feed/v1/AR01").status_code == 422
    _http(db, ar, feed.port, host="localhost")
    with pytest.raises(ConnectorError):
        run(db, ar, "customers")  # allowed, and connected: the fake feed then gives no page
    assert feed.requests > 0


def test_the_allow_list_is_checked_on_the_address_each_connection_goes_to(servers, config, tmp_path):
    """A name checked when it was saved may point elsewhere when the run connects (DNS
    rebinding): the connection itself checks the address it is about to open."""
    from boxes.dms.connectors.boundaries import Boundaries
    from boxes.dms.connectors.http import HttpConnector, guarded_transport

    feed = servers(HttpAnswer, 200, '{"access_token": "t", "expires_in": 60}', "application/json")
    config.connector_allowed_hosts = ("10.20.0.0/16",)
    config.connector_root = tmp_path
    guarded = guarded_transport(Boundaries.of(config, "AR01"))
    # Built without the save-time check, as if "localhost" had resolved into 10.20.0.0/16 then.
    conn = HttpConnector({"base_url": f"http://localhost:{feed.port}/feed/v1/AR01", "client_id": "boxes"},
                         {"client_secret": "x"}, transport=guarded)
    try:
        with pytest.raises(ConnectorError, match="does not allow connections"):
            list(conn.pages("customers", None))
    finally:
        conn.close()
    assert feed.requests == 0
    config.connector_allowed_hosts = ("127.0.0.0/8",)
    conn = HttpConnector({"base_url": f"http://localhost:{feed.port}/feed/v1/AR01", "client_id": "boxes"},
                         {"client_secret": "x"}, transport=guarded_transport(Boundaries.of(config, "AR01")))
    try:
        with pytest.raises(ConnectorError, match="page without a records list"):
            list(conn.pages("customers", None))  # connected: the token came, the page is no feed page
    finally:
        conn.close()
    assert feed.requests == 2


def test_addresses_that_never_answered_as_a_feed_all_get_one_message(db, dealers, operator, servers):
    """A port scan through the connector learns nothing: a closed port, an HTTP server's 404, a
    web page, JSON that is not a feed and a service that is not HTTP read the same, and fail the
    same way (retried alike)."""
    ar = dealers[0]
    targets = {"closed": free_port(), "404": servers(HttpAnswer).port,
               "page": servers(HttpAnswer, 200, "<html>router login</html>").port,
               "json": servers(HttpAnswer, 200, '{"status": "ok"}', "application/json").port,
               "ssh": servers(Garbage).port}
    seen = {}
    for name, port in targets.items():
        _http(db, ar, port)
        with pytest.raises(ConnectorError) as caught:
            run(db, ar, "customers")
        seen[name] = (caught.type, _last_error(db, ar))
    assert len(set(seen.values())) == 1, seen
    error = next(iter(seen.values()))[1]
    assert "404" not in error and "Error" not in error and str(targets["404"]) not in error


def test_a_feed_that_answered_gets_specific_errors(db, dealers, operator):
    """The same faults on the real feed (the simulator) keep saying what happened."""
    ar = dealers[0]
    sim = Simulator(vehicles=20, seed=2, dealers=("AR01:AR:America/Argentina/Buenos_Aires",))
    try:
        _http(db, ar, sim.port)
        row = db.scalar(select(DmsConnector))
        row.secrets = {"client_secret": "wrong"}
        db.commit()
        with pytest.raises(ConnectorError):
            run(db, ar, "customers")
        assert "refused the credentials" in _last_error(db, ar)
        row = db.scalar(select(DmsConnector))
        row.secrets = {"client_secret": "simulator"}
        db.commit()
        sim.faults(error_rate=1.0)
        with pytest.raises(ConnectorError):
            run(db, ar, "customers")
        assert "HTTP 500" in _last_error(db, ar)
        sim.faults(truncate_rate=1.0)
        with pytest.raises(ConnectorError):
            run(db, ar, "customers")
        assert "cut off" in _last_error(db, ar)
    finally:
        sim.stop()


def test_a_page_whose_json_stops_in_the_middle_was_cut_off(db, dealers, operator, servers):
    """The whole body arrived (its length was right) but the JSON ends half-way: cut off, not
    "cannot reach", and not an unreadable answer either."""
    ar = dealers[0]
    token = ("200", '{"access_token": "t", "expires_in": 600}')
    feed = servers(HttpAnswer, 200, '{"records": [{"dms_id": "C1", "name": "Ana', "application/json",
                   routes={"/token": (int(token[0]), token[1], "application/json")})
    _http(db, ar, feed.port)
    with pytest.raises(ConnectorError):
        run(db, ar, "customers")
    error = _last_error(db, ar)
    assert "cut off" in error and "cannot reach" not in error
    feed.server.answer = (200, "<html>maintenance</html>", "text/html")
    with pytest.raises(ConnectorError):
        run(db, ar, "customers")
    assert "not JSON" in _last_error(db, ar)


def test_an_allow_list_typo_stops_every_process_at_start(tmp_path):
    """Not each sync, one by one, with a traceback: the operator reads it when starting Boxes."""
    from boxes.config import Config

    with pytest.raises(RuntimeError, match=r"'dms\.example\.com:https' is not a host"):
        Config.from_env(instance_dir=tmp_path, secret_key="k",
                        connector_allowed_hosts=("10.0.0.0/8", "dms.example.com:https"))
    ok = Config.from_env(instance_dir=tmp_path, secret_key="k",
                         connector_allowed_hosts=("10.0.0.0/8", "dms.example.com:8443", "[::1]:80"))
    assert ok.connectors_root == tmp_path / "connectors"
