// Plain SVG charts for the admin dashboard (no library, no network). Each chart is an
// <svg role="img"> with a text summary as its accessible name; the same numbers are in the
// table under the charts for anyone who cannot see them.

import { h } from '../js/dom.js';

const W = 560;
const ROW = 34;
const PAD = { left: 170, right: 64, top: 8, bottom: 8 };
export const COLORS = ['#0b5cab', '#b35c00', '#1b6e20', '#6b2fb3'];

function short(text, n = 22) { return text.length > n ? `${text.slice(0, n - 1)}…` : text; }

/**
 * Horizontal bars, one group per label, one bar per series.
 * @param {object} o  {labels: [], series: [{name, values: [], color}], format: (v) => text,
 *                     summary: text}
 */
export function barChart(o) {
  const groups = o.labels.length;
  const per = o.series.length;
  const rowH = per > 1 ? ROW + 14 * (per - 1) : ROW;
  const height = PAD.top + PAD.bottom + Math.max(1, groups) * rowH;
  const max = Math.max(1e-9, ...o.series.flatMap((s) => s.values.map((v) => v ?? 0)));
  const scale = (W - PAD.left - PAD.right) / max;
  const barH = Math.min(22, (rowH - 10) / per);
  const svg = h('svg:svg', { viewBox: `0 0 ${W} ${height}`, class: 'chart', role: 'img',
                             'aria-label': o.summary, preserveAspectRatio: 'xMinYMin meet' });
  o.labels.forEach((label, i) => {
    const y0 = PAD.top + i * rowH;
    svg.append(h('svg:text', { x: PAD.left - 8, y: y0 + rowH / 2, 'text-anchor': 'end',
                               'dominant-baseline': 'middle', class: 'chart-label' }, short(label)));
    o.series.forEach((s, j) => {
      const v = s.values[i];
      const y = y0 + 5 + j * barH;
      const w = v ? Math.max(2, v * scale) : 0;
      svg.append(h('svg:rect', { x: PAD.left, y, width: w, height: barH - 3, rx: 3,
                                 fill: s.color || COLORS[j % COLORS.length] }));
      svg.append(h('svg:text', { x: PAD.left + w + 6, y: y + (barH - 3) / 2,
                                 'dominant-baseline': 'middle', class: 'chart-value' },
        v === null || v === undefined ? '—' : o.format(v)));
    });
  });
  if (!groups) {
    svg.append(h('svg:text', { x: W / 2, y: height / 2, 'text-anchor': 'middle',
                               class: 'chart-label' }, '—'));
  }
  return svg;
}

/** Vertical bars over the hours of the day (0-23, only the span that has data). */
export function hourChart({ hours, summary }) {
  const H = 220;
  const pad = { left: 36, right: 8, top: 12, bottom: 28 };
  const present = hours.map((r) => r.hour);
  const first = present.length ? Math.min(...present, 8) : 8;
  const last = present.length ? Math.max(...present, 17) : 17;
  const span = last - first + 1;
  const byHour = new Map(hours.map((r) => [r.hour, r]));
  const max = Math.max(1, ...hours.map((r) => r.issued));
  const bw = (W - pad.left - pad.right) / span;
  const sy = (H - pad.top - pad.bottom) / max;
  const svg = h('svg:svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img',
                             'aria-label': summary });
  for (const tick of [0, Math.ceil(max / 2), max]) {
    const y = H - pad.bottom - tick * sy;
    svg.append(h('svg:line', { x1: pad.left, x2: W - pad.right, y1: y, y2: y, class: 'chart-grid' }));
    svg.append(h('svg:text', { x: pad.left - 6, y, 'text-anchor': 'end',
                               'dominant-baseline': 'middle', class: 'chart-value' }, tick));
  }
  for (let hr = first; hr <= last; hr += 1) {
    const r = byHour.get(hr) || { issued: 0, completed: 0 };
    const x = pad.left + (hr - first) * bw;
    const hIss = r.issued * sy;
    svg.append(h('svg:rect', { x: x + 3, y: H - pad.bottom - hIss, width: bw - 6, height: hIss,
                               rx: 2, fill: COLORS[0] }));
    const hDone = r.completed * sy;
    svg.append(h('svg:rect', { x: x + bw * 0.3, y: H - pad.bottom - hDone, width: bw * 0.4,
                               height: hDone, rx: 2, fill: COLORS[2] }));
    svg.append(h('svg:text', { x: x + bw / 2, y: H - 8, 'text-anchor': 'middle',
                               class: 'chart-value' }, String(hr).padStart(2, '0')));
  }
  return svg;
}

export function legend(items) {
  return h('ul', { class: 'legend' }, items.map((it, i) => h('li', {},
    h('span', { class: `swatch swatch-${i}`, 'aria-hidden': 'true' }), it)));
}
