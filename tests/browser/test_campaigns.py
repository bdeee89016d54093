"""Chromium: a campaign creator pastes plates, selects all, processes (a real RQ worker runs the job),
watches the progress bar and finds the opportunities in button 2."""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from boxes.db import utcnow
from boxes.models import Opportunity
from tests import factories
from tests.browser.login import log_in
from tests.campaigns.test_job import _worker

pytestmark = pytest.mark.browser


def test_campaign_creator_flow(browser, live_server, app, db, dealers, redis_url, database_url):
    ar, _ = dealers
    app.config["BOXES"].page_size = 2
    plates = ["AB100CD", "AB101CD", "AB102CD"]
    for i, plate in enumerate(plates):
        c = factories.customer(db, ar, name=f"Propietario {i}")
        factories.vehicle(db, ar, c, plate=plate, model="Tracker")
    factories.user(db, role="caller", dealer=ar, name="Ceci Caller")
    factories.user(db, role="campaigns", dealer=ar, email="creator@test.example", name="Camila Campañas")

    page = browser.new_page()
    log_in(page, live_server, "creator@test.example", landing=r"/board/")
    page.click('a[data-button="campaigns"]')
    page.wait_for_selector("#new-campaign")
    page.click("#new-campaign")
    page.wait_for_selector("#search-form")
    typed = "ab 100 cd\nab101cd, AB102CD; ZZ999ZZ\nnot-valid"
    page.fill("#f-ids", typed)
    page.check("#k-plate")
    page.click("#search-units")
    page.wait_for_selector("#list-report")
    assert page.input_value("#f-ids") == typed  # what the creator pasted stays in the form
    assert "ZZ999ZZ" in page.inner_text("#not-found-entries")
    assert "NOTVALID" in page.inner_text("#invalid-entries")
    assert "Total: 3 · Mostradas: 2 · Seleccionadas: 0" in page.inner_text("#selection-totals")
    page.click("#select-all")
    page.wait_for_function("document.querySelector('#selection-totals').innerText.includes('Seleccionadas: 3')")
    page.click("a[rel=next]")
    page.wait_for_function("document.querySelectorAll('#units-table input[type=checkbox]:checked').length === 1")
    page.uncheck("#units-table input[type=checkbox]")  # selection is kept server-side across pages
    page.wait_for_function("document.querySelector('#selection-totals').innerText.includes('Seleccionadas: 2')")
    page.check("#units-table input[type=checkbox]")
    page.wait_for_function("document.querySelector('#selection-totals').innerText.includes('Seleccionadas: 3')")

    due = (utcnow().astimezone(ZoneInfo(ar.time_zone)) + timedelta(days=1)).date().isoformat()
    page.fill("#p-name", "Recall Tracker")
    page.select_option("#p-kind", "recall")
    page.fill("#p-due", due)
    page.select_option("#p-assignment", "round_robin")
    page.click("#process-units")
    page.wait_for_selector("#campaign-progress")
    assert page.locator("#campaign-progress[hx-trigger]").count() == 1  # polling while the job waits
    worker = _worker(redis_url, database_url)
    assert worker.wait(timeout=60) == 0
    page.wait_for_selector("#campaign-progress[data-status=done]")
    assert "100%" in page.inner_text("#campaign-progress")
    page.click("#campaign-opportunities")
    page.wait_for_url(re.compile(r"/campaigns/\d+/opportunities"))
    listing = page.inner_text("#board-list")
    assert "Propietario 0" in listing and "Recall Tracker" in listing
    assert db.scalar(select(func.count()).select_from(Opportunity).where(Opportunity.origin == "campaign")) == 3
