"""The OEM API client: the transport of the OEM lead integration, one dealer's connection at a time.

Usable from an RQ job (no Flask): give it an :class:`OemConnection` (the dealer's settings), a
:class:`TokenStore` (where the token and a refusal of the credentials live between jobs) and a
:class:`Pace` (when the next call may go, shared by every worker of that dealer).

- **Token** (OAuth2 client credentials, the pattern of seed 003): fetched from
  ``{base_url}/services/oauth2/token``, kept in the store with its validity (``expires_in``, or
  ``token_lifetime`` when the org does not announce it, as Salesforce does not), renewed
  ``token_refresh_margin`` seconds before it expires (at most half its lifetime ahead), and once
  more when the OEM answers 401 to a token that should still be valid. API calls go to the token's
  ``instance_url``.
- **Refused credentials** (``invalid_client``, ``invalid_grant``, any 4xx of the token endpoint)
  raise :class:`AuthStopped` and are remembered in the store with a fingerprint of the credentials:
  until they change, every later call raises it again without asking the OEM — never a loop.
- **Timeouts** on every call (``connect_timeout``, ``timeout``).
- **Slowing down**: HTTP 429, or 503 with ``Retry-After``, pauses the dealer's :class:`Pace`
  until then; a wait up to ``max_wait`` seconds is slept through here, a longer one raises
  :class:`RateLimited` with the delay, so the job comes back later instead of failing. Calls are
  spaced by ``min_interval`` seconds.
- **Retries**: a transient failure (timeout, connection error, HTTP 5xx, a row the OEM had locked,
  an unreadable answer) is tried again after each of ``retry_delays``; then it is raised.
  Every call the client repeats is safe to repeat: reads, and status events keyed by their event id.

Every failure is one of five types (:class:`OemError` subclasses): ``AuthStopped`` (never
retried), ``RateLimited`` (retry after ``retry_after`` seconds), ``Transient`` (retry later),
``Rejected`` (a 4xx for this item: not retried) and ``MalformedAnswer`` (the OEM's answer could not
be read). Messages never contain the secret or the token.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx

from boxes.oem.api import (
    API_VERSION,
    LEADS_PATH,
    TOKEN_PATH,
    floor_minute,
    format_instant,
    is_record_id,
    parse_instant,
    status_path,
    valid_event_id,
)
from boxes.oem.leads import Lead, LeadError, parse_lead

MAX_RATE_WAITS = 3  # Retry-After waits slept through within one call
DEFAULT_RETRY_AFTER = 60.0  # a 429 that does not say how long
MAX_RETRY_AFTER = 86_400.0
# Error codes of a 4xx that a later attempt may not meet: the OEM's record was locked by another
# transaction (Salesforce advises retrying), or a query expired before its last page was read.
TRANSIENT_CODES = {"UNABLE_TO_LOCK_ROW", "INVALID_QUERY_LOCATOR", "SERVER_UNAVAILABLE"}


# =========================================================================================== errors

class OemError(Exception):
    """A call to the OEM failed. ``kind`` names the type for logs and the admin page;
    ``status_code`` and ``code`` are what the OEM answered (None when it did not answer)."""

    kind = "error"
    retryable = False

    def __init__(self, message: str, *, status_code: int | None = None, code: str = "", detail: str = ""):
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.detail = detail


class AuthStopped(OemError):
    """The OEM refused the credentials: the integration stops until an admin changes them."""

    kind = "auth_stopped"


class RateLimited(OemError):
    """The OEM asked to slow down: try again in ``retry_after`` seconds."""

    kind = "rate_limited"
    retryable = True

    def __init__(self, message: str, *, retry_after: float, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class Transient(OemError):
    """The OEM could not be used right now (down, slow, a locked row): a later attempt may work."""

    kind = "transient"
    retryable = True


class QueryExpired(Transient):
    """A paginated read outlived its query: start again from the watermark (not retried in the call)."""


class Rejected(OemError):
    """The OEM refused this item (a 4xx): sending it again would get the same answer."""

    kind = "rejected"


class MalformedAnswer(OemError):
    """The OEM answered something that could not be read as its API's answer."""

    kind = "malformed_answer"
    retryable = True


class OemSettingsError(ValueError):
    """A connection setting is wrong; ``field`` names it (for the admin form)."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


# =========================================================================================== settings

@dataclass(frozen=True)
class OemConnection:
    """One dealer's OEM connection."""

    base_url: str  # where the token is asked for (Salesforce: https://login.salesforce.com)
    client_id: str
    client_secret: str = field(repr=False)
    dealer_code: str = ""  # the dealer's code at the OEM: whose leads are read
    api_version: str = API_VERSION
    connect_timeout: float = 5.0
    timeout: float = 30.0  # per read/write of every call
    token_refresh_margin: float = 300.0
    token_lifetime: float = 7200.0  # when the token answer has no expires_in (Salesforce's default session)
    page_size: int = 200
    first_read_days: int = 30  # the first read starts this long ago (getUpdated's limit)
    retry_delays: tuple[float, ...] = (0.5, 2.0)
    max_wait: float = 30.0  # the longest Retry-After slept through in the call
    min_interval: float = 0.0  # seconds between two calls of this dealer

    def __post_init__(self):
        base = self.base_url.rstrip("/")
        object.__setattr__(self, "base_url", base)
        if not base.startswith(("http://", "https://")):
            raise OemSettingsError("base_url", "an http:// or https:// address is required")
        if not self.client_id:
            raise OemSettingsError("client_id", "required")
        if not self.client_secret:
            raise OemSettingsError("client_secret", "required")
        if not self.dealer_code:
            raise OemSettingsError("dealer_code", "required")
        for name in ("connect_timeout", "timeout"):
            if not 0 < getattr(self, name) <= 600:
                raise OemSettingsError(name, "between 0 and 600 seconds")
        if not 0 < self.token_lifetime <= 86_400:
            raise OemSettingsError("token_lifetime", "between 0 and 86400 seconds")
        if not 1 <= self.page_size <= 2000:
            raise OemSettingsError("page_size", "between 1 and 2000")
        if any(not 0 <= d <= 600 for d in self.retry_delays) or len(self.retry_delays) > 10:
            raise OemSettingsError("retry_delays", "at most 10 delays of 0 to 600 seconds")
        for name in ("token_refresh_margin", "max_wait", "min_interval"):
            if not 0 <= getattr(self, name) <= 3600:
                raise OemSettingsError(name, "between 0 and 3600 seconds")

    @classmethod
    def from_settings(cls, settings: dict, secrets: dict) -> OemConnection:
        """From a connector row's ``settings`` and ``secrets`` (unknown keys are ignored)."""
        names = set(cls.__dataclass_fields__) - {"client_secret"}
        values: dict[str, Any] = {k: v for k, v in settings.items() if k in names and v not in (None, "")}
        values["client_secret"] = secrets.get("client_secret") or ""
        for name, f in cls.__dataclass_fields__.items():
            if name not in values or f.type not in ("float", "int", "tuple[float, ...]"):
                continue
            try:
                value = values[name]
                values[name] = (tuple(float(x) for x in value) if f.type.startswith("tuple")
                                else float(value) if f.type == "float" else int(value))
            except (TypeError, ValueError):
                raise OemSettingsError(name, "not a number") from None
        return cls(**{"base_url": "", "client_id": "", **values})

    @property
    def fingerprint(self) -> str:
        """Identifies these credentials (where they are used) without revealing them."""
        text = "\0".join((self.base_url, self.client_id, self.client_secret))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# =========================================================================================== token

@dataclass(frozen=True)
class Token:
    access_token: str = field(repr=False)
    instance_url: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class SessionState:
    """What a :class:`TokenStore` keeps for one dealer: the token, or why the OEM refused the
    credentials (and which ones: ``stopped_for`` is their fingerprint)."""

    token: Token | None = None
    stopped: str = ""
    stopped_code: str = ""
    stopped_for: str = ""

    def to_dict(self) -> dict:
        t = self.token
        return {"token": None if t is None else {
            "access_token": t.access_token, "instance_url": t.instance_url,
            "issued_at": t.issued_at.isoformat(), "expires_at": t.expires_at.isoformat()},
            "stopped": self.stopped, "stopped_code": self.stopped_code, "stopped_for": self.stopped_for}

    @classmethod
    def from_dict(cls, value: dict | None) -> SessionState:
        value = value or {}
        t = value.get("token")
        token = None if not t else Token(t["access_token"], t["instance_url"], datetime.fromisoformat(t["issued_at"]),
                                         datetime.fromisoformat(t["expires_at"]))
        return cls(token, value.get("stopped", ""), value.get("stopped_code", ""), value.get("stopped_for", ""))


class TokenStore(Protocol):
    def load(self) -> SessionState: ...

    def save(self, state: SessionState) -> None: ...


class MemoryTokenStore:
    """A store for one process (tests, the benchmark, a one-off command); the OEM connector's row
    keeps ``SessionState.to_dict()`` in production."""

    def __init__(self, state: SessionState | None = None):
        self.state = state or SessionState()

    def load(self) -> SessionState:
        return self.state

    def save(self, state: SessionState) -> None:
        self.state = state


# =========================================================================================== pace

class Pace(Protocol):
    """When the next call to one dealer's OEM may go (epoch seconds)."""

    def reserve(self, interval: float) -> float:
        """The instant this call may go, at least ``interval`` after the previous one and not
        before a pause ends; the slot is taken."""

    def pause_until(self, until: float) -> None:
        """No call before ``until`` (a later pause already set stays)."""


class MemoryPace:
    """Pacing within one process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._next = 0.0
        self._paused = 0.0

    def reserve(self, interval: float) -> float:
        with self._lock:
            slot = max(time.time(), self._next, self._paused)
            self._next = slot + interval
            return slot

    def pause_until(self, until: float) -> None:
        with self._lock:
            self._paused = max(self._paused, until)


class RedisPace:
    """Pacing shared by every worker process, in Redis (``key``: one per dealer)."""

    _RESERVE = """
local slot = math.max(tonumber(ARGV[1]), tonumber(redis.call('GET', KEYS[1]) or '0'),
                      tonumber(redis.call('GET', KEYS[2]) or '0'))
redis.call('SET', KEYS[1], tostring(slot + tonumber(ARGV[2])), 'EX', 86400)
return tostring(slot)
"""
    _PAUSE = """
local paused = math.max(tonumber(ARGV[1]), tonumber(redis.call('GET', KEYS[1]) or '0'))
redis.call('SET', KEYS[1], tostring(paused), 'EX', 86400)
return tostring(paused)
"""

    def __init__(self, redis, key: str):
        self.keys = [f"{key}:next", f"{key}:paused"]
        self._reserve = redis.register_script(self._RESERVE)
        self._pause = redis.register_script(self._PAUSE)

    def reserve(self, interval: float) -> float:
        return float(self._reserve(keys=self.keys, args=[repr(time.time()), repr(interval)]))

    def pause_until(self, until: float) -> None:
        self._pause(keys=self.keys[1:], args=[repr(until)])


# =========================================================================================== items

@dataclass(frozen=True)
class MalformedLead:
    raw: Any
    reason: str
    lead_id: str | None = None  # when the record carried a lead id (to relate it to a lead)


@dataclass
class LeadPage:
    leads: list[Lead]  # well-formed, each id once in the whole read (its newest version)
    duplicates: list[Lead]  # repeats of a lead already in this read, same or older version
    malformed: list[MalformedLead]
    resume_from: datetime  # the watermark to store with this page: the next read starts there
    last: bool
    total: int  # the read's totalSize


@dataclass(frozen=True)
class StatusTrigger:
    """One status event of a lead (seed 001's "gatilho")."""

    event_id: str  # Boxes' id of the event: the idempotency key
    lead_id: str
    trigger: str  # CRE, CNR, ACO, NFF, VPE, ...
    stage: str
    substage: str | None
    occurred_at: datetime
    communication: str = "DISPOSITION_UPDATE"
    comment: str = ""

    def body(self, dealer_code: str) -> dict:
        body = {"Lead__c": self.lead_id, "Dealer_Code__c": dealer_code, "Trigger__c": self.trigger,
                "Communication__c": self.communication, "Stage__c": self.stage, "Substage__c": self.substage,
                "Event_Date__c": format_instant(self.occurred_at)}
        if self.comment:
            body["Comment__c"] = self.comment
        return body


@dataclass(frozen=True)
class StatusReceipt:
    event_id: str
    record_id: str  # the OEM's id of the event
    created: bool  # False: the OEM already had this event id (a repeat, accepted once)
    status_code: int
    request_body: dict


@dataclass(frozen=True)
class CallRecord:
    """One HTTP attempt, as the integration log keeps it: secrets and tokens redacted, the answer cut."""

    what: str  # token, leads, status
    method: str
    url: str
    request_body: str
    status_code: int | None
    response: str
    duration_ms: int
    attempt: int
    error: str = ""


REDACTED = "[redacted]"
LOGGED_ANSWER = 4000  # characters of an answer the log keeps


def _redacted(what: str, text: str) -> str:
    """The token's answer without the token (a log reader must not be able to call the OEM)."""
    if what != "token" or not text:
        return text
    try:
        body = json.loads(text)
    except ValueError:
        return text[:200]
    if isinstance(body, dict) and "access_token" in body:
        body["access_token"] = REDACTED
    return json.dumps(body)


def _request_text(kwargs: dict) -> str:
    if "json" in kwargs:
        return json.dumps(kwargs["json"], ensure_ascii=False)
    if "data" in kwargs:
        return json.dumps({k: (REDACTED if k == "client_secret" else v) for k, v in kwargs["data"].items()})
    return ""


# =========================================================================================== client

def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def _error_of(response: httpx.Response) -> tuple[str, str]:
    """(code, message) of an error answer: Salesforce's list, OAuth's object, or the raw text."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return "", _short(response.text)
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return str(body[0].get("errorCode") or ""), _short(str(body[0].get("message") or ""))
    if isinstance(body, dict):
        return str(body.get("error") or body.get("errorCode") or ""), _short(
            str(body.get("error_description") or body.get("message") or ""))
    return "", _short(response.text)


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (delay-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value) if value.isdigit() else (
            parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
    except (TypeError, ValueError, OverflowError):
        return None
    return min(MAX_RETRY_AFTER, max(0.0, seconds))


def _json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except ValueError:
        raise MalformedAnswer(f"unreadable answer (HTTP {response.status_code}, {len(response.content)} bytes)",
                              status_code=response.status_code) from None


class OemClient:
    def __init__(self, connection: OemConnection, *, store: TokenStore | None = None, pace: Pace | None = None,
                 transport: httpx.BaseTransport | None = None, on_call: Callable[[CallRecord], None] | None = None):
        """``on_call``: told of every HTTP attempt (the integration log), success or not."""
        self.connection = connection
        self.on_call = on_call
        self.store = store or MemoryTokenStore()
        self.pace = pace or MemoryPace()
        c = connection
        self.http = httpx.Client(
            timeout=httpx.Timeout(c.timeout, connect=c.connect_timeout), transport=transport,
            headers={"Accept": "application/json", "User-Agent": "Boxes-OEM/1"}, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> OemClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----------------------------------------------------------------------------------- calls
    def _await_turn(self) -> None:
        wait = self.pace.reserve(self.connection.min_interval) - time.time()
        if wait > self.connection.max_wait:
            raise RateLimited(f"the OEM asked to wait; {wait:.0f} s left", retry_after=wait)
        if wait > 0:
            time.sleep(wait)

    def _once(self, method: str, url: str, what: str, headers: dict, kwargs: dict, attempt: int = 1) -> httpx.Response:
        self._await_turn()
        started = time.perf_counter()
        response = None
        error = ""
        try:
            response = self.http.request(method, url, headers=headers, **kwargs)
            return response
        except httpx.TimeoutException:
            error = f"{what}: the OEM did not answer within {self.connection.timeout:g} s"
            raise Transient(error) from None
        except httpx.TransportError as exc:
            error = f"{what}: cannot reach the OEM ({exc.__class__.__name__})"
            raise Transient(error) from None
        finally:
            if self.on_call is not None:
                self.on_call(CallRecord(
                    what, method, str(httpx.URL(url, params=kwargs.get("params"))), _request_text(kwargs),
                    None if response is None else response.status_code,
                    "" if response is None else _redacted(what, response.text)[:LOGGED_ANSWER],
                    round((time.perf_counter() - started) * 1000), attempt, error))

    def _check(self, response: httpx.Response, what: str) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        code, message = _error_of(response)
        said = f"HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
        if status == 429 or (status == 503 and _retry_after(response.headers.get("Retry-After")) is not None):
            delay = _retry_after(response.headers.get("Retry-After"))
            delay = DEFAULT_RETRY_AFTER if delay is None else delay
            raise RateLimited(f"{what}: the OEM asked to slow down ({said}); retry in {delay:g} s",
                              retry_after=delay, status_code=status, code=code, detail=message)
        if code == "INVALID_QUERY_LOCATOR":
            raise QueryExpired(f"{what}: the read expired before its last page ({said})",
                               status_code=status, code=code, detail=message)
        if status >= 500 or code in TRANSIENT_CODES:
            raise Transient(f"{what}: {said}", status_code=status, code=code, detail=message)
        if 400 <= status < 500:
            raise Rejected(f"{what}: {said}", status_code=status, code=code, detail=message)
        raise MalformedAnswer(f"{what}: unexpected {said}", status_code=status, code=code, detail=message)

    def _call(self, method: str, url: str, what: str, parse: Callable[[httpx.Response], Any], *,
              authorized: bool = True, headers: dict | None = None, **kwargs) -> tuple[httpx.Response, Any]:
        """One logical call: pace, token, timeouts, one renewal after a 401, bounded retries."""
        tries = waits = 0
        renewed = False
        attempt = 0
        while True:
            attempt += 1
            sent = dict(headers or {})
            if authorized:
                # The token's own call has its retries: what it raises ends this call.
                token = self._token()
                sent["Authorization"] = f"Bearer {token.access_token}"
            try:
                response = self._once(method, url, what, sent, kwargs, attempt)
                if response.status_code == 401 and authorized:
                    if not renewed:  # expired or revoked early: renew once, at once
                        renewed = True
                        self._forget_token(token)
                        continue
                    raise Transient(f"{what}: the OEM refused a token it had just issued (HTTP 401)", status_code=401)
                self._check(response, what)
                return response, parse(response)
            except RateLimited as exc:
                self.pace.pause_until(time.time() + exc.retry_after)
                if exc.retry_after > self.connection.max_wait or waits >= MAX_RATE_WAITS:
                    raise
                waits += 1  # the pace holds the next attempt until Retry-After has passed
            except QueryExpired:
                raise
            except (Transient, MalformedAnswer):
                if tries >= len(self.connection.retry_delays):
                    raise
                time.sleep(self.connection.retry_delays[tries])
                tries += 1

    # ----------------------------------------------------------------------------------- token
    def token(self) -> Token | None:
        """The token held now, with its validity (for the admin page); None when there is none."""
        return self.store.load().token

    def resume(self) -> None:
        """An admin asks to try again with the same credentials (the OEM re-enabled its integration
        user after an ``invalid_grant``): the refusal is forgotten; changed credentials need not this."""
        state = self.store.load()
        if state.stopped:
            self.store.save(SessionState(state.token))

    def _forget_token(self, token: Token) -> None:
        state = self.store.load()
        if state.token is not None and state.token.access_token == token.access_token:
            self.store.save(replace(state, token=None))

    def _token(self) -> Token:
        c = self.connection
        state = self.store.load()
        if state.stopped and state.stopped_for == c.fingerprint:
            raise AuthStopped(state.stopped, code=state.stopped_code)
        token = state.token
        now = datetime.now(UTC)
        if token is not None:
            lifetime = (token.expires_at - token.issued_at).total_seconds()
            margin = min(c.token_refresh_margin, lifetime / 2)
            if token.expires_at - timedelta(seconds=margin) > now:
                return token
        return self._new_token(state)

    def _new_token(self, state: SessionState) -> Token:
        c = self.connection
        form = {"grant_type": "client_credentials", "client_id": c.client_id, "client_secret": c.client_secret}
        try:
            _, body = self._call("POST", c.base_url + TOKEN_PATH, "token", _json, authorized=False, data=form)
        except Rejected as exc:
            message = (f"the OEM refused the credentials ({exc.code or f'HTTP {exc.status_code}'}"
                       + (f": {exc.detail}" if exc.detail else "") + "); the integration stops until they change")
            self.store.save(SessionState(None, message, exc.code, c.fingerprint))
            raise AuthStopped(message, status_code=exc.status_code, code=exc.code, detail=exc.detail) from None
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str) or not body["access_token"]:
            raise MalformedAnswer("token: the answer has no access_token")
        instance_url = body.get("instance_url") or c.base_url
        if not isinstance(instance_url, str) or not instance_url.startswith(("http://", "https://")) or (
                c.base_url.startswith("https://") and not instance_url.startswith("https://")):
            raise MalformedAnswer("token: instance_url is not an address Boxes may send the token to")
        now = datetime.now(UTC)
        issued = now
        if isinstance(body.get("issued_at"), str) and body["issued_at"].isdigit():
            issued = datetime.fromtimestamp(int(body["issued_at"]) / 1000, UTC)
        try:
            lifetime = float(body["expires_in"]) if body.get("expires_in") is not None else c.token_lifetime
        except (TypeError, ValueError):
            raise MalformedAnswer("token: expires_in is not a number") from None
        # The validity counts from when Boxes received it: clocks of the two sides may differ.
        token = Token(body["access_token"], instance_url.rstrip("/"), issued, now + timedelta(seconds=lifetime))
        self.store.save(SessionState(token))
        return token

    def _instance(self) -> str:
        return self._token().instance_url

    # ----------------------------------------------------------------------------------- leads
    def read_leads(self, since: datetime | None = None) -> Iterator[LeadPage]:
        """The dealer's leads changed since ``since`` (the stored watermark; None: the first read),
        page by page. Store each page with its ``resume_from``: a crash resumes from there, and
        leads of that minute come again (the OEM ignores seconds), which an idempotent import
        absorbs."""
        c = self.connection
        start = since or datetime.now(UTC) - timedelta(days=c.first_read_days)
        url = self._instance() + LEADS_PATH
        params: dict | None = {"dealerCode": c.dealer_code, "start": format_instant(start)}
        headers = {"Sforce-Query-Options": f"batchSize={c.page_size}"}
        seen: dict[str, datetime] = {}
        resume = floor_minute(start)
        while True:
            _, body = self._call("GET", url, "leads", _json, params=params, headers=headers)
            page = self._page(body, seen, resume)
            resume = page.resume_from
            yield page
            if page.last:
                return
            url, params = self._instance() + body["nextRecordsUrl"], None

    def _page(self, body: Any, seen: dict[str, datetime], resume: datetime) -> LeadPage:
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise MalformedAnswer("leads: the answer has no records list")
        done = body.get("done")
        next_url = body.get("nextRecordsUrl")
        if not isinstance(done, bool) or (not done and not (isinstance(next_url, str)
                                                           and next_url.startswith("/services/"))):
            raise MalformedAnswer("leads: the answer says neither done nor where the next page is")
        try:
            covered = parse_instant(body.get("latestDateCovered"))
        except ValueError:
            raise MalformedAnswer("leads: latestDateCovered is not an instant") from None
        leads: dict[str, Lead] = {}
        duplicates: list[Lead] = []
        malformed: list[MalformedLead] = []
        newest = None
        for raw in body["records"]:
            try:
                lead = parse_lead(raw)
            except LeadError as exc:
                lead_id = raw.get("Id") if isinstance(raw, dict) and is_record_id(raw.get("Id")) else None
                malformed.append(MalformedLead(raw, str(exc), lead_id))
                continue
            newest = lead.modified_at if newest is None else max(newest, lead.modified_at)
            before = seen.get(lead.id)
            if before is not None and before >= lead.modified_at:
                duplicates.append(lead)
                continue
            if lead.id in leads:  # an older version earlier in this page
                duplicates.append(leads.pop(lead.id))
            seen[lead.id] = lead.modified_at
            leads[lead.id] = lead
        if done:
            resume = max(resume, covered)
        elif newest is not None:
            # Records come in SystemModstamp order: every lead before this minute has been served.
            resume = max(resume, min(floor_minute(newest), covered))
        total = body.get("totalSize") if isinstance(body.get("totalSize"), int) else len(body["records"])
        return LeadPage(list(leads.values()), duplicates, malformed, resume, done, total)

    # ----------------------------------------------------------------------------------- status
    def send_status(self, trigger: StatusTrigger) -> StatusReceipt:
        """Send one status event. The event id is the key of an upsert: sending it again (a retry
        after a timeout) is accepted once (``created`` False)."""
        if not valid_event_id(trigger.event_id):
            raise Rejected(f"status: {trigger.event_id!r} cannot be an event id (1-80 letters, digits, . _ : -)")
        c = self.connection
        body = trigger.body(c.dealer_code)
        url = self._instance() + status_path(trigger.event_id, c.api_version)
        response, answer = self._call("PATCH", url, "status", _json, json=body)
        if not isinstance(answer, dict) or not isinstance(answer.get("id"), str) or answer.get("success") is not True:
            raise MalformedAnswer(f"status: the answer is not a saved record (HTTP {response.status_code})",
                                  status_code=response.status_code)
        created = answer.get("created")
        return StatusReceipt(trigger.event_id, answer["id"],
                             created if isinstance(created, bool) else response.status_code == 201,
                             response.status_code, body)
