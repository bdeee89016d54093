"""Integrations → DMS, the admins' page: connector settings with write-only secrets, localized 422s,
"Sync now" queues the job, "Retry quarantined", the polled progress block, run details, audit."""

from __future__ import annotations

from rq import Queue
from sqlalchemy import select

from boxes.models import AuditLog, DmsConnector, QuarantinedRecord, SyncRun
from tests.conftest import csrf_token_of
from tests.html import every, one

SECRET = "s3cr3t-never-shown"


def _url(dealer, path=""):
    return f"/d/{dealer.code}/admin/integrations/dms{path}"


def _save(client, dealer, **fields):
    """The connector form posted as an admin would (the page's CSRF token first)."""
    return client.post(_url(dealer), data={"csrf_token": csrf_token_of(client, _url(dealer)), **fields})


def test_only_admins_see_the_page(client, dealers, login_as):
    ar = dealers[0]
    login_as("caller", ar)
    assert client.get(_url(ar)).status_code == 403
    login_as("admin", ar)
    html = client.get(_url(ar)).get_data(as_text=True)
    assert "Integraciones" in html and "Sincronizar ahora" in html


def test_settings_are_saved_secrets_are_write_only_and_bad_input_is_a_localized_422(client, db, dealers, login_as):
    ar = dealers[0]
    login_as("admin", ar)
    token = csrf_token_of(client, _url(ar))
    bad = client.post(_url(ar), data={"csrf_token": token, "kind": "http", "base_url": "ftp://dms",
                                      "tolerance_days": "9", "page_size": "abc"})
    assert bad.status_code == 422
    body = bad.get_data(as_text=True)
    assert "Ingresá la dirección del feed" in body and "Ingresá un número" in body
    assert db.scalar(select(DmsConnector)) is None

    ok = client.post(_url(ar), data={"csrf_token": token, "kind": "http", "base_url": "https://dms.example/feed/v1/AR",
                                     "client_id": "boxes", "client_secret": SECRET, "page_size": "200",
                                     "tolerance_days": "1", "enabled": "1"})
    assert ok.status_code == 303
    row = db.scalar(select(DmsConnector))
    assert row.secrets == {"client_secret": SECRET} and row.settings["page_size"] == 200 and row.tolerance_days == 1
    page = client.get(_url(ar)).get_data(as_text=True)
    assert SECRET not in page and "https://dms.example/feed/v1/AR" in page

    # An empty secret input keeps the stored one; "remove" clears it.
    client.post(_url(ar), data={"csrf_token": token, "kind": "http", "base_url": "https://dms.example/feed/v1/AR",
                                "client_id": "boxes", "tolerance_days": "0", "enabled": "1"})
    db.expire_all()
    assert db.scalar(select(DmsConnector)).secrets == {"client_secret": SECRET}
    client.post(_url(ar), data={"csrf_token": token, "kind": "http", "base_url": "https://dms.example/feed/v1/AR",
                                "tolerance_days": "0", "clear": "client_secret"})
    db.expire_all()
    assert db.scalar(select(DmsConnector)).secrets == {}
    audits = db.scalars(select(AuditLog).where(AuditLog.action == "dms_connector.saved")).all()
    assert len(audits) == 3 and all(SECRET not in str(a.data) for a in audits)


def test_a_mapping_that_spells_a_nul_is_refused_not_stored(client, db, dealers, login_as):
    """JSON can spell a NUL as an escape (\\u0000) that no raw-text check sees; parsed, it would reach the
    stored settings and every sync's file reading. Refused next to the field, the rest kept as typed."""
    login_as("admin", dealers[0])
    bad = _save(client, dealers[0], kind="files", inbox="exports", columns='{"customers": {"name": "Nom\\u0000bre"}}',
                tolerance_days="0")
    assert bad.status_code == 422
    assert "no se puede guardar" in one(bad, '[data-error="columns"]').get_text()
    assert one(bad, "#f-inbox")["value"] == "exports"
    assert db.scalar(select(DmsConnector)) is None


def test_sync_now_queues_one_job_and_the_status_block_polls_while_running(client, db, dealers, login_as, redis):
    ar = dealers[0]
    login_as("admin", ar)
    token = csrf_token_of(client, _url(ar))
    refused = client.post(_url(ar, "/sync"), data={"csrf_token": token})
    assert refused.status_code == 422 and "Configurá y habilitá un conector" in refused.get_data(as_text=True)
    db.add(DmsConnector(dealer_id=ar.id, kind="simulator", settings={"base_url": "http://127.0.0.1:9/feed/v1/AR01"},
                        secrets={}))
    db.commit()
    assert client.post(_url(ar, "/sync"), data={"csrf_token": token}).status_code == 303
    assert client.post(_url(ar, "/sync"), data={"csrf_token": token}).status_code == 303
    assert Queue("sync", connection=redis).count == 1

    run = SyncRun(dealer_id=ar.id, entity="vehicles", status="running", pages=3, inserted=120)
    db.add(run)
    db.commit()
    block = client.get(_url(ar, "/status"), headers={"HX-Request": "true"}).get_data(as_text=True)
    assert every(block, '[hx-trigger="every 2s"]') and "Sincronizando" in block and not every(block, "html")
    run.status, run.error = "failed", "vehicles: HTTP 500 from the DMS"
    db.commit()
    block = client.get(_url(ar, "/status"), headers={"HX-Request": "true"}).get_data(as_text=True)
    assert not every(block, "[hx-trigger]") and "HTTP 500 from the DMS" in block
    detail = client.get(_url(ar, f"/runs/{run.id}"))
    assert detail.status_code == 200 and "HTTP 500 from the DMS" in detail.get_data(as_text=True)


def test_retry_quarantined_stores_what_now_resolves(client, db, dealers, login_as):
    ar = dealers[0]
    login_as("admin", ar)
    token = csrf_token_of(client, _url(ar))
    db.add(QuarantinedRecord(dealer_id=ar.id, entity="customers", dms_id="C1", kind="reference", reason="x",
                             payload={"dms_id": "C1", "name": "Ana", "dms_updated_at": "2025-01-01T00:00:00+00:00"}))
    db.add(QuarantinedRecord(dealer_id=ar.id, entity="customers", dms_id="C2", kind="invalid", reason="name: missing",
                             payload={"dms_id": "C2", "dms_updated_at": "2025-01-01T00:00:00+00:00"}))
    db.commit()
    html = client.get(_url(ar)).get_data(as_text=True)
    assert "name: missing" in html
    one = db.scalar(select(QuarantinedRecord.id).where(QuarantinedRecord.dms_id == "C1"))
    assert client.post(_url(ar, f"/quarantine/{one}/retry"), data={"csrf_token": token}).status_code == 303
    assert client.post(_url(ar, "/quarantine/retry"), data={"csrf_token": token}).status_code == 303
    db.expire_all()
    open_entries = db.scalars(select(QuarantinedRecord).where(QuarantinedRecord.resolved_at.is_(None))).all()
    assert [(q.dms_id, q.reason) for q in open_entries] == [("C2", "name: missing")]
    assert db.scalar(select(AuditLog).where(AuditLog.action == "dms_quarantine.retried")) is not None


def test_make_run_points_the_demo_dealers_at_the_simulator(db, config):
    from boxes.dms.simulator.demo import DEMO_DEALERS
    from boxes.dms.simulator.embedded import connect_demo_dealers, simulator_argv
    from boxes.models import Dealer

    for values in DEMO_DEALERS:
        db.add(Dealer(**values))
    db.commit()
    assert connect_demo_dealers(config, wait=0) == 2
    assert connect_demo_dealers(config, wait=0) == 0  # never twice, never over an admin's own settings
    urls = sorted(c.settings["base_url"] for c in db.scalars(select(DmsConnector)))
    assert urls == [f"http://127.0.0.1:{config.dms_simulator_port}/feed/v1/{d['code']}"
                    for d in sorted(DEMO_DEALERS, key=lambda d: d["code"])]
    argv = simulator_argv(config)
    assert "dms-simulator" in argv and argv[argv.index("--clock") + 1] == "real"


def test_cron_queues_one_sync_per_dealer_with_an_enabled_connector(db, dealers, redis, config):
    from rq.job import Job

    from jobs.sync import enqueue_all, job_id

    ar, br = dealers
    db.add(DmsConnector(dealer_id=ar.id, kind="simulator", settings={}, secrets={}))
    db.add(DmsConnector(dealer_id=br.id, kind="simulator", enabled=False, settings={}, secrets={}))
    db.commit()
    assert enqueue_all(db, redis, config) == 1
    assert enqueue_all(db, redis, config) == 0  # still queued: not twice
    job = Job.fetch(job_id(ar.id), connection=redis)
    assert job.func_name == "jobs.sync.sync_dealer" and job.args == (ar.id, "cron")
    assert job.retries_left == len(config.sync_retry_intervals)


# --------------------------------------------------------------- cursors (issue 11, item 14)

def _cursors(db, dealer) -> dict:
    from boxes.models import SyncCursor

    db.expire_all()
    return {c.entity: c.cursor for c in db.scalars(select(SyncCursor).where(SyncCursor.dealer_id == dealer.id))}


def _with_cursors(db, dealer, kind="http", settings=None, secrets=None, **cursors):
    from boxes.models import SyncCursor

    db.add(DmsConnector(dealer_id=dealer.id, kind=kind, settings=settings or {}, secrets=secrets or {}))
    for entity, cursor in cursors.items():
        db.add(SyncCursor(dealer_id=dealer.id, entity=entity, cursor=cursor))
    db.commit()


OLD_FEED = "https://old-dms.example/feed/v1/AR01"
NEW_FEED = "https://new-dms.example/feed/v1/AR01"


def test_changing_the_kind_or_source_resets_the_cursors_once_confirmed(client, db, dealers, login_as):
    ar = dealers[0]
    _with_cursors(db, ar, settings={"base_url": OLD_FEED}, customers="2025-03-01T10:00:00|C9",
                  vehicles="2025-03-01T10:00:00|V9")
    login_as("admin", ar)
    token = csrf_token_of(client, _url(ar))
    base = {"csrf_token": token, "tolerance_days": "0", "enabled": "1"}

    # Not the source (page size): saved, the cursors stay.
    assert client.post(_url(ar), data={**base, "kind": "http", "base_url": OLD_FEED,
                                       "page_size": "100"}).status_code == 303
    assert _cursors(db, ar) == {"customers": "2025-03-01T10:00:00|C9", "vehicles": "2025-03-01T10:00:00|V9"}

    # Another feed address: asks first, with what it does; nothing changes until confirmed.
    ask = client.post(_url(ar), data={**base, "kind": "http", "base_url": NEW_FEED})
    assert ask.status_code == 422
    body = ask.get_data(as_text=True)
    assert every(body, '[data-error="reset_cursors"]') and "lee todo de nuevo" in body
    assert every(body, '[name="reset_cursors"]')
    assert db.scalar(select(DmsConnector.settings))["base_url"] == OLD_FEED
    assert _cursors(db, ar)["customers"] == "2025-03-01T10:00:00|C9"

    done = client.post(_url(ar), data={**base, "kind": "http", "base_url": NEW_FEED, "reset_cursors": "1"})
    assert done.status_code == 303
    db.expire_all()
    assert db.scalar(select(DmsConnector.settings))["base_url"] == NEW_FEED
    assert _cursors(db, ar) == {"customers": None, "vehicles": None}
    audit = db.scalars(select(AuditLog).where(AuditLog.action == "dms_connector.saved")
                       .order_by(AuditLog.id.desc())).first()
    assert audit.data["cursors_reset"] == ["customers", "vehicles"]

    # Another kind: the same question (the cursors of an http feed mean nothing to a folder of files).
    from boxes.models import SyncCursor

    db.scalar(select(SyncCursor).where(SyncCursor.entity == "customers")).cursor = "2025-04-01T00:00:00|C1"
    db.commit()
    ask = client.post(_url(ar), data={**base, "kind": "files", "inbox": "exports"})
    assert ask.status_code == 422 and every(ask, '[data-error="reset_cursors"]')
    assert db.scalar(select(DmsConnector.kind)) == "http"
    assert client.post(_url(ar), data={**base, "kind": "files", "inbox": "exports",
                                       "reset_cursors": "1"}).status_code == 303
    assert _cursors(db, ar)["customers"] is None


def test_a_changed_sql_query_resets_that_entitys_cursor_only(client, db, dealers, login_as, tmp_path, config):
    import json

    ar = dealers[0]
    folder = config.connectors_root / ar.code
    folder.mkdir(parents=True)
    queries = {"customers": "SELECT 1 AS dms_id, :cursor AS dms_updated_at",
               "vehicles": "SELECT 2 AS dms_id, :cursor AS dms_updated_at"}
    _with_cursors(db, ar, kind="sql", settings={"queries": queries}, secrets={"url": "sqlite:///dms.db"},
                  customers="2025-03-01 10:00:00", vehicles="2025-03-02 10:00:00")
    login_as("admin", ar)
    token = csrf_token_of(client, _url(ar))
    changed = {**queries, "vehicles": "SELECT 3 AS dms_id, :cursor AS dms_updated_at"}
    data = {"csrf_token": token, "tolerance_days": "0", "enabled": "1", "kind": "sql", "queries": json.dumps(changed)}
    assert client.post(_url(ar), data=data).status_code == 422
    assert client.post(_url(ar), data={**data, "reset_cursors": "1"}).status_code == 303
    assert _cursors(db, ar) == {"customers": "2025-03-01 10:00:00", "vehicles": None}


def test_admin_resets_one_entitys_cursor(client, db, dealers, login_as):
    ar = dealers[0]
    _with_cursors(db, ar, settings={"base_url": OLD_FEED}, customers="2025-03-01T10:00:00|C9",
                  vehicles="2025-03-01T10:00:00|V9")
    login_as("caller", ar)
    token = csrf_token_of(client, f"/d/{ar.code}/board/deliveries")
    assert client.post(_url(ar, "/cursors/customers/reset"), data={"csrf_token": token}).status_code == 403
    login_as("admin", ar)
    page = client.get(_url(ar)).get_data(as_text=True)
    assert one(page, "#cursors") and "2025-03-01T10:00:00|C9" in page and "Reiniciar el cursor" in page
    done = client.post(_url(ar, "/cursors/customers/reset"), data={"csrf_token": token})
    assert done.status_code == 303
    assert _cursors(db, ar) == {"customers": None, "vehicles": "2025-03-01T10:00:00|V9"}
    audit = db.scalar(select(AuditLog).where(AuditLog.action == "dms_cursor.reset"))
    assert audit.data == {"entity": "customers", "cursor_before": "2025-03-01T10:00:00|C9"}
    assert client.post(_url(ar, "/cursors/nothing/reset"), data={"csrf_token": token}).status_code == 404


def test_a_cursor_is_not_reset_under_a_running_sync(client, db, dealers, login_as):
    ar = dealers[0]
    _with_cursors(db, ar, settings={"base_url": OLD_FEED}, customers="2025-03-01T10:00:00|C9")
    db.add(SyncRun(dealer_id=ar.id, entity="customers", status="running"))
    db.commit()
    login_as("admin", ar)
    token = csrf_token_of(client, _url(ar))
    refused = client.post(_url(ar, "/cursors/customers/reset"), data={"csrf_token": token})
    assert refused.status_code == 422 and "en curso" in refused.get_data(as_text=True)
    assert _cursors(db, ar) == {"customers": "2025-03-01T10:00:00|C9"}
