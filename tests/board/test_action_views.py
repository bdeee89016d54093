"""The row actions over HTTP: the htmx response (panel, row and badges out of band), the full page
on a direct load, 422 with field messages, 409 on a stale version. (Settings: test_settings_views.py;
user admin: test_admin_users.py.)"""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from boxes.db import utcnow
from boxes.models import Activity, Appointment, AuditLog, DiscardReason, Opportunity
from boxes.settings.discard_reasons import seed_defaults
from tests import factories
from tests.conftest import csrf_token_of
from tests.html import every, field_value, one, own_text, text

HX = {"HX-Request": "true"}


@pytest.fixture
def ar(db, dealers):
    seed_defaults(db, dealers[0])
    db.commit()
    return dealers[0]


@pytest.fixture
def token(client, login_as, ar):
    login_as("caller", ar)
    return csrf_token_of(client, f"/d/{ar.code}/board/deliveries")


def local_input(instant, dealer) -> str:
    return instant.astimezone(ZoneInfo(dealer.time_zone)).strftime("%Y-%m-%dT%H:%M")


def badge(html: str, key: str) -> int:
    return int(text(one(html, f'[data-badge="{key}"]')))


def test_register_welcome_call_returns_row_and_badges(client, db, ar, token):
    d = factories.delivery(db, ar, utcnow() - timedelta(days=1), name="Lucía Bienvenida")
    form_html = client.get(f"/d/{ar.code}/deliveries/{d.id}/call", headers=HX).get_data(as_text=True)
    assert every(form_html, '[name="outcome"]') and "Lucía Bienvenida" in form_html and not every(form_html, "html")
    response = client.post(f"/d/{ar.code}/deliveries/{d.id}/call", headers={**HX, "X-CSRFToken": token},
                           data={"channel": "phone", "outcome": "contacted", "comment": "Muy contenta"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Llamado registrado." in text(one(html, "#action-done"))
    row = one(html, f"tr#delivery-{d.id}")
    assert row.get("hx-swap-oob") == "true" and "Realizado" in text(row) and "Muy contenta" in text(row)
    assert badge(html, "deliveries") == 0
    assert db.scalar(select(func.count()).select_from(Activity)) == 1


def test_direct_load_of_an_action_url_renders_the_whole_board(client, db, ar, token):
    opp = factories.opportunity(db, ar, utcnow() + timedelta(days=1), name="Mario Directo")
    html = client.get(f"/d/{ar.code}/opportunities/{opp.id}/discard").get_data(as_text=True)
    assert one(html, "html") and one(html, "#board-buttons")
    assert one(html, '[data-action="discard"]') and "Mario Directo" in html
    assert "Precio" in text(one(html, '[name="reason_id"]'))


def test_missing_reason_is_422_with_field_message_and_nothing_changes(client, db, ar, token):
    opp = factories.opportunity(db, ar, utcnow() + timedelta(days=1))
    response = client.post(f"/d/{ar.code}/opportunities/{opp.id}/discard", headers={**HX, "X-CSRFToken": token},
                           data={"reason_id": "", "comment": "x", "version": opp.version})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert text(one(html, '[data-error="reason_id"]')) == "Elegí por qué el cliente no quiere venir."
    db.expire_all()
    assert db.get(Opportunity, opp.id).status == "open"
    # (The user's first visit of the dealer is recorded as where their next login lands.)
    assert db.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.entity == "opportunity")) == 0


def test_past_date_is_422(client, db, ar, token):
    opp = factories.opportunity(db, ar, utcnow() + timedelta(days=1))
    response = client.post(f"/d/{ar.code}/opportunities/{opp.id}/replan", headers={**HX, "X-CSRFToken": token},
                           data={"due_at": local_input(utcnow() - timedelta(days=1), ar), "version": opp.version})
    assert response.status_code == 422
    assert one(response, '[data-error="due_at"]')
    bad = client.post(f"/d/{ar.code}/opportunities/{opp.id}/replan", headers={**HX, "X-CSRFToken": token},
                      data={"due_at": "mañana", "version": opp.version})
    assert bad.status_code == 422 and "Ingresá una fecha y hora válidas." in bad.get_data(as_text=True)


def test_replan_interprets_the_time_in_the_dealers_zone(client, db, ar, token):
    opp = factories.opportunity(db, ar, utcnow() + timedelta(days=1))
    target = (utcnow() + timedelta(days=3)).replace(second=0, microsecond=0)
    response = client.post(f"/d/{ar.code}/opportunities/{opp.id}/replan", headers={**HX, "X-CSRFToken": token},
                           data={"due_at": local_input(target, ar), "version": opp.version})
    assert response.status_code == 200
    db.expire_all()
    assert db.get(Opportunity, opp.id).due_at == target


def test_two_callers_on_the_same_opportunity_second_gets_conflict(app, client, db, ar, login_as):
    opp = factories.opportunity(db, ar, utcnow() + timedelta(days=1), name="Conflicto Cliente")
    reason = db.scalar(select(DiscardReason).where(DiscardReason.code == "price"))
    first, second = app.test_client(), app.test_client()
    login_as("caller", ar, on=first)
    login_as("caller", ar, on=second)
    t1 = csrf_token_of(first, f"/d/{ar.code}/board/opportunities")
    t2 = csrf_token_of(second, f"/d/{ar.code}/board/opportunities")
    # Both open the form and see version 1.
    for c in (first, second):
        assert field_value(c.get(f"/d/{ar.code}/opportunities/{opp.id}/replan", headers=HX), "version") == str(
            opp.version)
    new_due = local_input(utcnow() + timedelta(days=4), ar)
    ok = first.post(f"/d/{ar.code}/opportunities/{opp.id}/replan", headers={**HX, "X-CSRFToken": t1},
                    data={"due_at": new_due, "version": 1})
    assert ok.status_code == 200
    stale = second.post(f"/d/{ar.code}/opportunities/{opp.id}/discard", headers={**HX, "X-CSRFToken": t2},
                        data={"reason_id": reason.id, "version": 1})
    html = stale.get_data(as_text=True)
    assert stale.status_code == 409
    assert "Otra persona cambió" in text(one(html, "#conflict-message"))
    assert field_value(html, "version") == "2"  # the form now carries the fresh version
    assert one(html, f"#opportunity-{opp.id}")  # and the fresh row comes along
    db.expire_all()
    fresh = db.get(Opportunity, opp.id)
    assert fresh.status == "open" and fresh.version == 2  # the first write stands


def test_no_js_post_redirects_back_to_the_list(client, db, ar, token):
    ro = factories.repair_order(db, ar, utcnow() - timedelta(hours=2))
    response = client.post(f"/d/{ar.code}/repair-orders/{ro.id}/delivered", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"].endswith("/board/in-process")


def test_no_js_post_returns_to_the_list_it_was_made_on_with_its_filters(client, db, ar, token):
    ro = factories.repair_order(db, ar, utcnow() - timedelta(days=3), delivered_at=utcnow() - timedelta(days=1),
                                status="delivered")
    listed = f"/d/{ar.code}/board/completed?courtesy=all&page=1"
    form = client.get(f"/d/{ar.code}/repair-orders/{ro.id}/opportunity", query_string={"list": listed}
                      ).get_data(as_text=True)
    # The whole board on that list, with the panel's form carrying the list back.
    assert one(form, '[data-button="completed"]').get("aria-current") == "page"
    assert field_value(form, "list") == f"/d/{ar.code}/board/completed?courtesy=all&page=1"
    response = client.post(f"/d/{ar.code}/repair-orders/{ro.id}/opportunity",
                           data={"csrf_token": token, "list": listed,
                                 "due_at": local_input(utcnow() + timedelta(days=2), ar)})
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/board/completed?courtesy=all&page=1")


def test_another_dealers_or_unknown_list_url_falls_back_to_the_rows_own_list(client, db, ar, dealers, token):
    ro = factories.repair_order(db, ar, utcnow() - timedelta(hours=2))
    for listed in (f"/d/{dealers[1].code}/board/completed", "/nowhere", f"/d/{ar.code}/board/deliveries"):
        response = client.post(f"/d/{ar.code}/repair-orders/{ro.id}/call",
                               data={"csrf_token": token, "list": listed, "channel": "phone", "outcome": "no_answer"})
        assert response.status_code == 303 and response.headers["Location"].endswith(f"/d/{ar.code}/board/in-process")


def test_client_history_last_service_first_and_declined_marked(client, db, ar, token):
    c, v = factories.car(db, ar, name="Historia Cliente")
    factories.repair_order(db, ar, utcnow() - timedelta(days=200), vehicle_id=v.id, customer_id=c.id,
                           number="OR-OLD", delivered_at=utcnow() - timedelta(days=199), mileage=10000,
                           lines=[("Service 10.000 km", "OK", "", False)])
    factories.repair_order(db, ar, utcnow() - timedelta(days=20), vehicle_id=v.id, customer_id=c.id,
                           number="OR-NEW", delivered_at=utcnow() - timedelta(days=19), mileage=20000,
                           lines=[("Service 20.000 km", "OK", "Ruido en tren delantero", False),
                                  ("Cambio de pastillas de freno", "Rechazado", "", True)])
    html = client.get(f"/d/{ar.code}/customers/{c.id}", headers=HX).get_data(as_text=True)
    assert html.index("OR-NEW") < html.index("OR-OLD")
    assert "Ruido en tren delantero" in html
    assert "Cambio de pastillas" in text(one(html, "tr.table-warning.declined"))


@pytest.mark.parametrize(("locale", "status", "tab"), [("es", "Confirmado", "Confirmados"),
                                                        ("pt_BR", "Confirmado", "Confirmados"),
                                                        ("en", "Confirmed", "Confirmed")])
def test_a_confirmed_appointment_reads_in_the_singular_and_its_tab_in_the_plural(client, db, ar, login_as, locale,
                                                                                  status, tab):
    login_as("caller", ar, locale=locale)
    token = csrf_token_of(client, f"/d/{ar.code}/board/appointments")
    appt = factories.appointment(db, ar, utcnow() + timedelta(days=1), status="requested")
    html = client.post(f"/d/{ar.code}/appointments/{appt.id}/confirm", headers={**HX, "X-CSRFToken": token},
                       data={"comment": "", "version": appt.version}).get_data(as_text=True)
    assert own_text(one(one(html, f"tr#appointment-{appt.id}"), "td.status")) == status
    assert f"{tab} (1)" in [own_text(element) for element in every(html, "*")]


def test_client_history_shows_every_vehicle_the_customer_brought(client, db, ar, token):
    """A fleet driver or a family member brings cars another customer owns: their ROs and
    appointments name them, and the history shows those cars and their services."""
    driver = factories.customer(db, ar, name="Chofer Flota")
    fleet = factories.customer(db, ar, name="Flota SA")
    van = factories.vehicle(db, ar, fleet, model="Master", plate="AC111AA")
    family_car = factories.vehicle(db, ar, factories.customer(db, ar, name="Madre"), model="Cruze", plate="AD222BB")
    factories.repair_order(db, ar, utcnow() - timedelta(days=30), vehicle_id=van.id, customer_id=driver.id,
                           number="OR-VAN", delivered_at=utcnow() - timedelta(days=29),
                           lines=[("Service 60.000 km", "OK", "", False)])
    factories.repair_order(db, ar, utcnow() - timedelta(days=90), vehicle_id=van.id, customer_id=fleet.id,
                           number="OR-FLEET", delivered_at=utcnow() - timedelta(days=89))
    db.add(Appointment(dealer_id=ar.id, dms_id="A-FAM", vehicle_id=family_car.id, customer_id=driver.id,
                       scheduled_at=utcnow() + timedelta(days=2), service_type="Service", status="requested"))
    db.commit()
    html = client.get(f"/d/{ar.code}/customers/{driver.id}", headers=HX).get_data(as_text=True)
    assert "Sin vehículos" not in html and "No vehicles" not in html
    assert "AC111AA" in html and "AD222BB" in html
    # The van's whole history, whoever brought it.
    assert html.index("OR-VAN") < html.index("OR-FLEET")
