// Charts drawn with Chart.js from data the page carries in data-* attributes (no inline script:
// the Content-Security-Policy forbids it). A <canvas data-chart="line|bar"> gets
//   data-chart-labels     JSON list of labels (already in the page's language),
//   data-chart-values     JSON list of numbers (major units, for drawing only),
//   data-chart-formatted  JSON list of the same values formatted as money by the server,
//   data-chart-label      the series' name, data-chart-currency its ISO code.
// The figure around each canvas carries a caption and a table with the same figures, so the
// chart is never the only way to read them.
(function () {
  "use strict";
  var PALETTE = ["#1d4ed8", "#047857", "#b45309", "#b91c1c", "#7c3aed", "#0e7490"];

  function readList(canvas, name) {
    try {
      var value = JSON.parse(canvas.getAttribute(name) || "[]");
      return Array.isArray(value) ? value : [];
    } catch (error) {
      return [];
    }
  }

  function cssVar(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function moneyTick(currency) {
    var locale = document.documentElement.lang || "en";
    var format;
    try {
      format = new Intl.NumberFormat(locale, {
        style: "currency", currency: currency, notation: "compact", maximumFractionDigits: 1,
      });
    } catch (error) {
      format = new Intl.NumberFormat(locale, { notation: "compact" });
    }
    return function (value) { return format.format(value); };
  }

  function config(canvas) {
    var kind = canvas.dataset.chart === "bar" ? "bar" : "line";
    var values = readList(canvas, "data-chart-values");
    var formatted = readList(canvas, "data-chart-formatted");
    var primary = cssVar("--pico-primary", PALETTE[0]);
    var muted = cssVar("--pico-muted-color", "#646b79");
    var grid = cssVar("--pico-muted-border-color", "#e7eaf0");
    var tick = moneyTick(canvas.dataset.chartCurrency || "EUR");
    var valueAxis = { beginAtZero: kind === "bar", grid: { color: grid },
      ticks: { color: muted, callback: tick, maxTicksLimit: 5 } };
    var labelAxis = { grid: { display: false },
      ticks: { color: muted, autoSkip: true, maxRotation: 0, maxTicksLimit: kind === "bar" ? 12 : 6 } };
    return {
      type: kind,
      data: {
        labels: readList(canvas, "data-chart-labels"),
        datasets: [{
          label: canvas.dataset.chartLabel || "",
          data: values,
          borderColor: kind === "bar" ? PALETTE : primary,
          backgroundColor: kind === "bar" ? PALETTE : "rgba(29, 78, 216, 0.12)",
          borderWidth: 2,
          fill: kind === "line",
          pointRadius: 0,
          pointHitRadius: 8,
          tension: 0.25,
        }],
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: true,
        aspectRatio: kind === "bar" ? 1.6 : 2,
        indexAxis: kind === "bar" ? "y" : "x",
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              label: function (item) { return formatted[item.dataIndex] || String(item.raw); },
            },
          },
        },
        scales: kind === "bar" ? { x: valueAxis, y: labelAxis } : { x: labelAxis, y: valueAxis },
      },
    };
  }

  function draw(canvas) {
    if (canvas.dataset.chartBound || !window.Chart) return;
    canvas.dataset.chartBound = "1";
    new window.Chart(canvas, config(canvas));
  }

  function bind(root) {
    if (root.matches && root.matches("canvas[data-chart]")) draw(root);
    if (root.querySelectorAll) root.querySelectorAll("canvas[data-chart]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () {
    bind(document);
    if (window.htmx) {
      window.htmx.onLoad(bind);
      // A page swap removes the canvas: let Chart.js drop its listeners and state with it.
      document.body.addEventListener("htmx:beforeCleanupElement", function (event) {
        var element = event.target;
        if (window.Chart && element.matches && element.matches("canvas[data-chart-bound]")) {
          var chart = window.Chart.getChart(element);
          if (chart) chart.destroy();
        }
      });
    }
  });
})();
