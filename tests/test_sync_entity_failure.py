"""A dealer's sync run is one run per entity: an unexpected error in one (a connector's bug, a
database error no validation foresaw) is recorded on that entity's run, and the entities after it
still run — what happened to a NUL byte (issue 11) must not happen to the next unforeseen case."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from boxes.dms.connectors.boundaries import Boundaries
from boxes.dms.connectors.files import FilesConnector
from boxes.dms.sync.runs import sync_dealer
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
