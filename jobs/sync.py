"""DMS sync jobs (queue ``sync``), and how they are queued. Thin: the engine is ``boxes.dms.sync``.

- ``sync_dealer(dealer_id, trigger)``: every entity of one dealer; a transport error propagates so
  RQ's ``Retry`` runs it again with backoff (``BOXES_SYNC_RETRY_INTERVALS``). Configuration
  errors are recorded on the run and not retried. Queued by :func:`enqueue_sync` (one job per
  dealer at a time) and :func:`sync_now` (the admin's "Sync now").
- ``sync_all()``: cron, every ``BOXES_SYNC_INTERVAL_MINUTES``; queues ``sync_dealer`` per dealer.
"""

from __future__ import annotations

from jobs.now import queue_now
from jobs.runtime import can_enqueue, job_context

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
        return enqueue_all(job.session, job.redis, job.config)


def enqueue_all(session, redis, config) -> int:
    """Queue the sync of every dealer with an enabled connector (one job each, :func:`enqueue_sync`)."""
    from sqlalchemy import select

    from boxes.models import DmsConnector

    ids = session.scalars(select(DmsConnector.dealer_id).where(DmsConnector.enabled.is_(True))).all()
    return sum(enqueue_sync(redis, config, dealer_id) for dealer_id in ids)


def job_id(dealer_id: int) -> str:
    return f"boxes-sync-{dealer_id}"


def enqueue_sync(redis, config, dealer_id: int, *, trigger: str = "cron") -> bool:
    """Queue the dealer's sync on ``sync`` with ``Retry`` (backoff from BOXES_SYNC_RETRY_INTERVALS).
    One job per dealer at a time: a queued or running one is not queued twice. Returns whether it
    queued a job. "Sync now" goes through :func:`sync_now` instead."""
    if not can_enqueue(redis, job_id(dealer_id)):
        return False
    _enqueue(redis, config, dealer_id, trigger)
    return True


def sync_now(redis, config, dealer_id: int) -> str:
    """"Sync now": the dealer's sync runs as soon as a worker is free. Returns what happened
    (:func:`jobs.now.queue_now`): ``"queued"``, ``"replaced"`` (a retry scheduled for later is
    run now instead), ``"waiting"`` (already queued) or ``"running"`` (the only refusal)."""
    return queue_now(redis, job_id(dealer_id), lambda: _enqueue(redis, config, dealer_id, "manual"))


def _enqueue(redis, config, dealer_id: int, trigger: str) -> None:
    from rq import Queue, Retry

    intervals = list(config.sync_retry_intervals)
    Queue(QUEUE, connection=redis).enqueue(
        sync_dealer, dealer_id, trigger, job_id=job_id(dealer_id),
        retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
        job_timeout=max(600, config.sync_lock_seconds * 10), result_ttl=3600, failure_ttl=86_400,
    )
