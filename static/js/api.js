// The one way pages talk to the JSON API.
//
// - JSON in, JSON out; the session cookie (set by login) authenticates, or a bearer key
//   (display boards) when given.
// - Errors are application/problem+json: thrown as ApiError with .status, .detail and
//   .errors [{field, message}], which showErrors() puts next to the named form fields.
// - Every action gets one Idempotency-Key (newKey()) for all its attempts: a network error or
//   a 502/503/504 is retried with the SAME key, so the server does the action once at most.
// - action(button, fn) disables the button(s) while the request is in flight, so a double tap
//   sends one request.

import { t } from './i18n.js';
import { sleep } from './dom.js';

const RETRY_DELAYS_MS = [400, 1200, 3000];
const RETRYABLE_STATUS = new Set([502, 503, 504]);

export class ApiError extends Error {
  constructor(status, problem = {}) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.detail = problem.detail || problem.title || '';
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
  }
}

/** A fresh Idempotency-Key. randomUUID needs a secure context; a LAN http page has none. */
export function newKey() {
  if (globalThis.crypto?.randomUUID) {
    try { return crypto.randomUUID(); } catch { /* insecure context: fall through */ }
  }
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

let bearer = null;
/** Use a bearer credential (a display key) instead of the cookie. */
export function setBearer(value) { bearer = value; }

/**
 * request('POST', '/api/v1/...', {body, key}) -> parsed JSON (null for 204).
 * Retries only what is safe to retry: GETs, and requests that carry an Idempotency-Key.
 */
export async function request(method, path, { body, key, signal } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (key) headers['Idempotency-Key'] = key;
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  const retryable = method === 'GET' || Boolean(key);
  for (let attempt = 0; ; attempt += 1) {
    let res;
    try {
      res = await fetch(path, {
        method, headers, signal, credentials: 'same-origin', cache: 'no-store',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      if (retryable && attempt < RETRY_DELAYS_MS.length) {
        await sleep(RETRY_DELAYS_MS[attempt]);
        continue;
      }
      throw new ApiError(0, { title: 'network', detail: t('error.network') });
    }
    const data = await parse(res);
    if (res.ok) return data;
    // the same key still being worked on (or released by a failed first try): ask again
    const busyKey = res.status === 409 && data?.type === '/problems/idempotency';
    if (retryable && (RETRYABLE_STATUS.has(res.status) || busyKey)
        && attempt < RETRY_DELAYS_MS.length) {
      await sleep(RETRY_DELAYS_MS[attempt]);
      continue;
    }
    throw new ApiError(res.status, data || {});
  }
}

async function parse(res) {
  if (res.status === 204) return null;
  const text = await res.text();
  if (!text) return null;
  try { return JSON.parse(text); } catch { return { detail: text.slice(0, 300) }; }
}

export const get = (path, opts) => request('GET', path, opts);
export const post = (path, body, opts = {}) => request('POST', path, { ...opts, body });

/**
 * Run one user action: disable `buttons` while it runs (a second tap does nothing), give it
 * one Idempotency-Key for all attempts. fn(key) returns the API answer.
 * Returns the answer, or undefined when the buttons were already busy.
 */
export async function action(buttons, fn) {
  const list = [].concat(buttons || []).filter(Boolean);
  if (list.some((b) => b.dataset.busy === '1')) return undefined;
  const was = list.map((b) => b.disabled);
  for (const b of list) {
    b.dataset.busy = '1';
    b.disabled = true;
    b.setAttribute('aria-busy', 'true');
  }
  try {
    return await fn(newKey());
  } finally {
    list.forEach((b, i) => {
      delete b.dataset.busy;
      b.removeAttribute('aria-busy');
      b.disabled = was[i];
    });
  }
}

// ------------------------------------------------------------------ form errors

/** Remove error messages and aria-invalid marks from a form. */
export function clearErrors(form) {
  for (const el of form.querySelectorAll('.field-error')) el.remove();
  for (const el of form.querySelectorAll('[aria-invalid]')) {
    el.removeAttribute('aria-invalid');
    const ids = (el.getAttribute('aria-describedby') || '').split(' ')
      .filter((id) => id && !id.startsWith('err-'));
    if (ids.length) el.setAttribute('aria-describedby', ids.join(' '));
    else el.removeAttribute('aria-describedby');
  }
  const alert = form.querySelector('.form-alert');
  if (alert) { alert.textContent = ''; alert.hidden = true; }
}

/**
 * Put each problem+json error next to its field (matched by data-field, a space-separated
 * list of API fields an element stands for, else by name); what matches no field goes to the
 * form's
 * .form-alert. Focuses the first invalid field.
 */
export function showErrors(form, err) {
  clearErrors(form);
  const leftover = [];
  let first = null;
  for (const e of err.errors || []) {
    const name = String(e.field || '').replace(/^body\./, '');
    const input = form.querySelector(`[data-field~="${CSS.escape(name)}"]`)
      || form.elements.namedItem(name);
    const target = input instanceof RadioNodeList ? input[0] : input;
    if (!target || !(target instanceof Element)) { leftover.push(tidy(e.message)); continue; }
    const id = `err-${form.id || 'f'}-${name.replace(/[^a-z0-9_-]/gi, '_')}`;
    const msg = document.createElement('p');
    msg.className = 'field-error';
    msg.id = id;
    msg.textContent = tidy(e.message);
    const anchor = target.closest('.field') || target;
    anchor.append(msg);
    target.setAttribute('aria-invalid', 'true');
    const described = target.getAttribute('aria-describedby');
    target.setAttribute('aria-describedby', described ? `${described} ${id}` : id);
    first = first || target;
  }
  const alert = form.querySelector('.form-alert');
  const text = leftover.length ? leftover.join('; ') : (first ? '' : describe(err));
  if (alert && text) { alert.textContent = text; alert.hidden = false; }
  if (first) first.focus();
  else if (alert && text) alert.focus?.();
}

/** Pydantic's "Value error, must be ..." reads better as "Must be ...". */
function tidy(message) {
  const m = String(message || '').replace(/^(Value|Assertion) error, /, '');
  return m.charAt(0).toUpperCase() + m.slice(1);
}

/** A person-readable sentence for an error (status-specific where that helps). */
export function describe(err) {
  if (!(err instanceof ApiError)) return String(err?.message || err);
  if (err.status === 0) return t('error.network');
  if (err.status === 401) return err.detail || t('error.login');
  if (err.status === 429) return t('error.rate');
  return err.detail || t('error.generic');
}

/** Read a form into an object: empty strings left out, numbers as numbers where typed so. */
export function formData(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name || el.disabled) continue;
    if ((el.type === 'radio' || el.type === 'checkbox') && !el.checked) {
      if (el.type === 'checkbox' && el.dataset.bool !== undefined) out[el.name] = false;
      continue;
    }
    if (el.type === 'checkbox' && el.dataset.bool !== undefined) { out[el.name] = true; continue; }
    const v = el.value.trim();
    if (v === '') continue;
    out[el.name] = el.type === 'number' ? Number(v) : v;
  }
  return out;
}
