// The printed token slip: hospital, department, date and time, number, doctor, cabin, position,
// expected wait and a QR code of the patient's live page, in the patient's language. The QR is
// drawn as SVG from the vendored qrcode-generator, so it prints sharp on any printer and needs
// no network; Devanagari comes from the vendored Noto font (fonts.css), the other Indian
// scripts from the desk computer's fonts (Debian: fonts-noto-core).

import qrcode from '../vendor/qrcode-generator/qrcode.mjs';
import { fill, h } from '../js/dom.js';
import { LANGUAGES, etaRangeIn, loadLangs, locale, tIn } from '../js/i18n.js';

// a slip prints in whichever language the patient reads: the desk has every catalogue at hand
await loadLangs(LANGUAGES);

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

/** Date and time of `iso` in `lang`, on the hospital's clock (a slip says the hospital's day). */
export function slipDateTime(iso, lang, timeZone) {
  const at = iso ? new Date(iso) : new Date();
  const loc = locale(lang);
  const zone = timeZone ? { timeZone } : {};
  return {
    date: at.toLocaleDateString(loc, { day: 'numeric', month: 'long', year: 'numeric', ...zone }),
    time: at.toLocaleTimeString(loc, { hour: '2-digit', minute: '2-digit', hour12: false, ...zone }),
  };
}

/**
 * Fill the slip section for one token (the staff token view), in the PATIENT's language
 * (`lang`, e.g. "hi"): the desk may be working in English while the patient reads Hindi.
 */
export function fillSlip(el, { token, department, hospital, lang = 'en', timeZone = null }) {
  const tr = (key, vars) => tIn(lang, key, vars);
  const eta = token.status === 'WAITING' ? etaRangeIn(lang, token.eta) : '';
  const when = slipDateTime(token.created_at, lang, timeZone);
  el.lang = lang;
  el.dataset.lang = lang;
  fill(el,
    hospital ? h('h1', { dataset: { testid: 'slip-hospital' }, text: hospital }) : null,
    department ? h('p', { class: 'slip-dept', dataset: { testid: 'slip-department' },
                          text: department }) : null,
    h('p', { class: 'slip-label', text: tr('slip.token') }),
    h('p', { class: 'slip-number', dataset: { testid: 'slip-number' }, text: token.number }),
    h('dl', {},
      h('dt', { text: tr('slip.date') }), h('dd', { dataset: { testid: 'slip-date' }, text: when.date }),
      h('dt', { text: tr('slip.time') }), h('dd', { dataset: { testid: 'slip-time' }, text: when.time }),
      token.doctor_name ? [h('dt', { text: tr('slip.doctor') }), h('dd', { text: token.doctor_name })] : null,
      token.cabin ? [h('dt', { text: tr('slip.cabin') }), h('dd', { text: token.cabin })] : null,
      token.status === 'WAITING' && token.position
        ? [h('dt', { text: tr('slip.position') }),
           h('dd', { text: tr('slip.positionValue', { n: token.position }) })] : null,
      eta ? [h('dt', { text: tr('slip.eta') }), h('dd', { dataset: { testid: 'slip-eta' }, text: eta })] : null),
    token.patient_link ? qrSvg(token.patient_link, tr('slip.scan')) : null,
    token.patient_link ? h('p', { class: 'slip-scan', text: tr('slip.scan') }) : null,
  );
}
