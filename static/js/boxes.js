// Boxes: the little behaviour htmx does not give. Keyboard work on lists, the action panel,
// auto-submitting selects.
document.addEventListener("change", (event) => {
  const el = event.target;
  if (el.matches("select[data-autosubmit]")) el.form.requestSubmit();
  if (el.matches("select[data-navigate]")) window.location.assign(el.value);
});

let lastRow = null;

function closePanel() {
  const panel = document.getElementById("action-panel");
  if (panel) panel.innerHTML = "";
  if (lastRow && document.body.contains(lastRow)) lastRow.focus();
}

document.addEventListener("click", (event) => {
  if (event.target.closest("[data-close-panel]")) closePanel();
  const row = event.target.closest("tr[data-row]");
  if (row) lastRow = row;
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
    if (primary) { lastRow = row; primary.click(); event.preventDefault(); }
  }
});

// Focus the first field of a form that arrives in the panel, so the caller can type at once.
document.addEventListener("htmx:afterSwap", (event) => {
  if (event.detail.target && event.detail.target.id === "action-panel") {
    const field = event.detail.target.querySelector("[autofocus], select, textarea, input:not([type=hidden])");
    if (field) field.focus();
  }
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
