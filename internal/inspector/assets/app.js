"use strict";
// The inspector's page. Shop data is only ever put in the page as text
// (textContent, text nodes): a product named like markup shows as such.

const state = { api: "", csrf: "", rows: new Map(), pageTypes: new Set(), reveal: false, current: "", timer: 0, skipped: 0 };

// el makes an element. Its attributes are a fixed few; links stay within
// this page (#…), so no value of the shop's can become markup or a URL.
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "href" && String(v).startsWith("#")) e.setAttribute("href", v);
    else if (k === "colspan") e.setAttribute(k, String(Number(v)));
    else if (k.startsWith("data-") || k === "title" || k === "value" || k === "type") e.setAttribute(k, v);
    else throw new Error("el: attribute " + k + " is not allowed");
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
  return e;
}

const $ = (id) => document.getElementById(id);
const count = (n, one, many) => n + " " + (n === 1 ? one : many);
const when = (t) => (t && !t.startsWith("0001-") ? new Date(t).toLocaleString() : "—");
const money = (n) => (typeof n === "number" ? n.toFixed(2) : "—");
const sessionHref = (id) => "#/s/" + encodeURIComponent(id);

function maskEmail(e) {
  if (!e || state.reveal) return e || "—";
  const at = e.indexOf("@");
  return at > 0 ? e[0] + "•••" + e.slice(at) : "•••";
}
const mask = (s) => (!s || state.reveal ? s || "—" : s[0] + "•••");

async function call(path, opts) {
  const res = await fetch(path, Object.assign({ credentials: "same-origin" }, opts));
  if (res.status === 401) {
    location.href = "login";
    throw new Error("signed out");
  }
  const body = res.status === 204 ? null : await res.json();
  if (!res.ok) throw new Error((body && body.error) || res.statusText);
  return body;
}

function post(path, body) {
  return call(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Sessiontap-Csrf": state.csrf },
    body: body === undefined ? "" : JSON.stringify(body),
  });
}

// --- the live list ---------------------------------------------------

function sinkBadges(sinks) {
  return el("span", { class: "sinks" }, ...(sinks || []).map((s) => el("span", { class: "badge " + s.state, title: s.state }, s.sink + ": " + s.state)));
}

function matches(r) {
  const page = $("f-page").value, source = $("f-source").value, sink = $("f-sink").value;
  if (page && r.page_type !== page) return false;
  if (source && r.source !== source) return false;
  if (sink && !(r.sinks || []).some((s) => s.state === sink)) return false;
  return true;
}

function renderRows() {
  const rows = [...state.rows.values()].filter(matches).sort((a, b) => (a.at < b.at ? 1 : -1)).slice(0, 200);
  $("rows").replaceChildren(...rows.map((r) =>
    el("tr", { "data-session": r.session_id },
      el("td", {}, when(r.at)),
      el("td", {}, el("a", { href: sessionHref(r.session_id), class: "sid" }, r.session_id)),
      el("td", {}, r.source),
      el("td", {}, (r.changes || []).join(", ")),
      el("td", {}, r.page_type || "—"),
      el("td", { class: "path" }, r.path || "—"),
      el("td", {}, count(r.cart_lines, "line", "lines") + " · " + money(r.cart_total)),
      el("td", {}, sinkBadges(r.sinks)))));
  $("empty").hidden = rows.length > 0;
  $("empty").textContent = state.rows.size === 0
    ? "No session has changed since this node started. Browse the shop in another tab."
    : "No session's latest change matches the filters.";
}

function addPageType(pt) {
  if (!pt || state.pageTypes.has(pt)) return;
  state.pageTypes.add(pt);
  $("f-page").append(el("option", { value: pt }, pt));
}

function follow() {
  const es = new EventSource("events");
  es.addEventListener("open", () => { $("live").textContent = "live"; $("live").className = "live on"; });
  es.addEventListener("error", () => { $("live").textContent = "reconnecting"; $("live").className = "live off"; });
  es.addEventListener("rows", (ev) => {
    const msg = /** @type {RowsEvent} */ (JSON.parse(ev.data));
    if (msg.skipped) {
      state.skipped += msg.skipped;
      $("skipped").hidden = false;
      $("skipped").textContent = state.skipped + " changes skipped in bursts (the list shows each session's newest)";
    }
    for (const r of msg.rows) {
      state.rows.set(r.session_id, r);
      addPageType(r.page_type);
      if (r.session_id === state.current) loadSession(state.current);
    }
    // Deliveries moved only the sink states of these sessions.
    for (const s of msg.sinks || []) {
      const r = state.rows.get(s.session_id);
      if (r) r.sinks = s.sinks;
      if (s.session_id === state.current) loadSession(state.current);
    }
    if (state.rows.size > 1000) {
      const oldest = [...state.rows.values()].sort((a, b) => (a.at < b.at ? -1 : 1)).slice(0, state.rows.size - 1000);
      for (const r of oldest) state.rows.delete(r.session_id);
    }
    renderRows();
    summarySoon();
  });
}

// summarySoon refreshes the summary strip after changes, at most once a
// second.
let summaryDue = 0;
function summarySoon() {
  if (summaryDue) return;
  summaryDue = setTimeout(() => { summaryDue = 0; summary(); }, 1000);
}

async function find(ev) {
  ev.preventDefault();
  const q = $("q").value.trim();
  const out = $("search-result");
  out.hidden = false;
  if (!q) { out.replaceChildren("Enter a session id, a cookie value or a customer reference."); return; }
  try {
    const res = await post("search", { query: q });
    $("q").value = ""; // a reference is not left on the screen
    if (res.sessions.length === 0) { out.replaceChildren("Nothing found."); return; }
    if (res.sessions.length === 1) { location.hash = sessionHref(res.sessions[0].session_id); out.hidden = true; return; }
    out.replaceChildren("Found: ", ...res.sessions.map((s) =>
      el("span", {}, el("a", { href: sessionHref(s.session_id) }, s.session_id), " (" + s.match + (s.ref_hash ? " " + s.ref_hash.slice(0, 12) + "…" : "") + ") ")));
  } catch (e) {
    out.replaceChildren("Search failed: " + e.message);
  }
}

// --- one session -----------------------------------------------------

function dl(target, pairs) {
  target.replaceChildren(...pairs.filter(([, v]) => v !== undefined && v !== "").flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))]));
}

function renderSession(s) {
  $("s-id").textContent = s.id;
  $("s-meta").textContent = "version " + s.version + " · created " + when(s.created_at) + " · updated " + when(s.updated_at) + (s.state ? " · " + s.state : "");
  const items = (s.cart && s.cart.items) || [];
  let total = 0;
  $("s-cart").replaceChildren(...items.map((it) => {
    const line = (it.unit_price || 0) * (it.quantity || 0);
    total += line;
    return el("tr", {}, el("td", {}, it.name || it.product_id), el("td", {}, it.sku_id || "—"), el("td", {}, it.quantity),
      el("td", {}, money(it.unit_price) + " " + (it.price_currency_code || "")), el("td", {}, money(line)));
  }));
  $("s-total").textContent = money(total) + (items[0] && items[0].price_currency_code ? " " + items[0].price_currency_code : "");
  const c = s.customer || {};
  dl($("s-customer"), [["Reference", mask(c.customer_reference)], ["Email", maskEmail(c.email)],
    ["Name", c.first_name || c.last_name ? [mask(c.first_name), mask(c.last_name)].join(" ") : "—"], ["Marketing", c.marketing_permission ? "yes" : "no"], ["Group", c.customer_group]]);
  dl($("s-page"), [["Page type", s.page_type || "—"], ["Action", s.action], ["Category", s.category], ["Search", s.search_term],
    ["Last product viewed", s.product && (s.product.name || s.product.product_id)], ["Variation", s.variation], ["Cart token", s.cart_token]]);
  const en = s.enrichment || {}, cp = en.campaign || {};
  dl($("s-enrichment"), [["Page views", en.page_views], ["First seen", when(en.first_seen)], ["Last seen", when(en.last_seen)],
    ["Landing page", en.landing_page], ["Referrer", en.referrer], ["Campaign", [cp.utm_source, cp.utm_medium, cp.utm_campaign].filter(Boolean).join(" / ")],
    ["Client IP", en.client_ip], ["User agent", en.user_agent], ["Languages", en.accept_language]]);
  const orders = (s.orders || []).map((o) => el("li", {}, o.order_number + " · " + count((o.items || []).length, "line", "lines")));
  $("s-orders").replaceChildren(...(orders.length ? orders : [el("li", { class: "note" }, "none")]));
  $("s-effects").textContent = s.effects ? JSON.stringify(s.effects, null, 2) : "—";
  $("s-history").replaceChildren(...(s.history || []).slice().reverse().map((h) =>
    el("li", {}, el("b", {}, "v" + h.version), " " + when(h.at) + " · " + h.source + " · " + (h.changes || []).join(", ") + (h.path ? " · " + h.path : ""))));
}

// The answers this page reads, as the Go side writes them: each typedef
// has a golden file of its JSON in internal/inspector/testdata/wire/ (and
// the summary in caddymodule/testdata/wire/), which its Go test holds.

/**
 * GET ui/me (inspector.MeAnswer; wire/me.json).
 * @typedef {{csrf: string, expires: string, api: string}} Me
 */

/**
 * A sink's state in the list (inspector.SinkState).
 * @typedef {{sink: string, state: string}} SinkState
 */

/**
 * A row of the live list: the newest change of a session (feed.Event with
 * its sinks' states; inspector.Row).
 * @typedef {{kind?: string, sink?: string, outcome?: string, session_id: string, version: number,
 *   at: string, source: string, changes: string[], path?: string, page_type?: string,
 *   cart_lines: number, cart_total: number, customer: boolean, node?: string, sinks: SinkState[]}} Row
 */

/**
 * A "rows" event of ui/events (inspector.RowsEvent; wire/rows.json).
 * @typedef {{rows: Row[], sinks: {session_id: string, sinks: SinkState[]}[], skipped: number}} RowsEvent
 */

/**
 * POST ui/search (inspector.SearchAnswer; wire/search.json).
 * @typedef {{sessions: {session_id: string, version: number, page_type?: string,
 *   match: "session"|"customer", ref_hash?: string}[]}} SearchAnswer
 */

/**
 * One source's capture counters (caddymodule.SourceTotals).
 * @typedef {{pages: number, stored: number, truncated: number, undecodable: number,
 *   dropped_fields: number, cache_guarded: number, ambiguous: number, remembered: number,
 *   over_budget: number}} CaptureCounts
 */

/**
 * GET ui/summary (inspector.SummaryAnswer around caddymodule.InspectorSummary;
 * wire/summary.json in caddymodule).
 * @typedef {{summary: {captures: {html: CaptureCounts, json: CaptureCounts},
 *   sinks: {name: string, pending: number, in_flight: number, delivered: number, retried: number,
 *     superseded: number, dropped: number, failed: number, skipped: number}[],
 *   store: {entries: number, bytes: number, reserved?: number, hits: number, misses: number,
 *     evictions: number, expired: number}}, feed_dropped: number}} SummaryAnswer
 */

/**
 * One sink's delivery of the session, as GET …/deliveries answers it
 * (delivery.DeliveryStatus).
 * @typedef {{sink: string, state: "delivered"|"pending"|"failing"|"given_up"|"none", known: boolean,
 *   delivered_version?: number, delivered_at?: string, pending_version?: number, in_flight: boolean,
 *   attempts?: number, next_attempt_at?: string, given_up_at?: string, requires?: string[],
 *   last_error?: {status?: number, message: string, at: string}}} SinkDelivery
 */

// consentText is the Consent cell: what the sink requires of the visitor's
// consent, and whether the visitor's last decision grants it.
function consentText(/** @type {SinkDelivery} */ st, /** @type {{granted: string[], stated: boolean}|undefined} */ consent) {
  if (!st.requires || st.requires.length === 0) return "not needed";
  const granted = consent ? consent.granted || [] : [];
  const missing = st.requires.filter((p) => !granted.includes(p));
  const of = st.requires.join(", ") + (consent && !consent.stated ? " (no decision: the default)" : "");
  return (missing.length === 0 ? "granted: " : "not granted: ") + of;
}

// failureText is a failed attempt in a few words: the upstream's status
// and answer, or the network error, and when.
const failureText = (f) => (f.status ? f.status + " " : "") + f.message + " (" + when(f.at) + ")";

// attemptsText is the Attempts cell: the count, or for a sink that gave
// up, after how many attempts, when and why.
function attemptsText(/** @type {SinkDelivery} */ st) {
  if (st.state !== "given_up") return String(st.attempts || 0);
  return "given up after " + count(st.attempts || 0, "attempt", "attempts") + ", " + when(st.given_up_at) +
    (st.last_error ? ", " + failureText(st.last_error) : "");
}

function renderDeliveries(/** @type {{session_id: string, version: number, sinks: SinkDelivery[]}} */ d, consent) {
  if (!$("replay-since").value) $("replay-since").value = new Date(Date.now() - 86400000).toISOString().slice(0, 19) + "Z";
  if (d.sinks.length === 0) {
    const columns = $("s-deliveries").closest("table").querySelectorAll("thead th").length;
    $("s-deliveries").replaceChildren(el("tr", {}, el("td", { class: "note", "data-sink": "", colspan: columns },
      "No sinks are configured: add a forward to the sessiontap block to deliver sessions upstream.")));
    return;
  }
  // The list shows states as of each session's last change: bring this
  // one's up to date.
  const row = state.rows.get(d.session_id);
  if (row) {
    row.sinks = d.sinks.map((st) => ({ sink: st.sink, state: st.state }));
    renderRows();
  }
  $("s-deliveries").replaceChildren(...d.sinks.map((st) => {
    const state = st.state;
    const err = st.last_error ? failureText(st.last_error) : "—";
    const btn = el("button", { type: "button", class: "small retry" }, "Retry now");
    btn.dataset.sink = st.sink;
    btn.addEventListener("click", () => retry(st.sink, btn));
    const rep = el("button", { type: "button", class: "small replay", title: "Queue to this sink every session written since a time" }, replays[st.sink] || "Replay…");
    rep.addEventListener("click", () => replay(st.sink, rep));
    return el("tr", { "data-sink": st.sink },
      el("td", {}, st.sink), el("td", {}, el("span", { class: "badge " + state }, state)),
      el("td", {}, st.delivered_version ? "v" + st.delivered_version + " · " + when(st.delivered_at) : "—"),
      el("td", {}, st.pending_version ? "v" + st.pending_version + (st.in_flight ? " (in flight)" : "") : "—"),
      el("td", { class: "attempts" }, attemptsText(st)), el("td", { class: "err" }, err), el("td", {}, when(st.next_attempt_at)),
      el("td", { class: "consent" }, consentText(st, consent)), el("td", {}, btn, " ", rep));
  }));
}

async function retry(sink, btn) {
  btn.disabled = true;
  try {
    const res = await post("sessions/" + encodeURIComponent(state.current) + "/retry?sink=" + encodeURIComponent(sink));
    btn.textContent = res.result;
  } catch (e) {
    btn.textContent = "failed: " + e.message;
  }
  setTimeout(() => loadSession(state.current), 300);
}

// replays is each sink's replay progress, as its button shows it: the
// deliveries table is drawn anew while a replay runs.
const replays = {};

// replay starts a replay of every session written since
// to the sink, and shows its progress on the button until it is done.
async function replay(sink, btn) {
  const since = $("replay-since").value.trim();
  if (!since) return;
  btn.disabled = true;
  const path = "sinks/" + encodeURIComponent(sink) + "/replay";
  try {
    await post(path + "?since=" + encodeURIComponent(since));
    for (;;) {
      const st = await call(path);
      replays[sink] = (st.state === "done" ? "replayed: " : "replaying: ") + st.queued + " queued";
      btn.textContent = replays[sink];
      if (st.state !== "running") break;
      await new Promise((r) => setTimeout(r, 1000));
    }
  } catch (e) {
    replays[sink] = btn.textContent = "replay failed: " + e.message;
  }
  btn.disabled = false;
}

async function loadSession(id) {
  const enc = encodeURIComponent(id);
  try {
    const [s, d] = await Promise.all([call(state.api + "/sessions/" + enc), call(state.api + "/sessions/" + enc + "/deliveries")]);
    if (id !== state.current) return;
    $("s-error").hidden = true;
    $("session-view").querySelector(".grid").hidden = false;
    renderSession(s);
    renderDeliveries(d, s.consent);
  } catch (e) {
    if (id !== state.current) return;
    $("s-error").hidden = false;
    $("s-error").textContent = e.message;
    // Nothing of another session may stay on screen under this id.
    $("session-view").querySelector(".grid").hidden = true;
    $("s-id").textContent = id;
    $("s-meta").textContent = "";
    clearInterval(state.timer);
    return;
  }
  $("session-view").querySelector(".grid").hidden = false;
}

function route() {
  clearInterval(state.timer);
  let m = location.hash.match(/^#\/s\/(.+)$/);
  try {
    state.current = m ? decodeURIComponent(m[1]) : "";
  } catch (e) {
    m = null; // a malformed link: show the list
    state.current = "";
  }
  $("list-view").hidden = !!m;
  $("session-view").hidden = !m;
  if (m) {
    loadSession(state.current);
    // Delivery states move without a session change (retries): poll.
    state.timer = setInterval(() => loadSession(state.current), 2000);
  }
}

// --- the summary strip -----------------------------------------------

function size(b) {
  if (b >= 1 << 20) return (b / (1 << 20)).toFixed(1) + " MiB";
  if (b >= 1 << 10) return (b / (1 << 10)).toFixed(1) + " KiB";
  return b + " B";
}

// captureWords says what each capture counter counts, in an operator's
// words; a counter at 0 is left out, but for the pages read.
const captureWords = {
  stored: "changed a session",
  truncated: "too long, cut",
  undecodable: "could not be read",
  dropped_fields: "invalid values left out",
  cache_guarded: "from a shared cache, cart ignored",
  ambiguous: "two carts or customers, ignored",
  remembered: "same page as before",
  over_budget: "not read, capture memory full",
};
const captureSources = { html: "Pages read", json: "Cart API bodies read" };

// storeText is the store's size: sessions and what they take, when the
// store can tell (Redis cannot, cheaply).
function storeText(st) {
  if (st.entries < 0) return "Store: Redis (size not counted)";
  return "Store: " + count(st.entries, "session", "sessions") + ", " + size(st.bytes) + " of session data";
}

async function summary() {
  try {
    const { summary: s, feed_dropped } = /** @type {SummaryAnswer} */ (await call("summary"));
    const items = [];
    for (const [src, c] of Object.entries(s.captures || {})) {
      const parts = Object.entries(c).filter(([k, v]) => k !== "pages" && v > 0 && captureWords[k]).map(([k, v]) => v + " " + captureWords[k]);
      items.push((captureSources[src] || src) + ": " + c.pages + (parts.length ? " (" + parts.join(", ") + ")" : ""));
    }
    for (const k of s.sinks || []) items.push("Sink " + k.name + ": " + k.pending + " waiting, " + k.failed + " failed, " + k.dropped + " dropped (queue full)");
    if (s.store) items.push(storeText(s.store));
    if (!(s.sinks || []).length) items.push("No sinks configured");
    if (feed_dropped) items.push("Live list: " + feed_dropped + " changes skipped");
    $("summary").replaceChildren(...items.map((t) => el("li", {}, t)));
  } catch (e) {
    $("summary").replaceChildren(el("li", { class: "error" }, "summary: " + e.message));
  }
}

async function main() {
  // A link into the inspector that went through the sign-in page.
  const next = sessionStorage.getItem("sessiontap-next");
  sessionStorage.removeItem("sessiontap-next");
  if (next && next.startsWith("#/s/") && !location.hash) location.hash = next;
  const me = /** @type {Me} */ (await call("me"));
  state.api = me.api;
  state.csrf = me.csrf;
  $("signout").addEventListener("click", async () => {
    await fetch("logout", { method: "POST", headers: { "X-Sessiontap-Csrf": state.csrf }, credentials: "same-origin" });
    location.href = "login";
  });
  $("filters").addEventListener("submit", find);
  for (const id of ["f-page", "f-source", "f-sink"]) $(id).addEventListener("change", renderRows);
  $("reveal").addEventListener("click", () => {
    state.reveal = !state.reveal;
    $("reveal").textContent = state.reveal ? "Mask" : "Reveal";
    loadSession(state.current);
  });
  window.addEventListener("hashchange", route);
  route();
  follow();
  summary();
  setInterval(summary, 5000);
}

main();
