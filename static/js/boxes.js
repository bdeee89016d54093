// Boxes: the little behaviour htmx does not give: keyboard work on lists and auto-submitting selects.
document.addEventListener("change", (event) => {
  const el = event.target;
  if (el.matches("select[data-autosubmit]")) el.form.requestSubmit();
  if (el.matches("select[data-navigate]")) window.location.assign(el.value);
});

// Arrow keys move between rows of a board list; Home/End jump to the first/last row.
document.addEventListener("keydown", (event) => {
  const row = event.target.closest && event.target.closest("tr[data-row]");
  if (!row) return;
  const rows = Array.from(row.closest("tbody").querySelectorAll("tr[data-row]"));
  const i = rows.indexOf(row);
  const go = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: rows.length - 1 }[event.key];
  if (go !== undefined && rows[go]) { rows[go].focus(); event.preventDefault(); }
});
