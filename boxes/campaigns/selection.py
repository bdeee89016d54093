"""The campaign manager's searches and selections, kept server-side in Redis.

A search (criteria, pasted-list report, resolved units) and its selection are keyed per dealer,
user and search id, so the selection survives paging and a reload, and one user's selection is
never another's. Both expire after a day of inactivity.
"""

from __future__ import annotations

import json
import secrets

from redis import Redis

from boxes.campaigns.search import Criteria, ListReport

TTL = 24 * 3600


def _key(dealer_id: int, user_id: int, search_id: str, part: str) -> str:
    return f"boxes:campaign-search:{dealer_id}:{user_id}:{search_id}:{part}"


def valid_search_id(search_id: str | None) -> bool:
    return bool(search_id) and len(search_id) <= 32 and search_id.isalnum()


class Searches:
    def __init__(self, redis: Redis, dealer_id: int, user_id: int):
        self.redis, self.dealer_id, self.user_id = redis, dealer_id, user_id

    def key(self, search_id: str, part: str) -> str:
        return _key(self.dealer_id, self.user_id, search_id, part)

    def save(self, criteria: Criteria, report: ListReport | None, pasted: str = "") -> str:
        """Keep a search; ``pasted``: the VIN/plate list as the user typed it, shown again with the
        results (kept apart: it can be long, and only the search form shows it)."""
        search_id = secrets.token_hex(8)
        body = json.dumps({"criteria": criteria.as_dict(), "report": report.as_dict() if report else None})
        pipe = self.redis.pipeline()
        pipe.set(self.key(search_id, "search"), body, ex=TTL)
        if pasted:
            pipe.set(self.key(search_id, "pasted"), pasted, ex=TTL)
        pipe.execute()
        return search_id

    def pasted(self, search_id: str) -> str:
        if not valid_search_id(search_id):
            return ""
        key = self.key(search_id, "pasted")
        raw = self.redis.get(key)
        if raw is None:
            return ""
        self.redis.expire(key, TTL)
        return raw.decode()

    def load(self, search_id: str | None) -> tuple[Criteria, ListReport | None] | None:
        if not valid_search_id(search_id):
            return None
        raw = self.redis.get(self.key(search_id, "search"))
        if raw is None:
            return None
        self.redis.expire(self.key(search_id, "search"), TTL)
        data = json.loads(raw)
        report = data["report"]
        return Criteria(**data["criteria"]), (ListReport(**report) if report else None)

    # --- selection -------------------------------------------------------------------------

    def selected(self, search_id: str) -> set[int]:
        return {int(v) for v in self.redis.smembers(self.key(search_id, "selected"))}

    def selected_count(self, search_id: str) -> int:
        return int(self.redis.scard(self.key(search_id, "selected")))

    def select(self, search_id: str, ids, on: bool = True) -> None:
        ids = [int(i) for i in ids]
        if not ids:
            return
        key = self.key(search_id, "selected")
        pipe = self.redis.pipeline()
        for start in range(0, len(ids), 10_000):
            chunk = ids[start:start + 10_000]
            (pipe.sadd if on else pipe.srem)(key, *chunk)
        pipe.expire(key, TTL)
        pipe.execute()

    def clear(self, search_id: str) -> None:
        self.redis.delete(self.key(search_id, "selected"))
