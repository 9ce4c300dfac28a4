// Small DOM helpers shared by the pages: build elements without innerHTML (names and numbers
// come from the server and must never be parsed as markup), and format times.

/**
 * h('button', {class: 'big', on: {click: fn}, 'aria-label': 'Next'}, 'Next')
 * Attributes: class, text, dataset {}, on {event: fn}, hidden (bool), anything else via
 * setAttribute (null/false skips it). Children: strings, numbers, nodes, arrays, null.
 */
export function h(tag, attrs = {}, ...children) {
  const el = tag.includes(':')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.split(':')[1])
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === 'class') el.setAttribute('class', value);
    else if (name === 'text') el.textContent = value;
    else if (name === 'dataset') Object.assign(el.dataset, value);
    else if (name === 'on') for (const [ev, fn] of Object.entries(value)) el.addEventListener(ev, fn);
    else if (name === 'hidden') el.hidden = true;
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace el's children, with h()'s rules (null/false skipped, arrays flattened). */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

/** hh:mm in the viewer's locale, 24 h. */
export function hhmm(date = new Date()) {
  const d = date instanceof Date ? date : new Date(date);
  return d.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
}

/** Whole minutes since an ISO time (never negative). */
export function minutesSince(iso, now = Date.now()) {
  if (!iso) return null;
  return Math.max(0, Math.floor((now - new Date(iso).getTime()) / 60000));
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Call fn at most once per `ms`, trailing: many events in a burst give one re-fetch. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** Show one section of a page and hide its siblings marked data-view. */
export function showView(name) {
  for (const el of $$('[data-view]')) el.hidden = el.dataset.view !== name;
}
