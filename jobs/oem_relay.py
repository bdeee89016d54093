"""The OEM status relay's jobs (queue ``oem``), and how they are queued. Thin: the relay is
``boxes.oem.relay``.

- ``relay_dealer(dealer_id)``: sends the dealer's due status events, in order per lead; queues itself
  again while due events remain (a long backlog after an outage goes out in rounds).
- ``relay_all()``: cron, every minute: queues ``relay_dealer`` for each dealer with a due event (an
  action's event is also queued for the relay right after its commit: see ``enqueue_relay``).
"""

from __future__ import annotations

from jobs.runtime import can_enqueue, job_context

QUEUE = "oem"


def job_id(dealer_id: int) -> str:
    return f"boxes-oem-relay-{dealer_id}"


def relay_dealer(dealer_id: int) -> dict:
    from boxes.models import Dealer
    from boxes.oem.relay import relay

    with job_context() as job:
        dealer = job.session.get(Dealer, dealer_id)
        if dealer is None:
            return {"dealer_id": dealer_id, "skipped": "no such dealer"}
        result = relay(job.session, dealer, job.redis, config=job.config)
        if result.more:
            # This job still holds its id while it runs: the next round is queued by the id's successor.
            _enqueue(job.redis, dealer_id, follow_up=True)
        return {"dealer_id": dealer_id, "sent": result.sent, "repeated": result.repeated, "retried": result.retried,
                "dead": result.dead, "stopped": result.stopped, "busy": result.busy, "more": result.more}


def relay_all() -> int:
    """Cron: queue the relay of every dealer with a due event."""
    from boxes.oem.relay import due_dealers

    with job_context() as job:
        return sum(enqueue_relay(job.redis, dealer_id) for dealer_id in due_dealers(job.session))


def enqueue_relay(redis, dealer_id: int) -> bool:
    """Queue the dealer's relay unless one is queued or running (it will see the new events)."""
    if not can_enqueue(redis, job_id(dealer_id)):
        return False
    _enqueue(redis, dealer_id)
    return True


def _enqueue(redis, dealer_id: int, *, follow_up: bool = False) -> None:
    from rq import Queue

    Queue(QUEUE, connection=redis).enqueue(
        relay_dealer, dealer_id, job_id=job_id(dealer_id) + ("-next" if follow_up else ""),
        job_timeout=1800, result_ttl=600, failure_ttl=86_400)
