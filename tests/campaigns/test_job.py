"""The campaign job on a real RQ worker (a subprocess) against the test Redis and database: progress,
re-runs, a worker killed mid-job, and the recovery sweep."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psutil
from rq import Queue
from sqlalchemy import func, insert, select

from boxes.campaigns import service
from boxes.db import utcnow
from boxes.models import AuditLog, Campaign, Customer, Opportunity, Vehicle
from jobs.campaigns import QUEUE, process_campaign
from tests import factories
from tests.conftest import csrf_token_of
from tests.html import every, one

ROOT = Path(__file__).resolve().parents[2]


def _bulk_units(db, dealer, n: int) -> list[int]:
    db.execute(insert(Customer), [dict(dealer_id=dealer.id, dms_id=f"JC{i}", name=f"Cliente {i}", phone_mobile="",
                                       phone_home="", phone_work="", email="", contact_opt_out=False,
                                       created_at=utcnow()) for i in range(n)])
    customers = db.scalars(select(Customer.id).where(Customer.dealer_id == dealer.id).order_by(Customer.id)).all()
    db.execute(insert(Vehicle), [dict(dealer_id=dealer.id, dms_id=f"JV{i}", vin=f"8AGJOB{i:011d}", plate="",
                                      brand="Chevrolet", model="Onix", version="", customer_id=cid,
                                      created_at=utcnow()) for i, cid in enumerate(customers)])
    db.commit()
    return list(db.scalars(select(Vehicle.id).where(Vehicle.dealer_id == dealer.id)))


def _campaign(db, dealer, n: int) -> Campaign:
    actor = factories.user(db, role="campaigns", dealer=dealer)
    factories.user(db, role="caller", dealer=dealer)
    due = (utcnow().astimezone(ZoneInfo(dealer.time_zone)) + timedelta(days=3)).date().isoformat()
    return service.create_campaign(db, dealer, actor, name="Recall", kind="recall", due_date=due,
                                   assignment="round_robin", vehicle_ids=_bulk_units(db, dealer, n))


def _worker(redis_url: str, database_url: str, burst: bool = True) -> subprocess.Popen:
    env = {**os.environ, "BOXES_DATABASE_URL": database_url, "BOXES_REDIS_URL": redis_url,
           "BOXES_SECRET_KEY": "test", "PYTHONPATH": str(ROOT)}  # a job reads its settings as every Boxes process
    cmd = [str(Path(sys.executable).with_name("rq")), "worker", QUEUE, "--url", redis_url]
    if burst:
        cmd.append("--burst")
    return subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _opportunities(db, campaign_id: int) -> list[int]:
    db.expire_all()
    return list(db.scalars(select(Opportunity.vehicle_id).where(Opportunity.campaign_id == campaign_id)))


def test_job_on_real_worker_reports_progress_and_rerun_is_idempotent(db, dealers, redis, redis_url, database_url):
    ar, _ = dealers
    campaign = _campaign(db, ar, 120)
    queue = Queue(QUEUE, connection=redis)
    job = queue.enqueue(process_campaign, campaign.id, 50)
    assert _worker(redis_url, database_url).wait(timeout=60) == 0
    job.refresh()
    assert job.get_status() == "finished", job.latest_result().exc_string
    db.expire_all()
    assert db.get(Campaign, campaign.id).units_processed == 120  # the progress the page shows
    assert job.return_value() == {"units": 120, "created": 120}
    # Run it again: nothing new.
    again = queue.enqueue(process_campaign, campaign.id, 50)
    assert _worker(redis_url, database_url).wait(timeout=60) == 0
    assert again.get_status() == "finished"
    vehicles = _opportunities(db, campaign.id)
    assert len(vehicles) == len(set(vehicles)) == 120


def test_worker_killed_mid_job_then_rerun_creates_each_unit_once(db, dealers, redis, redis_url, database_url):
    ar, _ = dealers
    campaign = _campaign(db, ar, 400)
    queue = Queue(QUEUE, connection=redis)
    queue.enqueue(process_campaign, campaign.id, 20, 0.05, job_timeout=600)
    stopped_at = _kill_worker_mid_job(db, _worker(redis_url, database_url, burst=False), campaign.id, 100)
    assert 100 <= stopped_at < 400, "the worker must die mid-job"
    partial = _opportunities(db, campaign.id)
    assert len(partial) == len(set(partial)) >= stopped_at
    # Run it again (what "run again" on the campaign page does): it resumes.
    queue.enqueue(process_campaign, campaign.id, 50)
    assert _worker(redis_url, database_url).wait(timeout=120) == 0
    vehicles = _opportunities(db, campaign.id)
    assert len(vehicles) == 400 and len(set(vehicles)) == 400
    db.expire_all()
    final = db.get(Campaign, campaign.id)
    assert (final.status, final.units_processed, final.opportunities_created) == ("done", 400, 400)
    assert db.scalar(select(func.count()).select_from(Opportunity).where(Opportunity.dealer_id == ar.id)) == 400


def _kill_worker_mid_job(db, worker: subprocess.Popen, campaign_id: int, at_least: int) -> int:
    """SIGKILL the worker and its work horse once the campaign has processed ``at_least`` units.
    RQ puts the horse in a session of its own, so killing the worker's group would leave it
    running: every descendant is killed. Returns the units processed when it died."""
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            db.expire_all()
            if db.scalar(select(Campaign.units_processed).where(Campaign.id == campaign_id)) >= at_least:
                break
            time.sleep(0.05)
        horses = psutil.Process(worker.pid).children(recursive=True)
        for process in [*horses, psutil.Process(worker.pid)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        worker.wait(timeout=10)
        psutil.wait_procs(horses, timeout=10)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    db.expire_all()
    return db.scalar(select(Campaign.units_processed).where(Campaign.id == campaign_id))


def _sweep(db, redis, database_url, now):
    from jobs.campaigns import enqueue_campaign

    return service.recover(db, redis, lambda campaign_id, job_id: enqueue_campaign(redis, campaign_id, job_id),
                           now=now)


def test_the_sweep_resumes_a_campaign_whose_worker_was_killed(client, db, dealers, redis, redis_url, database_url,
                                                              login_as):
    """The campaign stays "processing" with a dead job (its page polls forever) until the sweep finds
    the job's heartbeat stale and starts it again: it finishes without a duplicate opportunity and
    the page stops polling."""
    ar, _ = dealers
    campaign = _campaign(db, ar, 400)
    job = Queue(QUEUE, connection=redis).enqueue(process_campaign, campaign.id, 20, 0.05,
                                                 job_timeout=600)
    service.mark_queued(db, ar, None, campaign, job.id)
    stopped_at = _kill_worker_mid_job(db, _worker(redis_url, database_url, burst=False), campaign.id, 100)
    assert 100 <= stopped_at < 400, "the worker must die mid-job"

    login_as("campaigns", ar)
    progress_url = f"/d/{ar.code}/campaigns/{campaign.id}/progress"
    progress = client.get(progress_url, headers={"HX-Request": "true"})
    assert progress.status_code == 200 and every(progress, "[hx-trigger]")  # still "processing"

    # Its heartbeat is fresh: it could be alive, so it is left alone.
    assert _sweep(db, redis, database_url, utcnow()) == {"resumed": [], "failed": []}
    later = utcnow() + service.STALE_HEARTBEAT + timedelta(seconds=30)
    assert _sweep(db, redis, database_url, later) == {"resumed": [campaign.id], "failed": []}
    assert _sweep(db, redis, database_url, later) == {"resumed": [], "failed": []}  # its new job is queued
    db.expire_all()
    resumed = db.get(Campaign, campaign.id)
    assert (resumed.status, resumed.recoveries) == ("processing", 1)
    assert resumed.job_id == f"campaign-{campaign.id}-recovery-1"
    assert db.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "campaign.resume",
                                                                       AuditLog.entity_id == campaign.id)) == 1

    assert _worker(redis_url, database_url).wait(timeout=120) == 0
    db.expire_all()
    final = db.get(Campaign, campaign.id)
    assert (final.status, final.units_processed, final.opportunities_created) == ("done", 400, 400)
    vehicles = _opportunities(db, campaign.id)
    assert len(vehicles) == len(set(vehicles)) == 400
    progress = client.get(progress_url, headers={"HX-Request": "true"})
    assert progress.status_code == 286 and not every(progress, "[hx-trigger]")
    assert "100%" in progress.get_data(as_text=True)


def test_a_campaign_whose_job_keeps_dying_is_marked_failed_and_run_again_resumes_it(client, db, dealers, redis,
                                                                                   redis_url, database_url, login_as):
    ar, _ = dealers
    campaign = _campaign(db, ar, 30)
    # Its job is gone (Redis lost it, or it died) after the sweep had restarted it as often as it may.
    campaign.status, campaign.job_id, campaign.recoveries = "processing", "lost-job", service.MAX_RECOVERIES
    db.commit()
    assert _sweep(db, redis, database_url, utcnow()) == {"resumed": [], "failed": [campaign.id]}
    db.expire_all()
    assert (db.get(Campaign, campaign.id).status, db.get(Campaign, campaign.id).failure) == ("failed", "stopped")
    assert len(Queue(QUEUE, connection=redis)) == 0

    login_as("campaigns", ar)
    detail = f"/d/{ar.code}/campaigns/{campaign.id}"
    progress = client.get(f"{detail}/progress", headers={"HX-Request": "true"})
    body = progress.get_data(as_text=True)
    assert progress.status_code == 286 and not every(body, "[hx-trigger]")  # the spinning bar and the polling stop
    assert one(body, "#campaign-failure") and "Su proceso se detuvo antes de terminar varias veces" in body
    assert one(body, "#rerun-campaign") and "Falló" in body

    token = csrf_token_of(client, detail)
    assert client.post(f"{detail}/run", headers={"X-CSRFToken": token}).status_code == 302
    db.expire_all()
    again = db.get(Campaign, campaign.id)
    assert (again.status, again.recoveries, again.failure) == ("processing", 0, "")
    assert _worker(redis_url, database_url).wait(timeout=60) == 0
    db.expire_all()
    assert db.get(Campaign, campaign.id).status == "done"
    assert sorted(_opportunities(db, campaign.id)) == sorted(set(_opportunities(db, campaign.id)))
    assert len(_opportunities(db, campaign.id)) == 30
