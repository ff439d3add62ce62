// The ferroflow dashboard: fills the server-rendered pages from the JSON API and the SSE stream.
// Every piece of user data goes through textContent, never through HTML.
"use strict";
(function () {
  const body = document.body;
  const base = body.dataset.base || "";
  const $ = (sel) => document.querySelector(sel);
  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  };
  const api = (path) => fetch(base + path, { credentials: "same-origin" }).then((r) => {
    if (!r.ok) throw new Error(path + " → " + r.status);
    return r.json();
  });
  const post = (path) => fetch(base + path, { method: "POST", credentials: "same-origin" }).then((r) => r.json());
  const clock = (t) => (t ? new Date(t * 1000).toLocaleTimeString() : "");
  const stamp = (t) => (t ? new Date(t * 1000).toLocaleString() : "");
  const dur = (a, b) => (a && b ? (b - a < 1 ? Math.round((b - a) * 1000) + " ms" : (b - a).toFixed(1) + " s") : "");
  const debounce = (fn, ms) => { let h = null; return () => { if (!h) h = setTimeout(() => { h = null; fn(); }, ms); }; };

  function stream(onItem) {
    const live = $("#live");
    const source = new EventSource(base + "/api/events/stream");
    source.onopen = () => { live.textContent = "live"; live.className = "pill ok"; };
    source.onerror = () => { live.textContent = "reconnecting…"; live.className = "pill warn"; };
    source.onmessage = (m) => { try { onItem(JSON.parse(m.data)); } catch (e) { /* ignore a malformed item */ } };
  }

  // ------------------------------------------------------------ overview
  function overview() {
    const events = $("#events tbody");
    const addEvent = (ev) => {
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
        if (p.truncated) box.prepend(el("div", "truncated: first part of " + p.size + " bytes", "warn"));
      }).catch((e) => { box.className = "preview muted"; box.textContent = "not previewed: " + e.message; });
    };
    const state = () => api("/api/state").then((s) => {
      $("#n-total").textContent = s.stats.events_total;
      $("#n-added").textContent = s.stats.by_change.added;
      $("#n-modified").textContent = s.stats.by_change.modified;
      $("#n-deleted").textContent = s.stats.by_change.deleted;
      $("#n-calls").textContent = s.stats.handler_calls;
      const tb = $("#handlers tbody"); tb.replaceChildren();
      s.handlers.forEach((h) => {
        const tr = el("tr"); tr.append(el("td", h.name), el("td", h.root, "path"), el("td", h.events.join(", ")),
          el("td", Array.isArray(h.pattern) ? h.pattern.join(" ") : (h.pattern || "*"))); tb.append(tr);
      });
    });
    const health = () => api("/health").then((h) => { const e = $("#health"); e.textContent = h.status; e.className = "num small " + (h.status === "healthy" ? "ok" : "muted"); });
    let offset = 0; const limit = 25; let total = 0;
    const runs = () => {
      const f = new FormData($("#run-filter"));
      const q = new URLSearchParams({ limit: String(limit), offset: String(offset) });
      if (f.get("workflow")) q.set("workflow", f.get("workflow"));
      if (f.get("status")) q.set("status", f.get("status"));
      return api("/api/runs?" + q).then((d) => {
        total = d.total;
        const tb = $("#run-table tbody"); tb.replaceChildren();
        d.runs.forEach((r) => {
          const tr = el("tr", null, "clickable");
          const a = el("a", r.run_id.slice(0, 12)); a.href = base + "/runs/" + encodeURIComponent(r.run_id);
          const td = el("td"); td.append(a);
          tr.append(td, el("td", r.workflow), el("td", r.status, "status " + r.status), el("td", stamp(r.started_at), "muted"),
            el("td", dur(r.started_at, r.finished_at)), el("td", r.task_count));
          tr.addEventListener("click", (e) => { if (e.target.tagName !== "A") location.href = a.href; });
          tb.append(tr);
        });
        $("#page-info").textContent = total ? (offset + 1) + "–" + Math.min(offset + limit, total) + " of " + total : "no runs yet";
      }).catch(() => { $("#page-info").textContent = "the store cannot be read right now"; });
    };
    $("#run-filter").addEventListener("submit", (e) => { e.preventDefault(); offset = 0; runs(); });
    $("#prev").addEventListener("click", () => { offset = Math.max(0, offset - limit); runs(); });
    $("#next").addEventListener("click", () => { if (offset + limit < total) { offset += limit; runs(); } });
    const schedules = () => api("/api/schedules").then((d) => {
      const tb = $("#schedule-table tbody"); tb.replaceChildren();
      d.schedules.forEach((s) => {
        const tr = el("tr"); const btn = el("button", s.enabled ? "disable" : "enable");
        btn.addEventListener("click", () => post("/api/schedules/" + encodeURIComponent(s.id) + "/" + (s.enabled ? "disable" : "enable")).then(schedules));
        const td = el("td"); td.append(btn);
        tr.append(el("td", s.id), el("td", s.target), el("td", s.spec + " (" + s.tz + ")"), el("td", s.next_fires[0] || "disabled", "muted"), td);
        tb.append(tr);
      });
      if (!d.schedules.length) { const tr = el("tr"); tr.append(el("td", "no schedules", "muted")); tb.append(tr); }
    });
    api("/api/events?limit=100").then((d) => d.events.forEach(addEvent));
    state(); health(); runs(); schedules();
    const refreshState = debounce(state, 300); const refreshRuns = debounce(runs, 500);
    stream((item) => {
      if (item.type === "file") { addEvent(item); refreshState(); }
      else if (item.type === "store") { refreshRuns(); }
      else if (item.type === "skipped") { events.prepend(el("tr", "… " + item.count + " events skipped", "muted")); state(); }
    });
    setInterval(health, 5000);
  }

  // ------------------------------------------------------------ a run
  const MAX_NODES = 1000;
  function drawGraph(tasks) {
    const box = $("#dag"); box.replaceChildren();
    const ns = "http://www.w3.org/2000/svg";
    const shown = tasks.slice(0, MAX_NODES);
    const cols = Math.max(1, Math.min(10, Math.ceil(Math.sqrt(shown.length))));
    const w = 150, h = 34, gap = 12;
    const svg = document.createElementNS(ns, "svg");
    const rows = Math.ceil(shown.length / cols);
    svg.setAttribute("width", String(cols * (w + gap))); svg.setAttribute("height", String(Math.max(1, rows) * (h + gap)));
    shown.forEach((t, i) => {
      const g = document.createElementNS(ns, "g");
      g.setAttribute("class", "node " + t.status);
      g.setAttribute("transform", "translate(" + (i % cols) * (w + gap) + "," + Math.floor(i / cols) * (h + gap) + ")");
      const r = document.createElementNS(ns, "rect"); r.setAttribute("width", String(w)); r.setAttribute("height", String(h)); r.setAttribute("rx", "6");
      const tx = document.createElementNS(ns, "text"); tx.setAttribute("x", "8"); tx.setAttribute("y", "21");
      tx.textContent = t.name.length > 20 ? t.name.slice(0, 19) + "…" : t.name;
      const title = document.createElementNS(ns, "title"); title.textContent = t.name + ": " + t.status;
      g.append(r, tx, title); g.addEventListener("click", () => showTask(t));
      svg.append(g);
    });
    box.append(svg);
    if (tasks.length > MAX_NODES) box.append(el("div", "+ " + (tasks.length - MAX_NODES) + " more tasks (see the table)", "muted"));
  }
  function drawTimeline(tasks) {
    const box = $("#timeline"); box.replaceChildren();
    const timed = tasks.filter((t) => t.started_at);
    if (!timed.length) { box.append(el("div", "no task has started yet", "muted")); return; }
    const t0 = Math.min(...timed.map((t) => t.started_at));
    const now = Date.now() / 1000;
    const t1 = Math.max(...timed.map((t) => t.finished_at || now));
    const span = Math.max(t1 - t0, 0.001);
    timed.slice(0, 300).forEach((t) => {
      const row = el("div", null, "bar-row"); const label = el("span", t.name, "bar-label");
      const track = el("div", null, "bar-track"); const bar = el("div", null, "bar " + t.status);
      bar.style.marginLeft = ((t.started_at - t0) / span * 100).toFixed(2) + "%";
      bar.style.width = Math.max(0.5, ((t.finished_at || now) - t.started_at) / span * 100).toFixed(2) + "%";
      bar.title = t.name + " " + dur(t.started_at, t.finished_at || now);
      track.append(bar); row.append(label, track); box.append(row);
    });
  }
  function showTask(t) {
    const d = $("#task-detail"); d.hidden = false;
    $("#detail-name").textContent = t.name + " — " + t.status + (t.attempts > 1 ? " after " + t.attempts + " attempts" : "");
    $("#detail-tb").textContent = t.traceback || t.error || t.reason || "no error";
    $("#detail-logs").textContent = (t.logs || []).join("\n") || "no log lines";
  }
  function runPage() {
    const runId = body.dataset.run;
    const load = () => api("/api/runs/" + encodeURIComponent(runId)).then((d) => {
      const r = d.run;
      const st = $("#run-status"); st.textContent = r.status; st.className = "status " + r.status;
      $("#run-meta").textContent = r.workflow + " · started " + stamp(r.started_at) + (r.finished_at ? " · " + dur(r.started_at, r.finished_at) : " · running") +
        " · params " + JSON.stringify(r.params) + (r.resumed_from ? " · resumed from " + r.resumed_from : "");
      $("#cancel").hidden = r.status !== "running";
      drawGraph(d.tasks); drawTimeline(d.tasks);
      const tb = $("#task-table tbody"); tb.replaceChildren();
      d.tasks.forEach((t) => {
        const tr = el("tr", null, "clickable");
        tr.append(el("td", t.name), el("td", t.status, "status " + t.status), el("td", t.attempts), el("td", dur(t.started_at, t.finished_at)), el("td", t.error || t.reason || "", "err"));
        tr.addEventListener("click", () => showTask(t)); tb.append(tr);
      });
      if (d.report) $("#report").textContent = JSON.stringify(d.report, null, 2);
    }).catch((e) => { $("#run-meta").textContent = "cannot load this run: " + e.message; });
    $("#cancel").addEventListener("click", () => post("/api/runs/" + encodeURIComponent(runId) + "/cancel").then(load));
    load();
    const again = debounce(load, 300);
    stream((item) => { if (item.type === "store" || item.type === "skipped") again(); });
  }

  if (body.dataset.page === "overview") overview();
  else if (body.dataset.page === "run") runPage();
})();
