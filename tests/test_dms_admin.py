"""Integrations → DMS, the admins' page: connector settings with write-only secrets, localized 422s,
"Sync now" queues the job, "Retry quarantined", the polled progress block, run details, audit."""

from __future__ import annotations

from rq import Queue
from sqlalchemy import select

from boxes.models import AuditLog, DmsConnector, QuarantinedRecord, SyncRun
from tests.conftest import csrf_token_of

SECRET = "s3cr3t-never-shown"


def _url(dealer, path=""):
    return f"/d/{dealer.code}/admin/integrations/dms{path}"


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
    assert 'hx-trigger="every 2s"' in block and "Sincronizando" in block and "<html" not in block
    run.status, run.error = "failed", "vehicles: HTTP 500 from the DMS"
    db.commit()
    block = client.get(_url(ar, "/status"), headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "hx-trigger" not in block and "HTTP 500 from the DMS" in block
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

    from boxes.dms.sync import enqueue_all, job_id

    ar, br = dealers
    db.add(DmsConnector(dealer_id=ar.id, kind="simulator", settings={}, secrets={}))
    db.add(DmsConnector(dealer_id=br.id, kind="simulator", enabled=False, settings={}, secrets={}))
    db.commit()
    assert enqueue_all(db, redis, config) == 1
    assert enqueue_all(db, redis, config) == 0  # still queued: not twice
    job = Job.fetch(job_id(ar.id), connection=redis)
    assert job.func_name == "jobs.sync.sync_dealer" and job.args == (ar.id, "cron")
    assert job.retries_left == len(config.sync_retry_intervals)
