/* The dashboard's own script (no build step): keeps focus across htmx swaps, marks the view busy
   while one runs, and gives the main chart a crosshair tooltip for mouse, keyboard and touch.
   Every page works without it; the CSP allows it because it is our own file. */
(function () {
  "use strict";

  var focusKey = null;
  var pending = false;

  function keyOf(element) {
    if (!element || element === document.body) return null;
    if (element.id) return "#" + element.id;
    var key = element.getAttribute("data-key");
    return key ? "[data-key=\"" + key.replace(/["\\]/g, "\\$&") + "\"]" : null;
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    focusKey = keyOf(document.activeElement);
    pending = true;
    var view = document.getElementById("view");
    if (view) view.setAttribute("aria-busy", "true");
  });

  document.addEventListener("htmx:afterSettle", function () {
    // Once per request: an out-of-band swap settles too, and must not move the focus again.
    if (!pending) return;
    pending = false;
    var view = document.getElementById("view");
    if (view) view.removeAttribute("aria-busy");
    setUpCharts();
    // Focus goes back to the control that asked for the swap (or its new copy), else to the
    // view's heading, never to <body>.
    var target = focusKey ? document.querySelector(focusKey) : null;
    if (!target && view) {
      target = view.querySelector("h1");
      if (target) target.setAttribute("tabindex", "-1");
    }
    if (target) target.focus({ preventScroll: true });
    focusKey = null;
  });

  document.addEventListener("htmx:responseError", function () {
    pending = false;
    var view = document.getElementById("view");
    if (view) view.removeAttribute("aria-busy");
  });

  var SVG = "http://www.w3.org/2000/svg";

  function setUpChart(figure) {
    if (figure.getAttribute("data-ready")) return;
    figure.setAttribute("data-ready", "true");
    var plot = figure.querySelector(".plot");
    var svg = plot && plot.querySelector("svg");
    var tip = figure.querySelector(".tip");
    if (!svg || !tip) return;
    var bars = Array.prototype.slice.call(svg.querySelectorAll("rect.bar"));
    // Each bar's figures are in the table under the chart, row i for bar i: the page holds
    // them once, not in every bar too (app/dashboard/charts.py).
    var rows = figure.querySelectorAll("table.figures tbody tr");
    if (!bars.length || rows.length !== bars.length) return;
    var line = document.createElementNS(SVG, "line");
    line.setAttribute("class", "crosshair");
    line.setAttribute("y1", "28");
    line.setAttribute("y2", "198");
    svg.appendChild(line);
    var current = -1;

    function show(index) {
      current = Math.max(0, Math.min(bars.length - 1, index));
      var bar = bars[current];
      var x = parseFloat(bar.getAttribute("x")) + parseFloat(bar.getAttribute("width")) / 2;
      line.setAttribute("x1", String(x));
      line.setAttribute("x2", String(x));
      line.classList.add("on");
      bars.forEach(function (other) { other.classList.toggle("active", other === bar); });
      // Interval (with "(today, partial)" when it holds today), figure, then, with a
      // comparison, the compared interval, its figure and the change.
      var cells = Array.prototype.map.call(rows[current].cells, function (cell) {
        // ASCII white space only: the French figures' no-break spaces stay.
        return cell.textContent.replace(/[ \t\r\n]+/g, " ").replace(/^ | $/g, "");
      });
      var text = cells[0] + " \u2014 " + cells[1];
      if (cells.length > 2) {
        text += " \u00b7 " + cells[2] + " \u2014 " + cells[3] + " \u00b7 " + cells[4];
      }
      tip.textContent = text;
    }

    function indexAt(clientX, clientY) {
      // Screen to viewBox units, letterboxing included (the chart keeps its aspect ratio).
      var point = svg.createSVGPoint();
      point.x = clientX;
      point.y = clientY;
      var x = point.matrixTransform(svg.getScreenCTM().inverse()).x;
      var best = 0;
      var distance = Infinity;
      bars.forEach(function (bar, i) {
        var centre = parseFloat(bar.getAttribute("x")) + parseFloat(bar.getAttribute("width")) / 2;
        if (Math.abs(centre - x) < distance) { distance = Math.abs(centre - x); best = i; }
      });
      return best;
    }

    plot.addEventListener("pointermove", function (event) { show(indexAt(event.clientX, event.clientY)); });
    plot.addEventListener("pointerdown", function (event) {
      show(indexAt(event.clientX, event.clientY));
    });
    plot.addEventListener("focus", function () { show(current < 0 ? bars.length - 1 : current); });
    plot.addEventListener("keydown", function (event) {
      var moves = { ArrowLeft: -1, ArrowRight: 1 };
      if (event.key in moves) {
        show(current + moves[event.key]);
        event.preventDefault();
      } else if (event.key === "Home") {
        show(0);
        event.preventDefault();
      } else if (event.key === "End") {
        show(bars.length - 1);
        event.preventDefault();
      }
    });
  }

  function setUpCharts() {
    Array.prototype.forEach.call(document.querySelectorAll("figure.chart.main"), setUpChart);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUpCharts);
  } else {
    setUpCharts();
  }
})();
