"""Chromium: the action panel's confirmations, and the board's density at a laptop's 1366×768."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from boxes.db import utcnow
from boxes.models import Customer
from tests import factories
from tests.browser.login import log_in

pytestmark = pytest.mark.browser


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
    log_in(page, live_server)
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


ROWS_IN_VIEW = """() => Array.from(document.querySelectorAll('#board-list tbody tr[data-row]'))
    .filter((r) => { const b = r.getBoundingClientRect(); return b.height > 0 && b.bottom <= window.innerHeight; })
    .length"""
# Each action button of the rows on screen: is its centre on screen, and is the button what is there?
COVERED_BUTTONS = """() => {
  const out = [];
  for (const row of document.querySelectorAll('#board-list tbody tr[data-row]')) {
    const r = row.getBoundingClientRect();
    if (r.top >= window.innerHeight || r.bottom <= 0) continue;
    for (const b of row.querySelectorAll('td.actions button')) {
      const box = b.getBoundingClientRect();
      const x = box.left + box.width / 2, y = box.top + box.height / 2;
      if (y < 0 || y > window.innerHeight) continue;  // a row cut by the bottom edge: scroll
      const hit = x >= 0 && x <= window.innerWidth ? document.elementFromPoint(x, y) : null;
      if (!hit || !b.contains(hit)) out.push(`${row.id}: ${b.innerText.trim()}`);
    }
  }
  return out;
}"""


@pytest.mark.parametrize("button", ["opportunities", "appointments", "in_process", "deliveries", "completed"])
def test_a_laptop_screen_shows_ten_rows_and_the_open_panel_hides_no_action(browser, live_server, db, dealers,
                                                                           button):
    ar = dealers[0]
    now = utcnow()
    note = "Cliente pidió que lo llamen después de las 18, tiene dudas con el presupuesto del service"
    for i in range(14):
        contact = dict(name=f"María Fernanda Gómez Rodríguez {i}", email=f"maria.fernanda.gomez{i}@correo.example")
        if button == "opportunities":
            factories.opportunity(db, ar, now + timedelta(hours=i + 1), note=note, **contact)
        elif button == "appointments":
            factories.appointment(db, ar, now + timedelta(days=1, hours=i), status="requested", **contact)
        elif button == "in_process":
            factories.repair_order(db, ar, now - timedelta(hours=i + 1), **contact)
        elif button == "deliveries":
            factories.delivery(db, ar, now - timedelta(hours=i + 1), salesperson="Roberto Carlos Vendedor", **contact)
        else:
            factories.repair_order(db, ar, now - timedelta(days=3), delivered_at=now - timedelta(hours=i + 1),
                                   status="delivered", **contact)
    for customer in db.scalars(select(Customer)):
        customer.phone_home, customer.phone_work = "+54 11 4555-0101", "+54 9 11 5555-0199"
        factories.activity(db, ar, now - timedelta(hours=1), customer_id=customer.id, comment=note, kind="call",
                           channel="phone", outcome="no_answer")
    factories.user(db, role="caller", dealer=ar, email="caller@test.example")
    page = browser.new_page()
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, live_server)
    if button != "opportunities":
        page.click(f'a[data-button="{button}"]')
        page.wait_for_function("k => document.querySelector(`a[data-button='${k}']`).classList.contains('active')",
                               arg=button)
    page.wait_for_load_state("networkidle")
    assert page.evaluate(ROWS_IN_VIEW) >= 10

    page.locator("#board-list tbody tr[data-row] >> nth=0").locator("text=Ver cliente").click()
    page.wait_for_selector("#client-name")
    assert page.evaluate(COVERED_BUTTONS) == []


SUBMIT_AS_SOON_AS_SHOWN = """() => {
  // A fast keyboard user: Enter on the form in the very task that shows it (a microtask after the swap).
  const panel = document.querySelector("#action-panel");
  new MutationObserver((_, observer) => {
    const form = panel.querySelector("form");
    if (!form) return;
    observer.disconnect();
    form.querySelector("select[name=outcome]").value = "no_answer";
    form.requestSubmit();
  }).observe(panel, {childList: true, subtree: true});
}"""


def test_a_form_answers_the_moment_it_is_shown(browser, live_server, db, dealers):
    """htmx took a swapped-in form in only when it settled (a 20 ms timer, and Chromium runs input before
    timers): an Enter in between submitted it natively, the board reloaded and the panel's answer was lost."""
    ar = dealers[0]
    row = factories.delivery(db, ar, utcnow() - timedelta(days=1), name="Llamada Rápida")
    factories.user(db, role="caller", dealer=ar, email="caller@test.example")
    page = browser.new_page()
    log_in(page, live_server)
    page.click('a[data-button="deliveries"]')
    page.wait_for_selector(f"#delivery-{row.id}")
    page.evaluate("window.samePage = true")
    page.evaluate(SUBMIT_AS_SOON_AS_SHOWN)
    page.locator(f"#delivery-{row.id}").locator("text=Registrar llamado").click()
    page.wait_for_selector("#action-done")
    assert page.evaluate("window.samePage === true"), "the form was submitted natively: the board reloaded"
