"""A real ``rq worker`` process SIGKILLed in the middle of a sync: what it committed stays, the lock
lease expires, the dead run is marked interrupted, and the next run converges without duplicates."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from boxes.config import Config
from boxes.dms.sync.runs import sync_dealer
from boxes.models import SyncRun
from jobs.sync import enqueue_sync
from tests.dms.test_helpers import Simulator, connect, snapshot, table_counts, truth_snapshot
from tests.workers import Workers, worker_env


@pytest.fixture(scope="module")
def sim():
    s = Simulator(vehicles=60, seed=5, dealers=("AR01:AR:America/Argentina/Buenos_Aires",))
    yield s
    s.stop()


def test_worker_killed_mid_sync_then_next_run_converges(db, dealers, sim, redis, redis_url, database_url, config,
                                                        tmp_path):
    ar = dealers[0]
    connect(db, ar, sim, page_size=10, timeout=5)
    sim.faults(latency_ms=150)  # slow pages: the kill lands in the middle
    workers = Workers(worker_env(database_url, redis_url, BOXES_SYNC_LOCK_SECONDS="2"), redis_url, tmp_path,
                      queue="sync")
    worker = workers.start(scheduler=False)
    try:
        assert enqueue_sync(redis, Config.from_env(**{**config.__dict__, "sync_lock_seconds": 2}), ar.id)
        def four_pages_stored() -> bool:
            db.expire_all()
            return db.scalar(select(func.coalesce(func.sum(SyncRun.pages), 0))
                             .where(SyncRun.dealer_id == ar.id)) >= 4

        workers.kill_when(worker, four_pages_stored)  # the worker and its work horse, no goodbye
    finally:
        workers.stop_all()
    db.expire_all()
    running = db.scalars(select(SyncRun).where(SyncRun.status == "running")).all()
    assert running, "the kill did not land during a run"
    partial = table_counts(db, ar.id)
    assert sum(partial.values()) > 0

    sim.faults()
    time.sleep(2.1)  # the dead worker's lock lease expires
    sync_dealer(db, ar, redis=redis, lock_seconds=2)
    db.expire_all()
    got, want = snapshot(db, ar.id), truth_snapshot(sim.truth(ar.code))
    for entity in want:
        diff = {k: (got[entity].get(k), v) for k, v in want[entity].items() if got[entity].get(k) != v}
        extra = set(got[entity]) - set(want[entity])
        assert not diff and not extra, (entity, list(diff.items())[:3], list(extra)[:3])
    interrupted = db.scalars(select(SyncRun).where(SyncRun.id.in_([r.id for r in running]))).all()
    assert all(r.status == "failed" and "interrupted" in r.error for r in interrupted)
    assert db.scalar(select(func.count()).select_from(SyncRun).where(SyncRun.status == "running")) == 0


# ------------------------------------------------------------- "Sync now" (issue 11, item 15)

def test_sync_now_replaces_a_scheduled_retry_and_runs_now(client, db, dealers, login_as, sim, redis, redis_url,
                                                         database_url, config, tmp_path):
    from rq.job import Job, JobStatus
    from rq.registry import ScheduledJobRegistry

    from jobs.sync import job_id
    from tests.conftest import csrf_token_of

    ar = dealers[0]
    connect(db, ar, sim, timeout=2)
    workers = Workers(worker_env(database_url, redis_url, BOXES_SYNC_RETRY_INTERVALS="600"), redis_url, tmp_path,
                      queue="sync")
    sim.faults(error_rate=1.0)
    assert enqueue_sync(redis, Config.from_env(**{**config.__dict__, "sync_retry_intervals": (600,)}), ar.id)
    workers.burst(timeout=120)  # the DMS answers 500: RQ schedules the retry in 10 minutes
    job = Job.fetch(job_id(ar.id), connection=redis)
    assert job.get_status(refresh=True) == JobStatus.SCHEDULED
    sim.faults()

    login_as("admin", ar)
    url = f"/d/{ar.code}/admin/integrations/dms"
    token = csrf_token_of(client, url)
    answer = client.post(f"{url}/sync", data={"csrf_token": token}, follow_redirects=True)
    assert answer.status_code == 200 and "Sincronización en cola" in answer.get_data(as_text=True)
    job = Job.fetch(job_id(ar.id), connection=redis)
    assert job.get_status(refresh=True) == JobStatus.QUEUED and job.args == (ar.id, "manual")
    assert job_id(ar.id) not in ScheduledJobRegistry("sync", connection=redis).get_job_ids()

    workers.burst(timeout=120)  # runs now, not in 10 minutes
    db.expire_all()
    manual = db.scalars(select(SyncRun).where(SyncRun.trigger == "manual")).all()
    assert [r.status for r in manual] == ["succeeded"] * 5


def test_sync_now_is_refused_while_a_sync_runs_and_says_so(client, db, dealers, login_as, sim, redis, redis_url,
                                                          database_url, config, tmp_path):
    from tests.conftest import csrf_token_of

    ar = dealers[0]
    connect(db, ar, sim, page_size=5, timeout=5)
    sim.faults(latency_ms=300)
    workers = Workers(worker_env(database_url, redis_url), redis_url, tmp_path, queue="sync")
    worker = workers.start(scheduler=False)
    try:
        assert enqueue_sync(redis, config, ar.id)
        deadline = time.monotonic() + 30
        while True:
            db.expire_all()
            if db.scalar(select(SyncRun.id).where(SyncRun.status == "running")) is not None:
                break
            assert worker.poll() is None and time.monotonic() < deadline, "the sync never started"
            time.sleep(0.05)
        login_as("admin", ar)
        url = f"/d/{ar.code}/admin/integrations/dms"
        token = csrf_token_of(client, url)
        refused = client.post(f"{url}/sync", data={"csrf_token": token})
        assert refused.status_code == 422 and "en curso" in refused.get_data(as_text=True)
    finally:
        workers.kill(worker)
