"""Chromium: every role's pages, and the htmx work on them, run under the strict
Content-Security-Policy without a single violation (no inline script or style, no eval, nothing
htmx injects).

Violations are collected from inside each page (``securitypolicyviolation`` events, registered by
an init script, which the policy does not govern) and from Chromium's console ("Refused to ...").
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from boxes.models import Campaign, OutboundMessage
from tests import factories
from tests.board_screen import open_button

pytestmark = pytest.mark.browser

LISTEN = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(
  `${e.violatedDirective} blocked=${e.blockedURI || "inline"} ` +
  `at ${e.sourceFile || location.pathname}:${e.lineNumber}`));
"""


@pytest.fixture
def dealer(db, dealers):
    ar, _ = dealers
    appt = factories.one_row_per_list(db, ar, ("Julieta Bienvenida", "Oscar Vencido", "Teresa Turno", "Ignacio Taller",
                                               "Carla Cortesia"), opportunity_due=-timedelta(days=2))["appointment"]
    factories.campaign(db, ar, name="Recall airbag", status="processing", units_total=10, units_processed=4)
    # An email as mail clients need it: inline styles (its preview frame has a policy of its own).
    db.add(OutboundMessage(dealer_id=ar.id, appointment_id=appt.id, kind="reminder", scheduled_for=appt.scheduled_at,
                           to_address="teresa@mail.example", subject="Recordatorio", status="sent",
                           body_text="Hola", body_html='<p style="color: #c00">Hola Teresa</p>'))
    db.commit()
    for role in ("caller", "manager", "campaigns", "admin"):
        factories.user(db, role=role, dealer=ar, email=f"{role}@test.example", name=f"{role.title()} User")
    return ar


class Violations:
    def __init__(self, page):
        self.page = page
        self.found: list[str] = []
        page.on("console", self._console)

    def _console(self, message):
        if "Content Security Policy" in message.text or message.text.startswith("Refused to"):
            self.found.append(f"console: {message.text[:300]}")

    def collect(self, where: str) -> None:
        self.page.wait_for_load_state("load")
        for frame in self.page.frames:
            try:
                events = frame.evaluate("window.__csp || []")
            except Exception:  # a sandboxed frame without scripts: its console still reports
                events = []
            self.found += [f"{where}: {e}" for e in events]


def _session(chromium, live_server, role):
    """A browser of its own for this role (own cookies), closed with its page. Not the ``browser``
    fixture: that one bypasses the policy (see conftest)."""
    context = chromium.new_context(locale="es-AR")
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.on("close", lambda _page: context.close())
    page.add_init_script(LISTEN)
    seen = Violations(page)
    page.goto(f"{live_server}/login")
    seen.collect("/login")
    if role != "anonymous":
        page.fill("input[name=email]", f"{role}@test.example")
        page.fill("input[name=password]", factories.PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/d/AR01/"))
    return page, seen


def _visit(page, seen, url):
    response = page.goto(url)
    assert response.status == 200, f"{url}: {response.status}"
    assert "script-src 'self'" in response.headers.get("content-security-policy", ""), f"{url}: no policy"
    seen.collect(url)


def test_every_role_works_without_a_policy_violation(_chromium, live_server, dealer, db):
    d = f"{live_server}/d/{dealer.code}"
    campaign_id = db.scalar(select(Campaign.id).where(Campaign.name == "Recall airbag"))
    for role in ("anonymous", "caller", "manager", "campaigns", "admin"):
        page, seen = _session(_chromium, live_server, role)
        if role == "anonymous":
            page.fill("input[name=email]", "nobody@test.example")
            page.fill("input[name=password]", "wrong-password!")
            page.click("button[type=submit]")
            seen.collect("/login (refused)")
        if role in ("caller", "manager", "campaigns", "admin"):
            _visit(page, seen, f"{d}/board/deliveries")
            # htmx navigation and the action panel, as a caller works.
            for button in ("opportunities", "appointments", "in_process", "completed", "deliveries"):
                open_button(page, button)
            seen.collect("board buttons")
            page.click("#board-list [data-primary] >> nth=0")
            page.wait_for_selector("#action-panel form")
            seen.collect("action panel")
            _visit(page, seen, f"{d}/board/appointments?view=to_confirm")
        if role in ("manager", "admin"):
            _visit(page, seen, f"{d}/settings/")
        if role in ("campaigns", "admin"):
            _visit(page, seen, f"{d}/campaigns")
            page.click(f"a[href$='/campaigns/{campaign_id}']")
            page.wait_for_selector("#campaign-progress [data-progress]")
            # The bar's width comes from the script, since the policy refuses style=.
            width = page.locator("#campaign-progress [data-progress]").evaluate("el => el.style.width")
            assert width == "40%"
            seen.collect("campaign detail")
            _visit(page, seen, f"{d}/campaigns/new")
        if role == "admin":
            for path in ("/admin/users", "/admin/integrations/dms", "/admin/mail", "/admin/outbox"):
                _visit(page, seen, d + path)
            page.click("a[hx-target='#outbox-preview'] >> nth=0")  # the preview, swapped in by htmx
            frame = page.wait_for_selector("iframe.email-preview").content_frame()
            frame.wait_for_selector("p")
            # The email keeps its own styles inside its frame.
            assert frame.locator("p").evaluate("el => getComputedStyle(el).color") == "rgb(204, 0, 0)"
            seen.collect("outbox preview")
            _visit(page, seen, f"{live_server}/invitations")
        assert not seen.found, f"{role}: {seen.found}"
        page.close()


def test_reports_work_without_a_policy_violation(_chromium, live_server, dealer):
    d = f"{live_server}/d/{dealer.code}"
    page, seen = _session(_chromium, live_server, "manager")
    _visit(page, seen, f"{d}/reports?report=deliveries&preset=last_30_days")
    _visit(page, seen, f"{d}/reports/grid?report=deliveries&preset=last_30_days&pie=customer")
    assert not seen.found, seen.found
