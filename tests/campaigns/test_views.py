"""The campaign manager over HTTP: search, select (surviving paging), process, progress (286)."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from boxes.db import utcnow
from boxes.models import AuditLog, Campaign, Opportunity
from tests import factories
from tests.campaigns.test_job import _worker
from tests.conftest import csrf_token_of
from tests.html import every, one, text


def _setup(db, ar, n=5):
    cars = []
    for i in range(n):
        c = factories.customer(db, ar, name=f"Titular {i}")
        cars.append(factories.vehicle(db, ar, c, plate=f"AA{i:03d}BB", model="Cronos"))
    return cars


def _search(client, ar, token, **data):
    form = {"open_opportunity": "any", **data}
    return client.post(f"/d/{ar.code}/campaigns/new", data=form, headers={"X-CSRFToken": token, "HX-Request": "true"})


def test_search_select_all_and_process(client, app, db, dealers, login_as, redis_url, database_url):
    ar, br = dealers
    app.config["BOXES"].page_size = 2
    cars = _setup(db, ar)
    factories.vehicle(db, br, plate="AA001BB")
    caller = factories.user(db, role="caller", dealer=ar, name="Carla Caller")
    login_as("campaigns", ar)
    token = csrf_token_of(client, f"/d/{ar.code}/campaigns")
    response = _search(client, ar, token, ids="aa000bb\nAA001BB, AA001BB\nZZ999ZZ\nxx", id_kind="plate")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    search_id = re.search(r"search=([0-9a-f]+)", response.headers["HX-Push-Url"]).group(1)
    assert "ZZ999ZZ" in body and "XX" in body  # not found and invalid are listed back
    assert "Total: 2 · Shown: 2 · Selected: 0" in body or "Total: 2" in body

    # A search of every Cronos, paged by 2: select one on page 1, then all.
    response = _search(client, ar, token, model="cronos")
    search_id = re.search(r"search=([0-9a-f]+)", response.headers["HX-Push-Url"]).group(1)
    base = f"/d/{ar.code}/campaigns/new"
    r = client.post(f"{base}/select?search={search_id}", data={"vehicle_id": cars[0].id, "on": "1"},
                    headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert r.status_code == 200 and one(r, "#selection-totals")
    page2 = client.get(f"{base}?search={search_id}&page=2").get_data(as_text=True)
    assert "5" in text(one(page2, "#selection-totals"))
    page1 = client.get(f"{base}?search={search_id}&page=1").get_data(as_text=True)
    assert one(page1, f'[data-vehicle="{cars[0].id}"] > td:first-child > input').has_attr("checked")  # survives paging
    # Another dealer's vehicle cannot be selected.
    other = factories.vehicle(db, br)
    r = client.post(f"{base}/select?search={search_id}", data={"vehicle_id": other.id, "on": "1"},
                    headers={"X-CSRFToken": token})
    assert r.status_code == 404
    r = client.post(f"{base}/select-all?search={search_id}", headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert r.status_code == 200

    # Bad form: 422 with field errors, nothing created.
    r = client.post(f"{base}/process?search={search_id}", data={"name": "", "kind": "recall", "due_date": "",
                                                               "assignment": "round_robin"},
                    headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert r.status_code == 422 and one(r, '[data-error="name"]')
    assert db.scalar(select(func.count()).select_from(Campaign)) == 0

    due = (utcnow().astimezone(ZoneInfo(ar.time_zone)) + timedelta(days=2)).date().isoformat()
    r = client.post(f"{base}/process?search={search_id}",
                    data={"name": "Recall frenos", "kind": "recall", "due_date": due, "assignment": "one",
                          "assigned_user_id": str(caller.id), "note": "Revisar frenos"},
                    headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert r.status_code == 204
    detail = r.headers["HX-Redirect"]
    campaign = db.scalar(select(Campaign))
    assert campaign.units_total == 5 and campaign.status == "processing" and campaign.job_id
    progress = client.get(f"{detail}/progress", headers={"HX-Request": "true"})
    assert progress.status_code == 200 and every(progress, "[hx-trigger]")

    assert _worker(redis_url, database_url).wait(timeout=60) == 0
    progress = client.get(f"{detail}/progress", headers={"HX-Request": "true"})
    assert progress.status_code == 286  # htmx stops polling
    assert "100%" in progress.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(Opportunity).where(
        Opportunity.campaign_id == campaign.id, Opportunity.assigned_user_id == caller.id)) == 5
    listing = client.get(f"/d/{ar.code}/campaigns").get_data(as_text=True)
    assert f"/d/{ar.code}/campaigns/{campaign.id}/opportunities" in [
        link["href"] for link in every(listing, "a[data-opportunities-link]")]
    assert "Titular 0" in client.get(f"/d/{ar.code}/campaigns/{campaign.id}/opportunities").get_data(as_text=True)
    board = client.get(f"/d/{ar.code}/board/opportunities?origin=campaign&campaign={campaign.id}")
    assert "Titular 0" in board.get_data(as_text=True)
    assert db.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "campaign.create")) == 1


def test_bad_search_input_is_422(client, db, dealers, login_as):
    ar, _ = dealers
    login_as("campaigns", ar)
    token = csrf_token_of(client, f"/d/{ar.code}/campaigns")
    r = _search(client, ar, token, year_from="20x", sold_from="31/12/2020", ids="AB123CD")
    assert r.status_code == 422
    body = r.get_data(as_text=True)
    for name in ("year_from", "sold_from", "id_kind"):
        assert one(body, f'[data-error="{name}"]')


def test_upload_xlsx_and_csv(client, db, dealers, login_as):
    import io

    from openpyxl import Workbook

    ar, _ = dealers
    cars = _setup(db, ar, 3)
    login_as("campaigns", ar)
    token = csrf_token_of(client, f"/d/{ar.code}/campaigns")
    wb = Workbook()
    wb.active.append(["Patente"])
    wb.active.append([cars[0].plate])
    wb.active.append(["ZZ111ZZ"])
    data = io.BytesIO()
    wb.save(data)
    r = client.post(f"/d/{ar.code}/campaigns/new", data={"id_kind": "plate", "upload": (io.BytesIO(data.getvalue()),
                                                                                      "plates.xlsx")},
                    headers={"X-CSRFToken": token, "HX-Request": "true"}, content_type="multipart/form-data")
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "ZZ111ZZ" in body and "PATENTE" in body  # the header is listed as invalid
    r = client.post(f"/d/{ar.code}/campaigns/new",
                    data={"id_kind": "plate", "upload": (io.BytesIO(f"{cars[1].plate};{cars[2].plate}\n".encode()),
                                                         "plates.csv")},
                    headers={"X-CSRFToken": token, "HX-Request": "true"}, content_type="multipart/form-data")
    assert (r.status_code == 200 and "Total: 2" in r.get_data(as_text=True)) or "2" in r.get_data(as_text=True)
    r = client.post(f"/d/{ar.code}/campaigns/new", data={"id_kind": "plate", "upload": (io.BytesIO(b"x"), "a.pdf")},
                    headers={"X-CSRFToken": token, "HX-Request": "true"}, content_type="multipart/form-data")
    assert r.status_code == 422 and one(r, '[data-error="upload"]')


def test_roles(client, dealers, login_as):
    ar, _ = dealers
    login_as("caller", ar)
    assert client.get(f"/d/{ar.code}/campaigns").status_code == 403
    assert client.get(f"/d/{ar.code}/campaigns/new").status_code == 403


def test_run_again_resumes_an_unfinished_campaign(client, db, dealers, login_as, redis, redis_url, database_url):
    from rq import Queue

    from boxes.campaigns import service

    ar, _ = dealers
    cars = _setup(db, ar, 4)
    user = login_as("campaigns", ar)
    due = (utcnow().astimezone(ZoneInfo(ar.time_zone)) + timedelta(days=2)).date().isoformat()
    campaign = service.create_campaign(db, ar, user, name="Nota técnica", kind="technical_note", due_date=due,
                                       assignment="one", assigned_user_id=str(user.id),
                                       vehicle_ids=[c.id for c in cars])
    campaign.status = "processing"  # as if its worker had died
    db.commit()
    page = client.get(f"/d/{ar.code}/campaigns/{campaign.id}").get_data(as_text=True)
    assert one(page, "#rerun-campaign")
    token = csrf_token_of(client, f"/d/{ar.code}/campaigns/{campaign.id}")
    r = client.post(f"/d/{ar.code}/campaigns/{campaign.id}/run", headers={"X-CSRFToken": token})
    assert r.status_code == 302 and len(Queue("campaigns", connection=redis)) == 1
    assert _worker(redis_url, database_url).wait(timeout=60) == 0
    db.expire_all()
    assert db.get(Campaign, campaign.id).status == "done"
    assert db.scalar(select(func.count()).select_from(Opportunity).where(Opportunity.campaign_id == campaign.id)) == 4


def _search_id(response) -> str:
    return re.search(r"search=([0-9a-f]+)", response.headers["HX-Push-Url"]).group(1)


def _due(dealer, days=2) -> str:
    return (utcnow().astimezone(ZoneInfo(dealer.time_zone)) + timedelta(days=days)).date().isoformat()


def test_the_pasted_list_stays_after_search_units(client, db, dealers, login_as):
    ar, _ = dealers
    _setup(db, ar, 2)
    login_as("campaigns", ar)
    token = csrf_token_of(client, f"/d/{ar.code}/campaigns")
    typed = "aa000bb\nAA001BB, ZZ999ZZ"
    response = _search(client, ar, token, ids=typed, id_kind="plate")
    assert one(response, "textarea#f-ids").get_text() == typed
    again = client.get(f"/d/{ar.code}/campaigns/new?search={_search_id(response)}").get_data(as_text=True)
    assert one(again, "textarea#f-ids").get_text() == typed  # a reload shows it too


def test_an_open_campaign_name_is_refused_and_units_can_be_added_to_it(client, app, db, dealers, login_as, redis):
    from rq import Queue

    from boxes.campaigns import service

    ar, _ = dealers
    cars = _setup(db, ar, 4)
    user = login_as("campaigns", ar)
    first = service.create_campaign(db, ar, user, name="Recall frenos", kind="recall", due_date=_due(ar),
                                    assignment="one", assigned_user_id=str(user.id),
                                    vehicle_ids=[c.id for c in cars[:2]])
    service.process(db, first.id)
    token = csrf_token_of(client, f"/d/{ar.code}/campaigns")
    search_id = _search_id(_search(client, ar, token, model="cronos"))
    step2 = client.get(f"/d/{ar.code}/campaigns/new?search={search_id}").get_data(as_text=True)
    # Step 2 says which campaign a unit's open opportunity belongs to.
    assert text(one(step2, f'[data-vehicle="{cars[0].id}"] [data-campaign]')) == "Recall frenos"
    assert text(one(step2, f'[data-vehicle="{cars[3].id}"] [data-campaign]')) == ""
    base = f"/d/{ar.code}/campaigns/new"
    client.post(f"{base}/select-all?search={search_id}", headers={"X-CSRFToken": token, "HX-Request": "true"})
    r = client.post(f"{base}/process?search={search_id}",
                    data={"mode": "new", "name": "RECALL  Frenos", "kind": "recall", "due_date": _due(ar),
                          "assignment": "one", "assigned_user_id": str(user.id)},
                    headers={"X-CSRFToken": token, "HX-Request": "true"})
    body = r.get_data(as_text=True)
    assert r.status_code == 422 and one(body, '[data-error="name"]') and "Recall frenos" in body
    assert one(body, f'option[value="{first.id}"]')  # the campaign to add the units to is offered
    r = client.post(f"{base}/process?search={search_id}", data={"mode": "add", "campaign_id": str(first.id)},
                    headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert r.status_code == 204 and r.headers["HX-Redirect"].endswith(f"/campaigns/{first.id}")
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Campaign)) == 1
    assert db.get(Campaign, first.id).units_total == 6 and len(Queue("campaigns", connection=redis)) == 1


def test_a_campaign_due_far_ahead_shows_its_opportunities(client, db, dealers, login_as):
    """"See its opportunities" landed on the board's ±15-day window: a campaign due later seemed empty."""
    from boxes.campaigns import service

    ar, _ = dealers
    cars = _setup(db, ar, 3)
    user = login_as("campaigns", ar)
    campaign = service.create_campaign(db, ar, user, name="Recall lejano", kind="recall", due_date=_due(ar, 40),
                                       assignment="one", assigned_user_id=str(user.id),
                                       vehicle_ids=[c.id for c in cars])
    service.process(db, campaign.id)
    for page in (f"/d/{ar.code}/campaigns/{campaign.id}", f"/d/{ar.code}/campaigns"):
        html = client.get(page).get_data(as_text=True)
        link = every(html, "#campaign-opportunities, [data-opportunities-link]")[0]
        listing = client.get(link["href"]).get_data(as_text=True)
        assert all(f"Titular {i}" in listing for i in range(3)), page


def test_a_search_without_criteria_needs_a_confirmation_to_process(client, db, dealers, login_as):
    ar, _ = dealers
    _setup(db, ar, 3)
    user = login_as("campaigns", ar)
    token = csrf_token_of(client, f"/d/{ar.code}/campaigns")
    response = _search(client, ar, token)
    assert one(response, "#every-unit-warning")
    search_id = _search_id(response)
    base = f"/d/{ar.code}/campaigns/new"
    client.post(f"{base}/select-all?search={search_id}", headers={"X-CSRFToken": token, "HX-Request": "true"})
    form = {"mode": "new", "name": "Todos", "kind": "other", "due_date": _due(ar), "assignment": "one",
            "assigned_user_id": str(user.id)}
    r = client.post(f"{base}/process?search={search_id}", data=form,
                    headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert r.status_code == 422 and one(r, '[data-error="confirm_all"]')
    assert db.scalar(select(func.count()).select_from(Campaign)) == 0
    r = client.post(f"{base}/process?search={search_id}", data={**form, "confirm_all": "1"},
                    headers={"X-CSRFToken": token, "HX-Request": "true"})
    assert r.status_code == 204
    with_criteria = _search(client, ar, token, model="cronos").get_data(as_text=True)
    assert not every(with_criteria, "#every-unit-warning") and not every(with_criteria, '[name="confirm_all"]')


def test_list_report_counts_take_plural_forms(client, db, dealers, login_as):
    ar, _ = dealers
    _setup(db, ar, 2)
    login_as("campaigns", ar, locale="es")
    token = csrf_token_of(client, f"/d/{ar.code}/campaigns")
    body = _search(client, ar, token, ids="AA000BB\nnot-valid\nZZ999ZZ", id_kind="plate").get_data(as_text=True)
    assert text(one(body, "#list-report > p")) == (
        "Lista: 3 entradas, 1 encontrada, 1 inválida, 1 no encontrada, 0 repetidas.")
