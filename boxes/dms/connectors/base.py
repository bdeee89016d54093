"""The connector contract.

A connector reads one dealer's DMS. ``pages(entity, cursor)`` yields :class:`Page` objects in
order: the raw feed-v1 objects of the page (validated later, one by one, by the sync engine) and
the cursor *after* that page. The engine stores the records of a page and its cursor in one
commit, then calls ``page.after_commit`` (the files connector archives a finished file there).
A connector never stores anything itself.

Errors: :class:`TransportError` for what a later attempt may fix (DMS down or slow, HTTP 5xx, a
truncated response, an expired token that could not be renewed): the run fails, nothing after the
last committed page is lost, and the job is retried with backoff. :class:`ConfigurationError` for
what only an admin can fix (a missing setting, a rejected credential): the run fails, no retry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol


class ConnectorError(Exception):
    pass


class TransportError(ConnectorError):
    """Retryable: the DMS could not be read right now."""


class ConfigurationError(ConnectorError):
    """Not retryable: the connector's settings or credentials are wrong."""


@dataclass
class Page:
    records: list  # feed-v1 objects (dicts), as the DMS sent them
    cursor: str | None  # where the next run starts once this page is stored
    after_commit: Callable[[], None] | None = field(default=None, repr=False)
    # What could not even be read as records (an unreadable file): (payload, reason), quarantined as "file".
    problems: list = field(default_factory=list)


class Connector(Protocol):
    kind: str

    def pages(self, entity: str, cursor: str | None) -> Iterator[Page]: ...

    def close(self) -> None: ...


def build(kind: str, settings: dict, secrets: dict, *, dealer=None, token_store=None, boundaries=None,
          proven: bool = False) -> Connector:
    """The connector of ``kind`` (``simulator`` is the ``http`` connector pointed at the simulator).
    ``boundaries`` (:mod:`boxes.dms.connectors.boundaries`) is where the dealer's connector may
    reach: required by the files and sql connectors; ``proven``: the http feed has answered under
    these settings before."""
    if kind in ("http", "simulator"):
        from boxes.dms.connectors.http import HttpConnector

        return HttpConnector(settings, secrets, token_store=token_store, boundaries=boundaries, proven=proven)
    if kind == "files":
        from boxes.dms.connectors.files import FilesConnector

        return FilesConnector(settings, boundaries=boundaries, dealer_time_zone=getattr(dealer, "time_zone", "UTC"))
    if kind == "sql":
        from boxes.dms.connectors.sql import SqlConnector

        return SqlConnector(settings, secrets, boundaries=boundaries)
    raise ConfigurationError(f"unknown connector kind {kind!r}")
