// Waiting-room display board: /board/<department id>#key=<display key>.
//
// Opens with no interaction: reads the key from the URL fragment (it never reaches a server
// log), loads the board snapshot, then follows the board websocket. Survives network blips
// and server restarts: live.js reconnects and resumes from the last event's seq; while the
// socket is down the snapshot is polled.
//
// Calls: the newest is shown big the instant it arrives (no queue of full screens); the
// calls of the last minute that are still current stay in a "just called" strip; a call
// that stops being current (no-show, skip, complete, transfer, cancel: its cabin's current
// token changes) leaves the screen at once. Each call (and each recall) is spoken once, in
// the board's languages in order (announce.js); replayed events and snapshots after a
// reconnect do not repeat it. Labels are bilingual lines in the board's languages.

import { ApiError, get, setBearer } from '../js/api.js';
import { $, $$, debounce, fill, h } from '../js/dom.js';
import { formatTime, langLoaded, loadLangs, setLang, tIn } from '../js/i18n.js';
import { Live } from '../js/live.js';
import { canPlay, whenGesture } from '../js/sound.js';
import { Announcer } from './announce.js';

const POLL_DOWN_MS = 10000;       // while the socket is down, the snapshot is polled
const REFRESH_MS = 60000;         // and refreshed anyway now and then (ETAs age)
const BIG_MS = 8000;              // the newest call fills the screen this long
const RECENT_MS = 60000;          // a call stays in the "just called" strip this long
const RECENT_MAX = 4;

const depId = decodeURIComponent(location.pathname.split('/').filter(Boolean)[1] || '');
const key = new URLSearchParams(location.hash.slice(1)).get('key');

const state = {
  department: null,
  cabins: new Map(),              // doctor id -> cabin (snapshot and queue.updated shape)
  order: [],                      // doctor ids in display order
  loaded: false,
  announced: new Set(),           // "token id:recall count" already shown and spoken
  calls: [],                      // newest first: {id, number, cabin, doctorId, doctor, recall, at}
  big: null,                      // the call shown big, or null
  bigTimer: null,
};

const announcer = new Announcer({ langs: () => langs(), current: (call) => stillCurrent(call) });

// ------------------------------------------------------------------ languages

function langs() {
  const l = state.department?.languages;
  return l?.length ? l : [state.department?.language || 'en'];
}

/** A label in every board language: one line each, or one line joined with " · ". */
function bi(key_, vars = {}, { inline = false } = {}) {
  return h('span', { class: `bi${inline ? ' inline' : ''}` }, langs().map((l, i) => [
    i && inline ? h('span', { class: 'bi-sep', 'aria-hidden': 'true', text: ' · ' }) : null,
    h('span', { lang: l, class: `bi-${i + 1}`, text: tIn(l, key_, vars) })]));
}

function applyLabels() {
  document.documentElement.lang = langs()[0];
  for (const el of $$('[data-bi]')) {
    fill(el, bi(el.dataset.bi, {}, { inline: 'biInline' in el.dataset }));
  }
}

/** A clock time on the hospital's clock (not the TV's zone), as the board's first language
 * writes it. */
function fmtTime(iso) {
  return formatTime(iso, langs()[0], state.department?.timezone);
}

function message(key_) {
  const el = $('#board-message');
  if (key_) fill(el, bi(key_)); else el.replaceChildren();
  el.hidden = !key_;
}

// ------------------------------------------------------------------ state updates

function applySnapshot(snap) {
  const first = !state.loaded;
  const langsBefore = langs().join();
  state.department = snap.department;
  $('#clock').textContent = fmtTime(new Date());  // the hospital's time, not the TV's zone
  setLang(langs()[0], { persist: false });
  if (first || langs().join() !== langsBefore) applyLabels();
  const missing = langs().filter((l) => !langLoaded(l));  // a language added while on screen
  if (missing.length) loadLangs(missing).then(() => { applyLabels(); render(); });
  $('#dept-name').textContent = snap.department.name;
  document.title = `${snap.department.name} · ${tIn(langs()[0], 'board.nowServing')}`;
  const previous = state.cabins;
  state.cabins = new Map();
  state.order = [];
  const cabins = [...snap.cabins].sort((a, b) => String(a.cabin ?? '')
    .localeCompare(String(b.cabin ?? ''), 'en', { numeric: true }));
  for (const c of cabins) {
    state.cabins.set(c.doctor.id, c);
    state.order.push(c.doctor.id);
    if (first) {
      // what is on screen when the board starts was announced before it
      if (c.current) state.announced.add(`${c.current.id}:${c.current.recall_count || 0}`);
    } else {
      // a call (or recall) made while we were not listening is still shown and spoken
      noticeCall(c, previous.get(c.doctor.id)?.current);
    }
  }
  state.loaded = true;
  prune();
  render();
}

/** A cabin whose current token is newly CALLED, or called again, makes a call. */
function noticeCall(cabin, before) {
  const cur = cabin.current;
  if (!cur || cur.status !== 'CALLED') return;
  const recall = cur.recall_count || 0;
  if (before && before.id === cur.id && (before.recall_count || 0) >= recall) return;
  addCall({ id: cur.id, number: cur.number, cabin: cabin.cabin, doctorId: cabin.doctor.id,
            doctor: cabin.doctor.name, recall });
}

// a board's queue.updated carries one cabin, in the shape of the snapshot's cabins
function applyQueue(d) {
  const cabin = state.cabins.get(d.doctor_id);
  if (!cabin) { refetch(); return; }
  const before = cabin.current;
  cabin.doctor = d.doctor;
  cabin.cabin = d.cabin ?? cabin.cabin;
  cabin.current = d.current;
  cabin.next = d.next;
  cabin.waiting_count = d.waiting_count;
  noticeCall(cabin, before);
  prune();
  render();
}

function applyCalled(d) {
  const tok = d.token || {};
  const doctorId = d.doctor?.id || tok.doctor_id;
  const cabin = doctorId && state.cabins.get(doctorId);
  const recall = tok.recall_count || (d.recall ? 1 : 0);
  if (cabin) {
    cabin.current = { id: tok.id, number: tok.number, status: 'CALLED',
                      display_name: tok.display_name || '', recall_count: recall };
    cabin.next = (cabin.next || []).filter((n) => n.id !== tok.id);
    render();
  } else {
    refetch();
  }
  addCall({ id: tok.id, number: tok.number, cabin: d.cabin ?? tok.cabin ?? cabin?.cabin,
            doctorId, doctor: d.doctor?.name || cabin?.doctor?.name, recall });
}

function applyDoctorStatus(d) {
  const c = state.cabins.get(d.doctor_id || d.doctor?.id);
  if (!c || !d.status) { refetch(); return; }
  c.doctor = { ...c.doctor, status: d.status,
               pause_until: d.status === 'PAUSED' ? d.pause_until || null : null };
  render();
}

function onMessage(msg) {
  switch (msg.type) {
    case 'snapshot': applySnapshot(msg.data); break;
    case 'queue.updated': applyQueue(msg.data); break;
    case 'token.called': applyCalled(msg.data); break;
    case 'doctor.status': applyDoctorStatus(msg.data); break;
    case 'announcement': showNotice(msg.data); break;
    // a token's change is followed by its queue's queue.updated; heartbeats keep the line
    case 'token.updated': case 'heartbeat': case 'pong': break;
    default: refetch();
  }
}

function showNotice(data) {
  const text = data?.text || data?.message;
  if (!text) return;
  const el = $('#notice');
  el.textContent = text;
  el.hidden = false;
  clearTimeout(showNotice.timer);
  showNotice.timer = setTimeout(() => { el.hidden = true; }, (data.seconds || 60) * 1000);
}

// ------------------------------------------------------------------ calls

/** Show a call at once (big), keep it in the strip, and queue it for the loudspeaker; a
 *  call already seen (replayed event, snapshot after a reconnect) does nothing. */
function addCall(call) {
  const id = `${call.id}:${call.recall || 0}`;
  if (state.announced.has(id)) return;
  state.announced.add(id);
  if (state.announced.size > 500) state.announced = new Set([...state.announced].slice(-200));
  state.calls = [{ ...call, at: Date.now() }, ...state.calls.filter((c) => c.id !== call.id)];
  showBig(state.calls[0]);
  renderRecent();
  announcer.enqueue(call);
}

/** A call is current while its cabin's current token is that token (and still CALLED or
 *  with the doctor); a cabin the board does not know yet cannot say otherwise. */
function stillCurrent(call) {
  const cabin = state.cabins.get(call.doctorId);
  if (!cabin) return true;
  return cabin.current?.id === call.id;
}

/** Drop the calls that are no longer current or older than a minute; hide the big one if it
 *  went. */
function prune() {
  const now = Date.now();
  state.calls = state.calls.filter((c) => stillCurrent(c) && now - c.at < RECENT_MS)
    .slice(0, RECENT_MAX + 1);
  if (state.big && !state.calls.some((c) => c.id === state.big.id)) hideBig();
  renderRecent();
}

function showBig(call) {
  state.big = call;
  $('#call-number').textContent = call.number;
  $('#call-cabin').textContent = call.cabin || '';
  $('#call-doctor').textContent = call.doctor || '';
  $('#call-recall').hidden = !call.recall;
  const el = $('#call');
  el.dataset.token = call.id;
  el.hidden = false;
  el.classList.remove('flash');
  void el.offsetWidth;  // restart the animation
  el.classList.add('flash');
  fit($('#call-number'));
  clearTimeout(state.bigTimer);
  state.bigTimer = setTimeout(hideBig, BIG_MS);
}

function hideBig() {
  clearTimeout(state.bigTimer);
  state.big = null;
  $('#call').hidden = true;
  renderRecent();
}

/** The strip: the calls of the last minute still current, except the one shown big. */
function renderRecent() {
  const shown = state.calls.filter((c) => c.id !== state.big?.id).slice(0, RECENT_MAX);
  const section = $('#recent');
  section.hidden = !shown.length;
  fill($('#recent-list'), shown.map((c) => h('li', {
    class: `recent-item${c.recall ? ' recall' : ''}`, dataset: { token: c.id },
  },
  h('span', { class: 'recent-num', text: c.number }),
  h('span', { class: 'recent-arrow', 'aria-hidden': 'true', text: '→' }),
  h('span', { class: 'recent-cabin', text: c.cabin || '' }),
  c.recall ? bi('board.recallShort', {}, { inline: true }) : null)));
  // the big call leaves the strip visible below it
  document.body.style.setProperty('--strip-h', `${section.hidden ? 0 : section.offsetHeight}px`);
}

// ------------------------------------------------------------------ rendering

function etaLabel(eta) {
  if (!eta || eta.p50_min === null || eta.p50_min === undefined) return null;
  if (eta.p50_min <= 1) return bi('board.soon');
  return bi('board.etaMin', { min: eta.p50_min });
}

function render() {
  const root = $('#cabins');
  root.dataset.count = String(Math.min(state.order.length, 6));
  if (!state.order.length) {
    fill(root, h('p', { class: 'board-empty' }, bi('board.noCabins')));
    return;
  }
  root.replaceChildren(...state.order.map((id) => cabinCard(state.cabins.get(id))));
  for (const el of $$('.cabin-doctor, .now-number, .status-pill', root)) fit(el);
  for (const el of $$('.now-name, .next .name', root)) fitName(el);
  for (const el of $$('.next', root)) trimRows(el);
}

/** Rows of the "next" list that do not fit whole are left out, not shown cut in half. */
function trimRows(next) {
  const bottom = next.getBoundingClientRect().bottom;
  for (const li of $$('li', next)) {
    if (li.getBoundingClientRect().bottom > bottom + 1) li.hidden = true;
  }
}

/** What the tile says about its doctor instead of, or besides, the queue. */
function doctorNote(c) {
  const d = c.doctor;
  if (d.status === 'PAUSED') {
    return d.pause_until && Date.parse(d.pause_until) > Date.now()
      ? bi('board.pausedUntil', { time: fmtTime(d.pause_until) }, { inline: true })
      : bi('board.paused', {}, { inline: true });
  }
  if (!c.current && d.shift_start && Date.parse(d.shift_start) > Date.now()) {
    return bi('board.from', { time: fmtTime(d.shift_start) }, { inline: true });
  }
  return null;
}

function cabinCard(c) {
  const paused = c.doctor.status === 'PAUSED';
  const cur = c.current;
  const note = doctorNote(c);
  return h('article', {
    class: `cabin${paused ? ' paused' : ''}${note && !paused ? ' later' : ''}`,
    dataset: { doctor: c.doctor.id },
    'aria-label': `${tIn('en', 'board.cabin')} ${c.cabin || ''}`,
  },
  h('header', { class: 'cabin-head' },
    h('h2', {}, h('span', { class: 'cabin-word' }, bi('board.cabin')),
      h('span', { class: 'cabin-no', text: c.cabin || '—' })),
    h('p', { class: 'cabin-doctor wraps', text: c.doctor.name })),
  note ? h('p', { class: 'status-pill', dataset: { testid: 'cabin-note' } }, note) : null,
  h('div', { class: 'now' },
    h('p', { class: 'now-label' }, bi('board.now', {}, { inline: true })),
    h('p', { class: 'now-number', dataset: { testid: 'now-number' }, text: cur ? cur.number : '—' }),
    h('p', { class: 'now-name', text: cur ? cur.display_name || '' : '' })),
  h('div', { class: 'next' },
    h('h3', {}, bi('board.next', {}, { inline: true })),
    c.next?.length
      ? h('ol', {}, c.next.map((n) => h('li', {},
        h('span', { class: 'num', text: n.number }),
        h('span', { class: 'name', text: n.display_name || '' }),
        h('span', { class: 'eta' }, etaLabel(n.eta)))))
      : h('p', { class: 'none' }, bi('board.nobodyWaiting'))),
  h('footer', { class: 'cabin-foot' },
    bi('board.waitingCount', { n: c.waiting_count ?? 0 }, { inline: true })));
}

/** Wider than its box (one-line texts), or taller (texts that may wrap: .wraps) by more than
 *  a font's own ascent and descent can stick out of a tight line box (Noto's do, DejaVu's do
 *  not): a line too many is a whole line-height, never a third of one. */
function overflows(el) {
  if (!el.classList.contains('wraps')) return el.scrollWidth > el.clientWidth + 1;
  const slack = parseFloat(getComputedStyle(el).fontSize) * 0.35;
  return el.scrollHeight > el.clientHeight + slack;
}

/** Shrink an element's text until it fits its box (never cut): down to 45% of its size. */
function fit(el) {
  el.style.fontSize = '';
  if (!el.isConnected || !overflows(el)) return;
  const base = parseFloat(getComputedStyle(el).fontSize);
  for (let scale = 0.92; scale >= 0.45 && overflows(el); scale -= 0.07) {
    el.style.fontSize = `${base * scale}px`;
  }
}

/** A masked name that does not fit is shortened word by word, never cut: "R. Chaudhary"
 *  becomes "R. C."; the full form is kept for screen readers. */
export function shortName(name) {
  const words = String(name || '').split(/\s+/).filter(Boolean);
  if (words.length < 2) return words.join(' ');
  return `${words[0]} ${[...words.at(-1)][0]}.`;
}

function fitName(el) {
  const full = el.textContent;
  if (!full || !overflows(el)) return;
  el.setAttribute('aria-label', full);
  el.textContent = shortName(full);
  el.dataset.short = '';
}

// ------------------------------------------------------------------ loading

async function load() {
  try {
    const snap = await get(`/api/v1/departments/${encodeURIComponent(depId)}/board`);
    await loadLangs(snap.department.languages ?? [], snap.department.language);
    applySnapshot(snap);
    message('');
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403 || err.status === 404)) {
      message('board.badKey');
    } else if (!state.loaded) {
      message('board.loading');
    }
  }
}
const refetch = debounce(load, 300);

async function soundCheck() {
  if (await canPlay()) return;
  const button = $('#sound-enable');
  button.hidden = false;
  const enable = () => { button.hidden = true; };
  button.addEventListener('click', enable, { once: true });
  whenGesture(enable);
}

function tick() {
  $('#clock').textContent = fmtTime(new Date());
  prune();
  // "from 09:00" and "break until 11:30" end by themselves
  if (state.loaded) render();
}

function main() {
  applyLabels();
  tick();
  setInterval(tick, 15000);
  if (!depId) { message('board.badKey'); return; }
  if (key) setBearer(key);
  load();
  let poll = null;
  const live = new Live({
    path: () => `/ws/board/${encodeURIComponent(depId)}${key ? `?key=${encodeURIComponent(key)}` : ''}`,
    onMessage,
    retryDenied: true,
    onDenied: () => message('board.badKey'),
    onState: (s) => {
      document.body.dataset.live = s;
      clearInterval(poll);
      if (s === 'down') poll = setInterval(load, POLL_DOWN_MS);
      if (s === 'live') message('');
    },
  });
  live.start();
  setInterval(() => { if (live.state === 'live') refetch(); }, REFRESH_MS);
  window.addEventListener('resize', debounce(() => { render(); renderRecent(); }, 200));
  soundCheck();
  window.opdqBoard = { state, live, announcer };  // for kiosk debugging and tests
}

main();
