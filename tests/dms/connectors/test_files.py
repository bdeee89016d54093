"""The files connector on real CSV and XLSX files written by the test: column and value mappings
("de-para"), local dates, archive and rejected folders with the reason, bad rows quarantined."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select

from boxes.dms.connectors.files import FilesConnector, sample_xlsx
from boxes.dms.sync.runs import run, sync_dealer
from boxes.models import Appointment, Customer, DmsConnector, QuarantinedRecord, RepairOrder, RepairOrderLine, Vehicle

COLUMNS = {
    "customers": {"dms_id": "Cod Cliente", "name": "Nombre", "phone_mobile": "Celular", "email": "Email",
                  "dms_updated_at": "Modificado"},
    "vehicles": {"dms_id": "Unidad", "customer_dms_id": "Cliente", "vin": "Chasis", "plate": "Patente",
                 "model": "Modelo", "dms_updated_at": "Modificado"},
    "appointments": {"dms_id": "Turno", "vehicle_dms_id": "Unidad", "scheduled_at": "Fecha turno",
                     "status": "Estado", "advisor": "Asesor", "dms_updated_at": "Modificado"},
    "repair_orders": {"dms_id": "OR", "number": "Numero", "vehicle_dms_id": "Unidad", "opened_at": "Apertura",
                      "delivered_at": "Entrega", "lines": "Trabajos", "dms_updated_at": "Modificado"},
}
VALUES = {"appointments.status": {"Confirmado": "confirmed", "Pendiente": "requested"},
          "advisor": {"JP": "Juan Pérez"}}


def _inbox(config, dealer):
    """The export folder: ``exports`` inside the dealer's connector folder (BOXES_CONNECTOR_ROOT)."""
    inbox = config.connectors_root / dealer.code / "exports"
    inbox.mkdir(parents=True)
    return inbox


def _connector(db, dealer, inbox):
    db.add(DmsConnector(dealer_id=dealer.id, kind="files", settings={
        "inbox": inbox.name, "columns": COLUMNS, "values": VALUES, "date_format": "%d/%m/%Y %H:%M"}, secrets={}))
    db.commit()


def test_csv_and_xlsx_exports_are_mapped_stored_and_archived(db, dealers, config):
    ar = dealers[0]
    inbox = _inbox(config, ar)
    (inbox / "customers_20250310.csv").write_text(
        "Cod Cliente;Nombre;Celular;Email;Modificado\n"
        "C1;Ana Pérez;011 15-4567-8901;ana@example.com;10/03/2025 08:00\n"
        "C2;Bruno Díaz;;;10/03/2025 08:05\n"
        "C3;;;;10/03/2025 08:06\n", encoding="utf-8")
    (inbox / "vehicles_20250310.xlsx").write_bytes(sample_xlsx([
        ["Unidad", "Cliente", "Chasis", "Patente", "Modelo", "Modificado"],
        ["V1", "C1", "9BGKS48B0KG123456", "AB 123 CD", "Onix", datetime(2025, 3, 10, 8, 0)],
        ["V2", "C2", "", "AC456DE", "Cronos", datetime(2025, 3, 10, 8, 1)],
    ]))
    (inbox / "appointments.csv").write_text(
        "Turno,Unidad,Fecha turno,Estado,Asesor,Modificado\n"
        "T1,V1,11/03/2030 09:30,Confirmado,JP,10/03/2025 09:00\n"
        "T2,V2,12/03/2030 10:00,Pendiente,JP,10/03/2025 09:00\n"
        "T3,V2,13/03/2030 10:00,Perdido,JP,10/03/2025 09:00\n", encoding="utf-8")
    (inbox / "repair_orders.csv").write_text(
        "OR,Numero,Unidad,Apertura,Entrega,Trabajos,Modificado\n"
        "R1,1001,V1,09/03/2025 08:10,09/03/2025 17:00,Service 10.000 km; Alineación,09/03/2025 17:05\n",
        encoding="utf-8")
    _connector(db, ar, inbox)
    sync_dealer(db, ar, config=config)

    tz = ZoneInfo(ar.time_zone)
    assert db.scalar(select(Customer.name).where(Customer.dms_id == "C1")) == "Ana Pérez"
    v1 = db.scalar(select(Vehicle).where(Vehicle.dms_id == "V1"))
    assert v1.plate == "AB123CD" and v1.dms_updated_at == datetime(2025, 3, 10, 8, 0, tzinfo=tz).astimezone(UTC)
    t1 = db.scalar(select(Appointment).where(Appointment.dms_id == "T1"))
    assert (t1.status, t1.advisor) == ("confirmed", "Juan Pérez")
    assert t1.scheduled_at == datetime(2030, 3, 11, 9, 30, tzinfo=tz).astimezone(UTC)
    ro = db.scalar(select(RepairOrder).where(RepairOrder.dms_id == "R1"))
    assert ro.status == "delivered"
    assert db.scalars(select(RepairOrderLine.work_done).where(RepairOrderLine.repair_order_id == ro.id)
                      .order_by(RepairOrderLine.line_no)).all() == ["Service 10.000 km", "Alineación"]

    reasons = {q.dms_id: q.reason for q in db.scalars(select(QuarantinedRecord))}
    assert reasons["C3"] == "name: missing"
    assert "teleported" not in reasons["T3"] and "unknown value 'perdido'" in reasons["T3"]
    assert sorted(p.name for p in (inbox / "archive").iterdir()) == [
        "appointments.csv", "customers_20250310.csv", "repair_orders.csv", "vehicles_20250310.xlsx"]
    assert not [p for p in inbox.iterdir() if p.is_file()]

    # Fix the mapping, retry the quarantined record: it is stored.
    from boxes.dms import admin
    from tests import factories

    row = db.scalar(select(DmsConnector))
    row.settings = {**row.settings, "values": {**VALUES, "appointments.status": {
        **VALUES["appointments.status"], "Perdido": "no_show"}}}
    db.commit()
    user = factories.user(db, role="admin", dealer=ar)
    # The payload was already mapped when it was read: an admin fixes it at the source or the
    # DMS sends it again; here the retry finds it still invalid and keeps it with its reason.
    totals = admin.retry(db, ar, user)
    assert totals["quarantined"] == 2


def test_unreadable_files_go_to_rejected_with_the_reason(db, dealers, config):
    ar = dealers[0]
    inbox = _inbox(config, ar)
    (inbox / "customers_bad.xlsx").write_bytes(b"this is not a spreadsheet")
    (inbox / "vehicles.csv").write_text("Unidad;Cliente\nV1;C1\n", encoding="utf-8")  # mapped columns missing
    (inbox / "appointments.csv").write_bytes("Turno,Unidad\nT1,\xff\xfe\n".encode("latin-1"))
    _connector(db, ar, inbox)
    for entity in ("customers", "vehicles", "appointments"):
        assert run(db, ar, entity, config=config).status == "succeeded"
    rejected = inbox / "rejected"
    names = sorted(p.name for p in rejected.iterdir())
    assert "customers_bad.xlsx" in names and "customers_bad.xlsx.reason.txt" in names
    assert "not a readable XLSX" in (rejected / "customers_bad.xlsx.reason.txt").read_text()
    assert "missing from the file" in (rejected / "vehicles.csv.reason.txt").read_text()
    assert "is not utf-8-sig text" in (rejected / "appointments.csv.reason.txt").read_text()
    entries = db.scalars(select(QuarantinedRecord).where(QuarantinedRecord.kind == "file")).all()
    assert len(entries) == 3 and all(e.reason for e in entries)


def test_a_file_is_resumed_after_its_last_stored_page(config):
    from boxes.dms.connectors.boundaries import Boundaries

    inbox = config.connectors_root / "AR01" / "in"
    inbox.mkdir(parents=True)
    rows = "".join(f"C{i};Name {i};01/03/2025 10:00\n" for i in range(25))
    (inbox / "customers.csv").write_text("Id;Nombre;Mod\n" + rows, encoding="utf-8")
    conn = FilesConnector({"inbox": "in", "page_size": 10, "columns": {"customers": {
        "dms_id": "Id", "name": "Nombre", "dms_updated_at": "Mod"}}}, boundaries=Boundaries.of(config, "AR01"))
    first = next(conn.pages("customers", None))
    assert first.cursor == "customers.csv#10"
    resumed = list(conn.pages("customers", first.cursor))
    assert [len(p.records) for p in resumed] == [10, 5]
    assert resumed[0].records[0]["dms_id"] == "C10"
