"""Chromium on a phone (390×844): the board is usable without sideways scrolling — the header's dealer
and language choices readable, every list's rows with their actions within the screen — and a row
action works there, in each of the three languages."""

from __future__ import annotations

from datetime import timedelta

import pytest

from boxes.models import Membership
from tests import factories
from tests.browser.login import log_in

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
LISTS = ("deliveries", "opportunities", "appointments", "in_process", "completed")

# What sticks out of the screen sideways: the page itself, and any visible element of the header or
# of a row (its buttons included) whose right edge is past the viewport.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  if (document.scrollingElement.scrollWidth > width + 1) out.push(`page ${document.scrollingElement.scrollWidth}`);
  const seen = 'nav *, #board-list form *, #board-list tr[data-row] td, #board-list tr[data-row] button';
  for (const el of document.querySelectorAll(seen)) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.height > 0 && r.right > width + 1) {
      out.push(`${el.tagName}#${el.id}.${el.className} ${Math.round(r.right)}`);
    }
  }
  return out.slice(0, 8);
}"""
READABLE_SELECTS = """() => Array.from(document.querySelectorAll('nav select'))
    .map((s) => [s.id, Math.round(s.getBoundingClientRect().width)])"""


@pytest.fixture
def phone_board(db, dealers):
    ar, br = dealers
    factories.one_row_per_list(db, ar, ("Entrega Celular", "Oportunidad Celular", "Turno Celular", "Taller Celular",
                                        "Realizado Celular"), opportunity_due=timedelta(hours=3))
    user = factories.user(db, role="caller", dealer=ar, email="phone@test.example", name="Celeste Llamadora")
    db.add(Membership(user_id=user.id, dealer_id=br.id, role="caller"))  # the dealer switcher shows
    db.commit()
    return ar


@pytest.mark.parametrize("locale", ["es", "pt_BR", "en"])
def test_the_board_fits_a_phone(_chromium, live_server, phone_board, locale):
    context = _chromium.new_context(viewport=PHONE, locale={"es": "es-AR", "pt_BR": "pt-BR", "en": "en-US"}[locale],
                                    is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        log_in(page, live_server, "phone@test.example", landing=r"/board/")
        page.select_option("#locale-select", locale)
        page.wait_for_function(f"document.documentElement.lang.replace('-', '_') === '{locale}'")
        widths = dict(page.evaluate(READABLE_SELECTS))
        assert all(w >= 120 for w in widths.values()), f"the header's choices are squeezed: {widths}"
        for key in LISTS:
            page.click(f"#board-button-{key}")
            page.wait_for_selector(f'#board-button-{key}[aria-current="page"]')
            page.wait_for_selector("#board-list tr[data-row]")
            assert page.evaluate(OVERFLOW) == [], f"{key}: wider than the phone"
        # A row action, on the phone: register a call on the completed service.
        row = page.locator("#board-list tr[data-row]").first
        row.locator("button").first.click()
        page.wait_for_selector("#action-panel select[name=outcome]")
        panel = page.locator("#action-panel").bounding_box()
        assert panel and panel["x"] >= 0 and panel["x"] + panel["width"] <= PHONE["width"] + 1, panel
        page.select_option("#action-panel select[name=outcome]", "no_answer")
        page.click("#action-panel button[type=submit]")
        page.wait_for_selector("#action-done")
        assert page.evaluate(OVERFLOW) == []
    finally:
        context.close()
