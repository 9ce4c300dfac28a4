// Reception desk: /reception.
//
// Find a patient by name, phone or UHID, or register one; edit their details; issue a walk-in
// token (normal, senior, emergency) or a booking, with a warning when the patient already has
// a live token in that department today; print a slip in the patient's language. Below, the
// day's tokens live over /ws/desk (today.js), with the actions the server allows on each.
// Every action carries one Idempotency-Key, retried safely; field errors from the server
// appear next to the field.

import { ApiError, action, clearErrors, describe, formData, get, post, request, showErrors } from '../js/api.js';
import { currentUser, loginForm, logout } from '../js/auth.js';
import { $, h, showView } from '../js/dom.js';
import { Live } from '../js/live.js';
import { STAFF_LANGUAGES, applyI18n, etaRange, langSwitch, t } from '../js/i18n.js';
import { fillSlip } from './slip.js';
import { DESK_ACTIONS, DayList, OPEN } from './today.js';
import { initTabs } from './waitlist.js';

const DESK_ROLES = ['admin', 'receptionist', 'nurse'];
const LIVE = OPEN;
const SLIP_WIDTH_KEY = 'opdq.slipWidth';
const DUPLICATE = '/problems/duplicate-token';
const CONFIRM = { cancel: 'desk.confirm.cancel', 'no-show': 'desk.confirm.no-show' };
const DONE = { 'check-in': 'reception.checkedIn', cancel: 'reception.cancelled' };

const S = {
  me: null,
  departments: [],
  doctors: [],
  patient: null,          // the selected patient (with visits)
  patientTokens: [],      // their tokens shown in the card (full token views)
  results: [],
  issued: null,           // the token just issued (the "issued" panel and its slip)
  duplicate: null,        // {body, existing} while the desk is asked to confirm
  day: null,              // the DayList
};

function deptName(id) { return (S.allDepartments || S.departments).find((d) => d.id === id)?.name || ''; }

function ok(text) {
  const el = $('#desk-ok');
  el.textContent = text;
  el.hidden = !text;
}

// ------------------------------------------------------------------ find

/** A phone typed at the desk as E.164 (a bare 10-digit number is Indian); else null. */
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
  // one box for everything: the server matches name words (any script), phone digits, UHID
  // a phone as people type it ("+91 98765 00004") is searched by its digits
  const query = { q: /^[\d\s()+-]+$/.test(raw) ? raw.replace(/\D/g, '') : raw.trim() };
  try {
    const res = await action(form.querySelector('button'), () =>
      get(`/api/v1/patients?${new URLSearchParams(query)}`));
    if (!res) return;
    S.results = res.patients || res.items || [];
    renderResults();
    if (!S.results.length) offerRegistration(raw);
  } catch (err) {
    showErrors(form, err);
  }
}

/** Nobody found: open the registration form with what was typed, a phone or a name. */
function offerRegistration(raw) {
  const box = $('#register-box');
  const phone = searchQuery(raw).phone;
  const field = phone ? $('#reg-phone') : /\d/.test(raw) ? null : $('#reg-name');
  if (field && !field.value) field.value = phone || raw.trim();
  box.open = true;
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
    $('#register-box').open = false;
    S.results = [p];   // "no patient found" gives way to the one just registered
    renderResults();
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
  $('#edit-form').hidden = true;
  hideDuplicate();
  $('#issued').hidden = true;
  ok('');
  await loadPatientTokens();
  renderPatient();
  $('#issue-dept').focus();
}

async function reloadPatient() {
  if (S.patient) {
    S.patient = await get(`/api/v1/patients/${S.patient.id}`);
    await loadPatientTokens();
    renderPatient();
  }
}

/** The patient's open and coming tokens as full views (their allowed_actions decide the
 *  buttons; the visits list of the patient record does not carry them). */
async function loadPatientTokens() {
  const today = S.day?.date || new Date().toLocaleDateString('en-CA');
  const shown = (S.patient.visits || []).filter((v) => LIVE.has(v.status) || v.service_date >= today);
  S.patientTokens = await Promise.all(shown.map((v) => get(`/api/v1/tokens/${v.id}`)
    .then((tok) => ({ ...tok, department: v.department, doctor: v.doctor }))
    .catch(() => ({ ...v, allowed_actions: [] }))));
}

function renderPatient() {
  const p = S.patient;
  $('#patient').replaceChildren(
    h('strong', { dataset: { testid: 'patient-name' }, text: p.name }), h('br'),
    h('span', { dataset: { testid: 'patient-details' } },
      `UHID ${p.uhid} · ${p.phone}`, p.date_of_birth ? ` · ${p.date_of_birth}` : '',
      ` · ${t(`lang.${p.language || 'en'}`)}`));
  const root = $('#tokens');
  if (!S.patientTokens.length) {
    root.replaceChildren(h('p', { class: 'muted', text: t('reception.noTokens') }));
    return;
  }
  root.replaceChildren(h('ul', { class: 'tokens' }, S.patientTokens.map(tokenItem)));
}

function tokenItem(v) {
  const allowed = (v.allowed_actions || []).filter((a) => DESK_ACTIONS.includes(a));
  const buttons = DESK_ACTIONS.filter((a) => allowed.includes(a)).map((a) => h('button', {
    type: 'button', class: `btn small${a === 'check-in' ? ' primary' : ''}${a === 'cancel' ? ' danger' : ''}`,
    text: t(`desk.action.${a}`), 'aria-label': `${t(`desk.action.${a}`)} ${v.number}`,
    on: { click: (ev) => tokenAction(ev.currentTarget, v, a) } }));
  if (LIVE.has(v.status)) {
    buttons.push(h('button', { type: 'button', class: 'btn small', text: t('reception.print'),
      'aria-label': `${t('reception.print')} ${v.number}`,
      on: { click: (ev) => printSlip(ev.currentTarget, v.id) } }));
  }
  const when = v.scheduled_time ? new Date(v.scheduled_time).toLocaleString('en-GB',
    { dateStyle: 'short', timeStyle: 'short' }) : v.service_date;
  const dept = v.department || deptName(v.department_id);
  const doctor = v.doctor || v.doctor_name;
  return h('li', { dataset: { token: v.id } },
    h('span', { class: 'tok', text: v.number }),
    h('span', { class: 'grow' }, dept, doctor ? ` · ${doctor}` : '', ` · ${when}`),
    h('span', { class: `badge status status-${v.status}`, text: t(`status.${v.status}`) }),
    buttons);
}

/** One of the server's allowed actions on a token, from the card or the day's list. */
async function tokenAction(button, tok, name) {
  ok('');
  if (CONFIRM[name] && !window.confirm(t(CONFIRM[name], { number: tok.number }))) return;
  const body = name === 'reinstate' ? { reason: t('desk.reinstateReason') } : {};
  try {
    const res = await action(button, (key) => post(`/api/v1/tokens/${tok.id}/${name}`, body, { key }));
    if (!res) return;
    if (res.id) S.day.upsert(res);
    if (S.patient && S.patientTokens.some((v) => v.id === tok.id)) await reloadPatient();
    ok(DONE[name] ? t(DONE[name], { number: tok.number })
      : t('desk.actionDone', { number: tok.number, status: t(`status.${res.status}`) }));
  } catch (err) {
    ok('');
    toastError(describe(err));
  }
}

// ------------------------------------------------------------------ edit

function openEdit() {
  const form = $('#edit-form');
  const p = S.patient;
  clearErrors(form);
  form.elements.name.value = p.name || '';
  form.elements.phone.value = p.phone || '';
  form.elements.date_of_birth.value = p.date_of_birth || '';
  form.elements.language.value = p.language || 'en';
  form.elements.sms_opt_in.checked = Boolean(p.sms_opt_in);
  form.elements.whatsapp_opt_in.checked = Boolean(p.whatsapp_opt_in);
  form.hidden = false;
  form.elements.name.focus();
}

async function saveEdit(ev) {
  ev.preventDefault();
  const form = ev.currentTarget;
  clearErrors(form);
  const body = formData(form);
  if (body.phone) body.phone = searchQuery(body.phone)?.phone || body.phone;
  try {
    const p = await action(form.querySelector('button[type=submit]'),
      (key) => request('PATCH', `/api/v1/patients/${S.patient.id}`, { body, key }));
    if (!p) return;
    form.hidden = true;
    S.patient = { ...S.patient, ...p };
    renderPatient();
    S.day.refreshPatient(S.patient.id);
    ok(t('desk.saved'));
  } catch (err) {
    showErrors(form, err);
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
  hideDuplicate();
  $('#issued').hidden = true;
  await send(tokenBody(S.patient.id, formData(form)), $('#issue-button'));
}

/** POST the token; a 409 duplicate-token asks the desk first (and is re-sent on "yes"). */
async function send(body, button) {
  const form = $('#issue-form');
  try {
    const tok = await action(button, (key) => post('/api/v1/tokens', body, { key }));
    if (!tok) return;
    hideDuplicate();
    ok(t('reception.issued', { number: tok.number }));
    $('#issue-reason').value = '';
    S.day.upsert(tok);
    showIssued(tok);
    await reloadPatient();
  } catch (err) {
    if (err instanceof ApiError && err.status === 409 && err.problem?.type === DUPLICATE) {
      showDuplicate(body, err.problem);
    } else {
      showErrors(form, err);
    }
  }
}

function showDuplicate(body, problem) {
  const existing = problem.existing_token || S.day.get(problem.existing_token_id) || {};
  S.duplicate = { body, existing };
  renderDuplicate();
  $('#dup').hidden = false;
  $('#dup-confirm').focus();
}

function renderDuplicate() {
  if (!S.duplicate) return;
  const e = S.duplicate.existing;
  const where = e.status === 'WAITING' && e.position ? t('desk.dup.position', { n: e.position }) : '';
  $('#dup-text').textContent = t('desk.dup.text', {
    number: e.number || '?', status: t(`status.${e.status}`),
    department: deptName(e.department_id) || '', where });
  $('#dup-keep').textContent = t('desk.dup.keep', { number: e.number || '' });
}

function hideDuplicate() {
  S.duplicate = null;
  $('#dup').hidden = true;
}

/** The issued panel: number, position, ETA range, and the slip preview. */
function showIssued(tok) {
  S.issued = tok;
  renderIssued();
  $('#issued').hidden = false;
}

function renderIssued() {
  const tok = S.issued;
  if (!tok) return;
  $('[data-testid=issued-number]').textContent = tok.number;
  $('[data-testid=issued-position]').textContent = tok.position ? String(tok.position) : t('desk.issued.none');
  $('[data-testid=issued-eta]').textContent = etaRange(tok.eta) || t('desk.issued.none');
  fillSlip($('#slip-preview'), slipData(tok));
}

// ------------------------------------------------------------------ print

/** What a slip shows for a token, in the patient's language (not the desk's). */
function slipData(tok) {
  const lang = tok.patient?.language
    || (S.patient && tok.patient?.id === S.patient.id ? S.patient.language : null) || 'en';
  return { token: tok, department: deptName(tok.department_id), hospital: S.me.hospital?.name,
           lang, timeZone: S.me.hospital?.timezone || null };
}

async function printSlip(button, tokenId) {
  try {
    const tok = await action(button, () => get(`/api/v1/tokens/${tokenId}`));
    if (!tok) return;
    const slip = $('#slip');
    fillSlip(slip, slipData(tok));
    sizePaper(slip);
    window.print();
  } catch (err) {
    toastError(describe(err));
  }
}

let pageRule = null;
/** Size the paper to the slip (a roll printer then feeds no blank paper): an @page rule
 *  added through the CSS object model (the CSP allows it, unlike an inline style). */
export function sizePaper(slip) {
  const sheet = [...document.styleSheets].find((s) => s.href?.includes('/reception/reception.css'));
  if (!sheet) return;
  slip.classList.add('measuring');
  const px = slip.getBoundingClientRect().height;
  slip.classList.remove('measuring');
  const width = slipWidth();
  const margin = 4;  // mm around the slip
  const heightMm = Math.ceil(px * 25.4 / 96) + 2 * margin;
  if (pageRule !== null) sheet.deleteRule(pageRule);
  pageRule = sheet.insertRule(`@page { size: ${width}mm ${heightMm}mm; margin: ${margin}mm ${(width - (width === 58 ? 48 : 72)) / 2}mm; }`,
    sheet.cssRules.length);
}

function slipWidth() { return document.body.dataset.slipWidth === '58' ? 58 : 80; }

function setSlipWidth(value, persist = true) {
  const width = value === '58' ? '58' : '80';
  document.body.dataset.slipWidth = width;
  $('#slip-width').value = width;
  if (persist) {
    try { localStorage.setItem(SLIP_WIDTH_KEY, width); } catch { /* storage blocked */ }
  }
}

function savedSlipWidth() {
  try { return localStorage.getItem(SLIP_WIDTH_KEY) || '80'; } catch { return '80'; }
}

// ------------------------------------------------------------------ start

function dayFilters() {
  return { q: $('#f-q'), department: $('#f-department'), doctor: $('#f-doctor'),
           status: $('#f-status') };
}

async function enter() {
  $('#logout').hidden = false;
  $('#who').textContent = S.me.user.username;
  const [deps, docs] = await Promise.all([get('/api/v1/departments'), get('/api/v1/doctors')]);
  S.departments = deps.items.filter((d) => d.active);
  S.allDepartments = deps.items;
  S.doctors = docs.items;
  $('#issue-dept').replaceChildren(
    ...S.departments.map((d) => h('option', { value: d.id, text: `${d.name} (${d.code})` })));
  fillDoctors();
  DayList.fillFilters(dayFilters(), S.departments, S.doctors);
  S.day = new DayList({
    tbody: $('#day-rows'), count: $('#today-count'), empty: $('#day-empty'),
    filters: dayFilters(),
    departmentName: deptName,
    onAction: (tok, name, button) => tokenAction(button, tok, name),
    onPrint: (tok, button) => printSlip(button, tok.id),
    onPatient: (id) => selectPatient(id).catch((err) => toastError(describe(err))),
  });
  showView('desk');
  initTabs({ departments: S.departments, doctors: S.doctors, onError: toastError,
            timeZone: S.me.hospital?.timezone });
  new Live({ path: () => '/ws/desk', onMessage: (msg) => S.day.apply(msg),
             onDenied: () => toastError(t('error.login')) }).start();
  $('#find-q').focus();
}

function relabel() {
  if (S.patient) renderPatient();
  fillDoctors();
  if (S.day) {
    DayList.fillFilters(dayFilters(), S.departments, S.doctors);
    S.day.redraw();
  }
  renderDuplicate();
  if (S.issued) {
    $('[data-testid=issued-position]').textContent = S.issued.position ? String(S.issued.position) : t('desk.issued.none');
    $('[data-testid=issued-eta]').textContent = etaRange(S.issued.eta) || t('desk.issued.none');
  }
}

async function main() {
  applyI18n();
  setSlipWidth(savedSlipWidth(), false);
  langSwitch($('#lang'), relabel, STAFF_LANGUAGES);
  $('#slip-width').addEventListener('change', (ev) => setSlipWidth(ev.currentTarget.value));
  $('#find-form').addEventListener('submit', find);
  $('#register-form').addEventListener('submit', register);
  $('#issue-form').addEventListener('submit', issue);
  $('#edit-form').addEventListener('submit', saveEdit);
  $('#edit-patient').addEventListener('click', openEdit);
  $('#edit-cancel').addEventListener('click', () => { $('#edit-form').hidden = true; });
  $('#dup-confirm').addEventListener('click', (ev) => {
    if (S.duplicate) send({ ...S.duplicate.body, allow_duplicate: true }, ev.currentTarget);
  });
  $('#dup-keep').addEventListener('click', () => { hideDuplicate(); $('#issue-button').focus(); });
  $('#issued-print').addEventListener('click', (ev) => { if (S.issued) printSlip(ev.currentTarget, S.issued.id); });
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
