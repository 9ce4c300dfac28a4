// "Notify me": web push for the patient's page, so a closed page still hears "you are 3rd"
// and "go to cabin C-101 now". The server's workers send the pushes (workers/push.py); the
// service worker (sw.js) shows them. A push carries the token number, cabin and position
// only; the words come from here, in the page's language, kept in the Cache for sw.js.

import { get, post } from '../js/api.js';
import { t } from '../js/i18n.js';

const SW = '/static/patient/sw.js';
const TEXTS = '/static/patient/push-texts';   // a Cache entry, never fetched from the server
export const NOTIFY_AT = 3;

/** Push needs a secure page, a service worker and the Push and Notification APIs. */
export function pushSupported() {
  return window.isSecureContext && 'serviceWorker' in navigator && 'PushManager' in window
    && 'Notification' in window;
}

function keyBytes(b64url) {
  const b64 = b64url.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(b64url.length / 4) * 4, '=');
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

/** The words sw.js shows, in the current language, and the page a tap opens. */
async function rememberTexts() {
  const cache = await caches.open('opdq-push');
  const texts = { page: location.pathname, title: t('app.name'), ahead: t('push.ahead'), called: t('push.called') };
  await cache.put(TEXTS, new Response(JSON.stringify(texts), { headers: { 'Content-Type': 'application/json' } }));
}

/** Ask permission, subscribe this browser, tell the server. Returns false when refused. */
export async function enablePush(tokenApi) {
  if (await Notification.requestPermission() !== 'granted') return false;
  const reg = await navigator.serviceWorker.register(SW);
  await navigator.serviceWorker.ready;
  const { public_key: key } = await get('/api/v1/public/push/key');
  const sub = (await reg.pushManager.getSubscription())
    || await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
  const { endpoint, keys } = sub.toJSON();
  await post(tokenApi('/push'), { endpoint, keys: { p256dh: keys.p256dh, auth: keys.auth }, notify_at_position: NOTIFY_AT });
  await rememberTexts();
  return true;
}

/** True when this browser already follows the token (permission kept, a subscription there). */
export async function pushOn() {
  if (!pushSupported() || Notification.permission !== 'granted') return false;
  const reg = await navigator.serviceWorker.getRegistration(SW);
  if (!reg) return false;
  await rememberTexts();          // the language may have changed since
  return Boolean(await reg.pushManager.getSubscription());
}
