"""Chromium (Playwright, Debian's chromium): a caller logs in, sees the buttons with their counts,
opens every list, and switches the language."""

from __future__ import annotations

from datetime import timedelta

import pytest

from boxes.db import utcnow
from boxes.models import Membership
from tests import factories
from tests.board_screen import open_button
from tests.browser.login import log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def board_data(db, dealers, board_caller):
    ar, br = dealers
    factories.one_row_per_list(db, ar, ("Julieta Bienvenida", "Oscar Vencido", "Teresa Turno", "Ignacio Taller",
                                        "Carla Cortesia"), opportunity_due=-timedelta(days=2))
    now = utcnow()
    factories.delivery(db, ar, now - timedelta(days=3), name="Ramiro Bienvenida")
    factories.opportunity(db, ar, now + timedelta(days=4), name="Paula Proxima")
    factories.opportunity(db, br, now, name="Bruno Brasil")
    db.add(Membership(user_id=board_caller.id, dealer_id=ar.id, role="manager"))
    db.commit()
    return ar


def test_caller_works_the_board_and_switches_language(browser, live_server, board_data, db, dealers):
    page = browser.new_page()
    log_in(page, live_server)

    badges = {key: page.locator(f'[data-badge="{key}"]').inner_text() for key in
              ("deliveries", "opportunities", "appointments", "in_process", "completed", "reports")}
    assert badges == {"deliveries": "2", "opportunities": "2", "appointments": "1", "in_process": "1",
                      "completed": "1", "reports": "0"}
    assert "Oscar Vencido" in page.inner_text("#board-list")
    assert "Bruno Brasil" not in page.content()
    # Overdue rows are red, upcoming green (seed 002's colours).
    overdue = page.locator("tr[data-group=overdue] td.due")
    assert overdue.evaluate("el => getComputedStyle(el).color") == "rgb(220, 53, 69)"

    for button, expected in (("deliveries", "Julieta Bienvenida"), ("appointments", "Teresa Turno"),
                             ("in_process", "Ignacio Taller"), ("completed", "Carla Cortesia"),
                             ("opportunities", "Paula Proxima")):
        open_button(page, button)
        assert expected in page.inner_text("#board-list")
        assert page.url.endswith({"in_process": "in-process"}.get(button, button))
    # htmx swapped fragments: the page never reloaded, and the badges are still there.
    assert page.locator('[data-badge="deliveries"]').inner_text() == "2"
    # The counts stay live while the caller moves around: Sales delivers a car (another user, the DMS),
    # and the next list the caller opens brings the bar up to date right after it.
    factories.delivery(db, dealers[0], utcnow() - timedelta(hours=2), name="Nuevo Cliente")
    page.click('a[data-button="deliveries"]')
    page.wait_for_function("document.querySelector('[data-badge=deliveries]').innerText === '3'")
    assert "Nuevo Cliente" in page.inner_text("#board-list")
    assert page.locator('a[data-button="deliveries"]').get_attribute("aria-current") == "page"

    # The list works from the keyboard: rows take focus and the arrows move between them.
    page.focus("#board-list tr[data-row] >> nth=0")
    page.keyboard.press("ArrowDown")
    second = page.locator("#board-list tr[data-row] >> nth=1").get_attribute("id")
    assert page.evaluate("document.activeElement.id") == second
    assert "Oportunidades nuevas" in page.inner_text("#board-buttons")

    page.select_option("#locale-select", "pt_BR")
    page.wait_for_load_state("load")
    page.wait_for_function("document.documentElement.lang === 'pt-BR'")
    assert "Oportunidades novas" in page.inner_text("#board-buttons")
    assert "Entregas de veículos" in page.inner_text("#board-buttons")

    page.select_option("#locale-select", "en")
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert "New opportunities" in page.inner_text("#board-buttons")
    assert "Services completed" in page.inner_text("#board-buttons")
    page.click('a[data-button="reports"]')
    page.wait_for_function("document.querySelector(\"a[data-button='reports']\").classList.contains('active')")
    assert "Contacts registered today" in page.inner_text("#board-list")
