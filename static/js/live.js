// The live connection every page shares: a websocket that reconnects by itself.
//
// - Reconnects with exponential backoff and full jitter (so a hundred boards do not all
//   come back in the same millisecond after a server restart).
// - Resumes with ?since=<last seq>: the server replays what was missed, or sends a fresh
//   `snapshot` when it cannot; the page handles both the same way as on first connect.
// - Heartbeat: sends {"type":"ping"} every PING_MS (answered by "pong"; the server also sends
//   "heartbeat" when idle); a socket silent for STALE_MS is taken as dead (a half-open TCP
//   connection never fires onclose) and replaced.
// - While cut off, a badge says "Reconnecting… last update hh:mm" so nobody trusts a stale
//   screen; it disappears on the next message.
// - Close codes 4401 (unauthorised) and 4403 (revoked) are final: onDenied is called and it
//   stops, unless retryDenied is set (a board keeps trying, slowly, in case the key returns).

import { t } from './i18n.js';
import { hhmm } from './dom.js';

const BASE_MS = 500;
const CAP_MS = 10000;
const PING_MS = 15000;
const STALE_MS = 40000;
const BADGE_DELAY_MS = 1500;   // a blip shorter than this is not worth alarming anyone
const DENIED_RETRY_MS = 60000;
const SETTLE_MS = 5000;        // a connection that stays up this long resets the backoff

export const CLOSE = { UNAUTHORISED: 4401, REVOKED: 4403, OVERLOADED: 4408 };

export class Live {
  /**
   * @param {object} o
   * @param {() => string} o.path   websocket path with its query (without since), e.g.
   *                                 `/ws/board/<id>?key=...`
   * @param {(msg: object) => void} o.onMessage  every server message except pong
   * @param {(code: number, reason: string) => void} [o.onDenied]
   * @param {(state: string) => void} [o.onState]  'connecting' | 'live' | 'down' | 'denied'
   * @param {HTMLElement} [o.badgeParent]  where the reconnecting badge goes (document.body)
   * @param {boolean} [o.retryDenied]
   */
  constructor(o) {
    this.o = o;
    this.ws = null;
    this.lastSeq = null;
    this.lastUpdate = null;
    this.attempt = 0;
    this.stopped = false;
    this.state = 'idle';
    this.timers = {};
    this.badge = makeBadge(o.badgeParent || document.body);
    this._onOnline = () => this.reconnectNow();
    this._onVisible = () => { if (!document.hidden && this.state === 'down') this.reconnectNow(); };
  }

  start() {
    this.stopped = false;
    window.addEventListener('online', this._onOnline);
    document.addEventListener('visibilitychange', this._onVisible);
    this.connect();
    return this;
  }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this._onOnline);
    document.removeEventListener('visibilitychange', this._onVisible);
    this.clearTimers();
    if (this.ws) { this.ws.onclose = null; this.ws.close(1000); this.ws = null; }
    this.badge.hidden = true;
  }

  /** Forget the resume point: the next connection starts with a snapshot. */
  resetSeq() { this.lastSeq = null; }

  url() {
    const u = new URL(this.o.path(), location.href);
    u.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    if (this.lastSeq !== null) u.searchParams.set('since', String(this.lastSeq));
    return u.toString();
  }

  connect() {
    if (this.stopped) return;
    this.clearTimers();
    this.setState(this.state === 'down' ? 'down' : 'connecting');
    let ws;
    try {
      ws = new WebSocket(this.url());
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      // open is live: a resume with nothing missed gets no message at all until the next event
      this.timers.ping = setInterval(() => this.send({ type: 'ping' }), PING_MS);
      this.timers.settle = setTimeout(() => { this.attempt = 0; }, SETTLE_MS);
      this.touch();
      this.lastUpdate = new Date();
      this.setState('live');
    };
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onerror = () => { /* onclose follows and decides */ };
    ws.onclose = (ev) => this.closed(ev);
    // a socket that neither opens nor closes (black-holed network) is replaced
    this.timers.stale = setTimeout(() => this.kill(), STALE_MS);
  }

  receive(raw) {
    let msg;
    try { msg = JSON.parse(raw); } catch { return; }
    this.touch();
    this.lastUpdate = new Date();  // any message proves the screen is current
    if (msg.type === 'pong' || msg.type === 'heartbeat') return;
    if (typeof msg.seq === 'number') {
      // an event we already applied (replayed after a resume) is skipped; a snapshot always
      // replaces what we had, and its number is where the next resume starts
      if (msg.type !== 'snapshot' && this.lastSeq !== null && msg.seq <= this.lastSeq) return;
      this.lastSeq = msg.seq;
    }
    this.setState('live');
    try {
      this.o.onMessage(msg);
    } catch (err) {
      console.error('live: handler failed', err);
    }
  }

  touch() {
    clearTimeout(this.timers.stale);
    this.timers.stale = setTimeout(() => this.kill(), STALE_MS);
  }

  send(obj) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(obj));
  }

  kill() {
    if (!this.ws) return;
    const ws = this.ws;
    ws.onclose = null;
    try { ws.close(); } catch { /* already closing */ }
    this.closed({ code: 1006, reason: 'stale' });
  }

  closed(ev) {
    this.ws = null;
    this.clearTimers();
    if (this.stopped) return;
    if (ev.code === CLOSE.UNAUTHORISED || ev.code === CLOSE.REVOKED) {
      this.setState('denied');
      this.o.onDenied?.(ev.code, ev.reason || '');
      if (this.o.retryDenied) this.timers.retry = setTimeout(() => this.connect(), DENIED_RETRY_MS);
      return;
    }
    this.setState('down');
    this.scheduleReconnect();
  }

  scheduleReconnect() {
    const ceiling = Math.min(CAP_MS, BASE_MS * 2 ** this.attempt);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.attempt += 1;
    this.timers.retry = setTimeout(() => this.connect(), delay);
  }

  reconnectNow() {
    if (this.stopped || (this.ws && this.ws.readyState === WebSocket.OPEN)) return;
    this.attempt = 0;
    if (this.ws) { this.ws.onclose = null; this.ws.close(); this.ws = null; }
    this.connect();
  }

  clearTimers() {
    clearInterval(this.timers.ping);
    clearTimeout(this.timers.stale);
    clearTimeout(this.timers.retry);
    clearTimeout(this.timers.settle);
    this.timers = {};
  }

  setState(state) {
    const was = this.state;
    this.state = state;
    if (state === 'live') {
      clearTimeout(this.badgeTimer);
      this.badgeTimer = null;
      this.badge.hidden = true;
    } else if (state === 'down' && was !== 'down' && !this.badgeTimer) {
      this.badgeTimer = setTimeout(() => {
        this.badgeTimer = null;
        if (this.state !== 'live') this.showBadge();
      }, BADGE_DELAY_MS);
    } else if (state === 'denied') {
      this.showBadge(t('live.denied'));
    }
    if (was !== state) this.o.onState?.(state);
  }

  showBadge(text) {
    const since = this.lastUpdate ? t('live.lastUpdate', { time: hhmm(this.lastUpdate) }) : '';
    this.badge.textContent = text || `${t('live.reconnecting')} ${since}`.trim();
    this.badge.hidden = false;
  }
}

function makeBadge(parent) {
  const el = document.createElement('div');
  el.className = 'live-badge';
  el.setAttribute('role', 'status');
  el.setAttribute('aria-live', 'polite');
  el.dataset.testid = 'live-badge';
  el.hidden = true;
  parent.append(el);
  return el;
}
