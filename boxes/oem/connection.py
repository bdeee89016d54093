"""One dealer's OEM client, as the lead import and the status relay open it: the connector row's
settings and secrets, its token kept on the row (``OemConnector.session_state``), the dealer's pace
shared by every worker in Redis, and every HTTP attempt written to the integration log.

    recorder = CallRecorder(dealer_id)
    with open_client(session, connector, redis, recorder) as client:
        ...
    recorder.flush(session)   # before the commit that records the outcome

No Flask here: jobs call it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from boxes.dms.connectors.boundaries import Boundaries
from boxes.dms.connectors.http import guarded_transport
from boxes.models import OemCallLog, OemConnector
from boxes.oem.client import CallRecord, OemClient, OemConnection, RedisPace, SessionState

# The connector page's settings → OemConnection's names (seconds, counts).
SETTINGS = ("base_url", "client_id", "dealer_code", "page_size", "timeout_seconds", "token_refresh_margin")


class RowTokenStore:
    """The client's token store on the connector row: saved with the job's commit (a token lost to a
    rollback is only asked for again; a refusal of the credentials is committed by the job that met it)."""

    def __init__(self, connector: OemConnector):
        self.connector = connector

    def load(self) -> SessionState:
        return SessionState.from_dict(self.connector.session_state)

    def save(self, state: SessionState) -> None:
        self.connector.session_state = state.to_dict()


def connection_of(connector: OemConnector) -> OemConnection:
    """The row's settings as the client's; ``OemSettingsError`` when one is missing or out of range."""
    settings = dict(connector.settings or {})
    if "timeout_seconds" in settings:
        settings["timeout"] = settings.pop("timeout_seconds")
    return OemConnection.from_settings(settings, dict(connector.secrets or {}))


def open_client(connector: OemConnector, redis, recorder: CallRecorder | None = None, *,
                reach: Boundaries | None = None, **kwargs) -> OemClient:
    """The dealer's client. With ``reach`` (``boxes.oem.reach.boundaries``: what a job passes) the stored
    address is checked against the operator's allow-list now, as at save time (``OutOfBounds``), and
    every connection is checked on the address it really reaches (an allowed name that resolves
    elsewhere at run time gets nowhere: the DMS feed's guarded transport)."""
    connection = connection_of(connector)
    if reach is not None:
        reach.check_feed(connection.base_url, None)
        kwargs.setdefault("transport", guarded_transport(reach))
    return OemClient(connection, store=RowTokenStore(connector),
                     pace=RedisPace(redis, f"boxes:oem:pace:{connector.dealer_id}"),
                     on_call=None if recorder is None else recorder.record, **kwargs)


@dataclass
class CallRecorder:
    """Collects the client's attempts; ``flush`` writes them to the integration log with what they were
    about (the lead, the event, its trigger and stage)."""

    dealer_id: int
    context: dict = field(default_factory=dict)  # lead_id, event_id, trigger, stage, substage of the next calls
    pending: list[OemCallLog] = field(default_factory=list)

    def record(self, call: CallRecord) -> None:
        failed = call.error != "" or call.status_code is None or call.status_code >= 400
        self.pending.append(OemCallLog(
            dealer_id=self.dealer_id, direction="out", kind=call.what, method=call.method, url=call.url,
            request_body=call.request_body, status_code=call.status_code, response=call.response,
            duration_ms=call.duration_ms, attempt=call.attempt, failed=failed, error=call.error,
            **({} if call.what == "token" else self.context)))

    def received(self, lead_id: str | None, body: str, *, error: str = "") -> None:
        """A lead that came in a page (direction "in"): what the OEM sent, and why it was refused if it was."""
        self.pending.append(OemCallLog(dealer_id=self.dealer_id, direction="in", kind="lead", lead_id=lead_id,
                                       request_body=body, failed=bool(error), error=error))

    def flush(self, session: Session) -> int:
        count = len(self.pending)
        session.add_all(self.pending)
        self.pending = []
        return count
