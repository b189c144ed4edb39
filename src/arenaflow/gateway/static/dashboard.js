/* arenaflow operator dashboard: polls /v1/dashboard/stats every second (?key=<admin key>),
   derives rates from successive counters and draws them on hand-written canvas charts. */
(() => {
  "use strict";

  const q = new URLSearchParams(location.search);
  const key = q.get("key") || "";
  const periodMs = Math.max(250, 1000 * (parseFloat(q.get("every_s")) || 1));
  const HISTORY = 120; // points kept per series (two minutes at 1 Hz)
  const $ = (id) => document.getElementById(id);
  const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

  // ------------------------------------------------------------------ formatting

  const int = new Intl.NumberFormat("en", { maximumFractionDigits: 0 });
  const one = new Intl.NumberFormat("en", { maximumFractionDigits: 1 });
  const compact = (v) =>
    Math.abs(v) >= 1e6
      ? (v / 1e6).toFixed(2) + "M"
      : Math.abs(v) >= 1e4
        ? (v / 1e3).toFixed(1) + "k"
        : int.format(v);
  const rate = (v) => (v >= 100 ? int.format(v) : one.format(v)) + " /s";
  const ms = (v) => (v == null ? "–" : v >= 100 ? int.format(v) : v.toFixed(2));

  // ------------------------------------------------------------------ charts

  /** A line chart on a canvas: several series, a shared y axis from zero, the last minutes. */
  class LineChart {
    constructor(canvas, series) {
      this.canvas = canvas;
      this.series = series.map((s) => ({ ...s, points: [] }));
      const legend = canvas.parentElement.querySelector(".legend");
      legend.innerHTML = this.series
        .map((s) => `<span style="--c:${s.color}">${s.label}</span>`)
        .join("");
    }
    push(values) {
      for (const s of this.series) {
        s.points.push(Math.max(0, values[s.key] ?? 0));
        if (s.points.length > HISTORY) s.points.shift();
      }
      this.draw();
    }
    draw() {
      const c = this.canvas;
      const dpr = window.devicePixelRatio || 1;
      const w = c.clientWidth;
      const h = c.clientHeight;
      if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
        c.width = Math.round(w * dpr);
        c.height = Math.round(h * dpr);
      }
      const g = c.getContext("2d");
      g.setTransform(dpr, 0, 0, dpr, 0, 0);
      g.clearRect(0, 0, w, h);
      const left = 44;
      const right = 8;
      const top = 8;
      const bottom = 18;
      const pw = w - left - right;
      const ph = h - top - bottom;
      const peak = Math.max(4, ...this.series.flatMap((s) => s.points));
      const max = niceCeil(peak);
      // The window grows with the history, from half a minute up to HISTORY points.
      const span = Math.min(HISTORY, Math.max(30, ...this.series.map((s) => s.points.length)));
      g.font = `11px ${css("--font")}`;
      g.textBaseline = "middle";
      g.textAlign = "right";
      for (let i = 0; i <= 4; i++) {
        const y = top + ph - (ph * i) / 4;
        g.strokeStyle = i === 0 ? "#2b3650" : "#1c2537";
        g.lineWidth = 1;
        g.beginPath();
        g.moveTo(left, Math.round(y) + 0.5);
        g.lineTo(left + pw, Math.round(y) + 0.5);
        g.stroke();
        g.fillStyle = "#66728a";
        g.fillText(compact((max * i) / 4), left - 8, y);
      }
      g.textAlign = "left";
      g.textBaseline = "alphabetic";
      g.fillText(`−${Math.round(((span - 1) * periodMs) / 1000)}s`, left, h - 3);
      g.textAlign = "right";
      g.fillText("now", left + pw, h - 3);
      const step = pw / (span - 1);
      for (const s of this.series) {
        const n = s.points.length;
        if (n < 2) continue;
        const x0 = left + pw - (n - 1) * step;
        const y = (v) => top + ph - (ph * v) / max;
        g.beginPath();
        s.points.forEach((v, i) => (i ? g.lineTo(x0 + i * step, y(v)) : g.moveTo(x0, y(v))));
        g.lineJoin = "round";
        g.lineWidth = 2;
        g.strokeStyle = s.color;
        g.stroke();
        if (s.fill) {
          g.lineTo(x0 + (n - 1) * step, top + ph);
          g.lineTo(x0, top + ph);
          g.closePath();
          const grad = g.createLinearGradient(0, top, 0, top + ph);
          grad.addColorStop(0, s.color + "55");
          grad.addColorStop(1, s.color + "00");
          g.fillStyle = grad;
          g.fill();
        }
        const last = s.points[n - 1];
        g.fillStyle = s.color;
        g.beginPath();
        g.arc(left + pw, y(last), 3, 0, 2 * Math.PI);
        g.fill();
      }
    }
  }

  function niceCeil(v) {
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  const charts = {
    invocations: new LineChart($("chart-invocations"), [
      { key: "invocations", label: "invocations", color: "#3ddc97", fill: true },
    ]),
    errors: new LineChart($("chart-errors"), [
      { key: "errors", label: "errors", color: "#ff5c5c", fill: true },
      { key: "throttles", label: "throttles", color: "#ffb020" },
    ]),
    ingest: new LineChart($("chart-ingest"), [
      { key: "events", label: "events into functions", color: "#3ddc97", fill: true },
      { key: "accepted", label: "HTTP accepted", color: "#4c8dff" },
      { key: "rejected", label: "HTTP rejected", color: "#ff5c5c" },
    ]),
    push: new LineChart($("chart-push"), [
      { key: "delivered", label: "delivered", color: "#a879ff", fill: true },
      { key: "messages_in", label: "published in", color: "#3ddc97" },
    ]),
  };
  window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.draw()));

  // ------------------------------------------------------------------ polling

  let previous = null;

  function perSecond(now, before, dt) {
    return before === undefined || dt <= 0 ? 0 : Math.max(0, (now - before) / dt);
  }

  function render(stats) {
    const t = stats.totals;
    const push = stats.push || null;
    const dt = previous ? stats.time - previous.time : 0;
    const prevT = previous ? previous.totals : {};
    const prevIngest = previous ? previous.ingest : {};
    const prevPush = (previous && previous.push) || {};
    const rates = {
      invocations: perSecond(t.invocations, prevT.invocations, dt),
      events: perSecond(t.events, prevT.events, dt),
      errors: perSecond(t.errors, prevT.errors, dt),
      throttles: perSecond(t.throttles, prevT.throttles, dt),
      accepted: perSecond(stats.ingest.accepted, prevIngest.accepted, dt),
      rejected: perSecond(stats.ingest.rejected, prevIngest.rejected, dt),
      delivered: push ? perSecond(push.delivered, prevPush.delivered, dt) : 0,
      messages_in: push ? perSecond(push.messages_in, prevPush.messages_in, dt) : 0,
    };

    $("total-invocations").textContent = compact(t.invocations);
    $("total-invocations").dataset.raw = String(t.invocations);
    $("rate-invocations").textContent = rate(rates.invocations);
    $("total-errors").textContent = compact(t.errors);
    $("total-errors").dataset.raw = String(t.errors);
    $("total-errors").classList.toggle("bad", t.errors > 0);
    $("rate-errors").textContent = rate(rates.errors);
    $("total-throttles").textContent = compact(t.throttles);
    $("total-throttles").classList.toggle("warn", t.throttles > 0);
    $("total-cold").textContent = `${int.format(t.cold_starts)} cold starts`;
    $("total-lag").textContent = compact(t.lag);
    $("total-lag").classList.toggle("warn", t.lag > 1000);
    $("total-concurrency").textContent = `${int.format(t.concurrency)} running`;
    $("rate-ingest").textContent = rate(rates.accepted);
    $("total-ingest").textContent =
      `${compact(stats.ingest.accepted)} accepted · ${compact(stats.ingest.rejected)} rejected`;
    $("rate-push").textContent = push ? rate(rates.delivered) : "–";
    $("push-subscribers").textContent = push
      ? `${int.format(push.subscribers || 0)} subscribers · ${compact(push.delivered || 0)} sent`
      : "push tier not reporting";
    $("total-cost").textContent = "$" + t.cost_usd.toFixed(t.cost_usd >= 1 ? 2 : 4);
    $("total-gbs").textContent = `${one.format(t.gb_seconds)} GB-s`;

    for (const chart of Object.values(charts)) {
      if (previous) chart.push(rates);
      else chart.draw();
    }
    table(stats.functions, previous ? previous.functions : [], dt);
    previous = stats;
  }

  function table(functions, before, dt) {
    const body = document.querySelector("#functions tbody");
    const prev = Object.fromEntries(before.map((f) => [f.function, f]));
    const rows = functions.map((f) => {
      const p = prev[f.function];
      const r = p ? perSecond(f.invocations, p.invocations, dt) : 0;
      const cells = [
        [f.function, "name"],
        [compact(f.invocations), "", "invocations", f.invocations],
        [one.format(r), r > 0 ? "hot" : ""],
        [compact(f.errors), f.errors > 0 ? "bad" : ""],
        [compact(f.throttles), f.throttles > 0 ? "warn" : ""],
        [ms(f.duration_ms_p50), ""],
        [ms(f.duration_ms_p95), ""],
        [ms(f.duration_ms_p99), f.duration_ms_p99 > 50 ? "warn" : ""],
        [int.format(f.cold_starts), ""],
        [`${f.concurrency} / ${f.max_concurrency}`, ""],
        [compact(f.lag), f.lag > 1000 ? "warn" : ""],
        [(f.gb_seconds || 0).toFixed(3), ""],
        [(f.cost_usd || 0).toFixed(6), ""],
      ];
      const tds = cells
        .map(([text, cls, field, raw]) => {
          const data = field ? ` data-field="${field}" data-raw="${raw}"` : "";
          return `<td class="${cls}"${data}>${escape(String(text))}</td>`;
        })
        .join("");
      return `<tr data-function="${escape(f.function)}">${tds}</tr>`;
    });
    body.innerHTML = rows.join("");
  }

  function escape(s) {
    return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  }

  function health(ok, text) {
    $("health-dot").className = "dot " + (ok ? "ok" : "bad");
    $("health").textContent = text;
    document.documentElement.dataset.health = ok ? "ok" : "bad";
  }

  function problem(text) {
    $("problem").hidden = !text;
    $("problem").textContent = text || "";
  }

  async function poll() {
    try {
      const res = await fetch(`/v1/dashboard/stats?key=${encodeURIComponent(key)}`, {
        cache: "no-store",
      });
      if (res.status === 401 || res.status === 403) {
        const body = await res.json().catch(() => ({}));
        problem(`${res.status}: ${body.error || "not allowed"} — open /dashboard?key=<admin key>`);
        health(false, "no access");
        previous = null;
      } else if (!res.ok) {
        problem(`the gateway answered ${res.status}`);
        health(false, `error ${res.status}`);
      } else {
        render(await res.json());
        problem("");
        health(true, "live · " + new Date().toLocaleTimeString("en-GB"));
      }
    } catch (err) {
      health(false, "gateway unreachable");
    } finally {
      setTimeout(poll, periodMs);
    }
  }

  if (!key) {
    problem("No key: open /dashboard?key=<admin key>");
    health(false, "no key");
  }
  poll();
})();
