// Every UI string of every page, one JSON catalogue per language: static/i18n/<code>.json
// (a flat {"key": "text with {placeholders}"} object; tests/test_i18n_catalogues.py checks
// that every language has every patient-facing key with the same placeholders).
//
// HTML marks text with data-i18n="key" (textContent), data-i18n-aria="key" (aria-label),
// data-i18n-placeholder / data-i18n-title; scripts call t('key', {vars}). A missing string
// falls back to English, a missing key shows the key (easy to spot in review). English and the
// page's language are loaded before any page script runs (top-level await); other languages
// load on demand (loadLangs) - the board and the slip load theirs before they draw.

/** The languages patients and boards get, in the order the switch lists them. */
export const LANGUAGES = ['en', 'hi', 'bn', 'mr', 'te', 'ta', 'kn', 'ml', 'gu'];
/** Staff pages (desk, doctor, admin) are translated in these only; others fall back to English. */
export const STAFF_LANGUAGES = ['en', 'hi'];
// each language's name in its own script, for the switch (and every catalogue's lang.<code>)
const NAMES = {
  en: 'English', hi: 'हिंदी', bn: 'বাংলা', mr: 'मराठी', te: 'తెలుగు',
  ta: 'தமிழ்', kn: 'ಕನ್ನಡ', ml: 'മലയാളം', gu: 'ગુજરાતી',
};
const STRINGS = {};
const loading = {};
const CATALOGUES = new URL('../i18n/', import.meta.url);

/** Fetch the catalogues of `codes` (once each); unknown codes are ignored. */
export function loadLangs(...codes) {
  return Promise.all(codes.flat().filter((c) => LANGUAGES.includes(c)).map((code) => {
    loading[code] ??= fetch(new URL(`${code}.json`, CATALOGUES))
      .then((r) => (r.ok ? r.json() : {}))
      .catch(() => ({}))
      .then((table) => { STRINGS[code] = table; });
    return loading[code];
  }));
}

/** True once `code`'s catalogue is here (tIn in that language will not fall back). */
export function langLoaded(code) { return Boolean(STRINGS[code]); }

const STORE_KEY = 'opdq.lang';

function initialLang() {
  const fromUrl = new URLSearchParams(location.search).get('lang');
  if (LANGUAGES.includes(fromUrl)) return fromUrl;
  try {
    const saved = localStorage.getItem(STORE_KEY);
    if (LANGUAGES.includes(saved)) return saved;
  } catch { /* storage blocked */ }
  const browser = (navigator.language || 'en').toLowerCase().slice(0, 2);
  return LANGUAGES.includes(browser) ? browser : 'en';
}

let current = initialLang();
await loadLangs('en', current);

export function lang() { return current; }

/** Switch language; resolves once its catalogue is loaded (then t() speaks it). */
export function setLang(code, { persist = true } = {}) {
  current = LANGUAGES.includes(code) ? code : 'en';
  document.documentElement.lang = current;
  if (persist) {
    try { localStorage.setItem(STORE_KEY, current); } catch { /* storage blocked */ }
  }
  return loadLangs(current);
}

/** The string for `key` in the current language, with {name} placeholders filled. */
export function t(key, vars = {}) {
  return tIn(current, key, vars);
}

/** True when the person chose the language (?lang= or the switch), not the browser's default. */
export function langChosen() {
  if (new URLSearchParams(location.search).get('lang')) return true;
  try { return Boolean(localStorage.getItem(STORE_KEY)); } catch { return false; }
}

/** Fill every data-i18n* element under root. */
export function applyI18n(root = document) {
  document.documentElement.lang = current;
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-aria]')) el.setAttribute('aria-label', t(el.dataset.i18nAria));
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.setAttribute('placeholder', t(el.dataset.i18nPlaceholder));
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.setAttribute('title', t(el.dataset.i18nTitle));
}

/** Minutes as "45 min" or "2 h 5 min". */
export function duration(minutes) {
  if (minutes === null || minutes === undefined) return '';
  const n = Math.max(0, Math.round(minutes));
  return n < 60 ? t('time.min', { n }) : t('time.hmin', { h: Math.floor(n / 60), m: n % 60 });
}

/** An ETA as the range it holds to, "8–18 min" ([p10, p90]: called before it or after it
 * one time in ten each, docs/benchmarks.md), or "any moment now" when it is ~0. */
export function etaRange(eta) {
  return etaRangeIn(current, eta);
}

/** The language switch in `container`: one button per language (its name in its own script).
 * `languages`: the codes to offer; staff pages pass STAFF_LANGUAGES. onChange re-renders. */
export function langSwitch(container, onChange = () => {}, languages = LANGUAGES) {
  const group = document.createElement('div');
  group.className = 'lang-switch';
  group.setAttribute('role', 'group');
  group.setAttribute('aria-label', t('lang.label'));
  for (const code of languages) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'btn small';
    b.lang = code;
    b.textContent = NAMES[code];
    b.setAttribute('aria-pressed', String(code === current));
    b.addEventListener('click', async () => {
      await setLang(code);
      for (const other of group.children) other.setAttribute('aria-pressed', String(other === b));
      group.setAttribute('aria-label', t('lang.label'));
      applyI18n();
      onChange(code);
    });
    group.append(b);
  }
  container.append(group);
  return group;
}

/** The BCP 47 locale of a language code for Intl: Indian conventions (lakh grouping, local
 * month names) with Latin digits, the digits of token numbers, boards and SMS alike. */
export function locale(code = current) {
  return `${LANGUAGES.includes(code) ? code : 'en'}-IN-u-nu-latn`;
}

/** A number as `code` writes it ("1,00,000"). */
export function formatNumber(value, code = current) {
  return new Intl.NumberFormat(locale(code)).format(value);
}

/** A clock time ("10:42") in `code`, on `timeZone`'s clock (the hospital's) when given. */
export function formatTime(date, code = current, timeZone = undefined) {
  const d = date instanceof Date ? date : new Date(date);
  const opts = { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
  try {
    return d.toLocaleTimeString(locale(code), { ...opts, timeZone });
  } catch {
    return d.toLocaleTimeString(locale(code), opts);  // unknown zone: the device's own
  }
}

/** t() in a given language: the slip prints in the patient's language, not the desk's. */
export function tIn(code, key, vars = {}) {
  const raw = STRINGS[code]?.[key] ?? STRINGS.en?.[key] ?? key;
  return raw.replace(/\{(\w+)\}/g, (_, name) => {
    if (!(name in vars)) return `{${name}}`;
    const v = vars[name];
    return typeof v === 'number' ? formatNumber(v, code) : String(v);
  });
}

/** etaRange() in a given language. Never "0 min": a wait that may be nothing reads
 * "any moment now" (all of it under a minute) or "within 8 min". */
export function etaRangeIn(code, eta) {
  if (!eta || eta.p50_min === null || eta.p50_min === undefined) return '';
  const low = eta.p10_min ?? eta.p50_min;
  if (eta.p90_min <= 1) return tIn(code, 'time.now');
  if (low < 1) return tIn(code, 'time.within', { n: eta.p90_min });
  if (low === eta.p90_min) return tIn(code, 'time.min', { n: low });
  return tIn(code, 'time.range', { p50: low, p90: eta.p90_min });
}
