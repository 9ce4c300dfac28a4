// The waitlist offer page: /w/<code>, opened from the offer SMS or WhatsApp message.
//
// Shows the freed slot (department, time, until when the offer stays open) and lets the
// patient accept (a BOOKED token: its number, and a link to its live page) or decline (the
// slot goes to the next patient). Nothing personal is shown: the link may be forwarded.
// English and Hindi, by the patient's language.

const code = decodeURIComponent(location.pathname.split('/w/')[1] || '');
const API = `/api/v1/public/waitlist/${encodeURIComponent(code)}`;
const $ = (sel) => document.querySelector(sel);

const TEXT = {
  en: {
    title: 'A slot has opened for you', text: 'You are on the waitlist. This appointment is free now: do you want it?',
    dept: 'Department', when: 'Appointment', until: 'Answer by', accept: 'Yes, book this slot',
    decline: 'No, thank you', booked: 'Booked', bookedText: 'Your token is {number}. Please check in at the desk when you arrive.',
    open: 'Open my token', declined: 'Thank you', declinedText: 'We have offered the slot to the next patient. You stay on the waitlist.',
    gone: 'This offer has ended', goneText: 'The slot was taken or the time to answer has passed. You stay on the waitlist; we will message you if another slot opens.',
    invalid: 'This link is not valid', invalidText: 'Please check the link in your message.',
    error: 'Something went wrong. Please try again.', taken: 'Sorry, another patient took this slot first.',
  },
  hi: {
    title: 'आपके लिए समय खाली है', text: 'आप प्रतीक्षा सूची में हैं। यह समय अभी खाली है: क्या आप इसे लेना चाहेंगे?',
    dept: 'विभाग', when: 'समय', until: 'जवाब दें', accept: 'हाँ, यह समय बुक करें',
    decline: 'नहीं, धन्यवाद', booked: 'बुक हो गया', bookedText: 'आपका टोकन {number} है। आने पर काउंटर पर चेक-इन करें।',
    open: 'मेरा टोकन देखें', declined: 'धन्यवाद', declinedText: 'यह समय अगले मरीज़ को दिया गया। आप प्रतीक्षा सूची में बने रहेंगे।',
    gone: 'यह प्रस्ताव समाप्त', goneText: 'समय ले लिया गया या जवाब का समय बीत गया। आप प्रतीक्षा सूची में हैं।',
    invalid: 'यह लिंक मान्य नहीं है', invalidText: 'कृपया संदेश का लिंक जाँचें।',
    error: 'कुछ गलत हुआ। फिर कोशिश करें।', taken: 'माफ़ कीजिए, यह समय किसी और ने ले लिया।',
  },
};
let T = TEXT.en;
let offer = null;

function show(title, text) {
  $('#o-title').textContent = title;
  $('#o-text').textContent = text;
}

function when(iso, tz) {
  return new Date(iso).toLocaleString(document.documentElement.lang === 'hi' ? 'hi-IN' : 'en-IN',
    { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', timeZone: tz });
}

function ended(status) {
  $('#o-actions').hidden = true;
  $('#o-until-row').hidden = true;
  if (status === 'DECLINED') show(T.declined, T.declinedText);
  else show(T.gone, T.goneText);
}

async function answer(kind, button) {
  for (const b of document.querySelectorAll('#o-actions button')) b.disabled = true;
  $('#o-error').hidden = true;
  try {
    const res = await fetch(`${API}/${kind}`, { method: 'POST', headers: { Accept: 'application/json' } });
    const data = await res.json().catch(() => ({}));
    if (res.ok && kind === 'accept') {
      $('#o-actions').hidden = true;
      $('#o-until-row').hidden = true;
      document.body.classList.add('o-done');
      show(T.booked, T.bookedText.replace('{number}', data.number));
      const link = $('#o-link');
      link.href = new URL(data.patient_link).pathname;
      link.textContent = T.open;
      link.hidden = false;
      return;
    }
    if (res.ok) { ended('DECLINED'); return; }
    if (res.status === 409) {
      ended('GONE');
      if (kind === 'accept') $('#o-text').textContent = T.taken;
      return;
    }
    throw new Error(String(res.status));
  } catch {
    $('#o-error').textContent = T.error;
    $('#o-error').hidden = false;
    for (const b of document.querySelectorAll('#o-actions button')) b.disabled = false;
    button.focus();
  }
}

async function main() {
  const res = await fetch(API, { headers: { Accept: 'application/json' } });
  if (!res.ok) {
    show(TEXT.en.invalid, TEXT.en.invalidText);
    return;
  }
  offer = await res.json();
  T = TEXT[offer.language] || TEXT.en;
  document.documentElement.lang = TEXT[offer.language] ? offer.language : 'en';
  $('#o-dept-label').textContent = T.dept;
  $('#o-when-label').textContent = T.when;
  $('#o-until-label').textContent = T.until;
  $('#o-accept').textContent = T.accept;
  $('#o-decline').textContent = T.decline;
  $('#o-dept').textContent = offer.department;
  $('#o-when').textContent = when(offer.scheduled_time, offer.timezone);
  $('#o-until').textContent = new Date(offer.expires_at).toLocaleTimeString(
    document.documentElement.lang === 'hi' ? 'hi-IN' : 'en-IN',
    { hour: '2-digit', minute: '2-digit', timeZone: offer.timezone });
  $('#o-facts').hidden = false;
  if (offer.status !== 'OPEN') { ended(offer.status); return; }
  show(T.title, T.text);
  $('#o-actions').hidden = false;
  $('#o-accept').addEventListener('click', (ev) => answer('accept', ev.currentTarget));
  $('#o-decline').addEventListener('click', (ev) => answer('decline', ev.currentTarget));
}

main().catch(() => show(TEXT.en.error, ''));
