// The landing page: links to each screen, and a staff login that goes to the right one.

import { currentUser, loginForm, logout } from '../js/auth.js';
import { $ } from '../js/dom.js';
import { STAFF_LANGUAGES, applyI18n, langSwitch, t } from '../js/i18n.js';

const HOME_OF = { admin: '/admin', receptionist: '/reception', doctor: '/doctor', nurse: '/doctor' };

function showUser(me) {
  $('#who').textContent = t('login.as', { name: me.user.username, role: me.user.role });
  $('#logout').hidden = false;
  $('#login').replaceChildren();
}

async function main() {
  applyI18n();
  langSwitch($('#lang'), async () => { const me = await currentUser(); if (me) showUser(me); }, STAFF_LANGUAGES);
  $('#logout').addEventListener('click', async () => { await logout(); location.reload(); });
  const me = await currentUser();
  if (me) { showUser(me); return; }
  const fresh = await loginForm($('#login'));
  location.assign(HOME_OF[fresh.user.role] || '/');
}

main();
