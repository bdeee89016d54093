"""The campaign job on a real RQ worker (a subprocess) against the test Redis and database."""

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
from boxes.models import Campaign, Customer, Opportunity, Vehicle
from jobs.campaigns import QUEUE, process_campaign
from tests import factories

ROOT = Path(__file__).resolve().parents[1]


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
           "PYTHONPATH": str(ROOT)}
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
    job = queue.enqueue(process_campaign, campaign.id, database_url, 50)
    assert _worker(redis_url, database_url).wait(timeout=60) == 0
    job.refresh()
    assert job.get_status() == "finished"
    assert job.meta == {"done": 120, "total": 120}
    assert job.return_value() == {"units": 120, "created": 120}
    # Run it again: nothing new.
    again = queue.enqueue(process_campaign, campaign.id, database_url, 50)
    assert _worker(redis_url, database_url).wait(timeout=60) == 0
    assert again.get_status() == "finished"
    vehicles = _opportunities(db, campaign.id)
    assert len(vehicles) == len(set(vehicles)) == 120


def test_worker_killed_mid_job_then_rerun_creates_each_unit_once(db, dealers, redis, redis_url, database_url):
    ar, _ = dealers
    campaign = _campaign(db, ar, 400)
    queue = Queue(QUEUE, connection=redis)
    queue.enqueue(process_campaign, campaign.id, database_url, 20, 0.05, job_timeout=600)
    worker = _worker(redis_url, database_url, burst=False)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            db.expire_all()
            done = db.scalar(select(Campaign.units_processed).where(Campaign.id == campaign.id))
            if done >= 100:
                break
            time.sleep(0.05)
        # The worker and its work horse, mid-job. RQ puts the horse in a session of its own, so
        # killing the worker's group would leave the horse running: kill every descendant.
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
    stopped_at = db.scalar(select(Campaign.units_processed).where(Campaign.id == campaign.id))
    assert 100 <= stopped_at < 400, "the worker must die mid-job"
    partial = _opportunities(db, campaign.id)
    assert len(partial) == len(set(partial)) >= stopped_at
    # Run it again (what "run again" on the campaign page does): it resumes.
    queue.enqueue(process_campaign, campaign.id, database_url, 50)
    assert _worker(redis_url, database_url).wait(timeout=120) == 0
    vehicles = _opportunities(db, campaign.id)
    assert len(vehicles) == 400 and len(set(vehicles)) == 400
    db.expire_all()
    final = db.get(Campaign, campaign.id)
    assert (final.status, final.units_processed, final.opportunities_created) == ("done", 400, 400)
    assert db.scalar(select(func.count()).select_from(Opportunity).where(Opportunity.dealer_id == ar.id)) == 400
