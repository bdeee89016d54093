// Boxes: the little behaviour htmx does not give. Keyboard work on lists, the action panel,
// auto-submitting selects, and where the focus goes when htmx swaps the focused element away.
document.addEventListener("change", (event) => {
  const el = event.target;
  if (el.matches("select[data-autosubmit]")) el.form.requestSubmit();
  if (el.matches("select[data-navigate]")) window.location.assign(el.value);
});

let lastRow = null;
let lastRowNext = null;  // the id of the row after it: where the caller goes on if the row leaves the list

function rememberRow(row) {
  lastRow = row;
  const rows = Array.from(row.parentElement.querySelectorAll(":scope > tr[data-row][id]"));
  const i = rows.indexOf(row);
  const next = rows[i + 1] || rows[i - 1];
  lastRowNext = next ? next.id : null;
}

// The row being worked on. An action redraws it (a new element with the same id); if it left the
// list, the row that followed it.
function workingRow() {
  if (!lastRow) return null;
  if (document.body.contains(lastRow)) return lastRow;
  return document.getElementById(lastRow.id) || (lastRowNext && document.getElementById(lastRowNext));
}

function closePanel() {
  const panel = document.getElementById("action-panel");
  // The focus goes back to the row only from the panel (or from nowhere): a caller who moved on to
  // another row stays there.
  const active = document.activeElement;
  const fromPanel = !active || active === document.body || (panel && panel.contains(active));
  if (panel) panel.innerHTML = "";
  const row = workingRow();
  if (row && fromPanel) row.focus();
}

document.addEventListener("click", (event) => {
  if (event.target.closest("[data-close-panel]")) closePanel();
  const row = event.target.closest("tr[data-row]");
  if (row) rememberRow(row);
});

// Rows: arrows move, Home/End jump, Enter opens the row's main action. Esc closes the panel.
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") { closePanel(); return; }
  const row = event.target.closest && event.target.closest("tr[data-row]");
  if (!row || event.target !== row) return;
  const rows = Array.from(row.closest("tbody").querySelectorAll("tr[data-row]"));
  const i = rows.indexOf(row);
  const go = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: rows.length - 1 }[event.key];
  if (go !== undefined && rows[go]) { rows[go].focus(); event.preventDefault(); return; }
  if (event.key === "Enter") {
    const primary = row.querySelector("[data-primary]");
    if (primary) { rememberRow(row); primary.click(); event.preventDefault(); }
  }
});

// Focus the first field of a form that arrives in the panel, so the caller can type at once.
document.addEventListener("htmx:afterSwap", (event) => {
  if (event.detail.target && event.detail.target.id === "action-panel") {
    // In this order (querySelector with a selector list would take the first in the document): the
    // field to correct, else the form's own choice (htmx would only autofocus it after settling), else
    // the first field.
    const panel = event.detail.target;
    const field = [".is-invalid", "[autofocus]", "select, textarea, input:not([type=hidden])"]
      .map((selector) => panel.querySelector(selector)).find(Boolean);
    if (field) field.focus();
  }
});

// A swap that removes the focused element (the panel's form replaced by its outcome, a row's reminder
// button, a redrawn list) would drop the focus to <body>, and a keyboard or screen-reader user back
// to the top of the page. htmx itself refocuses an element of the same id; otherwise the focus goes
// to the same control in the new content (a filter field by its form and name, a filter or tab link
// by its address), else to the row being worked on, else to the list's first row.
function sameControl(old) {
  if (old.name && old.form && old.form.id) {
    return document.querySelector(`#${CSS.escape(old.form.id)} [name="${CSS.escape(old.name)}"]`);
  }
  const href = old.getAttribute && old.getAttribute("href");
  return href ? document.querySelector(`a[href="${CSS.escape(href)}"]`) : null;
}

let focusBeforeSwap = null;
const hadFocus = new WeakSet();  // elements focused when they sent a request: hx-disabled-elt blurs them
document.addEventListener("htmx:beforeRequest", (event) => {
  if (document.activeElement === event.detail.elt) hadFocus.add(event.detail.elt);
});
document.addEventListener("htmx:beforeSwap", (event) => {
  const active = document.activeElement;
  const requester = event.detail.requestConfig && event.detail.requestConfig.elt;
  const blurred = (!active || active === document.body) && requester && hadFocus.has(requester);
  focusBeforeSwap = blurred ? requester : active;
});
document.addEventListener("htmx:afterSettle", () => {
  const old = focusBeforeSwap;
  focusBeforeSwap = null;
  const lost = old && old !== document.body && !document.body.contains(old);
  if (!lost || (document.activeElement && document.activeElement !== document.body)) return;
  const main = document.querySelector("main");
  const target = sameControl(old) || workingRow()
    || (main && (main.querySelector("tr[data-row][tabindex]") || main));
  if (!target) return;
  if (!target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
  target.focus();
});

// The skip link (first in the tab order): to the list's first row where the page has one — a
// caller's next call is one Tab and Enter away — else to the main content.
document.addEventListener("click", (event) => {
  if (!event.target.closest("[data-skip-link]")) return;
  const main = document.querySelector("main");
  const target = main && (main.querySelector("tr[data-row][tabindex]") || main);
  if (!target) return;
  event.preventDefault();
  if (!target.hasAttribute("tabindex")) target.setAttribute("tabindex", "-1");
  target.focus();
});

// Opening another list closes the panel of the previous one; a confirmation fades after a while.
document.addEventListener("htmx:beforeRequest", (event) => {
  const target = event.detail.target;
  if (target && target.id === "board-list") {
    const panel = document.getElementById("action-panel");
    if (panel) panel.innerHTML = "";
  }
});
document.addEventListener("htmx:afterSwap", (event) => {
  const panel = event.detail.target;
  const done = panel && panel.id === "action-panel" && panel.querySelector("#action-done");
  if (done) {
    // This confirmation only: a later action's message (a new element) keeps its own time.
    setTimeout(() => { if (panel.contains(done)) panel.innerHTML = ""; }, 4000);
  }
});

// Progress bars take their width from data-progress: the Content-Security-Policy allows no inline
// style= attribute, but a script may set a style property. htmx:load fires for the page and for
// every swapped-in element.
document.addEventListener("htmx:load", (event) => {
  const root = event.detail.elt;
  const bars = root.matches("[data-progress]") ? [root] : [];
  bars.push(...root.querySelectorAll("[data-progress]"));
  bars.forEach((bar) => { bar.style.width = `${Number(bar.dataset.progress) || 0}%`; });
});
