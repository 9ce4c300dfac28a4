// What the desk's search box matches in its own list, the same rules as GET /api/v1/tokens?q=
// (API.md): a token number ("CARD-045" or "45"), the start of any word of the patient's name
// in any script, case- and accent-insensitive ("sha" finds "Rahul Sharma", "शर्" finds
// "राहुल शर्मा"), or 4+ digits contained in the phone.

/** Lower case without Latin accents. Devanagari vowel signs are marks too but carry meaning,
 *  so only the combining diacriticals block (U+0300-036F) is dropped. */
export function fold(text) {
  return String(text || '').normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase()
    .normalize('NFC');
}

/** The words of a name, folded. */
export function words(name) {
  return fold(name).split(/[\s.,'"()-]+/u).filter(Boolean);
}

/** Precomputed search keys of a token (built once per row, not per keystroke). */
export function searchKeys(tok) {
  const number = String(tok.number || '').toLowerCase();
  const digits = number.replace(/\D/g, '');
  return {
    number,
    serial: digits ? String(Number(digits)) : '',
    words: words(tok.patient?.name || tok.patient?.display_name || ''),
    phone: String(tok.patient?.phone || '').replace(/\D/g, ''),
  };
}

/** A parsed query, so one keystroke parses once for 300 rows. */
export function parseQuery(raw) {
  const text = fold(raw).trim();
  if (!text) return null;
  const digits = text.replace(/[\s+()-]/g, '');
  const isDigits = /^\d+$/.test(digits);
  return {
    text,
    terms: words(text),
    serial: isDigits ? String(Number(digits)) : null,
    phone: isDigits && digits.length >= 4 ? digits : null,
  };
}

/** Does a row's keys match the query (null: everything matches)? */
export function matches(keys, q) {
  if (!q) return true;
  if (q.serial === null && keys.number.includes(q.text)) return true;  // "card-04"
  if (q.serial !== null && keys.serial === q.serial) return true;
  if (q.phone && keys.phone.includes(q.phone)) return true;
  // every word of the query starts some word of the name ("rahul sha")
  return q.terms.length > 0
    && q.terms.every((term) => keys.words.some((w) => w.startsWith(term)));
}
