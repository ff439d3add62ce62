// The ferroflow dashboard: fills the server-rendered pages from the JSON API and the SSE stream.
// Every piece of user data goes through textContent (or an SVG text node), never through HTML;
// the one exception is a file preview, which is Pygments' output (every character escaped).
"use strict";
(function () {
  const body = document.body;
  const base = body.dataset.base || "";
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (sel) => document.querySelector(sel);
  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  };
  const svg = (tag, attrs) => {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs || {}) e.setAttribute(k, String(attrs[k]));
    return e;
  };
  const link = (text, href, cls) => { const a = el("a", text, cls); a.href = href; return a; };
  const td = (child, cls) => { const c = el("td", null, cls); c.append(child); return c; };
  const api = (path) => fetch(base + path, { credentials: "same-origin" }).then((r) => r.json().then((d) => {
    if (!r.ok) throw new Error(d.error || path + " → " + r.status);
    return d;
  }));
  const post = (path, data) => fetch(base + path, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" }, body: JSON.stringify(data || {}),
  }).then((r) => r.json().then((d) => ({ ok: r.ok, status: r.status, data: d })));
  const clock = (t) => (t ? new Date(t * 1000).toLocaleTimeString() : "");
  const stamp = (t) => (t ? new Date(t * 1000).toLocaleString() : "");
  const seconds = (s) => (s === null || s === undefined ? "" : s < 1 ? Math.round(s * 1000) + " ms" : s < 120 ? s.toFixed(1) + " s" : (s / 60).toFixed(1) + " min");
  const dur = (a, b) => (a && b ? seconds(b - a) : "");
  const debounce = (fn, ms) => { let h = null; return () => { if (!h) h = setTimeout(() => { h = null; fn(); }, ms); }; };
  const runLink = (r) => link(r.run_id.slice(0, 12), base + "/runs/" + encodeURIComponent(r.run_id), "mono");
  const how = (r) => {
    const t = r.trigger || {};
    const d = t.detail || {};
    if (t.kind === "schedule") return "schedule " + (d.schedule || "");
    if (t.kind === "watch") return "watch: " + (d.change || "") + " " + (d.path || "");
    return t.kind || "python";
  };
  const banner = (message) => {
    const b = $("#store-banner");
    if (!b) return;
    b.hidden = !message; b.textContent = message ? "Store: " + message : "";
  };
  document.querySelectorAll("[data-nav]").forEach((a) => { if (a.dataset.nav === body.dataset.page) a.classList.add("here"); });

  function stream(onItem) {
    const live = $("#live");
    const source = new EventSource(base + "/api/events/stream");
    source.onopen = () => { live.textContent = "live"; live.className = "pill ok"; };
    source.onerror = () => { live.textContent = "reconnecting…"; live.className = "pill warn"; };
    source.onmessage = (m) => { let item = null; try { item = JSON.parse(m.data); } catch (e) { return; } onItem(item); };
  }

  function runRow(r, columns) {
    const tr = el("tr");
    const cells = {
      run: () => td(runLink(r)), workflow: () => el("td", r.workflow), status: () => el("td", r.status, "status " + r.status),
      started: () => el("td", stamp(r.started_at), "muted"), duration: () => el("td", seconds(r.duration_seconds)),
      tasks: () => el("td", r.task_count), failed: () => el("td", (r.stats && r.stats.failed) || "", "err"), how: () => el("td", how(r), "muted small"),
    };
    columns.forEach((c) => tr.append(cells[c]()));
    return tr;
  }

  // ------------------------------------------------------------ overview
  function overview() {
    const events = $("#events tbody");
    const addEvent = (ev) => {
      $("#events-empty").hidden = true;
      const tr = el("tr", null, "clickable");
      tr.append(el("td", clock(ev.time), "muted"), el("td", ev.change, "chg " + ev.change), el("td", ev.path, "path"));
      tr.addEventListener("click", () => showPreview(ev.path, tr));
      events.prepend(tr);
      while (events.rows.length > 200) events.deleteRow(-1);
    };
    const showPreview = (path, row) => {
      document.querySelectorAll("#events tr.sel").forEach((r) => r.classList.remove("sel"));
      row.classList.add("sel");
      $("#preview-name").textContent = path;
      const box = $("#preview");
      api("/api/file?path=" + encodeURIComponent(path)).then((p) => {
        box.className = "preview";
        box.innerHTML = p.html; // Pygments' output: every character of the file is escaped
        if (p.truncated) box.prepend(el("div", "truncated: the first part of " + p.size + " bytes", "warn"));
      }).catch((e) => { box.className = "preview muted"; box.textContent = "not previewed: " + e.message; });
    };
    const state = () => api("/api/state").then((s) => {
      $("#n-total").textContent = s.stats.events_total;
      $("#n-added").textContent = s.stats.by_change.added;
      $("#n-modified").textContent = s.stats.by_change.modified;
      $("#n-deleted").textContent = s.stats.by_change.deleted;
      $("#n-calls").textContent = s.stats.handler_calls;
      $("#n-errors").textContent = s.stats.handler_errors ? s.stats.handler_errors + " failed" : "";
      banner(s.store_error);
      const tb = $("#handlers tbody"); tb.replaceChildren();
      s.handlers.forEach((h) => {
        const tr = el("tr"); tr.append(el("td", h.name), el("td", h.root, "path"), el("td", h.events.join(", ")),
          el("td", Array.isArray(h.pattern) ? h.pattern.join(" ") : (h.pattern || "*"))); tb.append(tr);
      });
      if (!s.handlers.length) { const tr = el("tr"); tr.append(el("td", "this process watches nothing (the store's runs are shown)", "muted")); tb.append(tr); }
    });
    const health = () => api("/health").then((h) => {
      const e = $("#health"); e.textContent = h.status; e.className = "num small " + (h.status === "healthy" ? "ok" : "muted");
      $("#uptime").textContent = "up " + seconds(h.uptime_seconds);
    });
    const runs = () => api("/api/runs?limit=10").then((d) => {
      banner(d.store_error);
      const tb = $("#recent-runs tbody"); tb.replaceChildren();
      d.runs.forEach((r) => tb.append(runRow(r, ["run", "workflow", "status", "started", "duration", "how"])));
      if (!d.runs.length) { const tr = el("tr"); tr.append(el("td", d.store_error ? "" : "no runs yet", "muted")); tb.append(tr); }
    });
    const fires = () => api("/api/schedules").then((d) => {
      const rows = [];
      d.schedules.forEach((s) => s.next_fires.slice(0, 3).forEach((f) => rows.push([f, s])));
      rows.sort((a, b) => (a[0] < b[0] ? -1 : 1));
      const tb = $("#next-fires tbody"); tb.replaceChildren();
      rows.slice(0, 8).forEach(([f, s]) => { const tr = el("tr"); tr.append(el("td", new Date(f).toLocaleString()), el("td", s.id, "mono"), el("td", s.target)); tb.append(tr); });
      if (!rows.length) { const tr = el("tr"); tr.append(el("td", "no schedule fires", "muted")); tb.append(tr); }
    });
    const sessions = () => api("/api/sessions?limit=8").then((d) => {
      const tb = $("#sessions tbody"); tb.replaceChildren();
      d.sessions.forEach((s) => {
        const tr = el("tr", null, "clickable"); const st = s.stats || {};
        tr.append(el("td", s.app), el("td", s.status, "status " + s.status), el("td", stamp(s.started_at), "muted"),
          el("td", st.events_total || 0), el("td", st.handler_calls || 0), el("td", st.handler_errors || "", "err"));
        tr.addEventListener("click", () => showSession(s)); tb.append(tr);
      });
      if (!d.sessions.length) { const tr = el("tr"); tr.append(el("td", "no watch session recorded", "muted")); tb.append(tr); }
    });
    const showSession = (s) => {
      const box = $("#session-detail"); box.hidden = false; box.replaceChildren();
      box.append(el("h3", s.app + " · " + (s.roots || []).join(", ")));
      if (!s.errors.length) box.append(el("div", "no handler failure", "muted"));
      s.errors.forEach((e) => { box.append(el("div", clock(e.time) + " " + e.handler + " on " + e.change + " " + e.path + ": " + e.error, "err")); box.append(el("pre", e.traceback, "tb")); });
    };
    api("/api/events?limit=100").then((d) => d.events.forEach(addEvent));
    state(); health(); runs(); fires(); sessions();
    const refreshState = debounce(state, 300); const refreshStore = debounce(() => { runs(); sessions(); }, 500);
    stream((item) => {
      if (item.type === "file") { addEvent(item); refreshState(); }
      else if (item.type === "store") { refreshStore(); }
      else if (item.type === "skipped") { const tr = el("tr"); tr.append(el("td", "… " + item.count + " events skipped (this page fell behind)", "muted")); events.prepend(tr); state(); }
    });
    setInterval(health, 5000); setInterval(fires, 60000);
  }

  // ------------------------------------------------------------ the run history
  function runsPage() {
    let offset = 0; const limit = 50; let total = 0;
    const form = $("#run-filter");
    const params = new URLSearchParams(location.search);
    ["workflow", "status"].forEach((k) => { if (params.get(k)) form.elements[k].value = params.get(k); });
    const load = () => {
      const f = new FormData(form);
      const q = new URLSearchParams({ limit: String(limit), offset: String(offset) });
      if (f.get("workflow")) q.set("workflow", f.get("workflow"));
      if (f.get("status")) q.set("status", f.get("status"));
      if (f.get("since")) q.set("since", f.get("since"));
      if (f.get("until")) { const u = new Date(f.get("until")); u.setDate(u.getDate() + 1); q.set("until", u.toISOString().slice(0, 10)); }
      return api("/api/runs?" + q).then((d) => {
        banner(d.store_error); total = d.total;
        const tb = $("#run-table tbody"); tb.replaceChildren();
        const frag = document.createDocumentFragment();
        d.runs.forEach((r) => frag.append(runRow(r, ["run", "workflow", "status", "started", "duration", "tasks", "failed", "how"])));
        tb.append(frag);
        $("#page-info").textContent = total ? (offset + 1) + "–" + Math.min(offset + limit, total) + " of " + total : (d.store_error ? "" : "no runs");
      }).catch((e) => { $("#page-info").textContent = e.message; });
    };
    form.addEventListener("submit", (e) => { e.preventDefault(); offset = 0; load(); });
    $("#prev").addEventListener("click", () => { offset = Math.max(0, offset - limit); load(); });
    $("#next").addEventListener("click", () => { if (offset + limit < total) { offset += limit; load(); } });
    load();
    const again = debounce(load, 700);
    stream((item) => { if (item.type === "store") again(); });
  }

  // ------------------------------------------------------------ a run
  const NODE_W = 150, NODE_H = 28, COL_GAP = 60, ROW_GAP = 8, PAD = 10;
  function drawGraph(g, onPick, onLayer) {
    const box = $("#dag"); box.replaceChildren();
    if (!g.total) { box.append(el("div", "no tasks", "muted")); return; }
    const collapsedBy = {}; g.collapsed.forEach((c) => { collapsedBy[c.layer] = c; });
    const pos = {};
    let height = 0;
    g.layers.forEach((layer, li) => {
      layer.forEach((n, k) => { pos[n.name] = [PAD + li * (NODE_W + COL_GAP), PAD + k * (NODE_H + ROW_GAP)]; });
      const rows = layer.length + (collapsedBy[li] ? 1 : 0);
      height = Math.max(height, PAD * 2 + rows * (NODE_H + ROW_GAP));
    });
    const width = PAD * 2 + g.layers.length * (NODE_W + COL_GAP) - COL_GAP;
    const root = svg("svg", { width: width, height: height, role: "img", "aria-label": "task graph" });
    // Every edge in one path: thousands of edges cost one element, not thousands.
    const d = [];
    g.edges.forEach(([a, b]) => {
      const p = pos[a], q = pos[b]; if (!p || !q) return;
      const x1 = p[0] + NODE_W, y1 = p[1] + NODE_H / 2, x2 = q[0], y2 = q[1] + NODE_H / 2, mx = (x1 + x2) / 2;
      d.push("M" + x1 + "," + y1 + "C" + mx + "," + y1 + " " + mx + "," + y2 + " " + x2 + "," + y2);
    });
    const edges = svg("g", { class: "edges" });
    if (d.length) edges.append(svg("path", { d: d.join("") }));
    root.append(edges);
    const nodes = svg("g", { class: "nodes" });
    g.layers.forEach((layer) => layer.forEach((n) => {
      const [x, y] = pos[n.name];
      const node = svg("g", { class: "node " + n.status, transform: "translate(" + x + "," + y + ")", "data-task": n.name });
      node.append(svg("rect", { width: NODE_W, height: NODE_H, rx: 6 }));
      const label = svg("text", { x: 10, y: 18 }); label.textContent = n.name.length > 19 ? n.name.slice(0, 18) + "…" : n.name;
      const title = svg("title"); title.textContent = n.name + ": " + n.status;
      node.append(label, title);
      nodes.append(node);
    }));
    g.collapsed.forEach((c) => {
      const layer = g.layers[c.layer];
      const x = PAD + c.layer * (NODE_W + COL_GAP), y = PAD + layer.length * (NODE_H + ROW_GAP);
      const node = svg("g", { class: "node collapsed", transform: "translate(" + x + "," + y + ")", "data-layer": c.layer });
      node.append(svg("rect", { width: NODE_W, height: NODE_H, rx: 6 }));
      const label = svg("text", { x: 10, y: 18 }); label.textContent = "+" + c.count + " more";
      const parts = Object.keys(c.by_status).map((s) => c.by_status[s] + " " + s);
      const title = svg("title"); title.textContent = c.count + " more tasks in this layer: " + parts.join(", ") + " (click to list them)";
      node.append(label, title); nodes.append(node);
    });
    root.append(nodes);
    root.addEventListener("click", (e) => {
      const node = e.target.closest && e.target.closest(".node");
      if (!node) return;
      if (node.dataset.task !== undefined) onPick(node.dataset.task);
      else if (node.dataset.layer !== undefined) onLayer(Number(node.dataset.layer));
    });
    box.append(root);
    const drawn = g.layers.reduce((n, l) => n + l.length, 0);
    $("#dag-info").textContent = g.total + " tasks in " + g.layers.length + " layers" + (drawn < g.total ? " · " + drawn + " drawn, " + (g.total - drawn) + " collapsed" : "");
  }

  const MAX_BARS = 500;
  function drawTimeline(tasks, onPick, boxWidth) {
    const box = $("#timeline"); box.replaceChildren();
    const timed = tasks.filter((t) => t.started_at).sort((a, b) => a.started_at - b.started_at);
    if (!timed.length) { box.append(el("div", "no task has started yet", "muted")); $("#timeline-info").textContent = ""; return; }
    const now = Date.now() / 1000;
    const t0 = timed[0].started_at;
    let t1 = t0;
    timed.forEach((t) => { t1 = Math.max(t1, t.finished_at || now); });
    const span = Math.max(t1 - t0, 0.001);
    const shown = timed.slice(0, MAX_BARS);
    const labelW = 170, W = Math.max(400, (boxWidth || box.clientWidth || 900) - 20), barW = W - labelW, rowH = 16;
    const root = svg("svg", { width: W, height: shown.length * rowH + 24, role: "img", "aria-label": "timeline" });
    const x = (t) => labelW + ((t - t0) / span) * barW;
    [0, 0.25, 0.5, 0.75, 1].forEach((f) => {
      root.append(svg("line", { x1: labelW + f * barW, x2: labelW + f * barW, y1: 0, y2: shown.length * rowH, class: "tick" }));
      const tx = svg("text", { x: Math.min(labelW + f * barW, W - 40), y: shown.length * rowH + 16, class: "tick-label" }); tx.textContent = "+" + seconds(f * span); root.append(tx);
    });
    shown.forEach((t, i) => {
      const row = svg("g", { class: "row", transform: "translate(0," + i * rowH + ")", "data-task": t.name });
      const label = svg("text", { x: 0, y: 12 }); label.textContent = t.name.length > 24 ? t.name.slice(0, 23) + "…" : t.name;
      row.append(label);
      (t.failed_attempts || []).forEach((a) => {
        if (!a.started_at) return;
        const bar = svg("rect", { x: x(a.started_at), y: 3, width: Math.max(1, x(a.finished_at || now) - x(a.started_at)), height: 10, class: "bar failed attempt" });
        const title = svg("title"); title.textContent = t.name + " attempt " + a.number + " failed · " + dur(a.started_at, a.finished_at); bar.append(title); row.append(bar);
      });
      // The attempt that decided the status: after the last failed one (a failed task's last
      // attempt is that failed one, already drawn).
      const failed = (t.failed_attempts || []).filter((a) => a.finished_at);
      const last = failed[failed.length - 1];
      const start = last ? last.finished_at : t.started_at;
      const end = t.finished_at || now;
      if (!(t.status === "failed" && last && last.number >= t.attempts)) {
        const bar = svg("rect", { x: x(start), y: 3, width: Math.max(1, x(end) - x(start)), height: 10, class: "bar " + t.status });
        const title = svg("title"); title.textContent = t.name + " · " + t.status + " · " + dur(t.started_at, end) + (t.attempts > 1 ? " · " + t.attempts + " attempts" : ""); bar.append(title); row.append(bar);
      }
      root.append(row);
    });
    root.addEventListener("click", (e) => { const row = e.target.closest && e.target.closest(".row"); if (row) onPick(row.dataset.task); });
    box.append(root);
    $("#timeline-info").textContent = seconds(span) + (timed.length > MAX_BARS ? " · first " + MAX_BARS + " of " + timed.length + " tasks by start" : "");
  }

  function showTask(runId, name) {
    const body = $("#detail-body");
    $("#detail-name").textContent = name;
    body.className = ""; body.replaceChildren(el("div", "loading…", "muted"));
    api("/api/runs/" + encodeURIComponent(runId) + "/tasks/" + encodeURIComponent(name)).then((t) => {
      body.replaceChildren();
      const head = el("div", t.status + (t.attempts > 1 ? " after " + t.attempts + " attempts" : "") + (t.duration_seconds !== null ? " · " + seconds(t.duration_seconds) : "") + (t.cached ? " · from the cache" : "") + (t.resumed ? " · kept from the resumed run" : ""), "status " + t.status);
      body.append(head);
      if (t.reason) body.append(el("div", t.reason, "muted"));
      if (t.failed_attempts.length) {
        body.append(el("h3", "Failed attempts"));
        t.failed_attempts.forEach((a) => {
          const d = el("details", null, "attempt"); d.open = a === t.failed_attempts[t.failed_attempts.length - 1];
          d.append(el("summary", "attempt " + a.number + " · " + a.error + (a.started_at ? " · " + dur(a.started_at, a.finished_at) : "")));
          d.append(el("pre", a.traceback || a.error, "tb"));
          body.append(d);
        });
      }
      body.append(el("h3", "Logs"));
      body.append(el("pre", (t.logs || []).join("\n") || "no log lines", "logs"));
    }).catch((e) => { body.replaceChildren(el("div", e.message, "err")); });
  }

  function drawReport(report) {
    const box = $("#report"); box.replaceChildren(); box.className = "";
    if (!report) { box.className = "muted"; box.textContent = "no report yet"; return; }
    box.append(el("div", (report.status || "") + " · " + Math.round(report.percent || 0) + "% · " + (report.message || ""), "status " + String(report.status || "").toLowerCase()));
    const table = el("table", null, "list"); const head = el("tr");
    ["step", "status", "percent", "message"].forEach((h) => head.append(el("th", h)));
    const thead = el("thead"); thead.append(head); table.append(thead);
    const tb = el("tbody");
    (report.steps || []).slice(0, 500).forEach((s) => { const tr = el("tr"); tr.append(el("td", s.id), el("td", s.status, "status " + String(s.status).toLowerCase()), el("td", Math.round(s.percent || 0) + "%"), el("td", s.message || (s.errors || []).join("; "), "muted")); tb.append(tr); });
    table.append(tb); box.append(table);
    const raw = el("details"); raw.append(el("summary", "JSON"));
    raw.addEventListener("toggle", () => { if (raw.open && raw.children.length < 2) raw.append(el("pre", JSON.stringify(report, null, 2), "logs")); });
    box.append(raw);
  }

  const TABLE_PAGE = 500;
  function runPage() {
    const runId = body.dataset.run;
    const runApi = "/api/runs/" + encodeURIComponent(runId);
    let filter = "";
    let tasks = [];
    let rows = TABLE_PAGE;
    const pick = (name) => showTask(runId, name);
    const drawTable = () => {
      const tb = $("#task-table tbody");
      const frag = document.createDocumentFragment();
      const shown = filter ? tasks.filter((t) => t.name.toLowerCase().includes(filter) || t.status.includes(filter)) : tasks;
      shown.slice(0, rows).forEach((t) => {
        const tr = el("tr", null, "clickable"); tr.dataset.task = t.name;
        tr.append(el("td", t.name), el("td", t.status, "status " + t.status), el("td", t.attempts), el("td", seconds(t.duration_seconds)), el("td", t.error || t.reason || "", t.error ? "err" : "muted"));
        frag.append(tr);
      });
      tb.replaceChildren(frag);
      const more = $("#task-more"); more.replaceChildren();
      if (shown.length > rows) {
        more.append(el("span", "first " + rows + " of " + shown.length + " tasks shown "));
        const btn = el("button", "show " + Math.min(TABLE_PAGE, shown.length - rows) + " more"); btn.type = "button";
        btn.addEventListener("click", () => { rows += TABLE_PAGE; drawTable(); });
        more.append(btn, el("span", " or filter to find the others"));
      }
    };
    $("#task-table tbody").addEventListener("click", (e) => { const tr = e.target.closest("tr"); if (tr && tr.dataset.task) pick(tr.dataset.task); });
    const showLayer = (layer, offset) => {
      const box = $("#detail-body");
      $("#detail-name").textContent = "Layer " + layer;
      box.className = ""; box.replaceChildren(el("div", "loading…", "muted"));
      api(runApi + "/graph/layers/" + layer + "?limit=200&offset=" + (offset || 0)).then((d) => {
        box.replaceChildren(el("div", d.total + " tasks of layer " + layer + " are not drawn; here " + (d.offset + 1) + "–" + (d.offset + d.tasks.length) + ":", "muted"));
        const list = el("table", null, "list"); const tb = el("tbody");
        d.tasks.forEach((t) => { const tr = el("tr", null, "clickable"); tr.dataset.task = t.name; tr.append(el("td", t.name), el("td", t.status, "status " + t.status)); tb.append(tr); });
        tb.addEventListener("click", (e) => { const tr = e.target.closest("tr"); if (tr) pick(tr.dataset.task); });
        list.append(tb); box.append(list);
        if (d.offset + d.tasks.length < d.total) {
          const next = el("button", "next " + Math.min(200, d.total - d.offset - d.tasks.length)); next.type = "button";
          next.addEventListener("click", () => showLayer(layer, d.offset + d.tasks.length)); box.append(next);
        }
      }).catch((e) => { box.replaceChildren(el("div", e.message, "err")); });
    };
    const meta = (r) => {
      const dl = $("#run-meta"); dl.replaceChildren();
      const add = (k, v) => { if (v === null || v === undefined || v === "") return; dl.append(el("dt", k), el("dd", v)); };
      add("workflow", r.workflow); add("started", stamp(r.started_at)); add("duration", r.finished_at ? seconds(r.duration_seconds) : "running");
      add("started by", how(r)); add("target", r.target); add("params", Object.keys(r.params || {}).length ? JSON.stringify(r.params) : "none");
      add("resumed from", r.resumed_from); add("process", r.pid ? r.pid + " on " + r.host : "");
    };
    const counts = (list) => {
      const by = {}; list.forEach((t) => { by[t.status] = (by[t.status] || 0) + 1; });
      const box = $("#task-counts"); box.replaceChildren();
      ["completed", "running", "failed", "upstream_failed", "skipped", "cancelled", "pending"].forEach((s) => {
        if (!by[s]) return; const c = el("div", null, "card " + s); c.append(el("div", s.replace("_", " "), "label"), el("div", by[s], "num status " + s)); box.append(c);
      });
    };
    // The report of a big run is big: it is fetched after the page is drawn, and while
    // the run goes only every few loads.
    let reportAt = 0;
    const report = (done) => {
      const now = Date.now();
      if (reportAt < 0 || (!done && now - reportAt < (tasks.length > 2000 ? 10000 : 0))) return;
      reportAt = done ? -1 : now;
      api(runApi + "/report").then((d) => drawReport(d.report)).catch((e) => { $("#report").textContent = e.message; });
    };
    let finished = false, loading = null, again = false;
    const load = () => {
      if (loading) { again = true; return loading; }
      loading = Promise.all([api(runApi + "?light=1"), api(runApi + "/graph")]).then(([d, g]) => {
        const r = d.run;
        const st = $("#run-status"); st.textContent = r.status; st.className = "status " + r.status;
        meta(r);
        $("#cancel").hidden = r.status !== "running";
        $("#resume").hidden = !["failed", "cancelled", "interrupted"].includes(r.status);
        // Read the timeline's width before the graph is drawn: afterwards it would force a layout of the whole page.
        const width = $("#timeline").clientWidth;
        tasks = d.tasks; counts(tasks); drawGraph(g, pick, showLayer); drawTable(); drawTimeline(tasks, pick, width);
        finished = r.status !== "running";
        setTimeout(() => report(finished), 0);
      }).catch((e) => { $("#run-meta").replaceChildren(el("div", "cannot load this run: " + e.message, "err")); })
        .finally(() => { loading = null; if (again) { again = false; soon(); } });
      return loading;
    };
    const act = (what) => post(runApi + "/" + what).then((res) => {
      $("#action-result").textContent = res.ok ? (what === "resume" ? "resuming: a new run starts (see Runs)" : "cancelling…") : res.data.error;
      $("#action-result").className = res.ok ? "ok" : "err";
      load();
    });
    $("#cancel").addEventListener("click", () => act("cancel"));
    $("#resume").addEventListener("click", () => act("resume"));
    $("#task-filter").addEventListener("input", (e) => { filter = e.target.value.trim().toLowerCase(); rows = TABLE_PAGE; drawTable(); });
    load();
    const soon = debounce(load, 400);
    stream((item) => { if (!finished && (item.type === "store" || item.type === "skipped")) soon(); });
    setInterval(() => { if (!finished) soon(); }, 2000);
  }

  // ------------------------------------------------------------ schedules and flows
  function schedulesPage() {
    const schedules = () => api("/api/schedules").then((d) => {
      banner(d.store_error);
      const tb = $("#schedule-table tbody"); tb.replaceChildren();
      d.schedules.forEach((s) => {
        const tr = el("tr"); const btn = el("button", s.enabled ? "disable" : "enable");
        btn.addEventListener("click", () => post("/api/schedules/" + encodeURIComponent(s.id) + "/" + (s.enabled ? "disable" : "enable")).then(schedules));
        const fires = el("td", null, "small"); s.next_fires.forEach((f) => fires.append(el("div", new Date(f).toLocaleString())));
        if (!s.enabled) fires.append(el("div", "disabled", "muted"));
        const last = el("td", null, "small");
        s.last_runs.forEach((r) => {
          const line = el("div", null, "status " + r.status);
          if (r.run_id) line.append(link(r.status, base + "/runs/" + encodeURIComponent(r.run_id))); else line.textContent = r.status;
          line.append(el("span", " " + stamp(r.fire_time), "muted")); last.append(line);
        });
        if (!s.last_runs.length) last.append(el("div", "not run yet", "muted"));
        tr.append(el("td", s.id, "mono"), el("td", s.target), el("td", s.spec + " (" + s.tz + ")" + (s.description ? " — " + s.description : "")), fires, last, td(btn));
        tb.append(tr);
      });
      if (!d.schedules.length) { const tr = el("tr"); tr.append(el("td", "no schedules: add one with `ferroflow schedule add`", "muted")); tb.append(tr); }
    });
    const flows = () => api("/api/flows").then((d) => {
      const box = $("#flows"); box.replaceChildren();
      if (!d.flows.length) box.append(el("div", "no flow files in the flows folder", "muted"));
      d.flows.forEach((f) => {
        const form = el("form", null, "flow"); form.dataset.flow = f.name;
        form.append(el("h3", f.name)); form.append(el("div", f.file, "muted small"));
        if (f.error) form.append(el("div", f.error, "err"));
        Object.keys(f.params).forEach((p) => {
          const label = el("label", p + " "); const input = el("input"); input.name = p;
          input.value = f.params[p] === null ? "" : String(f.params[p]); input.placeholder = f.params[p] === null ? "required" : "";
          label.append(input); form.append(label);
        });
        const go = el("button", "Start"); go.type = "submit"; form.append(go);
        const result = el("div", null, "result"); form.append(result);
        form.addEventListener("submit", (e) => {
          e.preventDefault();
          const params = {}; Object.keys(f.params).forEach((p) => { const v = form.elements[p].value; if (v !== "" || f.params[p] !== null) params[p] = v; });
          post("/api/flows/" + encodeURIComponent(f.name) + "/start", { params: params }).then((res) => {
            result.textContent = res.ok ? "started (pid " + res.data.pid + "): it appears under Runs" : res.data.error;
            result.className = "result " + (res.ok ? "ok" : "err");
          });
        });
        box.append(form);
      });
    });
    schedules(); flows();
    const again = debounce(schedules, 700);
    stream((item) => { if (item.type === "store") again(); });
  }

  const pages = { overview: overview, runs: runsPage, run: runPage, schedules: schedulesPage };
  if (pages[body.dataset.page]) pages[body.dataset.page]();
})();
