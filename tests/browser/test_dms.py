"""Integrations → DMS in Chromium: an admin changes the feed address, is asked to reset the
cursors (with what it does), confirms; then resets one entity's cursor through its confirmation."""

from __future__ import annotations

from sqlalchemy import select

from boxes.models import DmsConnector, SyncCursor
from tests import factories
from tests.browser.login import log_in


def test_admin_confirms_the_cursor_reset_of_a_new_feed_and_resets_one_cursor(browser, live_server, db, dealers,
                                                                             tmp_path):
    ar = dealers[0]
    factories.user(db, role="admin", dealer=ar, email="admin@test.example", name="Ada Admin")
    db.add(DmsConnector(dealer_id=ar.id, kind="http", settings={"base_url": "https://old-dms.example/feed/v1/AR01"},
                        secrets={}))
    db.add(SyncCursor(dealer_id=ar.id, entity="customers", cursor="2025-03-01T10:00:00|C9"))
    db.add(SyncCursor(dealer_id=ar.id, entity="vehicles", cursor="2025-03-01T10:00:00|V9"))
    db.commit()

    page = browser.new_page()
    log_in(page, live_server, "admin@test.example", landing=r"/board/")
    page.goto(f"{live_server}/d/{ar.code}/admin/integrations/dms")

    page.fill("#f-base_url", "https://new-dms.example/feed/v1/AR01")
    page.click("#dms-connector button.btn-primary")
    warning = page.locator('[data-error="reset_cursors"]')
    warning.wait_for()
    assert "lee todo de nuevo" in warning.inner_text()
    page.screenshot(path=str(tmp_path / "confirm.png"), full_page=True)
    db.expire_all()
    assert db.scalar(select(DmsConnector.settings))["base_url"] == "https://old-dms.example/feed/v1/AR01"

    page.check("#reset_cursors")
    page.click("#dms-connector button.btn-primary")
    page.wait_for_selector("text=Conector del DMS guardado")
    db.expire_all()
    assert db.scalar(select(DmsConnector.settings))["base_url"] == "https://new-dms.example/feed/v1/AR01"
    assert set(db.scalars(select(SyncCursor.cursor))) == {None}

    db.scalar(select(SyncCursor).where(SyncCursor.entity == "vehicles")).cursor = "2025-04-01T00:00:00|V1"
    db.commit()
    page.reload()
    row = page.locator("#cursor-vehicles")
    row.locator("summary").click()  # the confirmation opens; nothing is sent yet
    assert row.locator("button").is_visible()
    page.screenshot(path=str(tmp_path / "cursor.png"), full_page=True)
    db.expire_all()
    assert db.scalar(select(SyncCursor.cursor).where(SyncCursor.entity == "vehicles")) == "2025-04-01T00:00:00|V1"
    row.locator("button").click()
    page.wait_for_selector("text=Cursor reiniciado")
    db.expire_all()
    assert db.scalar(select(SyncCursor.cursor).where(SyncCursor.entity == "vehicles")) is None
