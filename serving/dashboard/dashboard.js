// The live dashboard: reads GET /v1/kpis (docs/feedback.md) every few seconds and fills the page.
// The read key comes from the page's own URL (?key=) and goes out as X-API-Key; ?refresh= sets the
// period in seconds (default 3), ?range= the range (1h, 24h, 7d; default 24h).
"use strict";

(function () {
  const DASH = "–";
  const RANGES = { "1h": 1, "24h": 24, "7d": 168 };
  const params = new URLSearchParams(window.location.search);
  const key = params.get("key");
  const refreshSeconds = Math.min(3600, Math.max(1, Number(params.get("refresh")) || 3));
  let range = Object.hasOwn(RANGES, params.get("range")) ? params.get("range") : "24h";
  let timer = null;
  let lastAnswer = null;

  const COUNT = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
  const MONEY = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const AXIS = new Intl.NumberFormat("en-US", { maximumFractionDigits: 2 });
  const finite = (v) => typeof v === "number" && Number.isFinite(v);
  const count = (v) => (finite(v) ? COUNT.format(v) : DASH);
  const money = (v) => (finite(v) ? MONEY.format(v) : DASH);
  const rate = (v) => (finite(v) ? `${(v * 100).toFixed(2)}%` : DASH);
  const byTestId = (id) => document.querySelector(`[data-testid="${id}"]`);

  function setText(id, text) {
    const element = byTestId(id);
    if (element && element.textContent !== text) element.textContent = text;
  }

  function utc(iso) {
    if (!iso) return DASH;
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? String(iso) : `${date.toISOString().slice(0, 19).replace("T", " ")} UTC`;
  }

  function age(fromIso, toIso) {
    const seconds = (new Date(toIso).getTime() - new Date(fromIso).getTime()) / 1000;
    if (!Number.isFinite(seconds) || seconds < 0) return "";
    if (seconds < 90) return `${Math.round(seconds)} s ago`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min ago`;
    if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h ago`;
    return `${(seconds / 86400).toFixed(1)} days ago`;
  }

  function duration(seconds) {
    if (!finite(seconds)) return DASH;
    if (seconds % 86400 === 0 && seconds > 86400) return `${seconds / 86400} days`;
    if (seconds % 3600 === 0) return `${seconds / 3600} h`;
    return `${seconds} s`;
  }

  function status(state, message) {
    const element = byTestId("status");
    element.dataset.state = state;
    if (element.textContent !== message) element.textContent = message;
    document.body.classList.toggle("stale", state === "error");
  }

  // The query of the selected range: whole hours, the current one included.
  function kpisUrl() {
    const now = Math.floor(Date.now() / 1000);
    const hourStart = now - (now % 3600);
    const from = hourStart - (RANGES[range] - 1) * 3600;
    return `v1/kpis?from=${from}&to=${now}`;
  }

  async function reason(response) {
    try {
      const body = await response.json();
      if (body && typeof body.reason === "string") return body.reason;
      if (body && body.detail) return typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    } catch (_) {
      // not JSON: the status says enough
    }
    return response.statusText || "no reason given";
  }

  function failure(message) {
    const since = lastAnswer ? ` The numbers below are from ${utc(lastAnswer)}.` : "";
    status("error", `${message}${since} Retrying every ${refreshSeconds} s.`);
  }

  async function refresh() {
    window.clearTimeout(timer);
    const controller = new AbortController();
    const abort = window.setTimeout(() => controller.abort(), Math.max(5, refreshSeconds) * 1000);
    try {
      const response = await fetch(kpisUrl(), {
        headers: key ? { "X-API-Key": key } : {},
        cache: "no-store",
        signal: controller.signal,
      });
      if (response.status === 401 || response.status === 403) {
        failure(`The KPIs answered ${response.status}: ${await reason(response)}. Open this page as /dashboard?key=<a read key of RECS_API_KEYS>.`);
      } else if (!response.ok) {
        failure(`The KPIs answered ${response.status}: ${await reason(response)}.`);
      } else {
        await show(response);
      }
    } catch (error) {
      const what = error && error.name === "AbortError" ? "no answer in time" : String(error && error.message || error);
      failure(`Cannot reach the service's /v1/kpis (${what}).`);
    } finally {
      window.clearTimeout(abort);
      timer = window.setTimeout(refresh, refreshSeconds * 1000);
    }
  }

  // An answer of /v1/kpis: its JSON rendered, or a message saying what is wrong with it.
  async function show(response) {
    let kpis;
    try {
      kpis = await response.json();
    } catch (_) {
      failure("The KPIs' answer is not JSON.");
      return;
    }
    if (!kpis || typeof kpis !== "object" || Array.isArray(kpis)) {
      failure("The KPIs' answer is not the object this page expects (docs/feedback.md).");
      return;
    }
    try {
      render(kpis);
    } catch (error) {
      failure(`The KPIs' answer could not be shown (${error && error.message}).`);
    }
  }

  function render(kpis) {
    const totals = kpis.totals || {};
    const funnel = kpis.funnel || {};
    const series = Array.isArray(kpis.series) ? kpis.series : [];
    lastAnswer = kpis.generated_at || new Date().toISOString();
    renderTiles(totals);
    renderActive(kpis);
    renderTable(Array.isArray(kpis.by_surface) ? kpis.by_surface : [], kpis.active);
    renderFunnel(funnel);
    renderCharts(series);
    setText("range-shown", kpis.from && kpis.to ? `${utc(kpis.from)} to ${utc(kpis.to)}` : DASH);
    setText("attribution-window", duration(kpis.attribution_window_seconds));
    setText("generated-at", utc(kpis.generated_at));
    setText("last-refresh", new Date().toISOString().slice(11, 19) + " UTC");
    if (kpis.active) status("ok", "Live.");
    else status("unpublished", "Nothing is published: every answer is a fallback. Publish a version with `recs publish`.");
  }

  function renderTiles(totals) {
    setText("tile-answers", count(totals.answers));
    setText("tile-impressions", count(totals.impressions));
    setText("tile-clicks", count(totals.clicks));
    setText("tile-ctr", rate(totals.ctr));
    setText("tile-attributed-purchases", count(totals.attributed_purchases));
    setText("tile-conversion-rate", rate(totals.conversion_rate));
    setText("tile-attributed-revenue", money(totals.attributed_revenue));
    setText("tile-revenue-per-mille", money(totals.revenue_per_mille));
  }

  function renderActive(kpis) {
    const active = kpis.active;
    if (!active) {
      setText("active-version", "nothing published");
      setText("active-published-at", DASH);
      return;
    }
    setText("active-version", String(active.model_version || DASH));
    const ago = age(active.published_at, kpis.generated_at);
    setText("active-published-at", `${utc(active.published_at)}${ago ? ` (${ago})` : ""}`);
  }

  const COLUMNS = [
    ["surface", (r) => String(r.surface ?? DASH)],
    ["model_version", (r) => String(r.model_version ?? DASH)],
    ["answers", (r) => count(r.answers)],
    ["impressions", (r) => count(r.impressions)],
    ["clicks", (r) => count(r.clicks)],
    ["ctr", (r) => rate(r.ctr)],
    ["attributed_purchases", (r) => count(r.attributed_purchases)],
    ["conversion_rate", (r) => rate(r.conversion_rate)],
    ["attributed_revenue", (r) => money(r.attributed_revenue)],
    ["revenue_per_mille", (r) => money(r.revenue_per_mille)],
  ];

  function renderTable(rows, active) {
    const body = byTestId("surface-table").tBodies[0];
    const fresh = document.createElement("tbody");
    for (const row of rows) {
      const tr = fresh.insertRow();
      tr.dataset.testid = "surface-row";
      tr.dataset.surface = String(row.surface ?? "");
      tr.dataset.version = String(row.model_version ?? "");
      if (active && row.model_version === active.model_version) tr.classList.add("active-version");
      for (const [name, show] of COLUMNS) {
        const cell = tr.insertCell();
        cell.dataset.col = name;
        cell.textContent = show(row);
      }
    }
    if (!rows.length) {
      const cell = fresh.insertRow().insertCell();
      cell.colSpan = COLUMNS.length;
      cell.className = "empty";
      cell.textContent = "No answers in this range yet.";
    }
    body.replaceWith(fresh);
  }

  function renderFunnel(funnel) {
    const steps = [["funnel-views", funnel.views], ["funnel-add-to-carts", funnel.add_to_carts], ["funnel-purchases", funnel.purchases]];
    const top = Math.max(1, ...steps.map(([, v]) => (finite(v) ? v : 0)));
    for (const [id, value] of steps) {
      setText(id, count(value));
      const fill = byTestId(id).parentElement.querySelector(".fill");
      fill.style.width = `${finite(value) ? (100 * value) / top : 0}%`;
    }
    setText("funnel-carts", count(funnel.carts));
    setText("funnel-converted-carts", count(funnel.converted_carts));
    setText("funnel-abandoned-carts", count(funnel.abandoned_carts));
    setText("funnel-open-carts", count(funnel.open_carts));
    setText("funnel-cart-abandonment-rate", rate(funnel.cart_abandonment_rate));
  }

  function percentAxis(v, max) {
    return `${(v * 100).toFixed(max >= 0.1 ? 0 : max >= 0.01 ? 1 : 2)}%`;
  }

  function renderCharts(series) {
    const hour = (row) => utc(row.hour).replace(":00 UTC", " UTC");
    window.RecsCharts.line(byTestId("chart-ctr"), series, {
      value: (row) => row.ctr,
      formatY: percentAxis,
      describe: (row) => `${hour(row)}: CTR ${rate(row.ctr)} (${count(row.clicks)} clicks / ${count(row.impressions)} impressions)`,
      emptyMessage: "no impressions in this range",
    });
    window.RecsCharts.line(byTestId("chart-conversion"), series, {
      value: (row) => row.conversion_rate,
      formatY: percentAxis,
      describe: (row) => `${hour(row)}: conversion ${rate(row.conversion_rate)} (${count(row.attributed_purchases)} purchases / ${count(row.impressions)} impressions)`,
      emptyMessage: "no impressions in this range",
    });
    window.RecsCharts.bars(byTestId("chart-revenue"), series, {
      value: (row) => row.attributed_revenue,
      formatY: (v) => AXIS.format(v),
      describe: (row) => `${hour(row)}: revenue ${money(row.attributed_revenue)} (${count(row.attributed_purchases)} purchases)`,
      emptyMessage: "no attributed revenue in this range",
    });
  }

  function start() {
    setText("refresh-seconds", String(refreshSeconds));
    const select = byTestId("range");
    select.value = range;
    select.addEventListener("change", () => {
      range = select.value;
      const url = new URL(window.location.href);
      url.searchParams.set("range", range);
      window.history.replaceState(null, "", url);
      refresh();
    });
    refresh();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
