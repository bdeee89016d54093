"""The worker and cron processes (``boxes worker``, ``boxes cron``) and their housekeeping jobs.

Both run in-process through RQ's own classes, the same code as ``rq worker --with-scheduler``
and ``rq cron jobs.cron``, so they take their settings (``BOXES_REDIS_URL``, ``BOXES_LOG_LEVEL``)
from :class:`boxes.config.Config` like every other Boxes command.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from redis import Redis

# Highest priority first: a worker always drains ``sync`` before it sends mail, and so on.
QUEUES: tuple[str, ...] = ("sync", "mail", "campaigns", "oem", "default")
CRON_CONFIG = "jobs.cron"
HEARTBEAT_KEY = "boxes:cron:heartbeat"
MAINTENANCE_SECONDS = 60

log = logging.getLogger(__name__)


def redis_connection(url: str) -> Redis:
    # No socket_timeout: a worker blocks on BLPOP for long stretches by design.
    return Redis.from_url(url, socket_connect_timeout=10, health_check_interval=30)


def run_worker(config, burst: bool = False) -> int:
    """An RQ worker with the scheduler (for retries and ``enqueue_in``) on every Boxes queue."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from rq import Queue, Worker

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
        from rq import get_current_job

        job = get_current_job()
        if job is not None:
            connection = job.connection
        else:
            from boxes.config import Config

            connection = redis_connection(Config.from_env().redis_url)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    connection.set(HEARTBEAT_KEY, stamp)
    return stamp
