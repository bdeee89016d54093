"""The worker and cron processes (``boxes worker``, ``boxes cron``) and their housekeeping jobs.

Both run in-process through RQ's own classes, the same code as ``rq worker --with-scheduler``
and ``rq cron jobs.cron``, so they take their settings (``BOXES_REDIS_URL``, ``BOXES_LOG_LEVEL``)
from :class:`boxes.config.Config` like every other Boxes command.
"""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis import Redis

# Highest priority first: a worker always drains ``sync`` before it sends mail, and so on.
QUEUES: tuple[str, ...] = ("sync", "mail", "campaigns", "oem", "default")
CRON_CONFIG = "jobs.cron"
HEARTBEAT_KEY = "boxes:cron:heartbeat"
MAINTENANCE_SECONDS = 60

# The interpreter a worker runs jobs in (see tune_interpreter).
GC_YOUNG_THRESHOLD = 50_000
SWITCH_INTERVAL = 0.0005

log = logging.getLogger(__name__)
_app = None  # the Flask app of a job that renders templates, built once per process


def redis_connection(url: str) -> Redis:
    # No socket_timeout: a worker blocks on BLPOP for long stretches by design.
    return Redis.from_url(url, socket_connect_timeout=10, health_check_interval=30)


def job_redis(url: str) -> Redis:
    """The running job's own Redis connection (the worker's); outside a job, one to ``url``."""
    from rq import get_current_job

    job = get_current_job()
    return job.connection if job is not None else redis_connection(url)


@dataclass
class JobContext:
    config: Any  # boxes.config.Config
    session: Any  # a sqlalchemy Session, closed when the job's context ends
    redis: Redis  # the job's own connection (the worker's), else one from the settings


@contextmanager
def job_context(*, templates: bool = False) -> Iterator[JobContext]:
    """What every job works with: the settings (``BOXES_*`` from the environment, as every Boxes
    command), a session of its own and Redis. No Flask unless ``templates`` (a job that renders
    mail: the app, built once per process, gives its templates, translations and engine, and its
    context is pushed for the job's length)."""
    if templates:
        global _app
        if _app is None:
            from boxes import create_app
            from boxes.config import Config

            _app = create_app(Config.from_env())
        config = _app.config["BOXES"]
        with _app.app_context():
            session = _app.extensions["boxes.sessionmaker"]()
            try:
                yield JobContext(config, session, job_redis(config.redis_url))
            finally:
                session.close()
        return
    from boxes.config import Config
    from boxes.db import make_engine, make_sessionmaker

    config = Config.from_env()
    engine = make_engine(config.database_url)
    try:
        session = make_sessionmaker(engine)()
        try:
            yield JobContext(config, session, job_redis(config.redis_url))
        finally:
            session.close()
    finally:
        engine.dispose()


def alive(job) -> bool:
    """A started job whose worker still beats (a killed worker's job is taken over by a new one: the
    locks' leases have expired by then, and the job resumes from what it committed)."""
    beat = job.last_heartbeat
    return beat is not None and (datetime.now(UTC) - beat.replace(tzinfo=beat.tzinfo or UTC)).total_seconds() < 120


def can_enqueue(redis, job_id: str) -> bool:
    """One job of this id at a time: False while one is queued, scheduled (a retry) or running on a live
    worker."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus

    try:
        existing = Job.fetch(job_id, connection=redis)
    except NoSuchJobError:
        return True
    status = existing.get_status(refresh=True)
    if status in (JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED):
        return False
    return not (status == JobStatus.STARTED and alive(existing))


def tune_interpreter() -> None:
    """Interpreter settings for a process that runs jobs (a DMS sync streams pages through two
    threads; a campaign and a mail job are short and do not mind). Set once at the worker's start,
    before RQ forks a work horse per job, which inherits them; ``boxes sync`` and ``make bench``
    set them too, so they measure what the worker does.

    - The GIL switch interval, 5 ms → 0.5 ms: the sync run's thread waits for the database with
      the GIL released while the prefetch thread validates; when the answer comes, it gets the GIL
      back within 0.5 ms instead of 5, a dozen times per page. Measured: the prefetch thread made
      a run slower than none at 5 ms, 10-15 % faster at 0.5 ms.
    - The garbage collector's young threshold, 700 → 50,000 allocations: a page of 2,000 records
      is some 50,000 container objects that live for one page; at 700 the collector traverses and
      promotes them again and again and runs a full collection every few pages (measured: 1.0 s
      of the 2.3 s of Python for 50,000 repair orders). Garbage with cycles (a few objects per
      page) still goes, 50,000 allocations late at most: memory stays bounded."""
    threshold = gc.get_threshold()
    gc.set_threshold(max(GC_YOUNG_THRESHOLD, threshold[0]), *threshold[1:])
    sys.setswitchinterval(min(SWITCH_INTERVAL, sys.getswitchinterval()))


def run_worker(config, burst: bool = False) -> int:
    """An RQ worker with the scheduler (for retries and ``enqueue_in``) on every Boxes queue."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from rq import Queue, Worker

    tune_interpreter()
    connection = redis_connection(config.redis_url)
    try:
        connection.ping()
        queues = [Queue(name, connection=connection) for name in QUEUES]
        # Maintenance every minute, not RQ's ten: it restarts the scheduler (retries, enqueue_in),
        # which dies when Redis goes away, and moves jobs abandoned by a killed worker to "failed".
        worker = Worker(queues, connection=connection, maintenance_interval=MAINTENANCE_SECONDS)
        worker.work(burst=burst, with_scheduler=True, logging_level=config.log_level)
    except RedisConnectionError as exc:
        logging.basicConfig(level=config.log_level)
        log.error("worker: cannot reach Redis at %s: %s", config.redis_url, exc)
        return 1
    return 0


def run_cron(config) -> int:
    """The installation's one ``rq cron`` process: enqueues the jobs of ``jobs/cron.py``.

    Run exactly one: two cron processes enqueue every periodic job twice.
    """
    from redis.exceptions import ConnectionError as RedisConnectionError
    from rq.cron import CronScheduler

    connection = redis_connection(config.redis_url)
    try:
        connection.ping()
        scheduler = CronScheduler(connection=connection, logging_level=config.log_level)
        scheduler.load_config_from_file(CRON_CONFIG)
        scheduler.start()  # returns after SIGINT/SIGTERM
    except RedisConnectionError as exc:
        logging.basicConfig(level=config.log_level)
        log.error("cron: cannot reach Redis at %s: %s", config.redis_url, exc)
        return 1
    return 0


def record_heartbeat(connection: Redis | None = None) -> str:
    """Cron job: write the current UTC time to ``boxes:cron:heartbeat``.

    It goes through the queue like every periodic job, so a fresh value proves that both the cron
    process and a worker are alive.
    """
    if connection is None:
        from boxes.config import Config

        connection = job_redis(Config.from_env().redis_url)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    connection.set(HEARTBEAT_KEY, stamp)
    return stamp
