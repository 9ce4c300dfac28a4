// Administration: /admin (admins only).
//
// Tabs: today's dashboard (charts drawn here, data from GET /api/v1/dashboard/today), past
// days' reports (reports.js), the
// setup resources (departments, cabins, doctors, shifts, staff: list, add, (de)activate),
// display keys (the key and the board link are shown once, at creation; revoke) and doctor
// leave (affected tokens are moved or rescheduled by the server).

import { action, clearErrors, describe, formData, get, post, request, showErrors } from '../js/api.js';
import { currentUser, loginForm, logout } from '../js/auth.js';
import { $, $$, h, showView } from '../js/dom.js';
import { STAFF_LANGUAGES, applyI18n, duration, langSwitch, t } from '../js/i18n.js';
import { COLORS, barChart, hourChart, legend } from './charts.js';
import { startAlertStrip } from './alerts.js';
import { messagesPanel } from './messages.js';
import { reportsPanel } from './reports.js';
import { settingsPanel } from './settings.js';
import { auditPanel, summariesPanel } from './audit.js';
import { integrationsPanel } from './integrations.js';

const DASH_REFRESH_MS = 60000;
const S = { me: null, departments: [], doctors: [], cabins: [], tab: 'dashboard' };

const today = () => new Date().toLocaleDateString('en-CA');
const byId = (list, id) => list.find((x) => x.id === id);
const deptName = (id) => byId(S.departments, id)?.name || '';
const doctorName = (id) => byId(S.doctors, id)?.name || '';
const cabinName = (id) => byId(S.cabins, id)?.number || '';

const LANG_OPTIONS = () => [['en', 'English'], ['hi', 'हिंदी'], ['bn', 'বাংলা'], ['mr', 'मराठी'],
  ['te', 'తెలుగు'], ['ta', 'தமிழ்'], ['kn', 'ಕನ್ನಡ'], ['ml', 'മലയാളം'], ['gu', 'ગુજરાતી']];
const deptOptions = () => S.departments.map((d) => [d.id, `${d.name} (${d.code})`]);
const doctorOptions = () => S.doctors.filter((d) => d.active).map((d) => [d.id, d.name]);
const cabinOptions = () => S.cabins.filter((c) => c.active)
  .map((c) => [c.id, `${c.number} · ${deptName(c.department_id)}`]);

const RESOURCES = [
  {
    id: 'departments',
    cols: [['name', 'admin.col.name'], ['code', 'admin.col.code'],
           ['language', 'admin.col.language'], ['avg_consultation_min', 'admin.col.avg']],
    fields: [
      { name: 'name', label: 'admin.col.name', required: true },
      { name: 'code', label: 'admin.col.code', required: true, hint: 'CARD, GEN, ORTH…' },
      { name: 'avg_consultation_min', label: 'admin.col.avg', type: 'number', step: '0.5', value: '10' },
      { name: 'language', label: 'admin.col.language', options: LANG_OPTIONS },
    ],
    toggle: true,
  },
  {
    id: 'cabins',
    cols: [['number', 'admin.col.number'], ['department_id', 'admin.col.department', deptName],
           ['floor', 'admin.col.floor']],
    fields: [
      { name: 'department_id', label: 'admin.col.department', options: deptOptions, required: true },
      { name: 'number', label: 'admin.col.number', required: true },
      { name: 'floor', label: 'admin.col.floor' },
    ],
    toggle: true,
  },
  {
    id: 'doctors',
    cols: [['name', 'admin.col.name'], ['department_id', 'admin.col.department', deptName],
           ['phone', 'admin.col.phone'], ['avg_consultation_min', 'admin.col.avg']],
    fields: [
      { name: 'name', label: 'admin.col.name', required: true },
      { name: 'department_id', label: 'admin.col.department', options: deptOptions, required: true },
      { name: 'phone', label: 'admin.col.phone', type: 'tel', hint: '+919812345678' },
      { name: 'avg_consultation_min', label: 'admin.col.avg', type: 'number', step: '0.5' },
    ],
    toggle: true,
  },
  {
    id: 'shifts',
    query: () => `?date=${today()}`,
    cols: [['doctor_id', 'admin.col.doctor', doctorName], ['cabin_id', 'admin.col.cabin', cabinName],
           ['date', 'admin.col.date'], ['start', 'admin.col.start'], ['end', 'admin.col.end']],
    fields: [
      { name: 'doctor_id', label: 'admin.col.doctor', options: doctorOptions, required: true },
      { name: 'cabin_id', label: 'admin.col.cabin', options: cabinOptions, required: true },
      { name: 'date', label: 'admin.col.date', type: 'date', value: today, required: true },
      { name: 'start', label: 'admin.col.start', type: 'time', value: '09:00', required: true },
      { name: 'end', label: 'admin.col.end', type: 'time', value: '17:00', required: true },
    ],
  },
  {
    id: 'users',
    cols: [['username', 'admin.col.username'], ['role', 'admin.col.role'],
           ['full_name', 'admin.col.fullName'], ['doctor_id', 'admin.col.doctor', doctorName],
           ['department_id', 'admin.col.department', deptName]],
    fields: [
      { name: 'username', label: 'admin.col.username', required: true, autocomplete: 'off' },
      { name: 'password', label: 'admin.col.password', type: 'password', required: true,
        autocomplete: 'new-password' },
      { name: 'role', label: 'admin.col.role', required: true,
        options: () => ['receptionist', 'doctor', 'nurse', 'admin'].map((r) => [r, r]) },
      { name: 'doctor_id', label: 'admin.col.doctor', options: doctorOptions, blank: true },
      { name: 'department_id', label: 'admin.col.department', options: deptOptions, blank: true },
      { name: 'full_name', label: 'admin.col.fullName' },
    ],
    toggle: true,
  },
];

// ------------------------------------------------------------------ generic pieces

function fieldEl(prefix, f) {
  const id = `${prefix}-${f.name}`;
  let input;
  if (f.options) {
    input = h('select', { id, name: f.name, required: f.required || null },
      f.blank ? h('option', { value: '', text: t('admin.none.option') }) : null,
      f.options().map(([value, text]) => h('option', { value, text })));
  } else {
    input = h('input', { id, name: f.name, type: f.type || 'text', step: f.step || null,
      required: f.required || null, autocomplete: f.autocomplete || 'off',
      value: typeof f.value === 'function' ? f.value() : f.value ?? null,
      'aria-describedby': f.hint ? `${id}-hint` : null });
  }
  return h('div', { class: 'field' },
    h('label', { for: id, text: t(f.label) }), input,
    f.hint ? h('p', { id: `${id}-hint`, class: 'hint', text: f.hint }) : null);
}

function alertBox() { return h('p', { class: 'form-alert', role: 'alert', tabindex: '-1', hidden: true }); }

async function refreshLookups() {
  const [deps, docs, cabins] = await Promise.all([
    get('/api/v1/departments'), get('/api/v1/doctors'), get('/api/v1/cabins')]);
  S.departments = deps.items;
  S.doctors = docs.items;
  S.cabins = cabins.items;
}

function resourcePanel(res) {
  const panel = h('section', { class: 'card' });
  const body = h('tbody');
  const empty = h('p', { class: 'muted', text: t('admin.none'), hidden: true });
  const form = h('form', { id: `${res.id}-form`, class: 'add-form', novalidate: true },
    h('h3', { text: t('admin.add') }),
    h('div', { class: 'form-grid' }, res.fields.map((f) => fieldEl(res.id, f))),
    alertBox(),
    h('button', { type: 'submit', class: 'btn primary', text: t('admin.add') }));
  const note = h('p', { class: 'form-ok', role: 'status', hidden: true });

  async function load() {
    const rows = (await get(`/api/v1/${res.id}${res.query ? res.query() : ''}`)).items;
    empty.hidden = rows.length > 0;
    body.replaceChildren(...rows.map((row) => h('tr', { dataset: { id: row.id } },
      res.cols.map(([key, , fmt], i) => h(i === 0 ? 'th' : 'td', i === 0 ? { scope: 'row' } : {},
        fmt ? fmt(row[key]) : String(row[key] ?? ''))),
      res.toggle ? h('td', {}, h('span', { class: `badge ${row.active ? 'status-COMPLETED' : 'status-CANCELLED'}`,
        text: row.active ? t('admin.active') : t('admin.deactivate') })) : null,
      res.toggle ? h('td', {}, h('button', { type: 'button', class: 'btn small',
        text: row.active ? t('admin.deactivate') : t('admin.activate'),
        'aria-label': `${row.active ? t('admin.deactivate') : t('admin.activate')} ${row[res.cols[0][0]]}`,
        on: { click: (ev) => toggle(ev.currentTarget, row) } })) : null)));
  }

  async function toggle(button, row) {
    try {
      await action(button, (key) => request('PATCH', `/api/v1/${res.id}/${row.id}`,
        { body: { active: !row.active }, key }));
      await refreshLookups();
      await load();
    } catch (err) {
      note.hidden = true;
      showErrors(form, err);
    }
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    note.hidden = true;
    try {
      const row = await action(form.querySelector('button[type=submit]'),
        (key) => post(`/api/v1/${res.id}`, formData(form), { key }));
      if (!row) return;
      form.reset();
      note.textContent = t('admin.created');
      note.hidden = false;
      await refreshLookups();
      await load();
      refreshForms();
    } catch (err) {
      showErrors(form, err);
    }
  });

  panel.append(
    h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, res.cols.map(([, label]) => h('th', { scope: 'col', text: t(label) })),
        res.toggle ? [h('th', { scope: 'col', text: t('admin.col.status') }),
                      h('th', { scope: 'col', text: t('admin.col.actions') })] : null)),
      body)),
    empty, note, form);
  panel.load = load;
  panel.refreshForm = () => {
    const fresh = h('div', { class: 'form-grid' }, res.fields.map((f) => fieldEl(res.id, f)));
    form.querySelector('.form-grid').replaceWith(fresh);
  };
  return panel;
}

// ------------------------------------------------------------------ displays

function displaysPanel() {
  const panel = h('section', { class: 'card' });
  const body = h('tbody');
  const created = h('div', { class: 'key-once', role: 'status', hidden: true });
  const form = h('form', { id: 'displays-form', class: 'add-form', novalidate: true },
    h('h3', { text: t('admin.add') }),
    h('div', { class: 'form-grid' },
      fieldEl('displays', { name: 'department_id', label: 'admin.col.department', options: deptOptions, required: true }),
      fieldEl('displays', { name: 'name', label: 'admin.col.name', required: true, value: 'Waiting room TV' })),
    alertBox(),
    h('button', { type: 'submit', class: 'btn primary', text: t('admin.add') }));

  async function load() {
    const rows = (await get('/api/v1/displays')).items;
    body.replaceChildren(...rows.map((row) => h('tr', {},
      h('th', { scope: 'row', text: row.name }),
      h('td', { text: deptName(row.department_id) }),
      h('td', {}, h('code', { text: `${row.key_prefix}…` })),
      h('td', {}, h('span', { class: `badge ${row.revoked_at ? 'status-CANCELLED' : 'status-COMPLETED'}`,
        text: row.revoked_at ? t('admin.revoked') : t('admin.active') })),
      h('td', {}, row.revoked_at ? null : h('button', { type: 'button', class: 'btn small danger',
        text: t('admin.revoke'), 'aria-label': `${t('admin.revoke')} ${row.name}`,
        on: { click: (ev) => revoke(ev.currentTarget, row) } })))));
  }

  async function revoke(button, row) {
    if (!window.confirm(t('admin.confirmRevoke', { name: row.name }))) return;
    try {
      await action(button, (key) => request('DELETE', `/api/v1/displays/${row.id}`, { key }));
      await load();
    } catch (err) { showErrors(form, err); }
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    try {
      const res = await action(form.querySelector('button[type=submit]'),
        (key) => post('/api/v1/displays', formData(form), { key }));
      if (!res) return;
      created.replaceChildren(
        h('p', { class: 'form-ok', text: t('admin.keyOnce') }),
        h('div', { class: 'field' }, h('label', { for: 'new-key', text: t('admin.key') }),
          h('input', { id: 'new-key', readonly: true, value: res.key })),
        h('div', { class: 'field' }, h('label', { for: 'new-url', text: t('admin.boardUrl') }),
          h('input', { id: 'new-url', readonly: true, value: res.board_url })),
        // the TV's browser: full screen, and sound without anyone tapping it (README, kiosk)
        h('div', { class: 'field' }, h('label', { for: 'new-kiosk', text: t('admin.kioskCommand') }),
          h('input', { id: 'new-kiosk', readonly: true,
            value: `chromium --kiosk --noerrdialogs --autoplay-policy=no-user-gesture-required '${res.board_url}'` })),
        h('a', { class: 'btn', href: res.board_url, target: '_blank', rel: 'noopener', text: t('admin.open') }));
      created.hidden = false;
      form.reset();
      $('#new-url', created).select();
      await load();
    } catch (err) { showErrors(form, err); }
  });

  panel.append(
    h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['admin.col.name', 'admin.col.department', 'admin.col.prefix',
        'admin.col.status', 'admin.col.actions'].map((k) => h('th', { scope: 'col', text: t(k) })))),
      body)),
    created, form);
  panel.load = load;
  return panel;
}

// ------------------------------------------------------------------ leave

function leavePanel() {
  const panel = h('section', { class: 'card' });
  const note = h('p', { class: 'form-ok', role: 'status', hidden: true });
  const start = new Date();
  start.setMinutes(0, 0, 0);
  const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  const form = h('form', { id: 'leave-form', novalidate: true },
    h('div', { class: 'form-grid' },
      fieldEl('leave', { name: 'doctor', label: 'admin.col.doctor', options: doctorOptions, required: true }),
      fieldEl('leave', { name: 'start', label: 'admin.col.start', type: 'datetime-local', value: local(start), required: true }),
      fieldEl('leave', { name: 'end', label: 'admin.col.end', type: 'datetime-local',
                         value: local(new Date(start.getTime() + 8 * 3600000)), required: true }),
      fieldEl('leave', { name: 'kind', label: 'admin.col.kind',
                         options: () => ['LEAVE', 'UNPLANNED_LEAVE', 'TRAINING', 'SURGERY'].map((k) => [k, k]) }),
      fieldEl('leave', { name: 'reason', label: 'admin.col.reason', required: true })),
    alertBox(),
    h('button', { type: 'submit', class: 'btn primary', text: t('admin.save') }));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    note.hidden = true;
    const v = formData(form);
    const body = { reason: v.reason || '', kind: v.kind,
                   start: v.start ? new Date(v.start).toISOString() : '',
                   end: v.end ? new Date(v.end).toISOString() : '' };
    try {
      const res = await action(form.querySelector('button[type=submit]'),
        (key) => post(`/api/v1/doctors/${v.doctor}/leave`, body, { key }));
      if (!res) return;
      note.textContent = t('admin.leaveResult', { moved: res.moved.length, rescheduled: res.rescheduled.length });
      note.hidden = false;
    } catch (err) { showErrors(form, err); }
  });
  panel.append(form, note);
  panel.load = async () => {};
  return panel;
}

// ------------------------------------------------------------------ dashboard

function dashboardPanel() {
  const panel = h('section', { class: 'dash' });
  async function load() {
    const d = await get('/api/v1/dashboard/today');
    const min = (v) => (v === null || v === undefined ? '—' : duration(v));
    const pct = (v) => (v === null || v === undefined ? '—' : `${Math.round(v * 100)}%`);
    const tot = d.totals;
    const names = d.doctors.map((r) => r.name);
    const tiles = [
      ['dash.waiting', tot.waiting], ['dash.completed', tot.completed],
      ['dash.avgWait', min(tot.avg_wait_min)], ['dash.avgConsult', min(tot.avg_consult_min)],
      ['dash.noShowRate', pct(tot.no_show_rate)],
    ];
    const chartCard = (title, svg, extra) => h('figure', { class: 'card chart-card' },
      h('figcaption', { text: title }), svg, extra || null);
    panel.replaceChildren(
      h('p', { class: 'muted' }, `${d.date} · `,
        h('button', { type: 'button', class: 'btn small', text: t('admin.refresh'), on: { click: load } })),
      h('div', { class: 'tiles' }, tiles.map(([k, v]) => h('div', { class: 'tile' },
        h('p', { class: 'tile-label', text: t(k) }), h('p', { class: 'tile-value', text: String(v) })))),
      h('div', { class: 'charts' },
        chartCard(t('dash.queueChart'), barChart({
          labels: names, series: [{ name: t('dash.col.waiting'), values: d.doctors.map((r) => r.waiting) }],
          format: String, summary: `${t('dash.queueChart')}: ${d.doctors.map((r) => `${r.name} ${r.waiting}`).join(', ')}`,
        })),
        chartCard(t('dash.timesChart'), barChart({
          labels: names,
          series: [{ name: t('dash.legend.wait'), values: d.doctors.map((r) => r.avg_wait_min) },
                   { name: t('dash.legend.consult'), values: d.doctors.map((r) => r.avg_consult_min) }],
          format: (v) => `${v}`, summary: t('dash.timesChart'),
        }), legend([t('dash.legend.wait'), t('dash.legend.consult')])),
        chartCard(t('dash.noShowChart'), barChart({
          labels: names, series: [{ name: t('dash.col.rate'), values: d.doctors.map((r) => r.no_show_rate), color: COLORS[1] }],
          format: pct, summary: t('dash.noShowChart'),
        })),
        chartCard(t('dash.hourChart'), hourChart({ hours: d.hours, summary: t('dash.hourChart') }))),
      h('section', { class: 'card' }, h('h2', { text: t('dash.table') }),
        h('div', { class: 'table-wrap' }, h('table', {},
          h('thead', {}, h('tr', {}, [['dash.col.doctor', ''], ['admin.col.department', ''],
            ['dash.col.waiting', 'num'], ['dash.col.completed', 'num'], ['dash.col.noShow', 'num'],
            ['dash.col.avgWait', 'num'], ['dash.col.avgConsult', 'num'], ['dash.col.rate', 'num']]
            .map(([k, cls]) => h('th', { scope: 'col', class: cls || null, text: t(k) })))),
          h('tbody', {}, d.doctors.map((r) => h('tr', {},
            h('th', { scope: 'row', text: r.name }), h('td', { text: r.department }),
            h('td', { class: 'num', text: r.waiting }), h('td', { class: 'num', text: r.completed }),
            h('td', { class: 'num', text: r.no_show }), h('td', { class: 'num', text: min(r.avg_wait_min) }),
            h('td', { class: 'num', text: min(r.avg_consult_min) }),
            h('td', { class: 'num', text: pct(r.no_show_rate) }))))))));
  }
  panel.load = load;
  return panel;
}

// ------------------------------------------------------------------ tabs

const TABS = ['dashboard', 'reports', 'departments', 'cabins', 'doctors', 'shifts', 'users', 'displays',
  'leave', 'messages', 'summaries', 'settings', 'audit', 'integrations'];
const MORE_PANELS = { settings: settingsPanel, audit: auditPanel, summaries: summariesPanel,
  integrations: integrationsPanel };
const panels = {};

function buildTabs() {
  const nav = $('.tabs');
  for (const id of TABS) {
    nav.append(h('button', { type: 'button', role: 'tab', id: `tab-${id}`, 'aria-controls': `panel-${id}`,
      'aria-selected': 'false', tabindex: '-1', text: t(`admin.tab.${id}`),
      on: { click: () => selectTab(id), keydown: tabKeys } }));
    panels[id] = MORE_PANELS[id] ? MORE_PANELS[id]()
      : id === 'messages' ? messagesPanel()
      : id === 'reports' ? reportsPanel()
      : id === 'dashboard' ? dashboardPanel()
      : id === 'displays' ? displaysPanel()
        : id === 'leave' ? leavePanel()
          : resourcePanel(RESOURCES.find((r) => r.id === id));
    $('#panels').append(h('div', { role: 'tabpanel', id: `panel-${id}`, 'aria-labelledby': `tab-${id}`,
      hidden: true, tabindex: '0' }, h('h2', { class: 'panel-title', text: t(`admin.tab.${id}`) }), panels[id]));
  }
}

function tabKeys(ev) {
  const i = TABS.indexOf(S.tab);
  const go = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: TABS.length - 1 }[ev.key];
  if (go === undefined) return;
  ev.preventDefault();
  selectTab(TABS[(go + TABS.length) % TABS.length]);
  $(`#tab-${S.tab}`).focus();
}

async function selectTab(id) {
  S.tab = TABS.includes(id) ? id : 'dashboard';
  if (location.hash !== `#${S.tab}`) history.replaceState(null, '', `#${S.tab}`);
  for (const tab of TABS) {
    const on = tab === S.tab;
    $(`#tab-${tab}`).setAttribute('aria-selected', String(on));
    $(`#tab-${tab}`).tabIndex = on ? 0 : -1;
    $(`#panel-${tab}`).hidden = !on;
  }
  try { await panels[S.tab].load(); } catch (err) { alertToast(describe(err)); }
}

function refreshForms() {
  for (const p of Object.values(panels)) p.refreshForm?.();
}

function alertToast(text) {
  const el = h('p', { class: 'toast error', role: 'alert', text });
  document.body.append(el);
  setTimeout(() => el.remove(), 6000);
}

async function enter() {
  $('#logout').hidden = false;
  $('#who').textContent = `${S.me.user.username} · ${S.me.hospital?.name || ''}`;
  await refreshLookups();
  showView('admin');
  if (!S.alertStrip) S.alertStrip = startAlertStrip($('#alert-strip'));
  $$('.tabs [role=tab]').forEach((el) => el.remove());
  $('#panels').replaceChildren();
  buildTabs();
  await selectTab(location.hash.slice(1) || 'dashboard');
}

async function main() {
  applyI18n();
  langSwitch($('#lang'), () => { if (S.me) enter(); }, STAFF_LANGUAGES);
  $('#logout').addEventListener('click', async () => { await logout(); location.reload(); });
  setInterval(() => { if (S.tab === 'dashboard' && panels.dashboard && !document.hidden) panels.dashboard.load().catch(() => {}); }, DASH_REFRESH_MS);
  S.me = await currentUser();
  if (!S.me || S.me.user.role !== 'admin') {
    showView('login');
    S.me = await loginForm($('#login'), { roles: ['admin'], title: 'admin.title' });
  }
  await enter();
}

main().catch((err) => alertToast(describe(err)));
