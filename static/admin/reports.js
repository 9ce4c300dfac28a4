// Administration → Reports: past days' figures (docs/reports.md), from the nightly metrics job.
//
// Data: GET /api/v1/reports/daily/summary (one row per day, for the trend charts) and
// GET /api/v1/reports/daily (a row per day x doctor, summed here per doctor for the table; the
// CSV link downloads the same rows). Charts are uPlot (static/vendor/uplot, MIT), drawn on a
// canvas that is resized with its card, so they fill a 1366 px laptop or a 1920 px projector.

import uPlot from '../vendor/uplot/uPlot.esm.js';
import { get } from '../js/api.js';
import { h } from '../js/dom.js';
import { lang } from '../js/i18n.js';

const STRINGS = {
  en: {
    range: 'Days', last: 'Last {n} days', custom: 'Custom', from: 'From', to: 'To',
    dept: 'Department', doctor: 'Doctor', all: 'All', apply: 'Show', csv: 'Download CSV',
    period: '{from} to {to} · computed nightly after each day closes',
    empty: 'No figures for these days yet. They are computed each night after the day closes.',
    tIssued: 'Tokens issued', tSeen: 'Patients seen', tNoShow: 'No-show rate',
    tWait: 'Typical wait (median of days)', tUtil: 'Utilisation', tLate: 'Late starts',
    cWait: 'Wait until called (min)', cVolume: 'Patients per day', cNoShow: 'No-show rate (%)',
    cUtil: 'Doctor utilisation (%)', cLate: 'Doctors starting late', p50: 'Median (p50)',
    p90: '9 in 10 called within (p90)', issued: 'Issued', seen: 'Seen', noShow: 'No-show',
    util: 'Utilisation', late: 'Late starts',
    table: 'Per doctor over these days', colDoctor: 'Doctor', colDept: 'Department',
    colDays: 'Days', colSeen: 'Seen', colNoShow: 'No-show rate', colWait: 'Avg wait',
    colP90: 'Avg p90 wait', colConsult: 'Avg consult', colUtil: 'Utilisation', colLate: 'Late starts',
    colOver: 'Overtime', colIdle: 'Idle',
    summary: '{title}: from {first} to {last}, {n} days; latest {latest}.',
  },
  hi: {
    range: 'दिन', last: 'पिछले {n} दिन', custom: 'अपनी तारीखें', from: 'से', to: 'तक',
    dept: 'विभाग', doctor: 'डॉक्टर', all: 'सभी', apply: 'दिखाएँ', csv: 'CSV डाउनलोड करें',
    period: '{from} से {to} · हर रात दिन बंद होने के बाद गणना',
    empty: 'इन दिनों के आँकड़े अभी नहीं हैं। हर रात दिन बंद होने के बाद बनते हैं।',
    tIssued: 'जारी टोकन', tSeen: 'देखे गए मरीज़', tNoShow: 'न आने की दर',
    tWait: 'सामान्य प्रतीक्षा (दिनों की माध्यिका)', tUtil: 'उपयोग', tLate: 'देर से शुरुआत',
    cWait: 'बुलाए जाने तक प्रतीक्षा (मिनट)', cVolume: 'प्रति दिन मरीज़', cNoShow: 'न आने की दर (%)',
    cUtil: 'डॉक्टर का उपयोग (%)', cLate: 'देर से शुरू करने वाले डॉक्टर', p50: 'माध्यिका (p50)',
    p90: '10 में 9 इतने में बुलाए गए (p90)', issued: 'जारी', seen: 'देखे गए', noShow: 'नहीं आए',
    util: 'उपयोग', late: 'देर से शुरुआत',
    table: 'इन दिनों में हर डॉक्टर', colDoctor: 'डॉक्टर', colDept: 'विभाग', colDays: 'दिन',
    colSeen: 'देखे गए', colNoShow: 'न आने की दर', colWait: 'औसत प्रतीक्षा', colP90: 'औसत p90 प्रतीक्षा',
    colConsult: 'औसत परामर्श', colUtil: 'उपयोग', colLate: 'देर से शुरुआत', colOver: 'ओवरटाइम',
    colIdle: 'खाली समय',
    summary: '{title}: {first} से {last}, {n} दिन; नवीनतम {latest}।',
  },
};

function tr(key, vars = {}) {
  const raw = STRINGS[lang()]?.[key] ?? STRINGS.en[key] ?? key;
  return raw.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

const COLORS = { blue: '#0b5cab', orange: '#b35c00', green: '#1b6e20', purple: '#6b2fb3', red: '#b3261e' };
const RANGES = [7, 30, 90];
const BIG = () => window.innerWidth >= 1700;          // a projector or a big screen
const CHART_H = () => (BIG() ? 320 : 230);

const iso = (d) => d.toISOString().slice(0, 10);
const addDays = (day, n) => { const d = new Date(`${day}T00:00:00Z`); d.setUTCDate(d.getUTCDate() + n); return iso(d); };
const localToday = () => new Date().toLocaleDateString('en-CA');
const pct = (v) => (v === null || v === undefined ? '—' : `${Math.round(v * 100)}%`);
const mins = (v) => (v === null || v === undefined ? '—' : `${Math.round(v)} min`);
const hours = (v) => (v ? `${(v / 60).toFixed(1)} h` : '0 h');
const sum = (xs) => xs.reduce((a, b) => a + (b || 0), 0);
const median = (xs) => {
  const s = xs.filter((x) => x !== null && x !== undefined).sort((a, b) => a - b);
  if (!s.length) return null;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
/** Mean of per-row values weighted by another field (rows without the value are skipped). */
const weighted = (rows, field, weight) => {
  const pairs = rows.filter((r) => r[field] !== null && weight(r) > 0);
  const w = sum(pairs.map(weight));
  return w ? sum(pairs.map((r) => r[field] * weight(r))) / w : null;
};

function query(f, extra = {}) {
  const p = new URLSearchParams({ from: f.from, to: f.to, ...extra });
  if (f.department) p.set('department_id', f.department);
  if (f.doctor) p.set('doctor_id', f.doctor);
  return p.toString();
}

async function allRows(f) {
  const rows = [];
  let cursor = null;
  do {
    const page = await get(`/api/v1/reports/daily?${query(f, cursor ? { cursor } : {})}`);
    rows.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return rows;
}

// ------------------------------------------------------------------ charts

function lineChart(card, { days, series, yFormat, yRange }) {
  const xs = days.map((d) => Date.parse(`${d.date}T00:00:00Z`) / 1000);
  const font = `${BIG() ? 17 : 14}px system-ui, sans-serif`;
  const axis = { font, stroke: '#374151', grid: { stroke: '#e5e7eb' }, ticks: { stroke: '#d4d9e1' } };
  const opts = {
    width: Math.max(280, card.clientWidth - 32), height: CHART_H(),
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
    cursor: { drag: { x: false, y: false } },
    legend: { live: false },   // a key of the lines; the table holds the numbers
    scales: { x: { time: true }, y: yRange ? { range: yRange } : { range: (u, lo, hi) => [0, Math.max(1, hi * 1.1)] } },
    axes: [{ ...axis, space: 80, size: BIG() ? 62 : 50 }, { ...axis, size: BIG() ? 66 : 56, values: (u, ticks) => ticks.map(yFormat) }],
    series: [{ value: (u, ts) => (ts ? new Date(ts * 1000).toISOString().slice(0, 10) : '') },
      ...series.map((s) => ({
        label: s.label, stroke: s.color, width: 3, fill: s.fill || null,
        points: { show: days.length <= 31, size: 7, fill: s.color },
        paths: s.bars ? uPlot.paths.bars({ size: [0.6, 40] }) : undefined,
        value: (u, v) => (v === null || v === undefined ? '—' : yFormat(v)),
      }))],
  };
  const data = [xs, ...series.map((s) => days.map(s.value))];
  const plot = new uPlot(opts, data, card.querySelector('.uplot-host'));
  new ResizeObserver(() => plot.setSize({ width: Math.max(280, card.clientWidth - 32), height: CHART_H() }))
    .observe(card);
  return plot;
}

function chartCard(title, days, spec) {
  const latest = days.length ? spec.series.map((s) => `${s.label} ${spec.yFormat(s.value(days.at(-1)) ?? 0)}`).join(', ') : '—';
  const card = h('figure', { class: 'card chart-card report-chart', role: 'img',
    'aria-label': tr('summary', { title, first: days[0]?.date || '', last: days.at(-1)?.date || '',
                                  n: days.length, latest }) },
  h('figcaption', { text: title }), h('div', { class: 'uplot-host' }));
  return { card, draw: () => lineChart(card, { days, ...spec }) };
}

// ------------------------------------------------------------------ the panel

export function reportsPanel() {
  const panel = h('section', { class: 'reports' });
  const f = { days: 30, from: null, to: null, department: '', doctor: '' };
  let lookups = null;
  const plots = [];

  function setRange(days) {
    f.days = days;
    if (days) {
      f.to = addDays(localToday(), -1);
      f.from = addDays(f.to, -(days - 1));
    }
  }
  setRange(30);

  function controls() {
    const rangeButtons = h('div', { class: 'segmented', role: 'group', 'aria-label': tr('range') },
      [...RANGES.map((n) => h('button', { type: 'button', class: 'btn small', 'aria-pressed': String(f.days === n),
        text: tr('last', { n }), on: { click: () => { setRange(n); load(); } } })),
      h('button', { type: 'button', class: 'btn small', 'aria-pressed': String(!f.days), text: tr('custom'),
        on: { click: () => { f.days = 0; render(lastData); } } })]);
    const dateField = (name, label, value) => h('div', { class: 'field' },
      h('label', { for: `report-${name}`, text: label }),
      h('input', { id: `report-${name}`, name, type: 'date', value, required: true }));
    const select = (id, label, options, value) => h('div', { class: 'field' },
      h('label', { for: id, text: label }),
      h('select', { id, name: id }, h('option', { value: '', text: tr('all') }),
        options.map(([v, text]) => h('option', { value: v, text, selected: v === value }))));
    const doctors = lookups.doctors.filter((d) => !f.department || d.department_id === f.department);
    const form = h('form', { class: 'report-filters', id: 'report-filters' },
      h('div', { class: 'field' }, h('span', { class: 'label', text: tr('range') }), rangeButtons),
      f.days ? null : [dateField('from', tr('from'), f.from), dateField('to', tr('to'), f.to)],
      select('report-department', tr('dept'), lookups.departments.map((d) => [d.id, d.name]), f.department),
      select('report-doctor', tr('doctor'), doctors.map((d) => [d.id, d.name]), f.doctor),
      h('div', { class: 'field actions' },
        f.days ? null : h('button', { type: 'submit', class: 'btn primary', text: tr('apply') }),
        h('a', { class: 'btn', id: 'report-csv', href: `/api/v1/reports/daily?${query(f, { format: 'csv' })}`,
          download: `opd-daily-${f.from}-${f.to}.csv`, text: tr('csv') })));
    form.addEventListener('change', (ev) => {
      if (ev.target.name === 'report-department') { f.department = ev.target.value; f.doctor = ''; load(); }
      if (ev.target.name === 'report-doctor') { f.doctor = ev.target.value; load(); }
    });
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const from = form.querySelector('[name=from]').value;
      const to = form.querySelector('[name=to]').value;
      if (from && to) { [f.from, f.to] = from <= to ? [from, to] : [to, from]; load(); }
    });
    return form;
  }

  function tiles(days, rows) {
    const seen = sum(days.map((d) => d.seen));
    const noShow = sum(days.map((d) => d.no_show));
    const util = weighted(rows, 'utilisation', (r) => r.shift_min - r.pause_min);
    const items = [
      [tr('tIssued'), sum(days.map((d) => d.issued))], [tr('tSeen'), seen],
      [tr('tNoShow'), pct(seen + noShow ? noShow / (seen + noShow) : null)],
      [tr('tWait'), mins(median(days.map((d) => d.wait_p50_min)))],
      [tr('tUtil'), pct(util)], [tr('tLate'), sum(days.map((d) => d.late_starts))],
    ];
    return h('div', { class: 'tiles' }, items.map(([label, value]) => h('div', { class: 'tile' },
      h('p', { class: 'tile-label', text: label }), h('p', { class: 'tile-value', text: String(value) }))));
  }

  function table(rows) {
    const byDoctor = new Map();
    for (const r of rows) {
      if (!byDoctor.has(r.doctor_id)) byDoctor.set(r.doctor_id, []);
      byDoctor.get(r.doctor_id).push(r);
    }
    const cols = ['colDoctor', 'colDept', 'colDays', 'colSeen', 'colNoShow', 'colWait', 'colP90',
      'colConsult', 'colUtil', 'colLate', 'colOver', 'colIdle'];
    const lines = [...byDoctor.values()].map((rs) => {
      const seen = sum(rs.map((r) => r.seen));
      const noShow = sum(rs.map((r) => r.no_show));
      const called = (r) => r.seen + r.no_show;
      return [rs[0].doctor_name, rs[0].department_name, rs.length, seen,
        pct(seen + noShow ? noShow / (seen + noShow) : null),
        mins(weighted(rs, 'wait_mean_min', called)), mins(weighted(rs, 'wait_p90_min', called)),
        mins(weighted(rs, 'consult_mean_min', (r) => r.seen)),
        pct(weighted(rs, 'utilisation', (r) => r.shift_min - r.pause_min)),
        sum(rs.map((r) => (r.late_start ? 1 : 0))), mins(sum(rs.map((r) => r.overtime_min))),
        hours(sum(rs.map((r) => r.idle_min)))];
    }).sort((a, b) => a[1].localeCompare(b[1]) || a[0].localeCompare(b[0]));
    return h('section', { class: 'card' }, h('h2', { text: tr('table') }),
      h('div', { class: 'table-wrap' }, h('table', { id: 'report-table' },
        h('thead', {}, h('tr', {}, cols.map((k, i) => h('th', { scope: 'col', class: i > 1 ? 'num' : null, text: tr(k) })))),
        h('tbody', {}, lines.map((cells) => h('tr', {}, cells.map((c, i) => (i === 0
          ? h('th', { scope: 'row', text: c }) : h('td', { class: i > 1 ? 'num' : null, text: String(c) })))))))));
  }

  let lastData = { days: [], rows: [] };
  function render({ days, rows }) {
    lastData = { days, rows };
    plots.splice(0).forEach((p) => p.destroy());
    const percent = (v) => `${Math.round(v)}%`;
    const count = (v) => String(Math.round(v * 10) / 10);
    const charts = days.length ? [
      chartCard(tr('cWait'), days, { yFormat: (v) => `${Math.round(v)}`, series: [
        { label: tr('p50'), color: COLORS.blue, value: (d) => d.wait_p50_min },
        { label: tr('p90'), color: COLORS.orange, value: (d) => d.wait_p90_min }] }),
      chartCard(tr('cVolume'), days, { yFormat: count, series: [
        { label: tr('issued'), color: COLORS.purple, value: (d) => d.issued },
        { label: tr('seen'), color: COLORS.green, value: (d) => d.seen }] }),
      chartCard(tr('cNoShow'), days, { yFormat: percent, series: [
        { label: tr('noShow'), color: COLORS.red, value: (d) => (d.no_show_rate === null ? null : d.no_show_rate * 100) }] }),
      chartCard(tr('cUtil'), days, { yFormat: percent, yRange: [0, 100], series: [
        { label: tr('util'), color: COLORS.blue, fill: 'rgba(11,92,171,0.12)', value: (d) => (d.utilisation === null ? null : d.utilisation * 100) }] }),
      chartCard(tr('cLate'), days, { yFormat: count, series: [
        { label: tr('late'), color: COLORS.orange, bars: true, fill: 'rgba(179,92,0,0.55)', value: (d) => d.late_starts }] }),
    ] : [];
    panel.replaceChildren(
      controls(),
      h('p', { class: 'muted', id: 'report-period', text: tr('period', { from: f.from, to: f.to }) }),
      days.length ? tiles(days, rows) : h('p', { class: 'card empty', role: 'status', text: tr('empty') }),
      h('div', { class: 'charts report-charts' }, charts.map((c) => c.card)),
      rows.length ? table(rows) : null);
    for (const c of charts) plots.push(c.draw());
  }

  async function load() {
    lookups = lookups || await Promise.all([get('/api/v1/departments'), get('/api/v1/doctors')])
      .then(([deps, docs]) => ({ departments: deps.items, doctors: docs.items }));
    const [summary, rows] = await Promise.all([get(`/api/v1/reports/daily/summary?${query(f)}`), allRows(f)]);
    render({ days: summary.items, rows });
  }
  panel.load = load;
  return panel;
}
