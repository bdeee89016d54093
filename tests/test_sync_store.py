"""The store path itself, on both databases: a page that mixes new records, newer and older
versions and duplicates; several pages in one transaction; the PostgreSQL bulk path when another
writer inserted one of the page's ids meanwhile."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from boxes.dms import sync
from boxes.dms.sync import store_records
from boxes.models import Customer, QuarantinedRecord, RepairOrder, RepairOrderLine

T0 = "2025-01-01T00:00:00+00:00"
T1 = "2025-01-02T00:00:00+00:00"
T2 = "2025-01-03T00:00:00+00:00"


def _references(db, dealer, vehicles=3):
    store_records(db, dealer.id, "customers", [{"dms_id": "C1", "name": "Ana Pérez", "dms_updated_at": T0}])
    store_records(db, dealer.id, "vehicles", [
        {"dms_id": f"V{i}", "customer_dms_id": "C1", "plate": f"AB{i:03d}CD", "dms_updated_at": T0}
        for i in range(vehicles)])
    db.commit()


def _ro(dms_id, stamp, works, vehicle="V0", **extra):
    return {"dms_id": dms_id, "number": dms_id, "vehicle_dms_id": vehicle, "opened_at": "2025-01-01T09:00:00Z",
            "status": "open", "dms_updated_at": stamp,
            "lines": [{"line_no": n, "work_done": w} for n, w in enumerate(works, 1)], **extra}


def _ros(db, dealer) -> dict:
    db.expire_all()
    out = {}
    for ro in db.scalars(select(RepairOrder).where(RepairOrder.dealer_id == dealer.id)):
        lines = db.scalars(select(RepairOrderLine.work_done).where(RepairOrderLine.repair_order_id == ro.id)
                           .order_by(RepairOrderLine.line_no)).all()
        out[ro.dms_id] = (ro.number, ro.mileage, tuple(lines))
    return out


def test_a_mixed_page_inserts_updates_keeps_and_replaces_lines(db, dealers):
    ar = dealers[0]
    _references(db, ar)
    counts = store_records(db, ar.id, "repair_orders", [_ro("R1", T1, ["a"]), _ro("R2", T1, ["b", "c"])])
    db.commit()
    assert (counts.inserted, counts.updated, counts.unchanged) == (2, 0, 0)

    page = [
        _ro("R1", T2, ["a2", "a3"], mileage=100),  # newer: updated, lines replaced
        _ro("R2", T0, ["old"], mileage=1),  # older than stored: unchanged, lines kept
        _ro("R3", T1, ["d"]),  # new
        _ro("R3", T0, ["stale copy"]),  # the same id twice: the newest version wins
        _ro("R4", T1, ["e"], vehicle="V9"),  # unknown vehicle: quarantined
        {"dms_id": "R5", "dms_updated_at": T1},  # invalid
    ]
    counts = store_records(db, ar.id, "repair_orders", page)
    db.commit()
    assert (counts.inserted, counts.updated, counts.unchanged, counts.quarantined) == (1, 1, 2, 2)
    assert _ros(db, ar) == {"R1": ("R1", 100, ("a2", "a3")), "R2": ("R2", None, ("b", "c")),
                            "R3": ("R3", None, ("d",))}
    kinds = sorted(q.kind for q in db.scalars(select(QuarantinedRecord)))
    assert kinds == ["invalid", "reference"]

    # The same page again: nothing new, nothing written.
    counts = store_records(db, ar.id, "repair_orders", page[:4])
    db.commit()
    assert (counts.inserted, counts.updated, counts.unchanged) == (0, 0, 4)
    assert _ros(db, ar)["R1"] == ("R1", 100, ("a2", "a3"))


def test_several_pages_in_one_transaction(db, dealers):
    """retry_quarantined and the admin's retry store batch after batch before one commit."""
    ar = dealers[0]
    _references(db, ar)
    first = store_records(db, ar.id, "repair_orders", [_ro("R1", T1, ["a"]), _ro("R2", T1, ["b"])])
    second = store_records(db, ar.id, "repair_orders", [_ro("R1", T2, ["a2"]), _ro("R3", T1, ["c"])])
    db.commit()
    assert (first.inserted, second.inserted, second.updated) == (2, 1, 1)
    assert _ros(db, ar) == {"R1": ("R1", None, ("a2",)), "R2": ("R2", None, ("b",)), "R3": ("R3", None, ("c",))}


def test_ids_another_writer_inserted_meanwhile_take_the_upsert_path(db, dealers, monkeypatch):
    """PostgreSQL copies the ids it did not find straight into the table. Should one of them have
    been inserted since the lookup, the COPY fails on the unique key, is undone to its savepoint,
    and the page is upserted as if it had been found: the version guard still decides."""
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("the bulk path of new rows is PostgreSQL's")
    ar = dealers[0]
    _references(db, ar)
    store_records(db, ar.id, "repair_orders", [_ro("R1", T1, ["a"]), _ro("R2", T1, ["b"])])
    store_records(db, ar.id, "customers", [{"dms_id": "C2", "name": "Old name", "dms_updated_at": T1}])
    db.commit()

    real = sync._id_map

    def blind(session, model, dealer_id, dms_ids, *extra):
        if model in (RepairOrder, Customer) and extra:  # the page's own lookup: "nothing stored yet"
            return {}
        return real(session, model, dealer_id, dms_ids, *extra)

    monkeypatch.setattr(sync, "_id_map", blind)
    counts = store_records(db, ar.id, "repair_orders", [_ro("R1", T2, ["a2"]), _ro("R2", T0, ["older"]),
                                                        _ro("R3", T1, ["c"])])
    customers = store_records(db, ar.id, "customers", [{"dms_id": "C2", "name": "New name", "dms_updated_at": T2},
                                                       {"dms_id": "C3", "name": "Bea", "dms_updated_at": T2}])
    db.commit()
    assert (counts.inserted, counts.updated, counts.unchanged) == (1, 1, 1)
    assert (customers.inserted, customers.updated) == (1, 1)
    assert _ros(db, ar) == {"R1": ("R1", None, ("a2",)), "R2": ("R2", None, ("b",)), "R3": ("R3", None, ("c",))}
    names = dict(db.execute(select(Customer.dms_id, Customer.name).where(Customer.dealer_id == ar.id)).all())
    assert names == {"C1": "Ana Pérez", "C2": "New name", "C3": "Bea"}
