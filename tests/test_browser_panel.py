"""Chromium: the action panel's confirmations, and the board's density at a laptop's 1366×768."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from boxes.db import utcnow
from tests import factories

pytestmark = pytest.mark.browser


def login(page, base, email="caller@test.example"):
    page.goto(f"{base}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", factories.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/board/opportunities"))


def register_no_answer(page, row_id: str):
    page.locator(f"#{row_id}").locator("text=Registrar llamado").click()
    page.wait_for_selector("#action-panel select[name=outcome]")
    page.clock.run_for(50)  # htmx takes in the form once it settles (a 20 ms timer)
    page.select_option("#action-panel select[name=outcome]", "no_answer")
    page.click("#action-panel button[type=submit]")
    page.wait_for_selector("#action-done")


def test_each_confirmation_fades_on_its_own_time(browser, live_server, db, dealers):
    ar = dealers[0]
    first = factories.delivery(db, ar, utcnow() - timedelta(days=1), name="Primera Llamada")
    second = factories.delivery(db, ar, utcnow() - timedelta(days=2), name="Segunda Llamada")
    factories.user(db, role="caller", dealer=ar, email="caller@test.example")
    page = browser.new_page()
    page.clock.install()
    login(page, live_server)
    page.click('a[data-button="deliveries"]')
    page.wait_for_selector(f"#delivery-{second.id}")
    # From here the page's timers run only when the test moves its clock.
    page.clock.pause_at(page.evaluate("Date.now()") + 1000)

    register_no_answer(page, f"delivery-{first.id}")
    page.clock.run_for(3300)
    register_no_answer(page, f"delivery-{second.id}")
    # The first confirmation's time is up, not the second's: the second one stays.
    page.clock.run_for(1000)
    assert page.locator("#action-done").is_visible()
    # ... and fades on its own time.
    page.clock.run_for(3500)
    assert page.locator("#action-panel").inner_html().strip() == ""
