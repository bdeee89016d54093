"""DMS sync jobs (queue ``sync``), and how they are queued. Thin: the engine is ``boxes.dms.sync``.

- ``sync_dealer(dealer_id, trigger)``: every entity of one dealer; a transport error propagates so
  RQ's ``Retry`` runs it again with backoff (``BOXES_SYNC_RETRY_INTERVALS``). Configuration
  errors are recorded on the run and not retried. Queued by :func:`enqueue_sync` (one job per
  dealer at a time) and :func:`sync_now` (the admin's "Sync now").
- ``sync_all()``: cron, every ``BOXES_SYNC_INTERVAL_MINUTES``; queues ``sync_dealer`` per dealer.
"""

from __future__ import annotations

from jobs.per_dealer import DealerJob
from jobs.runtime import job_context

# Nothing of boxes at import time: the cron process imports this module for its table (jobs/cron.py)
# and stays free of Flask.
QUEUE = "sync"


def sync_dealer(dealer_id: int, trigger: str = "cron") -> dict:
    from boxes.dms.connectors.base import ConfigurationError
    from boxes.dms.sync.runs import sync_dealer as run_sync
    from boxes.models import Dealer

    with job_context() as job:
        dealer = job.session.get(Dealer, dealer_id)
        if dealer is None:
            return {"dealer_id": dealer_id, "skipped": "no such dealer"}
        try:
            runs = run_sync(job.session, dealer, redis=job.redis, trigger=trigger,
                            lock_seconds=job.config.sync_lock_seconds, config=job.config)
        except ConfigurationError as exc:  # only an admin can fix it: recorded, not retried
            return {"dealer_id": dealer_id, "error": str(exc)}
        return {"dealer_id": dealer_id, "runs": [(r.entity, r.status, r.inserted, r.updated, r.unchanged,
                                                  r.quarantined) for r in runs]}


def sync_all() -> int:
    """Cron: queue the sync of every dealer with an enabled connector."""
    with job_context() as job:
        return SYNC.enqueue_all(job.session, job.redis, job.config)


# The sync's queueing (jobs/per_dealer.py): one job per dealer at a time, with Retry (backoff from
# BOXES_SYNC_RETRY_INTERVALS).
SYNC = DealerJob(QUEUE, sync_dealer, "boxes-sync", "DmsConnector", retry_intervals=lambda c: c.sync_retry_intervals,
                 timeout=lambda c: max(600, c.sync_lock_seconds * 10))
job_id = SYNC.job_id
enqueue_all = SYNC.enqueue_all  # (session, redis, config): every dealer with an enabled connector


def enqueue_sync(redis, config, dealer_id: int, *, trigger: str = "cron") -> bool:
    """Queue the dealer's sync on ``sync`` with ``Retry`` (backoff from BOXES_SYNC_RETRY_INTERVALS).
    One job per dealer at a time: a queued or running one is not queued twice. Returns whether it
    queued a job. "Sync now" goes through :func:`sync_now` instead."""
    return SYNC.enqueue(redis, config, dealer_id, trigger)


def sync_now(redis, config, dealer_id: int) -> str:
    """"Sync now": the dealer's sync runs as soon as a worker is free. Returns what happened
    (:meth:`jobs.per_dealer.DealerJob.now`): ``"queued"``, ``"replaced"`` (a retry scheduled for
    later is run now instead), ``"waiting"`` (already queued) or ``"running"`` (the only refusal)."""
    return SYNC.now(redis, config, dealer_id)
