"""Reading the board as a caller sees it (Chromium): every number on screen, and whether they agree;
and the two moves between readings, opening a list (``open_button``) and sending the action panel
(``submit_panel``).

Numbers are read from the visible text (badges, the opportunity groups, the sub-view tabs, the
pager's "· N rows") and the rows shown; a row an action took out of its list stays on screen,
greyed and marked ``data-left-list``, until the list is loaded again, and is not one of its rows.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

READ_SCREEN = r"""() => {
  const last = (text) => {
    const all = (text || "").match(/\d[\d.,]*/g);
    return all ? Number(all[all.length - 1].replace(/[.,]/g, "")) : null;
  };
  const list = document.querySelector("#board-list");
  const badges = {};
  document.querySelectorAll("#board-buttons [data-badge]").forEach((b) => {
    badges[b.dataset.badge] = last(b.innerText);
  });
  const active = document.querySelector("#board-buttons .board-button.active");
  const groups = {};
  list.querySelectorAll("[data-group-count]").forEach((g) => { groups[g.dataset.groupCount] = last(g.innerText); });
  const tabs = {};
  let activeTab = null;
  list.querySelectorAll(".btn-group a").forEach((a) => {
    const key = new URL(a.href).searchParams.get("view");
    if (key && /\(\d/.test(a.innerText)) {
      tabs[key] = last(a.innerText);
      if (a.classList.contains("active")) activeTab = key;
    }
  });
  const pager = list.querySelector("nav[aria-label]:last-of-type span");
  const pagerText = pager ? pager.innerText : "";
  const pages = (pagerText.match(/\d[\d.,]*/g) || []).map((n) => Number(n.replace(/[.,]/g, "")));
  const rows = Array.from(list.querySelectorAll("tbody tr[data-row]"));
  return {
    active: active ? active.dataset.button : null,
    activeCount: document.querySelectorAll("#board-buttons .board-button.active").length,
    badges, groups, tabs, activeTab,
    page: pages[0] ?? null, pages: pages[1] ?? null, total: pages[2] ?? null,
    rowsShown: rows.filter((r) => !r.hasAttribute("data-left-list")).length,
    rowsLeft: rows.filter((r) => r.hasAttribute("data-left-list")).length,
    url: location.pathname + location.search,
  };
}"""

# Which filter of each list its badge counts (badges.py): the list's total equals the badge there.
BADGE_FILTER = {"deliveries": ("welcome", "pending"), "opportunities": ("origin", ""),
                "appointments": ("view", "to_confirm"), "in_process": ("opened", "all"),
                "completed": ("courtesy", "pending")}


def read(page) -> dict:
    return page.evaluate(READ_SCREEN)


def problems(screen: dict, per_page: int = 50) -> list[str]:
    """What disagrees on this screen (empty: every number agrees with the others)."""
    out = []
    button = screen["active"]
    if screen["activeCount"] != 1:
        out.append(f"{screen['activeCount']} buttons highlighted")
    list_button = {"/board/deliveries": "deliveries", "/board/opportunities": "opportunities",
                   "/board/appointments": "appointments", "/board/in-process": "in_process",
                   "/board/completed": "completed"}
    on = next((b for path, b in list_button.items() if path in screen["url"]), None)
    if on is not None and button != on:
        out.append(f"{button!r} highlighted on the {on!r} list")
    total = screen["total"]
    if total is None:
        return [*out, "no pager"]
    if screen["groups"] and sum(screen["groups"].values()) != total:
        out.append(f"groups {screen['groups']} do not add up to the {total} rows of the pager")
    if screen["tabs"] and screen["tabs"].get(screen["activeTab"]) != total:
        out.append(f"tab {screen['activeTab']} says {screen['tabs'].get(screen['activeTab'])}, the pager {total}")
    if screen["page"] is not None and screen["pages"] is not None:
        expected_pages = max(1, -(-total // per_page))
        if screen["pages"] != expected_pages:
            out.append(f"{screen['pages']} pages for {total} rows")
        if screen["page"] == screen["pages"]:
            on_page = total - (screen["page"] - 1) * per_page
            if screen["rowsShown"] != on_page:
                out.append(f"{screen['rowsShown']} rows shown, the pager says {on_page} on this page")
        elif screen["rowsShown"] + screen["rowsLeft"] != per_page:
            out.append(f"{screen['rowsShown']} + {screen['rowsLeft']} rows on a full page of {per_page}")
    if button in BADGE_FILTER:
        query = parse_qs(urlsplit(screen["url"]).query)
        name, counted = BADGE_FILTER[button]
        badge = screen["badges"].get(button)
        if button == "appointments":
            if screen["tabs"].get("to_confirm") != badge:
                out.append(f"to confirm tab {screen['tabs'].get('to_confirm')} vs badge {badge}")
        elif query.get(name, [counted])[0] == counted and not query.get("campaign", [""])[0] and badge != total:
            out.append(f"badge {button} {badge} vs the list's {total} rows")
    return out


def settle(page) -> None:
    """htmx done, and the CSS transitions its settling starts (a redrawn row's new colours) too."""
    page.wait_for_load_state("load")
    page.wait_for_function("!document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping')")
    page.wait_for_function("document.getAnimations().every(a => a.playState !== 'running'"
                           " || a.effect.getTiming().iterations === Infinity)")


def open_button(page, key: str) -> None:
    """Click the board button ``key``; wait until it is the one lit and its list has loaded."""
    page.click(f'a[data-button="{key}"]')
    page.wait_for_function("k => document.querySelector(`a[data-button='${k}']`).classList.contains('active')",
                           arg=key)
    page.wait_for_load_state("networkidle")


def submit_panel(page) -> None:
    """Send the action panel's form; wait for its confirmation and what it reloads."""
    page.click("#action-panel button[type=submit]")
    page.wait_for_selector("#action-done")
    page.wait_for_load_state("networkidle")
