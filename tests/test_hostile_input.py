"""Attacked from outside (issue 11, items 8, 9, 11): what a probe sent that crashed Boxes, each case
as the user (or the admin, or the DMS) meets it. ``test_fuzz.py`` walks every route; these name the
causes one by one."""

from __future__ import annotations

import io
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from boxes.board.credit import match_and_credit
from boxes.db import utcnow
from boxes.dms.connectors.files import FilesConnector
from boxes.dms.sync.runs import sync_dealer
from boxes.dms.sync.store import store_records
from boxes.models import (
    Appointment,
    Campaign,
    Customer,
    Dealer,
    DiscardReason,
    DmsConnector,
    Opportunity,
    QuarantinedRecord,
    User,
    Vehicle,
)
from tests import factories
from tests.conftest import csrf_token_of
from tests.html import every, parse, text
from tests.test_fuzz import xlsx_bomb, xlsx_wide

T0 = "2025-01-01T00:00:00+00:00"
T1 = "2025-01-02T00:00:00+00:00"
FAR = "9999-12-31T23:59"


def _post(client, url, token, data, *, htmx=True, **kw):
    headers = {"X-CSRFToken": token}
    if htmx:
        headers["HX-Request"] = "true"
    return client.post(url, data=data, headers=headers, **kw)


def _field_error(response, field: str) -> str:
    """The message shown next to ``field`` (the forms' ``data-error`` element), or ''."""
    found = every(response, f'[data-error="{field}"]')
    return text(found[0]) if found else ""


def _local(dealer, days: int, fmt="%Y-%m-%dT%H:%M") -> str:
    return (datetime.now(ZoneInfo(dealer.time_zone)) + timedelta(days=days)).replace(hour=10, minute=0).strftime(fmt)


def _create_campaign(client, db, dealer, token, assigned_user, **fields):
    """Through the campaign manager's pages: search a new car by its plate, select it, and create a
    recall assigned to ``assigned_user`` with ``fields`` (name, due_date); the last page's response."""
    vehicle = factories.vehicle(db, dealer, plate="AB123CD")
    search = _post(client, f"/d/{dealer.code}/campaigns/new", token, {"ids": vehicle.plate, "id_kind": "plate",
                                                                       "open_opportunity": "any"}, htmx=False)
    search_id = search.headers["Location"].rsplit("=", 1)[1]
    _post(client, f"/d/{dealer.code}/campaigns/new/select-all?search={search_id}", token, {})
    return _post(client, f"/d/{dealer.code}/campaigns/new/process?search={search_id}", token, {
        "kind": "recall", "assignment": "one", "assigned_user_id": str(assigned_user.id), **fields})


# --- 8. a NUL in a DMS record ---------------------------------------------------------------------

def _customers_page(bad: dict) -> list[dict]:
    return [{"dms_id": "C1", "name": "Ana Pérez", "dms_updated_at": T0},
            {"dms_id": "C2", "dms_updated_at": T0, **bad},
            {"dms_id": "C3", "name": "Bruno Díaz", "dms_updated_at": T0}]


@pytest.mark.parametrize("bad", [
    {"name": "Carla\x00Gómez"},  # NUL: PostgreSQL's COPY refuses the whole page
    {"name": "Carla", "email": "carla@x.example\x00"},
    {"name": "Carla \ud800"},  # an unpaired surrogate (a JSON feed can send "\\ud800"): no UTF-8 encoder takes it
    {"dms_id": "C2\x00", "name": "Carla"},
], ids=["nul-name", "nul-email", "surrogate", "nul-id"])
def test_a_record_with_text_no_database_stores_is_quarantined_and_the_page_goes_on(pg_db, bad):
    """On PostgreSQL (the COPY fast path for new ids, then the staged upsert for a newer version)."""
    dealer = factories.dealer_ar(pg_db)
    counts = store_records(pg_db, dealer.id, "customers", _customers_page(bad))
    pg_db.commit()
    assert (counts.inserted, counts.quarantined) == (2, 1)
    assert set(pg_db.scalars(select(Customer.dms_id))) == {"C1", "C3"}
    entry = pg_db.scalar(select(QuarantinedRecord))
    assert entry.kind == "invalid" and ("NUL" in entry.reason or "surrogate" in entry.reason)
    assert "\x00" not in (entry.dms_id or "")
    # A newer version of a stored customer with a NUL: the upsert path quarantines it, the row stays.
    counts = store_records(pg_db, dealer.id, "customers", [{"dms_id": "C1", "name": "Ana\x00", "dms_updated_at": T1},
                                                           {"dms_id": "C3", "name": "Bruno", "dms_updated_at": T1}])
    pg_db.commit()
    assert (counts.updated, counts.quarantined) == (1, 1)
    assert pg_db.scalar(select(Customer.name).where(Customer.dms_id == "C1")) == "Ana Pérez"


def test_a_plate_that_upper_case_makes_longer_than_its_column_is_quarantined(pg_db):
    dealer = factories.dealer_ar(pg_db)
    counts = store_records(pg_db, dealer.id, "vehicles", [
        {"dms_id": "V1", "plate": "ßßßßßßßßßß", "dms_updated_at": T0},  # 10 characters, 20 once upper-cased
        {"dms_id": "V2", "plate": "AB123CD", "dms_updated_at": T0}])
    pg_db.commit()
    assert (counts.inserted, counts.quarantined) == (1, 1)
    assert pg_db.scalar(select(QuarantinedRecord.reason)) == "plate: longer than 10 characters"


def test_a_nul_in_one_export_row_stops_neither_the_run_nor_the_other_entities(pg_db, tmp_path):
    """The files connector's CSV (a NUL reads fine as UTF-8) through the whole dealer sync, on
    PostgreSQL: the row is quarantined, every entity runs, the rest is stored."""
    from boxes.dms.connectors.boundaries import Boundaries

    dealer = factories.dealer_ar(pg_db)
    inbox = tmp_path / dealer.code / "inbox"  # the dealer's connector folder, with tmp_path as the root
    inbox.mkdir(parents=True)
    (inbox / "customers.csv").write_bytes(
        b"id;name;updated\nC1;Ana P\xc3\xa9rez;2025-01-01 09:00\nC2;Carla\x00G\xc3\xb3mez;2025-01-01 09:00\n"
        b"C3;Bruno;2025-01-01 09:00\n")
    (inbox / "vehicles.csv").write_text("id;customer;plate;updated\nV1;C1;AB123CD;2025-01-01 09:00\n"
                                        "V3;C3;AC456DE;2025-01-01 09:00\n", encoding="utf-8")
    connector = FilesConnector({"inbox": "inbox", "columns": {
        "customers": {"dms_id": "id", "name": "name", "dms_updated_at": "updated"},
        "vehicles": {"dms_id": "id", "customer_dms_id": "customer", "plate": "plate", "dms_updated_at": "updated"},
    }}, boundaries=Boundaries(root=tmp_path, dealer_code=dealer.code), dealer_time_zone=dealer.time_zone)
    runs = sync_dealer(pg_db, dealer, connector=connector)
    assert [r.entity for r in runs] == ["customers", "vehicles", "deliveries", "repair_orders", "appointments"]
    assert {r.status for r in runs} == {"succeeded"}
    assert set(pg_db.scalars(select(Customer.dms_id))) == {"C1", "C3"}
    assert set(pg_db.scalars(select(Vehicle.dms_id))) == {"V1", "V3"}
    reasons = list(pg_db.scalars(select(QuarantinedRecord.reason)))
    assert reasons == ["name: contains a NUL character"]


def test_a_far_date_from_the_dms_is_quarantined_with_its_reason(db, dealers):
    dealer = dealers[0]
    store_records(db, dealer.id, "customers", [{"dms_id": "C1", "name": "Ana", "dms_updated_at": T0}])
    store_records(db, dealer.id, "vehicles", [{"dms_id": "V1", "customer_dms_id": "C1", "plate": "AB123CD",
                                               "dms_updated_at": T0, "sold_on": "9999-12-31"}])
    counts = store_records(db, dealer.id, "deliveries", [
        {"dms_id": "D1", "vehicle_dms_id": "V1", "delivered_at": "9999-12-31T23:59:00+00:00", "dms_updated_at": T0},
        {"dms_id": "D2", "vehicle_dms_id": "V1", "delivered_at": "0001-01-01T00:00:00+05:00", "dms_updated_at": T0}])
    db.commit()
    assert counts.quarantined == 2
    reasons = sorted(db.scalars(select(QuarantinedRecord.reason)))
    assert reasons[0].startswith("delivered_at: '0001-01-01") and "out of range" in reasons[0]
    assert reasons[1].startswith("delivered_at: '9999-12-31") and "out of range" in reasons[1]
    assert reasons[2] == "sold_on: 9999-12-31 is out of range (1950 to 2100)"


def test_a_year_9999_row_of_a_dms_database_is_quarantined_and_the_sync_goes_on(db, dealers, config):
    """The sql connector reads a DMS's local times: 9999-12-31 23:00 in São Paulo is past datetime's
    end once in UTC. The row is quarantined; the connector and the other rows go on."""
    import sqlalchemy as sa

    from tests.dms.connectors.test_sql import QUERIES, _sqlite_dms

    br = dealers[1]
    url = _sqlite_dms(config.connectors_root / br.code)  # a SQLite DMS lives in the dealer's connector folder
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO agenda VALUES ('A9', 'V1', '9999-12-31 23:00:00', 'confirmed', 'Carlos', "
                             "'2025-03-02 11:00:00')")
    engine.dispose()
    db.add(DmsConnector(dealer_id=br.id, kind="sql", settings={"queries": QUERIES, "db_time_zone": br.time_zone},
                        secrets={"url": url}))
    db.commit()
    runs = sync_dealer(db, br, config=config)
    assert {r.status for r in runs} == {"succeeded"}
    assert db.scalar(select(Appointment.dms_id)) == "A1"
    reason = db.scalar(select(QuarantinedRecord.reason).where(QuarantinedRecord.dms_id == "A9"))
    assert reason.startswith("scheduled_at: '9999-12-31T23:00:00-03:00' is out of range")


# --- 8. a NUL in a web form: 422 next to the field ---------------------------------------------------

def test_a_nul_in_a_form_field_is_refused_next_to_the_field(client, db, dealers, login_as):
    ar = dealers[0]
    login_as("manager", ar)
    token = csrf_token_of(client, f"/d/{ar.code}/board/deliveries")
    delivery = factories.delivery(db, ar, utcnow() - timedelta(days=1))
    response = _post(client, f"/d/{ar.code}/deliveries/{delivery.id}/call", token,
                     {"channel": "phone", "outcome": "contacted", "comment": "Llamó\x00"})
    assert response.status_code == 422
    assert "no se puede guardar" in _field_error(response, "comment")
    response = _post(client, f"/d/{ar.code}/settings/dealer", token, {
        "first_service_months": "6", "first_service_km": "10000", "workshop_address": "Av. 1\x00"}, htmx=False)
    assert response.status_code == 422 and _field_error(response, "workshop_address")
    response = _post(client, f"/d/{ar.code}/settings/discard-reasons", token, {
        "label_es": "Lejos", "label_pt_br": "Longe", "label_en": "Far\x00"}, htmx=False)
    assert response.status_code == 422 and _field_error(response, "new_label_en")
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(DiscardReason)) == 0
    assert db.get(Dealer, ar.id).workshop_address == "Av. Libertador 1234, CABA"


def test_a_nul_in_the_login_email_is_a_form_error(client, dealers):
    token = csrf_token_of(client)
    response = client.post("/login", data={"csrf_token": token, "email": "ana\x00@x.example", "password": "x"})
    assert response.status_code == 422


# --- 9. dates beyond any calendar a job can compute with ---------------------------------------------

def test_far_dates_are_refused_next_to_the_field_on_every_action(client, db, dealers, login_as):
    """The 12 routes that take a date (register call and create opportunity on each of the four
    subjects, replan, appointment sold, recovery opportunity, the campaign's due date)."""
    ar = dealers[0]
    user = login_as("campaigns", ar)
    login_as("caller", ar, user=user)
    token = csrf_token_of(client, f"/d/{ar.code}/board/deliveries")
    now = utcnow()
    rows = {
        "deliveries": factories.delivery(db, ar, now - timedelta(days=1)).id,
        "opportunities": factories.opportunity(db, ar, now + timedelta(days=1)).id,
        "appointments": factories.appointment(db, ar, now - timedelta(days=2), status="no_show").id,
        "repair-orders": factories.repair_order(db, ar, now - timedelta(hours=2)).id,
    }
    posts = []
    for subject, row in rows.items():
        posts.append((f"{subject}/{row}/call", {"channel": "phone", "outcome": "contacted"}, "next_contact_at"))
        posts.append((f"{subject}/{row}/opportunity", {}, "due_at"))
    opp = rows["opportunities"]
    posts += [(f"opportunities/{opp}/replan", {}, "due_at"), (f"opportunities/{opp}/sold", {}, "appointment_at"),
              (f"appointments/{rows['appointments']}/recovery", {}, "due_at")]
    for far in (FAR, "0001-01-01T00:00"):
        for path, data, field in posts:
            response = _post(client, f"/d/{ar.code}/{path}", token, {**data, field: far})
            assert response.status_code == 422, path
            assert _field_error(response, field).startswith("Ingresá una fecha del"), path
    # The campaign's due date: every opportunity the job makes carries it.
    response = _create_campaign(client, db, ar, token, user, name="Recall", due_date="9999-12-31")
    assert response.status_code == 422 and _field_error(response, "due_date").startswith("Ingresá una fecha del")
    assert db.scalar(select(func.count()).select_from(Opportunity).where(Opportunity.due_at > now + timedelta(
        days=3650))) == 0
    assert db.scalar(select(func.count()).select_from(Campaign)) == 0


def test_report_and_search_dates_are_bounded(client, db, dealers, login_as):
    ar = dealers[0]
    user = login_as("manager", ar)
    login_as("campaigns", ar, user=user)
    response = client.get(f"/d/{ar.code}/reports?preset=custom&apply=1&start=2025-01-01&end=9999-12-31")
    assert response.status_code == 422 and _field_error(response, "end").startswith("Ingresá una fecha del")
    assert client.get(f"/d/{ar.code}/reports/grid?report=completed&f_delivered_at=9999-12-31").status_code == 200
    token = csrf_token_of(client, f"/d/{ar.code}/campaigns/new")
    response = _post(client, f"/d/{ar.code}/campaigns/new", token, {"serviced_before": "9999-12-31",
                                                                   "open_opportunity": "any"})
    assert response.status_code == 422 and _field_error(response, "serviced_before")


def test_a_year_9999_sold_appointment_already_stored_does_not_stop_the_credit(db, dealers):
    """Stored before inputs were bounded: the credit step skips it and credits the others."""
    ar = dealers[0]
    caller = factories.user(db, role="caller", dealer=ar)
    c, v = factories.car(db, ar)
    when = (utcnow() + timedelta(days=2)).replace(microsecond=0)
    far = factories.opportunity(db, ar, utcnow(), customer_id=c.id, vehicle_id=v.id, status="sold",
                                sold_appointment_at=datetime(9999, 12, 31, 23, 59, tzinfo=ZoneInfo("UTC")),
                                closed_by_id=caller.id)
    good = factories.opportunity(db, ar, utcnow(), customer_id=c.id, vehicle_id=v.id, status="sold",
                                 sold_appointment_at=when, closed_by_id=caller.id)
    db.add(Appointment(dealer_id=ar.id, dms_id="A1", vehicle_id=v.id, customer_id=c.id,
                                 scheduled_at=when, status="arrived", arrived_at=when))
    db.commit()
    assert match_and_credit(db, ar) == (1, 1)
    db.refresh(good)
    db.refresh(far)
    assert good.credited_user_id == caller.id and far.matched_appointment_id is None


# --- 9. integers beyond the database's range ---------------------------------------------------------

@pytest.mark.parametrize("huge", ["99999999999", "99999999999999999999"])
def test_numbers_beyond_the_database_range_are_not_found_or_ignored(client, db, dealers, login_as, huge):
    ar = dealers[0]
    user = login_as("manager", ar)
    login_as("campaigns", ar, user=user)
    token = csrf_token_of(client, f"/d/{ar.code}/board/opportunities")
    opp = factories.opportunity(db, ar, utcnow() + timedelta(days=1))
    factories.campaign(db, ar, name="Recall")
    for path in (f"customers/{huge}", f"opportunities/{huge}/discard", f"campaigns/{huge}",
                 f"admin/integrations/dms/runs/{huge}"):
        assert client.get(f"/d/{ar.code}/{path}").status_code == 404, path
    for query in (f"board/opportunities?page={huge}", f"board/opportunities?campaign={huge}",
                  f"board/deliveries?page={huge}", f"campaigns?page={huge}",
                  f"reports/grid?report=completed&f_satisfaction={huge}&page={huge}"):
        assert client.get(f"/d/{ar.code}/{query}").status_code == 200, query
    response = _post(client, f"/d/{ar.code}/opportunities/{opp.id}/discard", token, {"reason_id": huge})
    assert response.status_code == 422 and _field_error(response, "reason_id")
    response = _post(client, f"/d/{ar.code}/opportunities/{opp.id}/replan", token,
                     {"due_at": _local(ar, 2), "version": huge})
    assert response.status_code == 409
    response = _post(client, f"/d/{ar.code}/deliveries/{factories.delivery(db, ar, utcnow()).id}/opportunity",
                     token, {"due_at": _local(ar, 2), "assigned_user_id": huge})
    assert response.status_code == 422 and _field_error(response, "assigned_user_id")


# --- 9. lengths: bounded by the column, refused, never stored long -----------------------------------

def test_texts_longer_than_their_column_are_refused_not_stored(client, db, dealers, login_as):
    ar = dealers[0]
    user = login_as("manager", ar)
    login_as("admin", ar, user=user)
    token = csrf_token_of(client, f"/d/{ar.code}/settings/")
    long = "x" * 200_000
    response = _post(client, f"/d/{ar.code}/settings/dealer", token, {
        "first_service_months": "6", "first_service_km": "10000", "workshop_address": "Av. 1", "phone": long,
        "support_contact": long}, htmx=False)
    assert response.status_code == 422
    assert _field_error(response, "phone") == "Como máximo 40 caracteres."
    assert _field_error(response, "support_contact") == "Como máximo 200 caracteres."
    response = _post(client, f"/d/{ar.code}/settings/discard-reasons", token, {
        "label_es": "Lejos", "label_pt_br": "Longe", "label_en": "Far", "oem_reason": long}, htmx=False)
    assert response.status_code == 422 and _field_error(response, "new_oem_reason")
    response = _post(client, f"/d/{ar.code}/admin/users", token, {
        "email": "nuevo@x.example", "name": long, "password": "a-long-password", "roles": "caller"}, htmx=False)
    assert response.status_code == 422 and _field_error(response, "new_name")
    db.expire_all()
    assert db.get(Dealer, ar.id).phone == "+54 11 4321-0000"
    assert db.scalar(select(func.count()).select_from(DiscardReason)) == 0
    assert db.scalar(select(User.id).where(User.email == "nuevo@x.example")) is None


def test_a_200_kb_campaign_name_is_refused(client, db, dealers, login_as):
    ar = dealers[0]
    user = login_as("campaigns", ar)
    token = csrf_token_of(client, f"/d/{ar.code}/campaigns/new")
    response = _create_campaign(client, db, ar, token, user, name="R" * 200_000, due_date=_local(ar, 3, "%Y-%m-%d"))
    assert response.status_code == 422 and "200" in _field_error(response, "name")
    assert db.scalar(select(func.count()).select_from(Campaign)) == 0


# --- 9 and 11. uploads -------------------------------------------------------------------------------

def _upload(client, ar, token, name: str, data: bytes, kind="vin"):
    return client.post(f"/d/{ar.code}/campaigns/new", data={"id_kind": kind, "open_opportunity": "any",
                                                            "upload": (io.BytesIO(data), name)},
                       headers={"X-CSRFToken": token, "HX-Request": "true"}, content_type="multipart/form-data")


def test_campaign_list_uploads_of_every_shape(client, db, dealers, login_as):
    ar = dealers[0]
    login_as("campaigns", ar)
    token = csrf_token_of(client, f"/d/{ar.code}/campaigns/new")
    factories.vehicle(db, ar, vin="9BWZZZ377VT004251")
    factories.vehicle(db, ar, vin="9BWZZZ377VT004252")
    # "CSV (Macintosh)": CR-only line ends are lines, not one long field.
    response = _upload(client, ar, token, "lista.csv", b"VIN\r9BWZZZ377VT004251\r9BWZZZ377VT004252\r")
    assert response.status_code == 200
    assert re.search(r"Total: 2\b", text(parse(response)))
    # Windows-1252 (Excel on a Spanish Windows) reads; a cell over the csv module's limit, binary data,
    # a NUL and a broken workbook are each a clear message at the upload field.
    assert _upload(client, ar, token, "lista.csv", "VIN;Patente ñ\n9BWZZZ377VT004251;\n".encode("cp1252")
                   ).status_code == 200
    for name, data, message in [
        ("big.csv", b"VIN\n" + b"A" * 200_000 + b"\n", "Una celda de este archivo es demasiado larga"),
        ("foto.csv", bytes(range(256)) * 8, "Este archivo no es un archivo de texto (CSV)."),
        ("nul.csv", b"VIN\n9BWZZZ377VT\x00004251\n", "Este archivo no es un archivo de texto (CSV)."),
        ("roto.xlsx", b"PK\x03\x04 not a workbook", "Este archivo no es un libro XLSX legible."),
    ]:
        response = _upload(client, ar, token, name, data)
        assert response.status_code == 422, name
        assert _field_error(response, "upload").startswith(message), name


def test_an_xlsx_bomb_is_refused_with_a_clear_message(client, db, dealers, login_as):
    """Generated here: ~450 KB that unpack to 50 MB and a million cells; and a 2 KB sheet that claims
    the whole grid, so every row is padded to 16,384 cells."""
    ar = dealers[0]
    login_as("campaigns", ar)
    token = csrf_token_of(client, f"/d/{ar.code}/campaigns/new")
    bomb = xlsx_bomb(1_000_000)
    assert len(bomb) < 1024 * 1024
    response = _upload(client, ar, token, "vins.xlsx", bomb)
    assert response.status_code == 422
    assert _field_error(response, "upload").startswith("Este libro es demasiado grande una vez descomprimido")
    response = _upload(client, ar, token, "vins.xlsx", xlsx_wide(40))
    assert response.status_code == 422
    assert _field_error(response, "upload").startswith("Este archivo es demasiado grande: como máximo")


def test_a_request_over_the_size_limit_gets_a_localized_answer(client, db, dealers, login_as):
    ar = dealers[0]
    login_as("campaigns", ar)
    token = csrf_token_of(client, f"/d/{ar.code}/campaigns/new")
    data = b"VIN\n" + b"9BWZZZ377VT004251\n" * (17 * 1024 * 1024 // 18)
    response = client.post(f"/d/{ar.code}/campaigns/new", data={"id_kind": "vin", "upload": (io.BytesIO(data),
                                                                                             "vins.csv")},
                           headers={"X-CSRFToken": token}, content_type="multipart/form-data")
    assert response.status_code == 413
    assert "es demasiado grande (como máximo 16 MB)" in response.get_data(as_text=True)
    # From the htmx form: the message goes at the top of the form that sent it.
    response = client.post(f"/d/{ar.code}/campaigns/new", data={"id_kind": "vin", "upload": (io.BytesIO(data),
                                                                                             "vins.csv")},
                           headers={"X-CSRFToken": token, "HX-Request": "true", "HX-Trigger": "search-form"},
                           content_type="multipart/form-data")
    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == "#search-form" and response.headers["HX-Reswap"] == "afterbegin"
    assert "16 MB" in response.get_data(as_text=True)


# --- 9. CR/LF and other raw input in headers ---------------------------------------------------------

def test_a_request_id_that_is_not_a_plain_token_is_not_echoed(client):
    response = client.get("/healthz", headers={"X-Request-ID": "abc def<script>"})
    assert response.headers["X-Request-ID"] != "abc def<script>"
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])
    assert client.get("/healthz", headers={"X-Request-ID": "req-42.a"}).headers["X-Request-ID"] == "req-42.a"
