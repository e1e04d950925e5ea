// The dashboard page: initial state from /api/state, then live updates from the /api/stream
// server-sent events (each new measurement, the firing alerts when they change, log entries,
// setting changes). The age of each chart's values is redrawn every second.
import { ChartBoard } from "./charts.js";

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const board = new ChartBoard($("charts"));
let popups = true;
/** Whether the server accepts the controls (false beyond loopback without a token). */
let controlsEnabled = true;
/** @type {any} */
let current = null;
/** What the alert list shows, so that it is redrawn (and announced) only when it changes. */
let shownAlerts = "";

const time = (/** @type {number} */ ms) => new Date(ms).toLocaleTimeString([], { hour12: false });

function tokenHeader() {
  const token = /** @type {HTMLInputElement} */ ($("token")).value.trim();
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** @param {any[]} firing */
function renderAlerts(firing) {
  // Called with every sample: the list is a live region, so redrawing it unchanged would have a
  // screen reader repeat it every second.
  const key = JSON.stringify(firing.map((/** @type {any} */ a) => [a.id, a.startsAt, a.summary]));
  if (key === shownAlerts) return;
  shownAlerts = key;
  const list = $("alerts");
  list.replaceChildren();
  const count = $("alert-count");
  count.textContent = String(firing.length);
  count.classList.toggle("firing", firing.length > 0);
  if (firing.length === 0) {
    const li = document.createElement("li");
    li.className = "none";
    li.textContent = "No alert firing";
    list.append(li);
    return;
  }
  for (const a of firing) {
    const li = document.createElement("li");
    li.className = "firing";
    li.dataset.alert = a.id;
    const t = document.createElement("time");
    t.textContent = ` since ${time(a.startsAt)}`;
    li.append(document.createTextNode(a.summary), t);
    list.append(li);
  }
}

/** @param {{ at: number, kind: string, level: string, text: string }} e */
function addLog(e) {
  const list = $("log");
  const li = document.createElement("li");
  li.className = e.level;
  li.dataset.kind = e.kind;
  const t = document.createElement("time");
  t.textContent = time(e.at);
  const k = document.createElement("span");
  k.className = "kind";
  k.textContent = ` ${e.kind} `;
  li.append(t, k, document.createTextNode(e.text));
  list.prepend(li);
  while (list.childElementCount > 200) list.lastElementChild?.remove();
}

/** @param {any} event */
function toast(event) {
  if (!popups) return;
  const box = document.createElement("div");
  box.className = `toast ${event.status}`;
  const p = document.createElement("p");
  p.textContent = `${event.status === "firing" ? "Alert firing" : "Resolved"}: ${event.summary}`;
  const close = document.createElement("button");
  close.type = "button";
  close.textContent = "×";
  close.setAttribute("aria-label", "Dismiss notification");
  close.addEventListener("click", () => box.remove());
  box.append(p, close);
  $("toasts").append(box);
  setTimeout(() => box.remove(), 10_000);
}

/** @param {any} s */
function renderSettings(s) {
  current = s;
  board.setThresholds(s.thresholds);
  const active = document.activeElement;
  const set = (/** @type {string} */ id, /** @type {string} */ value) => {
    // A setting this page has no box for (a newer exporter's) is shown nowhere, and breaks nothing.
    const el = /** @type {HTMLInputElement | null} */ (document.getElementById(id));
    if (el && el !== active) el.value = value;
  };
  set("probe-interval", String(s.probes.interval_seconds));
  set("probe-text", s.probes.texts.join("\n"));
  for (const [k, v] of Object.entries(s.thresholds)) set(`th-${k}`, String(v));
  const engines = $("engines");
  // The list is rebuilt; keyboard focus on one of its boxes must survive that.
  const focused = engines.contains(active) ? active?.id : undefined;
  engines.replaceChildren();
  for (const e of s.engines) {
    const li = document.createElement("li");
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = e.enabled;
    box.id = `engine-${e.name}`;
    box.disabled = !controlsEnabled;
    box.addEventListener("change", () =>
      control(`engines/${encodeURIComponent(e.name)}`, { enabled: box.checked }),
    );
    label.append(box, document.createTextNode(` ${e.name} (${e.type})`));
    li.append(label);
    engines.append(li);
  }
  if (focused) document.getElementById(focused)?.focus();
  const rules = $("rules");
  rules.replaceChildren();
  for (const r of s.rules) {
    const li = document.createElement("li");
    const code = document.createElement("code");
    code.textContent = r.condition;
    li.append(document.createTextNode(`${r.name}: `), code);
    rules.append(li);
  }
}

/** @param {string} path @param {unknown} body */
async function control(path, body) {
  const status = $("controls-status");
  status.classList.remove("error");
  status.textContent = "Applying…";
  try {
    const res = await fetch(`/api/controls/${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...tokenHeader() },
      body: JSON.stringify(body),
    });
    const answer = await res.json();
    if (!res.ok) throw new Error(answer.error ?? `HTTP ${res.status}`);
    renderSettings(answer.settings);
    status.textContent = "Applied.";
  } catch (err) {
    status.classList.add("error");
    status.textContent = `Not applied: ${err instanceof Error ? err.message : String(err)}`;
    if (current) renderSettings(current);
  }
}

$("form-interval").addEventListener("submit", (ev) => {
  ev.preventDefault();
  control("probe-interval", { seconds: Number(/** @type {HTMLInputElement} */ ($("probe-interval")).value) });
});
$("form-texts").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const texts = /** @type {HTMLTextAreaElement} */ ($("probe-text")).value
    .split("\n")
    .filter((t) => t.trim());
  control("probe-texts", { texts });
});
$("form-thresholds").addEventListener("submit", (ev) => {
  ev.preventDefault();
  /** @type {Record<string, number>} */
  const body = {};
  // Only what changed, so the event log says what the user did.
  for (const input of /** @type {NodeListOf<HTMLInputElement>} */ (
    document.querySelectorAll("#form-thresholds input")
  ))
    if (Number(input.value) !== current?.thresholds?.[input.name]) body[input.name] = Number(input.value);
  if (Object.keys(body).length === 0) {
    $("controls-status").textContent = "No threshold changed.";
    return;
  }
  control("thresholds", body);
});
const tokenInput = /** @type {HTMLInputElement} */ ($("token"));
tokenInput.value = sessionStorage.getItem("tts-monitor-token") ?? "";
tokenInput.addEventListener("change", () => sessionStorage.setItem("tts-monitor-token", tokenInput.value));

/** The gateway section (GET /api/gateway: the snapshot's gateway part), hidden while no gateway runs. */
function renderGateway(g) {
  const section = $("gateway");
  section.hidden = g === null;
  if (g === null) return;
  const mib = (b) => `${(b / 1048576).toFixed(1)} MiB`;
  const ratio =
    g.cacheHitRatio === undefined ? "no lookups yet" : `${(g.cacheHitRatio * 100).toFixed(1)} % hits`;
  $("gateway-summary").textContent =
    `Cache ${mib(g.cacheBytes)} of ${mib(g.cacheCapacityBytes)} (${g.cacheEntries} entries, ${ratio}); ` +
    `${g.coalesced} coalesced, ${g.rejected} rejected`;
  const body = $("gateway-engines");
  body.replaceChildren(
    ...Object.entries(g.engines).map(([name, e]) => {
      const tr = document.createElement("tr");
      for (const v of [name, e.limit, e.inFlight, e.queued, e.circuitOpen ? "open" : "closed"]) {
        const td = document.createElement("td");
        td.textContent = String(v);
        tr.append(td);
      }
      return tr;
    }),
  );
}

async function pollGateway() {
  try {
    const res = await fetch("/api/gateway");
    if (res.ok) renderGateway(await res.json());
  } catch {
    // The live stream shows the connection state; the next poll retries.
  }
}

async function init() {
  const res = await fetch("/api/state");
  const state = await res.json();
  popups = state.popups;
  if (typeof state.now === "number") board.skewMs = state.now - Date.now();
  controlsEnabled = state.controls.enabled;
  renderSettings(state.settings);
  board.addSamples(state.samples);
  renderAlerts(state.firing);
  for (const e of state.log) addLog(e);
  if (!state.controls.enabled) {
    const off = $("controls-off");
    off.hidden = false;
    off.textContent = state.controls.reason;
    for (const el of /** @type {NodeListOf<HTMLInputElement>} */ (
      document.querySelectorAll("#controls input, #controls textarea, #controls button")
    ))
      el.disabled = true;
  }
  $("token-row").hidden = !state.controls.token;
  renderGateway(state.gateway ?? null);
  setInterval(pollGateway, 2000);

  const conn = $("connection");
  const stream = new EventSource("/api/stream");
  stream.addEventListener("open", () => {
    conn.textContent = "Live";
    conn.classList.add("live");
  });
  stream.addEventListener("error", () => {
    conn.textContent = "Disconnected — reconnecting…";
    conn.classList.remove("live");
  });
  stream.addEventListener("sample", (ev) => {
    const { sample } = JSON.parse(/** @type {MessageEvent} */ (ev).data);
    board.addSamples([sample]);
  });
  stream.addEventListener("firing", (ev) =>
    renderAlerts(JSON.parse(/** @type {MessageEvent} */ (ev).data).firing),
  );
  setInterval(() => board.refreshAges(), 1000);
  stream.addEventListener("log", (ev) => addLog(JSON.parse(/** @type {MessageEvent} */ (ev).data)));
  stream.addEventListener("notification", (ev) => toast(JSON.parse(/** @type {MessageEvent} */ (ev).data)));
  stream.addEventListener("settings", (ev) =>
    renderSettings(JSON.parse(/** @type {MessageEvent} */ (ev).data)),
  );
}

init().catch((err) => {
  const conn = $("connection");
  conn.textContent = `Cannot load the dashboard state: ${err instanceof Error ? err.message : String(err)}`;
});
