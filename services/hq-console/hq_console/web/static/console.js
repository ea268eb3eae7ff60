// The console's only script of its own: draws the charts from the JSON the page carries, keeps the page live
// through server-sent events. No inline script or handler anywhere (CSP).
(function () {
  "use strict";
  var charts = [];

  function drawCharts(root) {
    charts.forEach(function (c) { c.dispose(); });
    charts = [];
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      var source = document.getElementById(el.getAttribute("data-chart"));
      if (!source || !window.echarts) { return; }
      var option = JSON.parse(source.textContent);
      var chart = window.echarts.init(el, null, { renderer: "svg" });
      chart.setOption(option);
      if (option.leadnetLinks) {
        // A bar or point drills down to the masked list behind it, like every number on the page.
        chart.on("click", function (params) {
          var href = option.leadnetLinks[params.dataIndex];
          if (href) { window.location.href = href; }
        });
      }
      charts.push(chart);
    });
  }

  function refresh() {
    var content = document.getElementById("content");
    if (!content || !window.htmx) { return; }
    window.htmx.ajax("GET", window.location.href, { target: "#content", select: "#content", swap: "outerHTML" });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts(document);
    window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
    document.body.addEventListener("htmx:afterSettle", function () { drawCharts(document); });

    var stream = document.body.getAttribute("data-stream");
    if (stream && window.EventSource) {
      var status = document.getElementById("live-status");
      var source = new EventSource(stream);
      source.addEventListener("update", function () { refresh(); });
      source.addEventListener("open", function () { if (status) { status.setAttribute("data-live", "on"); } });
      source.addEventListener("error", function () { if (status) { status.setAttribute("data-live", "off"); } });
    }
  });
})();
