"""DMS sync jobs (queue ``sync``). Thin: open a session, call ``boxes.dms.sync``.

- ``sync_dealer(dealer_id, trigger)``: every entity of one dealer; a transport error propagates so
  RQ's ``Retry`` runs it again with backoff (``BOXES_SYNC_RETRY_INTERVALS``). Configuration
  errors are recorded on the run and not retried.
- ``sync_all()``: cron, every ``BOXES_SYNC_INTERVAL_MINUTES``; queues ``sync_dealer`` per dealer.
"""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def _session():
    from boxes.config import Config
    from boxes.db import make_engine, make_sessionmaker

    config = Config.from_env()
    engine = make_engine(config.database_url)
    session = make_sessionmaker(engine)()
    try:
        yield config, session
    finally:
        session.close()
        engine.dispose()


def _redis(config):
    from rq import get_current_job

    job = get_current_job()
    if job is not None:
        return job.connection
    from jobs.runtime import redis_connection

    return redis_connection(config.redis_url)


def sync_dealer(dealer_id: int, trigger: str = "cron") -> dict:
    from boxes.dms.connectors.base import ConfigurationError
    from boxes.dms.sync import sync_dealer as run_sync
    from boxes.models import Dealer

    with _session() as (config, session):
        dealer = session.get(Dealer, dealer_id)
        if dealer is None:
            return {"dealer_id": dealer_id, "skipped": "no such dealer"}
        try:
            runs = run_sync(session, dealer, redis=_redis(config), trigger=trigger,
                            lock_seconds=config.sync_lock_seconds, config=config)
        except ConfigurationError as exc:  # only an admin can fix it: recorded, not retried
            return {"dealer_id": dealer_id, "error": str(exc)}
        return {"dealer_id": dealer_id, "runs": [(r.entity, r.status, r.inserted, r.updated, r.unchanged,
                                                  r.quarantined) for r in runs]}


def sync_all() -> int:
    from boxes.dms.sync import enqueue_all

    with _session() as (config, session):
        return enqueue_all(session, _redis(config), config)
