// The patient page's service worker: shows the pushes workers/push.py sends ("you are 3rd",
// "go to cabin C-101 now"). A push carries {kind, token, cabin, position} only; the words,
// in the patient's language, and the page to open were left in the Cache by push.js.
// Scope: /static/patient/ (it controls no page; push needs only the registration).

const TEXTS = '/static/patient/push-texts';
const FALLBACK = {
  page: '/', title: 'OPD Queue',
  ahead: 'Token {token}: you are number {position} in the queue.',
  called: 'Token {token}: please go to cabin {cabin} now.',
};

async function texts() {
  try {
    const hit = await (await caches.open('opdq-push')).match(TEXTS);
    return hit ? { ...FALLBACK, ...(await hit.json()) } : FALLBACK;
  } catch { return FALLBACK; }
}

const fill = (s, vars) => s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] ?? m));

self.addEventListener('push', (event) => {
  event.waitUntil((async () => {
    let data = {};
    try { data = event.data ? event.data.json() : {}; } catch { /* not ours */ }
    const words = await texts();
    const called = data.kind === 'CALL_NOW';
    await self.registration.showNotification(words.title, {
      body: fill(called ? words.called : words.ahead, data),
      tag: `opdq-${data.kind || 'push'}`,
      renotify: true,
      requireInteraction: called,
      vibrate: called ? [300, 100, 300, 100, 300] : [200],
      icon: '/static/favicon.svg',
      data: { page: words.page },
    });
  })());
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const page = event.notification.data?.page || '/';
  event.waitUntil((async () => {
    const open = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const tab = open.find((c) => new URL(c.url).pathname === page);
    if (tab) return tab.focus();
    return self.clients.openWindow(page);
  })());
});
