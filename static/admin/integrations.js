// The Integrations tab: API keys (GET/POST/DELETE /api/v1/api-keys; a new key is shown once,
// here, and never again) and outgoing webhooks (GET/POST/PATCH /api/v1/webhooks, with each
// subscription's recent deliveries from /api/v1/webhooks/{id}/deliveries). Admins logged in
// only: the API refuses these to API keys, so a leaked key cannot mint another.

import { describe, get, newKey, post, request } from '../js/api.js';
import { h } from '../js/dom.js';
import { lang } from '../js/i18n.js';

const EVENTS = ['token.created', 'token.called', 'token.updated', 'queue.updated', 'doctor.status'];
const ROLES = ['receptionist', 'admin'];

const TEXT = {
  en: {
    keys: 'API keys', keysHint: 'A key acts with its role\'s rights in this hospital. It is shown once, when created.',
    name: 'Name', role: 'Role', prefix: 'Key starts', created: 'Created', used: 'Last used', state: 'State',
    create: 'Create key', revoke: 'Revoke', revoked: 'revoked', active: 'active', never: 'never',
    shownOnce: 'Copy this key now: it will not be shown again.', confirmRevoke: 'Revoke the key “{name}”? Systems using it stop at once.',
    hooks: 'Webhooks', hooksHint: 'Events are POSTed to the URL, signed with the secret (docs/integrations.md).',
    url: 'URL', events: 'Events', subscribe: 'Subscribe', pause: 'Pause', resume: 'Resume',
    deliveries: 'Deliveries', hide: 'Hide', secretOnce: 'The signing secret, shown once:',
    noKeys: 'No API keys yet.', noHooks: 'No webhooks yet.', noDeliveries: 'No deliveries yet.',
    col: { event: 'Event', status: 'Status', attempts: 'Attempts', code: 'Answer', at: 'When' },
  },
  hi: { keys: 'API कुंजियाँ', hooks: 'वेबहुक', create: 'कुंजी बनाएँ', revoke: 'रद्द करें', subscribe: 'जोड़ें' },
};

function tr(key, vars = {}) {
  const path = key.split('.');
  const pick = (d) => path.reduce((o, k) => (o ? o[k] : undefined), d);
  const raw = pick(TEXT[lang()]) ?? pick(TEXT.en) ?? key;
  return String(raw).replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

const when = (iso) => (iso ? new Date(iso).toLocaleString('en-GB', { dateStyle: 'short', timeStyle: 'short' }) : tr('never'));
const field = (el, label) => h('div', { class: 'field' }, h('label', { for: el.id, text: label }), el);
const table = (cols, body) => h('div', { class: 'table-wrap' }, h('table', {},
  h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col', text: c })))), body));

function keysSection(note) {
  const name = h('input', { id: 'key-name', required: true, maxlength: '100', autocomplete: 'off' });
  const role = h('select', { id: 'key-role' }, ROLES.map((r) => h('option', { value: r, text: r })));
  const once = h('p', { class: 'shown-once', id: 'key-once', role: 'status', hidden: true });
  const body = h('tbody');
  const form = h('form', { class: 'filters', id: 'key-form', on: { submit: async (ev) => {
    ev.preventDefault();
    try {
      const made = await post('/api/v1/api-keys', { name: name.value.trim(), role: role.value }, { key: newKey() });
      once.replaceChildren(h('span', { text: tr('shownOnce') }), ' ', h('code', { class: 'secret', text: made.key }));
      once.hidden = false;
      name.value = '';
      await load();
    } catch (err) { note(err); }
  } } }, field(name, tr('name')), field(role, tr('role')),
  h('button', { type: 'submit', class: 'btn primary', text: tr('create') }));

  function row(k) {
    const revoke = h('button', { type: 'button', class: 'btn small danger', text: tr('revoke'), on: { click: async () => {
      if (!window.confirm(tr('confirmRevoke', { name: k.name }))) return;
      try { await request('DELETE', `/api/v1/api-keys/${k.id}`); await load(); } catch (err) { note(err); }
    } } });
    return h('tr', { dataset: { id: k.id } }, h('td', { text: k.name }), h('td', { text: k.role }),
      h('td', {}, h('code', { text: `${k.key_prefix}…` })), h('td', { text: when(k.created_at) }),
      h('td', { text: when(k.last_used_at) }),
      h('td', { text: k.revoked_at ? tr('revoked') : tr('active') }),
      h('td', {}, k.revoked_at ? '' : revoke));
  }

  async function load() {
    const items = (await get('/api/v1/api-keys')).items;
    body.replaceChildren(...(items.length ? items.map(row) : [h('tr', {}, h('td', { colspan: 7, text: tr('noKeys') }))]));
  }

  const section = h('section', { class: 'card', id: 'api-keys' }, h('h3', { text: tr('keys') }),
    h('p', { class: 'hint', text: tr('keysHint') }), form, once,
    table([tr('name'), tr('role'), tr('prefix'), tr('created'), tr('used'), tr('state'), ''], body));
  section.load = load;
  return section;
}

function hooksSection(note) {
  const url = h('input', { id: 'hook-url', type: 'url', required: true, placeholder: 'https://his.example.org/opdq', size: '40' });
  const boxes = EVENTS.map((e) => h('label', { class: 'check' },
    h('input', { type: 'checkbox', value: e, checked: e === 'token.called' }), ` ${e}`));
  const once = h('p', { class: 'shown-once', id: 'hook-once', role: 'status', hidden: true });
  const body = h('tbody');
  const form = h('form', { class: 'filters', id: 'hook-form', on: { submit: async (ev) => {
    ev.preventDefault();
    const events = boxes.map((b) => b.firstChild).filter((c) => c.checked).map((c) => c.value);
    try {
      const made = await post('/api/v1/webhooks', { url: url.value.trim(), events }, { key: newKey() });
      once.replaceChildren(h('span', { text: tr('secretOnce') }), ' ', h('code', { class: 'secret', text: made.secret }));
      once.hidden = false;
      url.value = '';
      await load();
    } catch (err) { note(err); }
  } } }, field(url, tr('url')), h('fieldset', { class: 'events' }, h('legend', { text: tr('events') }), boxes),
  h('button', { type: 'submit', class: 'btn primary', text: tr('subscribe') }));

  async function deliveries(sub, cell, button) {
    if (!cell.hidden) { cell.hidden = true; button.textContent = tr('deliveries'); return; }
    const items = (await get(`/api/v1/webhooks/${sub.id}/deliveries?limit=10`)).items;
    const rows = items.map((d) => h('tr', {}, h('td', { text: d.event_type }), h('td', { text: d.status }),
      h('td', { text: String(d.attempts) }), h('td', { text: d.response_code ?? d.error ?? '—' }),
      h('td', { text: when(d.delivered_at || d.last_attempt_at || d.created_at) })));
    cell.firstChild.replaceChildren(items.length
      ? table(Object.values(TEXT.en.col).map((_, i) => tr(`col.${Object.keys(TEXT.en.col)[i]}`)), h('tbody', {}, rows))
      : h('p', { class: 'hint', text: tr('noDeliveries') }));
    cell.hidden = false;
    button.textContent = tr('hide');
  }

  function rows(sub) {
    const paused = sub.status === 'PAUSED';
    const toggle = h('button', { type: 'button', class: 'btn small', text: tr(paused ? 'resume' : 'pause'), on: { click: async () => {
      try {
        await request('PATCH', `/api/v1/webhooks/${sub.id}`, { body: { status: paused ? 'ACTIVE' : 'PAUSED' } });
        await load();
      } catch (err) { note(err); }
    } } });
    const detail = h('tr', { class: 'deliveries', hidden: true }, h('td', { colspan: 4 }));
    const show = h('button', { type: 'button', class: 'btn small', text: tr('deliveries') });
    show.addEventListener('click', () => deliveries(sub, detail, show).catch(note));
    const status = sub.paused_reason ? `${sub.status} (${sub.paused_reason})` : sub.status;
    return [h('tr', { dataset: { id: sub.id } }, h('td', { class: 'url', text: sub.url }),
      h('td', { text: sub.events.join(', ') }), h('td', {}, h('span', { class: `badge hook-${sub.status}`, text: status })),
      h('td', { class: 'nowrap' }, toggle, ' ', show)), detail];
  }

  async function load() {
    const items = (await get('/api/v1/webhooks')).items;
    body.replaceChildren(...(items.length ? items.flatMap(rows) : [h('tr', {}, h('td', { colspan: 4, text: tr('noHooks') }))]));
  }

  const section = h('section', { class: 'card', id: 'webhooks' }, h('h3', { text: tr('hooks') }),
    h('p', { class: 'hint', text: tr('hooksHint') }), form, once,
    table([tr('url'), tr('events'), tr('state'), ''], body));
  section.load = load;
  return section;
}

export function integrationsPanel() {
  const alert = h('p', { class: 'form-alert', role: 'alert', hidden: true });
  const note = (err) => { alert.textContent = describe(err); alert.hidden = false; };
  const keys = keysSection(note);
  const hooks = hooksSection(note);
  const panel = h('div', { class: 'integrations' }, alert, keys, hooks);
  panel.load = async () => {
    alert.hidden = true;
    await Promise.all([keys.load(), hooks.load()]);
  };
  return panel;
}
