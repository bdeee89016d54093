"""Shared pieces of the OEM tests (no tests here): ``boxes oem-simulator`` as a separate HTTP server
process on loopback, with its control API, and connections to it."""

from __future__ import annotations

from dataclasses import replace

import httpx

from boxes.db import utcnow
from boxes.models import OemConnector
from boxes.oem.client import OemConnection
from tests.simulators import SimulatorProcess

AR = "AR01:AR:America/Argentina/Buenos_Aires"
BR = "BR01:BR:America/Sao_Paulo"
DEFAULT_FAULTS = {"latency_ms": 0, "error_rate": 0, "unavailable_rate": 0, "rate_limit_rate": 0, "retry_after": 1,
                  "timeout_rate": 0, "timeout_seconds": 2.0, "truncate_rate": 0, "row_lock_rate": 0,
                  "duplicate_rate": 0, "malformed_rate": 0, "unknown_type_rate": 0, "foreign_dealer_rate": 0,
                  "token_ttl": 7200, "announce_ttl": True, "token_error": "", "locator_ttl": 900, "next": []}


class OemSimulator(SimulatorProcess):
    command, title = "oem-simulator", "OEM simulator"

    def __init__(self, *, seed: int = 7, vehicles: int = 80, backlog: int = 12, dealers=(AR, BR)):
        super().__init__(seed=seed, vehicles=vehicles, dealers=dealers, options=("--backlog", str(backlog)))

    def connection(self, code: str = "AR01", **overrides) -> OemConnection:
        base = OemConnection(base_url=self.base, client_id="boxes", client_secret="simulator", dealer_code=code,
                             timeout=5.0, retry_delays=(0.05, 0.1), max_wait=5.0)
        return replace(base, **overrides)

    def _post(self, path: str, body: dict | None = None) -> dict:
        response = httpx.post(f"{self.base}/_sim/{path}", json=body or {}, timeout=30)
        response.raise_for_status()
        return response.json()

    def _get(self, path: str, **params) -> dict:
        response = httpx.get(f"{self.base}/_sim/{path}", params=params, timeout=30)
        response.raise_for_status()
        return response.json()

    def faults(self, **knobs) -> dict:
        """Every knob back to its default, then ``knobs``; no Retry-After in force."""
        self._post("calm")
        return self._post("faults", {**DEFAULT_FAULTS, **knobs})

    def advance(self, minutes: float = 10, leads: int | None = None) -> int:
        return self._post("advance", {"minutes": minutes} | ({"leads": leads} if leads is not None else {}))["leads"]

    def create_lead(self, code: str, fields: dict | None = None, **body) -> dict:
        """One lead now (``type``, ``contact`` in ``body``); ``fields`` replace the generated lead's."""
        return self._post("leads", {"dealer": code, **body, "fields": fields or {}})

    def change_lead(self, lead_id: str, **fields) -> dict:
        """A user of the OEM's CRM edits the lead: its new version."""
        return self._post(f"leads/{lead_id}", {"fields": fields})

    def expire_tokens(self) -> int:
        return self._post("tokens/expire")["expired"]

    def truth(self, code: str) -> dict:
        return self._get(f"truth/{code}")

    def stats(self) -> dict:
        return self._get("stats")

    def last_call(self) -> int:
        return self._get("calls")["last"]

    def calls(self, after: int) -> list[tuple[str, int, str | None]]:
        """(endpoint, HTTP status, fault) of every call since ``after``."""
        return [(c["endpoint"], c["status"], c["fault"]) for c in self._get("calls", after=after)["calls"]]


def connect(db, dealer, sim: OemSimulator, *, client_secret: str = "simulator",  # noqa: S107 - the simulator's
            connector: dict | None = None, **settings) -> OemConnector:
    """The dealer's enabled OEM connector on ``sim`` (its code at the OEM: the dealer's own), with short
    timeouts and retries; ``connector``: other columns (distribution, parts_user_id...)."""
    row = OemConnector(dealer_id=dealer.id, enabled=True, updated_at=utcnow(),
                       settings={"base_url": sim.base, "client_id": "boxes", "dealer_code": dealer.code,
                                 "timeout_seconds": 5, "retry_delays": [0.05, 0.1], "max_wait": 5, **settings},
                       secrets={"client_secret": client_secret}, **(connector or {}))
    db.add(row)
    db.commit()
    return row
