"""Chromium: a caller's whole day on a populated dealer. Every list and sub-view, every row action
once; after each action every number on screen (badges, opportunity groups, sub-view tabs, pager
totals, rows shown) agrees with the others and with the database."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from boxes.board import appointments, completed, deliveries, in_process, opportunities
from boxes.board.badges import badges
from boxes.board.windows import BoardWindows
from boxes.db import utcnow
from boxes.dms.simulator.demo import load_dataset
from boxes.models import Appointment, Opportunity
from tests import board_screen, factories
from tests.browser.login import log_in

pytestmark = pytest.mark.browser

VEHICLES = 300  # a few pages of New opportunities, every list and sub-view with rows


@pytest.fixture
def day(db, dealers):
    ar = dealers[0]
    factories.user(db, role="caller", dealer=ar, email="caller@test.example", name="Carolina Caller")
    load_dataset(db, ar, 7, VEHICLES)
    db.commit()
    return ar


def database_numbers(db, dealer, url: str) -> tuple[dict, int]:
    """The badges, and the total of the list at ``url``, as the database counts them now."""
    db.expire_all()
    w = BoardWindows.at(dealer.time_zone)
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    path = urlsplit(url).path
    if path.endswith("/deliveries"):
        total = deliveries.count(db, dealer, w, welcome=query.get("welcome", "pending"))
    elif path.endswith("/opportunities"):
        total = sum(opportunities.group_counts(db, dealer, w, origin=query.get("origin") or None).values())
    elif path.endswith("/appointments"):
        total = appointments.sub_view_counts(db, dealer, w)[query.get("view", "to_confirm")]
    elif path.endswith("/in-process"):
        total = in_process.count(db, dealer, w, opened=query.get("opened", "all"))
    else:
        total = completed.count(db, dealer, w, courtesy=query.get("courtesy", "pending"))
    return badges(db, dealer, w).as_dict(), total


def check(page, db, dealer, what: str):
    page.wait_for_load_state("networkidle")
    screen = board_screen.read(page)
    assert board_screen.problems(screen) == [], what
    counted, total = database_numbers(db, dealer, screen["url"])
    assert screen["badges"] == {k: counted[k] for k in screen["badges"]}, what
    assert screen["total"] == total, what
    return screen


def open_list(page, db, dealer, button, **query):
    page.click(f'a[data-button="{button}"]')
    # The list arrives after the button lights up (and on the list already shown, the button already is):
    # a link clicked before the swap belongs to the list being replaced, and its click is lost.
    board_screen.settle(page)
    page.wait_for_function("k => document.querySelector(`a[data-button='${k}']`).classList.contains('active')",
                           arg=button)
    if query:
        name, value = next(iter(query.items()))
        page.click(f'#board-list .btn-group a[href*="{name}={value}"]')
        page.wait_for_url(re.compile(f"{name}={value}"))
    return check(page, db, dealer, f"open {button} {query}")


def local(instant, dealer) -> str:
    return instant.astimezone(ZoneInfo(dealer.time_zone)).strftime("%Y-%m-%dT%H:%M")


def act(page, db, dealer, label: str, fill=None, row: int = 0, what: str = "", row_id: str | None = None):
    """Click ``label`` on the ``row``-th row still in the list (or the row ``row_id``), fill the form,
    submit, check."""
    if row_id is None:
        target = page.locator("#board-list tbody tr[data-row]:not([data-left-list])").nth(row)
        row_id = target.get_attribute("id")
    else:
        target = page.locator(f"#{row_id}")
    target.locator(f"button:has-text('{label}')").first.click()
    page.wait_for_selector("#action-panel [data-action]")
    page.wait_for_load_state("networkidle")
    if fill is not None:
        fill(page)
    if page.locator("#action-panel button[type=submit]").count():
        page.click("#action-panel button[type=submit]")
        page.wait_for_selector("#action-done")
    screen = check(page, db, dealer, what or f"{label} on {row_id}")
    page.keyboard.press("Escape")
    return row_id, screen


def outcome(value):
    def fill(page):
        page.select_option("#action-panel select[name=outcome]", value)
        page.fill("#action-panel textarea[name=comment]", "Hablamos con el cliente")
    return fill


def test_a_callers_day(browser, live_server, db, day):
    dealer = day
    page = browser.new_page()
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, live_server)
    check(page, db, dealer, "landing")

    # 1 Deliveries: the welcome call (the row leaves "pending"), an opportunity, the client.
    open_list(page, db, dealer, "deliveries")
    act(page, db, dealer, "Registrar llamado", outcome("contacted"))
    act(page, db, dealer, "Crear oportunidad")
    act(page, db, dealer, "Ver cliente")
    open_list(page, db, dealer, "deliveries", welcome="done")
    open_list(page, db, dealer, "deliveries", welcome="all")

    # 2 New opportunities: every action once, on the first page of several.
    screen = open_list(page, db, dealer, "opportunities")
    assert screen["pages"] > 1 and sum(screen["groups"].values()) == screen["total"]
    act(page, db, dealer, "Registrar llamado", outcome("no_answer"))
    act(page, db, dealer, "Descartar", lambda p: p.select_option("#action-panel select[name=reason_id]", index=1))
    act(page, db, dealer, "Replanificar",
        lambda p: p.fill("#action-panel input[name=due_at]", local(utcnow() + timedelta(days=20), dealer)))
    act(page, db, dealer, "Turno vendido",
        lambda p: p.fill("#action-panel input[name=appointment_at]", local(utcnow() + timedelta(days=2), dealer)))
    act(page, db, dealer, "Ver cliente")
    page.click("#list-pager a[rel=next]")
    page.wait_for_url(re.compile("page=2"))
    check(page, db, dealer, "opportunities page 2")
    act(page, db, dealer, "Descartar", lambda p: p.select_option("#action-panel select[name=reason_id]", index=2),
        what="discard on page 2")

    # 3 Upcoming appointments: a reminder and a confirmation, then every sub-view.
    open_list(page, db, dealer, "appointments")
    reminder = page.locator("#board-list tbody tr[data-row] button[data-send-reminder]").first
    cell = reminder.locator("xpath=..")
    reminder.click()
    page.wait_for_function("id => document.getElementById(id).dataset.reminderStatus !== 'none'",
                           arg=cell.get_attribute("id"))
    check(page, db, dealer, "send reminder")
    act(page, db, dealer, "Confirmar")
    open_list(page, db, dealer, "appointments", view="confirmed")
    act(page, db, dealer, "Registrar llamado", outcome("contacted"))
    open_list(page, db, dealer, "appointments", view="not_arrived")
    screen = open_list(page, db, dealer, "appointments", view="no_shows")
    assert screen["total"] > 0
    # A no-show whose car has no open recovery opportunity yet (at most one per vehicle).
    shown = page.eval_on_selector_all("#board-list tbody tr[data-row]", "rows => rows.map(r => r.id)")
    recovered = set(db.scalars(select(Opportunity.vehicle_id).where(
        Opportunity.dealer_id == dealer.id, Opportunity.origin == "no_show", Opportunity.status == "open")))
    candidates = [i for i in shown if db.get(Appointment, int(i.split("-")[1])).vehicle_id not in recovered]
    act(page, db, dealer, "Oportunidad de recupero", row_id=candidates[0])
    open_list(page, db, dealer, "appointments", view="arrivals")

    # 4 In process: unit delivered, an opportunity, a call; every opening filter.
    open_list(page, db, dealer, "in_process")
    act(page, db, dealer, "Unidad entregada")
    act(page, db, dealer, "Crear oportunidad")
    act(page, db, dealer, "Registrar llamado", outcome("call_back_later"))
    for opened in ("today", "yesterday", "week", "older"):
        open_list(page, db, dealer, "in_process", opened=opened)

    # 5 Services completed: the courtesy call (the row leaves "pending"), an opportunity, the client.
    open_list(page, db, dealer, "completed")

    def courtesy(page):
        page.click("#action-panel label[for=f-sat-5]")
        outcome("contacted")(page)

    act(page, db, dealer, "Llamado de cortesía", courtesy)
    _, screen = act(page, db, dealer, "Crear oportunidad")
    assert screen["active"] == "completed"
    act(page, db, dealer, "Ver cliente")
    open_list(page, db, dealer, "completed", courtesy="done")
