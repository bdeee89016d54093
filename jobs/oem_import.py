"""OEM lead import jobs (queue ``oem``), and how they are queued. Thin: the import is
``boxes.oem.importer``.

- ``import_dealer(dealer_id, trigger)``: one dealer's leads changed since its watermark. The OEM
  down, slow or rate-limiting (``RateLimited``, ``Transient``) propagates so RQ's ``Retry`` runs it
  again later (``BOXES_OEM_IMPORT_RETRY_INTERVALS``); refused credentials and a wrong setting are
  stored on the connector and not retried. Queued by ``enqueue_import`` (one job per dealer at a
  time) and ``import_now`` (the admin's "Import now"): ``IMPORT``, a ``jobs.per_dealer.DealerJob``.
- ``import_all()``: cron, every ``BOXES_OEM_IMPORT_INTERVAL_MINUTES``; queues ``import_dealer`` per
  dealer with an enabled OEM connector.
"""

from __future__ import annotations

from jobs.per_dealer import DealerJob
from jobs.runtime import job_context

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
        result = import_leads(job.session, dealer, job.redis, trigger=trigger, config=job.config)
        return {"dealer_id": dealer_id, **asdict(result)}


def import_all() -> int:
    """Cron: queue the lead import of every dealer with an enabled OEM connector."""
    with job_context() as job:
        return IMPORT.enqueue_all(job.session, job.redis, job.config)


# The import's queueing (jobs/per_dealer.py), as the DMS sync's: one job per dealer at a time, with
# Retry (BOXES_OEM_IMPORT_RETRY_INTERVALS).
IMPORT = DealerJob(QUEUE, import_dealer, "boxes-oem-import", "OemConnector",
                   retry_intervals=lambda c: c.oem_import_retry_intervals, timeout=lambda c: JOB_TIMEOUT)
job_id = IMPORT.job_id
enqueue_all = IMPORT.enqueue_all  # (session, redis, config): every dealer with an enabled OEM connector
# (redis, config, dealer_id, trigger="cron") -> bool: queued unless one is queued, waiting for its retry or running.
enqueue_import = IMPORT.enqueue
# (redis, config, dealer_id) -> "queued" | "replaced" | "waiting" | "running": the admin's "Import now".
import_now = IMPORT.now
