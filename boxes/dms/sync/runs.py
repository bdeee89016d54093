"""Runs of the DMS sync: the dealer's connector, one entity's run and a dealer's run.

One run per dealer × entity at a time: a Redis lock (a lease renewed after every page; a killed
worker's lease expires by itself). A prefetch thread reads and validates the next page while this
one is stored; each page is committed together with the cursor after it. Every run is a
:class:`SyncRun` with its counts, duration and error."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from boxes.db import upsert, utcnow
from boxes.dms.connectors.base import ConfigurationError, Connector, ConnectorError, Page, TransportError, build
from boxes.dms.reach import boundaries
from boxes.dms.sync.quarantine import resolve_quarantined, retry_quarantined
from boxes.dms.sync.store import Counts, Prepared, prepare, quarantine_record, store_prepared
from boxes.inputs import shown, storable
from boxes.models import Dealer, DmsConnector, SyncCursor, SyncRun
from boxes.models.integration import SYNC_ORDER
from boxes.oem.triggers import services_completed

log = logging.getLogger("boxes.dms.sync")

LOCK_KEY = "boxes:sync:lock:{dealer_id}:{entity}"
DEFAULT_LOCK_SECONDS = 120
PREFETCH_PAGES = 1  # pages read and validated ahead of the one being stored
CURSOR_LENGTH = SyncCursor.__table__.c.cursor.type.length


class SyncBusy(RuntimeError):
    """Another sync of this dealer and entity holds the lock."""



# ----------------------------------------------------------------------------- connector

def connector_row(session: Session, dealer: Dealer) -> DmsConnector | None:
    return session.scalar(select(DmsConnector).where(DmsConnector.dealer_id == dealer.id))


class _RowTokenStore:
    """Keeps the http connector's bearer token in the connector row, in its own short commit (a
    token is worth keeping even when the run fails later)."""

    def __init__(self, session_factory, connector_id: int, token, expires_at):
        self.session_factory = session_factory
        self.connector_id = connector_id
        self.token, self.expires_at = token, expires_at

    def load(self):
        return self.token, self.expires_at

    def save(self, token, expires_at):
        self.token, self.expires_at = token, expires_at
        with self.session_factory() as s:
            s.execute(update(DmsConnector).where(DmsConnector.id == self.connector_id)
                      .values(token=token, token_expires_at=expires_at))
            s.commit()


def open_connector(session: Session, dealer: Dealer, config=None) -> Connector:
    """The dealer's connector, within the boundaries the operator sets (``config``, else the
    environment): see :mod:`boxes.dms.reach`."""
    row = connector_row(session, dealer)
    if row is None or not row.enabled:
        raise ConfigurationError("no DMS connector is configured for this dealer")
    store = _RowTokenStore(sessionmaker(bind=session.get_bind()), row.id, row.token, row.token_expires_at)
    # The feed has answered under these settings before: a token it gave, or a run that succeeded
    # since they were saved (its errors may then say what happened; see the http connector).
    proven = row.token is not None or session.scalar(select(SyncRun.id).where(
        SyncRun.dealer_id == dealer.id, SyncRun.status == "succeeded", SyncRun.started_at >= row.updated_at)
        .limit(1)) is not None
    return build(row.kind, dict(row.settings or {}), dict(row.secrets or {}), dealer=dealer, token_store=store,
                 boundaries=boundaries(session, dealer, config, kind=row.kind), proven=proven)



# ----------------------------------------------------------------------------------- run

class _Lock:
    def __init__(self, redis, dealer_id: int, entity: str, seconds: int):
        self.lock = None
        if redis is not None:
            self.lock = redis.lock(LOCK_KEY.format(dealer_id=dealer_id, entity=entity), timeout=seconds,
                                   blocking=False)

    def acquire(self) -> bool:
        return self.lock is None or self.lock.acquire()

    def renew(self) -> None:
        if self.lock is not None:
            self.lock.reacquire()

    def release(self) -> None:
        if self.lock is not None:
            with contextlib.suppress(Exception):  # expired meanwhile: nothing to release
                self.lock.release()


def _cursor_row(session: Session, dealer_id: int, entity: str) -> SyncCursor:
    row = session.scalar(select(SyncCursor).where(SyncCursor.dealer_id == dealer_id, SyncCursor.entity == entity))
    if row is None:
        upsert(session, SyncCursor, [{"dealer_id": dealer_id, "entity": entity, "cursor": None,
                                      "updated_at": utcnow()}], ["dealer_id", "entity"], ["entity"])
        session.commit()
        row = session.scalar(select(SyncCursor).where(SyncCursor.dealer_id == dealer_id,
                                                      SyncCursor.entity == entity))
    return row


def run(session: Session, dealer: Dealer, entity: str, *, connector: Connector | None = None, redis=None,
        trigger: str = "cron", lock_seconds: int = DEFAULT_LOCK_SECONDS, config=None) -> SyncRun:
    """One incremental sync of ``entity`` for ``dealer``. Records the run; re-raises a connector
    error after recording it (``TransportError`` is what the job retries). ``config``: the
    operator's settings (connector boundaries), else the environment."""
    if entity not in SYNC_ORDER:
        raise ValueError(f"unknown entity {entity!r}")
    lock = _Lock(redis, dealer.id, entity, lock_seconds)
    if not lock.acquire():
        raise SyncBusy(f"a sync of {entity} for {dealer.code} is already running")
    own_connector = connector is None
    started = time.monotonic()
    sync_run = None
    prefetch = None
    try:
        # Holding the lock, any other "running" run of this dealer and entity is a dead worker's.
        session.execute(update(SyncRun).where(
            SyncRun.dealer_id == dealer.id, SyncRun.entity == entity, SyncRun.status == "running",
        ).values(status="failed", finished_at=utcnow(), error="interrupted: the worker stopped during this run"))
        cursor_row = _cursor_row(session, dealer.id, entity)
        sync_run = SyncRun(dealer_id=dealer.id, entity=entity, status="running", trigger=trigger,
                           started_at=utcnow(), cursor_before=cursor_row.cursor, cursor_after=cursor_row.cursor,
                           pages=0, inserted=0, updated=0, unchanged=0, quarantined=0, error="")
        session.add(sync_run)
        session.commit()
        run_id = sync_run.id

        # What waited for a reference gets another chance first.
        counts = retry_quarantined(session, dealer.id, entity, run_id=run_id)
        _account(sync_run, counts)
        session.commit()

        if connector is None:
            connector = open_connector(session, dealer, config)
        prefetch = _Prefetch(connector, entity, cursor_row.cursor)
        for page, prepared in prefetch:
            _store_page(session, dealer.id, entity, page, prepared, sync_run, cursor_row)
            lock.renew()
        sync_run.status = "succeeded"
        return sync_run
    except Exception as exc:
        session.rollback()
        if sync_run is not None:
            sync_run.status = "failed"
            sync_run.error = _describe(exc)
        log.warning("sync %s/%s failed: %s", dealer.code, entity, _describe(exc),
                    exc_info=not isinstance(exc, ConnectorError))
        raise
    finally:
        if sync_run is not None:
            sync_run.finished_at = utcnow()
            sync_run.duration_ms = int((time.monotonic() - started) * 1000)
            try:
                session.commit()
            except Exception:
                session.rollback()
        if prefetch is not None:
            prefetch.close()
        if own_connector and connector is not None:
            connector.close()
        lock.release()


def _describe(exc: Exception) -> str:
    """The run's error as the admin reads it. A connector's errors are written for that; any other
    exception's text may hold what the admin must not see (a server path, another database's
    words, data): its class only, the rest in the server log."""
    if isinstance(exc, ConnectorError):
        return shown(str(exc)[:2000])
    return f"internal error ({exc.__class__.__name__}); details in the server log"


def _account(sync_run: SyncRun, counts: Counts) -> None:
    sync_run.inserted += counts.inserted
    sync_run.updated += counts.updated
    sync_run.unchanged += counts.unchanged
    sync_run.quarantined += counts.quarantined



class _Prefetch:
    """Reads and validates the next page in a thread while the current one is being stored.

    Reading a page (HTTP and JSON, a file, a DMS query) and validating its records needs no
    database; storing it is mostly waiting for the database, and that wait releases the GIL. The
    two overlap, on two cores. Pages still come out in order, each committed with its cursor
    before the next is stored, and a connector error comes out where it happened, after every
    page before it. At most ``depth`` prepared pages wait, so memory stays bounded."""

    _DONE = object()

    def __init__(self, connector: Connector, entity: str, cursor: str | None, depth: int = PREFETCH_PAGES):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(connector, entity, cursor),
                                        name=f"boxes-sync-prefetch-{entity}", daemon=True)
        self._thread.start()

    def _read(self, connector: Connector, entity: str, cursor: str | None) -> None:
        pages = ()
        try:
            pages = connector.pages(entity, cursor)  # inside: an error here must reach the run, not hang it
            for page in pages:
                if not self._put((page, prepare(entity, page.records))):
                    return  # the run stopped: read no further
            self._put(self._DONE)
        except BaseException as exc:  # handed over: raised in the run's thread, where the page would be
            self._put(exc)
        finally:
            close = getattr(pages, "close", None)  # the connector's cleanup runs in the thread that read
            if close is not None:
                with contextlib.suppress(Exception):
                    close()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self):
        while True:
            item = self._queue.get()
            if item is self._DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
        self._thread.join(timeout)


def _store_page(session: Session, dealer_id: int, entity: str, page: Page, prepared: Prepared,
                sync_run: SyncRun, cursor_row: SyncCursor) -> None:
    if page.cursor is not None and (len(page.cursor) > CURSOR_LENGTH or not storable(page.cursor)):
        # Stored with the page or not at all: a cursor no column can hold is the DMS's error.
        raise ConnectorError(f"the DMS sent a cursor that cannot be stored ({len(page.cursor)} characters, "
                             f"{shown(page.cursor[:40])!r}…)")
    now = utcnow()
    for payload, reason in page.problems:
        quarantine_record(session, dealer_id, entity, payload, reason, "file", sync_run.id)
        sync_run.quarantined += 1
    counts = store_prepared(session, dealer_id, prepared, run_id=sync_run.id, now=now)
    resolve_quarantined(session, dealer_id, entity, counts.stored_ids, sync_run.id, now)
    _account(sync_run, counts)
    sync_run.pages += 1
    sync_run.cursor_after = page.cursor
    cursor_row.cursor = page.cursor
    cursor_row.updated_at = now
    session.commit()  # the records and the cursor after them, together
    session.expunge_all()
    session.add(sync_run)
    session.add(cursor_row)
    if page.after_commit is not None:
        page.after_commit()


# -------------------------------------------------------------------------------- dealer

def sync_dealer(session: Session, dealer: Dealer, *, redis=None, trigger: str = "cron",
                connector: Connector | None = None, lock_seconds: int = DEFAULT_LOCK_SECONDS,
                now: datetime | None = None, config=None) -> list[SyncRun]:
    """Every entity in reference order, then the derived state and the appointment credit. Stops at
    the first transport error (the DMS is down or slow: the others would fail the same way),
    derives what was stored, and re-raises it for the job's retry. Any other error of one entity
    (a configuration error, a bug no validation foresaw) is recorded on its run and the other
    entities still run; the first such error is re-raised at the end."""
    from boxes.board.credit import match_and_credit
    from boxes.dms.derived import derive

    row = connector_row(session, dealer)
    tolerance = row.tolerance_days if row is not None else 0
    own = connector is None
    runs: list[SyncRun] = []
    failure: Exception | None = None
    try:
        if connector is None:
            with contextlib.suppress(ConnectorError):  # else the first run opens it and records why it cannot
                connector = open_connector(session, dealer, config)
        for entity in SYNC_ORDER:
            try:
                runs.append(run(session, dealer, entity, connector=connector, redis=redis, trigger=trigger,
                                lock_seconds=lock_seconds, config=config))
            except SyncBusy:
                continue
            except TransportError as exc:
                failure = exc
                break
            except ConnectorError as exc:
                failure = failure or exc
                if connector is None:
                    break
            except Exception as exc:  # recorded on the entity's run (``run``); the others still run
                failure = failure or exc
    finally:
        if own and connector is not None:
            connector.close()
    derive(session, dealer, tolerance_days=tolerance, now=now)
    match_and_credit(session, dealer, tolerance_days=tolerance)
    services_completed(session, dealer.id)  # the OEM hears of its leads' cars delivered (NFF)
    if failure is not None:
        raise failure
    return runs


def is_running(session: Session, dealer_id: int) -> bool:
    return session.scalar(select(SyncRun.id).where(SyncRun.dealer_id == dealer_id, SyncRun.status == "running")
                          .limit(1)) is not None

