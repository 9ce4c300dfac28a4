// Doctor console (tablet): /doctor[?doctor=<id>].
//
// One big Next (completes the current patient, calls the next) that sends the id of the
// patient it shows, so a second tablet or a late double tap is refused by the server instead
// of calling another patient; the button is disabled while in flight and for a moment after
// a call. Every action carries one Idempotency-Key and is retried safely on network errors.
// The queue follows the doctor websocket: a queue.updated is applied to the view as it is
// (positions, ETAs, statuses); the queue GET is read at start, on a snapshot's resync, when an
// event names a token the console has not seen (its staff view: full name, visit reason, risk)
// or changes a token's status and no action's answer brings its new allowed_actions within a
// second, and now and then (risk scores come later), not on every event.
// Buttons come from each token's allowed_actions (the server's lifecycle, not a copy here).
// Waited time is the server's waited_min (from check-in: a skip or a recall does not reset it),
// aged here from when it was read. The risk badge says what it means ("likely to miss: 32%")
// and lists its top factors on a tap. Pause asks how long (the pause's end is in every ETA;
// the server texts waiting patients only when their wait grows past the hospital's threshold).
// A no-show is undone from a toast (or the Reinstate button while it is the last no-show); a
// patient's own "running late" / "cancel" arrives as a token.updated with a note, shown as a
// toast.

import { ApiError, action, clearErrors, describe, get, post, showErrors } from '../js/api.js';
import { currentUser, loginForm, logout } from '../js/auth.js';
import { $, debounce, fill, h, showView } from '../js/dom.js';
import { STAFF_LANGUAGES, applyI18n, duration, etaRange, langSwitch, t } from '../js/i18n.js';
import { CLOSE, Live } from '../js/live.js';

const NEXT_COOLDOWN_MS = 1500;   // after a call, Next rests: a double tap must not call twice
const TICK_MS = 30000;           // "waited N min" ages
const REFRESH_MS = 60000;        // the queue GET now and then (risk scores are not events)
const STALE_MS = 1000;           // a status changed by an event waits this long for its answer
const UNDO_MS = 10000;           // the no-show toast's Undo
const NOTE_MS = 8000;            // a patient's note

const S = {
  me: null,
  doctorId: null,
  queue: null,                   // GET /doctors/{id}/queue
  live: null,
  colleagues: [],
  lastNoShow: null,              // the token JSON of the last no-show marked here
  notes: new Map(),              // token id -> the patient's last note (running late, ...)
  stale: new Set(),              // ids whose allowed_actions predate their status
  staleTimer: null,
  pending: 0,                    // actions of this console waiting for their answer
  riskOpen: null,                // the token whose risk factors are shown
};

const ROW_ACTIONS = ['transfer', 'skip', 'no-show'];

const LABELS = {
  recall: 'doctor.recall', start: 'doctor.start', complete: 'doctor.complete',
  'no-show': 'doctor.noShow', skip: 'doctor.skip', transfer: 'doctor.transfer',
};

const BUTTONS = {
  recall: '#btn-recall', start: '#btn-start', complete: '#btn-complete',
  'no-show': '#btn-noshow', skip: '#btn-skip',
};

// ------------------------------------------------------------------ rendering

function badge(cls, text) { return h('span', { class: `badge ${cls}`, text }); }

function flags(tok) {
  const note = S.notes.get(tok.id);
  return [
    note ? badge('note', note) : null,
    tok.priority > 1 ? badge(`prio-${tok.priority}`, t(`prio.${tok.priority}`)) : null,
    tok.risk?.badge ? riskBadge(tok) : null,
  ];
}

/** "likely to miss: 32%", a button: a tap shows (or hides) what the score rests on. */
function riskBadge(tok) {
  const r = tok.risk;
  const open = S.riskOpen === tok.id;
  const factors = r.factors?.length ? r.factors : [t('doctor.riskNoFactors')];
  return h('span', { class: 'risk' },
    h('button', {
      type: 'button', class: `badge risk-${r.badge.toLowerCase()} risk-btn`,
      'aria-expanded': String(open), title: t('doctor.riskWhy'),
      dataset: { testid: 'risk' }, text: t('doctor.riskMiss', { pct: r.score }),
      on: { click: () => { S.riskOpen = open ? null : tok.id; render(); } },
    }),
    open ? h('ul', { class: 'risk-factors', dataset: { testid: 'risk-factors' } },
      ...factors.map((f) => h('li', { text: f }))) : null,
    open && r.explanation ? h('p', { class: 'risk-explanation', text: r.explanation,
      dataset: { testid: 'risk-explanation' } }) : null);
}

/** Tokens as read from the server: their waited_min is as of now. */
function stamp(tok) {
  if (tok) tok.readAt = Date.now();
  return tok;
}

/** Minutes since check-in: the server's waited_min, aged since it was read (frozen once the
 * consultation started). Never from the call, so a skip or recall does not reset it. */
function waited(tok) {
  if (tok?.waited_min === null || tok?.waited_min === undefined) return null;
  if (tok.status === 'IN_CONSULTATION' || !tok.readAt) return tok.waited_min;
  return tok.waited_min + Math.max(0, Math.floor((Date.now() - tok.readAt) / 60000));
}

function clock(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function render() {
  for (const b of document.querySelectorAll('#pause-form [data-minutes]:not([data-i18n])')) {
    b.textContent = t('doctor.pauseMin', { min: b.dataset.minutes });
  }
  const q = S.queue;
  if (!q) return;
  $('#doc-name').textContent = [q.doctor.name, q.doctor.cabin].filter(Boolean).join(' · ');
  const paused = q.doctor.status === 'PAUSED';
  const status = $('#doc-status');
  status.hidden = false;
  status.className = `badge ${paused ? 'paused' : 'status-COMPLETED'}`;
  status.textContent = !paused ? t('doctor.available')
    : q.doctor.pause_until ? t('doctor.pausedUntil', { time: clock(q.doctor.pause_until) })
      : t('doctor.paused');
  $('#pause-label').textContent = paused ? t('doctor.resume') : t('doctor.pause');
  $('#pause-label').dataset.i18n = paused ? 'doctor.resume' : 'doctor.pause';

  const cur = q.current;
  const box = $('#current');
  if (cur) {
    fill(box,
      h('p', { class: 'cur-number', dataset: { testid: 'current-number' }, text: cur.number }),
      h('p', { class: 'cur-name', text: cur.patient?.name || cur.patient?.display_name || '' }),
      h('p', { class: 'cur-flags' }, badge(`status status-${cur.status}`, t(`status.${cur.status}`)),
        ' ', flags(cur)),
      cur.visit_reason ? h('p', { class: 'muted', text: cur.visit_reason }) : null,
      waited(cur) === null ? null : h('p', { class: 'muted cur-waited',
        dataset: { testid: 'current-waited' },
        text: t('doctor.waited', { time: duration(waited(cur)) }) }),
    );
  } else {
    box.replaceChildren(h('p', { class: 'cur-none', dataset: { testid: 'current-number' },
                                 text: t('doctor.none') }));
  }
  const allowed = new Set(cur?.allowed_actions || []);
  for (const [name, sel] of Object.entries(BUTTONS)) {
    const b = $(sel);
    if (b.dataset.busy !== '1') b.disabled = !allowed.has(name);
  }
  const next = $('#btn-next');
  if (next.dataset.busy !== '1' && !next.dataset.cooling) next.disabled = paused;

  $('#waiting-title').textContent = t('doctor.waiting', { n: q.waiting.length });
  $('#queue-empty').hidden = q.waiting.length > 0;
  $('#waiting').replaceChildren(...q.waiting.map(waitingRow));
  renderLastNoShow();
}

function renderLastNoShow() {
  const last = S.lastNoShow;
  const can = Boolean(last?.allowed_actions?.includes('reinstate'));
  $('#last-noshow').hidden = !can;
  if (can) $('#last-noshow-text').textContent = t('doctor.lastNoShow', { number: last.number });
}

function waitingRow(tok) {
  const eta = etaRange(tok.eta);
  return h('tr', { dataset: { token: tok.id } },
    h('td', { class: 'num', text: tok.position ?? '' }),
    h('th', { scope: 'row', class: 'tok nowrap', text: tok.number }),
    h('td', { text: tok.patient?.name || tok.patient?.display_name || '' }),
    h('td', { class: 'num nowrap waited', text: duration(waited(tok)) }),
    h('td', { class: 'num nowrap', text: eta }),
    h('td', {}, flags(tok)),
    h('td', {}, h('div', { class: 'row-actions' }, rowButtons(tok))));
}

function rowButtons(tok) {
  const allowed = new Set(tok.allowed_actions || []);
  return ROW_ACTIONS.filter((name) => allowed.has(name)).map((name) => h('button', {
    type: 'button', class: 'btn small', text: t(LABELS[name]),
    'aria-label': `${t(LABELS[name])} ${tok.number}`,
    on: { click: (ev) => (name === 'transfer' ? openTransfer(tok)
      : tokenAction(ev.currentTarget, tok, name)) },
  }));
}

/** A toast at the bottom; `undo(button)` resolving true removes it early. */
function toast(text, { undo = null, ms = NOTE_MS } = {}) {
  const el = h('div', { class: 'toast', role: 'status',
                        dataset: undo ? { testid: 'toast', undo: '1' } : { testid: 'toast' } },
    h('span', { text }),
    undo ? h('button', { type: 'button', class: 'btn small', text: t('doctor.undo'),
                         on: { click: async (ev) => { if (await undo(ev.currentTarget)) el.remove(); } } })
      : null);
  $('#toasts').append(el);
  setTimeout(() => el.remove(), ms);
  return el;
}

function say(text, { error = false } = {}) {
  const alert = $('#console-alert');
  const ok = $('#console-ok');
  alert.hidden = !error;
  ok.hidden = error || !text;
  if (error) { alert.textContent = text; alert.focus(); } else ok.textContent = text || '';
}

// ------------------------------------------------------------------ data

async function loadQueue() {
  try {
    S.queue = stampQueue(await get(`/api/v1/doctors/${S.doctorId}/queue`));
    S.stale.clear();
    render();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return relogin();
    say(describe(err), { error: true });
  }
}
const refetch = debounce(loadQueue, 150);

function stampQueue(q) {
  stamp(q?.current);
  for (const w of q?.waiting || []) stamp(w);
  return q;
}

// A queue.updated holds the doctor's whole queue as live token JSON (public fields: masked
// names, no visit reason or risk); the tokens the console already shows keep their staff view
// and take the event's status, position and ETA. A token it has not seen is read by the GET.
function applyQueue(d) {
  const q = S.queue;
  if (!q || d.doctor_id !== S.doctorId) return;
  const known = new Map();
  for (const tok of [q.current, ...q.waiting]) if (tok) known.set(tok.id, tok);
  const merge = (live, place) => {
    const tok = known.get(live.id);
    if (!tok) return tok;
    const out = { ...tok, status: live.status, priority: live.priority ?? tok.priority,
                  recall_count: live.recall_count ?? tok.recall_count,
                  called_at: live.called_at ?? tok.called_at, ...place };
    if (live.status !== tok.status) {  // its buttons wait for the action's answer (or a read)
      out.allowed_actions = [];
      markStale(live.id);
    }
    return out;
  };
  const current = d.current?.id ? merge(d.current, { position: null, eta: null }) : null;
  const waiting = (Array.isArray(d.waiting) ? d.waiting : [])  // cjson sends [] as {}
    .map((w) => merge(w, { position: w.position, eta: w.eta && { ...w.eta } }));
  if ((d.current?.id && !current) || waiting.some((w) => !w)) { refetch(); return; }
  const status = d.doctor?.status ?? q.doctor.status;
  q.doctor = { ...q.doctor, status, cabin: d.cabin ?? q.doctor.cabin,
               pause_until: status === 'PAUSED' ? q.doctor.pause_until : null };
  q.current = current;
  q.waiting = waiting;
  render();
}

function markStale(id) {
  S.stale.add(id);
  checkStale();
}

/** Read the queue if a shown token's buttons are still stale a moment after the last action
 * of this console has answered (its answer usually brings them: no read at all). */
function checkStale() {
  clearTimeout(S.staleTimer);
  S.staleTimer = setTimeout(() => {
    if (S.pending > 0) return;  // an answer is on its way; run() checks again after it
    const q = S.queue;
    const shown = new Set([q?.current?.id, ...(q?.waiting || []).map((w) => w.id)]);
    if ([...S.stale].some((sid) => shown.has(sid))) refetch();
    else S.stale.clear();
  }, STALE_MS);
}

/** An action's answer (staff token JSON) replaces the token's view: status and buttons. */
function applyToken(tok) {
  const q = S.queue;
  if (!q || !tok?.id) return;
  stamp(tok);
  S.stale.delete(tok.id);
  const mine = tok.doctor_id === undefined || tok.doctor_id === S.doctorId;
  if (q.current?.id === tok.id) {
    q.current = mine && ['CALLED', 'IN_CONSULTATION'].includes(tok.status)
      ? { ...q.current, ...tok } : null;
  }
  const i = q.waiting.findIndex((w) => w.id === tok.id);
  const waiting = mine && tok.status === 'WAITING';
  if (i >= 0 && waiting) q.waiting[i] = { ...q.waiting[i], ...tok };
  else if (i >= 0) q.waiting.splice(i, 1);
  // skipped or reinstated: known now, so its queue.updated places it without a read
  else if (waiting) {
    q.waiting = [...q.waiting, tok].sort((a, b) => (a.position ?? 1e9) - (b.position ?? 1e9));
  }
  render();
}

function onMessage(msg) {
  switch (msg.type) {
    case 'snapshot': S.queue = stampQueue(msg.data); S.stale.clear(); render(); break;  // first, or a resync
    case 'queue.updated': applyQueue(msg.data); break;
    case 'doctor.status':
      if (S.queue && msg.data.doctor_id === S.doctorId) {
        S.queue.doctor = { ...S.queue.doctor, status: msg.data.status,
                           pause_until: msg.data.pause_until ?? null };
        render();
      }
      break;
    // a token's change is followed by its queue's queue.updated (for each queue it touched);
    // a patient's own change (running late, cancelled) carries a note for the doctor
    case 'token.updated':
      if (msg.data?.note) {
        const { id, number } = msg.data.token || {};
        toast(number ? t('doctor.note', { number, note: msg.data.note }) : msg.data.note);
        if (id) { S.notes.set(id, msg.data.note); render(); }
      }
      break;
    case 'token.created': case 'token.called': break;
    case 'heartbeat': case 'pong': break;
    default: refetch();
  }
}

// after an action, its events bring the change; only with the socket down is the GET read
function afterAction() { if (S.live?.state !== 'live') refetch(); }

// ------------------------------------------------------------------ actions

async function run(button, fn, okText) {
  say('');
  S.pending += 1;
  try {
    const out = await action(button, fn);
    if (out === undefined) return undefined;  // already in flight
    if (okText) say(okText(out));
    return out;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return relogin();
    say(describe(err), { error: true });
    if (err instanceof ApiError && err.status === 409) loadQueue();  // the queue moved on
    return undefined;
  } finally {
    S.pending -= 1;
    if (S.pending === 0 && S.stale.size) checkStale();
  }
}

async function pressNext() {
  const button = $('#btn-next');
  if (button.disabled) return;
  const shown = S.queue?.current?.id ?? null;
  const res = await run(button, (key) => post(`/api/v1/doctors/${S.doctorId}/next`,
    { current_token_id: shown }, { key }),
  (r) => (r.called ? t('doctor.called', { number: r.called.number }) : t('doctor.emptyQueue')));
  if (!res) return;
  // rest the button: a second tap of a double tap lands here and does nothing
  button.dataset.cooling = '1';
  button.disabled = true;
  setTimeout(() => { delete button.dataset.cooling; render(); }, NEXT_COOLDOWN_MS);
  if (S.queue) {
    S.queue.current = stamp(res.called);
    if (res.called) {
      S.stale.delete(res.called.id);
      S.queue.waiting = S.queue.waiting.filter((w) => w.id !== res.called.id);
    }
    render();
  }
  afterAction();
}

async function currentAction(name) {
  const cur = S.queue?.current;
  const button = $(BUTTONS[name]);
  if (!cur || button.disabled) return;
  await tokenAction(button, cur, name);  // a no-show is undone from its toast, no dialog first
}

async function tokenAction(button, tok, name, body = {}) {
  const out = await run(button, (key) => post(`/api/v1/tokens/${tok.id}/${name}`, body, { key }),
    name === 'no-show' ? null : () => `${tok.number}: ${t(LABELS[name])} ✓`);  // no-show: a toast
  if (!out) return out;
  applyToken(out);
  if (name === 'no-show') {
    S.lastNoShow = out;
    renderLastNoShow();
    toast(t('doctor.noShowDone', { number: out.number }), { undo: reinstate, ms: UNDO_MS });
  }
  afterAction();
  return out;
}

/** Put the last no-show back in the queue (the department's reinstate place). */
async function reinstate(button) {
  const last = S.lastNoShow;
  if (!last) return false;
  const out = await run(button, (key) => post(`/api/v1/tokens/${last.id}/reinstate`,
    { reason: 'no-show undone at the doctor console' }, { key }),
  () => t('doctor.reinstated', { number: last.number }));
  if (!out) return false;
  if (S.lastNoShow?.id === last.id) S.lastNoShow = null;
  for (const el of document.querySelectorAll('#toasts [data-undo="1"]')) el.remove();
  renderLastNoShow();
  afterAction();
  return true;
}

/** Resume at once; a pause first asks how long (5/10/15/30 min, or open-ended). */
async function togglePause() {
  if (S.queue?.doctor.status !== 'PAUSED') {
    const form = $('#pause-form');
    clearErrors(form);
    $('#pause-dialog').showModal();
    return;
  }
  const out = await run($('#btn-pause'), (key) => post(
    `/api/v1/doctors/${S.doctorId}/resume`, {}, { key }));
  if (out !== undefined) afterAction();
}

async function pauseFor(button, minutes) {
  const form = $('#pause-form');
  try {
    const out = await action(button, (key) => post(`/api/v1/doctors/${S.doctorId}/pause`,
      minutes ? { minutes } : {}, { key }));
    if (out === undefined) return;
    $('#pause-dialog').close();
    if (S.queue) {
      S.queue.doctor = { ...S.queue.doctor, status: out.status, pause_until: out.pause_until };
      render();
    }
    afterAction();
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) { relogin(); return; }
    showErrors(form, err);
  }
}

function setupPause() {
  for (const b of document.querySelectorAll('#pause-form [data-minutes]')) {
    const minutes = Number(b.dataset.minutes) || null;
    b.addEventListener('click', () => pauseFor(b, minutes));
  }
  $('#pause-cancel').addEventListener('click', () => $('#pause-dialog').close());
}

// ------------------------------------------------------------------ transfer

async function openTransfer(tok) {
  const dialog = $('#transfer-dialog');
  const form = $('#transfer-form');
  clearErrors(form);
  form.dataset.token = tok.id;
  form.dataset.number = tok.number;
  $('#transfer-title').textContent = t('doctor.transferTo', { number: tok.number });
  if (!S.colleagues.length) {
    try {
      const dep = S.queue.doctor.department_id;
      const res = await get(`/api/v1/doctors?department_id=${encodeURIComponent(dep)}`);
      S.colleagues = res.items.filter((d) => d.active && d.id !== S.doctorId);
    } catch (err) { say(describe(err), { error: true }); return; }
  }
  $('#transfer-doctor').replaceChildren(
    ...S.colleagues.map((d) => h('option', { value: d.id, text: d.name })));
  dialog.showModal();
}

function setupTransfer() {
  const form = $('#transfer-form');
  $('#transfer-cancel').addEventListener('click', () => $('#transfer-dialog').close());
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const button = form.querySelector('button[type=submit]');
    try {
      await action(button, (key) => post(`/api/v1/tokens/${form.dataset.token}/transfer`,
        { doctor_id: $('#transfer-doctor').value }, { key }));
      $('#transfer-dialog').close();
      say(`${form.dataset.number}: ${t('doctor.transfer')} ✓`);
      afterAction();
    } catch (err) {
      showErrors(form, err);
    }
  });
}

// ------------------------------------------------------------------ keys

const KEYS = {
  n: pressNext,
  r: () => currentAction('recall'),
  s: () => currentAction('start'),
  c: () => currentAction('complete'),
  x: () => currentAction('no-show'),
  k: () => currentAction('skip'),
  p: togglePause,
};

function onKey(ev) {
  if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
  if (ev.target.closest?.('input, select, textarea, dialog, [contenteditable]')) return;
  if ($('[data-view="console"]').hidden) return;
  const fn = KEYS[ev.key.toLowerCase()];
  if (fn) { ev.preventDefault(); fn(); }
}

// ------------------------------------------------------------------ start

async function relogin() {
  S.live?.stop();
  S.live = null;
  showView('login');
  S.me = await loginForm($('#login'), { title: 'doctor.title' });
  await enter();
}

async function chooseDoctor(note) {
  showView('choose');
  $('#choose-note').hidden = !note;
  $('#choose-note').textContent = note || '';
  const params = S.me.user.department_id ? `?department_id=${S.me.user.department_id}` : '';
  const res = await get(`/api/v1/doctors${params}`);
  $('#choose-doctor').replaceChildren(
    ...res.items.filter((d) => d.active).map((d) => h('option', { value: d.id, text: d.name })));
  return new Promise((resolve) => {
    $('#choose-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      resolve($('#choose-doctor').value);
    }, { once: true });
  });
}

async function enter() {
  $('#logout').hidden = false;
  const wanted = new URLSearchParams(location.search).get('doctor');
  S.doctorId = S.me.user.doctor_id || wanted
    || await chooseDoctor(S.me.user.role === 'doctor' ? t('doctor.noDoctor') : '');
  if (!S.me.user.doctor_id) history.replaceState(null, '', `/doctor?doctor=${S.doctorId}`);
  showView('console');
  await loadQueue();
  S.live = new Live({
    path: () => `/ws/doctor/${S.doctorId}`,
    onMessage,
    onDenied: (code) => { if (code === CLOSE.UNAUTHORISED) relogin(); },
  }).start();
}

async function main() {
  applyI18n();
  langSwitch($('#lang'), () => render(), STAFF_LANGUAGES);
  $('#btn-next').addEventListener('click', pressNext);
  for (const name of Object.keys(BUTTONS)) {
    $(BUTTONS[name]).addEventListener('click', () => currentAction(name));
  }
  $('#btn-pause').addEventListener('click', togglePause);
  $('#btn-reinstate').addEventListener('click', (ev) => reinstate(ev.currentTarget));
  $('#logout').addEventListener('click', async () => { await logout(); location.reload(); });
  document.addEventListener('keydown', onKey);
  setupTransfer();
  setupPause();
  setInterval(render, TICK_MS);
  setInterval(() => { if (S.live?.state === 'live') refetch(); }, REFRESH_MS);

  S.me = await currentUser();
  if (!S.me) {
    showView('login');
    S.me = await loginForm($('#login'), { title: 'doctor.title' });
  }
  await enter();
}

main().catch((err) => say(describe(err), { error: true }));
