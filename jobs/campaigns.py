"""Campaign jobs (queue ``campaigns``), and how they are queued: thin wrappers around
``boxes.campaigns.service``.

- ``process_campaign(campaign_id)``: queued by the campaign manager (and by the sweep) through
  :func:`enqueue_campaign`. Its progress is the campaign's row (the page polls it), not the job's.
- ``recover_campaigns()``: cron; resumes campaigns whose job died, or marks them failed.
"""

from __future__ import annotations

import logging

from jobs.runtime import job_context

# Nothing of boxes at import time: the cron process imports this module for its table (jobs/cron.py)
# and stays free of Flask.
QUEUE = "campaigns"
log = logging.getLogger(__name__)


def process_campaign(campaign_id: int, batch: int | None = None, pause: float = 0.0) -> dict:
    """Create the campaign's opportunities. Safe to run again: it resumes and never duplicates."""
    from boxes.campaigns import service

    with job_context() as job:
        try:
            campaign = service.process(job.session, campaign_id, batch=batch or service.BATCH, pause=pause)
            return {"units": campaign.units_total, "created": campaign.opportunities_created}
        except Exception as exc:
            job.session.rollback()
            log.exception("campaign %s failed", campaign_id)
            service.mark_failed(job.session, campaign_id, f"{exc.__class__.__name__}: {exc}")
            raise


def enqueue_campaign(redis, campaign_id: int, job_id: str | None = None) -> str:
    """Queue the campaign's processing; returns the job's id (kept on the campaign by the caller)."""
    from rq import Queue

    job = Queue(QUEUE, connection=redis).enqueue(
        process_campaign, campaign_id, job_timeout=3600, result_ttl=86400,
        description=f"campaign {campaign_id}", job_id=job_id)
    return job.id


def recover_campaigns() -> dict:
    """Cron: the campaign sweep (``service.recover``) — campaigns whose job died or was never
    queued are resumed, or marked failed after too many restarts."""
    from boxes.campaigns import service

    with job_context() as job:
        return service.recover(job.session, job.redis,
                               lambda campaign_id, job_id: enqueue_campaign(job.redis, campaign_id, job_id))
