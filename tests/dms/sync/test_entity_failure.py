"""A dealer's sync run is one run per entity: an unexpected error in one (a connector's bug, a
database error no validation foresaw) is recorded on that entity's run, and the entities after it
still run — what happened to a NUL byte (issue 11) must not happen to the next unforeseen case."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from boxes.dms.connectors.boundaries import Boundaries
from boxes.dms.connectors.files import FilesConnector
from boxes.dms.sync.runs import run, sync_dealer
from boxes.models import Customer, SyncRun
from boxes.models.integration import SYNC_ORDER


def test_an_unexpected_error_in_one_entity_is_recorded_and_the_other_entities_still_run(db, dealers, tmp_path,
                                                                                       monkeypatch):
    dealer = dealers[0]
    inbox = tmp_path / dealer.code / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "customers.csv").write_text("id;name;updated\nC1;Ana;2025-01-01 09:00\n", encoding="utf-8")
    connector = FilesConnector({"inbox": "inbox", "columns": {
        "customers": {"dms_id": "id", "name": "name", "dms_updated_at": "updated"},
    }}, boundaries=Boundaries(root=tmp_path, dealer_code=dealer.code), dealer_time_zone=dealer.time_zone)
    pages = FilesConnector.pages

    def vehicles_overflow(self, entity, cursor):
        if entity == "vehicles":  # what a year-9999 local time once did inside the sql connector
            raise OverflowError("date value out of range")
        yield from pages(self, entity, cursor)

    monkeypatch.setattr(FilesConnector, "pages", vehicles_overflow)
    with pytest.raises(OverflowError):  # still raised, after the rest: the job is marked failed (and retried)
        sync_dealer(db, dealer, connector=connector)
    db.expire_all()
    runs = {r.entity: r for r in db.scalars(select(SyncRun).where(SyncRun.dealer_id == dealer.id))}
    assert set(runs) == set(SYNC_ORDER)
    assert runs["vehicles"].status == "failed"
    assert runs["vehicles"].error == "internal error (OverflowError); details in the server log"
    assert {e: r.status for e, r in runs.items() if e != "vehicles"} == dict.fromkeys(set(SYNC_ORDER) - {"vehicles"},
                                                                                      "succeeded")
    assert set(db.scalars(select(Customer.dms_id).where(Customer.dealer_id == dealer.id))) == {"C1"}


class _Refusing:
    """A connector whose ``pages`` raises when called (not a generator): before, the prefetch
    thread died before handing the error over and the run waited for a page forever."""

    kind = "test"

    def pages(self, entity, cursor):
        raise OverflowError("date value out of range")

    def close(self):
        pass


def test_a_connector_that_raises_before_its_first_page_fails_the_run_instead_of_hanging_it(db, dealers):
    from boxes.dms.sync.runs import _Prefetch

    handed_over: list = []
    reader = threading.Thread(target=lambda: handed_over.extend(_raised(_Prefetch(_Refusing(), "customers", None))),
                              daemon=True)
    reader.start()
    reader.join(10)
    assert not reader.is_alive(), "the prefetch never handed the error over: the run would wait forever"
    assert [type(exc) for exc in handed_over] == [OverflowError]

    dealer = dealers[0]
    with pytest.raises(OverflowError):
        run(db, dealer, "customers", connector=_Refusing())
    db.expire_all()
    last = db.scalar(select(SyncRun).where(SyncRun.dealer_id == dealer.id, SyncRun.entity == "customers"))
    assert (last.status, last.error) == ("failed", "internal error (OverflowError); details in the server log")


def _raised(prefetch) -> list:
    try:
        list(prefetch)
    except Exception as exc:  # what the run's thread would get where the first page should be
        return [exc]
    finally:
        prefetch.close()
    return []
