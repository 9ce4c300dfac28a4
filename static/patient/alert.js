// What gets a called patient's attention on a phone that may be in a pocket or locked, and
// keeps the screen on while their turn is near.
//
// Each part is best effort and silent where the browser refuses: beeps need the page to have
// been touched once (sound.js), vibration needs a tap too (and iOS has none), a background tab
// still shows its title in the tab strip and the notification shade of some browsers, and the
// Wake Lock API exists only in secure contexts of recent browsers. A screen lock is released by
// the browser whenever the page is hidden, so it is asked for again when the page comes back.

import { alertBeeps } from '../js/sound.js';

const VIBRATE = [500, 200, 500, 200, 900];
const RING_EVERY_MS = 15000;     // repeat the beeps while the patient has not answered
const RINGS = 4;
const BLINK_MS = 1000;

export class CallAlert {
  constructor() {
    this.blinkTimer = null;
    this.ringTimer = null;
  }

  get active() { return this.blinkTimer !== null; }

  /** Blink the tab title between `title` and `rest`; ring now and a few times more if `ring`. */
  start({ title, rest, ring = true }) {
    this.stop();
    let on = true;
    document.title = title;
    this.title = title;
    this.rest = rest;
    this.blinkTimer = setInterval(() => {
      on = !on;
      document.title = on ? this.title : this.rest;
    }, BLINK_MS);
    if (!ring) return;
    let rings = 0;
    const ringOnce = () => {
      rings += 1;
      try { navigator.vibrate?.(VIBRATE); } catch { /* needs a tap first */ }
      alertBeeps().then(() => alertBeeps()).catch(() => {});
      if (rings >= RINGS) { clearInterval(this.ringTimer); this.ringTimer = null; }
    };
    ringOnce();
    this.ringTimer = setInterval(ringOnce, RING_EVERY_MS);
  }

  /** The title to blink may change while blinking (the language, the cabin). */
  retitle(title, rest) {
    if (!this.active) return;
    this.title = title;
    this.rest = rest;
    document.title = title;
  }

  /** Stop ringing only: the patient has seen it, the title keeps saying where to go. */
  quiet() {
    clearInterval(this.ringTimer);
    this.ringTimer = null;
    try { navigator.vibrate?.(0); } catch { /* none */ }
  }

  stop() {
    clearInterval(this.blinkTimer);
    this.blinkTimer = null;
    this.quiet();
  }
}

export class Awake {
  constructor() {
    this.wanted = false;
    this.sentinel = null;
    this.asking = false;
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && this.wanted) this.acquire();
    });
  }

  /** Keep the screen on (true) or let it sleep (false); a no-op where unsupported. */
  want(on) {
    this.wanted = Boolean(on);
    document.body.dataset.keepAwake = this.wanted ? '1' : '';
    if (this.wanted) this.acquire();
    else this.release();
  }

  async acquire() {
    if (this.sentinel || this.asking || !('wakeLock' in navigator)) return;
    if (document.visibilityState !== 'visible') return;
    this.asking = true;
    try {
      const lock = await navigator.wakeLock.request('screen');
      lock.addEventListener('release', () => {
        if (this.sentinel === lock) this.sentinel = null;
        document.body.dataset.awake = '';
      });
      this.sentinel = lock;
      document.body.dataset.awake = '1';
      if (!this.wanted) this.release();  // no longer wanted while we were asking
    } catch {
      /* refused (battery saver, no permission, not secure): the screen may sleep */
    } finally {
      this.asking = false;
    }
  }

  release() {
    const lock = this.sentinel;
    this.sentinel = null;
    document.body.dataset.awake = '';
    if (lock) lock.release().catch(() => {});
  }
}
