"""Chromium: a manager opens a report, changes the range, switches to the grid, filters, exports."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from boxes.db import utcnow
from tests import factories
from tests.browser.login import log_in

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
    log_in(page, live_server, "manager@test.example", landing=r"/board/")

    page.click('a[data-button="reports"]')  # an htmx fragment: plotly.js is loaded once, on demand
    page.wait_for_url(re.compile(r"/reports"))
    page.click('#report-tabs a[data-report="appointments"]')
    page.wait_for_function("document.querySelector('#report-tabs a.active').dataset.report === 'appointments'")
    page.select_option("#range-preset", "last_30_days")
    page.wait_for_function("document.querySelector('[data-kpi=show_rate] .kpi-value').innerText.includes('75')")
    page.wait_for_selector(".report-pie .js-plotly-plot .main-svg", timeout=30_000)  # the pie was drawn
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


# --- pies under a strict Content-Security-Policy, through in-place refreshes --------------------

STRICT_CSP = "script-src 'self'; style-src 'self'"

# Records every CSP violation of every document the page opens (an init script runs before the
# page's own scripts and is not subject to the page's policy).
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(
  [e.effectiveDirective, e.blockedURI, e.sourceFile + ":" + e.lineNumber, e.sample].join(" ")));
"""

# A point inside a pie slice's fill, in page coordinates: a hover there must show the tooltip.
POINT_IN_SLICE = """(path) => {
  const box = path.getBBox(), ctm = path.getScreenCTM();
  for (let i = 1; i < 20; i++) for (let j = 1; j < 20; j++) {
    const p = new DOMPoint(box.x + box.width * i / 20, box.y + box.height * j / 20);
    if (path.isPointInFill(p)) { const s = p.matrixTransform(ctm); return [s.x, s.y]; }
  }
  return null;
}"""

# The pie's own checks: one stack of SVG layers (title and legend over the chart, not below it),
# the legend inside the chart's box and above the counts table, the toolbar styled by plotly's CSS.
PIE_LAYOUT = """(block) => {
  const graph = block.querySelector(".js-plotly-plot");
  if (!graph) return "no plotly graph";
  const box = graph.getBoundingClientRect();
  const svgs = Array.from(graph.querySelectorAll(".main-svg"));
  const tops = new Set(svgs.map((s) => Math.round(s.getBoundingClientRect().top)));
  if (tops.size !== 1) return "svg layers not stacked: " + Array.from(tops);
  const legend = graph.querySelector(".legend").getBoundingClientRect();
  if (legend.top < box.top - 1 || legend.bottom > box.bottom + 1) return "legend outside the chart";
  const title = graph.querySelector(".gtitle");
  if (title && title.getBoundingClientRect().bottom > box.top + 60) return "title not at the top";
  const table = block.querySelector(".pie-counts").getBoundingClientRect();
  if (table.top < box.bottom - 1 && table.left < box.right - 1) return "counts table under the chart";
  const modebar = graph.querySelector(".modebar");
  if (!modebar || getComputedStyle(modebar).position !== "absolute") return "toolbar unstyled";
  return "ok";
}"""


def _strict_csp_everywhere_but_login(app):
    """The reports page under the policy the app's global header sets (script-src 'self';
    style-src 'self'); set here so the test holds whichever branch adds the header."""
    from flask import request

    @app.after_request
    def _csp(response):
        if request.path != "/login":
            response.headers["Content-Security-Policy"] = STRICT_CSP
        return response


def _login_manager(browser, live_server, db, dealer, locale="es"):
    factories.user(db, role="manager", dealer=dealer, email="manager@test.example", name="Mara Manager",
                   locale=locale)
    page = browser.new_page()
    page.set_viewport_size({"width": 1440, "height": 900})
    page.add_init_script(RECORD_VIOLATIONS)
    problems = []
    page.on("pageerror", lambda e: problems.append(f"pageerror {e}"))
    page.on("console", lambda m: "Content Security Policy" in m.text and problems.append(m.text))
    page.on("response", lambda r: r.status >= 400 and "favicon" not in r.url and problems.append(f"{r.status} {r.url}"))
    log_in(page, live_server, "manager@test.example", landing=r"/board/")
    return page, problems


def _wait_until(page, expression: str, timeout: float = 10.0):
    """``page.wait_for_function`` without its in-page ``eval``, which the strict CSP refuses."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {timeout} s: {expression}"
        time.sleep(0.05)


def _settled(page):
    _wait_until(page, "!document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping')")


def _assert_pie_works(page, block=".report-pie"):
    """The pie of ``block`` is drawn, laid out as plotly means it, with a styled toolbar and a
    tooltip on hover — checked after every in-place refresh."""
    _settled(page)
    # The first pie of a page waits for plotly.js (4.8 MB from the test server, on a busy machine).
    page.wait_for_selector(f"{block} .slice path.surface", timeout=30_000)
    assert page.eval_on_selector(block, PIE_LAYOUT) == "ok"
    point = page.eval_on_selector(f"{block} .slice path.surface", POINT_IN_SLICE)
    assert point is not None
    page.mouse.move(*point)
    page.wait_for_selector(f"{block} .hoverlayer .hovertext", timeout=5_000)
    page.mouse.move(1, 1)


@pytest.mark.parametrize("strict_csp", [False, True], ids=["no-csp", "strict-csp"])
def test_pies_survive_in_place_refreshes(browser, live_server, app, db, dealers, strict_csp):
    """After a range change, a grid filter, a sort or another pie column (htmx swaps in place) the pie
    keeps its layout, toolbar and tooltips — also under the strict CSP, with no violation at all."""
    ar, _ = dealers
    now = utcnow()
    for i, status in enumerate(["fulfilled", "fulfilled", "fulfilled", "no_show", "cancelled", "cancelled"]):
        factories.appointment(db, ar, now - timedelta(days=2, hours=i), status=status, name=f"Cliente Pie {i}")
    if strict_csp:
        _strict_csp_everywhere_but_login(app)
    page, problems = _login_manager(browser, live_server, db, ar)

    page.click('a[data-button="reports"]')  # a fragment into the board's page: plotly.js loads on demand
    page.wait_for_url(re.compile(r"/reports"))
    page.click('#report-tabs a[data-report="appointments"]')
    _wait_until(page, "document.querySelector('#report-tabs a.active').dataset.report === 'appointments'")
    _settled(page)
    page.select_option("#range-preset", "last_30_days")  # the range changes in place
    _wait_until(page, "document.querySelector('[data-kpi=show_rate] .kpi-value').innerText.includes('75')")
    _assert_pie_works(page)
    page.select_option("#range-preset", "this_week")
    _wait_until(page, "document.querySelector('#range-preset').value === 'this_week'")
    page.select_option("#range-preset", "last_30_days")
    _wait_until(page, "document.querySelector('[data-kpi=show_rate] .kpi-value').innerText.includes('75')")
    _assert_pie_works(page)

    page.click("#view-grid")
    page.wait_for_selector("#report-grid")
    _assert_pie_works(page)
    page.select_option('select[name="f_result"]', "arrived")  # a filter
    _wait_until(page, "document.querySelectorAll('#report-grid tbody tr[data-row]').length === 3")
    _assert_pie_works(page)
    page.click('#report-grid a[data-sort="customer"]')  # a sort
    page.wait_for_url(re.compile(r"sort=customer"))
    _assert_pie_works(page)
    page.select_option("#pie-column", "customer")  # another column's pie
    _wait_until(page, "document.querySelector('[data-pie-counts]').dataset.pieCounts === 'customer'")
    _assert_pie_works(page)
    assert page.evaluate("document.querySelectorAll('script[src*=\"plotly.min.js\"]').length") == 1

    page.reload()  # a direct load of the grid, under the policy from the start
    _assert_pie_works(page)
    assert page.evaluate("window.__violations") == []
    assert problems == []


def test_small_slices_fit_and_percentages_follow_the_locale(browser, live_server, db, dealers):
    """One dominant slice and a few tiny ones: no label is cut off or lies on another, and the shares
    read as the KPIs do (a decimal comma in Spanish)."""
    ar, _ = dealers
    now = utcnow()
    for i in range(300):
        factories.appointment(db, ar, now - timedelta(days=1, minutes=i), status="fulfilled")
    factories.appointment(db, ar, now - timedelta(days=2), status="no_show")
    for status in ("cancelled", "requested", "confirmed"):
        factories.appointment(db, ar, now + timedelta(days=2), status=status,
                              **({"confirmed_at": now} if status == "confirmed" else {}))
    page, problems = _login_manager(browser, live_server, db, ar)
    today = now.astimezone(ZoneInfo(ar.time_zone)).date()
    page.goto(f"{live_server}/d/{ar.code}/reports?report=appointments&apply=1&start={today - timedelta(days=10)}"
              f"&end={today + timedelta(days=10)}", wait_until="domcontentloaded")
    page.wait_for_selector(".report-pie .js-plotly-plot .slice path.surface", timeout=30_000)
    texts = page.eval_on_selector(".report-pie .js-plotly-plot", """(graph) => {
      const svg = graph.querySelector(".main-svg").getBoundingClientRect();
      return Array.from(graph.querySelectorAll("text.slicetext")).filter((t) => {
        const r = t.getBoundingClientRect(), style = getComputedStyle(t);
        return r.width > 0 && style.display !== "none" && style.visibility !== "hidden" && style.opacity !== "0";
      }).map((t) => { const r = t.getBoundingClientRect();
        return {text: t.textContent, top: r.top - svg.top, bottom: r.bottom - svg.top, left: r.left - svg.left,
                right: r.right - svg.left, width: svg.width, height: svg.height}; });
    }""")
    assert texts, "no slice shows its share"
    for t in texts:
        assert t["top"] >= 0 and t["left"] >= 0 and t["bottom"] <= t["height"] and t["right"] <= t["width"], t
    for a, b in ((a, b) for i, a in enumerate(texts) for b in texts[i + 1:]):
        overlap = min(a["right"], b["right"]) - max(a["left"], b["left"]) > 1 and \
            min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > 1
        assert not overlap, (a, b)
    assert any(re.search(r"\d,\d%", t["text"]) for t in texts), texts
    assert not any(re.search(r"\d\.\d+ ?%", t["text"]) for t in texts), texts
    # Every slice's count and share stays readable in the table beside the pie.
    shares = page.eval_on_selector_all('[data-pie-counts="result"] [data-share]',
                                       "(cells) => cells.map((c) => c.innerText)")
    assert "98,7%" in shares and shares.count("0,3%") == 4
    assert problems == []


def test_grid_uses_the_screen_width(browser, live_server, db, dealers):
    """At 1440 px the grid has the page's width: names on one line, the last column in view."""
    ar, _ = dealers
    now = utcnow()
    for i in range(30):
        factories.opportunity(db, ar, now + timedelta(days=3), created_at=now - timedelta(hours=i),
                              name=f"María Fernanda Gutiérrez Etcheverry {i}", status="discarded" if i % 3 else "open")
    page, problems = _login_manager(browser, live_server, db, ar)
    page.goto(f"{live_server}/d/{ar.code}/reports/grid?report=opportunities&preset=this_month",
              wait_until="domcontentloaded")
    page.wait_for_selector("#report-grid tbody tr[data-row]")
    layout = page.evaluate("""() => {
      const table = document.querySelector("#report-grid"), wrapper = table.parentElement;
      const main = document.querySelector("#board-list").getBoundingClientRect();
      const cell = table.querySelector("tbody tr[data-row] td:nth-child(3)");
      const line = parseFloat(getComputedStyle(cell).lineHeight);
      const rows = Array.from(table.querySelectorAll("tbody tr[data-row]"));
      const last = table.querySelector("thead tr th:last-child").getBoundingClientRect();
      return {share: wrapper.getBoundingClientRect().width / main.width,
              clipped: wrapper.scrollWidth > wrapper.clientWidth + 1,
              lastRight: last.right, viewport: window.innerWidth, nameLines: cell.getBoundingClientRect().height / line,
              rowsInView: rows.filter((r) => r.getBoundingClientRect().bottom <= window.innerHeight).length};
    }""")
    assert layout["share"] > 0.95, layout
    assert not layout["clipped"] and layout["lastRight"] <= layout["viewport"], layout
    assert layout["nameLines"] < 2, layout
    assert layout["rowsInView"] >= 10, layout
    assert problems == []


def test_the_served_plotly_css_is_what_plotly_js_injects(browser, live_server):
    """/assets/plotly.css (read out of the installed bundle) holds exactly the rules plotly.js adds
    as <style> when nothing stops it, in the same order: a plotly upgrade that changes them fails here."""
    page = browser.new_page()
    page.goto(f"{live_server}/login", wait_until="domcontentloaded")
    page.add_script_tag(url="/assets/plotly.min.js")
    injected = page.evaluate(
        "Array.from(document.getElementById('plotly.js-style-global').sheet.cssRules).map((r) => r.cssText)")
    served = page.evaluate("""async () => {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(await (await fetch("/assets/plotly.css")).text());
      return Array.from(sheet.cssRules).map((r) => r.cssText);
    }""")
    assert len(injected) > 40 and served == injected
