// Metronome live view: one WebSocket to /api (the protocol is in
// PROTOCOL.md of the view package). Plain JavaScript, nothing loaded from
// elsewhere, so the page works on a plant network without internet.
"use strict";

const $ = (sel, root) => (root || document).querySelector(sel);
const el = (tag, attrs, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k);
  return e;
};

const S = {
  ws: null, hello: null, st: null, comps: new Map(), members: new Map(), byPath: new Map(),
  values: new Map(), selected: localStorage.getItem("metronome.selected") || "",
  trend: new Map(), alarms: [], forces: [], lastSeq: 0, user: "", password: "",
  refs: new Map(), nextRef: 1, backoff: 500, everConnected: false,
};
const palette = ["#2d6cdf", "#e8590c", "#2b8a3e", "#c2255c", "#5f3dc4", "#0b7285", "#862e9c", "#5c940d"];

function send(obj) {
  if (S.ws && S.ws.readyState === WebSocket.OPEN) S.ws.send(JSON.stringify(obj));
}

function request(obj, done) {
  const ref = "p" + S.nextRef++;
  obj.ref = ref;
  if (done) S.refs.set(ref, done);
  send(obj);
  return ref;
}

function connect() {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api";
  const ws = new WebSocket(url);
  S.ws = ws;
  ws.onopen = () => {
    S.backoff = 500;
    $("#conn").textContent = "live";
    $("#conn").className = "conn-up";
  };
  ws.onmessage = (m) => {
    let f;
    try { f = JSON.parse(m.data); } catch (e) { return; }
    handle(f);
  };
  ws.onclose = () => {
    $("#conn").textContent = "disconnected, reconnecting…";
    $("#conn").className = "conn-down";
    for (const [ref, done] of S.refs) done({ ok: false, code: "disconnected", error: "the connection dropped before an answer" });
    S.refs.clear();
    setTimeout(connect, S.backoff);
    S.backoff = Math.min(S.backoff * 2, 5000);
  };
}

function handle(f) {
  switch (f.type) {
    case "hello": onHello(f); break;
    case "structure": onStructure(f); break;
    case "snapshot": case "delta": case "values": onValues(f); break;
    case "event": onEvent(f); break;
    case "alarms": S.alarms = f.alarms; renderAlarms(); break;
    case "forces": S.forces = f.forces; renderForces(); updateForceReals(); subscribeForced(); break;
    case "status": renderStatus(f); break;
    case "throttled": onThrottled(f); break;
    case "write_result": case "login_result": {
      const done = S.refs.get(f.ref);
      if (done) { S.refs.delete(f.ref); done(f); }
      break;
    }
    case "events_lost": addEventLine(`${f.count} older events are no longer kept`, true); break;
    case "error": console.warn("live view:", f.error); break;
  }
}

function onHello(h) {
  S.hello = h;
  document.title = h.app + " · Metronome";
  $("#app").textContent = h.app;
  $("#loginform").classList.toggle("hidden", !h.writes || !!S.user);
  for (const b of [$("#ackall"), $("#releaseall")]) b.classList.toggle("hidden", !h.writes);
  if (h.writes && S.user) login(S.user, S.password); // after a reconnect
}

function onStructure(st) {
  S.st = st;
  S.comps.clear(); S.members.clear(); S.byPath.clear();
  for (const c of st.components) {
    S.comps.set(c.path, c);
    for (const m of c.signals || []) { m.kind = "signal"; m.comp = c; S.members.set(m.id, m); S.byPath.set(m.path, m); }
    for (const m of c.params || []) { m.kind = "param"; m.comp = c; S.members.set(m.id, m); S.byPath.set(m.path, m); }
  }
  renderTree();
  if (!S.comps.has(S.selected)) S.selected = st.components.length ? st.components[0].path : "";
  select(S.selected);
  if (S.trend.size) send({ type: "subscribe", sub: "trend", paths: [...S.trend.keys()], max_rate: 10 });
  // The first time, replay the last hour of events; after a reconnect,
  // everything since the last one seen.
  send(S.lastSeq > 0 ? { type: "events", seq: S.lastSeq + 1 } : { type: "events", since: Date.now() - 3600e3 });
  S.everConnected = true;
}

function renderTree() {
  const root = $("#tree");
  root.textContent = "";
  const kids = new Map();
  for (const c of S.st.components) {
    const p = c.parent || "";
    if (!kids.has(p)) kids.set(p, []);
    kids.get(p).push(c);
  }
  const build = (parent, ul) => {
    for (const c of kids.get(parent) || []) {
      const li = el("li", { "data-comp": c.path },
        el("span", { onclick: () => select(c.path), title: c.desc || c.type }, c.name, el("span", { class: "type", text: c.type })));
      if (kids.has(c.path)) { const sub = el("ul"); build(c.path, sub); li.append(sub); }
      ul.append(li);
    }
  };
  build("", root);
}

function select(path) {
  S.selected = path;
  localStorage.setItem("metronome.selected", path);
  for (const li of document.querySelectorAll("#tree li")) li.classList.toggle("selected", li.dataset.comp === path);
  const c = S.comps.get(path);
  $("#comptitle").textContent = c ? `${c.path} (${c.type}${c.fs ? ", " + c.fs + " Hz" : ""})` : "Select a component";
  $("#compdesc").textContent = c ? (c.desc || "") : "";
  renderDetail();
  if (c && ((c.signals && c.signals.length) || (c.params && c.params.length))) {
    send({ type: "subscribe", sub: "sel", paths: [path + ".*"], max_rate: 10 });
  } else {
    send({ type: "unsubscribe", sub: "sel" });
  }
}

const canWrite = () => S.hello && S.hello.writes;

function renderDetail() {
  const c = S.comps.get(S.selected);
  const sig = $("#signals tbody"), par = $("#params tbody");
  sig.textContent = ""; par.textContent = "";
  $("#signals").classList.toggle("hidden", !c || !(c.signals || []).length);
  $("#params").classList.toggle("hidden", !c || !(c.params || []).length);
  if (!c) return;
  for (const m of c.signals || []) {
    const trend = el("input", { type: "checkbox", class: "trendbox" });
    trend.checked = S.trend.has(m.path);
    trend.addEventListener("change", () => toggleTrend(m.path, trend.checked));
    const forceCell = el("td", { class: "w" });
    if (canWrite()) {
      const input = el("input", { class: "forceval", placeholder: m.type });
      const msg = el("span", { class: "msg" });
      forceCell.append(input,
        el("button", { class: "force", onclick: () => force(m.path, input.value, m.type, msg) }, "Force"),
        el("button", { class: "release", onclick: () => release(m.path, msg) }, "Release"), msg);
    }
    sig.append(el("tr", { "data-path": m.path, "data-id": m.id, class: "q-initial" },
      el("td", { title: m.desc || "" }, m.name), el("td", { text: m.dir }),
      el("td", { class: "value" }), el("td", { class: "quality" }), el("td", { class: "time" }),
      el("td", {}, trend), forceCell));
    renderRow(m.id);
  }
  for (const m of c.params || []) {
    const rng = (m.min != null ? m.min : "−∞") + " … " + (m.max != null ? m.max : "+∞");
    const cell = el("td", { class: "w" });
    if (canWrite()) {
      const input = el("input", { class: "newval", placeholder: m.type });
      if (m.min != null) input.setAttribute("data-min", m.min);
      if (m.max != null) input.setAttribute("data-max", m.max);
      const msg = el("span", { class: "msg" });
      cell.append(input, el("button", { class: "set", onclick: () => setParam(m, input.value, msg) }, "Set"), msg);
    }
    par.append(el("tr", { "data-path": m.path, "data-id": m.id, class: "q-initial" },
      el("td", { title: m.desc || "" }, m.name), el("td", { class: "value" }),
      el("td", { class: "range", text: (m.min != null || m.max != null) ? rng : "" }), cell));
    renderRow(m.id);
  }
}

function qclass(q) {
  switch (q) {
    case "good": return "q-good";
    case "stale": return "q-stale";
    case "comm lost": return "q-commlost";
    case "bad input": return "q-bad";
    default: return "q-initial";
  }
}

function fmtValue(v, unit) {
  if (v === null || v === undefined) return "—";
  let s = typeof v === "number" ? (Number.isInteger(v) ? String(v) : String(+v.toPrecision(6))) : String(v);
  return unit ? s + " " + unit : s;
}

function fmtTime(ms) {
  if (!ms) return "";
  const d = new Date(ms);
  return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

function renderRow(id) {
  const tr = document.querySelector(`#detail tr[data-id="${id}"]`);
  if (!tr) return;
  const m = S.members.get(id), v = S.values.get(id);
  const q = v ? v.q : "initial";
  tr.className = qclass(q) + (v && v.f ? " forced" : "");
  const vc = $("td.value", tr);
  vc.textContent = fmtValue(v ? v.v : null, m.unit);
  if (v && v.f) {
    vc.append(el("span", { class: "forcedtag", text: "FORCED" }),
      el("span", { class: "real", text: "real: " + fmtValue(v.r, m.unit) + " (" + v.rq + ")" }));
  }
  const qc = $("td.quality", tr);
  if (qc) qc.textContent = q;
  const tc = $("td.time", tr);
  if (tc) tc.textContent = v ? fmtTime(v.t) : "";
}

function onValues(f) {
  for (const v of f.values) {
    S.values.set(v.id, v);
    renderRow(v.id);
    const m = S.members.get(v.id);
    if (m && S.trend.has(m.path) && typeof v.v === "number" && v.t) {
      const h = S.trend.get(m.path);
      if (!h.length || h[h.length - 1][0] !== v.t) h.push([v.t, v.v]);
    }
  }
  if (f.type !== "values") updateForceReals();
}

function toggleTrend(path, on) {
  if (on) S.trend.set(path, []); else S.trend.delete(path);
  if (S.trend.size) send({ type: "subscribe", sub: "trend", paths: [...S.trend.keys()], max_rate: 10 });
  else send({ type: "unsubscribe", sub: "trend" });
  renderLegend();
}

function renderLegend() {
  const lg = $("#legend");
  lg.textContent = "";
  let i = 0;
  for (const p of S.trend.keys()) {
    const sw = el("i");
    sw.style.background = palette[i++ % palette.length];
    lg.append(el("span", {}, sw, p));
  }
}

function drawTrend() {
  const cv = $("#trend"), ctx = cv.getContext("2d");
  const w = cv.width = cv.clientWidth || 800, h = cv.height = 180;
  ctx.clearRect(0, 0, w, h);
  const now = Date.now(), span = 60e3;
  let lo = Infinity, hi = -Infinity;
  for (const hist of S.trend.values()) {
    while (hist.length && hist[0][0] < now - span - 5e3) hist.shift();
    for (const [, y] of hist) { lo = Math.min(lo, y); hi = Math.max(hi, y); }
  }
  ctx.fillStyle = "#8a94a0"; ctx.font = "11px system-ui";
  if (lo === Infinity) { ctx.fillText("no trend data", 8, 16); return; }
  if (hi === lo) { hi += 1; lo -= 1; }
  const pad = (hi - lo) * 0.05; hi += pad; lo -= pad;
  const x = (t) => (t - (now - span)) / span * (w - 50) + 45;
  const y = (v) => h - 12 - (v - lo) / (hi - lo) * (h - 24);
  ctx.fillText(String(+hi.toPrecision(4)), 2, 12); ctx.fillText(String(+lo.toPrecision(4)), 2, h - 4);
  let i = 0;
  for (const hist of S.trend.values()) {
    ctx.strokeStyle = palette[i++ % palette.length]; ctx.lineWidth = 1.5; ctx.beginPath();
    hist.forEach(([t, v], k) => (k ? ctx.lineTo(x(t), y(v)) : ctx.moveTo(x(t), y(v))));
    ctx.stroke();
  }
}

function parseInput(text, type) {
  text = text.trim();
  if (type === "string") return text;
  if (type === "bool") { if (text === "true" || text === "1") return true; if (text === "false" || text === "0") return false; return text; }
  if (text !== "" && !isNaN(Number(text))) return Number(text);
  return text; // the server refuses it and says why
}

function showResult(msg, r, okText) {
  msg.className = "msg " + (r.ok ? "ok" : "refused");
  msg.textContent = r.ok ? okText(r) : `refused (${r.code}): ${r.error}`;
}

function setParam(m, text, msg) {
  msg.className = "msg"; msg.textContent = "…";
  request({ type: "set", path: m.path, value: parseInput(text, m.type) },
    (r) => showResult(msg, r, (r) => `set (was ${r.old})`));
}

function force(path, text, type, msg) {
  msg.className = "msg"; msg.textContent = "…";
  request({ type: "force", path, value: parseInput(text, type) }, (r) => showResult(msg, r, () => "forced"));
}

function release(path, msg) {
  request({ type: "release", path }, (r) => { if (msg) showResult(msg, r, () => "released"); });
}

function ack(path, msg) {
  request({ type: "ack", path }, (r) => { if (msg) showResult(msg, r, () => "acknowledged"); });
}

function login(user, password) {
  const msg = $("#loginmsg");
  msg.textContent = "…"; msg.className = "";
  request({ type: "login", user, password }, (r) => {
    if (!r.ok) { msg.textContent = r.error; msg.className = "refused"; return; }
    S.user = user; S.password = password;
    msg.textContent = "";
    $("#loginform").classList.add("hidden");
    $("#who").textContent = "logged in as " + user;
    $("#who").classList.remove("hidden");
  });
}

function renderAlarms() {
  const tb = $("#alarms tbody");
  tb.textContent = "";
  const shown = S.alarms.filter((a) => a.active || a.unacked);
  if (!shown.length) { tb.append(el("tr", {}, el("td", { text: "no active or unacknowledged alarms" }))); return; }
  for (const a of shown) {
    const msg = el("span", { class: "msg" });
    const state = (a.active ? "active" : "cleared") + (a.unacked ? ", unacknowledged" : "");
    tb.append(el("tr", { "data-alarm": a.path, class: `${a.level}${a.active ? " active" : ""}${a.unacked ? " unacked" : ""}` },
      el("td", { class: "level", text: a.level }),
      el("td", {}, el("div", { text: a.path }), el("div", { text: a.text })),
      el("td", { class: "state", text: state }),
      el("td", {}, a.unacked && canWrite() ? el("button", { class: "ack", onclick: () => ack(a.path, msg) }, "Ack") : null, msg)));
  }
}

function renderForces() {
  const tb = $("#forces tbody");
  tb.textContent = "";
  const n = S.forces.length;
  $("#forcebanner").textContent = `FORCES ACTIVE: ${n}`;
  $("#forcebanner").classList.toggle("hidden", n === 0);
  if (!n) { tb.append(el("tr", {}, el("td", { text: "no forces" }))); return; }
  for (const f of S.forces) {
    const msg = el("span", { class: "msg" });
    tb.append(el("tr", { "data-force": f.path },
      el("td", {}, el("div", { text: f.path }), el("div", { class: "real" })),
      el("td", { class: "value", text: f.value }),
      el("td", { text: "by " + f.by }),
      el("td", {}, canWrite() ? el("button", { class: "release", onclick: () => release(f.path, msg) }, "Release") : null, msg)));
  }
}

// updateForceReals shows, in place, the real value beside each force.
function updateForceReals() {
  for (const tr of document.querySelectorAll("#forces tr[data-force]")) {
    const m = S.byPath.get(tr.dataset.force), v = m && S.values.get(m.id);
    $(".real", tr).textContent = v && v.f ? `real ${fmtValue(v.r, m.unit)} (${v.rq})` : "";
  }
}

function subscribeForced() {
  if (S.forces.length) send({ type: "subscribe", sub: "forced", paths: S.forces.map((f) => f.path), max_rate: 5 });
  else send({ type: "unsubscribe", sub: "forced" });
}

function renderStatus(s) {
  const parts = [];
  for (const m of s.mqtt || []) parts.push(`${m.path}: ${m.connected ? "connected" : "DISCONNECTED"}`);
  for (const b of s.brokers || []) if (b.clients != null) parts.push(`${b.path}: ${b.clients} clients`);
  const act = s.alarms || {};
  const n = (act.error || 0) + (act.warning || 0) + (act.notify || 0);
  parts.push(`alarms: ${n} active, ${s.unacked} unacknowledged`);
  $("#state").textContent = parts.join(" · ");
  const tb = $("#groups tbody");
  tb.textContent = "";
  tb.append(el("tr", {}, ...["group", "lateness p99", "max", "overruns", "CPU"].map((h) => el("th", { text: h }))));
  const ms = (x) => (x == null ? "—" : (x * 1e3).toFixed(3) + " ms");
  for (const g of s.groups || []) {
    tb.append(el("tr", {}, el("td", { text: g.name }), el("td", { text: ms(g.lateness_p99) }), el("td", { text: ms(g.lateness_max) }),
      el("td", { text: g.overruns == null ? "—" : String(g.overruns) }), el("td", { text: g.cpu_percent == null ? "—" : g.cpu_percent.toFixed(1) + " %" })));
  }
}

function onThrottled(t) {
  const b = $("#throttle");
  b.textContent = t.active ? `server throttles this page to ${t.rate.toFixed(1)}/s: ${t.reason}` : "";
  b.classList.toggle("hidden", !t.active);
}

function addEventLine(text, replay) {
  const ol = $("#events");
  ol.prepend(el("li", { class: replay ? "replay" : "", text }));
  while (ol.children.length > 200) ol.lastChild.remove();
}

function onEvent(e) {
  if (e.seq <= S.lastSeq) return;
  S.lastSeq = e.seq;
  let text = `${fmtTime(e.time)} ${e.kind} ${e.path}`;
  if (e.text) text += `: ${e.text}`;
  if (e.value) text += ` = ${e.value}`;
  if (e.old) text += ` (was ${e.old})`;
  if (e.by) text += ` by ${e.by}`;
  addEventLine(text, e.replay);
}

document.addEventListener("DOMContentLoaded", () => {
  $("#loginform").addEventListener("submit", (ev) => {
    ev.preventDefault();
    login($("#user").value, $("#password").value);
  });
  $("#ackall").addEventListener("click", () => ack("*"));
  $("#releaseall").addEventListener("click", () => request({ type: "release", path: "*" }));
  setInterval(drawTrend, 500);
  renderForces();
  connect();
});
