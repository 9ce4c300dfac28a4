// The patient's live page: /t/<code> (no login; the signed code is the credential).
//
// One sentence says where the patient stands (waiting, you are next, go to cabin C-101 now,
// with the doctor, done, missed, cancelled, moved to another doctor), over the facts: hospital
// and department, ETA range, time waited, doctor and cabin. It follows the token
// websocket; a status change is read again from the API (called and no-show times, the actions
// allowed now). The buttons (check in, running late, cancel) come from the view's
// allowed_actions only. It opens in the patient's language (from their record) unless the
// person picked one; every message, refusals included, is a translated string, never the
// server's English detail. The called alert and the awake screen are in alert.js.

import { ApiError, action, get, post } from '../js/api.js';
import { $, $$, debounce, fill, h, hhmm } from '../js/dom.js';
import {
  applyI18n, duration, etaRange, lang, langChosen, langSwitch, setLang, t,
} from '../js/i18n.js';
import { Live } from '../js/live.js';
import { canPlay, whenGesture } from '../js/sound.js';
import { Awake, CallAlert } from './alert.js';
import { NOTIFY_AT, enablePush, pushOn, pushSupported } from './push.js';

const code = decodeURIComponent(location.pathname.split('/').filter(Boolean)[1] || '');
const api = (suffix = '') => `/api/v1/public/tokens/${encodeURIComponent(code)}${suffix}`;
const NEAR = 3;            // from this position on, the screen stays on
const TICK_MS = 30000;     // the waited time ages
const ALERT_DEDUP_MS = 3000;

const S = {
  view: null,
  waitBase: null,          // {min, at}: waited_min of the last full read, and when it came
  live: null,
  langDone: false,
  alertAt: 0,
  soundOn: false,
  pushOn: false,           // this browser follows the token by web push (push.js)
};
const alarm = new CallAlert();
const awake = new Awake();

// ------------------------------------------------------------------ wording

function distanceText(m) {
  if (m < 1000) return t('patient.dist.m', { n: Math.round(m) });
  return t('patient.dist.km', { n: (m / 1000).toFixed(m < 10000 ? 1 : 0) });
}

/** A refusal or failure as a sentence in the page's language (never the server's English). */
function refusal(err) {
  if (!(err instanceof ApiError)) return t('error.generic');
  const p = err.problem || {};
  if (err.status === 0) return t('error.network');
  if (err.status === 429) return t('error.rate');
  if (err.status === 404) return t('patient.invalid');
  if (err.status === 403 && p.distance_m !== undefined && p.distance_m !== null) {
    return t('patient.geoFar', { distance: distanceText(p.distance_m) });
  }
  if (err.status === 403) return t('patient.geoOff');
  if (err.status === 409) return t('patient.refused');
  return t('error.generic');
}

function ahead(v) {
  return v.position === null || v.position === undefined ? null : Math.max(0, v.position - 1);
}

/** ETA as a range; never "0 min": at the front it is "you are next", near it "within n min". */
function etaText(v) {
  const eta = v.eta;
  if (!eta || eta.p50_min === null || eta.p50_min === undefined) return '';
  if (ahead(v) === 0) return t('patient.positionNext');
  if (eta.p50_min < 1 && eta.p90_min > 1) return t('patient.etaWithin', { n: eta.p90_min });
  return etaRange(eta);
}

function waitedMin(v) {
  if (v.status === 'WAITING' && S.waitBase) {
    return S.waitBase.min + Math.floor((Date.now() - S.waitBase.at) / 60000);
  }
  if (['CALLED', 'IN_CONSULTATION', 'COMPLETED'].includes(v.status)) return v.waited_min ?? null;
  return null;
}

/** [headline, sentence] for the status: what a person needs to read at a glance. */
function stateText(v) {
  const cabin = v.cabin || '—';
  const calledAt = v.called_at ? hhmm(v.called_at) : null;
  switch (v.status) {
    case 'BOOKED':
      return [v.scheduled_time ? t('patient.state.booked', { time: hhmm(v.scheduled_time) })
        : t('status.BOOKED'), t('patient.sub.booked')];
    case 'WAITING': {
      const n = ahead(v);
      if (n === 0) return [t('patient.positionNext'), t('patient.sub.next', { cabin })];
      const head = n === null ? t('status.WAITING')
        : t(n === 1 ? 'patient.state.aheadOne' : 'patient.state.ahead', { n });
      return [head, t('patient.sub.waiting')];
    }
    case 'CALLED':
      return [t('patient.calledGo', { cabin }),
        calledAt ? t('patient.sub.called', { time: calledAt }) : ''];
    case 'IN_CONSULTATION': return [t('patient.state.consult'), ''];
    case 'COMPLETED': return [t('patient.state.completed'), t('patient.sub.completed')];
    case 'NO_SHOW':
      return [t('patient.state.missed'), calledAt ? t('patient.sub.missed', { time: calledAt })
        : t('patient.sub.missedNoTime')];
    case 'CANCELLED': return [t('patient.state.cancelled'), t('patient.sub.cancelled')];
    case 'RESCHEDULED': return [t('patient.state.rescheduled'), t('patient.sub.rescheduled')];
    default: return [t(`status.${v.status}`), ''];
  }
}

// ------------------------------------------------------------------ rendering

/** Put text in el, the cabin number in it kept on one line ("C-" / "101" reads wrong). */
function withCabin(el, text, cabin) {
  const at = cabin ? text.indexOf(cabin) : -1;
  if (at < 0) { el.textContent = text; return; }
  fill(el, text.slice(0, at), h('span', { class: 'nowrap', text: cabin }),
       text.slice(at + cabin.length));
}

function invalid(text) {
  $('#p-invalid').textContent = text;
  $('#p-invalid').hidden = false;
  $('#p-token').hidden = true;
  S.live?.stop();
}

function render() {
  const v = S.view;
  if (!v) return;
  $('#p-token').hidden = false;
  if (v.hospital_name) {
    delete $('#p-hospital').dataset.i18n;
    $('#p-hospital').textContent = v.hospital_name;
  }
  $('#p-department').hidden = !v.department_name;
  $('#p-department').textContent = v.department_name || '';
  $('#p-number').textContent = v.number;
  const status = $('#p-status');
  status.className = `badge status status-${v.status}`;
  status.textContent = t(`status.${v.status}`);

  const [title, text] = stateText(v);
  const near = v.status === 'WAITING' && ahead(v) === 0;
  $('#p-state').className = `p-state state-${v.status}${near ? ' state-next' : ''}`;
  withCabin($('#p-state-title'), title, v.cabin);
  $('#p-state-text').textContent = text;
  $('#p-state-text').hidden = !text;
  const moved = v.moved_from_doctor && ['BOOKED', 'WAITING', 'CALLED'].includes(v.status);
  $('#p-moved').hidden = !moved;
  $('#p-moved').textContent = moved
    ? t('patient.moved', { doctor: v.doctor_name || '—', from: v.moved_from_doctor }) : '';

  const waiting = v.status === 'WAITING';
  const eta = waiting || v.status === 'BOOKED' ? etaText(v) : '';
  $('#p-eta-row').hidden = !eta || (waiting && ahead(v) === 0);
  $('#p-eta').textContent = eta;
  const waited = waitedMin(v);
  $('#p-waited-row').hidden = waited === null;
  $('#p-waited').textContent = waited === null ? '' : duration(waited);
  $('#p-waited-label').dataset.i18n = waiting ? 'patient.waited' : 'patient.waitedTotal';
  $('#p-waited-label').textContent = t($('#p-waited-label').dataset.i18n);
  $('#p-doctor').textContent = v.doctor_name || '—';
  $('#p-cabin').textContent = v.cabin || '—';
  $('#p-slot-row').hidden = !v.scheduled_time || v.status === 'BOOKED';  // BOOKED: the headline
  if (v.scheduled_time) $('#p-slot').textContent = hhmm(v.scheduled_time);

  renderActions(v);
  renderAlerts(v);
  renderTitle(v);
  for (const [id, text] of shown) $(`#${id}`).textContent = text();
  if (!$('#called').hidden) {
    withCabin($('#called-go'), t('patient.calledGo', { cabin: v.cabin || '—' }), v.cabin);
  }
  awake.want(v.status === 'CALLED' || (waiting && v.position !== null && v.position <= NEAR));
}

/** How many more times today the patient may say "running late" (the API's limit). */
function lateLeft(v) {
  if (v.late_limit === null || v.late_limit === undefined) return null;
  return Math.max(0, v.late_limit - (v.late_count || 0));
}

function renderActions(v) {
  const acts = new Set(v.allowed_actions || []);
  $('#checkin').hidden = !acts.has('check-in');
  $('#late').hidden = !acts.has('running-late');
  const left = lateLeft(v);
  $('#late-left').hidden = left === null;
  $('#late-left').textContent = left === 1 ? t('patient.late.leftOne')
    : t('patient.late.left', { n: left });
  for (const b of $$('#late .late')) {
    const n = b.dataset.minutes;
    b.textContent = t('patient.late.button', { n });
    b.setAttribute('aria-label', t('patient.late.aria', { n }));
    if (b.dataset.busy !== '1') b.disabled = left === 0;
  }
  $('#cancel').hidden = !acts.has('cancel');
  if (!acts.has('cancel')) confirmCancel(false);
}

function renderTitle(v) {
  if (v.status === 'CALLED') {
    const called = t('patient.titleCalled', { cabin: v.cabin || '' });
    if (alarm.active) alarm.retitle(called, `${v.number} · ${t('patient.called')}`);
    else document.title = called;
  } else {
    document.title = `${v.number} · ${t('patient.title')}`;
  }
}

// ------------------------------------------------------------------ state

function chooseLanguage(v) {
  if (S.langDone) return;
  S.langDone = true;
  if (!langChosen() && v.language && v.language !== lang()) {
    setLang(v.language, { persist: false }).then(() => { applyI18n(); render(); });
  }
  $('#lang').replaceChildren();  // the switch shows the language now in use
  langSwitch($('#lang'), render);
}

/**
 * A new view of the token. `fresh`: a full read (GET, snapshot, an action's answer); else an
 * update pushed by the socket (status, place, allowed actions), after which a change of status
 * or doctor is read in full once (the waited time, the new doctor's name).
 */
function setView(view, { fresh = false } = {}) {
  const was = S.view;
  const changed = was && (was.status !== view.status || was.cabin !== view.cabin
                          || was.doctor_name !== view.doctor_name);
  S.view = fresh ? view : { ...was, ...view };
  if (fresh || !S.waitBase) {
    S.waitBase = view.waited_min === null || view.waited_min === undefined ? null
      : { min: view.waited_min, at: Date.now() };
  }
  if (!fresh && changed) refetch();
  chooseLanguage(S.view);
  const nowCalled = S.view.status === 'CALLED';
  if (nowCalled && (!was || was.status !== 'CALLED')) showCalled({ ring: Boolean(was) });
  if (!nowCalled) hideCalled();
  render();
}

// ------------------------------------------------------------------ called

function showCalled({ ring }) {
  const v = S.view;
  if (!v) return;
  const again = Date.now() - S.alertAt < ALERT_DEDUP_MS;  // one call may come as two events
  if (ring && !again) S.alertAt = Date.now();
  $('#called-number').textContent = v.number;
  withCabin($('#called-go'), t('patient.calledGo', { cabin: v.cabin || '—' }), v.cabin);
  const box = $('#called');
  const wasHidden = box.hidden;
  box.hidden = false;
  if (ring && !again) {
    box.classList.remove('pulse');
    void box.offsetWidth;
    box.classList.add('pulse');
  }
  if (wasHidden) $('#called-ok').focus();
  if (!alarm.active || (ring && !again)) {
    alarm.start({ title: t('patient.titleCalled', { cabin: v.cabin || '' }),
                  rest: `${v.number} · ${t('patient.called')}`, ring: ring && !again });
  }
}

function hideCalled() {
  $('#called').hidden = true;
  alarm.stop();
}

/** A call (or a recall) pushed by the socket: alert at once, then read the details. */
function onCalled(d) {
  if (!S.view) return;
  S.view = { ...S.view, status: 'CALLED', cabin: d.cabin || S.view.cabin, position: null,
             eta: null, allowed_actions: [] };
  showCalled({ ring: true });
  render();
  refetch();
}

// ------------------------------------------------------------------ actions

// messages are kept as functions, so a switch of language translates them too
const shown = new Map();   // element id -> () => text in the current language

function show(id, text) {
  const el = $(`#${id}`);
  if (!text) shown.delete(id);
  else shown.set(id, text);
  el.textContent = text ? text() : '';
  el.hidden = !text;
}

function say(text, { error = false } = {}) {
  show('action-msg', error ? text : null);
  show('action-ok', error ? null : text);
}

function position() {
  return new Promise((resolve, reject) => {
    if (!navigator.geolocation) { reject(new Error('unavailable')); return; }
    navigator.geolocation.getCurrentPosition(resolve, reject,
      { enableHighAccuracy: true, timeout: 20000, maximumAge: 0 });
  });
}

async function checkIn() {
  show('checkin-msg', null);
  let pos;
  try {
    pos = await position();
  } catch (err) {
    show('checkin-msg', () => t(err.code === 1 ? 'patient.geoDenied' : 'patient.geoUnavailable'));
    return;
  }
  try {
    const view = await action($('#checkin-btn'), (key) => post(api('/check-in'),
      { lat: pos.coords.latitude, lon: pos.coords.longitude }, { key }));
    if (!view) return;
    setView(view, { fresh: true });
    $('#checkin-ok').hidden = false;
  } catch (err) {
    show('checkin-msg', () => refusal(err));
  }
}

async function runningLate(minutes) {
  say(null);
  try {
    const view = await action($$('#late .late'), (key) => post(api('/running-late'),
      { minutes }, { key }));
    if (!view) return;
    setView(view, { fresh: true });
    const last = lateLeft(view) === 0;
    say(() => t('patient.late.done', { n: minutes }) + (last ? ` ${t('patient.late.noMore')}` : ''));
  } catch (err) {
    if (err instanceof ApiError && err.status === 409) {
      await load();  // see why: the limit reached, or the token has moved on
      const limit = S.view && lateLeft(S.view) === 0;
      say(() => (limit ? t('patient.late.limit') : refusal(err)), { error: true });
    } else {
      say(() => refusal(err), { error: true });
    }
  }
}

function confirmCancel(open) {
  $('#cancel-confirm').hidden = !open;
  $('#cancel-btn').hidden = open;
  $('#cancel-btn').setAttribute('aria-expanded', String(open));
}

async function cancelVisit() {
  say(null);
  try {
    const view = await action([$('#cancel-yes'), $('#cancel-no')],
      (key) => post(api('/cancel'), {}, { key }));
    if (!view) return;
    confirmCancel(false);
    setView(view, { fresh: true });
  } catch (err) {
    confirmCancel(false);
    if (err instanceof ApiError && err.status === 409) await load();
    say(() => refusal(err), { error: true });
  }
}

// ------------------------------------------------------------------ live

async function load() {
  try {
    setView(await get(api()), { fresh: true });
    $('#p-invalid').hidden = true;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) invalid(t('patient.invalid'));
  }
}
const refetch = debounce(load, 300);

function onMessage(msg) {
  const d = msg.data || {};
  if (msg.type === 'snapshot') {
    if (d.number) setView(d, { fresh: true });
    else refetch();
  } else if (msg.type === 'token.updated') {
    if (d.number && S.view) setView(d);
    else refetch();
  } else if (msg.type === 'token.called') {
    onCalled(d);
  } else {
    refetch();
  }
}

async function alertsState() {
  S.soundOn = await canPlay();
  renderAlerts(S.view);
}

/** The sound switch, while a call may still come (not once the visit is over). */
function renderAlerts(v) {
  const coming = !v || ['BOOKED', 'WAITING', 'CALLED'].includes(v.status);
  $('#alerts-btn').hidden = !coming || S.soundOn;
  $('#alerts-on').hidden = !coming || !S.soundOn;
  // web push (push.js): offered where the browser has it, while a call may still come
  $('#push-btn').hidden = !coming || !pushSupported() || Boolean(S.pushOn);
  $('#push-on').hidden = !coming || !S.pushOn;
  $('#push-on').textContent = t('push.on', { n: NOTIFY_AT });
}

async function turnOnPush() {
  try {
    S.pushOn = await enablePush(api);
    if (!S.pushOn) say(t('push.blocked'), { error: true });
  } catch (err) {
    say(refusal(err), { error: true });
  }
  renderAlerts(S.view);
}

function main() {
  applyI18n();
  langSwitch($('#lang'), render);
  if (!code) { invalid(t('patient.invalid')); return; }
  $('#checkin-btn').addEventListener('click', checkIn);
  for (const b of $$('#late .late')) {
    b.addEventListener('click', () => runningLate(Number(b.dataset.minutes)));
  }
  $('#cancel-btn').addEventListener('click', () => { say(null); confirmCancel(true); $('#cancel-no').focus(); });
  $('#cancel-no').addEventListener('click', () => { confirmCancel(false); $('#cancel-btn').focus(); });
  $('#cancel-yes').addEventListener('click', cancelVisit);
  $('#called-ok').addEventListener('click', () => {
    $('#called').hidden = true;
    alarm.stop();
    render();
  });
  $('#alerts-btn').addEventListener('click', () => {
    try { navigator.vibrate?.(50); } catch { /* none */ }
    alertsState();
  });
  whenGesture(alertsState);
  $('#push-btn').addEventListener('click', turnOnPush);
  pushOn().then((on) => { S.pushOn = on; renderAlerts(S.view); }).catch(() => {});
  alertsState();
  setInterval(render, TICK_MS);
  load();
  S.live = new Live({
    path: () => `/ws/token/${encodeURIComponent(code)}`,
    onMessage,
    onDenied: () => invalid(t('patient.invalid')),
  }).start();
}

main();
