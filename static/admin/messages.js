// The Messages tab: what was sent to patients (GET /api/v1/notifications), filtered by day,
// status and token number; why a message failed, in words; a failed one can be sent again
// once (POST /api/v1/notifications/{id}/resend, audited).

import { action, describe, get, post } from '../js/api.js';
import { h, hhmm } from '../js/dom.js';
import { lang } from '../js/i18n.js';

const TEXT = {
  en: {
    date: 'Day', status: 'Status', token: 'Token number', any: 'Any', show: 'Show',
    none: 'No messages match.', resend: 'Resend', resent: 'Resent by {who}',
    notFound: 'No token {q} that day.', sentAgain: 'Sent again: it goes out within a minute.',
    col: { time: 'Time', token: 'Token', event: 'Message', channel: 'Channel', status: 'Status',
      why: 'Why it failed', tries: 'Tries', act: '' },
    events: { TOKEN_CREATED: 'Token issued', AHEAD: 'Turn is near', CALL_NOW: 'Called in',
      DELAY: 'Delay', CANCELLED: 'Cancelled', RESCHEDULED: 'Rescheduled',
      REMINDER_DAY_BEFORE: 'Reminder (day before)', REMINDER_2H: 'Reminder (2 h)',
      REMINDER_EXTRA: 'Extra reminder', WAITLIST_OFFER: 'Waitlist offer' },
  },
  hi: {
    date: 'दिन', status: 'स्थिति', token: 'टोकन नंबर', any: 'कोई भी', show: 'दिखाएँ',
    none: 'कोई संदेश नहीं।', resend: 'फिर भेजें', resent: '{who} ने फिर भेजा',
    notFound: 'उस दिन टोकन {q} नहीं मिला।', sentAgain: 'फिर भेजा गया: एक मिनट में जाएगा।',
  },
};

function tr(key, vars = {}) {
  const path = key.split('.');
  const pick = (d) => path.reduce((o, k) => (o ? o[k] : undefined), d);
  const raw = pick(TEXT[lang()]) ?? pick(TEXT.en) ?? key;
  return String(raw).replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

const STATUSES = ['FAILED', 'PENDING', 'SENT', 'DELIVERED', 'READ', 'SKIPPED'];
const today = () => new Date().toLocaleDateString('en-CA');

export function messagesPanel() {
  const panel = h('section', { class: 'card messages' });
  const day = h('input', { id: 'msg-date', type: 'date', value: today() });
  const status = h('select', { id: 'msg-status' },
    h('option', { value: '', text: tr('any') }), STATUSES.map((s) => h('option', { value: s, text: s })));
  const token = h('input', { id: 'msg-token', type: 'search', placeholder: 'CARD-045', autocomplete: 'off' });
  const note = h('p', { class: 'form-ok', role: 'status' });
  const body = h('tbody');
  const form = h('form', { class: 'filters', on: { submit: (ev) => { ev.preventDefault(); load(); } } },
    h('div', { class: 'field' }, h('label', { for: 'msg-date', text: tr('date') }), day),
    h('div', { class: 'field' }, h('label', { for: 'msg-status', text: tr('status') }), status),
    h('div', { class: 'field' }, h('label', { for: 'msg-token', text: tr('token') }), token),
    h('button', { type: 'submit', class: 'btn primary', text: tr('show') }));
  const cols = ['time', 'token', 'event', 'channel', 'status', 'why', 'tries', 'act'];
  panel.append(form, note, h('div', { class: 'table-wrap' }, h('table', { class: 'messages-table' },
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col', text: tr(`col.${c}`) })))), body)));

  function row(m) {
    const btn = m.can_resend ? h('button', { type: 'button', class: 'btn small', text: tr('resend'),
      on: { click: () => resend(m, btn) } }) : null;
    return h('tr', { dataset: { id: m.id } },
      h('td', { text: hhmm(new Date(m.created_at)) }),
      h('td', { text: m.token_number || '' }),
      h('td', { text: tr(`events.${m.event}`) }),
      h('td', { text: m.channel === 'WHATSAPP' ? 'WhatsApp' : 'SMS' }),
      h('td', {}, h('span', { class: `badge msg-${m.status.toLowerCase()}`, text: m.status })),
      h('td', { text: m.error || (m.resent_by ? tr('resent', { who: m.resent_by.username }) : '') }),
      h('td', { class: 'num', text: m.attempts }),
      h('td', {}, btn));
  }

  async function load() {
    note.textContent = '';
    const q = new URLSearchParams();
    if (status.value) q.set('status', status.value);
    const number = token.value.trim();
    if (number) {
      const found = (await get(`/api/v1/tokens?date=${day.value}&q=${encodeURIComponent(number)}`)).items;
      if (!found.length) {
        body.replaceChildren(h('tr', {}, h('td', { colspan: cols.length, text: tr('notFound', { q: number }) })));
        return;
      }
      q.set('token_id', found[0].id);
    } else {
      q.set('date', day.value);
    }
    const items = (await get(`/api/v1/notifications?${q}`)).items;
    body.replaceChildren(...(items.length ? items.map(row)
      : [h('tr', {}, h('td', { colspan: cols.length, text: tr('none') }))]));
  }

  async function resend(m, btn) {
    try {
      await action(btn, (key) => post(`/api/v1/notifications/${m.id}/resend`, undefined, { key }));
      await load();
      note.textContent = tr('sentAgain');
    } catch (err) {
      note.textContent = describe(err);
    }
  }

  panel.load = load;
  return panel;
}
