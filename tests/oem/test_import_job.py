"""The OEM lead import as RQ runs it (jobs/oem_import.py): queued once per dealer by the cron, "Import
now", a real ``rq worker`` process running the job against ``boxes oem-simulator`` on loopback, RQ's
retry after a 429, a worker SIGKILLed in the middle of an import, and the demo dealers' connectors."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from rq.job import Job, JobStatus
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select

from boxes.models import Dealer, OemConnector, OemLead, Opportunity
from boxes.oem.api import parse_instant
from boxes.oem.importer import import_leads
from jobs.oem_import import QUEUE, enqueue_all, enqueue_import, import_now, job_id
from tests.oem_helpers import OemSimulator, connect
from tests.workers import Workers, worker_env

pytestmark = pytest.mark.usefixtures("clean_faults")


@pytest.fixture(scope="module")
def sim():
    with OemSimulator(backlog=8) as s:
        yield s


def _leads_of(db, dealer) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(OemLead).where(OemLead.dealer_id == dealer.id))


def test_cron_queues_one_import_per_dealer_with_an_enabled_connector(db, dealers, sim, redis, config):
    ar, br = dealers
    connect(db, ar, sim)
    connect(db, br, sim).enabled = False
    db.commit()
    assert enqueue_all(db, redis, config) == 1
    assert enqueue_all(db, redis, config) == 0  # still queued: not twice
    assert enqueue_import(redis, config, ar.id) is False
    job = Job.fetch(job_id(ar.id), connection=redis)
    assert job.func_name == "jobs.oem_import.import_dealer" and job.args == (ar.id, "cron") and job.origin == QUEUE
    assert job.retries_left == len(config.oem_import_retry_intervals)
    assert import_now(redis, config, ar.id) == "waiting"


def _workers(database_url, redis_url, tmp_path, **env) -> Workers:
    return Workers(worker_env(database_url, redis_url, **env), redis_url, tmp_path, queue=QUEUE)


def test_a_real_worker_runs_the_import_job(db, dealers, sim, redis, redis_url, database_url, config, tmp_path):
    ar = dealers[0]
    connect(db, ar, sim)
    assert enqueue_import(redis, config, ar.id, "manual")
    _workers(database_url, redis_url, tmp_path).burst()
    job = Job.fetch(job_id(ar.id), connection=redis)
    assert job.get_status(refresh=True) == JobStatus.FINISHED
    result = job.return_value()
    truth = sim.truth("AR01")["leads"]
    assert result["dealer_id"] == ar.id and result["received"] == len(truth) and result["error"] == ""
    assert _leads_of(db, ar) == len(truth)
    connector = db.scalar(select(OemConnector).where(OemConnector.dealer_id == ar.id))
    assert connector.last_import_at is not None and connector.last_import_error == ""
    # Queued again after it finished: the next cron run imports what changed since.
    assert enqueue_import(redis, config, ar.id)


def test_a_429_makes_rq_retry_the_job_later_and_import_now_runs_it_at_once(db, dealers, sim, redis, redis_url,
                                                                         database_url, config, tmp_path):
    ar = dealers[0]
    connect(db, ar, sim, max_wait=0.5)
    workers = _workers(database_url, redis_url, tmp_path, BOXES_OEM_IMPORT_RETRY_INTERVALS="600")
    sim.faults(next=["rate_limit@leads"], retry_after=2)
    assert enqueue_import(redis, replace(config, oem_import_retry_intervals=(600,)), ar.id)
    workers.burst()  # the OEM answers 429: RQ schedules the retry in 10 minutes
    job = Job.fetch(job_id(ar.id), connection=redis)
    assert job.get_status(refresh=True) == JobStatus.SCHEDULED
    db.expire_all()
    connector = db.scalar(select(OemConnector).where(OemConnector.dealer_id == ar.id))
    assert "slow down" in connector.last_import_error and _leads_of(db, ar) == 0
    assert enqueue_import(redis, config, ar.id) is False  # the cron does not add a second job

    time.sleep(2.1)  # the Retry-After the OEM gave has passed
    assert import_now(redis, config, ar.id) == "replaced"
    assert job_id(ar.id) not in ScheduledJobRegistry(QUEUE, connection=redis).get_job_ids()
    workers.burst()
    assert Job.fetch(job_id(ar.id), connection=redis).get_status(refresh=True) == JobStatus.FINISHED
    db.expire_all()
    assert connector.last_import_error == "" and _leads_of(db, ar) == len(sim.truth("AR01")["leads"])


def test_refused_credentials_end_the_job_without_a_retry(db, dealers, sim, redis, redis_url, database_url, config,
                                                        tmp_path):
    ar = dealers[0]
    connect(db, ar, sim, client_secret="wrong-secret")
    seq = sim.last_call()
    assert enqueue_import(redis, config, ar.id)
    _workers(database_url, redis_url, tmp_path).burst()
    job = Job.fetch(job_id(ar.id), connection=redis)
    assert job.get_status(refresh=True) == JobStatus.FINISHED and job.return_value()["stopped"] is True
    assert sim.calls(seq) == [("token", 400, None)]
    db.expire_all()
    assert "refused the credentials" in db.scalar(select(OemConnector.last_import_error))


def test_a_worker_killed_in_the_middle_of_an_import_resumes_from_its_last_page(db, dealers, sim, redis, redis_url,
                                                                             database_url, config, tmp_path):
    br = dealers[1]  # its leads' stamps are their own (AR01's were moved by the relay of the tests above)
    sim.advance(minutes=60, leads=16)
    connect(db, br, sim, page_size=2)
    sim.faults(latency_ms=250)  # slow pages: the kill lands in the middle
    workers = _workers(database_url, redis_url, tmp_path)
    worker = workers.start(scheduler=False)
    try:
        assert enqueue_import(redis, config, br.id)
        workers.kill_when(worker, lambda: _leads_of(db, br) >= 4)  # the worker and its work horse, no goodbye
    finally:
        workers.stop_all()
    truth = sim.truth("BR01")["leads"]
    partial = _leads_of(db, br)
    assert 4 <= partial < len(truth), "the kill did not land during the import"
    connector = db.scalar(select(OemConnector).where(OemConnector.dealer_id == br.id))
    watermark = connector.watermark
    assert watermark is not None  # stored with the last page committed

    sim.faults()
    result = import_leads(db, br, redis)
    # It resumed from the watermark: the leads from its minute on, not the whole feed again.
    since = [lead for lead in truth.values() if parse_instant(lead["SystemModstamp"]) >= watermark]
    assert result.error == "" and result.received == len(since) < len(truth)
    assert _leads_of(db, br) == len(truth)
    per_lead = db.execute(select(Opportunity.oem_lead_id, func.count()).group_by(Opportunity.oem_lead_id)).all()
    assert per_lead and all(n == 1 for _, n in per_lead)


def test_the_demo_dealers_get_an_enabled_connector_on_the_simulator_and_leads_arrive(db, redis, config):
    from boxes.dms.simulator.demo import DEMO_DEALERS
    from boxes.oem.simulator.embedded import connect_demo_dealers

    demo = OemSimulator(backlog=5, dealers=[f"{d['code']}:{d['country']}:{d['time_zone']}" for d in DEMO_DEALERS])
    try:
        config = replace(config, oem_simulator_port=demo.port)
        dealers = [Dealer(**values) for values in DEMO_DEALERS]
        db.add_all(dealers)
        db.flush()
        assert connect_demo_dealers(db, config, dealers) == 2
        db.commit()
        assert connect_demo_dealers(db, config, dealers) == 0  # never twice, never over an admin's own settings
        for dealer in dealers:
            row = db.scalar(select(OemConnector).where(OemConnector.dealer_id == dealer.id))
            assert row.enabled and row.settings["base_url"] == demo.base
            assert row.settings["dealer_code"] == dealer.code and row.secrets == {"client_secret": "simulator"}
            assert import_leads(db, dealer, redis).received == 5
            assert db.scalar(select(func.count()).select_from(OemLead).where(OemLead.dealer_id == dealer.id)) == 5
    finally:
        demo.stop()

