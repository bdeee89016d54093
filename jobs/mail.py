"""Mail jobs (queue ``mail``). Thin: build the app once per process (templates, translations,
database), open a session, call ``boxes.messaging``.

- ``send_message(dealer_id, message_id)``: enqueued by a click, the cron window or online booking,
  with ``Retry`` for SMTP failures; claims the row before sending (see boxes/messaging/sending.py).
- ``send_due_reminders()``: cron; the automatic reminders of every dealer.
- ``recover_messages()``: cron; re-enqueues rows whose worker died or whose job was lost.
"""

from __future__ import annotations

from contextlib import contextmanager

_app = None


def _get_app():
    global _app
    if _app is None:
        from boxes import create_app
        from boxes.config import Config

        _app = create_app(Config.from_env())
    return _app


@contextmanager
def _session():
    app = _get_app()
    with app.app_context():
        session = app.extensions["boxes.sessionmaker"]()
        try:
            yield app, session
        finally:
            session.close()


def _connection(app):
    from rq import get_current_job

    job = get_current_job()
    return job.connection if job is not None else app.extensions["boxes.redis"]


def send_message(dealer_id: int, message_id: int) -> str:
    from rq import get_current_job

    from boxes.messaging import outbox, sending

    job = get_current_job()
    with _session() as (app, session):
        config = app.config["BOXES"]
        redis = _connection(app)
        return sending.deliver(
            session, dealer_id, message_id, config=config, redis=redis,
            retries_left=job.retries_left if job is not None else None,
            requeue=lambda msg, delay: outbox.enqueue_send(redis, config, msg, delay=delay))


def send_due_reminders() -> dict:
    from boxes.messaging import automatic

    with _session() as (app, session):
        return automatic.send_all_due_reminders(session, config=app.config["BOXES"], redis=_connection(app))


def recover_messages() -> int:
    from boxes.messaging import outbox

    with _session() as (app, session):
        return outbox.recover(session, _connection(app), app.config["BOXES"])
