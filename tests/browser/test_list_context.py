"""Chromium: an action keeps the list the caller is on — its button highlighted, its row markup
and columns, and every number of the list (groups, tabs, pager, badges) up to date."""

from __future__ import annotations

from datetime import timedelta

import pytest

from boxes.db import utcnow
from tests import board_screen, factories
from tests.board_screen import open_button, submit_panel
from tests.browser.login import log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def world(db, dealers, board_caller):
    ar = dealers[0]
    rows = factories.one_row_per_list(db, ar, ("Julieta Bienvenida", "Oscar Vencido", "Carmen Turno", "Ignacio Taller",
                                               "Cora Cortesia"), opportunity_due=-timedelta(days=2))
    now = utcnow()
    rows |= {
        "delivery2": factories.delivery(db, ar, now - timedelta(days=2), name="Ramiro Bienvenida"),
        "today": factories.opportunity(db, ar, now + timedelta(minutes=1), name="Tania Hoy"),
        "upcoming": factories.opportunity(db, ar, now + timedelta(days=3), name="Ugo Proximo"),
        "appointment2": factories.appointment(db, ar, now + timedelta(days=2), status="requested", name="Tito Turno"),
        "completed2": factories.repair_order(db, ar, now - timedelta(days=4), delivered_at=now - timedelta(days=2),
                                             status="delivered", name="Ciro Cortesia"),
    }
    return ar, rows


def test_view_client_keeps_the_list_the_caller_is_on(browser, live_server, world):
    _, rows = world
    page = browser.new_page()
    log_in(page, live_server)
    for button, row_id in (("deliveries", f"delivery-{rows['delivery'].id}"),
                           ("appointments", f"appointment-{rows['appointment'].id}"),
                           ("in_process", f"repair-order-{rows['in_process'].id}"),
                           ("completed", f"repair-order-{rows['completed'].id}")):
        open_button(page, button)
        page.locator(f"#{row_id}").locator("text=Ver cliente").click()
        page.wait_for_selector("#client-name")
        page.wait_for_load_state("networkidle")
        screen = board_screen.read(page)
        assert screen["active"] == button, f"Ver cliente from {button} highlights {screen['active']}"
        assert board_screen.problems(screen) == []
        assert page.locator(f"#{row_id}").count() == 1


def test_create_opportunity_on_a_completed_row_keeps_its_columns_and_actions(browser, live_server, world):
    _, rows = world
    page = browser.new_page()
    log_in(page, live_server)
    open_button(page, "completed")
    row = page.locator(f"#repair-order-{rows['completed'].id}")
    headers = page.locator("#board-list thead th").count()
    assert row.locator("td").count() == headers == 7
    row.locator("text=Crear oportunidad").click()
    page.wait_for_selector("#action-panel input[name=due_at]")
    submit_panel(page)
    assert row.locator("td").count() == headers
    assert row.locator("text=Llamado de cortesía").count() == 1
    assert row.locator(".opportunity-scheduled").count() == 1
    assert board_screen.read(page)["active"] == "completed"
    assert board_screen.problems(board_screen.read(page)) == []


def test_every_number_agrees_after_a_discard_and_a_confirm(browser, live_server, world):
    _, rows = world
    page = browser.new_page()
    log_in(page, live_server)
    before = board_screen.read(page)
    assert before["groups"] == {"overdue": 1, "today": 1, "upcoming": 1} and before["total"] == 3

    page.locator(f"#opportunity-{rows['today'].id}").locator("text=Descartar").click()
    page.wait_for_selector("#action-panel select[name=reason_id]")
    page.select_option("#action-panel select[name=reason_id]", label="Precio")
    submit_panel(page)
    after = board_screen.read(page)
    assert after["badges"]["opportunities"] == 2
    assert after["groups"] == {"overdue": 1, "today": 0, "upcoming": 1}
    assert after["total"] == 2 and after["rowsShown"] == 2
    assert board_screen.problems(after) == []

    open_button(page, "appointments")
    assert board_screen.read(page)["tabs"]["to_confirm"] == 2
    page.locator(f"#appointment-{rows['appointment'].id}").locator("text=Confirmar").click()
    page.wait_for_selector("#action-panel textarea[name=comment]")
    submit_panel(page)
    after = board_screen.read(page)
    assert after["badges"]["appointments"] == 1
    assert after["tabs"]["to_confirm"] == 1 and after["tabs"]["confirmed"] == 1
    assert after["total"] == 1 and after["rowsShown"] == 1
    assert board_screen.problems(after) == []
