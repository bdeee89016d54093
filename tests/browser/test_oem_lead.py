"""Chromium, the OEM lead loop end to end against ``boxes oem-simulator`` as a separate process: a lead the
OEM creates arrives on the caller's board (the import), the caller registers a call and sells an appointment,
the relay sends what happened, and the admin's integration log shows the CRE and ACO events answered by the
OEM; the OEM itself holds them in that order. A discard with a reason that has no OEM equivalent is refused
in the form."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from boxes.db import utcnow
from boxes.models import DiscardReason, OemConnector, Opportunity
from boxes.oem.importer import import_leads
from boxes.oem.relay import relay
from boxes.settings.discard_reasons import seed_defaults
from tests import factories
from tests.board_screen import settle, submit_panel
from tests.browser.login import log_in
from tests.oem_helpers import OemSimulator

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def sim():
    with OemSimulator(backlog=0) as s:
        yield s


def test_a_lead_is_called_sold_and_the_oem_hears_each_step(browser, live_server, db, dealers, sim, redis, config):
    ar = dealers[0]
    seed_defaults(db, ar)
    caller = factories.user(db, role="caller", dealer=ar, name="Carla Caller", email="carla@test.example",
                            locale="en")
    factories.user(db, role="admin", dealer=ar, name="Adela Admin", email="adela@test.example", locale="en")
    db.add(OemConnector(dealer_id=ar.id, enabled=True, secrets={"client_secret": "simulator"},
                        settings={"base_url": sim.base, "client_id": "boxes", "dealer_code": "AR01"},
                        distribution={"Service": {"mode": "direct", "user_id": caller.id}}))
    db.commit()
    made = sim.create_lead("AR01", {"Description": "Quiere turno para el service de 30.000 km"}, type="Service",
                           contact="new")
    lost = sim.create_lead("AR01", {"Description": "Pregunta por el precio de las pastillas"}, type="Service",
                           contact="new")
    lead_id, lost_id = made["Id"], lost["Id"]

    # The import (what the cron's job runs): both leads on the board, in the caller's hands.
    result = import_leads(db, ar, redis, config=config)
    assert result.opportunities == 2, result
    opp = db.scalar(select(Opportunity).where(Opportunity.oem_lead_id == lead_id))
    lost_opp = db.scalar(select(Opportunity).where(Opportunity.oem_lead_id == lost_id))

    page = browser.new_page()
    log_in(page, live_server, "carla@test.example")
    settle(page)
    row = page.locator(f"#opportunity-{opp.id}")
    assert lead_id in row.inner_text() and "service de 30.000 km" in row.inner_text()
    assert row.locator("[data-lead-holder]").inner_text() == "Carla Caller"

    row.locator("text=Register call").click()
    page.wait_for_selector("#action-panel select[name=outcome]")
    page.select_option("#action-panel select[name=channel]", "phone")
    page.select_option("#action-panel select[name=outcome]", "contacted")
    submit_panel(page)

    row.locator("text=Appointment sold").click()
    page.wait_for_selector("#action-panel input[name=appointment_at]")
    when = (utcnow() + timedelta(days=3)).astimezone(ZoneInfo(ar.time_zone)).strftime("%Y-%m-%dT10:00")
    page.fill("#action-panel input[name=appointment_at]", when)
    submit_panel(page)

    # A reason with no OEM equivalent ("Wrong data") cannot close an OEM lead: said in the form.
    wrong = db.scalar(select(DiscardReason).where(DiscardReason.dealer_id == ar.id,
                                                  DiscardReason.code == "wrong_data"))
    assert wrong.oem_reason is None
    lost_row = page.locator(f"#opportunity-{lost_opp.id}")
    lost_row.locator("text=Discard").click()
    page.wait_for_selector("#action-panel select[name=reason_id]")
    page.select_option("#action-panel select[name=reason_id]", str(wrong.id))
    page.click("#action-panel button[type=submit]")
    page.wait_for_selector('[data-error="reason_id"]')
    assert "OEM equivalent" in page.inner_text('[data-error="reason_id"]')
    db.expire_all()
    assert db.get(Opportunity, lost_opp.id).status == "open"
    page.context.clear_cookies()

    # The relay (what the oem queue's worker runs) sends New, Assigned, CRE and ACO of the sold lead.
    sent = relay(db, ar, redis, config=config)
    assert sent.dead == 0 and sent.retried == 0
    at_oem = [e["body"] for e in sim.truth("AR01")["events"].values() if e["body"]["Lead__c"] == lead_id]
    assert [(b["Trigger__c"], b["Stage__c"], b["Substage__c"]) for b in at_oem] == [
        ("NEW", "New", None), ("ATR", "Assigned", None), ("CRE", "Experiencing", "InProgressPhone"),
        ("ACO", "Converted", "ServiceScheduled")]

    # The admin reads it in the integration log, from the lead's link.
    log_in(page, live_server, "adela@test.example", landing=r"/board/")
    page.goto(f"{live_server}/d/{ar.code}/admin/integrations/oem/log?lead={lead_id}")
    page.wait_for_selector("#oem-log")
    # Columns: when, direction, kind, lead, event id, trigger, stage, call, status code, duration, attempt.
    cells = page.locator("#oem-log tbody tr[id]").evaluate_all(
        "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))")
    answered = {(c[5], c[8]) for c in cells if c[5] in ("CRE", "ACO")}
    assert answered == {("CRE", "201"), ("ACO", "201")}, cells
