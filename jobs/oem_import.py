"""OEM lead import jobs (queue ``oem``), and how they are queued. Thin: the import is
``boxes.oem.importer``.

- ``import_dealer(dealer_id, trigger)``: one dealer's leads changed since its watermark. The OEM
  down, slow or rate-limiting (``RateLimited``, ``Transient``) propagates so RQ's ``Retry`` runs it
  again later (``BOXES_OEM_IMPORT_RETRY_INTERVALS``); refused credentials and a wrong setting are
  stored on the connector and not retried. Queued by :func:`enqueue_import` (one job per dealer at a
  time, ``jobs.runtime.can_enqueue``) and :func:`import_now` (the admin's "Import now").
- ``import_all()``: cron, every ``BOXES_OEM_IMPORT_INTERVAL_MINUTES``; queues ``import_dealer`` per
  dealer with an enabled OEM connector.
"""

from __future__ import annotations

from jobs.now import queue_now
from jobs.runtime import can_enqueue, job_context

# Nothing of boxes at import time: the cron process imports this module for its table (jobs/cron.py)
# and stays free of Flask.
QUEUE = "oem"
JOB_TIMEOUT = 1800  # a first read of 30 days of a large dealer's leads


def import_dealer(dealer_id: int, trigger: str = "cron") -> dict:
    from dataclasses import asdict

    from boxes.models import Dealer
    from boxes.oem.importer import import_leads

    with job_context() as job:
        dealer = job.session.get(Dealer, dealer_id)
        if dealer is None:
            return {"dealer_id": dealer_id, "skipped": "no such dealer"}
        result = import_leads(job.session, dealer, job.redis, trigger=trigger)
        return {"dealer_id": dealer_id, **asdict(result)}


def import_all() -> int:
    """Cron: queue the lead import of every dealer with an enabled OEM connector."""
    with job_context() as job:
        return enqueue_all(job.session, job.redis, job.config)


def enqueue_all(session, redis, config) -> int:
    """Queue the import of every dealer with an enabled OEM connector (one job each, :func:`enqueue_import`)."""
    from sqlalchemy import select

    from boxes.models import OemConnector

    ids = session.scalars(select(OemConnector.dealer_id).where(OemConnector.enabled.is_(True))).all()
    return sum(enqueue_import(redis, config, dealer_id) for dealer_id in ids)


def job_id(dealer_id: int) -> str:
    return f"boxes-oem-import-{dealer_id}"


def enqueue_import(redis, config, dealer_id: int, trigger: str = "cron") -> bool:
    """Queue the dealer's import on ``oem`` with ``Retry``. One job per dealer at a time: a queued,
    scheduled or running one is not queued twice. Returns whether it queued a job."""
    if not can_enqueue(redis, job_id(dealer_id)):
        return False
    _enqueue(redis, config, dealer_id, trigger)
    return True


def import_now(redis, config, dealer_id: int) -> str:
    """"Import now": the dealer's import runs as soon as a worker is free. Returns
    :func:`jobs.now.queue_now`'s outcome: ``"queued"``, ``"replaced"`` (a retry scheduled for
    later runs now instead), ``"waiting"`` (already queued) or ``"running"`` (the only refusal)."""
    return queue_now(redis, job_id(dealer_id), lambda: _enqueue(redis, config, dealer_id, "manual"))


def _enqueue(redis, config, dealer_id: int, trigger: str) -> None:
    from rq import Queue, Retry

    intervals = list(config.oem_import_retry_intervals)
    Queue(QUEUE, connection=redis).enqueue(
        import_dealer, dealer_id, trigger, job_id=job_id(dealer_id),
        retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
        job_timeout=JOB_TIMEOUT, result_ttl=3600, failure_ttl=86_400,
    )
