// The Settings tab: the hospital's own settings (GET/PATCH /api/v1/hospital): name and time
// zone, the address and the self check-in circle (checked without a map: the address must be
// inside the circle), languages, live alert thresholds, where a reinstated patient goes back,
// message costs and a slot's value, the daily summary's hour. Only what changed is sent;
// every change is audited by the server.

import { action, clearErrors, describe, get, request, showErrors } from '../js/api.js';
import { h } from '../js/dom.js';
import { lang } from '../js/i18n.js';

const TEXT = {
  en: {
    hospital: 'Hospital', name: 'Name', timezone: 'Time zone', summaryHour: 'Daily summary at',
    summaryHint: 'Local time; the admins get the day\'s summary then.',
    delay: 'Pause message threshold (min)',
    delayHint: 'A doctor\'s pause texts waiting patients only when it moves their expected wait this much.',
    place: 'Address and self check-in area',
    placeHelp: 'Patients may check in from their phone only inside a circle around the hospital. '
      + 'Copy the latitude and longitude of the main entrance from a map app into "Address"; '
      + 'the circle must contain it.',
    address: 'Address (main entrance)', centre: 'Circle centre', lat: 'Latitude', lon: 'Longitude',
    radius: 'Radius (metres)', useAddress: 'Centre the circle on the address',
    inside: 'The address is {d} m from the centre: inside the {r} m circle.',
    outside: 'The address is {d} m from the centre: OUTSIDE the {r} m circle. Move the centre or widen the radius.',
    noCheck: 'Give both the address and the circle to check them.',
    languages: 'Languages', messages: 'Patients\' messages (when the patient has none)',
    board: 'Waiting-room boards', boardHint: 'For departments without their own; none = the department\'s language, then English.',
    none: '—',
    alerts: 'Live alert thresholds', deflt: 'default {v}, {lo}–{hi}',
    reinstate: 'Reinstated patients', reinstateHelp: 'A no-show or cancelled patient who is reinstated goes back behind this many waiting patients.',
    department: 'Department', places: 'Places',
    costs: 'Message costs and slot value', costsHelp: 'Used to estimate what reminders cost and what refilled slots recover.',
    currency: 'Currency', sms: 'One SMS', whatsapp: 'One WhatsApp message', slot: 'One consultation slot',
    save: 'Save settings', saved: 'Saved.', nothing: 'Nothing changed.',
    th: {
      long_wait_over_eta_min: 'Long wait: minutes past the ETA shown',
      bottleneck_waiting: 'Bottleneck: patients waiting in a department',
      bottleneck_p90_min: 'Bottleneck: expected wait of the last (min)',
      imbalance_gap: 'Uneven queues: difference in patients',
      idle_min: 'Idle doctor: minutes without a call',
      messages_window_min: 'Failing messages: window (min)',
      messages_min_count: 'Failing messages: at least this many sent',
      messages_fail_pct: 'Failing messages: % failed',
    },
  },
  hi: {
    hospital: 'अस्पताल', name: 'नाम', timezone: 'समय क्षेत्र', save: 'सेटिंग सहेजें', saved: 'सहेजा गया।',
    languages: 'भाषाएँ', alerts: 'अलर्ट सीमाएँ',
  },
};

function tr(key, vars = {}) {
  const path = key.split('.');
  const pick = (d) => path.reduce((o, k) => (o ? o[k] : undefined), d);
  const raw = pick(TEXT[lang()]) ?? pick(TEXT.en) ?? key;
  return String(raw).replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

const LANGS = [['en', 'English'], ['hi', 'हिंदी'], ['bn', 'বাংলা'], ['ta', 'தமிழ்'], ['te', 'తెలుగు'],
  ['kn', 'ಕನ್ನಡ'], ['ml', 'മലയാളം'], ['mr', 'मराठी'], ['gu', 'ગુજરાતી']];  // server/languages.py
const ZONES = (() => {
  try { return Intl.supportedValuesOf('timeZone'); } catch { return ['Asia/Kolkata', 'UTC']; }
})();

/** Great-circle distance in metres (server/domain/geo.py does the same). */
export function distanceM(lat1, lon1, lat2, lon2) {
  const rad = (d) => (d * Math.PI) / 180;
  const dp = rad(lat2 - lat1);
  const dl = rad(lon2 - lon1);
  const a = Math.sin(dp / 2) ** 2 + Math.cos(rad(lat1)) * Math.cos(rad(lat2)) * Math.sin(dl / 2) ** 2;
  return 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(a)));
}

function field(id, label, input, hint) {
  input.id = id;
  return h('div', { class: 'field' }, h('label', { for: id, text: label }), input,
    hint ? h('p', { class: 'hint', text: hint }) : null);
}

const num = (name, attrs = {}) => h('input', { type: 'number', name, step: 'any', inputmode: 'decimal', ...attrs });
const select = (name, options, attrs = {}) => h('select', { name, ...attrs },
  options.map(([value, text]) => h('option', { value, text })));
const value = (el) => (el.value.trim() === '' ? null : Number(el.value));

export function settingsPanel() {
  const panel = h('section', { class: 'settings' });
  const form = h('form', { id: 'settings-form', novalidate: true });
  const note = h('p', { class: 'form-ok', role: 'status' });
  const alertBox = h('p', { class: 'form-alert', role: 'alert', tabindex: '-1', hidden: true });
  let current = null;

  const el = {
    name: h('input', { name: 'name', required: true, autocomplete: 'off' }),
    timezone: h('input', { name: 'timezone', list: 'tz-list', autocomplete: 'off' }),
    delay: num('delay_notify_min', { step: '1', min: '1', max: '240' }),
    summaryHour: select('summary_hour', [...Array(24).keys()].map((i) => [String(i), `${String(i).padStart(2, '0')}:00`])),
    addrLat: num('address.lat', { 'data-field': 'address address.lat' }),
    addrLon: num('address.lon', { 'data-field': 'address.lon' }),
    fenceLat: num('geofence.lat', { 'data-field': 'geofence geofence.lat' }),
    fenceLon: num('geofence.lon', { 'data-field': 'geofence.lon' }),
    radius: num('geofence.radius_m', { step: '10', min: '10', max: '50000' }),
    messages: select('languages.messages', LANGS),
    board: [0, 1, 2].map((i) => select(`languages.board.${i}`, [['', tr('none')], ...LANGS],
      { 'aria-label': `${tr('board')} ${i + 1}`, 'data-field': i === 0 ? 'languages.board' : null })),
    thresholds: {},
    reinstate: h('tbody'),
    currency: h('input', { name: 'costs.currency', maxlength: '3', size: '4', autocomplete: 'off' }),
    sms: num('costs.sms', { min: '0' }),
    whatsapp: num('costs.whatsapp', { min: '0' }),
    slot: num('costs.slot_value', { min: '0' }),
  };
  const check = h('p', { class: 'geo-check', role: 'status', id: 'geo-check' });
  const thresholdGrid = h('div', { class: 'form-grid' });
  const save = h('button', { type: 'submit', class: 'btn primary', text: tr('save') });

  function updateCheck() {
    const [a1, a2, c1, c2, r] = [el.addrLat, el.addrLon, el.fenceLat, el.fenceLon, el.radius].map(value);
    check.className = 'geo-check';
    if ([a1, a2, c1, c2, r].some((v) => v === null || Number.isNaN(v))) {
      check.textContent = tr('noCheck');
      return;
    }
    const d = Math.round(distanceM(a1, a2, c1, c2));
    const ok = d <= r;
    check.classList.add(ok ? 'ok' : 'bad');
    check.textContent = tr(ok ? 'inside' : 'outside', { d, r });
  }
  for (const k of ['addrLat', 'addrLon', 'fenceLat', 'fenceLon', 'radius']) el[k].addEventListener('input', updateCheck);

  const useAddress = h('button', { type: 'button', class: 'btn small', text: tr('useAddress'), on: { click: () => {
    el.fenceLat.value = el.addrLat.value;
    el.fenceLon.value = el.addrLon.value;
    if (!el.radius.value) el.radius.value = '300';
    updateCheck();
  } } });

  form.append(
    h('fieldset', { class: 'card' }, h('legend', { text: tr('hospital') }),
      h('div', { class: 'form-grid' },
        field('set-name', tr('name'), el.name),
        field('set-timezone', tr('timezone'), el.timezone),
        field('set-summary-hour', tr('summaryHour'), el.summaryHour, tr('summaryHint')),
        field('set-delay', tr('delay'), el.delay, tr('delayHint'))),
      h('datalist', { id: 'tz-list' }, ZONES.map((z) => h('option', { value: z })))),
    h('fieldset', { class: 'card' }, h('legend', { text: tr('place') }),
      h('p', { class: 'hint', text: tr('placeHelp') }),
      h('div', { class: 'geo-grid' },
        h('div', {}, h('h3', { text: tr('address') }), h('div', { class: 'form-grid' },
          field('set-addr-lat', tr('lat'), el.addrLat), field('set-addr-lon', tr('lon'), el.addrLon))),
        h('div', {}, h('h3', { text: tr('centre') }), h('div', { class: 'form-grid' },
          field('set-fence-lat', tr('lat'), el.fenceLat), field('set-fence-lon', tr('lon'), el.fenceLon),
          field('set-radius', tr('radius'), el.radius)))),
      h('div', { class: 'geo-actions' }, useAddress, check)),
    h('fieldset', { class: 'card' }, h('legend', { text: tr('languages') }),
      h('div', { class: 'form-grid' },
        field('set-messages', tr('messages'), el.messages),
        h('div', { class: 'field' }, h('span', { class: 'label', text: tr('board') }),
          h('div', { class: 'board-langs' }, el.board), h('p', { class: 'hint', text: tr('boardHint') })))),
    h('fieldset', { class: 'card' }, h('legend', { text: tr('alerts') }), thresholdGrid),
    h('fieldset', { class: 'card' }, h('legend', { text: tr('reinstate') }),
      h('p', { class: 'hint', text: tr('reinstateHelp') }),
      h('table', { class: 'compact' }, h('thead', {}, h('tr', {},
        h('th', { scope: 'col', text: tr('department') }), h('th', { scope: 'col', text: tr('places') }))),
      el.reinstate)),
    h('fieldset', { class: 'card' }, h('legend', { text: tr('costs') }),
      h('p', { class: 'hint', text: tr('costsHelp') }),
      h('div', { class: 'form-grid' },
        field('set-currency', tr('currency'), el.currency), field('set-sms', tr('sms'), el.sms),
        field('set-whatsapp', tr('whatsapp'), el.whatsapp), field('set-slot', tr('slot'), el.slot))),
    alertBox,
    h('div', { class: 'form-actions' }, save, note));
  panel.append(form);

  function fill(s) {
    current = s;
    el.name.value = s.name;
    el.timezone.value = s.timezone;
    el.summaryHour.value = String(s.summary_hour);
    el.delay.value = String(s.delay_notify_min);
    el.addrLat.value = s.address?.lat ?? '';
    el.addrLon.value = s.address?.lon ?? '';
    el.fenceLat.value = s.geofence?.lat ?? '';
    el.fenceLon.value = s.geofence?.lon ?? '';
    el.radius.value = s.geofence?.radius_m ?? '';
    el.messages.value = s.languages.messages;
    el.board.forEach((sel, i) => { sel.value = s.languages.board[i] || ''; });
    thresholdGrid.replaceChildren();
    el.thresholds = {};
    for (const [k, v] of Object.entries(s.alert_thresholds)) {
      const { min: lo, max: hi, default: d } = s.alert_threshold_limits[k];
      const input = num(`alert_thresholds.${k}`, { step: '1', min: String(lo), max: String(hi), value: String(v) });
      el.thresholds[k] = input;
      thresholdGrid.append(field(`set-th-${k}`, tr(`th.${k}`), input, tr('deflt', { v: d, lo, hi })));
    }
    el.reinstate.replaceChildren(...s.reinstate.map((d, i) => {
      const input = num(`reinstate.${i}.reinstate_places`, { step: '1', min: '1', max: '50',
        value: String(d.reinstate_places), 'aria-label': `${tr('places')}: ${d.name}`, id: `set-reinstate-${d.code}` });
      input.dataset.department = d.department_id;
      return h('tr', {}, h('td', { text: `${d.name} (${d.code})` }), h('td', {}, h('div', { class: 'field' }, input)));
    }));
    el.currency.value = s.costs.currency;
    el.sms.value = s.costs.sms;
    el.whatsapp.value = s.costs.whatsapp;
    el.slot.value = s.costs.slot_value;
    updateCheck();
  }

  /** Only what differs from the settings as loaded. */
  function changes() {
    const s = current;
    const out = {};
    if (el.name.value.trim() !== s.name) out.name = el.name.value.trim();
    if (el.timezone.value.trim() !== s.timezone) out.timezone = el.timezone.value.trim();
    if (Number(el.summaryHour.value) !== s.summary_hour) out.summary_hour = Number(el.summaryHour.value);
    if (value(el.delay) !== s.delay_notify_min) out.delay_notify_min = value(el.delay);
    const addr = value(el.addrLat) === null && value(el.addrLon) === null ? null
      : { lat: value(el.addrLat), lon: value(el.addrLon) };
    if (JSON.stringify(addr) !== JSON.stringify(s.address)) out.address = addr;
    const fence = [el.fenceLat, el.fenceLon, el.radius].every((x) => value(x) === null) ? null
      : { lat: value(el.fenceLat), lon: value(el.fenceLon), radius_m: value(el.radius) };
    if (JSON.stringify(fence) !== JSON.stringify(s.geofence)) out.geofence = fence;
    const langs = {};
    if (el.messages.value !== s.languages.messages) langs.messages = el.messages.value;
    const board = [...new Set(el.board.map((x) => x.value).filter(Boolean))];
    if (JSON.stringify(board) !== JSON.stringify(s.languages.board)) langs.board = board;
    if (Object.keys(langs).length) out.languages = langs;
    const th = {};
    for (const [k, input] of Object.entries(el.thresholds)) {
      if (value(input) !== s.alert_thresholds[k]) th[k] = value(input);
    }
    if (Object.keys(th).length) out.alert_thresholds = th;
    const moved = [...el.reinstate.querySelectorAll('input')]
      .map((input, i) => ({ department_id: input.dataset.department, reinstate_places: value(input), i }))
      .filter((r) => r.reinstate_places !== s.reinstate[r.i].reinstate_places)
      .map(({ department_id, reinstate_places }) => ({ department_id, reinstate_places }));
    if (moved.length) out.reinstate = moved;
    const costs = {};
    if (el.currency.value.trim().toUpperCase() !== s.costs.currency) costs.currency = el.currency.value.trim().toUpperCase();
    for (const [k, input] of [['sms', el.sms], ['whatsapp', el.whatsapp], ['slot_value', el.slot]]) {
      if (value(input) !== s.costs[k]) costs[k] = value(input);
    }
    if (Object.keys(costs).length) out.costs = costs;
    return out;
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    note.textContent = '';
    const body = changes();
    if (!Object.keys(body).length) { note.textContent = tr('nothing'); return; }
    try {
      const s = await action(save, (key) => request('PATCH', '/api/v1/hospital', { body, key }));
      if (s) { fill(s); note.textContent = tr('saved'); }
    } catch (err) {
      if (err.errors) showErrors(form, err);
      else { alertBox.textContent = describe(err); alertBox.hidden = false; }
    }
  });

  panel.load = async () => { fill(await get('/api/v1/hospital')); };
  return panel;
}
