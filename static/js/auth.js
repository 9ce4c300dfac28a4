// Staff login shared by the doctor, reception and admin pages.
//
// The session lives in an HttpOnly cookie set by POST /api/v1/auth/login, so scripts never
// see it: "am I logged in" is asked of GET /api/v1/me. The same cookie then authenticates
// fetch and the websockets.

import { ApiError, action, clearErrors, formData, get, post, showErrors } from './api.js';
import { applyI18n } from './i18n.js';
import { $, h } from './dom.js';

/** The current staff user ({user, hospital}) or null when not logged in. */
export async function currentUser() {
  try {
    const me = await get('/api/v1/me');
    return me && me.kind === 'user' ? me : null;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null;
    throw err;
  }
}

/**
 * Show a login form inside `container` and resolve with /me once logged in.
 * `roles` limits who may use the page (others get a message and stay on the form).
 */
export function loginForm(container, { roles = null, title = 'login.title' } = {}) {
  return new Promise((resolve) => {
    const form = h('form', { id: 'login-form', class: 'card login', novalidate: true },
      h('h2', { 'data-i18n': title }),
      h('div', { class: 'field' },
        h('label', { for: 'login-username', 'data-i18n': 'login.username' }),
        h('input', { id: 'login-username', name: 'username', autocomplete: 'username',
          required: true, autocapitalize: 'none', spellcheck: 'false' })),
      h('div', { class: 'field' },
        h('label', { for: 'login-password', 'data-i18n': 'login.password' }),
        h('input', { id: 'login-password', name: 'password', type: 'password',
          autocomplete: 'current-password', required: true })),
      h('p', { class: 'form-alert', role: 'alert', tabindex: '-1', hidden: true }),
      h('button', { type: 'submit', class: 'btn primary', 'data-i18n': 'login.submit' }));
    container.replaceChildren(form);
    applyI18n(form);
    $('#login-username', form).focus();
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      clearErrors(form);
      const button = form.querySelector('button[type=submit]');
      try {
        await action(button, () => post('/api/v1/auth/login', formData(form)));
        const me = await currentUser();
        if (!me) throw new ApiError(401, { detail: 'login did not stick (cookies blocked?)' });
        if (roles && !roles.includes(me.user.role)) {
          await logout();
          throw new ApiError(403, { detail: `this page is for ${roles.join(' / ')}` });
        }
        resolve(me);
      } catch (err) {
        showErrors(form, err);
      }
    });
  });
}

export async function logout() {
  try { await post('/api/v1/auth/logout'); } catch { /* the cookie is cleared anyway */ }
}

/** Logged-in user (asking for a login first when needed). */
export async function requireLogin(container, opts) {
  const me = await currentUser();
  if (me && (!opts?.roles || opts.roles.includes(me.user.role))) return me;
  return loginForm(container, opts);
}
