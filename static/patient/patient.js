// The patient's live page: /t/<code> (no login; the signed code is the credential).
//
// Shows token number, status, position, ETA range, doctor and cabin, live over the token
// websocket. When called: a full-screen alert, vibration and a beep where the browser allows
// (both need one tap on the page first, which the "turn on alerts" button provides). Booked
// tokens can self check-in with the phone's location; outside the geofence the server's 403
// message (how far away) is shown.

import { ApiError, action, describe, get, post } from '../js/api.js';
import { $, debounce } from '../js/dom.js';
import { applyI18n, etaRange, langSwitch, t } from '../js/i18n.js';
import { Live } from '../js/live.js';
import { alertBeeps, canPlay, whenGesture } from '../js/sound.js';

const code = decodeURIComponent(location.pathname.split('/').filter(Boolean)[1] || '');
const VIBRATE = [500, 200, 500, 200, 900];

const S = { view: null, alerted: false, alertAt: 0, live: null };

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
  $('#p-number').textContent = v.number;
  document.title = `${v.number} · ${t('patient.title')}`;
  const status = $('#p-status');
  status.className = `badge status status-${v.status}`;
  status.textContent = t(`status.${v.status}`);
  const waiting = v.status === 'WAITING' || v.status === 'BOOKED';
  $('#p-position-row').hidden = !waiting || v.position == null;
  $('#p-eta-row').hidden = !waiting || !v.eta;
  if (v.position != null) {
    $('#p-position').textContent = v.position <= 1 ? t('patient.positionNext')
      : t('patient.positionValue', { n: v.position - 1 });
  }
  if (v.eta) $('#p-eta').textContent = etaRange(v.eta);
  $('#p-doctor').textContent = v.doctor_name || '—';
  $('#p-cabin').textContent = v.cabin || '—';
  $('#p-slot-row').hidden = !v.scheduled_time;
  if (v.scheduled_time) {
    $('#p-slot').textContent = new Date(v.scheduled_time).toLocaleTimeString('en-GB',
      { hour: '2-digit', minute: '2-digit' });
  }
  $('#checkin').hidden = !v.can_check_in;
  $('#p-done').hidden = !['COMPLETED', 'NO_SHOW', 'RESCHEDULED'].includes(v.status);
}

function setView(view) {
  const was = S.view?.status;
  S.view = view;
  render();
  if (view.status === 'CALLED' && was && was !== 'CALLED' && !S.alerted) {
    called({ number: view.number, cabin: view.cabin });
  }
  if (view.status !== 'CALLED') S.alerted = false;
}

// ------------------------------------------------------------------ called

function called(d) {
  // the status change and the call event of one call arrive together: alert once
  if (Date.now() - S.alertAt < 3000) return;
  S.alertAt = Date.now();
  S.alerted = true;
  if (S.view) { S.view.status = 'CALLED'; if (d.cabin) S.view.cabin = d.cabin; render(); }
  $('#called-number').textContent = d.number || S.view?.number || '';
  $('#called-go').textContent = t('patient.calledGo', { cabin: d.cabin || S.view?.cabin || '' });
  const box = $('#called');
  box.hidden = false;
  box.classList.remove('pulse');
  void box.offsetWidth;
  box.classList.add('pulse');
  $('#called-ok').focus();
  try { navigator.vibrate?.(VIBRATE); } catch { /* not allowed before a tap */ }
  alertBeeps().then(() => alertBeeps());
}

// ------------------------------------------------------------------ check-in

function position() {
  return new Promise((resolve, reject) => {
    if (!navigator.geolocation) { reject(new Error('unavailable')); return; }
    navigator.geolocation.getCurrentPosition(resolve, reject,
      { enableHighAccuracy: true, timeout: 20000, maximumAge: 0 });
  });
}

async function checkIn() {
  const msg = $('#checkin-msg');
  msg.hidden = true;
  try {
    const view = await action($('#checkin-btn'), async (key) => {
      let pos;
      try {
        pos = await position();
      } catch (err) {
        throw new ApiError(400, { detail: err.code === 1 ? t('patient.geoDenied') : t('patient.geoUnavailable') });
      }
      return post(`/api/v1/public/tokens/${encodeURIComponent(code)}/check-in`,
        { lat: pos.coords.latitude, lon: pos.coords.longitude }, { key });
    });
    if (!view) return;
    setView(view);
    $('#checkin-ok').hidden = false;
  } catch (err) {
    msg.textContent = describe(err);
    msg.hidden = false;
  }
}

// ------------------------------------------------------------------ live

async function load() {
  try {
    setView(await get(`/api/v1/public/tokens/${encodeURIComponent(code)}`));
    $('#p-invalid').hidden = true;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) invalid(t('patient.invalid'));
  }
}
const refetch = debounce(load, 300);

function onMessage(msg) {
  if (msg.type === 'snapshot' || msg.type === 'token.updated') {
    if (msg.data && msg.data.number) setView(msg.data);
    else refetch();
  } else if (msg.type === 'token.called') {
    called(msg.data || {});
  } else {
    refetch();
  }
}

async function alertsState() {
  const on = await canPlay();
  $('#alerts-btn').hidden = on;
  $('#alerts-on').hidden = !on;
}

function main() {
  applyI18n();
  langSwitch($('#lang'), render);
  if (!code) { invalid(t('patient.invalid')); return; }
  $('#checkin-btn').addEventListener('click', checkIn);
  $('#called-ok').addEventListener('click', () => { $('#called').hidden = true; });
  $('#alerts-btn').addEventListener('click', () => {
    try { navigator.vibrate?.(50); } catch { /* none */ }
    alertsState();
  });
  whenGesture(alertsState);
  alertsState();
  load();
  S.live = new Live({
    path: () => `/ws/token/${encodeURIComponent(code)}`,
    onMessage,
    onDenied: () => invalid(t('patient.invalid')),
  }).start();
}

main();
