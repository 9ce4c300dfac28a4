// Sound without files or network: one shared AudioContext, a synthesised chime, and the
// autoplay check.
//
// Browsers start audio "suspended" until the person interacts with the page. A kiosk TV
// started with Chromium's `--autoplay-policy=no-user-gesture-required` is never blocked; on
// anything else the page asks once for a tap (whenGesture) and resumes.

import { sleep } from './dom.js';

let ctx = null;

export function audioContext() {
  if (!ctx) {
    const AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) return null;
    ctx = new AC();
  }
  return ctx;
}

/** True when sound can play now; tries to resume a suspended context first. */
export async function canPlay() {
  const c = audioContext();
  if (!c) return false;
  if (c.state === 'running') return true;
  try {
    await Promise.race([c.resume(), sleep(400)]);
  } catch { /* blocked */ }
  return c.state === 'running';
}

/** Run cb after the next tap or key press (once); resumes audio inside the gesture. */
export function whenGesture(cb) {
  const handler = async () => {
    window.removeEventListener('pointerdown', handler, true);
    window.removeEventListener('keydown', handler, true);
    const c = audioContext();
    if (c) { try { await c.resume(); } catch { /* still blocked */ } }
    if ('speechSynthesis' in window) {
      // speaking once inside a gesture unlocks speech for the page (Chromium)
      try { speechSynthesis.speak(new SpeechSynthesisUtterance(' ')); } catch { /* none */ }
    }
    cb();
  };
  window.addEventListener('pointerdown', handler, true);
  window.addEventListener('keydown', handler, true);
}

function tone(c, freq, start, duration, gain = 0.35) {
  const osc = c.createOscillator();
  const amp = c.createGain();
  osc.type = 'sine';
  osc.frequency.value = freq;
  amp.gain.setValueAtTime(0.0001, start);
  amp.gain.exponentialRampToValueAtTime(gain, start + 0.02);
  amp.gain.exponentialRampToValueAtTime(0.0001, start + duration);
  osc.connect(amp).connect(c.destination);
  osc.start(start);
  osc.stop(start + duration + 0.05);
}

/** The two-note "ding-dong" before an announcement; resolves when it has sounded. */
export async function chime() {
  const c = audioContext();
  if (!c || c.state !== 'running') return;
  const t0 = c.currentTime + 0.05;
  tone(c, 659.25, t0, 0.9);          // E5
  tone(c, 523.25, t0 + 0.55, 1.2);   // C5
  await sleep(1800);
}

/** An attention pattern for the patient's phone (three short beeps). */
export async function alertBeeps() {
  const c = audioContext();
  if (!c || c.state !== 'running') return;
  const t0 = c.currentTime + 0.05;
  for (let i = 0; i < 3; i += 1) tone(c, 880, t0 + i * 0.35, 0.25, 0.5);
  await sleep(1200);
}

/** Play decoded AudioBuffers one after another, with a small gap; resolves at the end. */
export async function playSequence(buffers, gapS = 0.04) {
  const c = audioContext();
  if (!c || c.state !== 'running' || !buffers.length) return;
  let at = c.currentTime + 0.05;
  for (const buf of buffers) {
    const src = c.createBufferSource();
    src.buffer = buf;
    src.connect(c.destination);
    src.start(at);
    at += buf.duration + gapS;
  }
  await sleep((at - c.currentTime) * 1000);
}
