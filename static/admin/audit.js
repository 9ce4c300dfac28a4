// The Audit tab: who did what and when (GET /api/v1/audit): setup changes and token history,
// filtered by days, person, kind of record and action; "Show more" follows the cursor; the
// same rows as a CSV download. And the Summaries tab: the admins' daily summaries
// (GET /api/v1/daily-summaries), written each evening by the workers.

import { describe, get } from '../js/api.js';
import { h } from '../js/dom.js';
import { lang } from '../js/i18n.js';

const TEXT = {
  en: {
    from: 'From', to: 'To', who: 'Who', anyone: 'Anyone', what: 'Records', kind: 'Kind', any: 'Any',
    action: 'Action', show: 'Show', more: 'Show more', csv: 'Download CSV',
    sources: { all: 'Setup changes and tokens', setup: 'Setup changes', tokens: 'Token history' },
    none: 'Nothing was recorded for these filters.', zone: 'Times on the hospital\'s clock ({tz}).', system: 'system', patient: 'patient',
    apiKey: 'API key {name}',
    col: { at: 'When', who: 'Who', what: 'What', action: 'Action', details: 'Details' },
    summaries: 'Daily summaries', noSummary: 'No summary yet: the first is written this evening.',
    byModel: 'Written from the day\'s figures, worded by the language model.',
    byTemplate: 'Written from the day\'s figures.',
  },
  hi: { from: 'से', to: 'तक', show: 'दिखाएँ', more: 'और दिखाएँ', csv: 'CSV डाउनलोड' },
};

function tr(key, vars = {}) {
  const path = key.split('.');
  const pick = (d) => path.reduce((o, k) => (o ? o[k] : undefined), d);
  const raw = pick(TEXT[lang()]) ?? pick(TEXT.en) ?? key;
  return String(raw).replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

const isoDay = (d) => d.toLocaleDateString('en-CA');
const daysAgo = (n) => { const d = new Date(); d.setDate(d.getDate() - n); return isoDay(d); };
const ENTITIES = ['hospital', 'department', 'cabin', 'doctor', 'shift', 'user', 'display', 'api_key',
  'webhook', 'patient', 'alert', 'notification', 'token'];

let hospitalZone;   // times are shown on the hospital's clock, whatever the browser's

function when(iso) {
  const d = new Date(iso);
  const opts = { timeZone: hospitalZone };
  return `${d.toLocaleDateString('en-CA', opts)} ${d.toLocaleTimeString('en-GB',
    { ...opts, hour: '2-digit', minute: '2-digit' })}`;
}

function who(item) {
  const a = item.actor;
  if (a.username) return a.role ? `${a.username} (${a.role})` : a.username;
  if (a.api_key) return tr('apiKey', { name: a.api_key.name || '' });
  return tr(a.kind === 'patient' ? 'patient' : 'system');
}

function short(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** A change in words: "field: old → new", one per line. */
function details(item) {
  const c = item.changes || {};
  if (item.source === 'tokens') {
    const moves = c.from || c.to ? `${c.from || '—'} → ${c.to}` : '';
    return [moves, c.reason ? `“${c.reason}”` : ''].filter(Boolean).join(' · ');
  }
  return Object.entries(c).map(([k, v]) => (v && typeof v === 'object' && 'to' in v
    ? `${k}: ${short(v.from)} → ${short(v.to)}` : `${k}: ${short(v)}`)).join('\n');
}

export function auditPanel() {
  const panel = h('section', { class: 'card audit' });
  const from = h('input', { id: 'audit-from', type: 'date', value: daysAgo(7) });
  const to = h('input', { id: 'audit-to', type: 'date', value: daysAgo(0) });
  const source = h('select', { id: 'audit-source' },
    Object.keys(TEXT.en.sources).map((s) => h('option', { value: s, text: tr(`sources.${s}`) })));
  const actor = h('select', { id: 'audit-actor' });
  const entity = h('select', { id: 'audit-entity' }, h('option', { value: '', text: tr('any') }),
    ENTITIES.map((e) => h('option', { value: e, text: e })));
  const act = h('input', { id: 'audit-action', type: 'search', placeholder: 'update, cancel…', autocomplete: 'off', size: '12' });
  const csv = h('a', { class: 'btn', id: 'audit-csv', text: tr('csv'), download: '' });
  const note = h('p', { class: 'form-alert', role: 'alert', hidden: true });
  const body = h('tbody');
  const more = h('button', { type: 'button', class: 'btn', text: tr('more'), hidden: true, on: { click: () => load(next) } });
  const field = (el, label) => h('div', { class: 'field' }, h('label', { for: el.id, text: label }), el);
  const form = h('form', { class: 'filters', on: { submit: (ev) => { ev.preventDefault(); load(); } } },
    field(from, tr('from')), field(to, tr('to')), field(source, tr('what')), field(actor, tr('who')),
    field(entity, tr('kind')), field(act, tr('action')),
    h('button', { type: 'submit', class: 'btn primary', text: tr('show') }), csv);
  const cols = ['at', 'who', 'what', 'action', 'details'];
  const zoneNote = h('p', { class: 'hint' });
  panel.append(form, note, zoneNote, h('div', { class: 'table-wrap' }, h('table', { class: 'audit-table' },
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col', text: tr(`col.${c}`) })))), body)), more);
  let next = null;

  function query() {
    const q = new URLSearchParams({ source: source.value });
    if (from.value) q.set('from', from.value);
    if (to.value) q.set('to', to.value);
    if (actor.value) q.set('actor_id', actor.value);
    if (entity.value) q.set('entity', entity.value);
    if (act.value.trim()) q.set('action', act.value.trim().toLowerCase());
    return q;
  }

  function row(item) {
    const what = item.source === 'tokens' ? `token ${item.token_number || ''}` : item.entity;
    return h('tr', { dataset: { source: item.source } },
      h('td', { class: 'nowrap', text: when(item.at) }),
      h('td', { text: who(item) }),
      h('td', { text: what }),
      h('td', {}, h('span', { class: `badge act-${item.action}`, text: item.action })),
      h('td', { class: 'changes', text: details(item) }));
  }

  async function load(cursor = null) {
    note.hidden = true;
    const q = query();
    const csvQ = new URLSearchParams(q);
    csvQ.set('format', 'csv');
    csv.href = `/api/v1/audit?${csvQ}`;
    if (cursor) q.set('cursor', cursor);
    q.set('limit', '50');
    try {
      const page = await get(`/api/v1/audit?${q}`);
      const rows = page.items.map(row);
      if (cursor) body.append(...rows);
      else body.replaceChildren(...(rows.length ? rows : [h('tr', {}, h('td', { colspan: cols.length, text: tr('none') }))]));
      next = page.next_cursor;
      more.hidden = !next;
    } catch (err) {
      note.textContent = describe(err);
      note.hidden = false;
    }
  }

  panel.load = async () => {
    const chosen = actor.value;
    const [users, hospital] = await Promise.all([get('/api/v1/users'), get('/api/v1/hospital')]);
    hospitalZone = hospital.timezone;
    zoneNote.textContent = tr('zone', { tz: hospitalZone });
    actor.replaceChildren(h('option', { value: '', text: tr('anyone') }),
      ...users.items.map((u) => h('option', { value: u.id, text: `${u.username} (${u.role})` })));
    actor.value = chosen;
    await load();
  };
  return panel;
}

export function summariesPanel() {
  const panel = h('section', { class: 'summaries' });
  panel.load = async () => {
    const items = (await get('/api/v1/daily-summaries?limit=14')).items;
    panel.replaceChildren(...(items.length ? items.map((s) => h('article', { class: 'card summary' },
      h('h3', { text: new Date(`${s.date}T12:00:00`).toLocaleDateString(lang() === 'hi' ? 'hi-IN' : 'en-GB',
        { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' }) }),
      h('p', { class: 'summary-text', text: s.text }),
      h('p', { class: 'hint', text: tr(s.written_by === 'model' ? 'byModel' : 'byTemplate') })))
      : [h('p', { class: 'card', text: tr('noSummary') })]));
  };
  return panel;
}
