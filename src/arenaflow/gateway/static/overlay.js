/* arenaflow broadcast overlay: subscribes to /v1/ws and keeps the graphics live.

   Query string (all optional but key):
     key=<broadcast key>        presented to the WebSocket
     game=g0                    the game to follow
     players=g0-h07,g0-a09      lower-third cards (up to 4); the first home and away players seen
                                when absent
     compare=g0-h07,g0-a09      the head-to-head card (default: the first two players)
     metrics=speed,distance,top_speed,sprints
     theme=dark|light           speed=kmh|ms           alerts=game|players   alert_s=5
     names=g0-h07:Saka,...      home=e63946  away=2f6bff  home_name=Home  away_name=Away
     show=lower,compare,alert   debug=1 (connection status in a corner)
*/
(() => {
  "use strict";

  const q = new URLSearchParams(location.search);
  const list = (s) => (s || "").split(",").map((x) => x.trim()).filter(Boolean);
  const hex = (s, d) => (/^#?[0-9a-f]{3,8}$/i.test(s || "") ? "#" + s.replace(/^#/, "") : d);
  const num = (s, d) => (Number.isFinite(parseFloat(s)) ? parseFloat(s) : d);

  const cfg = {
    key: q.get("key") || "",
    game: q.get("game") || "g0",
    players: list(q.get("players")).slice(0, 4),
    compare: list(q.get("compare")).slice(0, 2),
    metrics: list(q.get("metrics")).length
      ? list(q.get("metrics"))
      : ["speed", "distance", "top_speed", "sprints"],
    theme: q.get("theme") === "light" ? "light" : "dark",
    speedUnit: q.get("speed") === "ms" ? "ms" : "kmh",
    alerts: q.get("alerts") === "players" ? "players" : "game",
    alertMs: 1000 * num(q.get("alert_s"), 5),
    names: Object.fromEntries(
      list(q.get("names")).map((e) => [e.split(":")[0], e.split(":").slice(1).join(":")])
    ),
    teamNames: { home: q.get("home_name") || "Home", away: q.get("away_name") || "Away" },
    show: new Set(list(q.get("show")).length ? list(q.get("show")) : ["lower", "compare", "alert"]),
    debug: q.get("debug") === "1",
  };

  const root = document.documentElement;
  root.dataset.theme = cfg.theme;
  root.style.setProperty("--home", hex(q.get("home"), "#e63946"));
  root.style.setProperty("--away", hex(q.get("away"), "#2f6bff"));
  root.dataset.ws = "idle";

  // ------------------------------------------------------------------ formatting

  const speedFactor = cfg.speedUnit === "kmh" ? 3.6 : 1;
  const speedUnit = cfg.speedUnit === "kmh" ? "km/h" : "m/s";
  const distance = (v) => (v >= 1000 ? [(v / 1000).toFixed(2), "km"] : [v.toFixed(0), "m"]);
  const METRICS = {
    speed: { label: "Speed", format: (v) => [(v * speedFactor).toFixed(1), speedUnit] },
    top_speed: { label: "Top speed", format: (v) => [(v * speedFactor).toFixed(1), speedUnit] },
    distance: { label: "Distance", format: distance },
    hsr_distance: { label: "High speed", format: distance },
    sprints: { label: "Sprints", format: (v) => [Math.round(v).toString(), ""] },
    sprint: { label: "Sprint peak", format: (v) => [(v * speedFactor).toFixed(1), speedUnit] },
    xg_from_here: { label: "xG here", format: (v) => [v.toFixed(2), ""] },
  };
  const units = {};
  const metric = (name) =>
    METRICS[name] || {
      label: name.replace(/_/g, " "),
      format: (v) => [Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1), units[name] || ""],
    };

  const number = (id) => {
    const m = /-([a-z])(\d+)$/i.exec(id);
    return m ? String(parseInt(m[2], 10)) : id.slice(-2);
  };
  const displayName = (id) => cfg.names[id] || "Player " + number(id);
  const teamName = (team) => cfg.teamNames[team] || (team ? team : "");
  const teamClass = (team) => (team === "away" ? "away" : "home");

  // ------------------------------------------------------------------ smooth numbers

  const DURATION_MS = 450;
  const moving = new Set();
  let frame = 0;

  /** A number on screen that eases from its shown value to each new one. */
  class Figure {
    constructor(valueEl, unitEl, format) {
      this.valueEl = valueEl;
      this.unitEl = unitEl;
      this.format = format;
      this.shown = null;
      this.target = null;
    }
    set(v) {
      if (!Number.isFinite(v)) return;
      this.target = v;
      this.valueEl.dataset.raw = String(v);
      if (this.shown === null || document.hidden) {
        this.shown = v;
        this.render();
        return;
      }
      this.from = this.shown;
      this.t0 = performance.now();
      moving.add(this);
      if (!frame) frame = requestAnimationFrame(tick);
    }
    step(now) {
      const k = Math.min(1, (now - this.t0) / DURATION_MS);
      const e = 1 - Math.pow(1 - k, 3);
      this.shown = this.from + (this.target - this.from) * e;
      this.render();
      if (k >= 1) moving.delete(this);
    }
    render() {
      const [text, unit] = this.format(this.shown);
      this.valueEl.textContent = text;
      if (this.unitEl) this.unitEl.textContent = unit;
    }
  }

  function tick(now) {
    for (const f of [...moving]) f.step(now);
    frame = moving.size ? requestAnimationFrame(tick) : 0;
  }

  // ------------------------------------------------------------------ players and cards

  const players = new Map(); // id -> {team, values}
  const cards = new Map(); // id -> {el, figures}
  const lower = document.getElementById("lower");
  const template = document.getElementById("card-template");

  function player(id) {
    let p = players.get(id);
    if (!p) players.set(id, (p = { team: "", values: {} }));
    return p;
  }

  function shownPlayers() {
    if (cfg.players.length) return cfg.players;
    // No list given: the first home and the first away player seen.
    const firstOf = (team) => [...players.keys()].find((id) => players.get(id).team === team);
    return [firstOf("home"), firstOf("away")].filter(Boolean);
  }

  function card(id) {
    let c = cards.get(id);
    if (c) return c;
    const el = template.content.firstElementChild.cloneNode(true);
    el.dataset.player = id;
    const figures = {};
    const hero = cfg.metrics.includes("speed");
    const heroEl = el.querySelector(".card-hero");
    if (hero) {
      figures.speed = new Figure(
        el.querySelector(".hero-value"),
        el.querySelector(".hero-unit"),
        METRICS.speed.format
      );
      figures.speed.render = function () {
        Figure.prototype.render.call(this);
        el.querySelector(".speed-fill").style.width =
          Math.min(100, (100 * this.shown) / 10) + "%";
      };
    } else {
      heroEl.hidden = true;
      el.querySelector(".speed-meter").hidden = true;
    }
    const stats = el.querySelector(".card-stats");
    for (const name of cfg.metrics.filter((m) => m !== "speed").slice(0, 4)) {
      const stat = document.createElement("div");
      stat.className = "stat";
      stat.innerHTML =
        '<span class="stat-value"><span class="value"></span><small></small></span>' +
        '<span class="stat-label"></span>';
      const valueEl = stat.querySelector(".value");
      valueEl.dataset.metric = name;
      valueEl.textContent = "–";
      stat.querySelector(".stat-label").textContent = metric(name).label;
      figures[name] = new Figure(valueEl, stat.querySelector("small"), metric(name).format);
      stats.appendChild(stat);
    }
    if (!stats.children.length) stats.hidden = true;
    el.querySelector(".card-number").textContent = number(id);
    el.querySelector(".card-name").textContent = displayName(id);
    c = { el, figures };
    cards.set(id, c);
    lower.appendChild(el);
    paintTeam(id);
    return c;
  }

  function paintTeam(id) {
    const c = cards.get(id);
    if (!c) return;
    const team = player(id).team;
    c.el.classList.toggle("away", teamClass(team) === "away");
    c.el.querySelector(".card-team").textContent = [teamName(team), id].filter(Boolean).join(" · ");
  }

  // ------------------------------------------------------------------ head to head

  const compareEl = document.getElementById("compare");
  const compareRows = compareEl.querySelector(".compare-rows");
  let compared = [];
  const compareFigures = {};

  function comparePair() {
    if (cfg.compare.length === 2) return cfg.compare;
    const shown = shownPlayers();
    return shown.length >= 2 ? shown.slice(0, 2) : [];
  }

  function buildCompare() {
    const pair = comparePair();
    if (!cfg.show.has("compare") || pair.length < 2) return;
    if (pair[0] === compared[0] && pair[1] === compared[1]) return;
    compared = pair;
    compareRows.textContent = "";
    paintCompare();
    for (const name of cfg.metrics) {
      const row = document.createElement("div");
      row.className = "compare-row";
      row.dataset.metric = name;
      row.innerHTML =
        '<span class="compare-value left value">–</span>' +
        '<span class="compare-label"></span>' +
        '<span class="compare-value right value">–</span>' +
        '<div class="compare-bars"><span class="l"></span><span class="r"></span></div>';
      // Speeds carry their unit in the label (the column stays narrow); the rest in the value.
      const speedLike = /\/[hs]$/.test(metric(name).format(1)[1]);
      row.querySelector(".compare-label").textContent =
        metric(name).label + (speedLike ? ` · ${metric(name).format(1)[1]}` : "");
      const [l, r] = row.querySelectorAll(".compare-value");
      const fmt = (v) => {
        const [text, unit] = metric(name).format(v);
        return [unit && !speedLike ? `${text} ${unit}` : text];
      };
      compareFigures[name] = [new Figure(l, null, fmt), new Figure(r, null, fmt)];
      compareRows.appendChild(row);
      pair.forEach((id, i) => {
        const v = player(id).values[name];
        if (v !== undefined) compareFigures[name][i].set(v);
      });
      balance(name);
    }
    compareEl.hidden = false;
  }

  /** Names and team colours of the head-to-head (teams become known with the first values). */
  function paintCompare() {
    const sides = [compareEl.querySelector(".left"), compareEl.querySelector(".right")];
    compared.forEach((id, i) => {
      sides[i].querySelector(".name").textContent = displayName(id);
      sides[i].querySelector(".team").textContent = teamName(player(id).team);
      compareEl.style.setProperty(
        i === 0 ? "--left-team" : "--right-team",
        `var(--${teamClass(player(id).team)})`
      );
    });
  }

  function balance(name) {
    const row = compareRows.querySelector(`[data-metric="${name}"]`);
    if (!row || compared.length < 2) return;
    const [a, b] = compared.map((id) => player(id).values[name] ?? 0);
    const total = Math.abs(a) + Math.abs(b);
    row.querySelector(".l").style.flexGrow = total ? Math.abs(a) / total : 1;
    row.querySelector(".r").style.flexGrow = total ? Math.abs(b) / total : 1;
    const [l, r] = row.querySelectorAll(".compare-value");
    l.classList.toggle("lead", a > b);
    r.classList.toggle("lead", b > a);
  }

  // ------------------------------------------------------------------ alert banner

  const alertEl = document.getElementById("alert");
  let alertTimer = 0;
  let alertCount = 0;
  const title = (s) => s.replace(/[-_]+/g, " ").replace(/\b\w/g, (c) => c.toUpperCase());

  function showAlert(a) {
    if (!cfg.show.has("alert")) return;
    if (cfg.alerts === "players" && !shownPlayers().includes(a.subject_id)) return;
    const m = metric(a.metric || "");
    const [value, unit] = m.format(Number(a.value));
    const [threshold, thresholdUnit] = m.format(Number(a.threshold));
    const team = (players.get(a.subject_id) || {}).team || "";
    const own = a.message && !a.message.startsWith(`${a.subject_id}:`);
    alertEl.querySelector(".alert-kind").textContent = title(a.rule || "Alert");
    alertEl.querySelector(".alert-player").textContent = [
      displayName(a.subject_id),
      teamName(team),
    ]
      .filter(Boolean)
      .join(" · ");
    alertEl.querySelector(".alert-message").textContent = own
      ? a.message
      : `${m.label} · threshold ${threshold}${thresholdUnit ? " " + thresholdUnit : ""}`;
    alertEl.querySelector(".alert-value").textContent = value;
    alertEl.querySelector(".alert-unit").textContent = unit;
    alertEl.dataset.severity = a.severity || "warning";
    alertEl.dataset.rule = a.rule || "";
    alertEl.dataset.count = String(++alertCount);
    alertEl.classList.toggle("away", teamClass(team) === "away");
    alertEl.classList.add("show");
    alertEl.dataset.state = "shown";
    clearTimeout(alertTimer);
    alertTimer = setTimeout(() => {
      alertEl.classList.remove("show");
      alertEl.dataset.state = "hidden";
    }, cfg.alertMs);
  }

  // ------------------------------------------------------------------ messages

  function onMetric(m) {
    if (m.game_id !== cfg.game || typeof m.subject_id !== "string") return;
    const value = Number(m.value);
    if (!Number.isFinite(value)) return;
    const p = player(m.subject_id);
    const teamChanged = m.team && p.team !== m.team;
    if (m.team) p.team = m.team;
    if (m.unit) units[m.metric] = m.unit;
    p.values[m.metric] = value;

    if (cfg.show.has("lower")) {
      for (const id of shownPlayers()) {
        if (!cards.has(id)) card(id);
      }
    }
    if (teamChanged) {
      paintTeam(m.subject_id);
      if (compared.includes(m.subject_id)) paintCompare();
    }
    const c = cards.get(m.subject_id);
    if (c && c.figures[m.metric]) c.figures[m.metric].set(value);

    buildCompare();
    const i = compared.indexOf(m.subject_id);
    if (i >= 0 && compareFigures[m.metric]) {
      compareFigures[m.metric][i].set(value);
      balance(m.metric);
    }
  }

  function onMessage(data) {
    let parsed;
    try {
      parsed = JSON.parse(data);
    } catch {
      return;
    }
    // The server sends one message, or several in one frame as an array.
    for (const m of Array.isArray(parsed) ? parsed : [parsed]) handle(m);
  }

  function handle(m) {
    if (!m || typeof m !== "object") return;
    switch (m.type) {
      case "metric":
        onMetric(m);
        break;
      case "alert":
        if (m.game_id === cfg.game) showAlert(m);
        break;
      case "subscribed":
        root.dataset.subscribed = "1";
        break;
      case "error":
        setStatus("server: " + (m.message || m.error || "error"));
        break;
      default: // heartbeat and kinds this page does not show
        break;
    }
  }

  // ------------------------------------------------------------------ catching up

  // Cumulative metrics are pushed when they change: a page that joins (or rejoins) mid-game
  // takes the current values from the REST snapshot, then follows the socket.
  let seedTries = 0;
  async function seed() {
    let snapshot;
    try {
      const res = await fetch(
        `/v1/games/${encodeURIComponent(cfg.game)}?key=${encodeURIComponent(cfg.key)}`,
        { cache: "no-store" }
      );
      if (!res.ok) {
        if ((res.status === 404 || res.status >= 500) && ++seedTries < 10) setTimeout(seed, 2000);
        return;
      }
      snapshot = await res.json();
    } catch {
      return;
    }
    for (const [id, p] of Object.entries((snapshot && snapshot.players) || {})) {
      const known = players.get(id);
      for (const name of cfg.metrics) {
        if (known && known.values[name] !== undefined) continue; // the socket was quicker
        const value = (p.current || {})[name] ?? (p.cumulative || {})[name];
        if (value === undefined || value === null) continue;
        const unit = ((snapshot.units || {})[name] || "").toString();
        onMetric({ game_id: cfg.game, subject_id: id, metric: name, value, team: p.team, unit });
      }
    }
    root.dataset.seeded = "1";
  }

  // ------------------------------------------------------------------ the socket

  const statusEl = document.getElementById("status");
  statusEl.hidden = !cfg.debug;
  function setStatus(text) {
    statusEl.textContent = text;
  }

  let backoffMs = 500;
  let lastHeard = 0;
  let socket = null;

  function subscription() {
    const msg = {
      type: "subscribe",
      games: [cfg.game],
      metrics: [...new Set(cfg.metrics)],
      kinds: ["metric", "alert"],
    };
    if (cfg.alerts === "players" && cfg.players.length) msg.athletes = cfg.players;
    return msg;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const url = `${scheme}://${location.host}/v1/ws?key=${encodeURIComponent(cfg.key)}`;
    root.dataset.ws = "connecting";
    setStatus("connecting");
    try {
      socket = new WebSocket(url);
    } catch (err) {
      retry();
      return;
    }
    socket.onopen = () => {
      root.dataset.ws = "open";
      setStatus("live");
      backoffMs = 500;
      lastHeard = Date.now();
      socket.send(JSON.stringify(subscription()));
      seedTries = 0;
      seed();
    };
    socket.onmessage = (ev) => {
      lastHeard = Date.now();
      if (typeof ev.data === "string") onMessage(ev.data);
    };
    socket.onclose = (ev) => {
      socket = null;
      if (ev.code === 4401 || ev.code === 4403) {
        // A refused key stays refused: say so on screen instead of knocking forever.
        root.dataset.ws = "refused";
        notice(
          ev.code === 4401
            ? "The gateway does not know this key."
            : "This key may not receive the overlay feed (it needs the broadcast scope)."
        );
        return;
      }
      root.dataset.ws = "closed";
      setStatus(`closed (${ev.code}${ev.reason ? ": " + ev.reason : ""}); retrying`);
      retry();
    };
    socket.onerror = () => {
      /* onclose follows and retries */
    };
  }

  function retry() {
    setTimeout(connect, backoffMs);
    backoffMs = Math.min(5000, backoffMs * 2);
  }

  // A socket silent for longer than a few heartbeats is dead even if nobody said so.
  setInterval(() => {
    if (socket && socket.readyState === WebSocket.OPEN && Date.now() - lastHeard > 30000) {
      socket.close();
    }
  }, 5000);

  function notice(text) {
    const el = document.getElementById("nokey");
    if (text) el.textContent = text;
    el.hidden = false;
  }

  if (!cfg.key) {
    notice();
    root.dataset.ws = "nokey";
    return;
  }
  window.arenaflowOverlay = { cfg, players, cards };
  connect();
})();
