// Reception desk: /reception.
//
// Find a patient by phone or UHID, or register one; issue a walk-in token (normal, senior,
// emergency) or a booking to a department or a doctor; check in a booked token; cancel;
// print a slip with a QR code of the patient's live page. Every action carries one
// Idempotency-Key, retried safely; field errors from the server appear next to the field.

import { ApiError, action, clearErrors, describe, formData, get, post, showErrors } from '../js/api.js';
import { currentUser, loginForm, logout } from '../js/auth.js';
import { $, h, showView } from '../js/dom.js';
import { applyI18n, langSwitch, t } from '../js/i18n.js';
import { fillSlip } from './slip.js';

const DESK_ROLES = ['admin', 'receptionist', 'nurse'];
const LIVE = new Set(['BOOKED', 'WAITING', 'CALLED', 'IN_CONSULTATION']);

const S = {
  me: null,
  departments: [],
  doctors: [],
  patient: null,          // the selected patient (with visits)
  results: [],
};

function deptName(id) { return S.departments.find((d) => d.id === id)?.name || ''; }

function ok(text) {
  const el = $('#desk-ok');
  el.textContent = text;
  el.hidden = !text;
}

// ------------------------------------------------------------------ find

/** What the search box holds: a phone (E.164; a bare 10-digit number is Indian) or a UHID. */
export function searchQuery(raw) {
  const q = raw.trim().replace(/[\s()-]/g, '');
  if (/^\+\d{6,15}$/.test(q)) return { phone: q };
  if (/^\d{10}$/.test(q)) return { phone: `+91${q}` };
  if (/^0\d{10}$/.test(q)) return { phone: `+91${q.slice(1)}` };
  return { uhid: raw.trim() };
}

async function find(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  clearErrors(form);
  const raw = $('#find-q').value;
  if (!raw.trim()) {
    showErrors(form, new ApiError(422, { errors: [{ field: 'q', message: t('reception.findBy') }] }));
    return;
  }
  const query = searchQuery(raw);
  try {
    const res = await action(form.querySelector('button'), () =>
      get(`/api/v1/patients?${new URLSearchParams(query)}`));
    if (!res) return;
    S.results = res.patients;
    renderResults();
  } catch (err) {
    showErrors(form, err);
  }
}

function renderResults() {
  const root = $('#results');
  if (!S.results.length) {
    root.replaceChildren(h('p', { class: 'muted', text: t('reception.noMatch') }));
    return;
  }
  root.replaceChildren(
    h('h3', { class: 'visually-hidden', text: t('reception.results') }),
    h('ul', { class: 'results' }, S.results.map((p) => h('li', {},
      h('span', { class: 'grow' }, h('strong', { text: p.name }), ' · ', p.uhid, ' · ', p.phone),
      h('button', { type: 'button', class: 'btn small', text: t('reception.select'),
                    'aria-label': `${t('reception.select')} ${p.name}`,
                    on: { click: () => selectPatient(p.id) } })))));
}

// ------------------------------------------------------------------ register

async function register(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  clearErrors(form);
  const body = formData(form);
  if (body.phone) body.phone = searchQuery(body.phone).phone || body.phone;
  try {
    const p = await action(form.querySelector('button[type=submit]'),
      (key) => post('/api/v1/patients', body, { key }));
    if (!p) return;
    form.reset();
    await selectPatient(p.id);
    ok(t('reception.registered', { name: p.name, uhid: p.uhid }));
  } catch (err) {
    showErrors(form, err);
  }
}

// ------------------------------------------------------------------ patient and tokens

async function selectPatient(id) {
  S.patient = await get(`/api/v1/patients/${id}`);
  $('#patient-card').hidden = false;
  ok('');
  renderPatient();
  $('#issue-dept').focus();
}

async function reloadPatient() {
  if (S.patient) {
    S.patient = await get(`/api/v1/patients/${S.patient.id}`);
    renderPatient();
  }
}

function renderPatient() {
  const p = S.patient;
  $('#patient').replaceChildren(
    h('strong', { dataset: { testid: 'patient-name' }, text: p.name }), h('br'),
    `UHID ${p.uhid} · ${p.phone}`, p.date_of_birth ? ` · ${p.date_of_birth}` : '');
  const today = new Date().toLocaleDateString('en-CA');  // YYYY-MM-DD, local
  const shown = (p.visits || []).filter((v) => LIVE.has(v.status) || v.service_date >= today);
  const root = $('#tokens');
  if (!shown.length) {
    root.replaceChildren(h('p', { class: 'muted', text: t('reception.noTokens') }));
    return;
  }
  root.replaceChildren(h('ul', { class: 'tokens' }, shown.map(tokenItem)));
}

function tokenItem(v) {
  const buttons = [];
  if (v.status === 'BOOKED') {
    buttons.push(h('button', { type: 'button', class: 'btn small primary', text: t('reception.checkIn'),
      'aria-label': `${t('reception.checkIn')} ${v.number}`,
      on: { click: (ev) => tokenAction(ev.currentTarget, v, 'check-in', 'reception.checkedIn') } }));
  }
  if (v.status === 'BOOKED' || v.status === 'WAITING') {
    buttons.push(h('button', { type: 'button', class: 'btn small danger', text: t('reception.cancelToken'),
      'aria-label': `${t('reception.cancelToken')} ${v.number}`,
      on: { click: (ev) => {
        if (window.confirm(t('reception.confirmCancel', { number: v.number }))) {
          tokenAction(ev.currentTarget, v, 'cancel', 'reception.cancelled');
        }
      } } }));
  }
  if (LIVE.has(v.status)) {
    buttons.push(h('button', { type: 'button', class: 'btn small', text: t('reception.print'),
      'aria-label': `${t('reception.print')} ${v.number}`,
      on: { click: (ev) => printSlip(ev.currentTarget, v.id) } }));
  }
  const when = v.scheduled_time ? new Date(v.scheduled_time).toLocaleString('en-GB',
    { dateStyle: 'short', timeStyle: 'short' }) : v.service_date;
  return h('li', { dataset: { token: v.id } },
    h('span', { class: 'tok', text: v.number }),
    h('span', { class: 'grow' }, v.department, v.doctor ? ` · ${v.doctor}` : '', ` · ${when}`),
    h('span', { class: `badge status status-${v.status}`, text: t(`status.${v.status}`) }),
    buttons);
}

async function tokenAction(button, v, name, okKey) {
  ok('');
  try {
    const res = await action(button, (key) => post(`/api/v1/tokens/${v.id}/${name}`, {}, { key }));
    if (!res) return;
    await reloadPatient();
    ok(t(okKey, { number: v.number }));
  } catch (err) {
    ok('');
    toastError(describe(err));
  }
}

function toastError(text) {
  const el = h('p', { class: 'toast error', role: 'alert', text });
  document.body.append(el);
  setTimeout(() => el.remove(), 6000);
}

// ------------------------------------------------------------------ issue

function fillDoctors() {
  const dep = $('#issue-dept').value;
  const select = $('#issue-doctor');
  select.replaceChildren(h('option', { value: '', text: t('reception.anyDoctor') }),
    ...S.doctors.filter((d) => d.active && d.department_id === dep)
      .map((d) => h('option', { value: d.id, text: d.name })));
}

/** The token request for the issue form's values. */
export function tokenBody(patientId, values) {
  const kind = values.kind || 'normal';
  const body = {
    patient_id: patientId,
    booking_type: { emergency: 'EMERGENCY', booked: 'ONLINE' }[kind] || 'WALK_IN',
    priority: { senior: 2, emergency: 3 }[kind] || 1,
  };
  if (values.doctor_id) body.doctor_id = values.doctor_id;
  else body.department_id = values.department_id;
  if (kind === 'booked' && values.scheduled_time) {
    body.scheduled_time = new Date(values.scheduled_time).toISOString();
  }
  if (values.visit_reason) body.visit_reason = values.visit_reason;
  return body;
}

async function issue(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  clearErrors(form);
  ok('');
  const body = tokenBody(S.patient.id, formData(form));
  try {
    const tok = await action($('#issue-button'), (key) => post('/api/v1/tokens', body, { key }));
    if (!tok) return;
    ok(t('reception.issued', { number: tok.number }));
    $('#issue-reason').value = '';
    await reloadPatient();
  } catch (err) {
    showErrors(form, err);
  }
}

// ------------------------------------------------------------------ print

async function printSlip(button, tokenId) {
  try {
    const tok = await action(button, () => get(`/api/v1/tokens/${tokenId}`));
    if (!tok) return;
    fillSlip($('#slip'), { token: tok, department: deptName(tok.department_id),
                           hospital: S.me.hospital?.name });
    window.print();
  } catch (err) {
    toastError(describe(err));
  }
}

// ------------------------------------------------------------------ start

async function enter() {
  $('#logout').hidden = false;
  $('#who').textContent = S.me.user.username;
  const [deps, docs] = await Promise.all([get('/api/v1/departments'), get('/api/v1/doctors')]);
  S.departments = deps.items.filter((d) => d.active);
  S.doctors = docs.items;
  $('#issue-dept').replaceChildren(
    ...S.departments.map((d) => h('option', { value: d.id, text: `${d.name} (${d.code})` })));
  fillDoctors();
  showView('desk');
  $('#find-q').focus();
}

async function main() {
  applyI18n();
  langSwitch($('#lang'), () => { if (S.patient) renderPatient(); fillDoctors(); });
  $('#find-form').addEventListener('submit', find);
  $('#register-form').addEventListener('submit', register);
  $('#issue-form').addEventListener('submit', issue);
  $('#issue-dept').addEventListener('change', fillDoctors);
  for (const r of document.querySelectorAll('input[name=kind]')) {
    r.addEventListener('change', () => { $('#slot-field').hidden = !$('input[name=kind][value=booked]').checked; });
  }
  $('#change-patient').addEventListener('click', () => {
    S.patient = null;
    $('#patient-card').hidden = true;
    $('#find-q').focus();
  });
  $('#logout').addEventListener('click', async () => { await logout(); location.reload(); });

  S.me = await currentUser();
  if (!S.me || !DESK_ROLES.includes(S.me.user.role)) {
    showView('login');
    S.me = await loginForm($('#login'), { roles: DESK_ROLES, title: 'reception.title' });
  }
  await enter();
}

main().catch((err) => toastError(describe(err)));
