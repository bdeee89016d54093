"""The ``http`` connector: the "Boxes DMS feed v1" JSON API (see docs/integrations.md).

- ``POST {base_url}/token`` with ``client_id``/``client_secret`` gives a bearer token and its
  validity (``expires_in`` seconds). The token is kept (``token_store``) and renewed before it
  expires (``token_refresh_margin`` seconds ahead), or at once when the DMS answers 401.
- ``GET {base_url}/{entity}?cursor=…&limit=…`` (or ``updated_since=`` on a first run when the
  dealer sets a start date) answers ``{"records": [...], "next_cursor": "...", "has_more": bool}``.
- Every call has a timeout; connection errors, timeouts, HTTP 5xx and cut-off bodies are
  :class:`TransportError` (retried); 400/403/404 and a refused credential are configuration errors.

Where it connects: only to the operator's allowed hosts (BOXES_CONNECTOR_ALLOWED_HOSTS), checked
on the address each connection actually goes to (:class:`GuardedBackend`), never through a proxy
from the environment (that would connect to any address on Boxes' behalf). Redirects are not
followed.

What it tells the admin: an address that has never answered as a DMS feed (a valid token or
page, or the feed's own JSON refusal of the credentials) gets one message whatever happened — no
answer, a closed port, an HTTP error page, a service that is not HTTP — so the connector cannot be
used to map the network; the details go to the server log. Once the feed has answered (in this
run, or before under the same settings: ``proven``), errors say what happened: HTTP 500, the
token refused, the answer cut off, a page that is not JSON.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpcore
import httpx

from boxes.dms.connectors.base import ConfigurationError, Page, TransportError
from boxes.dms.connectors.boundaries import HOST_NOT_ALLOWED, Boundaries, OutOfBounds, resolve

log = logging.getLogger("boxes.dms.connectors.http")
NO_FEED = "no DMS feed answered at this address (no answer, or not the feed v1 format; details in the server log)"


class TokenStore:
    """Where a token lives between runs: in memory by default; the sync engine keeps it in the
    dealer's connector row."""

    def __init__(self, token: str | None = None, expires_at: datetime | None = None):
        self.token = token
        self.expires_at = expires_at

    def load(self) -> tuple[str | None, datetime | None]:
        return self.token, self.expires_at

    def save(self, token: str | None, expires_at: datetime | None) -> None:
        self.token, self.expires_at = token, expires_at


class GuardedBackend(httpcore.SyncBackend):
    """Opens each connection to an address the operator allows: the host name is resolved here
    and every address is checked right before connecting to it (a name that pointed at an allowed
    address when it was saved and points elsewhere now gets nowhere)."""

    def __init__(self, boundaries: Boundaries):
        self.boundaries = boundaries

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        b = self.boundaries
        if b.name_allowed(host, port) and b.allowed:
            return super().connect_tcp(host, port, timeout, local_address, socket_options)
        try:
            addresses = resolve(host, port)
        except OSError:
            addresses = []
        allowed = [a for a in addresses if b.address_allowed(a, port)]
        if not allowed:
            raise OutOfBounds("base_url", HOST_NOT_ALLOWED, "the operator does not allow connections to this address "
                              "(BOXES_CONNECTOR_ALLOWED_HOSTS)")
        last: Exception | None = None
        for address in allowed:  # TLS still verifies the name of the URL, not the address
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise last


def guarded_transport(boundaries: Boundaries | None) -> httpx.HTTPTransport:
    transport = httpx.HTTPTransport()
    if boundaries is not None and boundaries.allowed:
        transport._pool = httpcore.ConnectionPool(  # httpx has no public hook for the network backend
            ssl_context=httpx.create_ssl_context(), network_backend=GuardedBackend(boundaries))
    return transport


class _Failed(Exception):
    """A request that got no usable answer; ``what`` says what happened (for the admin once the
    feed has answered), ``detail`` adds what only the server log gets."""

    def __init__(self, what: str, detail: str = "", *, retried: bool = True):
        super().__init__(what)
        self.what, self.detail, self.retried = what, detail, retried


def _cut_off(content: bytes, exc: ValueError) -> bool:
    """Whether a JSON body that does not parse stops in the middle (it was cut off) rather than
    being something else than JSON."""
    position = getattr(exc, "pos", None)
    body = content.rstrip()
    if not body or position is None:
        return False
    # The parser stopped at the end, or in a string that never closes (it reports where it began).
    return position >= len(body) - 1 or getattr(exc, "msg", "").startswith("Unterminated string")


class HttpConnector:
    kind = "http"

    def __init__(self, settings: dict, secrets: dict, *, token_store: TokenStore | None = None,
                 transport: httpx.BaseTransport | None = None, boundaries: Boundaries | None = None,
                 proven: bool = False):
        base_url = (settings.get("base_url") or "").rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigurationError("base_url: an http:// or https:// address is required")
        self.client_id = settings.get("client_id") or ""
        if boundaries is not None:
            boundaries.check_feed(base_url, self.client_id)
        self.base_url = base_url
        self.client_secret = secrets.get("client_secret") or ""
        self.page_size = int(settings.get("page_size") or 500)
        self.updated_since = settings.get("updated_since") or None
        self.refresh_margin = float(settings.get("token_refresh_margin") or 60)
        self.answered = proven  # the address has answered as a DMS feed (see the module's doc)
        timeout = float(settings.get("timeout_seconds") or 30)
        self.tokens = token_store or TokenStore()
        self.client = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
                                   transport=transport or guarded_transport(boundaries), trust_env=False,
                                   follow_redirects=False,
                                   headers={"Accept": "application/json", "User-Agent": "Boxes-DMS-sync/1"})

    # ------------------------------------------------------------------------- requests
    def _send(self, method: str, url: str, **kw) -> httpx.Response:
        """One request, its body read. Failures before an answer and while reading it are told
        apart: an answer cut off is not an unreachable DMS."""
        try:
            with self.client.stream(method, url, **kw) as response:
                try:
                    response.read()
                except httpx.TimeoutException:
                    raise _Failed("the DMS's answer stopped coming (timeout while reading it)") from None
                except httpx.TransportError as exc:
                    raise _Failed("the DMS's answer was cut off (connection closed before the end)",
                                  exc.__class__.__name__) from None
                return response
        except httpx.TimeoutException as exc:
            raise _Failed("the DMS did not answer in time", exc.__class__.__name__) from None
        except httpx.TransportError as exc:
            raise _Failed("cannot reach the DMS", f"{exc.__class__.__name__}: {exc}") from None

    def _error(self, entity: str, failure: _Failed, *, url: str, status: int | None = None) -> Exception:
        """The error of a failed call: specific once the feed has answered, one message before."""
        if not self.answered:
            log.warning("dms feed %s (%s): %s %s (status %s)", url, entity, failure.what, failure.detail, status)
            return TransportError(f"{entity}: {NO_FEED}")
        log.info("dms feed %s (%s): %s %s", url, entity, failure.what, failure.detail)
        return (TransportError if failure.retried else ConfigurationError)(f"{entity}: {failure.what}")

    @staticmethod
    def _json(response: httpx.Response):
        try:
            return json.loads(response.content)
        except ValueError as exc:
            if _cut_off(response.content, exc):
                raise _Failed("the DMS's answer was cut off (the JSON stops in the middle)") from None
            raise _Failed("the DMS's answer is not JSON") from None

    # --------------------------------------------------------------------------- token
    def _token(self, entity: str, force: bool = False) -> str | None:
        if not self.client_id:
            return None  # an open feed (no authentication)
        token, expires_at = self.tokens.load()
        now = datetime.now(UTC)
        if not force and token and expires_at and expires_at - timedelta(seconds=self.refresh_margin) > now:
            return token
        url = f"{self.base_url}/token"
        status = None
        try:
            response = self._send("POST", url, json={"client_id": self.client_id, "client_secret": self.client_secret})
            status = response.status_code
            if status in (400, 401, 403):
                body = self._json(response)
                if not isinstance(body, dict):
                    raise _Failed(f"token request: HTTP {status}")
                # The feed's own refusal (a JSON answer of its token endpoint): say it.
                self.answered = True
                self.tokens.save(None, None)
                raise ConfigurationError(f"the DMS refused the credentials (HTTP {status})")
            if status != 200:
                raise _Failed(f"token request: HTTP {status}", retried=status >= 500 or status == 429)
            body = self._json(response)
            try:
                token = str(body["access_token"])
                expires_in = float(body.get("expires_in") or 3600)
            except (KeyError, TypeError, ValueError, AttributeError):
                raise _Failed("token request: the answer has no token") from None
        except _Failed as failure:
            raise self._error(entity, failure, url=url, status=status) from None
        self.answered = True
        self.tokens.save(token, now + timedelta(seconds=expires_in))
        return token

    def _get(self, entity: str, params: dict) -> dict:
        url = f"{self.base_url}/{entity}"
        status = None
        try:
            for attempt in (1, 2):
                token = self._token(entity, force=attempt == 2)
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                response = self._send("GET", url, params=params, headers=headers)
                status = response.status_code
                if status == 401 and attempt == 1 and token:
                    continue  # expired or revoked early: renew once
                break
            if status >= 500 or status == 429:
                raise _Failed(f"HTTP {status} from the DMS")
            if status == 401:
                raise _Failed("token refused after renewal (HTTP 401)")
            if status != 200:
                raise _Failed(f"HTTP {status} from the DMS", retried=False)
            body = self._json(response)
            if not isinstance(body, dict) or not isinstance(body.get("records"), list):
                raise _Failed("page without a records list")
        except _Failed as failure:
            raise self._error(entity, failure, url=url, status=status) from None
        self.answered = True
        return body

    # --------------------------------------------------------------------------- pages
    def pages(self, entity: str, cursor: str | None) -> Iterator[Page]:
        while True:
            params: dict = {"limit": self.page_size}
            if cursor:
                params["cursor"] = cursor
            elif self.updated_since:
                params["updated_since"] = self.updated_since
            body = self._get(entity, params)
            next_cursor = body.get("next_cursor") or cursor
            if next_cursor is not None and not isinstance(next_cursor, str):
                raise TransportError(f"{entity}: next_cursor is not text")
            yield Page(body["records"], next_cursor)
            if not body.get("has_more") or next_cursor == cursor:
                return
            cursor = next_cursor

    def close(self) -> None:
        self.client.close()
