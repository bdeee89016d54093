"""Chromium: a manager opens the distribution queue from the board, ticks the two OEM leads waiting there and
distributes them round-robin; each caller then finds their lead on their board, in their name, with the OEM's
text; the lead past its first-contact deadline is red and says so."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from boxes.db import utcnow
from boxes.models import Opportunity
from tests import factories
from tests.board_screen import settle
from tests.browser.login import log_in

pytestmark = pytest.mark.browser
PINK = "rgb(248, 215, 218)"  # Bootstrap's table-danger


def test_a_manager_distributes_two_queued_leads_round_robin_and_the_callers_see_them(browser, live_server, db,
                                                                                        dealers):
    ar, _ = dealers
    now = utcnow()
    ana = factories.user(db, role="caller", dealer=ar, name="Ana Caller", email="ana@test.example", locale="en")
    beto = factories.user(db, role="caller", dealer=ar, name="Beto Caller", email="beto@test.example", locale="en")
    factories.user(db, role="manager", dealer=ar, name="Mara Manager", email="mara@test.example", locale="en")
    oldest = factories.oem_lead(db, ar, text="Quiere turno para el service de 20.000 km", name="Olga Oldest",
                                received_at=now - timedelta(hours=30), first_contact_due=now - timedelta(hours=6))
    newer = factories.oem_lead(db, ar, lead_type="AfterSales", text="Consulta por alfombras originales",
                               name="Nico Newer", received_at=now - timedelta(hours=2),
                               first_contact_due=now + timedelta(hours=22))

    page = browser.new_page()
    log_in(page, live_server, "mara@test.example", landing=r"/board/")
    page.click("#lead-queue-link")
    page.wait_for_selector("#lead-queue")
    rows = page.locator("#lead-queue tr[data-row]")
    assert rows.count() == 2
    assert "Olga Oldest" in rows.nth(0).inner_text() and "Nico Newer" in rows.nth(1).inner_text()  # oldest first
    assert "First contact overdue" in rows.nth(0).inner_text()
    page.check(f"#lead-{oldest.opportunity_id}")
    page.check(f"#lead-{newer.opportunity_id}")
    page.click("#distribute-round-robin")
    page.wait_for_selector(".alert")
    assert "2 leads handed out: Ana Caller (1), Beto Caller (1)." in page.inner_text(".alert")
    assert "The queue is empty." in page.inner_text("#lead-queue")
    assert page.locator("#caller-loads li").all_inner_texts() == ["Ana Caller: 1", "Beto Caller: 1"]
    db.expire_all()
    holders = dict(db.execute(select(Opportunity.id, Opportunity.assigned_user_id).where(
        Opportunity.id.in_([oldest.opportunity_id, newer.opportunity_id]))).all())
    assert holders == {oldest.opportunity_id: ana.id, newer.opportunity_id: beto.id}
    page.context.clear_cookies()

    for caller, lead, other, text in ((ana, oldest, newer, "Quiere turno para el service de 20.000 km"),
                                      (beto, newer, oldest, "Consulta por alfombras originales")):
        log_in(page, live_server, caller.email)
        settle(page)
        row = page.locator(f"#opportunity-{lead.opportunity_id}")
        assert row.locator("[data-lead-holder]").inner_text() == caller.name
        assert text in row.inner_text() and lead.lead_id in row.inner_text()
        assert page.locator(f"#opportunity-{other.opportunity_id} [data-lead-holder]").inner_text() != caller.name
        overdue = row.get_attribute("data-first-contact") == "overdue"
        assert overdue == (lead is oldest)
        if overdue:  # red, and in words
            assert "First contact overdue" in row.locator("td.due").inner_text()
            assert row.locator("td").first.evaluate("el => getComputedStyle(el).backgroundColor") == PINK
        assert page.locator("#lead-queue-link").count() == 0  # the queue is a manager's page
        page.context.clear_cookies()
