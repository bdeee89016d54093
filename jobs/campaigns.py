"""Campaign jobs (queue ``campaigns``): thin wrappers around ``boxes.campaigns.service``.

- ``process_campaign(campaign_id)``: enqueued by the campaign manager (and by the sweep).
- ``recover_campaigns()``: cron; resumes campaigns whose job died, or marks them failed.
"""

from __future__ import annotations

import logging

# Nothing of boxes at import time: the cron process imports this module for its table (jobs/cron.py)
# and stays free of Flask.
QUEUE = "campaigns"
log = logging.getLogger(__name__)


def _progress(done: int, total: int) -> None:
    from redis.exceptions import RedisError
    from rq import get_current_job

    job = get_current_job()
    if job is not None:
        job.meta.update(done=done, total=total)
        try:
            job.save_meta()
        except RedisError:  # a Redis restart must not fail a campaign: the database holds its progress
            log.warning("campaign progress not saved in the job's meta", exc_info=True)


def process_campaign(campaign_id: int, database_url: str | None = None, batch: int | None = None,
                     pause: float = 0.0) -> dict:
    """Create the campaign's opportunities. Safe to run again: it resumes and never duplicates."""
    from boxes.campaigns import service
    from boxes.config import Config
    from boxes.db import make_engine, make_sessionmaker

    batch = batch or service.BATCH
    engine = make_engine(database_url or Config.from_env().database_url)
    try:
        session = make_sessionmaker(engine)()
        try:
            campaign = service.process(session, campaign_id, batch=batch, progress=_progress, pause=pause)
            return {"units": campaign.units_total, "created": campaign.opportunities_created}
        except Exception as exc:
            session.rollback()
            log.exception("campaign %s failed", campaign_id)
            service.mark_failed(session, campaign_id, f"{exc.__class__.__name__}: {exc}")
            raise
        finally:
            session.close()
    finally:
        engine.dispose()


def enqueue(redis, campaign_id: int, database_url: str, job_id: str | None = None) -> str:
    from rq import Queue

    job = Queue(QUEUE, connection=redis).enqueue(
        process_campaign, campaign_id, database_url, job_timeout=3600, result_ttl=86400,
        description=f"campaign {campaign_id}", job_id=job_id)
    return job.id


def recover_campaigns(database_url: str | None = None) -> dict:
    """Cron: the campaign sweep (``service.recover``) — campaigns whose job died or was never
    queued are resumed, or marked failed after too many restarts."""
    from rq import get_current_job

    from boxes.campaigns import service
    from boxes.config import Config
    from boxes.db import make_engine, make_sessionmaker
    from jobs.runtime import redis_connection

    config = Config.from_env()
    database_url = database_url or config.database_url
    job = get_current_job()
    redis = job.connection if job is not None else redis_connection(config.redis_url)
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as session:
            return service.recover(session, redis,
                                   lambda campaign_id, job_id: enqueue(redis, campaign_id, database_url, job_id))
    finally:
        engine.dispose()
