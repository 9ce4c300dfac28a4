// Spoken announcements for the display board, offline.
//
// "Token CARD 45, please go to cabin C 101" in each of the board's languages, in order (e.g.
// Hindi, then English); a recall says so: "Token CARD 45, again, please go to cabin C 101"
// ("... 45, फिर से, केबिन ..."). The browser's own speech voice is used for a language when it has a
// LOCAL one (speechSynthesis; a network voice would need the internet); otherwise the
// fragments in /static/audio/<lang>/ (made by static/audio/generate.sh with espeak-ng) are
// joined: letters are spelled, numbers built from 0-99 plus "hundred"/"thousand".
//
// The Announcer only speaks: the page shows a call the instant it arrives. Calls queue for
// the loudspeaker only, so two never talk over each other; a call that is no longer current
// when its turn comes (no-show, skip, a newer call at that cabin) is not spoken.

import { chime, audioContext, canPlay, playSequence } from '../js/sound.js';
import { sleep } from '../js/dom.js';

const GAP_MS = 500;                // between two calls
const LANG_GAP_MS = 300;           // between the languages of one call
const SPEECH_TIMEOUT_MS = 12000;

const SPEECH = {
  en: (c) => `Token ${spell(c.letters)} ${c.number},${c.again} please go to cabin ${c.cabinSpoken}`,
  hi: (c) => `टोकन नंबर ${spell(c.letters)} ${c.number},${c.again} केबिन ${c.cabinSpoken} में आइए`,
  bn: (c) => `টোকেন নম্বর ${spell(c.letters)} ${c.number},${c.again} কেবিন ${c.cabinSpoken} নম্বরে আসুন`,
  mr: (c) => `टोकन नंबर ${spell(c.letters)} ${c.number},${c.again} केबिन ${c.cabinSpoken} मध्ये या`,
  te: (c) => `టోకెన్ నంబర్ ${spell(c.letters)} ${c.number},${c.again} క్యాబిన్ ${c.cabinSpoken} నంబర్‌కు రండి`,
  ta: (c) => `டோக்கன் எண் ${spell(c.letters)} ${c.number},${c.again} அறை ${c.cabinSpoken} எண்ணுக்கு வாருங்கள்`,
  kn: (c) => `ಟೋಕನ್ ಸಂಖ್ಯೆ ${spell(c.letters)} ${c.number},${c.again} ಕ್ಯಾಬಿನ್ ${c.cabinSpoken} ಸಂಖ್ಯೆಗೆ ಬನ್ನಿ`,
  ml: (c) => `ടോക്കൺ നമ്പർ ${spell(c.letters)} ${c.number},${c.again} ക്യാബിൻ ${c.cabinSpoken} നമ്പറിലേക്ക് വരൂ`,
  gu: (c) => `ટોકન નંબર ${spell(c.letters)} ${c.number},${c.again} કેબિન ${c.cabinSpoken} માં આવો`,
};
// "again" in each language, said after the number of a recall (the "again" fragments of
// static/audio/generate.sh say the same words)
const AGAIN = {
  en: 'again', hi: 'फिर से', bn: 'আবার', mr: 'पुन्हा', te: 'మళ్ళీ', ta: 'மீண்டும்',
  kn: 'ಮತ್ತೊಮ್ಮೆ', ml: 'വീണ്ടും', gu: 'ફરીથી',
};
// the same words as the fragments of static/audio/generate.sh, for a browser's local voice
const SPEECH_LANG = Object.fromEntries(Object.keys(SPEECH).map((l) => [l, [`${l}-IN`, l]]));

function spell(letters) { return letters.split('').join(' '); }

/** "CARD-045" -> {letters: "CARD", number: 45}; "C-101" -> parts [["C"], 101]. */
export function parseToken(number) {
  const m = /^([A-Za-z]*)[-\s]*0*(\d+)$/.exec(String(number).trim());
  if (!m) return { letters: '', number: null, raw: String(number) };
  return { letters: m[1].toUpperCase(), number: Number(m[2]), raw: String(number) };
}

/** Split a cabin label into letter runs and numbers: "C-101" -> ["C", 101]; "3" -> [3]. */
export function cabinParts(cabin) {
  const out = [];
  for (const m of String(cabin || '').matchAll(/([A-Za-z]+)|(\d+)/g)) {
    out.push(m[1] ? m[1].toUpperCase() : Number(m[2]));
  }
  return out;
}

/** Fragment names for a number 0-9999 (both languages say it hundreds-first). */
export function numberFragments(n) {
  const out = [];
  let rest = Math.floor(n);
  if (rest >= 1000) { out.push(`n${Math.floor(rest / 1000)}`, 'thousand'); rest %= 1000; }
  if (rest >= 100) { out.push(`n${Math.floor(rest / 100)}`, 'hundred'); rest %= 100; }
  if (rest > 0 || out.length === 0) out.push(`n${rest}`);
  return out;
}

function letterFragments(letters) {
  return letters.split('').filter((c) => /[A-Z]/i.test(c)).map((c) => `letter-${c.toLowerCase()}`);
}

/** The fragment names of one call, following the manifest's phrase for the language; a
 * recall (call.recall > 0) says "again" where the phrase has {again}. */
export function callFragments(phrase, call) {
  const tok = parseToken(call.number);
  const out = [];
  for (const part of phrase) {
    if (part === '{again}') { if (call.recall) out.push('again'); }
    else if (part === '{letters}') out.push(...letterFragments(tok.letters));
    else if (part === '{number}') { if (tok.number !== null) out.push(...numberFragments(tok.number)); }
    else if (part === '{cabin}') {
      for (const p of cabinParts(call.cabin)) {
        out.push(...(typeof p === 'number' ? numberFragments(p) : letterFragments(p)));
      }
    } else out.push(part);
  }
  return out;
}

export class Announcer {
  /**
   * @param {object} o
   * @param {() => string[]} o.langs        the board's languages in order, e.g. ['hi', 'en']
   * @param {(call) => boolean} [o.current] still worth saying? (default: always)
   */
  constructor(o) {
    this.o = o;
    this.queue = [];
    this.running = false;
    this.buffers = new Map();     // "lang/name" -> AudioBuffer
    this.manifest = null;
    this.spoken = [];             // what was said, newest last (kiosk diagnostics, tests)
    this.voices = [];
    if ('speechSynthesis' in window) {
      this.voices = speechSynthesis.getVoices();
      speechSynthesis.addEventListener?.('voiceschanged', () => {
        this.voices = speechSynthesis.getVoices();
      });
    }
  }

  /** The board's languages this announcer can speak (English when none). */
  langs() {
    const out = (this.o.langs() || []).filter((l) => SPEECH[l]);
    return out.length ? [...new Set(out)] : ['en'];
  }

  /** Queue a call {id, number, cabin, recall} for the loudspeaker. */
  enqueue(call) {
    this.queue.push(call);
    if (!this.running) this.run();
  }

  async run() {
    this.running = true;
    try {
      while (this.queue.length) {
        const call = this.queue.shift();
        if (this.o.current && !this.o.current(call)) continue;
        await this.sound(call).catch((err) => console.warn('announce: sound failed', err));
        if (this.queue.length) await sleep(GAP_MS);
      }
    } finally {
      this.running = false;
    }
  }

  async sound(call) {
    if (!(await canPlay())) return;  // blocked: the page offers "tap to enable sound"
    await chime();
    const langs = this.langs();
    for (const [i, lang] of langs.entries()) {
      if (this.o.current && !this.o.current(call)) return;  // e.g. a no-show during the chime
      if (i > 0) await sleep(LANG_GAP_MS);
      const voice = this.localVoice(lang);
      if (voice) await this.speak(call, lang, voice);
      else await this.playFragments(call, lang);
    }
  }

  /** A speech voice for the language that runs on this machine (no network), or null. */
  localVoice(lang) {
    const wanted = SPEECH_LANG[lang];
    for (const prefix of wanted) {
      const v = this.voices.find((x) => x.localService && x.lang?.replace('_', '-')
        .toLowerCase().startsWith(prefix.toLowerCase()));
      if (v) return v;
    }
    return null;
  }

  speak(call, lang, voice) {
    const tok = parseToken(call.number);
    const cabinSpoken = cabinParts(call.cabin).map((p) => (typeof p === 'number' ? p : spell(p))).join(' ');
    const again = call.recall ? ` ${AGAIN[lang]},` : '';
    const text = SPEECH[lang]({ letters: tok.letters, number: tok.number ?? tok.raw, cabinSpoken,
                                again });
    return new Promise((resolve) => {
      const u = new SpeechSynthesisUtterance(text);
      u.voice = voice;
      u.lang = voice.lang;
      u.rate = 0.9;
      const done = () => { clearTimeout(timer); resolve(); };
      const timer = setTimeout(done, SPEECH_TIMEOUT_MS);
      u.onend = done;
      u.onerror = done;
      this.said({ via: 'speech', lang: u.lang, text, id: call.id, recall: call.recall || 0 });
      speechSynthesis.speak(u);
    });
  }

  said(entry) {
    this.spoken.push(entry);
    if (this.spoken.length > 20) this.spoken.shift();
  }

  async loadManifest() {
    if (!this.manifest) {
      const res = await fetch('/static/audio/manifest.json');
      this.manifest = await res.json();
    }
    return this.manifest;
  }

  async buffer(lang, name) {
    const id = `${lang}/${name}`;
    if (!this.buffers.has(id)) {
      const p = fetch(`/static/audio/${id}.ogg`)
        .then((r) => { if (!r.ok) throw new Error(`${id}: ${r.status}`); return r.arrayBuffer(); })
        .then((data) => audioContext().decodeAudioData(data));
      this.buffers.set(id, p);
      p.catch(() => this.buffers.delete(id));
    }
    return this.buffers.get(id);
  }

  async playFragments(call, wanted) {
    const manifest = await this.loadManifest();
    const lang = manifest.phrases[wanted] ? wanted : 'en';
    const have = new Set(manifest.fragments[lang] || []);
    const names = callFragments(manifest.phrases[lang], call).filter((n) => have.has(n));
    const buffers = await Promise.all(names.map((n) => this.buffer(lang, n)));
    this.said({ via: 'fragments', lang, parts: names, id: call.id, recall: call.recall || 0 });
    await playSequence(buffers);
  }
}
