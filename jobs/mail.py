"""Mail jobs (queue ``mail``), and how a message's job is queued. Thin: the app gives the templates
and translations (``job_context(templates=True)``), ``boxes.messaging`` does the work.

- ``send_message(dealer_id, message_id)``: queued by :func:`enqueue_send` (a click, the cron window,
  online booking, the recovery sweep), with ``Retry`` for SMTP failures; claims the row before
  sending (see boxes/messaging/sending.py).
- ``send_due_reminders()``: cron; the automatic reminders of every dealer.
- ``recover_messages()``: cron; re-enqueues rows whose worker died or whose job was lost.
"""

from __future__ import annotations

from datetime import timedelta

from jobs.runtime import job_context

# Nothing of boxes at import time: the cron process imports this module for its table (jobs/cron.py)
# and stays free of Flask.
QUEUE = "mail"


def send_message(dealer_id: int, message_id: int) -> str:
    from rq import get_current_job

    from boxes.messaging import sending

    current = get_current_job()
    with job_context(templates=True) as job:
        return sending.deliver(
            job.session, dealer_id, message_id, config=job.config, redis=job.redis,
            retries_left=current.retries_left if current is not None else None,
            requeue=lambda msg, delay: enqueue_send(job.redis, job.config, msg, delay=delay))


def enqueue_send(redis, config, message, *, delay: float | None = None, suffix: str = "") -> None:
    """Start (or schedule) the job that sends the row (an ``OutboundMessage``: its id, dealer and
    kind). Safe to call more than once: the job claims the row before sending, so an extra job does
    nothing. ``suffix``: a job id of its own (the recovery sweep's, one per row and attempt)."""
    from rq import Queue, Retry

    queue = Queue(QUEUE, connection=redis)
    intervals = list(config.mail_retry_intervals)
    kwargs = dict(
        retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
        # RQ stops a job before its lease runs out, so two workers never send the same row at once.
        job_timeout=max(5, int(config.mail_lease_seconds * 0.8)),
        result_ttl=3600,
        failure_ttl=7 * 24 * 3600,
        description=f"{message.kind} #{message.id}",
    )
    if suffix:
        kwargs["job_id"] = f"mail-{message.id}-{suffix}"
    if delay:
        queue.enqueue_in(timedelta(seconds=delay), send_message, message.dealer_id, message.id, **kwargs)
    else:
        queue.enqueue(send_message, message.dealer_id, message.id, **kwargs)


def send_due_reminders() -> dict:
    from boxes.messaging import automatic

    with job_context(templates=True) as job:
        return automatic.send_all_due_reminders(job.session, config=job.config, redis=job.redis)


def recover_messages() -> int:
    from boxes.messaging import outbox

    with job_context(templates=True) as job:
        return outbox.recover(job.session, job.redis, job.config)
