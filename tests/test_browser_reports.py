"""Chromium: a manager opens a report, changes the range, switches to the grid, filters, exports."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest

from boxes.db import utcnow
from tests import factories

pytestmark = pytest.mark.browser


def test_manager_report_range_grid_filter_export(browser, live_server, db, dealers):
    ar, _ = dealers
    now = utcnow()
    for i in range(3):
        factories.appointment(db, ar, now - timedelta(days=2, hours=i), status="fulfilled", name=f"Llegó {i}")
    factories.appointment(db, ar, now - timedelta(days=3), status="no_show", name="Faltó Uno")
    factories.appointment(db, ar, now - timedelta(days=40), status="no_show", name="Faltó Viejo")
    factories.user(db, role="manager", dealer=ar, email="manager@test.example", name="Mara Manager")

    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: r.status >= 400 and errors.append(f"{r.status} {r.url}"))
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", "manager@test.example")
    page.fill("input[name=password]", factories.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/board/"))

    page.click('a[data-button="reports"]')  # an htmx fragment: plotly.js is loaded once, on demand
    page.wait_for_url(re.compile(r"/reports"))
    page.click('#report-tabs a[data-report="appointments"]')
    page.wait_for_function("document.querySelector('#report-tabs a.active').dataset.report === 'appointments'")
    page.select_option("#range-preset", "last_30_days")
    page.wait_for_function("document.querySelector('[data-kpi=show_rate] .kpi-value').innerText.includes('75')")
    page.wait_for_selector(".report-pie .plotly-graph-div .main-svg")  # the pie was drawn
    assert page.evaluate("document.querySelectorAll('script[src*=\"plotly.min.js\"]').length") == 1
    assert page.locator('[data-pie-counts="result"] [data-slice="no_show"]').inner_text() == "1"

    page.click("#view-grid")
    page.wait_for_selector("#report-grid")
    assert page.locator("#report-grid tbody tr[data-row]").count() == 4
    page.select_option('select[name="f_result"]', "arrived")
    page.wait_for_function("document.querySelectorAll('#report-grid tbody tr[data-row]').length === 3")
    # Let htmx finish with the new grid (and the button bar it refreshes) before the next change:
    # a change fired while the swapped-in form is not yet processed would be lost.
    page.wait_for_function("!document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping')")
    assert "Faltó" not in page.inner_text("#report-grid")
    page.select_option("#pie-column", "customer")
    page.wait_for_function("document.querySelector('[data-pie-counts]').dataset.pieCounts === 'customer'",
                           timeout=30_000)
    assert not errors, errors
    assert page.locator("[data-pie-counts=customer] [data-count]").count() == 3

    with page.expect_download() as info:
        page.click("#export-csv")
    with open(info.value.path(), encoding="utf-8-sig") as f:
        text = f.read()
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == 4 and {r[1] for r in rows[1:]} == {"Llegó 0", "Llegó 1", "Llegó 2"}
    with page.expect_download() as info:
        page.click("#export-xlsx")
    assert info.value.suggested_filename.endswith(".xlsx")
    assert errors == []
