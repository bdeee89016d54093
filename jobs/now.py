"""An admin's "… now" button for a job that runs one at a time per dealer — "Sync now" (:mod:`jobs.sync`)
and "Import now" (:mod:`jobs.oem_import`): the job runs as soon as a worker is free, even when a retry of
it waits on the schedule. (The cron's queueing of the same jobs is ``jobs.runtime.can_enqueue``.)

Nothing of boxes at import time (the cron process imports the job modules for its table).
"""

from __future__ import annotations

from collections.abc import Callable

from jobs.runtime import alive


def queue_now(redis, job_id: str, enqueue: Callable[[], object]) -> str:
    """Call ``enqueue`` (which queues the job under ``job_id``) unless that job is already queued or
    running. Returns what happened:

    - ``"queued"``: a new job;
    - ``"replaced"``: a retry was scheduled for later (the outside system failed a while ago): it is
      taken off the schedule and the job is queued now instead (an admin who fixed the cause should
      not wait up to the last retry interval);
    - ``"waiting"``: a job is already queued, nothing to add;
    - ``"running"``: a worker is running the dealer's job right now (the only refusal)."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job, JobStatus
    from rq.registry import ScheduledJobRegistry

    outcome = "queued"
    try:
        existing = Job.fetch(job_id, connection=redis)
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
    enqueue()
    return outcome
