"""The jobs that read a dealer's outside system, one run at a time per dealer — the DMS sync
(:mod:`jobs.sync`) and the OEM lead import (:mod:`jobs.oem_import`) — and how they are queued, in one
place (:class:`DealerJob`): the cron queues one for every dealer whose connector is enabled, never a
second while one is queued, waiting for its retry or running (``jobs.runtime.can_enqueue``), with
RQ's ``Retry`` over the setting's intervals; an admin's "… now" ("Sync now", "Import now") runs it as
soon as a worker is free, even when a retry of it waits on the schedule.

Nothing of boxes at import time (the cron process imports the job modules for its table).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from jobs.runtime import alive, can_enqueue


@dataclass(frozen=True)
class DealerJob:
    """One kind of per-dealer job: ``function(dealer_id, trigger)`` on ``queue``, its id
    ``<prefix>-<dealer id>``, queued for the dealers whose ``connector`` (a model name of
    ``boxes.models``) is enabled; ``retry_intervals`` and ``timeout`` read the settings."""

    queue: str
    function: Callable
    prefix: str
    connector: str
    retry_intervals: Callable[[object], tuple[int, ...]]
    timeout: Callable[[object], int]

    def job_id(self, dealer_id: int) -> str:
        return f"{self.prefix}-{dealer_id}"

    def enqueue(self, redis, config, dealer_id: int, trigger: str = "cron") -> bool:
        """Queue the dealer's job unless one is queued, scheduled or running; returns whether it did."""
        if not can_enqueue(redis, self.job_id(dealer_id)):
            return False
        self._enqueue(redis, config, dealer_id, trigger)
        return True

    def enqueue_all(self, session, redis, config) -> int:
        """The cron's run: :meth:`enqueue` for every dealer with an enabled connector; how many it queued."""
        from sqlalchemy import select

        import boxes.models

        model = getattr(boxes.models, self.connector)
        ids = session.scalars(select(model.dealer_id).where(model.enabled.is_(True))).all()
        return sum(self.enqueue(redis, config, dealer_id) for dealer_id in ids)

    def now(self, redis, config, dealer_id: int) -> str:
        """An admin's "… now": the dealer's job runs as soon as a worker is free. Returns what happened:

        - ``"queued"``: a new job;
        - ``"replaced"``: a retry was scheduled for later (the outside system failed a while ago): it
          is taken off the schedule and the job is queued now instead (an admin who fixed the cause
          should not wait up to the last retry interval);
        - ``"waiting"``: a job is already queued, nothing to add;
        - ``"running"``: a worker is running the dealer's job right now (the only refusal)."""
        from rq.exceptions import NoSuchJobError
        from rq.job import Job, JobStatus
        from rq.registry import ScheduledJobRegistry

        outcome = "queued"
        try:
            existing = Job.fetch(self.job_id(dealer_id), connection=redis)
            status = existing.get_status(refresh=True)
            if status == JobStatus.QUEUED:
                return "waiting"
            if status == JobStatus.STARTED and alive(existing):
                return "running"
            if status in (JobStatus.SCHEDULED, JobStatus.DEFERRED):
                ScheduledJobRegistry(existing.origin, connection=redis).remove(existing)
                existing.delete()  # also off the queue, should the scheduler have moved it there meanwhile
                outcome = "replaced"
        except NoSuchJobError:
            pass
        self._enqueue(redis, config, dealer_id, "manual")
        return outcome

    def _enqueue(self, redis, config, dealer_id: int, trigger: str) -> None:
        from rq import Queue, Retry

        intervals = list(self.retry_intervals(config))
        Queue(self.queue, connection=redis).enqueue(
            self.function, dealer_id, trigger, job_id=self.job_id(dealer_id),
            retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
            job_timeout=self.timeout(config), result_ttl=3600, failure_ttl=86_400,
        )
