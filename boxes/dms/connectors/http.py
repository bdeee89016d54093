"""The ``http`` connector: the "Boxes DMS feed v1" JSON API (see docs/integrations.md).

- ``POST {base_url}/token`` with ``client_id``/``client_secret`` gives a bearer token and its
  validity (``expires_in`` seconds). The token is kept (``token_store``) and renewed before it
  expires (``token_refresh_margin`` seconds ahead), or at once when the DMS answers 401.
- ``GET {base_url}/{entity}?cursor=…&limit=…`` (or ``updated_since=`` on a first run when the
  dealer sets a start date) answers ``{"records": [...], "next_cursor": "...", "has_more": bool}``.
- Every call has a timeout; connection errors, timeouts, HTTP 5xx and unreadable bodies are
  :class:`TransportError` (retried); 400/403/404 and a refused credential are configuration errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx

from boxes.dms.connectors.base import ConfigurationError, Page, TransportError


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


class HttpConnector:
    kind = "http"

    def __init__(self, settings: dict, secrets: dict, *, token_store: TokenStore | None = None,
                 transport: httpx.BaseTransport | None = None):
        base_url = (settings.get("base_url") or "").rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigurationError("base_url: an http:// or https:// address is required")
        self.base_url = base_url
        self.client_id = settings.get("client_id") or ""
        self.client_secret = secrets.get("client_secret") or ""
        self.page_size = int(settings.get("page_size") or 500)
        self.updated_since = settings.get("updated_since") or None
        self.refresh_margin = float(settings.get("token_refresh_margin") or 60)
        timeout = float(settings.get("timeout_seconds") or 30)
        self.tokens = token_store or TokenStore()
        self.client = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)), transport=transport,
                                   headers={"Accept": "application/json", "User-Agent": "Boxes-DMS-sync/1"})

    # --------------------------------------------------------------------------- token
    def _token(self, force: bool = False) -> str | None:
        if not self.client_id:
            return None  # an open feed (no authentication)
        token, expires_at = self.tokens.load()
        now = datetime.now(UTC)
        if not force and token and expires_at and expires_at - timedelta(seconds=self.refresh_margin) > now:
            return token
        try:
            response = self.client.post(f"{self.base_url}/token",
                                        json={"client_id": self.client_id, "client_secret": self.client_secret})
        except httpx.TransportError as exc:
            raise TransportError(f"token request failed: {exc.__class__.__name__}") from None
        if response.status_code in (400, 401, 403):
            self.tokens.save(None, None)
            raise ConfigurationError(f"the DMS refused the credentials (HTTP {response.status_code})")
        if response.status_code != 200:
            raise TransportError(f"token request: HTTP {response.status_code}")
        try:
            body = response.json()
            token = str(body["access_token"])
            expires_in = float(body.get("expires_in") or 3600)
        except (ValueError, KeyError, TypeError):
            raise TransportError("token request: unreadable answer") from None
        self.tokens.save(token, now + timedelta(seconds=expires_in))
        return token

    def _get(self, entity: str, params: dict) -> dict:
        url = f"{self.base_url}/{entity}"
        for attempt in (1, 2):
            token = self._token(force=attempt == 2)
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            try:
                response = self.client.get(url, params=params, headers=headers)
            except httpx.TimeoutException:
                raise TransportError(f"{entity}: the DMS did not answer in time") from None
            except httpx.TransportError as exc:
                raise TransportError(f"{entity}: cannot reach the DMS ({exc.__class__.__name__})") from None
            if response.status_code == 401 and attempt == 1 and token:
                continue  # expired or revoked early: renew once
            break
        if response.status_code >= 500 or response.status_code == 429:
            raise TransportError(f"{entity}: HTTP {response.status_code} from the DMS")
        if response.status_code == 401:
            raise TransportError(f"{entity}: token refused after renewal (HTTP 401)")
        if response.status_code != 200:
            raise ConfigurationError(f"{entity}: HTTP {response.status_code} from {url}")
        try:
            body = json.loads(response.content)
        except ValueError:
            raise TransportError(f"{entity}: truncated or unreadable page") from None
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise TransportError(f"{entity}: page without a records list")
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
