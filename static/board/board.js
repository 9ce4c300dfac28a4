// Waiting-room display board: /board/<department id>#key=<display key>.
//
// Opens with no interaction: reads the key from the URL fragment (it never reaches a server
// log), loads the board snapshot, then follows the board websocket. A call is shown large
// with a chime and a spoken announcement (announce.js). Survives network blips and server
// restarts: live.js reconnects and resumes; while the socket is down the snapshot is polled.

import { ApiError, get, setBearer } from '../js/api.js';
import { $, debounce, h, hhmm } from '../js/dom.js';
import { applyI18n, setLang, t } from '../js/i18n.js';
import { Live } from '../js/live.js';
import { canPlay, whenGesture } from '../js/sound.js';
import { Announcer } from './announce.js';

const POLL_DOWN_MS = 10000;       // while the socket is down, the snapshot is polled
const REFRESH_MS = 60000;         // and refreshed anyway now and then (ETAs age)

const depId = decodeURIComponent(location.pathname.split('/').filter(Boolean)[1] || '');
const key = new URLSearchParams(location.hash.slice(1)).get('key');

const state = {
  department: null,
  cabins: new Map(),              // doctor id -> cabin (snapshot and queue.updated shape)
  order: [],                      // doctor ids in display order
  loaded: false,
  announced: new Set(),           // "token id:recall count" already announced
};

const announcer = new Announcer({
  lang: () => state.department?.language || 'en',
  show: showCall,
  hide: hideCall,
});

function message(text) {
  const el = $('#board-message');
  el.textContent = text || '';
  el.hidden = !text;
}

// ------------------------------------------------------------------ state updates

function applySnapshot(snap) {
  const first = !state.loaded;
  state.department = snap.department;
  setLang(snap.department.language, { persist: false });
  applyI18n();
  $('#dept-name').textContent = snap.department.name;
  document.title = `${snap.department.name} · ${t('board.nowServing')}`;
  const previous = state.cabins;
  state.cabins = new Map();
  state.order = [];
  const cabins = [...snap.cabins].sort((a, b) => String(a.cabin ?? '')
    .localeCompare(String(b.cabin ?? ''), 'en', { numeric: true }));
  for (const c of cabins) {
    state.cabins.set(c.doctor.id, c);
    state.order.push(c.doctor.id);
    const before = previous.get(c.doctor.id)?.current?.id;
    // a call made while we were not listening (first load excepted) is still announced
    if (!first && c.current && c.current.status === 'CALLED' && c.current.id !== before) {
      announce({ id: c.current.id, number: c.current.number, cabin: c.cabin,
                 doctor: c.doctor.name, recall: 0 });
    } else if (first && c.current) {
      state.announced.add(`${c.current.id}:0`);
    }
  }
  state.loaded = true;
  render();
}

// a board's queue.updated carries one cabin, in the shape of the snapshot's cabins
function applyQueue(d) {
  const cabin = state.cabins.get(d.doctor_id);
  if (!cabin) { refetch(); return; }
  const before = cabin.current?.id;
  cabin.doctor = d.doctor;
  cabin.cabin = d.cabin ?? cabin.cabin;
  cabin.current = d.current;
  cabin.next = d.next;
  cabin.waiting_count = d.waiting_count;
  if (cabin.current && cabin.current.status === 'CALLED' && cabin.current.id !== before) {
    announce({ id: cabin.current.id, number: cabin.current.number, cabin: cabin.cabin,
               doctor: cabin.doctor.name, recall: cabin.current.recall_count || 0 });
  }
  render();
}

function applyCalled(d) {
  const tok = d.token || {};
  const cabinLabel = d.cabin ?? tok.cabin;
  const doctorId = d.doctor?.id || tok.doctor_id;
  const cabin = doctorId && state.cabins.get(doctorId);
  if (cabin) {
    cabin.current = { id: tok.id, number: tok.number, status: 'CALLED',
                      display_name: tok.display_name, recall_count: tok.recall_count };
    cabin.next = (cabin.next || []).filter((n) => n.id !== tok.id);
    render();
  } else {
    refetch();
  }
  announce({ id: tok.id, number: tok.number, cabin: cabinLabel, doctor: d.doctor?.name,
             recall: d.recall ? (tok.recall_count || 1) : (tok.recall_count || 0) });
}

function announce(call) {
  const id = `${call.id}:${call.recall || 0}`;
  if (state.announced.has(id)) return;
  state.announced.add(id);
  if (state.announced.size > 500) state.announced = new Set([...state.announced].slice(-200));
  announcer.enqueue(call);
}

function onMessage(msg) {
  switch (msg.type) {
    case 'snapshot': applySnapshot(msg.data); break;
    case 'queue.updated': applyQueue(msg.data); break;
    case 'token.called': applyCalled(msg.data); break;
    case 'doctor.status': {
      const c = state.cabins.get(msg.data.doctor_id || msg.data.doctor?.id);
      if (c && msg.data.status) { c.doctor.status = msg.data.status; render(); } else refetch();
      break;
    }
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

// ------------------------------------------------------------------ rendering

function etaText(eta) {
  if (!eta || eta.p50_min === null || eta.p50_min === undefined) return '';
  if (eta.p50_min <= 1) return t('board.soon');
  return t('board.etaMin', { min: eta.p50_min });
}

function render() {
  const root = $('#cabins');
  root.dataset.count = String(Math.min(state.order.length, 6));
  if (!state.order.length) {
    root.replaceChildren(h('p', { class: 'board-empty', text: t('board.noCabins') }));
    return;
  }
  root.replaceChildren(...state.order.map((id) => cabinCard(state.cabins.get(id))));
}

function cabinCard(c) {
  const paused = c.doctor.status === 'PAUSED';
  const cur = c.current;
  return h('article', { class: `cabin${paused ? ' paused' : ''}`, dataset: { doctor: c.doctor.id },
                        'aria-label': `${t('board.cabin')} ${c.cabin || ''}` },
    h('header', { class: 'cabin-head' },
      h('h2', {}, h('span', { class: 'cabin-word', text: t('board.cabin') }), ' ',
        h('span', { class: 'cabin-no', text: c.cabin || '—' })),
      h('p', { class: 'cabin-doctor', text: c.doctor.name }),
      paused ? h('p', { class: 'cabin-status', text: t('board.paused') }) : null),
    h('div', { class: 'now' },
      h('p', { class: 'now-label', text: t('board.now') }),
      h('p', { class: 'now-number', dataset: { testid: 'now-number' }, text: cur ? cur.number : '—' }),
      h('p', { class: 'now-name', text: cur ? cur.display_name || '' : '' })),
    h('div', { class: 'next' },
      h('h3', { text: t('board.next') }),
      c.next?.length
        ? h('ol', {}, c.next.map((n) => h('li', {},
            h('span', { class: 'num', text: n.number }),
            h('span', { class: 'name', text: n.display_name || '' }),
            h('span', { class: 'eta', text: etaText(n.eta) }))))
        : h('p', { class: 'none', text: t('board.nobodyWaiting') })),
    h('footer', { class: 'cabin-foot', text: t('board.waitingCount', { n: c.waiting_count ?? 0 }) }));
}

function showCall(call) {
  $('#call-number').textContent = call.number;
  $('#call-cabin').textContent = call.cabin || '';
  $('#call-doctor').textContent = call.doctor || '';
  $('#call-recall').hidden = !call.recall;
  const el = $('#call');
  el.hidden = false;
  el.classList.remove('flash');
  void el.offsetWidth;  // restart the animation
  el.classList.add('flash');
}

function hideCall() { $('#call').hidden = true; }

// ------------------------------------------------------------------ loading

async function load() {
  try {
    const snap = await get(`/api/v1/departments/${encodeURIComponent(depId)}/board`);
    applySnapshot(snap);
    message('');
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403 || err.status === 404)) {
      message(t('board.badKey'));
    } else if (!state.loaded) {
      message(t('board.loading'));
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

function tick() { $('#clock').textContent = hhmm(); }

function main() {
  applyI18n();
  tick();
  setInterval(tick, 15000);
  if (!depId) { message(t('board.badKey')); return; }
  if (key) setBearer(key);
  load();
  let poll = null;
  const live = new Live({
    path: () => `/ws/board/${encodeURIComponent(depId)}${key ? `?key=${encodeURIComponent(key)}` : ''}`,
    onMessage,
    retryDenied: true,
    onDenied: () => message(t('board.badKey')),
    onState: (s) => {
      document.body.dataset.live = s;
      clearInterval(poll);
      if (s === 'down') poll = setInterval(load, POLL_DOWN_MS);
      if (s === 'live') message('');
    },
  });
  live.start();
  setInterval(() => { if (live.state === 'live') refetch(); }, REFRESH_MS);
  soundCheck();
  window.opdqBoard = { state, live, announcer };  // for kiosk debugging and tests
}

main();
