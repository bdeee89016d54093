"""Campaign jobs (queue ``campaigns``): thin wrappers around ``boxes.campaigns.service``."""

from __future__ import annotations

import logging

from boxes.campaigns import service
from boxes.config import Config
from boxes.db import make_engine, make_sessionmaker

QUEUE = "campaigns"
log = logging.getLogger(__name__)


def _progress(done: int, total: int) -> None:
    from rq import get_current_job

    job = get_current_job()
    if job is not None:
        job.meta.update(done=done, total=total)
        job.save_meta()


def process_campaign(campaign_id: int, database_url: str | None = None, batch: int = service.BATCH,
                     pause: float = 0.0) -> dict:
    """Create the campaign's opportunities. Safe to run again: it resumes and never duplicates."""
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


def enqueue(redis, campaign_id: int, database_url: str) -> str:
    from rq import Queue

    job = Queue(QUEUE, connection=redis).enqueue(
        process_campaign, campaign_id, database_url, job_timeout=3600, result_ttl=86400,
        description=f"campaign {campaign_id}")
    return job.id
