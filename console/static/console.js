// apoyo console: the live progress of a cycle (server-sent events) and its
// chart of cases per step over time. No framework; htmx does the forms.
(function () {
  "use strict";
  var SVGNS = "http://www.w3.org/2000/svg";

  function live(box) {
    var url = box.getAttribute("data-events");
    var chart = document.getElementById("chart");
    var steps = chart ? chart.getAttribute("data-steps").split(",") : [];
    var labels = chart ? chart.getAttribute("data-labels").split(",") : [];
    var samples = [];
    var legend = document.getElementById("legend");
    if (legend) {
      steps.forEach(function (s, i) {
        var li = document.createElement("li");
        li.className = "s" + i;
        li.textContent = labels[i] || s;
        legend.appendChild(li);
      });
    }

    function set(id, text) {
      var el = document.getElementById(id);
      if (el) { el.textContent = text; }
    }

    function draw() {
      if (!chart || samples.length === 0) { return; }
      while (chart.lastChild && chart.lastChild.nodeName !== "title") { chart.removeChild(chart.lastChild); }
      var w = 600, h = 220, pad = 24;
      var max = 1;
      samples.forEach(function (p) { if (p.total > max) { max = p.total; } });
      var n = samples.length;
      var axis = document.createElementNS(SVGNS, "path");
      axis.setAttribute("d", "M" + pad + " " + (h - pad) + " H" + (w - 4) + " M" + pad + " " + (h - pad) + " V4");
      axis.setAttribute("class", "axis");
      chart.appendChild(axis);
      steps.forEach(function (step, i) {
        var pts = samples.map(function (p, k) {
          var x = pad + (n === 1 ? 0 : k * (w - pad - 8) / (n - 1));
          var y = (h - pad) - ((p.by_step[step] || 0) / max) * (h - pad - 8);
          return x.toFixed(1) + "," + y.toFixed(1);
        });
        var line = document.createElementNS(SVGNS, "polyline");
        line.setAttribute("points", pts.join(" "));
        line.setAttribute("class", "line s" + i);
        chart.appendChild(line);
      });
    }

    function update(p) {
      set("done", p.done.toLocaleString("es-MX"));
      set("total", p.total.toLocaleString("es-MX"));
      set("percent", String(p.percent));
      set("updated", p.at);
      var status = document.getElementById("cycle-status");
      if (status) { status.textContent = p.status_label; status.setAttribute("data-status", p.status); }
      var bar = document.getElementById("bar");
      if (bar) { bar.value = p.percent; bar.textContent = p.percent + "%"; }
      Object.keys(p.by_step).forEach(function (s) {
        var el = box.querySelector('[data-step="' + s + '"]');
        if (el) { el.textContent = p.by_step[s].toLocaleString("es-MX"); }
      });
      Object.keys(p.money).forEach(function (m) {
        var el = box.querySelector('[data-money="' + m + '"]');
        if (el) { el.textContent = p.money[m]; }
      });
      samples.push(p);
      if (samples.length > 600) { samples.shift(); }
      draw();
      if (p.closed) {
        box.setAttribute("data-closed", "true");
        // A closed cycle can no longer be paused or cancelled.
        var control = document.getElementById("control");
        if (control) { control.hidden = true; }
      }
    }

    var es = new EventSource(url);
    es.addEventListener("progress", function (e) {
      var p = JSON.parse(e.data);
      update(p);
      if (p.closed) { es.close(); }
    });
    es.addEventListener("trouble", function () { box.setAttribute("data-trouble", "true"); });
    // A dropped stream reconnects by itself; until then the numbers are
    // marked as not current.
    es.onerror = function () { if (box.getAttribute("data-closed") !== "true") { box.setAttribute("data-stale", "true"); } };
    es.onopen = function () { box.removeAttribute("data-stale"); };
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("live");
    if (box && window.EventSource) { live(box); }
  });
})();
