// The desk's day: every token of today in one table, kept live by /ws/desk.
//
// Built for a busy morning (300+ tokens): each token's row is built once and then updated in
// place, cell by cell; filtering only toggles `hidden` on rows whose visibility changes, with
// the search keys precomputed per row. The buttons of a row come from the token's
// `allowed_actions` (the server's lifecycle rules), never from a table of our own; a status
// change re-reads that one token (GET /api/v1/tokens/{id}) because its actions changed.
// No polling: a timer only re-renders the "waited" minutes from what the server said.

import { get } from '../js/api.js';
import { fill, h } from '../js/dom.js';
import { duration, etaRange, t } from '../js/i18n.js';
import { matches, parseQuery, searchKeys } from './match.js';

export const OPEN = new Set(['BOOKED', 'WAITING', 'CALLED', 'IN_CONSULTATION']);
const STATUSES = ['BOOKED', 'WAITING', 'CALLED', 'IN_CONSULTATION', 'COMPLETED', 'NO_SHOW',
                  'CANCELLED', 'RESCHEDULED'];
/** The actions the desk offers as one-click buttons, in this order, when allowed. */
export const DESK_ACTIONS = ['check-in', 'reinstate', 'recall', 'start', 'complete', 'skip',
                             'no-show', 'cancel'];
const WAITING_CLOCK = new Set(['WAITING', 'CALLED']);   // their wait is still growing
const TICK_MS = 60000;
const FETCH_BATCH_MS = 30;

export class DayList {
  /**
   * @param {object} o
   * @param {HTMLTableSectionElement} o.tbody
   * @param {HTMLElement} o.count   "12 of 40 shown"
   * @param {HTMLElement} o.empty   shown when no row matches
   * @param {{q: HTMLInputElement, department: HTMLSelectElement, doctor: HTMLSelectElement,
   *          status: HTMLSelectElement}} o.filters
   * @param {(id: string) => string} o.departmentName
   * @param {(tok: object, action: string, button: HTMLButtonElement) => void} o.onAction
   * @param {(tok: object, button: HTMLButtonElement) => void} o.onPrint
   * @param {(patientId: string) => void} o.onPatient
   * @param {(tok: object) => void} [o.onToken]  any full token read (the patient card listens)
   */
  constructor(o) {
    this.o = o;
    this.rows = new Map();
    this.date = null;
    this.query = null;
    this.pending = new Set();
    this.flushTimer = null;
    this.lastFilter = { q: '', department: '', doctor: '', status: '' };
    const f = o.filters;
    f.q.addEventListener('input', () => this.filter());
    for (const el of [f.department, f.doctor, f.status]) {
      el.addEventListener('change', () => this.filter());
    }
    setInterval(() => this.tick(), TICK_MS);
  }

  // ---------------------------------------------------------------- data in

  /** A snapshot (first connect, or a resume the server could not replay): replace all. */
  setAll(items, date) {
    this.date = date || this.date;
    this.rows.clear();
    const frag = document.createDocumentFragment();
    for (const tok of items) {
      const row = this.build(tok);
      this.rows.set(tok.id, row);
      frag.append(row.tr);
    }
    this.o.tbody.replaceChildren(frag);
    this.filter(true);
  }

  /** A full staff token (from GET /tokens/{id}, or after an action): add or update its row. */
  upsert(tok) {
    if (this.date && tok.service_date && tok.service_date !== this.date) return;
    let row = this.rows.get(tok.id);
    if (row) {
      row.tok = tok;
      row.at = Date.now();
      row.keys = searchKeys(tok);
      this.render(row);
    } else {
      row = this.build(tok);
      this.rows.set(tok.id, row);
      this.insert(row);
    }
    this.show(row);
    this.count();
    this.o.onToken?.(tok);
  }

  get(id) { return this.rows.get(id)?.tok; }

  /** A patient's details changed (an edit at the desk): re-read their rows. */
  refreshPatient(patientId) {
    for (const row of this.rows.values()) {
      if (row.tok.patient?.id === patientId) this.need(row.tok.id);
    }
  }

  /** One websocket message (the protocol of /ws/desk, API.md). */
  apply(msg) {
    const data = msg.data || {};
    switch (msg.type) {
      case 'snapshot':
        this.setAll(data.items || [], data.date);
        break;
      case 'token.created':
        if (data.token?.id) this.need(data.token.id);
        break;
      case 'token.updated':
      case 'token.called':
        if (data.token?.id) this.liveToken(data.token);
        break;
      case 'queue.updated':
        this.queue(data);
        break;
      default:
        break;
    }
  }

  /** A public live token: its status shows at once; the full token (actions) follows. */
  liveToken(live) {
    const row = this.rows.get(live.id);
    if (!row) { this.need(live.id); return; }
    const changed = live.status !== row.tok.status || (live.doctor_id || null) !== (row.tok.doctor_id || null)
      || (live.priority && live.priority !== row.tok.priority);
    if (!changed) return;
    row.tok = { ...row.tok, status: live.status, doctor_id: live.doctor_id ?? row.tok.doctor_id,
                cabin: live.cabin ?? row.tok.cabin,
                position: live.status === 'WAITING' ? row.tok.position : null,
                allowed_actions: [] };  // until the server says what is allowed now
    this.render(row);
    this.show(row);
    this.count();
    this.need(live.id);
  }

  /** A doctor's waiting list with positions and ETAs: update those rows in place. */
  queue(data) {
    const seen = new Set();
    for (const w of data.waiting || []) {
      seen.add(w.id);
      const row = this.rows.get(w.id);
      if (!row) { this.need(w.id); continue; }
      const eta = w.eta || null;
      const was = row.tok;
      if (was.position === w.position && was.eta?.p50_min === eta?.p50_min
          && was.eta?.p90_min === eta?.p90_min && was.status === 'WAITING') continue;
      if (was.status !== 'WAITING') this.need(w.id);
      row.tok = { ...was, position: w.position, eta: eta ? { ...was.eta, ...eta } : null,
                  doctor_id: data.doctor_id || was.doctor_id };
      this.render(row);
    }
    for (const row of this.rows.values()) {
      if (row.tok.doctor_id === data.doctor_id && row.tok.status === 'WAITING'
          && !seen.has(row.tok.id) && row.tok.position !== null) {
        row.tok = { ...row.tok, position: null };
        this.render(row);
        this.need(row.tok.id);
      }
    }
  }

  /** Read these tokens once more (batched: a burst of events gives one read per token). */
  need(id) {
    this.pending.add(id);
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => this.flush(), FETCH_BATCH_MS);
  }

  async flush() {
    this.flushTimer = null;
    const ids = [...this.pending];
    this.pending.clear();
    await Promise.all(ids.map(async (id) => {
      try {
        this.upsert(await get(`/api/v1/tokens/${id}`));
      } catch (err) {
        console.warn('desk: could not read a token', err?.status);
      }
    }));
  }

  // ---------------------------------------------------------------- rows

  build(tok) {
    const cells = {
      token: h('td', { class: 'tok-cell' }),
      patient: h('td'),
      where: h('td'),
      status: h('td'),
      position: h('td', { class: 'num' }),
      eta: h('td', { class: 'num' }),
      waited: h('td', { class: 'num' }),
      actions: h('td', { class: 'actions' }),
    };
    const tr = h('tr', { dataset: { token: tok.id } }, Object.values(cells));
    const row = { tok, tr, cells, keys: searchKeys(tok), at: Date.now(), visible: true,
                  drawn: {} };
    this.render(row);
    return row;
  }

  /** Put a new row where it belongs: newest first. */
  insert(row) {
    const created = row.tok.created_at || '';
    for (const other of this.o.tbody.children) {
      const tok = this.rows.get(other.dataset.token)?.tok;
      if (tok && (tok.created_at || '') <= created) { other.before(row.tr); return; }
    }
    this.o.tbody.append(row.tr);
  }

  /** Write the row's cells from its token, touching only what changed. */
  render(row) {
    const tok = row.tok;
    const d = row.drawn;
    const set = (name, key, draw) => {
      if (d[name] === key) return;
      d[name] = key;
      draw(row.cells[name]);
    };
    const prio = tok.booking_type === 'EMERGENCY' ? 3 : tok.priority;
    row.tr.classList.toggle('prio-3', prio === 3);
    row.tr.classList.toggle('prio-2', prio === 2);
    const r = tok.risk;
    const riskKey = r?.badge ? `${r.score}|${r.tier}|${(r.factors || []).join(';')}|${row.riskOpen}` : '';
    set('token', `${tok.number}|${prio}|${tok.reinstated}|${tok.late_count}|${riskKey}`, (td) => fill(td,
      h('span', { class: 'tok', text: tok.number }),
      prio >= 2 ? h('span', { class: `badge prio-${prio}`, text: t(`prio.${prio}`) }) : null,
      tok.reinstated ? h('span', { class: 'badge note', text: t('desk.reinstated') }) : null,
      tok.late_count ? h('span', { class: 'badge note', text: t('desk.late', { n: tok.late_count }) }) : null,
      r?.badge ? this.riskBadge(row) : null));
    const p = tok.patient || {};
    set('patient', `${p.id}|${p.name}|${p.phone}`, (td) => fill(td,
      h('button', { type: 'button', class: 'linkish', text: p.name || p.display_name || '—',
                    on: { click: () => this.o.onPatient(p.id) } }),
      p.phone ? h('span', { class: 'phone', text: p.phone }) : null));
    set('where', `${tok.department_id}|${tok.doctor_name}|${tok.cabin}`, (td) => {
      td.textContent = [this.o.departmentName(tok.department_id), tok.doctor_name,
                        tok.cabin].filter(Boolean).join(' · ');
    });
    set('status', tok.status, (td) => fill(td,
      h('span', { class: `badge status status-${tok.status}`, text: t(`status.${tok.status}`) })));
    const pos = tok.status === 'WAITING' && tok.position ? String(tok.position) : '';
    set('position', pos, (td) => { td.textContent = pos; });
    const eta = tok.status === 'WAITING' ? etaRange(tok.eta) : '';
    set('eta', eta, (td) => { td.textContent = eta; });
    this.renderWaited(row);
    const actions = (tok.allowed_actions || []).filter((a) => DESK_ACTIONS.includes(a));
    const printable = OPEN.has(tok.status);
    set('actions', `${tok.status}|${actions.join()}|${printable}`, (td) => fill(td,
      ...DESK_ACTIONS.filter((a) => actions.includes(a)).map((a) => h('button', {
        type: 'button', class: `btn small act-${a}`, text: t(`desk.action.${a}`),
        'aria-label': `${t(`desk.action.${a}`)} ${tok.number}`,
        on: { click: (ev) => this.o.onAction(row.tok, a, ev.currentTarget) } })),
      printable ? h('button', { type: 'button', class: 'btn small', text: t('desk.action.print'),
        'aria-label': `${t('reception.print')} ${tok.number}`,
        on: { click: (ev) => this.o.onPrint(row.tok, ev.currentTarget) } }) : null));
  }

  /** "likely to miss: 32%" with the tier as five dots (as on the doctor's console); a tap
   *  shows (or hides) the top factors the score rests on. Staff tokens only carry `risk`. */
  riskBadge(row) {
    const r = row.tok.risk;
    const tier = Math.max(0, Math.min(5, r.tier || 0));
    const factors = r.factors?.length ? r.factors.slice(0, 3) : [t('doctor.riskNoFactors')];
    return h('span', { class: 'risk' },
      h('button', {
        type: 'button', class: `badge risk-${r.badge.toLowerCase()} risk-btn`,
        'aria-expanded': String(!!row.riskOpen), title: t('doctor.riskWhy'),
        dataset: { testid: 'risk', tier: String(tier) },
        on: { click: () => { row.riskOpen = !row.riskOpen; this.render(row); } },
      }, t('doctor.riskMiss', { pct: r.score }),
      h('span', { class: 'risk-tier', 'aria-hidden': 'true',
                  text: '●'.repeat(tier) + '○'.repeat(5 - tier) })),
      row.riskOpen ? h('ul', { class: 'risk-factors', dataset: { testid: 'risk-factors' } },
        ...factors.map((f) => h('li', { text: f }))) : null);
  }

  renderWaited(row) {
    const tok = row.tok;
    let min = tok.waited_min;
    if (min !== null && min !== undefined && WAITING_CLOCK.has(tok.status)) {
      min += Math.floor((Date.now() - row.at) / 60000);
    }
    const text = min === null || min === undefined ? '' : duration(min);
    if (row.drawn.waited !== text) {
      row.drawn.waited = text;
      row.cells.waited.textContent = text;
    }
  }

  tick() {
    for (const row of this.rows.values()) {
      if (WAITING_CLOCK.has(row.tok.status)) this.renderWaited(row);
    }
  }

  /** Re-draw every row (the language changed). */
  redraw() {
    for (const row of this.rows.values()) {
      row.drawn = {};
      this.render(row);
    }
    this.count();
  }

  // ---------------------------------------------------------------- filter

  /** Show the rows the filters select; only rows whose visibility changes are touched. */
  filter(force = false) {
    const f = this.o.filters;
    const now = { q: f.q.value, department: f.department.value, doctor: f.doctor.value,
                  status: f.status.value };
    if (!force && Object.keys(now).every((k) => now[k] === this.lastFilter[k])) return;
    this.lastFilter = now;
    this.query = parseQuery(now.q);
    for (const row of this.rows.values()) this.show(row);
    this.count();
  }

  wanted(tok) {
    const f = this.lastFilter;
    if (f.department && tok.department_id !== f.department) return false;
    if (f.doctor && tok.doctor_id !== f.doctor) return false;
    if (f.status === 'open' && !OPEN.has(tok.status)) return false;
    if (f.status && f.status !== 'open' && tok.status !== f.status) return false;
    return true;
  }

  show(row) {
    const visible = this.wanted(row.tok) && matches(row.keys, this.query);
    if (visible !== row.visible) {
      row.visible = visible;
      row.tr.hidden = !visible;
    }
  }

  count() {
    let n = 0;
    for (const row of this.rows.values()) if (row.visible) n += 1;
    this.o.count.textContent = t('desk.shown', { n, total: this.rows.size });
    this.o.empty.hidden = n > 0;
  }

  /** Fill the filter selects (departments and doctors of the hospital). */
  static fillFilters(filters, departments, doctors) {
    const keepDep = filters.department.value;
    filters.department.replaceChildren(h('option', { value: '', text: t('desk.filter.all') }),
      ...departments.map((d) => h('option', { value: d.id, text: d.name })));
    filters.department.value = keepDep;
    const keepDoc = filters.doctor.value;
    filters.doctor.replaceChildren(h('option', { value: '', text: t('desk.filter.all') }),
      ...doctors.filter((d) => !keepDep || d.department_id === keepDep)
        .map((d) => h('option', { value: d.id, text: d.name })));
    filters.doctor.value = [...filters.doctor.options].some((o) => o.value === keepDoc) ? keepDoc : '';
    const keepStatus = filters.status.value;
    filters.status.replaceChildren(h('option', { value: '', text: t('desk.filter.all') }),
      h('option', { value: 'open', text: t('desk.filter.open') }),
      ...STATUSES.map((s) => h('option', { value: s, text: t(`status.${s}`) })));
    filters.status.value = keepStatus;
  }
}
