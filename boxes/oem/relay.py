"""The status relay: sends the outbox (``OemStatusEvent``) to the OEM, strictly in order per lead.

- **Order**: a lead's events go in the order they were written (``id``); while one of them waits for
  its retry or is in the dead letter, the lead's later events wait behind it. Other leads go on.
- **Exactly once at the OEM**: the event id is the key of the OEM's upsert, made once when the event
  was written. A worker killed after the OEM answered and before the commit sends the event again on
  the next run; the OEM answers "already had it" and stores it once.
- **Retries**: a transient failure (timeout, 5xx, a locked row, an unreadable answer) counts an attempt
  and waits ``backoff(attempts)`` (exponential, with jitter, so many dealers' retries do not arrive
  together); after ``max_attempts`` the event goes to the dead letter, where an admin sees its last
  error and "Resend" puts it back. A 4xx for the event itself (the OEM refuses this body) goes to the
  dead letter at once: repeating it cannot help.
- **Slowing down**: a 429 or 503 with Retry-After pauses the dealer's pace (every worker waits) and
  ends the run without counting an attempt; refused credentials end it too (the connector page says
  why). After a long outage the backlog goes out at the pace the OEM takes, oldest first.
- **Commits in groups** of ``COMMIT_EVERY`` events (the run's end commits the rest): a process killed
  in between resends at most that many, which the event ids make harmless.
- **One relay per dealer at a time** (a Redis lock with a lease renewed per event): two would break the
  order.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from boxes.audit import record
from boxes.db import utcnow
from boxes.dms.connectors.boundaries import OutOfBounds
from boxes.errors import ActionError, NotFound
from boxes.models import Dealer, OemConnector, OemStatusEvent, User
from boxes.oem import reach as oem_reach
from boxes.oem.client import (
    AuthStopped,
    MalformedAnswer,
    OemSettingsError,
    RateLimited,
    Rejected,
    StatusTrigger,
    Transient,
)
from boxes.oem.connection import CallRecorder, open_client

MAX_ATTEMPTS = 8
BACKOFF_BASE = 30.0  # seconds before the first retry
BACKOFF_CAP = 3600.0
LOCK_KEY = "boxes:oem:relay:{dealer_id}"
LOCK_SECONDS = 120
BATCH = 500  # events read per round; a run goes on while there are more and time is left
# Sent events are committed in groups: one commit per event made the database's flush, not the OEM, the
# relay's speed. Safe because a sent-but-uncommitted event (the process died) is sent again with its
# event id and the OEM keeps one.
COMMIT_EVERY = 50


def backoff(attempts: int, rng: random.Random | None = None) -> float:
    """Seconds before the next try after ``attempts`` failed ones: 30 s, 1 min, 2 min … up to an hour,
    each between 50 % and 150 % of that (jitter)."""
    base = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempts - 1))
    return base * (rng or random).uniform(0.5, 1.5)


@dataclass
class RelayResult:
    sent: int = 0
    repeated: int = 0  # the OEM already had the event (a resend after a lost answer)
    retried: int = 0  # failed this time, will be tried again
    dead: int = 0
    stopped: str = ""  # why the run ended early (rate limit, refused credentials, settings)
    busy: bool = False  # another relay of this dealer was running
    more: bool = False  # due events remain (the job queues itself again)
    waiting: dict = field(default_factory=dict)


def _due(session: Session, dealer_id: int, now: datetime, after_id: int) -> list[OemStatusEvent]:
    return list(session.scalars(
        select(OemStatusEvent).where(OemStatusEvent.dealer_id == dealer_id,
                                     OemStatusEvent.status.in_(("pending", "dead")), OemStatusEvent.id > after_id)
        .order_by(OemStatusEvent.id).limit(BATCH)))


def relay(session: Session, dealer: Dealer, redis, *, now: datetime | None = None, max_events: int = 5000,
          rng: random.Random | None = None, config=None) -> RelayResult:
    """Send the dealer's due events, committed in groups (with their calls in the integration log).
    ``config``: the operator's settings (the allow-list the OEM's address must stay on)."""
    result = RelayResult()
    connector = session.scalar(select(OemConnector).where(OemConnector.dealer_id == dealer.id))
    if connector is None or not connector.enabled:
        result.stopped = "disabled"
        return result
    lock = redis.lock(LOCK_KEY.format(dealer_id=dealer.id), timeout=LOCK_SECONDS, blocking=False)
    if not lock.acquire():
        result.busy = True
        return result
    recorder = CallRecorder(dealer.id)
    try:
        try:
            client = open_client(connector, redis, recorder, reach=oem_reach.boundaries(session, dealer, config))
        except (OemSettingsError, OutOfBounds) as exc:
            result.stopped = f"settings: {exc}"
            return result
        with client:
            _send_due(session, dealer, lock, client, recorder, result, now=now, max_events=max_events, rng=rng)
    finally:
        recorder.flush(session)
        session.commit()
        with contextlib.suppress(Exception):  # expired meanwhile: nothing to release
            lock.release()
    return result


def _send_due(session, dealer, lock, client, recorder, result, *, now, max_events, rng) -> None:
    blocked: set[str] = set()  # leads whose earlier event waits: their later ones wait behind it
    after_id = 0
    handled = 0
    while True:
        events = _due(session, dealer.id, now or utcnow(), after_id)
        if not events:
            return
        for event in events:
            after_id = event.id
            moment = now or utcnow()
            if event.lead_id in blocked:
                continue
            if event.status == "dead" or (event.next_attempt_at is not None and event.next_attempt_at > moment):
                blocked.add(event.lead_id)
                result.waiting[event.lead_id] = event.event_id
                continue
            if handled >= max_events:
                result.more = True
                return
            handled += 1
            if not _send_one(session, event, client, recorder, result, moment, rng):
                return
            if event.status != "sent":
                blocked.add(event.lead_id)
            if handled % COMMIT_EVERY == 0:
                session.commit()
                lock.reacquire()  # the lease runs from the last commit: a long backlog keeps it


def _send_one(session, event: OemStatusEvent, client, recorder: CallRecorder, result: RelayResult,
              moment: datetime, rng) -> bool:
    """One event; False when the run must end (the OEM asked to slow down, or refused the credentials)."""
    recorder.context = {"lead_id": event.lead_id, "event_id": event.event_id, "trigger": event.trigger,
                        "stage": event.stage, "substage": event.substage}
    trigger = StatusTrigger(event_id=event.event_id, lead_id=event.lead_id, trigger=event.trigger,
                            stage=event.stage, substage=event.substage, occurred_at=event.occurred_at,
                            communication=event.communication, comment=event.comment)
    try:
        receipt = client.send_status(trigger)
    except RateLimited as exc:
        result.stopped = str(exc)
        return False
    except AuthStopped as exc:
        result.stopped = str(exc)
        return False
    except Rejected as exc:
        event.attempts += 1
        event.status, event.last_error, event.next_attempt_at = "dead", str(exc)[:2000], None
        result.dead += 1
        return True
    except (Transient, MalformedAnswer) as exc:
        event.attempts += 1
        event.last_error = str(exc)[:2000]
        if event.attempts >= MAX_ATTEMPTS:
            event.status, event.next_attempt_at = "dead", None
            result.dead += 1
        else:
            event.next_attempt_at = moment + timedelta(seconds=backoff(event.attempts, rng))
            result.retried += 1
        return True
    finally:
        recorder.flush(session)
        recorder.context = {}
    event.attempts += 1
    event.status, event.sent_at, event.last_error, event.next_attempt_at = "sent", utcnow(), "", None
    if receipt.created:
        result.sent += 1
    else:
        result.repeated += 1
    return True


def dead_letter(session: Session, dealer: Dealer, *, lead: str = "", limit: int = 200) -> list[OemStatusEvent]:
    """The events given up on, in the order they would go again (one lead's when ``lead`` is given): the
    integration log lists them with their last error."""
    conditions = [OemStatusEvent.dealer_id == dealer.id, OemStatusEvent.status == "dead"]
    if lead:
        conditions.append(OemStatusEvent.lead_id == lead)
    return list(session.scalars(select(OemStatusEvent).where(*conditions).order_by(OemStatusEvent.id).limit(limit)))


def pending_count(session: Session, dealer: Dealer) -> int:
    return session.scalar(select(func.count()).select_from(OemStatusEvent).where(
        OemStatusEvent.dealer_id == dealer.id, OemStatusEvent.status == "pending")) or 0


def resend(session: Session, dealer: Dealer, actor: User, event_id: int) -> OemStatusEvent:
    """"Resend" on a dead-letter event: back in line, its attempts counted anew (the lead's later events
    follow it). Audited; commits."""
    event = session.scalar(select(OemStatusEvent).where(OemStatusEvent.dealer_id == dealer.id,
                                                        OemStatusEvent.id == event_id))
    if event is None:
        raise NotFound(event_id)
    if event.status != "dead":
        raise ActionError.field("event", _l("Only an event that failed can be sent again."))
    event.status, event.attempts, event.next_attempt_at = "pending", 0, None
    record(session, dealer_id=dealer.id, user_id=actor.id, action="oem_event.resend", entity="oem_status_event",
           entity_id=event.id, data={"event_id": event.event_id, "lead_id": event.lead_id, "trigger": event.trigger,
                                     "last_error": event.last_error})
    session.commit()
    return event


def due_dealers(session: Session, now: datetime | None = None) -> list[int]:
    """Dealers with an enabled connector and a pending event due now (the cron's relay round)."""
    moment = now or utcnow()
    return list(session.scalars(
        select(OemStatusEvent.dealer_id).join(OemConnector, OemConnector.dealer_id == OemStatusEvent.dealer_id)
        .where(OemConnector.enabled.is_(True), OemStatusEvent.status == "pending",
               or_(OemStatusEvent.next_attempt_at.is_(None), OemStatusEvent.next_attempt_at <= moment))
        .distinct()))
