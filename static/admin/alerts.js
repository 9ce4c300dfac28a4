// The live alert strip of the admin page: open alerts from /ws/admin (a snapshot, then
// alert.raised / alert.resolved), each with a Resolve button; a BOTTLENECK with a suggested
// move gets a one-click button that transfers the suggested tokens (the existing
// POST /api/v1/tokens/{id}/transfer, one call per token). Sound is off until someone turns
// it on (the choice is kept in this browser): a chime per new alert, never on the snapshot.

import { action, describe, get, post } from '../js/api.js';
import { h, hhmm } from '../js/dom.js';
import { lang } from '../js/i18n.js';
import { Live } from '../js/live.js';
import { canPlay, chime } from '../js/sound.js';

const SOUND_KEY = 'opdq.alerts.sound';
const SHOWN = 6;           // more than this: the rest behind "show all"

const TEXT = {
  en: {
    title: 'Live alerts', none: 'No open alerts.', resolve: 'Resolve', soundOn: 'Sound on',
    soundOff: 'Sound off', more: 'Show all {n}', less: 'Show fewer', since: 'since {t}',
    moved: 'Moved {n} of {m}.', movedSome: 'Moved {n} of {m}; the others had moved on already.',
    LONG_WAIT: 'Long wait', BOTTLENECK: 'Bottleneck', DOCTOR_IDLE: 'Doctor idle',
    DOCTOR_LATE_START: 'Late start', MESSAGES_FAILING: 'Messages failing',
    NOTIFICATION_FAILED: 'Message failed', NOTIFICATION_REFUSED: 'Message refused',
    NOTIFICATION_UNCONFIRMED: 'Message not sent', LOGIN_THROTTLED: 'Login locked',
  },
  hi: {
    title: 'लाइव अलर्ट', none: 'कोई खुला अलर्ट नहीं।', resolve: 'हल करें', soundOn: 'आवाज़ चालू',
    soundOff: 'आवाज़ बंद', more: 'सभी {n} दिखाएँ', less: 'कम दिखाएँ', since: '{t} से',
    moved: '{m} में से {n} भेजे गए।', movedSome: '{m} में से {n} भेजे गए; बाकी पहले ही आगे बढ़ चुके थे।',
    LONG_WAIT: 'लंबा इंतज़ार', BOTTLENECK: 'भीड़', DOCTOR_IDLE: 'डॉक्टर खाली',
    DOCTOR_LATE_START: 'देर से शुरुआत', MESSAGES_FAILING: 'संदेश विफल',
  },
};

function tr(key, vars = {}) {
  const raw = TEXT[lang()]?.[key] ?? TEXT.en[key] ?? key;
  return raw.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

function soundWanted() {
  try { return localStorage.getItem(SOUND_KEY) === 'on'; } catch { return false; }
}

/** Start the strip in `root` (an empty element); returns { stop }. */
export function startAlertStrip(root) {
  const S = { alerts: new Map(), all: false, sound: soundWanted(), note: '' };
  const list = h('ul', { class: 'alert-list' });
  const count = h('span', { class: 'alert-count', 'aria-live': 'polite' });
  const soundBtn = h('button', { type: 'button', class: 'btn small', id: 'alert-sound',
    on: { click: toggleSound } });
  const note = h('p', { class: 'alert-note', role: 'status' });
  root.classList.add('alert-strip');
  root.setAttribute('role', 'region');
  root.setAttribute('aria-label', tr('title'));
  root.replaceChildren(h('div', { class: 'alert-head' },
    h('h2', { text: tr('title') }), count, h('span', { class: 'spacer' }), soundBtn), list, note);

  function toggleSound() {
    S.sound = !S.sound;
    try { localStorage.setItem(SOUND_KEY, S.sound ? 'on' : 'off'); } catch { /* blocked */ }
    if (S.sound) canPlay();   // a click is the gesture that unlocks audio
    render();
  }

  function sorted() {
    const rank = { CRITICAL: 0, WARNING: 1, INFO: 2 };
    return [...S.alerts.values()].sort((a, b) => (rank[a.severity] - rank[b.severity])
      || b.created_at.localeCompare(a.created_at));
  }

  function item(a) {
    const resolveBtn = h('button', { type: 'button', class: 'btn small', text: tr('resolve'),
      'aria-label': `${tr('resolve')}: ${a.message}`,
      on: { click: () => resolve(a, resolveBtn) } });
    const move = a.action && a.action.kind === 'transfer'
      ? h('button', { type: 'button', class: 'btn small primary', text: a.action.label,
        on: { click: (ev) => moveTokens(a, ev.currentTarget) } }) : null;
    return h('li', { class: `alert-item sev-${a.severity.toLowerCase()}`, dataset: { kind: a.kind, id: a.id } },
      h('span', { class: 'alert-kind', text: tr(a.kind) }),
      h('span', { class: 'alert-msg', text: a.message }),
      h('span', { class: 'alert-time', text: tr('since', { t: hhmm(new Date(a.created_at)) }) }),
      h('span', { class: 'alert-actions' }, move, resolveBtn));
  }

  function render() {
    const items = sorted();
    count.textContent = items.length ? String(items.length) : '';
    soundBtn.textContent = S.sound ? tr('soundOn') : tr('soundOff');
    soundBtn.setAttribute('aria-pressed', String(S.sound));
    const shown = S.all ? items : items.slice(0, SHOWN);
    const rows = items.length ? shown.map(item) : [h('li', { class: 'alert-none', text: tr('none') })];
    if (items.length > SHOWN) {
      rows.push(h('li', {}, h('button', { type: 'button', class: 'btn small link',
        text: S.all ? tr('less') : tr('more', { n: items.length }),
        on: { click: () => { S.all = !S.all; render(); } } })));
    }
    list.replaceChildren(...rows);
    root.classList.toggle('has-alerts', items.length > 0);
    note.textContent = S.note;
  }

  async function resolve(a, btn) {
    try {
      await action(btn, (key) => post(`/api/v1/alerts/${a.id}/resolve`, undefined, { key }));
      S.alerts.delete(a.id);
    } catch (err) {
      if (err.status === 409) S.alerts.delete(a.id);   // someone else resolved it
      else S.note = describe(err);
    }
    render();
  }

  async function moveTokens(a, btn) {
    await action(btn, async (key) => {
      // the worker refreshes the suggestion every minute: take the latest before moving
      const fresh = (await get('/api/v1/alerts?status=open&kind=BOTTLENECK')).items
        .find((x) => x.id === a.id)?.action || a.action;
      let moved = 0;
      for (const id of fresh.token_ids) {
        try {
          await post(`/api/v1/tokens/${id}/transfer`, { doctor_id: fresh.to_doctor_id },
            { key: `${key}-${id}` });
          moved += 1;
        } catch (err) {
          if (err.status !== 409) { S.note = describe(err); break; }
        }
      }
      const m = fresh.token_ids.length;
      S.note = moved === m ? tr('moved', { n: moved, m }) : tr('movedSome', { n: moved, m });
      render();
    });
  }

  function onMessage(msg) {
    if (msg.type === 'snapshot') {
      S.alerts = new Map(msg.data.items.map((a) => [a.id, a]));
    } else if (msg.type === 'alert.raised') {
      S.alerts.set(msg.data.alert.id, msg.data.alert);
      if (S.sound) chime();
    } else if (msg.type === 'alert.resolved') {
      S.alerts.delete(msg.data.alert.id);
    } else return;
    render();
  }

  render();
  const live = new Live({ path: () => '/ws/admin', onMessage, badgeParent: root }).start();
  return { stop: () => live.stop() };
}
