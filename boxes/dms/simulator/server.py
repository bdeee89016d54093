"""``boxes dms-simulator``: the living DMS served over HTTP in the feed-v1 format.

Routes (``<code>`` is a dealer code):

- ``POST /feed/v1/<code>/token`` → ``{"access_token", "token_type": "Bearer", "expires_in"}``
  (credentials: ``--client-id``/``--client-secret``; an expired token answers 401);
- ``GET /feed/v1/<code>/<entity>?cursor=&limit=&updated_since=`` → a page;
- control, for tests and demos: ``GET|POST /_sim/faults``, ``POST /_sim/advance``
  (``{"minutes": 10, "events": 3}``), ``GET /_sim/truth/<code>``, ``GET /_sim/malformed``,
  ``GET /_sim/health``.

Time: ``--clock real`` (the default of ``make run``) moves the workshop with the wall clock;
``--clock simulated`` only moves on ``POST /_sim/advance``.
"""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import parse_qs, urlparse

from boxes import simulators
from boxes.dms.records import ENTITIES
from boxes.dms.simulator.living import LivingDms

log = logging.getLogger("boxes.dms.simulator")
MAX_LIMIT = 5000


class _Handler(simulators.SimulatorHandler):
    server: SimulatorServer
    logger = log

    # ------------------------------------------------------------------ helpers
    def _send(self, status: int, body: dict | str | bytes, *, truncate: bool = False) -> None:
        data = body if isinstance(body, bytes) else (
            body.encode() if isinstance(body, str) else json.dumps(body).encode())
        if not truncate:
            return self.write_answer(status, data)
        # The headers promise the whole answer, half of it comes, and the connection closes.
        self.write_answer(status, simulators.half(data), {"Content-Length": str(len(data)), "Connection": "close"})
        self.close_connection = True

    def _json_body(self) -> dict:
        raw = self.read_body()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def _path(self) -> list[str]:
        return [p for p in urlparse(self.path).path.split("/") if p]

    # ------------------------------------------------------------------ routes
    def do_GET(self):
        dms = self.server.dms
        parts = self._path()
        query = {k: v[-1] for k, v in parse_qs(urlparse(self.path).query).items()}
        if parts[:1] == ["_sim"]:
            if parts[1:] == ["health"]:
                return self._send(200, {"ok": True, "dealers": list(dms.feeds)})
            if parts[1:] == ["faults"]:
                return self._send(200, dms.faults.as_dict())
            if parts[1:] == ["malformed"]:
                return self._send(200, {"malformed": dms.malformed})
            if len(parts) == 3 and parts[1] == "truth" and parts[2] in dms.feeds:
                return self._send(200, dms.truth_json(parts[2]))
            return self._send(404, {"error": "not found"})
        if len(parts) != 4 or parts[:2] != ["feed", "v1"] or parts[2] not in dms.feeds or parts[3] not in ENTITIES:
            return self._send(404, {"error": "not found"})
        code, entity = parts[2], parts[3]
        if self.server.require_token:
            auth = self.headers.get("Authorization", "")
            if not auth.startswith("Bearer ") or not dms.token_valid(code, auth[7:]):
                return self._send(401, {"error": "invalid or expired token"})
        f, rng = dms.faults, dms.fault_rng
        with dms.lock:
            draw = [rng.random() for _ in range(3)]
        if f.latency_ms:
            time.sleep(f.latency_ms / 1000)
        if draw[0] < f.error_rate:
            return self._send(500, {"error": "internal error (simulated)"})
        if draw[1] < f.timeout_rate:
            # The reader has given up by then: what it would have got is never served (nor logged as served).
            time.sleep(f.timeout_seconds)
            return self._send(503, {"error": "too slow (simulated)"})
        truncate = draw[2] < f.truncate_rate
        try:
            limit = max(1, min(MAX_LIMIT, int(query.get("limit") or 500)))
            args = (code, entity, query.get("cursor"), limit, query.get("updated_since"))
            body = dms.page(*args) if truncate else dms.faulty_page(*args)
            body.pop("_start", None)
        except ValueError:
            return self._send(400, {"error": "bad cursor or updated_since"})
        self._send(200, body, truncate=truncate)

    def do_POST(self):
        dms = self.server.dms
        parts = self._path()
        body = self._json_body()
        if parts == ["_sim", "faults"]:
            try:
                dms.faults.update(body)
            except (KeyError, ValueError) as exc:
                return self._send(400, {"error": f"bad fault knob {exc}"})
            if "seed" in body:
                dms.fault_rng.seed(int(body["seed"]))
            return self._send(200, dms.faults.as_dict())
        if parts == ["_sim", "advance"]:
            events = body.get("events")
            made = dms.advance(float(body.get("minutes", 10)), int(events) if events is not None else None)
            return self._send(200, {"changes": made})
        if len(parts) == 4 and parts[:2] == ["feed", "v1"] and parts[2] in dms.feeds and parts[3] == "token":
            if body.get("client_id") != self.server.client_id or body.get("client_secret") != self.server.client_secret:
                return self._send(401, {"error": "invalid client credentials"})
            token, ttl = dms.issue_token(parts[2])
            return self._send(200, {"access_token": token, "token_type": "Bearer", "expires_in": ttl})
        return self._send(404, {"error": "not found"})


class SimulatorServer(simulators.SimulatorHttpServer):
    def __init__(self, address, dms: LivingDms, *, client_id: str = "boxes", client_secret: str = "simulator",  # noqa: S107 - the demo DMS's published secret
                 require_token: bool = True):
        super().__init__(address, _Handler)
        self.dms = dms
        self.client_id = client_id
        self.client_secret = client_secret
        self.require_token = require_token


def serve(host: str, port: int, dms: LivingDms, *, clock: str = "real", tick_seconds: float = 30.0,
          client_id: str = "boxes", client_secret: str = "simulator",  # noqa: S107
          ready=None) -> None:
    """Serve until interrupted; with the real clock the workshop moves every ``tick_seconds``."""
    server = SimulatorServer((host, port), dms, client_id=client_id, client_secret=client_secret)
    simulators.serve(server, log, tick=dms.set_now if clock == "real" else None, tick_seconds=tick_seconds,
                     ready=ready)
