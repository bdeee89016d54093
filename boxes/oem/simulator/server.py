"""``boxes oem-simulator``: the OEM's CRM (a Salesforce org) served over HTTP.

The API (docs/integrations.md, "The OEM CRM"):

- ``POST /services/oauth2/token`` (form: ``grant_type=client_credentials``, ``client_id``,
  ``client_secret``) → ``{"access_token", "instance_url", "id", "token_type", "issued_at",
  "signature", "expires_in"}``; refusals are ``400 {"error": "invalid_client" | "invalid_grant" |
  ..., "error_description"}``;
- ``GET /services/apexrest/dealer-leads/v1/updated?dealerCode=&start=`` (page size:
  ``Sforce-Query-Options: batchSize=N``) → ``{"totalSize", "done", "latestDateCovered",
  "records", "nextRecordsUrl"}``, later pages at ``nextRecordsUrl``;
- ``PATCH /services/data/vXX.X/sobjects/Lead_Status_Event__c/Event_Id__c/<event id>`` → 201
  ``{"id", "success", "errors", "created": true}``, or 200 ``created: false`` for an event id it
  already has.

Control, for tests, demos and benchmarks (``/_sim/…``): ``GET|POST faults`` (knobs, and ``next``:
faults for the next calls), ``POST advance`` (``{"minutes": 10, "leads": 3}``), ``POST leads``
(``{"dealer", "type", "contact", "fields"}``: one lead now, ``fields`` replacing the generated ones),
``POST leads/<id>`` (``{"fields": {...}}``: a CRM user edits the lead), ``POST tokens/expire``,
``POST calm``, ``GET truth/<code>``, ``GET calls?after=<seq>``, ``GET stats``, ``GET health``.
"""

from __future__ import annotations

import json
import logging
import re
import time
from urllib.parse import parse_qs, unquote, urlparse

from boxes import simulators
from boxes.oem.api import LEADS_PATH, STATUS_OBJECT, TOKEN_PATH, error_body, parse_instant
from boxes.oem.simulator.generator import CONTACTS, LEAD_TYPES, ORG
from boxes.oem.simulator.living import LivingOem, parse_next

log = logging.getLogger("boxes.oem.simulator")
MAX_BODY = 1 << 20
_STATUS = re.compile(r"/services/data/v\d+\.\d/sobjects/" + STATUS_OBJECT + r"/Event_Id__c/([^/]+)")
_NEXT = re.compile(re.escape(LEADS_PATH) + r"/([0-9A-Za-z]+)-(\d+)")
_BATCH = re.compile(r"batchSize=(\d+)")
# What a test may not set on a lead through the control API: its identity and its version.
KEPT_FIELDS = frozenset({"Id", "CreatedDate", "LastModifiedDate", "SystemModstamp"})
OAUTH_DESCRIPTIONS = {"invalid_client": "invalid client credentials", "invalid_grant": "authentication failure",
                      "invalid_client_id": "client identifier invalid",
                      "unsupported_grant_type": "grant type not supported"}


class _Handler(simulators.SimulatorHandler):
    server: OemSimulatorServer
    logger = log
    content_type = "application/json;charset=UTF-8"
    max_body = MAX_BODY

    # ------------------------------------------------------------------------------ helpers
    def _send(self, status: int, body, *, headers: dict | None = None, truncate: bool = False) -> None:
        data = json.dumps(body).encode()
        if truncate:
            data = simulators.half(data)  # a complete HTTP answer whose JSON is cut
        self.write_answer(status, data, headers)

    @staticmethod
    def _json(raw: bytes) -> object:
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return None

    # ------------------------------------------------------------------------------ the API
    def _api(self, endpoint: str, handle) -> None:
        """Every API call: latency, Retry-After in force, the session, one fault, then ``handle``
        (which returns (status, body)), whose answer a timeout delays and a truncation cuts."""
        oem = self.server.oem
        f = oem.faults
        if f.latency_ms:
            time.sleep(f.latency_ms / 1000)
        early = oem.too_early()
        if early:
            oem.stats["early_calls"] += 1
            return self._answer(endpoint, 429, error_body("REQUEST_LIMIT_EXCEEDED", "Too many requests: slow down"),
                                "early", {"Retry-After": str(early)})
        token = None
        if endpoint != "token":
            auth = self.headers.get("Authorization", "")
            token = auth[7:] if auth.startswith("Bearer ") else ""
            if not oem.token_valid(token):
                return self._answer(endpoint, 401, [{"message": "Session expired or invalid",
                                                     "errorCode": "INVALID_SESSION_ID"}], "invalid_session")
        fault = oem.draw_fault(endpoint)
        if fault == "expired_token":
            oem.revoke(token)
            return self._answer(endpoint, 401, [{"message": "Session expired or invalid",
                                                 "errorCode": "INVALID_SESSION_ID"}], fault)
        if fault == "error":
            return self._answer(endpoint, 500, error_body(
                "UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this ErrorId if you contact "
                                     f"support: {oem.fault_rng.getrandbits(40):x}-{oem.call_seq}"), fault)
        if fault in ("unavailable", "rate_limit"):
            seconds = oem.slow_down()
            status, code = (503, "SERVER_UNAVAILABLE") if fault == "unavailable" else (429, "REQUEST_LIMIT_EXCEEDED")
            return self._answer(endpoint, status, error_body(code, "Slow down and retry later"), fault,
                                {"Retry-After": str(seconds)})
        if fault == "row_lock":
            return self._answer(endpoint, 400, error_body(
                "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records"), fault)
        status, body = handle()
        if fault == "timeout":
            # Done, but answered after the caller has given up: a retry must not do it twice.
            time.sleep(f.timeout_seconds)
        self._answer(endpoint, status, body, fault, truncate=fault == "truncate" and status < 300)

    def _answer(self, endpoint: str, status: int, body, fault: str | None, headers: dict | None = None, *,
                truncate: bool = False) -> None:
        self.server.oem.record_call(endpoint, self.command, status, fault)
        self._send(status, body, headers=headers, truncate=truncate)

    def _token(self, raw: bytes) -> tuple[int, object]:
        server, oem = self.server, self.server.oem
        form = {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        error = None
        if form.get("grant_type") != "client_credentials":
            error = "unsupported_grant_type"
        elif oem.faults.token_error:
            error = oem.faults.token_error
        elif form.get("client_id") != oem.client_id:
            error = "invalid_client_id"
        elif form.get("client_secret") != oem.client_secret:
            error = "invalid_client"
        if error:
            oem.stats["tokens_refused"] += 1
            return 400, {"error": error, "error_description": OAUTH_DESCRIPTIONS[error]}
        token, ttl = oem.issue_token()
        host = self.headers.get("Host") or f"{server.server_address[0]}:{server.server_address[1]}"
        body = {"access_token": token, "instance_url": f"http://{host}", "id": f"http://{host}/id/00D{ORG}/005{ORG}",
                "token_type": "Bearer", "issued_at": str(int(time.time() * 1000)), "scope": "api",
                "signature": "c2ltdWxhdG9y"}
        if oem.faults.announce_ttl:
            body["expires_in"] = int(ttl) if float(ttl).is_integer() else ttl
        return 200, body

    def _leads(self, query: dict) -> tuple[int, object]:
        oem = self.server.oem
        code = query.get("dealerCode", "")
        if code not in oem.leads:
            return 400, error_body("INVALID_DEALER", f"no dealer {code[:20]!r} for this integration user")
        try:
            start = parse_instant(query.get("start"))
        except (ValueError, TypeError):
            return 400, error_body("INVALID_REPLICATION_DATE", "start: not an instant with its offset")
        found = _BATCH.search(self.headers.get("Sforce-Query-Options", ""))
        batch = max(1, min(2000, int(found.group(1)))) if found else 2000
        return 200, oem.query(code, start, batch)

    def _next(self, locator: str, offset: int) -> tuple[int, object]:
        page = self.server.oem.next_page(locator, offset)
        if page is None:
            return 400, error_body("INVALID_QUERY_LOCATOR", "invalid query locator")
        return 200, page

    # ------------------------------------------------------------------------------ routes
    def do_GET(self):
        oem = self.server.oem
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path.startswith("/_sim/"):
            return self._control_get(url.path[6:], query)
        if url.path in (LEADS_PATH, LEADS_PATH + "/"):
            return self._api("leads", lambda: self._leads(query))
        found = _NEXT.fullmatch(url.path)
        if found:
            return self._api("leads", lambda: self._next(found.group(1), int(found.group(2))))
        oem.record_call("other", "GET", 404, None)
        self._send(404, error_body("NOT_FOUND", "The requested resource does not exist"))

    def do_POST(self):
        url = urlparse(self.path)
        raw = self.read_body()  # read before any answer: the connection is kept alive
        if url.path == TOKEN_PATH:
            return self._api("token", lambda: self._token(raw))
        if url.path.startswith("/_sim/"):
            return self._control_post(url.path[6:], self._json(raw))
        self._send(404, error_body("NOT_FOUND", "The requested resource does not exist"))

    def do_PATCH(self):
        raw = self.read_body()
        found = _STATUS.fullmatch(urlparse(self.path).path)
        if not found:
            return self._send(404, error_body("NOT_FOUND", "The requested resource does not exist"))
        body = self._json(raw)
        event_id = unquote(found.group(1))
        if body is None:
            return self._api("status", lambda: (400, error_body("JSON_PARSER_ERROR", "the body is not JSON")))
        self._api("status", lambda: self.server.oem.upsert_status(event_id, body))

    # ------------------------------------------------------------------------------ control
    def _control_get(self, what: str, query: dict) -> None:
        oem = self.server.oem
        if what == "health":
            return self._send(200, {"ok": True, "dealers": oem.codes, "now": oem.clock().isoformat()})
        if what == "faults":
            queued = [f"{kind}@{target}" if target else kind for kind, target in oem.next_faults]
            return self._send(200, {**oem.faults.as_dict(), "next": queued})
        if what == "stats":
            with oem.lock:
                return self._send(200, dict(oem.stats))
        if what == "calls":
            after = int(query.get("after") or 0)
            with oem.lock:
                return self._send(200, {"calls": [c for c in oem.calls if c["seq"] > after], "last": oem.call_seq})
        if what.startswith("truth/") and what[6:] in oem.leads:
            return self._send(200, oem.truth(what[6:]))
        self._send(404, {"error": "not found"})

    def _control_post(self, what: str, body: object) -> None:
        oem = self.server.oem
        if not isinstance(body, dict):
            return self._send(400, {"error": "a JSON object is expected"})
        if what == "faults":
            try:
                with oem.lock:
                    nxt = parse_next(body.pop("next")) if "next" in body else None
                    oem.faults.update(body)
                    if nxt is not None:
                        oem.next_faults = nxt
                    if "seed" in body:
                        oem.fault_rng.seed(int(body["seed"]))
            except (KeyError, ValueError, TypeError) as exc:
                return self._send(400, {"error": f"bad fault knob {exc}"})
            return self._control_get("faults", {})
        if what == "advance":
            leads = body.get("leads")
            made = oem.advance(float(body.get("minutes", 10)), int(leads) if leads is not None else None)
            return self._send(200, {"leads": made, "now": oem.clock().isoformat()})
        fields = body.get("fields") or {}
        if not isinstance(fields, dict) or set(fields) & KEPT_FIELDS:
            return self._send(400, {"error": f"fields: a JSON object of lead fields but {sorted(KEPT_FIELDS)}"})
        if what == "leads":
            code, kind, contact = body.get("dealer"), body.get("type"), body.get("contact")
            if code not in oem.leads or (kind is not None and kind not in LEAD_TYPES) or (
                    contact is not None and contact not in CONTACTS):
                return self._send(400, {"error": f"dealer one of {oem.codes}, type one of {LEAD_TYPES}, "
                                                 f"contact one of {CONTACTS}"})
            return self._send(200, oem.create_lead(code, kind, contact, fields))
        if what.startswith("leads/"):
            changed = oem.change_lead(what[6:], fields)
            return self._send(200, changed) if changed is not None else self._send(404, {"error": "no such lead"})
        if what == "calm":  # a Retry-After given earlier is no longer in force (tests start afresh)
            with oem.lock:
                oem.not_before = 0.0
            return self._send(200, {"ok": True})
        if what == "tokens/expire":
            return self._send(200, {"expired": oem.revoke()})
        self._send(404, {"error": "not found"})


class OemSimulatorServer(simulators.SimulatorHttpServer):
    def __init__(self, address, oem: LivingOem):
        super().__init__(address, _Handler)
        self.oem = oem


def serve(host: str, port: int, oem: LivingOem, *, tick_seconds: float = 30.0, ready=None) -> None:
    """Serve until interrupted; with the real clock new leads come every ``tick_seconds``."""
    simulators.serve(OemSimulatorServer((host, port), oem), log, tick=oem.set_now if oem.real_clock else None,
                     tick_seconds=tick_seconds, ready=ready)
