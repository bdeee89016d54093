"""Chromium: a caller clicks "send email reminder" on a "to confirm" row and watches the row go
from queued to sent by itself, while a real ``rq worker`` process sends it to a real SMTP server."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from boxes.db import utcnow
from boxes.models import OutboundMessage
from tests import factories
from tests.browser.login import log_in
from tests.messaging_fixtures import *  # noqa: F403

pytestmark = pytest.mark.browser


def test_caller_sends_a_reminder_and_the_row_reaches_sent(browser, live_server, db, dealers, smtp, worker):
    ar, _ = dealers
    appt = factories.appointment(db, ar, utcnow() + timedelta(days=1), status="requested", name="Marta Recordada")
    factories.user(db, role="caller", dealer=ar, email="caller@test.example", name="Carla Caller")
    worker.start(scheduler=True)

    page = browser.new_page()
    log_in(page, live_server)
    page.click('a[data-button="appointments"]')
    row = page.locator(f"#appointment-{appt.id}")
    row.wait_for()
    cell = row.locator(f"#reminder-{appt.id}")
    assert cell.get_attribute("data-reminder-status") == "none"

    row.locator("button[data-send-reminder]").click()
    # The cell swaps to "queued" (polling), then to "sent" with the time, without a reload.
    page.wait_for_selector(f'#reminder-{appt.id}[data-reminder-status="sent"]', timeout=30_000)
    text = page.locator(f"#reminder-{appt.id}").inner_text()
    assert "Enviado" in text
    assert page.locator(f"#reminder-{appt.id} .reminder-sent-at").inner_text().strip()
    assert page.locator(f"#reminder-{appt.id} button").count() == 0

    [mail] = smtp.wait_for(1)
    assert mail["Subject"].startswith("Recordatorio")
    db.expire_all()
    row_db = db.scalar(select(OutboundMessage).where(OutboundMessage.appointment_id == appt.id))
    assert row_db.status == "sent" and row_db.attempts == 1

    # Polling stopped: no more requests for the cell once it is final.
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/reminder" in r.url else None)
    page.wait_for_timeout(2500)
    assert requests == []
