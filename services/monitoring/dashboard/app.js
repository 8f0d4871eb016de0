// The Agency dashboard: one page over the monitoring API. It asks for a viewer token
// once (kept in sessionStorage, so it is gone when the tab closes), then reads
// GET /api/dashboard/stream: server-sent events, read with fetch so the token goes in
// the Authorization header. The local server keeps the stream open and sends a snapshot
// every few seconds; the monitoring Worker sends one and closes, and the page reconnects
// after the stream's `retry` (polling). Everything is written with textContent.
"use strict";

(function () {
  const TOKEN_KEY = "agency.viewerToken";
  const PARTS = ["webhooks", "router", "skill-graph", "assistant", "monitoring", "gateway"];
  const $ = (id) => document.getElementById(id);

  let retryMs = 5000;
  let controller = null;
  let reconnect = null;
  const charts = {};

  // ---- the token ----------------------------------------------------------------

  function token() {
    return sessionStorage.getItem(TOKEN_KEY);
  }

  function askToken(message) {
    stop();
    $("board").hidden = true;
    $("forget").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = message || "";
    $("token").focus();
  }

  $("login").addEventListener("submit", (e) => {
    e.preventDefault();
    const t = $("token").value.trim();
    if (!t) return;
    sessionStorage.setItem(TOKEN_KEY, t);
    $("token").value = "";
    start();
  });

  $("forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    askToken("");
  });

  // ---- the stream ---------------------------------------------------------------

  function setLive(state, text) {
    const el = $("live");
    el.dataset.state = state;
    el.textContent = text;
  }

  function stop() {
    if (controller) controller.abort();
    controller = null;
    if (reconnect) clearTimeout(reconnect);
    reconnect = null;
  }

  function start() {
    $("login").hidden = true;
    $("board").hidden = false;
    $("forget").hidden = false;
    stop();
    connect();
  }

  function later(ms) {
    if (reconnect) clearTimeout(reconnect);
    reconnect = setTimeout(connect, ms);
  }

  async function connect() {
    const t = token();
    if (!t) return askToken("");
    controller = new AbortController();
    const signal = controller.signal;
    let resp;
    try {
      resp = await fetch("/api/dashboard/stream", {
        headers: { authorization: "Bearer " + t, accept: "text/event-stream" },
        cache: "no-store",
        signal,
      });
    } catch (e) {
      if (signal.aborted) return;
      setLive("offline", "offline");
      return later(retryMs);
    }
    if (resp.status === 401 || resp.status === 403) {
      sessionStorage.removeItem(TOKEN_KEY);
      return askToken(resp.status === 401 ? "That token is not accepted." : "That token may not read the dashboard.");
    }
    if (!resp.ok || !resp.body) {
      setLive("offline", "error " + resp.status);
      return later(retryMs);
    }
    setLive("live", "live");
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          handleFrame(frame);
        }
      }
    } catch (e) {
      if (signal.aborted) return;
      setLive("offline", "offline");
    }
    // The stream ended (the edge sends one snapshot a connection): come back after
    // its `retry`.
    later(retryMs);
  }

  function handleFrame(frame) {
    let data = "";
    let event = "message";
    for (const line of frame.split("\n")) {
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "data") data += (data ? "\n" : "") + value;
      else if (field === "event") event = value;
      else if (field === "retry" && /^\d+$/.test(value)) retryMs = Number(value);
    }
    if (event === "snapshot" && data) {
      try {
        render(JSON.parse(data));
      } catch (e) {
        console.warn("dashboard: a snapshot could not be shown", e);
      }
    }
  }

  // ---- rendering ----------------------------------------------------------------

  const fmt = {
    int: (n) => (n == null ? "–" : Math.round(n).toLocaleString()),
    ms: (n) => (n == null ? "–" : n < 1 ? n.toFixed(3) + " ms" : n.toFixed(1) + " ms"),
    pct: (n) => (n == null ? "–" : n.toFixed(4) + "%"),
    share: (n) => (n == null ? "–" : (n * 100).toFixed(1) + "%"),
    usd: (n) => (n == null ? "–" : "$" + n.toFixed(2)),
    rate: (n) => (n == null ? "–" : n.toFixed(2) + "×"),
    time: (s) => {
      if (!s) return "";
      const d = new Date(s);
      return isNaN(d) ? s : d.toLocaleTimeString();
    },
  };

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);
    if (cls) td.className = cls;
    tr.appendChild(td);
  }

  function fill(tbodyId, rows, columns, emptyText) {
    const body = $(tbodyId);
    body.replaceChildren();
    if (!rows || rows.length === 0) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = columns;
      td.className = "empty";
      td.textContent = rows == null ? "unavailable" : emptyText;
      tr.appendChild(td);
      body.appendChild(tr);
      return;
    }
    for (const r of rows) body.appendChild(r);
  }

  function row(values, classes) {
    const tr = document.createElement("tr");
    values.forEach((v, i) => cell(tr, v, classes && classes[i]));
    return tr;
  }

  function renderParts(status) {
    const ul = $("parts");
    ul.replaceChildren();
    for (const part of PARTS) {
      const s = (status && status[part]) || "unknown";
      const li = document.createElement("li");
      li.dataset.part = part;
      li.dataset.status = s;
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = part;
      const st = document.createElement("span");
      st.className = "status";
      st.textContent = s;
      li.append(name, st);
      ul.appendChild(li);
    }
  }

  function renderSla(sla) {
    const dl = $("sla");
    dl.replaceChildren();
    const items = [
      ["Uptime 24 h", fmt.pct(sla.uptime24h)],
      ["Uptime 7 d", fmt.pct(sla.uptime7d)],
      ["Uptime 30 d", fmt.pct(sla.uptime30d)],
      ["Objective", fmt.pct(sla.objective)],
      ["Burn rate 1 h", fmt.rate(sla.burnRate1h)],
      ["Burn rate 6 h", fmt.rate(sla.burnRate6h)],
      ["Latency avg", fmt.ms(sla.avgLatency)],
      ["Latency p95", fmt.ms(sla.p95Latency)],
      ["Latency p99", fmt.ms(sla.p99Latency)],
      ["Routing accuracy", fmt.share(sla.routingAccuracy)],
      ["Cost trend", sla.costTrend ? sla.costTrend.direction + " (" + sla.costTrend.slope.toFixed(2) + " $/day)" : "–"],
    ];
    for (const [k, v] of items) {
      const pair = document.createElement("div");
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = v;
      pair.append(dt, dd);
      dl.appendChild(pair);
    }
    const left = sla.errorBudgetRemaining;
    const bar = $("budget-bar");
    const share = left == null ? 1 : Math.max(0, Math.min(1, left));
    bar.style.width = (share * 100).toFixed(1) + "%";
    bar.dataset.low = String(left != null && left < 0.25);
    $("budget-text").textContent =
      left == null ? "Error budget: no probes yet" : "Error budget remaining (30 days): " + (left * 100).toFixed(1) + "%";
  }

  function css(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  // [times in seconds], then one array per series (null where nothing was noted).
  function columns(series, names) {
    const first = series[names[0]] || [];
    const xs = first.map((p) => p.t / 1000);
    const ys = names.map((n) => (series[n] || []).map((p) => (p.v == null ? null : p.v)));
    return [xs, ...ys];
  }

  function chart(id, data, specs) {
    const el = $(id);
    const width = Math.max(200, el.clientWidth);
    const axis = { stroke: css("--muted"), grid: { stroke: css("--grid") }, ticks: { stroke: css("--grid") } };
    const scales = { x: { time: true } };
    const axes = [axis];
    specs.forEach((s, i) => {
      if (s.scale && !scales[s.scale]) {
        scales[s.scale] = {};
        axes.push(Object.assign({}, axis, { scale: s.scale, side: i === 0 ? 3 : 1, grid: i === 0 ? axis.grid : { show: false } }));
      }
    });
    const opts = {
      width,
      height: 200,
      scales,
      axes,
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      series: [{}].concat(
        specs.map((s) => ({
          label: s.label,
          scale: s.scale,
          stroke: css(s.color),
          width: 2,
          spanGaps: false,
          points: { show: data[0].length < 3 },
        })),
      ),
    };
    const existing = charts[id];
    if (existing && existing.width === width) {
      existing.plot.setData(data);
      return;
    }
    if (existing) existing.plot.destroy();
    el.replaceChildren();
    charts[id] = { plot: new uPlot(opts, data, el), width, data, specs };
  }

  let last = null;

  function renderCharts(series) {
    chart("c-requests", columns(series, ["requests", "errors"]), [
      { label: "requests", scale: "n", color: "--accent" },
      { label: "5xx", scale: "n", color: "--down" },
    ]);
    chart("c-latency", columns(series, ["latency_p95_ms"]), [
      { label: "p95 ms", scale: "ms", color: "--accent" },
    ]);
    chart("c-approvals", columns(series, ["approvals", "spent_usd"]), [
      { label: "approvals", scale: "n", color: "--accent" },
      { label: "spent $", scale: "usd", color: "--accent2" },
    ]);
  }

  function render(s) {
    last = s;
    const st = s.stats || {};
    renderParts(st.workerStatus);
    $("k-requests").textContent = fmt.int(st.requests);
    $("k-routing").textContent = fmt.ms(st.avgRoutingLatency);
    $("k-decisions").textContent = fmt.int(st.routingDecisions);
    $("k-approval").textContent = fmt.share(st.approvalRate);
    $("k-cost").textContent = fmt.usd(st.costToday);
    if (s.sla) renderSla(s.sla);
    renderCharts(s.series || {});

    fill(
      "decisions",
      s.decisions && s.decisions.map((d) =>
        row(
          [fmt.time(d.createdAt), d.message, (d.agent || "nobody") + (d.instance ? " · " + d.instance : ""), d.reason, d.confidence == null ? "" : d.confidence.toFixed(2)],
          [null, "msg"],
        ),
      ),
      5,
      "no decisions yet",
    );
    fill(
      "approvals",
      s.approvals && s.approvals.map((a) => row(["#" + a.number, a.agent, a.action, fmt.usd(a.actualCostUsd ?? a.estimatedCostUsd), a.decision])),
      5,
      "no approvals yet",
    );
    const covers = (g) =>
      [g.action, g.environment, g.channel && "in " + g.channel].filter(Boolean).join(" · ") +
      (g.maxTaskCostUsd == null ? "" : " ≤ " + fmt.usd(g.maxTaskCostUsd) + " a task");
    fill(
      "grants",
      s.grants &&
        s.grants.map((g) =>
          row([
            g.agent,
            covers(g),
            fmt.int(g.uses) + (g.uses === 1 ? " task, " : " tasks, ") + fmt.usd(g.usedCostUsd) + (g.totalCostUsd == null ? "" : " of " + fmt.usd(g.totalCostUsd)),
            fmt.time(g.expiresAt),
          ]),
        ),
      4,
      "no grants in force",
    );
    fill(
      "dead",
      s.deadLetters && s.deadLetters.map((e) => row([e.id, e.platform + " · " + e.source, e.attempts, fmt.time(e.updatedAt)])),
      4,
      "none",
    );
    const instance = (i) =>
      i.id + (i.weight !== 1 ? " ×" + i.weight : "") + (!i.healthy ? " down" : i.load == null ? "" : " " + fmt.share(i.load));
    fill(
      "agents",
      s.agents &&
        s.agents.map((a) =>
          row([a.id, a.healthy ? "up" : "down", (a.instances || []).length ? a.instances.map(instance).join(", ") : "one (no pool)"]),
        ),
      3,
      "no agents",
    );
    const named = (h) => (h.scope === "all" ? "all agents" : h.scope + " " + h.target);
    const heldBy = (h) => {
      const w = (s.held || []).find((x) => x.scope === h.scope && (x.target || null) === (h.target || null));
      return w ? w.events : 0;
    };
    const lifted = (s.held || []).filter((w) => !(s.halts || []).some((h) => h.scope === w.scope && (h.target || null) === (w.target || null)));
    fill(
      "halts",
      s.halts &&
        s.halts
          .map((h) => row([named(h), fmt.time(h.since), h.reason, fmt.int(heldBy(h))]))
          .concat(lifted.map((w) => row([named(w) + " (lifted)", "", "going out now", fmt.int(w.events)]))),
      4,
      "nothing is halted",
    );
    fill(
      "incidents",
      s.incidents && s.incidents.map((i) => row([fmt.time(i.at), i.target, i.previous + " → " + i.status, i.detail || ""])),
      4,
      "none",
    );
    const updated = $("updated");
    updated.textContent = "updated " + fmt.time(s.at);
    updated.dataset.at = s.at;
    document.body.dataset.snapshots = String(Number(document.body.dataset.snapshots || 0) + 1);
  }

  // Charts follow the width of their card.
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => last && renderCharts(last.series || {}), 150);
  });

  if (token()) start();
  else askToken("");
})();
