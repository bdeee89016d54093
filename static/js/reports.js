// Boxes reports: draws each pie from its figure (a <script type="application/json" data-pie-figure>,
// data only, never run) when the page loads and after every htmx swap, so nothing inline has to run
// and the page works under a strict Content-Security-Policy (script-src 'self'; style-src 'self').
//
// This file is included by the reports fragment itself (the reports can be opened from a board
// button, as a fragment into the board's page), so it may be executed again by later swaps: only the
// first run sets things up.
(function () {
  "use strict";
  if (window.boxesReports) { window.boxesReports.drawAll(document); return; }

  const script = document.currentScript;
  const assets = {
    js: script.dataset.plotlyJs,
    css: script.dataset.plotlyCss,
    guards: (script.dataset.plotlyStyleGuards || "").split(" ").filter(Boolean),
  };
  let waiting = null; // callbacks while plotly.js loads

  // plotly.js once per page. Before it runs: its stylesheet as a file under the id and class that
  // tell plotly.js not to inject the same rules as <style> (which the CSP refuses), and empty
  // placeholders for the stylesheets its bundle would inject for traces Boxes never draws (maps).
  function withPlotly(draw) {
    if (window.Plotly) { draw(); return; }
    if (waiting) { waiting.push(draw); return; }
    waiting = [draw];
    assets.guards.forEach((id) => {
      if (document.getElementById(id)) return;
      const placeholder = document.createElement("meta");
      placeholder.id = id;
      placeholder.name = "boxes-plotly-unused-style";
      document.head.appendChild(placeholder);
    });
    const loadScript = () => {
      const loader = document.createElement("script");
      loader.src = assets.js;
      loader.onload = () => { const queue = waiting; waiting = []; queue.forEach((f) => f()); };
      document.head.appendChild(loader);
    };
    if (document.getElementById("plotly.js-style-global")) { loadScript(); return; }
    // The stylesheet first: a pie drawn before its rules apply would be laid out without them.
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = assets.css;
    link.id = "plotly.js-style-global";
    link.className = "no-inline-styles";
    link.onload = link.onerror = loadScript;
    document.head.appendChild(link);
  }

  // A pie is drawn into an element made here, inside the server's container: htmx never sends it,
  // so its attribute settling (which puts back the server's class and style on elements that kept
  // their id across a swap) can never strip the classes plotly.js styles it by.
  function draw(container) {
    if (container.dataset.drawn) return;
    container.dataset.drawn = "1";
    const source = container.querySelector("script[data-pie-figure]");
    const figure = JSON.parse(source.textContent);
    withPlotly(() => {
      if (!container.isConnected) return;
      const plot = document.createElement("div");
      plot.className = "pie-plot";
      container.appendChild(plot);
      window.Plotly.newPlot(plot, figure.data, figure.layout, figure.config);
    });
  }

  function drawAll(root) {
    root.querySelectorAll("[data-pie-chart]").forEach(draw);
  }

  // Free what plotly.js holds (a window resize listener, event handlers) for a pie a swap removes.
  document.addEventListener("htmx:beforeCleanupElement", (event) => {
    const el = event.target;
    if (window.Plotly && el.classList && el.classList.contains("pie-plot")) window.Plotly.purge(el);
  });
  document.addEventListener("htmx:afterSettle", () => drawAll(document));
  window.boxesReports = { drawAll: drawAll };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => drawAll(document));
  } else {
    drawAll(document);
  }
})();
