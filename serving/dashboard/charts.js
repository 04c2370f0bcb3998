// Hand-drawn SVG charts of the dashboard (no library): hourly rates as a line that breaks where a rate is
// null (no impressions that hour), hourly amounts as bars. Times are UTC, like the KPIs' hours.
"use strict";

(function () {
  const NS = "http://www.w3.org/2000/svg";
  const WIDTH = 480;
  const HEIGHT = 170;
  const MARGIN = { left: 54, right: 12, top: 14, bottom: 30 };
  const DOTS_UP_TO = 48;

  function node(name, attrs, parent, text) {
    const element = document.createElementNS(NS, name);
    for (const [attr, value] of Object.entries(attrs || {})) element.setAttribute(attr, String(value));
    if (text !== undefined) element.textContent = text;
    if (parent) parent.appendChild(element);
    return element;
  }

  function niceMax(value) {
    if (!(value > 0)) return 1;
    const power = 10 ** Math.floor(Math.log10(value));
    for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
    return 10 * power;
  }

  function hourLabel(iso, days) {
    const text = String(iso || "");
    // "2026-12-07T09:00:00Z": "09:00" within a day or two, "12-07 09h" beyond
    return days ? `${text.slice(5, 10)} ${text.slice(11, 13)}h` : text.slice(11, 16);
  }

  function finite(value) {
    return typeof value === "number" && Number.isFinite(value);
  }

  // The axes, grid and labels; returns the scales.
  function frame(svg, rows, max, formatY) {
    const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
    const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
    const band = plotWidth / Math.max(rows.length, 1);
    const x = (i) => MARGIN.left + (i + 0.5) * band;
    const y = (v) => MARGIN.top + plotHeight * (1 - v / max);
    for (const fraction of [0, 0.5, 1]) {
      const at = y(max * fraction);
      node("line", { class: "grid", x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: at, y2: at }, svg);
      node("text", { class: "axis", x: MARGIN.left - 6, y: at + 4, "text-anchor": "end" }, svg, formatY(max * fraction, max));
    }
    const days = rows.length > 48;
    const every = Math.max(1, Math.ceil(rows.length / 6));
    rows.forEach((row, i) => {
      if ((rows.length - 1 - i) % every !== 0) return; // the newest hour always has its label
      node("text", { class: "axis", x: x(i), y: HEIGHT - 10, "text-anchor": "middle" }, svg, hourLabel(row.hour, days));
    });
    return { x, y, band, plotHeight };
  }

  function hover(svg, rows, scales, describe) {
    rows.forEach((row, i) => {
      const column = node("rect", {
        class: "hover", x: scales.x(i) - scales.band / 2, y: MARGIN.top, width: scales.band, height: scales.plotHeight,
      }, svg);
      node("title", {}, column, describe(row));
    });
  }

  function empty(svg, message) {
    node("text", { class: "empty", x: WIDTH / 2, y: HEIGHT / 2, "text-anchor": "middle" }, svg, message);
  }

  function clear(svg, rows, values) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    svg.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
    svg.setAttribute("data-hours", String(rows.length));
    svg.setAttribute("data-points", String(values.filter(finite).length));
  }

  // A line of hourly values (rates); null values leave a gap.
  function line(svg, rows, { value, formatY, describe, emptyMessage }) {
    const values = rows.map(value);
    clear(svg, rows, values);
    const known = values.filter(finite);
    const scales = frame(svg, rows, niceMax(Math.max(0, ...known)), formatY);
    if (!known.length) {
      empty(svg, emptyMessage);
      return;
    }
    let path = "";
    values.forEach((v, i) => {
      if (!finite(v)) return;
      const joined = i > 0 && finite(values[i - 1]);
      path += `${joined ? "L" : "M"}${scales.x(i).toFixed(1)},${scales.y(v).toFixed(1)}`;
    });
    node("path", { class: "line", d: path }, svg);
    values.forEach((v, i) => {
      if (!finite(v)) return;
      const alone = !finite(values[i - 1]) && !finite(values[i + 1]);
      if (rows.length <= DOTS_UP_TO || alone) node("circle", { class: "dot", cx: scales.x(i), cy: scales.y(v), r: 3 }, svg);
    });
    hover(svg, rows, scales, describe);
  }

  // Bars of hourly amounts (revenue).
  function bars(svg, rows, { value, formatY, describe, emptyMessage }) {
    const values = rows.map(value);
    clear(svg, rows, values);
    const known = values.filter(finite);
    const scales = frame(svg, rows, niceMax(Math.max(0, ...known)), formatY);
    if (!known.some((v) => v > 0)) {
      empty(svg, emptyMessage);
      return;
    }
    const width = Math.max(1, scales.band * 0.7);
    values.forEach((v, i) => {
      if (!finite(v) || v <= 0) return;
      const top = scales.y(v);
      node("rect", { class: "bar", x: scales.x(i) - width / 2, y: top, width, height: MARGIN.top + scales.plotHeight - top }, svg);
    });
    hover(svg, rows, scales, describe);
  }

  window.RecsCharts = { line, bars };
})();
