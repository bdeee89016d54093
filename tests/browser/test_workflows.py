"""Chromium walks every board flow as a caller would, checking the row, the badges and the audit trail."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from boxes.db import utcnow
from boxes.models import Activity, AuditLog, Opportunity
from tests import factories
from tests.board_screen import open_button, submit_panel
from tests.browser.login import log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def world(db, dealers, board_caller):
    ar = dealers[0]
    rows = factories.one_row_per_list(db, ar, ("Julieta Bienvenida", "Diego Descarte", "Carmen Turno", "Ignacio Taller",
                                               "Cora Cortesia"), opportunity_due=timedelta(days=1),
                                      completed_lines=[("Service 30.000 km", "OK", "", False),
                                                       ("Cambio de escobillas", "Rechazado", "", True)])
    now = utcnow()
    rows |= {
        "opp_replan": factories.opportunity(db, ar, now + timedelta(days=2), name="Rosa Replan"),
        "opp_sold": factories.opportunity(db, ar, now + timedelta(days=3), name="Sergio Vendido"),
    }
    return ar, rows, board_caller


def badge(page, key) -> str:
    return page.locator(f'[data-badge="{key}"]').inner_text()


def local(instant, dealer):
    return instant.astimezone(ZoneInfo(dealer.time_zone)).strftime("%Y-%m-%dT%H:%M")


def audit_actions(db):
    db.expire_all()
    return [a.action for a in db.scalars(select(AuditLog).order_by(AuditLog.id))]


def test_caller_walks_every_flow(browser, live_server, db, world):
    ar, rows, user = world
    page = browser.new_page()
    log_in(page, live_server)

    # 1 Deliveries: welcome call (keyboard: focus the row, Enter opens the main action), then an opportunity.
    open_button(page, "deliveries")
    assert badge(page, "deliveries") == "1"
    row = page.locator(f"#delivery-{rows['delivery'].id}")
    row.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#action-panel select[name=outcome]")
    page.select_option("#action-panel select[name=outcome]", "contacted")
    page.fill("#action-panel textarea[name=comment]", "Le explicamos el plan de mantenimiento")
    submit_panel(page)
    assert "Realizado" in row.inner_text() and "plan de mantenimiento" in row.inner_text()
    assert badge(page, "deliveries") == "0"
    page.keyboard.press("Escape")
    assert page.locator("#action-panel").inner_html().strip() == ""

    row.locator("text=Crear oportunidad").click()
    page.wait_for_selector("#action-panel input[name=due_at]")
    # The default due date is delivery + 6 months.
    default_due = page.input_value("#action-panel input[name=due_at]")
    assert default_due.endswith("T10:00")
    submit_panel(page)
    assert row.locator(".opportunity-scheduled").count() == 1
    assert badge(page, "opportunities") == "3"  # the new one is 6 months ahead: outside ±15 days

    # 2 New opportunities: discard with a reason (first without: the field error), replan, sold.
    open_button(page, "opportunities")
    discard_row = page.locator(f"#opportunity-{rows['opportunity'].id}")
    discard_row.locator("text=Descartar").click()
    page.wait_for_selector("#action-panel select[name=reason_id]")
    page.click("#action-panel button[type=submit]")
    page.wait_for_selector('[data-error="reason_id"]')
    assert "Elegí por qué" in page.inner_text("#action-panel")
    page.select_option("#action-panel select[name=reason_id]", label="Precio")
    submit_panel(page)
    assert "Descartada" in discard_row.inner_text()
    assert badge(page, "opportunities") == "2"

    replan_row = page.locator(f"#opportunity-{rows['opp_replan'].id}")
    replan_row.locator("text=Replanificar").click()
    page.wait_for_selector("#action-panel input[name=due_at]")
    new_due = utcnow() + timedelta(days=6)
    page.fill("#action-panel input[name=due_at]", local(new_due, ar))
    submit_panel(page)
    db.expire_all()
    assert db.get(Opportunity, rows["opp_replan"].id).due_at.astimezone(ZoneInfo(ar.time_zone)).strftime(
        "%Y-%m-%dT%H:%M") == local(new_due, ar)

    sold_row = page.locator(f"#opportunity-{rows['opp_sold'].id}")
    sold_row.locator("text=Turno vendido").click()
    page.wait_for_selector("#action-panel input[name=appointment_at]")
    page.fill("#action-panel input[name=appointment_at]", local(utcnow() + timedelta(days=4), ar))
    submit_panel(page)
    assert "Turno vendido" in sold_row.inner_text()
    assert badge(page, "opportunities") == "1"

    # 3 Upcoming appointments: confirm with a comment.
    open_button(page, "appointments")
    assert badge(page, "appointments") == "1"
    appt_row = page.locator(f"#appointment-{rows['appointment'].id}")
    appt_row.locator("text=Confirmar").click()
    page.wait_for_selector("#action-panel textarea[name=comment]")
    page.fill("#action-panel textarea[name=comment]", "Viene a las 8")
    submit_panel(page)
    assert "Confirmado" in appt_row.inner_text() and "Viene a las 8" in appt_row.inner_text()
    assert badge(page, "appointments") == "0"

    # 4 In process: unit delivered moves it to Services completed.
    open_button(page, "in_process")
    assert badge(page, "in_process") == "1" and badge(page, "completed") == "1"
    ro_row = page.locator(f"#repair-order-{rows['in_process'].id}")
    ro_row.locator("text=Unidad entregada").click()
    page.wait_for_selector("#action-panel button[type=submit]")
    submit_panel(page)
    assert "Entregado" in ro_row.inner_text()
    assert badge(page, "in_process") == "0" and badge(page, "completed") == "2"

    # 5 Services completed: courtesy call with satisfaction, then the client's history.
    open_button(page, "completed")
    done_row = page.locator(f"#repair-order-{rows['completed'].id}")
    done_row.locator("text=Llamado de cortesía").click()
    page.wait_for_selector("#action-panel select[name=outcome]")
    page.click("#action-panel label[for=f-sat-4]")
    page.select_option("#action-panel select[name=outcome]", "contacted")
    page.fill("#action-panel textarea[name=comment]", "Conforme con el servicio")
    submit_panel(page)
    assert "Realizado" in done_row.inner_text()
    assert badge(page, "completed") == "1"

    done_row.locator("text=Ver cliente").click()
    page.wait_for_selector("#client-name")
    assert page.inner_text("#client-name") == "Cora Cortesia"
    history = page.inner_text("#action-panel")
    assert "Service 30.000 km" in history and "Rechazado" in history
    assert page.locator("#action-panel tr.declined").count() == 1

    # The audit trail has every step, by this caller.
    actions = audit_actions(db)
    for expected in ("welcome_call.register", "opportunity.create", "opportunity.discard", "opportunity.replan",
                     "opportunity.sold", "appointment.confirm", "repair_order.delivered", "courtesy_call.register"):
        assert expected in actions, expected
    assert {a.user_id for a in db.scalars(select(AuditLog))} == {user.id}
    assert db.scalar(select(Activity).where(Activity.kind == "courtesy_call")).satisfaction == 4
