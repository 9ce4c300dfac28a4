// Reception tabs "Waitlist" and "Call list".
//
// Waitlist: the desk puts a patient on a department's waitlist for a day (optionally for one
// doctor, with an urgency), sees who waits and what was offered to them, changes urgency or
// takes an entry off the list. Freed slots are offered by the workers (SMS/WhatsApp with a
// /w/ link); this tab only shows the offers. GET|POST /api/v1/waitlist, PATCH /{id}.
//
// Call list: tomorrow's (or any day's) bookings the outreach plan targets, highest risk first,
// with the messages sent and the patient's YES/NO; the rows marked "Call" are the desk's to
// phone. GET /api/v1/risk/outreach (CSV through the same URL with format=csv).

import { action, clearErrors, describe, formData, get, request, showErrors } from '../js/api.js';
import { $, h, showView } from '../js/dom.js';

const URGENCY = ['Routine', 'Soon', 'Urgent'];
const EVENT_LABEL = {
  REMINDER_DAY_BEFORE: 'Day-before reminder', REMINDER_2H: '2 h reminder',
  CONFIRM_REQUEST: 'Confirm by reply', REMINDER_EXTRA: 'Extra reminder',
};
const W = { departments: [], doctors: [], today: '', timeZone: undefined, onError: () => {} };

function localDate(offsetDays = 0) {
  const d = new Date();
  d.setDate(d.getDate() + offsetDays);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

// times in the hospital's timezone, whatever the desk computer's clock says
function hhmm(iso) {
  return iso ? new Date(iso).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit',
                                                           timeZone: W.timeZone }) : '';
}

function deptName(id) { return W.departments.find((d) => d.id === id)?.name || ''; }
function doctorName(id) { return W.doctors.find((d) => d.id === id)?.name || ''; }

// ------------------------------------------------------------------ tabs
export function initTabs({ departments, doctors, onError, timeZone }) {
  Object.assign(W, { departments, doctors, onError, timeZone: timeZone || undefined,
                     today: localDate() });
  const nav = $('#desk-tabs');
  nav.hidden = false;
  for (const btn of nav.querySelectorAll('[data-tab]')) {
    btn.addEventListener('click', () => select(btn.dataset.tab));
  }
  const deptOptions = () => departments.map((d) => h('option', { value: d.id, text: d.name }));
  $('#wl-department').replaceChildren(...deptOptions());
  $('#wl-filter-department').replaceChildren(h('option', { value: '', text: 'All departments' }),
                                             ...deptOptions());
  $('#wl-department').addEventListener('change', fillDoctors);
  fillDoctors();
  $('#wl-date').value = localDate(1);
  $('#wl-date').min = W.today;
  $('#wl-filter-date').value = localDate(1);
  $('#wl-form').addEventListener('submit', addEntry);
  $('#wl-filter-date').addEventListener('change', loadWaitlist);
  $('#wl-filter-department').addEventListener('change', loadWaitlist);
  $('#cl-date').value = localDate(1);
  $('#cl-date').addEventListener('change', loadCallList);
}

function select(name) {
  for (const btn of $('#desk-tabs').querySelectorAll('[data-tab]')) {
    btn.setAttribute('aria-selected', String(btn.dataset.tab === name));
  }
  showView(name);
  if (name === 'waitlist') loadWaitlist().catch((err) => W.onError(describe(err)));
  if (name === 'calllist') loadCallList().catch((err) => W.onError(describe(err)));
}

function fillDoctors() {
  const dep = $('#wl-department').value;
  $('#wl-doctor').replaceChildren(h('option', { value: '', text: 'Any doctor' }),
    ...W.doctors.filter((d) => d.department_id === dep)
      .map((d) => h('option', { value: d.id, text: d.name })));
}

// ------------------------------------------------------------------ waitlist
async function findPatient(raw) {
  const q = /^[\d\s()+-]+$/.test(raw) ? raw.replace(/\D/g, '') : raw.trim();
  const res = await get(`/api/v1/patients?${new URLSearchParams({ q })}`);
  return (res.patients || res.items || [])[0] || null;
}

async function addEntry(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  clearErrors(form);
  const v = formData(form);
  const alert = form.querySelector('.form-alert');
  $('#wl-ok').hidden = true;
  try {
    const patient = await findPatient(v.patient || '');
    if (!patient) {
      alert.textContent = 'No patient matches that phone, UHID or name: register them first.';
      alert.hidden = false;
      return;
    }
    const body = { patient_id: patient.id, department_id: v.department_id,
                   desired_date: v.desired_date, urgency: Number(v.urgency || 0) };
    if (v.preferred_doctor_id) body.preferred_doctor_id = v.preferred_doctor_id;
    const added = await action(form.querySelector('button[type=submit]'),
                               (key) => request('POST', '/api/v1/waitlist', { body, key }));
    if (!added) return;
    form.reset();
    $('#wl-date').value = v.desired_date;
    $('#wl-filter-date').value = v.desired_date;
    $('#wl-department').value = v.department_id;
    fillDoctors();
    $('#wl-ok').textContent = `${patient.name} added to the waitlist.`;
    $('#wl-ok').hidden = false;
    await loadWaitlist();
  } catch (err) {
    showErrors(form, err);
  }
}

function offerText(e) {
  const o = e.offers?.[0];
  if (!o) return '';
  const when = hhmm(o.scheduled_time);
  if (o.status === 'OFFERED') return `Offered ${when} slot, open until ${hhmm(o.expires_at)}`;
  return `${when} slot: ${o.status.toLowerCase()}`;
}

async function patch(entry, changes, control) {
  await action(control, (key) => request('PATCH', `/api/v1/waitlist/${entry.id}`,
                                         { body: changes, key }));
  await loadWaitlist();
}

export async function loadWaitlist() {
  const params = new URLSearchParams({ date: $('#wl-filter-date').value });
  if ($('#wl-filter-department').value) params.set('department_id', $('#wl-filter-department').value);
  const res = await get(`/api/v1/waitlist?${params}`);
  const rows = res.entries.map((e) => {
    const urgency = h('select', { 'aria-label': `Urgency of ${e.patient.name}`,
                                  disabled: !['WAITING', 'OFFERED'].includes(e.status) },
      URGENCY.map((u, i) => h('option', { value: String(i), text: u })));
    urgency.value = String(e.urgency);
    urgency.addEventListener('change', () => patch(e, { urgency: Number(urgency.value) }, urgency)
      .catch((err) => W.onError(describe(err))));
    const remove = ['WAITING', 'OFFERED'].includes(e.status)
      ? h('button', { type: 'button', class: 'btn small', text: 'Remove',
                      'aria-label': `Remove ${e.patient.name} from the waitlist`,
                      on: { click: (ev) => patch(e, { status: 'CANCELLED' }, ev.currentTarget)
                        .catch((err) => W.onError(describe(err))) } })
      : '';
    return h('tr', { dataset: { status: e.status } },
      h('td', {}, h('strong', { text: e.patient.name })),
      h('td', { text: deptName(e.department_id) }),
      h('td', { text: doctorName(e.preferred_doctor_id) || 'Any' }),
      h('td', {}, urgency),
      h('td', {}, h('span', { class: `badge wl-${e.status.toLowerCase()}`, text: e.status })),
      h('td', { text: offerText(e) }),
      h('td', { text: new Date(e.created_at).toLocaleDateString('en-GB', { timeZone: W.timeZone }) }),
      h('td', {}, remove));
  });
  $('#wl-rows').replaceChildren(...rows);
  $('#wl-empty').hidden = rows.length > 0;
}

// ------------------------------------------------------------------ call list
function touchList(item) {
  return h('ul', { class: 'touches' }, item.touches.filter((x) => !x.standard || x.status)
    .map((x) => h('li', { class: x.status ? 'sent' : 'planned' },
      `${EVENT_LABEL[x.event] || x.event}: `,
      x.status ? `${x.status.toLowerCase()}${x.channel === 'WHATSAPP' ? ' (WhatsApp)' : ''}`
               : `planned ${new Date(x.at).toLocaleString('en-GB', { weekday: 'short', hour: '2-digit', minute: '2-digit', timeZone: W.timeZone })}`)));
}

export async function loadCallList() {
  const day = $('#cl-date').value;
  const res = await get(`/api/v1/risk/outreach?${new URLSearchParams({ date: day })}`);
  $('#cl-csv').href = `/api/v1/risk/outreach?${new URLSearchParams({ date: day, format: 'csv' })}`;
  const rows = res.items.map((i) => h('tr', { dataset: { call: i.call ? '1' : '0' } },
    h('td', {}, h('strong', { text: hhmm(i.scheduled_time) }), h('br'), i.number),
    h('td', {}, h('strong', { text: i.patient.name }), h('br'),
      h('a', { href: `tel:${i.patient.phone}`, text: i.patient.phone })),
    h('td', { text: `${i.department}${i.doctor ? ` · ${i.doctor}` : ''}` }),
    h('td', {}, h('span', { class: `badge risk-${i.risk.badge.toLowerCase()}`,
                            text: `Tier ${i.risk.tier} · ${i.risk.score}` }),
      h('div', { class: 'muted small', text: i.risk.factors.join('; ') })),
    h('td', {}, touchList(i)),
    h('td', {}, i.answer ? h('span', { class: `badge answer-${i.answer.toLowerCase()}`,
                                       text: i.answer === 'YES' ? 'Confirmed (YES)' : 'Cancelled (NO)' })
      : h('span', { class: 'muted', text: 'No answer' })),
    h('td', {}, i.call && !i.answer && i.status === 'BOOKED'
      ? h('span', { class: 'badge call', text: 'Call' }) : i.status === 'BOOKED' ? '' : i.status)));
  $('#cl-rows').replaceChildren(...rows);
  $('#cl-empty').hidden = rows.length > 0;
  $('#cl-count').textContent = `${res.items.filter((i) => i.call && !i.answer && i.status === 'BOOKED').length} to call · ${res.items.length} targeted`;
}
