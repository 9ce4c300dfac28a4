// Fan-out load generator in Node (cheaper per message than Python clients, so the figures
// measure the server, not the client). Started by bench/realtime.py and bench/throughput.py;
// extended from shared/peers/fanout-load.mjs (same method, same JSON line per measurement).
//
//   npm install --prefix bench            (ws, socket.io-client: bench/package.json)
//   node fanout-load.mjs --peer nchan    --url http://127.0.0.1:8102 --clients 5000 --mode rounds
//   node fanout-load.mjs --peer socketio --url http://127.0.0.1:8101 --clients 5000 --mode rounds,rate
//   node fanout-load.mjs --peer ws --sub 'ws://A/ws/board/D?key=K,ws://B/ws/board/D?key=K' \
//        --pub next --api http://A --auth TOKEN --doctors id1,id2,... --mode rounds,rate
//
// Peers: `nchan` and `socketio` publish with an in-process fetch POST; `ws` (our server)
// either runs --pub-cmd (a shell command, as the original) or, with `--pub next`, presses
// Next (POST /api/v1/doctors/{id}/next with current_token_id and a bearer token) in process,
// rotating over --doctors. Subscribers of --sub (a comma list: clients split across servers).
//
// --client raw (rounds and rate, `ws` and `nchan` peers): frames read off plain sockets, only
// the timed event looked at; the default `ws` uses the npm library (reconnects, pings: the
// idle mode needs it). Each summary reports the client's own CPU (`client_cpu_percent`) and,
// with raw, the bytes and reads each subscriber took per event (`bytes_per_delivery`,
// `reads_per_delivery`). --pad N (nchan):
// its published message padded to N bytes, e.g. to the bytes a board of ours reads per press.
//
// Modes (comma list, run in order on one set of connections; one JSON line each):
//   rounds  R rounds (--rounds, --gap-ms): publish one event, wait until the LAST of N
//           subscribers has it; the peers' method.
//   rate    open loop: --rate events/s for --duration-s, spread over the doctors; for each,
//           the time until the last subscriber has it (events overlap in flight).
//   idle    hold the connections; commands on stdin, one per line: `stats` (open sockets),
//           `watch` (start timing: reports when every socket that dropped is open again;
//           sockets reconnect with exponential backoff and full jitter and resume with
//           ?since=<last seq>, as static/js/live.js does), `quit`.
//   mixed   a realistic OPD (--plan FILE, JSON {boards: [url], consoles: [{url, doctor}],
//           phones: [{url, doctor}]}, consoles with the --auth bearer token): --rate Next
//           presses/s for --duration-s spread over --doctors; for each, the time from the press
//           to the LAST affected subscriber: every board (its token.called), the doctor's
//           console (its token.called), and every phone of that doctor's queue still waiting
//           when pressed (its first token.updated / token.called after the press).
//   http    no websockets: closed-loop HTTP load at --concurrency for --duration-s, either
//           GETs over --paths (comma list, round robin) or, with --pub next, Next presses
//           (one in flight per doctor). Prints requests/s and latency percentiles.
import { execSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createInterface } from "node:readline";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(here + "/");

const args = Object.fromEntries(process.argv.slice(2).reduce((a, v, i, all) =>
  v.startsWith("--") ? [...a, [v.slice(2), all[i + 1]]] : a, []));
const N = +(args.clients ?? 1000), R = +(args.rounds ?? 200), GAP = +(args["gap-ms"] ?? 20);
const RATE = +(args.rate ?? 10), DURATION = +(args["duration-s"] ?? 20);
const TIMEOUT = +(args["timeout-ms"] ?? 10000);
const peer = args.peer ?? "ws";
const modes = (args.mode ?? "rounds").split(",");
const doctors = (args.doctors ?? "").split(",").filter(Boolean);
const subs = (args.sub ?? "").split(",").filter(Boolean);
const auth = args.auth ? { authorization: `Bearer ${args.auth}` } : {};
const out = (o) => console.log(JSON.stringify(o));

// ---- which event a message belongs to, and the measurements in flight ---------------------
const UUID = /"doctor_id":\s*"([0-9a-f-]{36})"/;
const ROUND = /"round":\s*(\d+)/;
const SEQ = /"seq":\s*(\d+)/;
// Every message names its type (and seq) in its first bytes (ours and the peers'), so only
// that head is decoded, and the whole message only when it is the one being timed: the
// client's cost per message must not grow with the size of the messages it does not time
// (a board's queue.updated follows each token.called), or the client, not the server, sets
// the spread. Bytes past the head are not validated as UTF-8 either (skipUTF8Validation).
const HEAD = 96;
const headOf = (d) => typeof d === "string" ? d.slice(0, HEAD) : d.toString("latin1", 0, HEAD);
// The doctor of a press's token.called, found in its bytes: every board's token.called is
// timed, and decoding ~1.3 KB to a string for a regex cost 2.75 us in a micro-benchmark,
// against 0.65 for this (nchan's round, in its head: 0.24); in the bench the client's CPU
// moved within its scatter (docs/benchmarks.md, run I).
const DOCTOR = Buffer.from('"doctor_id":');
function doctorOf(d) {
  if (typeof d === "string") { const m = UUID.exec(d); return m ? m[1] : null; }
  let i = d.indexOf(DOCTOR);
  if (i < 0) return null;
  i += DOCTOR.length;
  while (i < d.length && (d[i] === 0x20 || d[i] === 0x22)) i++;   // spaces, the quote
  return i + 36 <= d.length ? d.toString("latin1", i, i + 36) : null;
}
function keyOf(d) {
  if (peer === "ws") {
    if (!headOf(d).includes("token.called")) return null;
    if (args.pub !== "next") return args.match && !d.toString().includes(args.match) ? null : "r";
    return doctorOf(d);
  }
  const m = ROUND.exec(headOf(d));
  return m ? m[1] : null;
}
const pending = new Map();   // key -> {count, first, done}
const onMsg = (d) => {
  const key = keyOf(d);
  if (key === null) return;
  const p = pending.get(key);
  if (!p) return;
  if (++p.count === 1) p.first = performance.now();
  if (p.count === N) { p.done(performance.now()); pending.delete(key); }
};
// a promise of when the LAST subscriber had the event (null: timed out); its `entry.first`
// says when the first one had it
function expect(key) {
  const entry = { count: 0, first: null, done: null };
  const got = new Promise((ok) => {
    const t = setTimeout(() => { pending.delete(key); ok(null); }, TIMEOUT);
    entry.done = (t1) => { clearTimeout(t); ok(t1); };
  });
  pending.set(key, entry);
  got.entry = entry;
  return got;
}

// ---- connections ------------------------------------------------------------------------
const socks = [];            // ws peer: {s, url, lastSeq, open}
let openCount = 0, watchT0 = null, dropped = 0, reconnects = 0;
function wsUrl(i) {
  if (peer === "nchan") return args.url.replace(/^http/, "ws") + "/sub/board";
  return subs[i % subs.length];
}
function openWs(entry, first) {
  const WebSocket = require("ws");
  return new Promise((ok, bad) => {
    let url = entry.url;
    if (!first && entry.lastSeq !== null && peer === "ws") {
      url = url.replace(/([?&])since=\d+/, "$1").replace(/[?&]$/, "");
      url += (url.includes("?") ? "&" : "?") + "since=" + entry.lastSeq;
    }
    const s = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true });
    entry.s = s;
    s.on("message", (d) => {
      const m = SEQ.exec(headOf(d));
      if (m) entry.lastSeq = +m[1];
      onMsg(d);
    });
    s.on("open", () => {
      entry.open = true; entry.attempt = 0; openCount++;
      if (entry.ping) clearInterval(entry.ping);
      if (args["ping-ms"]) {
        entry.ping = setInterval(() => s.readyState === 1 && s.send('{"type":"ping"}'),
          +args["ping-ms"]);
      }
      if (!first) { reconnects++; checkWatch(); }
      ok();
    });
    s.on("error", (e) => { if (first && !entry.open) bad(e); });
    s.on("close", () => {
      if (entry.ping) { clearInterval(entry.ping); entry.ping = null; }
      if (entry.open) { openCount--; entry.open = false; if (watchT0 !== null) dropped++; }
      if (entry.stopped || (first && !entry.everOpen)) return;
      // exponential backoff with full jitter, as static/js/live.js (0.5 s base, 10 s cap)
      const ceiling = Math.min(10000, 500 * 2 ** (entry.attempt ?? 0));
      entry.attempt = (entry.attempt ?? 0) + 1;
      setTimeout(() => openWs(entry, false).catch(() => {}), ceiling / 2 + Math.random() * ceiling / 2);
    });
    s.once("open", () => { entry.everOpen = true; });
  });
}
function checkWatch() {
  if (watchT0 !== null && dropped > 0 && openCount === N) {
    out({ event: "reconnected", s: +((performance.now() - watchT0) / 1000).toFixed(2),
      dropped, reconnects });
    watchT0 = null;
  }
}
// --client raw: the websocket client reduced to what timing needs (rounds and rate only): the
// opening handshake over a plain socket, then frames read by their headers, and a message's
// bytes looked at only when its head says it is the timed event. With `ws` the client spent
// ~16 us per board per press on our two frames (11 on nchan's one): ~80% of its core at
// 5,000 boards, so the client set the spread. Raw: ~8.5 (6.7), still about the servers'
// own cost per socket, so a spread is never the server's alone. No reconnects, no pings.
const READS = Buffer.allocUnsafe(1 << 16);   // every raw socket reads into this (onread)
function openRaw(entry) {
  const net = require("node:net"), crypto = require("node:crypto");
  return new Promise((ok, bad) => {
    const u = new URL(entry.url);
    let head = null, rest = null;
    // read straight into one shared buffer: no Buffer and no 'data' event per read
    const read = (chunk) => {
      if (head === null) {   // the handshake's answer
        const buf = rest ? Buffer.concat([rest, chunk]) : chunk;
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) { rest = Buffer.from(buf); return; }
        head = buf.toString("latin1", 0, end); rest = null;
        if (!head.startsWith("HTTP/1.1 101")) { s.destroy(); bad(new Error(head.split("\r\n")[0])); return; }
        entry.open = true; openCount++; ok();
        chunk = buf.subarray(end + 4);
        if (!chunk.length) return;
      }
      let buf = rest ? Buffer.concat([rest, chunk]) : chunk, i = 0;
      rest = null;
      while (buf.length - i >= 2) {   // server frames: unmasked (RFC 6455 5.2)
        let n = buf[i + 1] & 0x7f, at = i + 2;
        if (n === 126) { if (buf.length - i < 4) break; n = buf.readUInt16BE(i + 2); at = i + 4; }
        else if (n === 127) { if (buf.length - i < 10) break; n = Number(buf.readBigUInt64BE(i + 2)); at = i + 10; }
        if (at + n > buf.length) break;
        if ((buf[i] & 0x0f) === 1) onMsg(buf.subarray(at, at + n));
        i = at + n;
      }
      if (i < buf.length) rest = Buffer.from(buf.subarray(i));   // READS is reused
    };
    const s = net.connect({ host: u.hostname, port: +u.port,
      onread: { buffer: READS, callback: (n, buf) => { bytesIn += n; readsIn++; read(buf.subarray(0, n)); } } });
    entry.s = { terminate: () => s.destroy() };
    s.on("connect", () => s.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\n`
      + "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
      + `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString("base64")}\r\n\r\n`));
    s.on("error", (e) => { if (!entry.open) bad(e); });
    s.on("close", () => { if (entry.open) { openCount--; entry.open = false; } });
  });
}
async function connectWs() {
  const batch = +(args.batch ?? 200);
  for (let i = 0; i < N; i += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, N - i) }, (_, j) => {
      const entry = { url: wsUrl(i + j), lastSeq: null, open: false };
      socks.push(entry);
      return args.client === "raw" ? openRaw(entry) : openWs(entry, true);
    }));
  }
  return () => socks.forEach((e) => { e.stopped = true; e.s.terminate(); });
}
async function connectSio() {
  const { io } = require("socket.io-client");
  const all = [];
  for (let i = 0; i < N; i += 200) {
    await Promise.all(Array.from({ length: Math.min(200, N - i) }, () => new Promise((ok, bad) => {
      const s = io(args.url, { transports: ["websocket"], reconnection: false, forceNew: true });
      s.on("call", (d) => onMsg(JSON.stringify(d)));
      s.on("connect", () => { all.push(s); openCount++; ok(); });
      s.on("connect_error", bad);
    })));
  }
  return () => all.forEach((s) => s.close());
}

// ---- publishing -------------------------------------------------------------------------
const current = new Map();   // doctor -> current token id (what the tablet shows)
const busy = new Set();      // doctors with a Next in flight
let pubErrors = 0, empty = 0;
async function pressNext(doctor) {
  busy.add(doctor);
  try {
    const r = await fetch(`${args.api}/api/v1/doctors/${doctor}/next`, {
      method: "POST", headers: { "content-type": "application/json", ...auth },
      body: JSON.stringify({ current_token_id: current.get(doctor) ?? null }),
    });
    const body = await r.json().catch(() => ({}));
    if (r.status !== 200) {
      pubErrors++;
      if (r.status === 409 && "current_token_id" in body) current.set(doctor, body.current_token_id);
      return false;
    }
    current.set(doctor, body.called ? body.called.id : null);
    if (!body.called) empty++;
    return !!body.called;
  } catch (e) {
    pubErrors++;
    return false;
  } finally {
    busy.delete(doctor);
  }
}
// what each tablet shows as current before the load starts (an earlier run may have left one)
async function learnCurrent() {
  for (let i = 0; i < doctors.length; i += 10) {
    await Promise.all(doctors.slice(i, i + 10).map(async (d) => {
      const r = await fetch(`${args.api}/api/v1/doctors/${d}/queue`, { headers: auth });
      const body = await r.json();
      current.set(d, body.current ? body.current.id : null);
    }));
  }
}
let nextDoctor = 0;
function pickDoctor() {
  for (let k = 0; k < doctors.length; k++) {
    const d = doctors[(nextDoctor + k) % doctors.length];
    if (!busy.has(d)) { nextDoctor = (nextDoctor + k + 1) % doctors.length; return d; }
  }
  return null;
}
// publish one event; returns [key, promise of the publish call's success]
function publish(r) {
  if (peer === "nchan") {
    return [String(r), fetch(args.url + "/pub/board", { method: "POST",
      body: padded({ round: r, type: "token.called" }) }).then((x) => x.ok)];
  }
  if (peer === "socketio") {
    return [String(r), fetch(args.url + "/emit", { method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ round: r }) }).then((x) => x.ok)];
  }
  if (args.pub === "next") {
    const d = pickDoctor();
    if (d === null) return [null, Promise.resolve(false)];
    return [d, pressNext(d)];
  }
  return ["r", Promise.resolve(execSync(args["pub-cmd"], { stdio: "ignore" })).then(() => true)];
}

// a message of --pad bytes (its head unchanged: the round is still found in its first bytes)
function padded(msg) {
  const text = JSON.stringify(msg), pad = +(args.pad ?? 0) - text.length - 10;
  return pad > 0 ? JSON.stringify({ ...msg, pad: "x".repeat(pad) }) : text;
}
const q = (lat, p) => lat.length ? +lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(2) : null;
// the client's own CPU over a mode, in % of a core: near 100, the client sets the latency
let cpuMark = null;
let bytesIn = 0, readsIn = 0;   // read by the raw client's sockets since the mode began
const markCpu = () => { cpuMark = [process.cpuUsage(), performance.now()]; bytesIn = readsIn = 0; };
function clientCpu() {
  const [u, t] = cpuMark, d = process.cpuUsage(u);
  return +((d.user + d.system) / 1000 / (performance.now() - t) * 100).toFixed(1);
}
function summary(mode, lat, lost, extra = {}) {
  lat.sort((a, b) => a - b);
  extra = { ...extra, client_cpu_percent: clientCpu() };
  if (bytesIn) {
    const deliveries = N * Math.max(1, lat.length + lost);
    extra.bytes_per_delivery = Math.round(bytesIn / deliveries);
    extra.reads_per_delivery = +(readsIn / deliveries).toFixed(2);
  }
  out({ peer, mode, clients: N, events: lat.length + lost, p50_ms: q(lat, 0.5), p90_ms: q(lat, 0.9),
    p99_ms: q(lat, 0.99), max_ms: lat.length ? +lat.at(-1).toFixed(2) : null,
    mean_ms: lat.length ? +(lat.reduce((a, b) => a + b, 0) / lat.length).toFixed(2) : null,
    lost, pub_errors: pubErrors, empty, open: openCount, reconnects, ...extra });
}

async function rounds() {
  markCpu();
  const lat = []; let lost = 0; pubErrors = 0; empty = 0;
  for (let r = 0; r < R; r++) {
    const t0 = performance.now();
    const [key, sent] = publish(r);
    if (key === null) { lost++; continue; }
    const got = expect(key);
    if (!(await sent)) { pending.delete(key); lost++; continue; }
    const t1 = await got;
    if (t1 === null) lost++; else lat.push(t1 - t0);
    await new Promise((ok) => setTimeout(ok, GAP));
  }
  summary("rounds", lat, lost, { rounds: R, gap_ms: GAP });
}

async function rate() {
  markCpu();
  const lat = []; let lost = 0; pubErrors = 0; empty = 0;
  const inflight = [], answered = [], first = [], spread = [];
  const every = 1000 / RATE, total = Math.round(RATE * DURATION);
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const due = start + i * every;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((ok) => setTimeout(ok, wait));
    const t0 = performance.now();
    const [key, sent] = publish(1_000_000 + i);
    if (key === null) { lost++; continue; }
    const got = expect(key);
    // the decomposition: when the publish call answered (ours: the Next request) and when
    // the first subscriber had the event
    sent.then(() => answered.push(performance.now() - t0));
    inflight.push(Promise.all([sent, got]).then(([ok, t1]) => {
      if (!ok) { pending.delete(key); lost++; return; }
      if (t1 === null) { lost++; return; }
      lat.push(t1 - t0);
      first.push(got.entry.first - t0);
      spread.push(t1 - got.entry.first);   // the fan-out proper: first subscriber to last
    }));
  }
  const achieved = total / ((performance.now() - start) / 1000);
  await Promise.all(inflight);
  for (const xs of [answered, first, spread]) xs.sort((a, b) => a - b);
  summary("rate", lat, lost, { rate: RATE, duration_s: DURATION, achieved_rate: +achieved.toFixed(2),
    publish_p50_ms: q(answered, 0.5), publish_p99_ms: q(answered, 0.99),
    first_p50_ms: q(first, 0.5), first_p99_ms: q(first, 0.99),
    spread_p50_ms: q(spread, 0.5), spread_p99_ms: q(spread, 0.99) });
}

async function idle() {
  out({ event: "idle", open: openCount });
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    const cmd = line.trim();
    if (cmd === "stats") out({ event: "stats", open: openCount, reconnects });
    else if (cmd === "watch") { watchT0 = performance.now(); dropped = 0; reconnects = 0;
      out({ event: "watching" }); }
    else if (cmd === "quit") break;
  }
}

async function http() {
  const paths = (args.paths ?? "").split(",").filter(Boolean);
  const C = +(args.concurrency ?? 16);
  const lat = []; let errors = 0, i = 0;
  const end = performance.now() + DURATION * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      let ok = false;
      if (args.pub === "next") {
        const d = pickDoctor();
        if (d === null) { await new Promise((r) => setTimeout(r, 1)); continue; }
        ok = await pressNext(d);
      } else {
        try {
          const r = await fetch(args.url + paths[i++ % paths.length], { headers: auth });
          await r.arrayBuffer();
          ok = r.status === 200;
        } catch { ok = false; }
      }
      if (ok) lat.push(performance.now() - t0); else errors++;
    }
  };
  const t = performance.now();
  await Promise.all(Array.from({ length: C }, worker));
  const secs = (performance.now() - t) / 1000;
  lat.sort((a, b) => a - b);
  out({ mode: "http", what: args.pub === "next" ? "next" : "get", concurrency: C,
    ok: lat.length, errors, empty, seconds: +secs.toFixed(2), rps: +(lat.length / secs).toFixed(1),
    p50_ms: q(lat, 0.5), p99_ms: q(lat, 0.99) });
}


// ---- mixed: boards + doctor consoles + patient phones ------------------------------------
const pendingD = new Map();  // doctor -> {t0, need: Set of entries, done}
function mixedSeen(entry, doctor) {
  const p = pendingD.get(doctor);
  if (p && p.need.delete(entry) && p.need.size === 0) { p.done(performance.now()); pendingD.delete(doctor); }
}
function mixedMessage(entry, data) {   // data: the message's bytes (a Buffer)
  if (entry.kind === "phone") {
    let m; try { m = JSON.parse(data.toString()); } catch { return; }
    if (m.type === "snapshot" || m.type === "token.updated") entry.status = m.data.status;
    else if (m.type === "token.called") entry.status = "CALLED";
    else return;
    if (m.type !== "snapshot") mixedSeen(entry, entry.doctor);
    return;
  }
  if (!headOf(data).includes("token.called")) return;
  const d = UUID.exec(data.toString());
  if (d && (entry.kind === "board" || d[1] === entry.doctor)) mixedSeen(entry, d[1]);
}
function openMixed(entry) {
  const WebSocket = require("ws");
  return new Promise((ok, bad) => {
    const s = new WebSocket(entry.url, { perMessageDeflate: false, skipUTF8Validation: true,
      headers: entry.kind === "console" ? auth : {} });
    entry.s = s;
    s.on("message", (d) => mixedMessage(entry, d));
    s.on("open", () => { openCount++; ok(); });
    s.on("close", () => { openCount--; });
    s.on("error", bad);
  });
}
async function mixed() {
  const plan = JSON.parse(readFileSync(args.plan, "utf8"));
  const all = [...plan.boards.map((url) => ({ kind: "board", url })),
    ...plan.consoles.map((c) => ({ kind: "console", ...c })),
    ...plan.phones.map((p) => ({ kind: "phone", status: "WAITING", ...p }))];
  const t = performance.now();
  for (let i = 0; i < all.length; i += 100) await Promise.all(all.slice(i, i + 100).map(openMixed));
  out({ event: "connected", peer, clients: all.length, connect_s: +((performance.now() - t) / 1000).toFixed(2) });
  await new Promise((r) => setTimeout(r, +(args["settle-ms"] ?? 1000)));
  const boards = all.filter((e) => e.kind === "board");
  const byDoctor = new Map();
  for (const e of all) if (e.doctor) { if (!byDoctor.has(e.doctor)) byDoctor.set(e.doctor, []); byDoctor.get(e.doctor).push(e); }
  const lat = []; let lost = 0, affected = 0; pubErrors = 0; empty = 0;
  const inflight = [];
  markCpu();
  const every = 1000 / RATE, total = Math.round(RATE * DURATION), start = performance.now();
  for (let i = 0; i < total; i++) {
    const wait = start + i * every - performance.now();
    if (wait > 0) await new Promise((ok) => setTimeout(ok, wait));
    const d = pickDoctor();
    if (d === null || pendingD.has(d)) { lost++; continue; }
    const need = new Set(boards);
    for (const e of byDoctor.get(d) ?? []) if (e.kind === "console" || e.status === "WAITING") need.add(e);
    affected += need.size;
    const t0 = performance.now();
    const got = new Promise((ok) => {
      const timer = setTimeout(() => { pendingD.delete(d); ok(null); }, TIMEOUT);
      pendingD.set(d, { need, done: (t1) => { clearTimeout(timer); ok(t1); } });
    });
    inflight.push(Promise.all([pressNext(d), got]).then(([ok, t1]) => {
      if (!ok) { pendingD.delete(d); lost++; return; }
      if (t1 === null) lost++; else lat.push(t1 - t0);
    }));
  }
  const achieved = total / ((performance.now() - start) / 1000);
  await Promise.all(inflight);
  summary("mixed", lat, lost, { rate: RATE, duration_s: DURATION, achieved_rate: +achieved.toFixed(2),
    boards: boards.length, consoles: plan.consoles.length, phones: plan.phones.length,
    mean_affected: +(affected / Math.max(1, total)).toFixed(1) });
  all.forEach((e) => e.s.terminate());
}

// ---- main -------------------------------------------------------------------------------
if (args.pub === "next") await learnCurrent();
let close = () => {};
if (!(modes.length === 1 && (modes[0] === "http" || modes[0] === "mixed"))) {
  const t = performance.now();
  close = peer === "socketio" ? await connectSio() : await connectWs();
  out({ event: "connected", peer, clients: N, connect_s: +((performance.now() - t) / 1000).toFixed(2) });
  await new Promise((r) => setTimeout(r, +(args["settle-ms"] ?? 500)));
}
for (const mode of modes) {
  if (mode === "rounds") await rounds();
  else if (mode === "rate") await rate();
  else if (mode === "idle") await idle();
  else if (mode === "http") await http();
  else if (mode === "mixed") await mixed();
}
close();
process.exit(0);
