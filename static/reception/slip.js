// The printed token slip: number, department, doctor, cabin, expected wait and a QR code of
// the patient's live page (drawn as SVG from the vendored qrcode-generator, so it prints
// sharp on any printer and needs no network).

import qrcode from '../vendor/qrcode-generator/qrcode.mjs';
import { fill, h, hhmm } from '../js/dom.js';
import { etaRange, t } from '../js/i18n.js';

const QUIET = 4;  // modules of white border the QR standard asks for

/** An <svg> QR code of `text` (error correction M: survives a crumpled slip). */
export function qrSvg(text, label) {
  const qr = qrcode(0, 'M');
  qr.addData(text);
  qr.make();
  const n = qr.getModuleCount();
  const size = n + QUIET * 2;
  let d = '';
  for (let r = 0; r < n; r += 1) {
    for (let c = 0; c < n; c += 1) {
      if (qr.isDark(r, c)) d += `M${c + QUIET} ${r + QUIET}h1v1h-1z`;
    }
  }
  return h('svg:svg', { viewBox: `0 0 ${size} ${size}`, role: 'img', 'aria-label': label,
                        'shape-rendering': 'crispEdges' },
    h('svg:rect', { width: size, height: size, fill: '#fff' }),
    h('svg:path', { d, fill: '#000' }));
}

/** Fill the slip section for one token (the staff token view). */
export function fillSlip(el, { token, department, hospital }) {
  const eta = etaRange(token.eta) || '—';
  fill(el,
    hospital ? h('h1', { text: hospital }) : null,
    h('p', { class: 'slip-label', text: t('slip.token') }),
    h('p', { class: 'slip-number', dataset: { testid: 'slip-number' }, text: token.number }),
    h('dl', {},
      h('dt', { text: t('slip.department') }), h('dd', { text: department || '' }),
      token.doctor_name ? [h('dt', { text: t('slip.doctor') }), h('dd', { text: token.doctor_name })] : null,
      h('dt', { text: t('slip.cabin') }), h('dd', { text: token.cabin || '—' }),
      h('dt', { text: t('slip.eta') }), h('dd', { text: eta })),
    token.patient_link ? qrSvg(token.patient_link, t('slip.scan')) : null,
    token.patient_link ? h('p', { class: 'slip-scan', text: t('slip.scan') }) : null,
    h('p', { class: 'slip-foot', text: t('slip.issued', { time: hhmm(token.created_at) }) }),
  );
}
