"""Accessibility in Chromium: axe-core over every page, and the board from the keyboard alone.

The crawler walks the app's URL map as the tenancy crawler does (``tests/test_tenancy.py``), logged
in with every role at a dealer populated with rows in every state, and runs axe-core (npm,
``node_modules/axe-core``, pinned in package.json) in each page: no violation of impact "critical" or
"serious" may remain (nor the rules issue 12 named). A GET route that is neither visited nor listed
in ``EXCLUDED`` with a reason fails the test, so a page is checked the day it is added; a route that
never rendered (only 403/404) fails too. axe is injected through Playwright's ``page.evaluate`` (the
DevTools protocol), which the page's Content-Security-Policy does not govern: no inline script is
added to the page.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from boxes.board.contact import SUBJECTS
from boxes.campaigns import search
from boxes.campaigns.selection import Searches
from boxes.db import utcnow
from boxes.models import Campaign, DiscardReason, Membership, OutboundMessage, SyncRun, User
from tests import factories
from tests.board_screen import settle
from tests.browser.login import log_in
from tests.conftest import missing
from tests.test_tenancy import ID_ARGS, QUERY_VARIANTS, populate

pytestmark = pytest.mark.browser

AXE_JS = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
ROLES = ("admin", "caller", "manager", "campaigns")
BLOCKING_IMPACTS = ("critical", "serious")
# Rules issue 12 named although axe rates them "minor": they stay at zero too.
BLOCKING_RULES = ("empty-table-header",)

# GET routes the crawler does not open as pages, and why (where their markup is checked instead).
EXCLUDED = {
    "static": "files (CSS, JS, the favicon), not pages",
    "favicon": "an image (tests/test_help_and_icon.py checks it is served and linked)",
    "assets.plotly_js": "a script (plotly.min.js), not a page",
    "assets.plotly_stylesheet": "a stylesheet (plotly.js's own CSS), not a page",
    "health.healthz": "JSON for load balancers, not a page",
    "reports.export": "a CSV/XLSX download, not a page",
    "board.badge_counts": "the button bar polled by the board: checked inside every board page",
}
# The board's lists (an OEM lead's row among them: ``populate``): also checked in the two other locales, with
# the managers' distribution queue of OEM leads.
BOARD_PAGES = ("board.deliveries_list", "board.opportunities_list", "board.appointments_list",
               "board.in_process_list", "board.completed_list", "reports.index", "campaigns.campaigns_list",
               "lead_queue.index")

RUN_AXE = """async (include) => {
  const parts = include && include.filter(selector => document.querySelector(selector));
  const result = await axe.run(parts ? {include: parts} : document, {resultTypes: ["violations"]});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.map(n => n.target.join(" ") + " ["
      + n.any.concat(n.all, n.none).map(c => c.message).join("; ") + "]")}));
}"""


# What differs between roles on a page: the navigation and the board's buttons.
ROLE_CHROME = ["body > nav", "#board-buttons"]


def axe_violations(page, include: list[str] | None = None) -> list[dict]:
    """axe-core's blocking violations in the page as it is now (or in the ``include`` selectors)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        if not AXE_JS.exists():
            missing(f"axe-core not installed at {AXE_JS} (make assets)")
        page.evaluate(AXE_JS.read_text())
    found = page.evaluate(RUN_AXE, include)
    return [v for v in found if v["impact"] in BLOCKING_IMPACTS or v["id"] in BLOCKING_RULES]


@dataclass
class Crawl:
    base: str
    # (rule, impact, help) → element → pages: one line per element, not one per page
    violations: dict[tuple, dict[str, list[str]]] = field(default_factory=dict)
    statuses: dict[str, set[int]] = field(default_factory=dict)  # endpoint → statuses seen
    failed_loads: list[str] = field(default_factory=list)  # subresources answering 4xx/5xx
    checked: int = 0

    def visit(self, page, url: str, who: str, endpoint: str | None, *, run_axe: bool = True) -> int:
        failed: list[str] = []

        def listener(response):  # the page's own status is expected (403, 404): its resources must load
            if response.status >= 400 and response.request.resource_type != "document":
                failed.append(f"{response.status} {response.url}")

        page.on("response", listener)
        response = page.goto(url)
        settle(page)
        page.remove_listener("response", listener)
        status = response.status if response else 0
        if endpoint:
            self.statuses.setdefault(endpoint, set()).add(status)
        self.failed_loads += [f"{who} {url}: {f}" for f in failed]
        if run_axe:
            self.check(page, f"{who} {url.removeprefix(self.base)} ({status})")
        return status

    def check(self, page, where: str, include: list[str] | None = None) -> None:
        self.checked += 1
        for v in axe_violations(page, include):
            elements = self.violations.setdefault((v["id"], v["impact"], v["help"]), {})
            for target in v["targets"]:
                elements.setdefault(re.sub(r"-\d+\b", "-N", target), []).append(where)

    def report(self) -> str:
        lines = [f"axe: blocking violations in the {self.checked} pages checked:"]
        for (rule, impact, help_), elements in sorted(self.violations.items()):
            pages = {p for found in elements.values() for p in found}
            lines.append(f"{impact} {rule}: {help_} ({len(pages)} pages)")
            for target, found in sorted(elements.items()):
                more = f" and {len(found) - 1} more" if len(found) > 1 else ""
                lines.append(f"    {target}  — on {found[0]}{more}")
        return "\n".join(lines)


@pytest.fixture
def world(db, dealers, redis):
    """Dealer A populated as the tenancy crawler does, one user per role; the admin also works for
    dealer B (the dealer switcher shows); every user has a saved campaign search with a list report."""
    ar, br = dealers
    populate(db, ar, "Alfa")
    populate(db, br, "Bravo")
    ar.support_contact = "Mesa de ayuda: soporte@autosdelplata.example"
    users = {role: factories.user(db, role=role, dealer=ar, name=f"{role.title()} User",
                                  email=f"{role}@test.example") for role in ROLES}
    db.add(Membership(user_id=users["admin"].id, dealer_id=br.id, role="admin"))
    db.commit()
    chosen = every_row_state(db, ar)
    searches = {}
    text = "8AGTEST0000000001\nNOT-A-VIN\n9BWZZZ377VT004251"
    for role, user in users.items():
        ids, report = search.resolve_list(db, ar, "vin", text)
        criteria = search.Criteria(id_kind="vin", vehicle_ids=ids)
        searches[role] = Searches(redis, ar.id, user.id).save(criteria, report)
    return ar, br, users, searches, chosen


def every_row_state(db, dealer):
    """Rows in the states the tenancy data lacks, so every colour and badge of a list is on a page:
    overdue, today's, sold and discarded opportunities; calls done; a declined repair with
    incidents; reminders sent, queued, failed and not sent; campaigns processing and failed; a sync
    running; an inactive discard reason."""
    now = utcnow()
    reason = db.scalar(select(DiscardReason).where(DiscardReason.dealer_id == dealer.id).limit(1))
    inactive = db.scalar(select(DiscardReason).where(DiscardReason.dealer_id == dealer.id,
                                                     DiscardReason.id != reason.id).limit(1))
    inactive.active = False
    db.add(SyncRun(dealer_id=dealer.id, entity="customers", status="running"))
    factories.opportunity(db, dealer, now - timedelta(days=3), name="Overdue Open")
    factories.opportunity(db, dealer, now - timedelta(days=2), name="Overdue Discarded", status="discarded",
                          discard_reason_id=reason.id)
    factories.opportunity(db, dealer, now, name="Today Sold", status="sold",
                          sold_appointment_at=now + timedelta(days=1))
    factories.opportunity(db, dealer, now + timedelta(days=3), name="Upcoming Discarded", status="discarded",
                          discard_reason_id=reason.id)
    factories.delivery(db, dealer, now - timedelta(days=3), name="Welcome Done",
                       welcome_call_at=now - timedelta(days=1))
    declined = factories.repair_order(db, dealer, now - timedelta(days=5), delivered_at=now - timedelta(days=2),
                                      status="delivered", courtesy_call_at=now - timedelta(hours=5),
                                      name="Courtesy Done",
                                      lines=[("Service 20.000 km", "OK", "", False),
                                             ("Pastillas de freno", "Rechazado", "Ruido al frenar", True)])
    factories.repair_order(db, dealer, now - timedelta(days=10), name="Old In Process")
    factories.appointment(db, dealer, now.replace(hour=9), status="arrived", arrived_at=now.replace(hour=9, minute=5),
                          name="Arrived Today")
    messages = []
    for status, reason_code, error in (("queued", "", ""), ("failed", "smtp_error", "421 try later"),
                                       ("skipped", "opt_out", ""), ("queued", "smtp_error", "timeout")):
        a = factories.appointment(db, dealer, now + timedelta(days=2), status="requested", name=f"Reminder {status}")
        messages.append(OutboundMessage(dealer_id=dealer.id, appointment_id=a.id, kind="reminder",
                                        scheduled_for=now, to_address="cliente@mail.example", subject="Recordatorio",
                                        status=status, reason=reason_code, error=error, attempts=1))
    campaigns = [Campaign(dealer_id=dealer.id, name="Processing Campaign", kind="technical_note",
                          status="processing", units_total=10, units_processed=4),
                 Campaign(dealer_id=dealer.id, name="Failed Campaign", kind="other", status="failed",
                          units_total=10, units_processed=2)]
    db.add_all(messages + campaigns)
    db.commit()
    first_campaign = db.scalar(select(Campaign.id).where(Campaign.dealer_id == dealer.id).order_by(Campaign.id))
    return {"customer_id": [declined.customer_id], "campaign_id": [first_campaign] + [c.id for c in campaigns],
            "message_id": [messages[1].id]}


def _fill(db, rule, dealer, chosen: dict) -> list[str]:
    """Every URL of the rule at the dealer: one per subject kind, and one per chosen id where the
    world picked rows in several states (a campaign running and one failed...); else the first row."""
    subjects = list(SUBJECTS) if "subject" in rule.arguments else [None]
    paths = []
    for subject in subjects:
        values: dict[str, list] = {}
        for arg in rule.arguments:
            if arg == "dealer_code":
                values[arg] = [dealer.code]
            elif arg == "subject":
                values[arg] = [subject]
            elif arg == "subject_id":
                model = SUBJECTS[subject][0]
                values[arg] = [db.scalar(select(model.id).where(model.dealer_id == dealer.id).limit(1))]
            elif arg in chosen:
                values[arg] = chosen[arg]
            elif arg in ID_ARGS:
                model = ID_ARGS[arg]
                if model is User:
                    values[arg] = [db.scalar(select(Membership.user_id).where(Membership.dealer_id == dealer.id))]
                else:
                    values[arg] = [db.scalar(select(model.id).where(model.dealer_id == dealer.id).limit(1))]
            else:
                pytest.fail(f"route {rule.rule} has argument {arg!r} the accessibility crawler cannot fill")
        for combination in itertools.product(*values.values()):
            paths.append(rule.build(dict(zip(values, combination, strict=True)), append_unknown=False)[1])
    return list(dict.fromkeys(paths))


def logout(page):
    page.context.clear_cookies()


def test_axe_finds_no_serious_violation_on_any_page(browser, live_server, app, db, world):
    ar, br, users, searches, chosen = world
    app.config["BOXES"].support_contact = "Boxes: https://soporte.boxes.example"
    crawl = Crawl(live_server)
    page = browser.new_page()
    page.set_default_timeout(30_000)  # a few hundred pages on a shared machine: the slowest loads plotly.js
    # Before any login: the login page, and a 404 before any dealer is known.
    crawl.visit(page, f"{live_server}/login", "anonymous", "auth.login")
    crawl.visit(page, f"{live_server}/no-such-page", "anonymous", None)

    get_rules = [r for r in app.url_map.iter_rules() if "GET" in r.methods and r.endpoint not in EXCLUDED]
    for role in ROLES:
        log_in(page, live_server, users[role].email, landing=None)
        error_page_checked = False
        for rule in get_rules:
            urls = []
            for path in _fill(db, rule, ar, chosen):
                variants = QUERY_VARIANTS.get(rule.endpoint, [""])
                if rule.endpoint == "campaigns.new":
                    variants = ["", f"search={searches[role]}"]
                urls += [f"{live_server}{path}" + (f"?{q}" if q else "") for q in variants]
            # The admin sees every page in every variant. The other roles see each page once; a page
            # differs between roles only by its navigation (the admin's whole page is checked), and
            # their error pages (403) are one template: its first one is checked whole.
            for url in (urls if role == "admin" else urls[:1]):
                status = crawl.visit(page, url, role, rule.endpoint, run_axe=False)
                where = f"{role} {url.removeprefix(live_server)} ({status})"
                if role == "admin" or (status != 200 and not error_page_checked):
                    crawl.check(page, where)
                    error_page_checked |= status != 200
                elif status == 200:
                    crawl.check(page, where, ROLE_CHROME)
        # A 404 inside the dealer (the dealer's footer), and one at another dealer's URL.
        crawl.visit(page, f"{live_server}/d/{ar.code}/opportunities/999999999/discard", role, None)
        crawl.visit(page, f"{live_server}/d/NOPE/board/opportunities", role, None)
        logout(page)

    # The board in the other two locales.
    for locale in ("pt_BR", "en"):
        users["admin"].locale = locale
        db.commit()
        log_in(page, live_server, users["admin"].email, landing=None)
        for endpoint in BOARD_PAGES:
            for path in _fill(db, next(app.url_map.iter_rules(endpoint)), ar, chosen):
                crawl.visit(page, f"{live_server}{path}", f"admin/{locale}", endpoint)
        logout(page)

    # A user of no dealer.
    nobody = factories.user(db, role="caller", dealer=br, email="nobody@test.example")
    db.execute(delete(Membership).where(Membership.user_id == nobody.id))
    db.commit()
    log_in(page, live_server, "nobody@test.example", landing=None)
    assert crawl.visit(page, f"{live_server}/", "no dealer", "auth.home") == 403

    every_get = {r.endpoint for r in app.url_map.iter_rules() if "GET" in r.methods}
    assert not set(EXCLUDED) - every_get, f"excluded but gone: {sorted(set(EXCLUDED) - every_get)}"
    unvisited = every_get - set(EXCLUDED) - set(crawl.statuses)
    assert not unvisited, f"GET routes neither visited nor excluded with a reason: {sorted(unvisited)}"
    never_rendered = {e: s for e, s in crawl.statuses.items() if 200 not in s}
    assert not never_rendered, f"pages that never rendered: {never_rendered}"
    assert not crawl.failed_loads, "resources that failed to load:\n" + "\n".join(crawl.failed_loads)
    assert not crawl.violations, crawl.report()


# --- the keyboard and the screen reader ---------------------------------------------------------

FOCUSED_ID = "document.activeElement && document.activeElement.id"
# Every live region of the page (what a screen reader announces when it changes).
LIVE_REGIONS = """Array.from(document.querySelectorAll(
  '[aria-live]:not([aria-live=off]), [role=status], [role=log], [role=alert], [role=marquee], [role=timer], output'))
  .map(el => el.id || el.outerHTML.slice(0, 80))"""


def tab_until(page, selector: str, limit: int = 30) -> int:
    """Press Tab until the focused element matches ``selector``; the number of presses."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return presses
    at = page.evaluate("document.activeElement.outerHTML.slice(0, 120)")
    raise AssertionError(f"{selector} not reached in {limit} Tabs (at {at})")


@pytest.fixture
def caller_board(db, dealers, board_caller):
    ar = dealers[0]
    now = utcnow()
    rows = [factories.opportunity(db, ar, now - timedelta(days=2 - i), name=f"Cliente {i}") for i in range(3)]
    factories.appointment(db, ar, now + timedelta(days=2), status="requested", name="Turno A Confirmar")
    return ar, rows


def submit_from_the_keyboard(page, answer: str) -> None:
    """Tab to the action panel's submit button and press Enter; wait for ``answer`` (the confirmation
    or a field's error) and for htmx to settle."""
    tab_until(page, "#action-panel button[type=submit]")
    page.keyboard.press("Enter")
    page.wait_for_selector(answer)
    settle(page)


def test_keyboard_skip_link_then_focus_returns_to_the_row_and_only_outcomes_are_announced(
        browser, live_server, caller_board):
    ar, rows = caller_board
    page = browser.new_page()
    log_in(page, live_server, "caller@test.example", landing=None)
    page.wait_for_url(re.compile(r"/board/opportunities"))
    settle(page)
    assert page.evaluate(LIVE_REGIONS) == ["announcer"], "the list and the panel are not live regions"

    # One Tab: the skip link, visible; Enter: the first row of the list.
    page.keyboard.press("Tab")
    skip = page.locator("[data-skip-link]")
    assert page.evaluate("document.activeElement.matches('[data-skip-link]')")
    box = skip.bounding_box()
    assert box and box["width"] > 40 and box["height"] > 15 and box["y"] >= 0, f"the skip link is not visible: {box}"
    assert skip.inner_text() == "Saltar a la lista"
    page.keyboard.press("Enter")
    first = page.evaluate("document.querySelector('#board-list tr[data-row]').id")
    assert page.evaluate(FOCUSED_ID) == first

    # The second row's main action, from the keyboard: register a call.
    page.keyboard.press("ArrowDown")
    row_id = page.evaluate(FOCUSED_ID)
    assert row_id == f"opportunity-{rows[1].id}"
    following = f"opportunity-{rows[2].id}"
    page.keyboard.press("Enter")
    page.wait_for_selector("#action-panel select[name=outcome]")
    assert page.evaluate("document.activeElement.name") == "outcome"
    # Submitted without an outcome: the focus goes to the field to correct, the error is announced.
    submit_from_the_keyboard(page, '[data-error="outcome"]')
    assert page.evaluate("document.activeElement.name") == "outcome"
    assert page.inner_text("#announcer") == "Elegí el resultado del llamado."
    assert not axe_violations(page), "the form with its errors"
    page.keyboard.press("ArrowDown")  # "Contactado"
    assert page.input_value("#action-panel select[name=outcome]") == "contacted"
    submit_from_the_keyboard(page, "#action-done")
    # The outcome is announced, and the focus is back on the row (redrawn, or the next one if it left the list).
    assert page.inner_text("#announcer") == "Llamado registrado."
    expected = row_id if page.locator(f"#{row_id}").count() else following
    assert page.evaluate(FOCUSED_ID) == expected, "after the action the focus must return to the row"
    assert page.evaluate(LIVE_REGIONS) == ["announcer"]

    # Esc closes the panel and leaves the focus on the row; Tab walks into the row's buttons:
    # discard the overdue first row with a reason. The finished row (grey) still reads well.
    page.keyboard.press("ArrowUp")
    assert page.evaluate(FOCUSED_ID) == first
    page.keyboard.press("Escape")
    assert page.evaluate(FOCUSED_ID) == first
    tab_until(page, f"#{first} button[hx-get$='/discard']")
    page.keyboard.press("Enter")
    page.wait_for_selector("#action-panel select[name=reason_id]")
    page.keyboard.press("ArrowDown")
    submit_from_the_keyboard(page, "#action-done")
    assert page.inner_text("#announcer") == "Oportunidad descartada."
    assert page.evaluate(FOCUSED_ID) in (first, row_id)
    assert page.locator(f"#{first}[data-status=discarded]").count() in (0, 1)
    found = axe_violations(page)
    assert not found, found

    # Moving to another list announces nothing (the list is not a live region).
    page.evaluate("document.getElementById('announcer').textContent = ''")
    page.click('a[data-button="deliveries"]')
    page.wait_for_function("document.querySelector('a[data-button=deliveries]').classList.contains('active')")
    settle(page)
    assert page.inner_text("#announcer") == ""

    # A button of the row itself (the email reminder) is swapped away by its outcome: the focus stays
    # in the row, and the outcome is announced.
    page.goto(f"{live_server}/d/{ar.code}/board/appointments")
    settle(page)
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    appointment_row = page.evaluate(FOCUSED_ID)
    assert appointment_row.startswith("appointment-")
    tab_until(page, "button[data-send-reminder]")
    page.keyboard.press("Enter")
    page.wait_for_function("document.getElementById('announcer').textContent.includes('Recordatorio por email')")
    settle(page)
    assert page.inner_text("#announcer") == "Recordatorio por email: En cola"
    assert page.evaluate(FOCUSED_ID) == appointment_row


def test_keyboard_focus_stays_on_the_filter_that_redrew_the_list(browser, live_server, db, caller_board):
    """A filter link or field is inside the list it redraws: the focus stays on it, not on <body>."""
    ar, _ = caller_board
    factories.delivery(db, ar, utcnow() - timedelta(days=1), name="Entrega Uno")
    factories.user(db, role="manager", dealer=ar, email="manager@test.example")
    page = browser.new_page()
    page.set_default_timeout(30_000)  # the reports page loads plotly.js
    log_in(page, live_server, "manager@test.example", landing=None)
    page.goto(f"{live_server}/d/{ar.code}/board/deliveries")
    settle(page)
    tab_until(page, "#board-list a[href*='welcome=done']")
    page.keyboard.press("Enter")
    page.wait_for_selector("#board-list a[href*='welcome=done'][aria-current]")
    settle(page)
    assert page.evaluate("document.activeElement.getAttribute('href')").endswith("welcome=done&page=1")

    page.goto(f"{live_server}/d/{ar.code}/reports/grid?report=opportunities&preset=last_30_days")
    settle(page)
    tab_until(page, "#grid-form select[name^='f_']", limit=80)
    name = page.evaluate("document.activeElement.name")
    page.keyboard.press("ArrowDown")
    page.wait_for_function("n => new URL(location.href).searchParams.get(n)", arg=name)
    settle(page)
    focused = page.evaluate("[document.activeElement.form && document.activeElement.form.id,"
                            " document.activeElement.name]")
    assert focused == ["grid-form", name]


def test_no_template_has_an_empty_table_header():
    """A header cell with nothing to read (the actions column) is "empty-table-header" to axe; the crawler
    only meets a table when its page has rows (a running sync's cursors, a pending invitation): this
    catches the ones it does not reach."""
    root = Path(__file__).resolve().parents[2] / "templates"
    empty = re.compile(r"<th(\s[^>]*)?>\s*</th>")
    found = [f"{p.relative_to(root)}:{n}" for p in sorted(root.rglob("*.html"))
             for n, line in enumerate(p.read_text().splitlines(), 1) if empty.search(line)]
    assert not found, f"empty <th> (give it a visually hidden label): {found}"
