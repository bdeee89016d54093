"""What a web request does while Redis is down (killed, restarting, hung): fail fast and say so.

Redis holds the job queues, the login throttle and the campaign manager's selections; the board's
reads never touch it. A request that needs it while it is down gets a clear, localized
"temporarily unavailable" answer — HTTP 503 with ``Retry-After``, the error page or, for htmx, a
fragment put at the top of the request's target — instead of a bare 500 after the client's retries.

- The web's client has short timeouts and no retries (``make_client``): a healthy Redis answers
  these requests in a millisecond; a dead one must not hold a request thread for seconds.
- The first failure opens a per-process breaker for ``BREAKER_SECONDS``: meanwhile
  ``client()`` (``web.redis_client()``) raises ``RedisUnavailable`` at once instead of waiting on a
  socket again, so a hung Redis costs one request the timeout, not every request.
- ``/healthz`` asks Redis for real (``ping``) and closes the breaker as soon as it answers.
- The handler rolls the request's database session back: nothing half-written. Views that commit
  before they enqueue leave the row to a recovery sweep (campaigns, reminders; docs/operations.md).
"""

from __future__ import annotations

import logging
import time

import redis
from flask import Flask, current_app, g, make_response, render_template
from flask_babel import gettext as _
from redis.backoff import NoBackoff
from redis.retry import Retry

CONNECT_TIMEOUT = 1.0
COMMAND_TIMEOUT = 2.0
BREAKER_SECONDS = 10.0
RETRY_AFTER_SECONDS = 30
TEMPLATE = "errors.html"

# Not answering: the breaker opens. BusyLoadingError (a Redis restarting, reading its AOF) is one.
DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
# Answering, but refusing writes for now (maxmemory reached under noeviction, a read-only replica):
# still 503, but reads may go on, so the breaker stays closed.
REFUSING = (redis.exceptions.OutOfMemoryError, redis.exceptions.ReadOnlyError)
UNAVAILABLE = DOWN + REFUSING

log = logging.getLogger(__name__)


class RedisUnavailable(redis.exceptions.ConnectionError):
    """Raised without asking Redis: it failed moments ago (the breaker is open)."""


class Breaker:
    """Remembers, per process, that Redis failed, for ``seconds``."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._open_until = 0.0

    @property
    def open(self) -> bool:
        return time.monotonic() < self._open_until

    def trip(self) -> None:
        self._open_until = time.monotonic() + self.seconds

    def close(self) -> None:
        self._open_until = 0.0


def make_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=COMMAND_TIMEOUT, socket_connect_timeout=CONNECT_TIMEOUT,
                                retry=Retry(NoBackoff(), 0))


def init_app(app: Flask, config) -> None:
    app.extensions["boxes.redis"] = make_client(config.redis_url)
    app.extensions["boxes.redis_breaker"] = Breaker(BREAKER_SECONDS)
    for error in UNAVAILABLE:
        app.register_error_handler(error, _unavailable)


def client(app: Flask) -> redis.Redis:
    """The web's Redis client; ``RedisUnavailable`` at once while the breaker is open."""
    if app.extensions["boxes.redis_breaker"].open:
        raise RedisUnavailable("Redis failed moments ago; not asked again yet")
    return app.extensions["boxes.redis"]


def ping(app: Flask) -> None:
    """Ask Redis whatever the breaker says (health checks); the answer opens or closes it."""
    breaker = app.extensions["boxes.redis_breaker"]
    try:
        app.extensions["boxes.redis"].ping()
    except DOWN:
        breaker.trip()
        raise
    breaker.close()


def _unavailable(exc: Exception):
    from boxes.web import is_fragment_request

    if isinstance(exc, REFUSING):
        log.warning("Redis refuses writes: %s: %s", exc.__class__.__name__, exc)
    elif not isinstance(exc, RedisUnavailable):
        current_app.extensions["boxes.redis_breaker"].trip()
        log.warning("Redis is not answering (%s: %s); requests that need it answer 503 for the next %.0f s",
                    exc.__class__.__name__, exc, BREAKER_SECONDS)
    session = g.get("db")
    if session is not None:
        session.rollback()
    message = _("Boxes cannot do this right now: one of its services is restarting. Nothing was saved. "
                "Try again in a minute; the board keeps working meanwhile.")
    if is_fragment_request():
        from jinja2_fragments.flask import render_block

        # At the top of the target, whatever its swap: a form keeps what the user typed.
        response = make_response(render_block(TEMPLATE, "unavailable", message=message), 503)
        response.headers["HX-Reswap"] = "afterbegin"
    else:
        response = make_response(render_template(TEMPLATE, code=503, message=message), 503)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
