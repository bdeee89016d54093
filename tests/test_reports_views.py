"""Reports over HTTP: ranges, KPIs, the grid with filters, sorting and pie, CSV/XLSX exports."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from openpyxl import load_workbook

from boxes.db import utcnow
from tests import factories


def _data(db, ar, br):
    now = utcnow()
    for i in range(3):
        factories.appointment(db, ar, now - timedelta(hours=1 + i), status="fulfilled", name=f"Llegó {i}")
    factories.appointment(db, ar, now - timedelta(days=1), status="no_show", name="Faltó Uno")
    factories.appointment(db, br, now - timedelta(hours=2), status="fulfilled", name="Bravo Secret")


def test_report_page_loads_plotly_once_and_shows_pie_and_kpis(client, db, dealers, login_as):
    ar, br = dealers
    _data(db, ar, br)
    login_as("manager", ar, locale="en")
    html = client.get(f"/d/{ar.code}/reports?report=appointments&preset=last_30_days").get_data(as_text=True)
    assert html.count('<script src="/assets/plotly.min.js">') == 1
    assert "Plotly.newPlot" in html and 'data-kpi="show_rate"' in html
    assert re.search(r'data-kpi="show_rate">.*?75.0%', html, re.S)
    assert "Bravo Secret" not in html
    fragment = client.get(f"/d/{ar.code}/reports?report=appointments&preset=today",
                          headers={"HX-Request": "true", "HX-Current-URL": f"http://x/d/{ar.code}/reports"})
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and "window.boxesWhenPlotly(function () {" in body and "Plotly.newPlot" in body
    # From the board's buttons (a fragment): the charts wait for plotly.js, loaded once by the fragment.
    nav = client.get(f"/d/{ar.code}/reports", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "window.boxesWhenPlotly = window.boxesWhenPlotly ||" in nav
    assert 'data-badges-loader hx-get="/d/AR01/badges?button=reports"' in nav  # the bar follows, fetched


def test_bad_custom_range_is_422_with_field_error(client, db, dealers, login_as):
    ar, _ = dealers
    login_as("manager", ar)
    r = client.get(f"/d/{ar.code}/reports?report=callers&preset=custom&start=2026-03-10&end=2026-03-01")
    assert r.status_code == 422 and 'data-error="end"' in r.get_data(as_text=True)


def test_grid_filter_sort_pie_and_exports_match(client, db, dealers, login_as):
    ar, br = dealers
    _data(db, ar, br)
    login_as("manager", ar, locale="en")
    base = f"/d/{ar.code}/reports/grid?report=appointments&preset=last_30_days"
    html = client.get(f"{base}&pie=result").get_data(as_text=True)
    counts = dict(re.findall(r'data-slice="(\w+)" data-count="(\d+)"', html))
    assert counts == {"arrived": "3", "no_show": "1"}
    for value, n in counts.items():
        filtered = client.get(f"{base}&f_result={value}").get_data(as_text=True)
        assert len(re.findall(r"<tr data-row>", filtered)) == int(n)
        assert f"{n} rows" in filtered
    by_customer = client.get(f"{base}&f_result=arrived&pie=customer")
    assert by_customer.status_code == 200, by_customer.get_data(as_text=True)[-3000:]
    assert len(re.findall(r'data-count="1"', by_customer.get_data(as_text=True))) == 3
    sorted_html = client.get(f"{base}&sort=customer&dir=asc").get_data(as_text=True)
    names = re.findall(r"(Llegó \d|Faltó Uno)", sorted_html)
    assert names == sorted(names, key=str.lower) or names == sorted(names)

    csv_text = client.get(f"/d/{ar.code}/reports/export?format=csv&report=appointments&preset=last_30_days"
                          "&f_result=arrived").get_data(as_text=True).lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(csv_text)))
    assert rows[0][0] == "Appointment" and len(rows) == 4
    assert {r[1] for r in rows[1:]} == {"Llegó 0", "Llegó 1", "Llegó 2"}
    xlsx = client.get(f"/d/{ar.code}/reports/export?format=xlsx&report=appointments&preset=last_30_days"
                      "&f_result=arrived")
    assert xlsx.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = list(load_workbook(io.BytesIO(xlsx.data), read_only=True).active.iter_rows(values_only=True))
    assert len(sheet) == 4 and sheet[0][0] == "Appointment"


def test_reports_are_for_managers(client, dealers, login_as):
    ar, _ = dealers
    login_as("caller", ar)
    assert client.get(f"/d/{ar.code}/reports").status_code == 403
    assert client.get(f"/d/{ar.code}/reports/export?format=csv").status_code == 403
