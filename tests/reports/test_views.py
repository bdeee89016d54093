"""Reports over HTTP: ranges, KPIs, the grid with filters, sorting and pie, CSV/XLSX exports."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta

from openpyxl import load_workbook

from boxes.db import utcnow
from tests import factories
from tests.html import every, one, own_text, text


def _data(db, ar, br):
    now = utcnow()
    for i in range(3):
        factories.appointment(db, ar, now - timedelta(hours=1 + i), status="fulfilled", name=f"Llegó {i}")
    factories.appointment(db, ar, now - timedelta(days=1), status="no_show", name="Faltó Uno")
    factories.appointment(db, br, now - timedelta(hours=2), status="fulfilled", name="Bravo Secret")


def _customers(html: str) -> list[str]:
    """The customer cells of the grid's rows, in order."""
    return [text(cell) for cell in every(html, "td") if re.fullmatch(r"Llegó \d|Faltó Uno", text(cell))]


def test_report_page_runs_nothing_inline_and_sends_the_pie_as_data(client, db, dealers, login_as):
    """Under ``script-src 'self'`` nothing inline runs: the page and its fragments carry the pie as
    JSON data and one script file that draws it (and loads plotly.js)."""
    ar, br = dealers
    _data(db, ar, br)
    login_as("manager", ar, locale="es")
    full = client.get(f"/d/{ar.code}/reports?report=appointments&preset=last_30_days").get_data(as_text=True)
    fragment = client.get(f"/d/{ar.code}/reports?report=appointments&preset=last_30_days",
                          headers={"HX-Request": "true", "HX-Current-URL": f"http://x/d/{ar.code}/reports"})
    nav = client.get(f"/d/{ar.code}/reports", headers={"HX-Request": "true"}).get_data(as_text=True)
    for html in (full, fragment.get_data(as_text=True), nav):
        for script in every(html, "script"):
            assert script.get("src", "").startswith("/") or script.get("type") == "application/json", script
        assert not every(html, "style, [style]")
        assert len(every(html, 'script[src="/static/js/reports.js"]')) == 1
    assert not every(fragment, "html")
    assert one(full, '[data-plotly-js="/assets/plotly.min.js"]') and one(full, '[data-plotly-css="/assets/plotly.css"]')
    figure = json.loads(one(full, 'script[type="application/json"][data-pie-figure]').string)
    assert figure["data"][0]["values"] == [3, 1] and figure["layout"]["separators"] == ",."
    assert "75,0%" in text(one(full, '[data-kpi="show_rate"]'))
    no_show = one(full, '[data-slice="no_show"]')
    assert no_show["data-count"] == "1" and text(no_show) == "1"
    share = no_show.find_parent("td").find_next_sibling("td")
    assert share.has_attr("data-share") and text(share) == "25,0%"
    assert "Bravo Secret" not in full
    assert one(nav, "[data-badges-loader]")["hx-get"] == "/d/AR01/badges?button=reports"  # the bar follows, fetched
    css = client.get("/assets/plotly.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert ".js-plotly-plot .plotly .main-svg{position:absolute;" in css.get_data(as_text=True)


def test_a_first_click_on_a_column_sorts_up_and_the_next_reverses(client, db, dealers, login_as):
    ar, br = dealers
    _data(db, ar, br)
    login_as("manager", ar, locale="en")
    base = f"/d/{ar.code}/reports/grid?report=appointments&preset=last_30_days"

    def sort_links(url):
        html = client.get(url).get_data(as_text=True)
        return {link["data-sort"]: link["data-dir"] for link in every(html, "[data-sort][data-dir]")}, html

    links, html = sort_links(base)  # sorted by the first column, newest first
    assert links["customer"] == "asc" and links["scheduled_at"] == "asc"
    assert every(html, '[aria-sort="descending"]')
    links, html = sort_links(f"{base}&sort=customer&dir=asc")
    assert links["customer"] == "desc" and links["service_type"] == "asc" and every(html, '[aria-sort="ascending"]')
    names = _customers(html)
    assert names == sorted(names) and len(names) == 4
    links, _ = sort_links(f"{base}&sort=customer&dir=desc")
    assert links["customer"] == "asc"


def test_bad_custom_range_is_422_with_field_error(client, db, dealers, login_as):
    ar, _ = dealers
    login_as("manager", ar)
    r = client.get(f"/d/{ar.code}/reports?report=callers&preset=custom&start=2026-03-10&end=2026-03-01")
    assert r.status_code == 422 and one(r, '[data-error="end"]')


def test_grid_filter_sort_pie_and_exports_match(client, db, dealers, login_as):
    ar, br = dealers
    _data(db, ar, br)
    login_as("manager", ar, locale="en")
    base = f"/d/{ar.code}/reports/grid?report=appointments&preset=last_30_days"
    html = client.get(f"{base}&pie=result").get_data(as_text=True)
    counts = {pie["data-slice"]: pie["data-count"] for pie in every(html, "[data-slice][data-count]")}
    assert counts == {"arrived": "3", "no_show": "1"}
    for value, n in counts.items():
        filtered = client.get(f"{base}&f_result={value}").get_data(as_text=True)
        assert len(every(filtered, "tr[data-row]")) == int(n)
        assert f"{n} rows" in filtered
    by_customer = client.get(f"{base}&f_result=arrived&pie=customer")
    assert by_customer.status_code == 200, by_customer.get_data(as_text=True)[-3000:]
    assert len(every(by_customer, '[data-count="1"]')) == 3
    sorted_html = client.get(f"{base}&sort=customer&dir=asc").get_data(as_text=True)
    names = _customers(sorted_html)
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


def test_translations_of_the_range_and_of_counts(client, db, dealers, login_as):
    """The range's end reads "Hasta"/"Até" (not "Para", the recipient's "To"); "Discarded" counts
    read as plurals beside "Abiertas", "Vendidas"; a count before a noun takes its plural form."""
    ar, _ = dealers
    now = utcnow()
    factories.opportunity(db, ar, now + timedelta(days=3), created_at=now - timedelta(minutes=5), status="discarded")
    factories.opportunity(db, ar, now + timedelta(days=3), created_at=now - timedelta(minutes=6), status="sold")
    user = login_as("manager", ar, locale="es")
    for locale, to, discarded, one_row in (("es", "Hasta", "Descartadas", "1 fila"), ("pt_BR", "Até", "Descartadas",
                                                                                      "1 linha")):
        user.locale = locale
        db.commit()
        html = client.get(f"/d/{ar.code}/reports?report=opportunities&preset=last_30_days").get_data(as_text=True)
        assert text(one(html, 'label[for="range-end"]')) == to
        assert text(one(html, '[data-kpi="discarded"] > div:first-child')) == discarded
        grid = client.get(f"/d/{ar.code}/reports/grid?report=opportunities&preset=last_30_days&f_state=sold")
        assert one_row in [own_text(element) for element in every(grid, "*")]
