// fd.js: the few helpers every page shares. No framework, no build step.
//   import {api, el, toast, formData, showErrors} from '/static/fd.js';

const csrf = () => document.querySelector('meta[name="csrf-token"]')?.content || '';

// api calls the JSON API. It sends the CSRF token on every state change and
// throws an Error whose message is the server's explanation on failure
// (err.status holds the HTTP status, err.fields any per-field errors).
export async function api(method, path, body) {
  const opts = {method, headers: {'Accept': 'application/json'}, credentials: 'same-origin'};
  if (method !== 'GET' && method !== 'HEAD') opts.headers['X-CSRF-Token'] = csrf();
  if (body instanceof FormData) {
    opts.body = body;
  } else if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const res = await fetch('/api/v1' + path, opts);
  if (res.status === 401) {
    location.href = '/login?next=' + encodeURIComponent(location.pathname + location.search);
    throw new Error('logged out');
  }
  const type = res.headers.get('Content-Type') || '';
  const data = type.includes('json') ? await res.json() : await res.text();
  if (!res.ok) {
    const err = new Error((data && data.error) || res.statusText);
    err.status = res.status;
    err.fields = data && data.fields;
    throw err;
  }
  return data;
}

// el builds an element: el('a', {href: '/', class: 'x', onclick: fn}, 'text', child...).
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else if (v === true) e.setAttribute(k, '');
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// toast shows a short message at the bottom of the page.
export function toast(msg, isError) {
  const t = document.getElementById('toast');
  if (!t) return;
  t.textContent = msg;
  t.className = isError ? 'show error' : 'show';
  clearTimeout(t._timer);
  t._timer = setTimeout(() => { t.className = ''; }, 4000);
}

// formData turns a form's fields into a plain object: checkboxes become
// booleans, number inputs numbers, multi-selects arrays.
export function formData(form) {
  const out = {};
  for (const f of form.elements) {
    if (!f.name || f.disabled) continue;
    if (f.type === 'checkbox') out[f.name] = f.checked;
    else if (f.type === 'number') out[f.name] = f.value === '' ? 0 : Number(f.value);
    else if (f.tagName === 'SELECT' && f.multiple) out[f.name] = [...f.selectedOptions].map(o => o.value);
    else if (f.type === 'file' || f.type === 'submit' || f.type === 'button') continue;
    else out[f.name] = f.value;
  }
  return out;
}

// showErrors puts the server's error under the form, and per-field errors
// (err.fields: {name: message}) beside their fields.
export function showErrors(form, err) {
  form.querySelectorAll('.field-error').forEach(e => e.remove());
  form.querySelectorAll('[aria-invalid]').forEach(e => e.removeAttribute('aria-invalid'));
  let box = form.querySelector('.form-error');
  if (!box) { box = el('p', {class: 'form-error', role: 'alert'}); form.append(box); }
  box.textContent = err ? err.message : '';
  for (const [name, msg] of Object.entries((err && err.fields) || {})) {
    const f = form.elements[name];
    if (!f || !f.after) continue;
    f.setAttribute('aria-invalid', 'true');
    f.after(el('span', {class: 'field-error'}, msg));
  }
}

// fmtTime shows a time the way an inbox does: today's time, or a date.
export function fmtTime(iso) {
  const d = new Date(iso);
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return d.toLocaleTimeString([], {hour: '2-digit', minute: '2-digit'});
  return d.toLocaleDateString([], {month: 'short', day: 'numeric'}) + ' ' + d.toLocaleTimeString([], {hour: '2-digit', minute: '2-digit'});
}

// fmtDuration shows seconds as m:ss.
export function fmtDuration(s) {
  s = Math.round(s || 0);
  return Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0');
}

// typing reports whether a key event happens in a text field, where page
// shortcuts must not fire (or with a modifier, which belongs to the browser).
export function typing(ev) {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return true;
  const t = ev.target;
  if (!t || !t.closest) return false;
  return !!t.closest('input, textarea, select, [contenteditable=""], [contenteditable="true"]');
}

// flash keeps a message for the next page (a toast does not survive a
// navigation); the next page shows it at load.
export function flash(msg) {
  try { sessionStorage.setItem('fd.flash', msg); } catch { /* private mode */ }
}

// The logout form and other plain forms work without this file. At load:
// mark the current section in the header and show a flash message.
{
  const page = document.body.dataset.page || '';
  const section = page === 'message' ? 'inbox' : page.startsWith('admin') ? 'admin' : page;
  const link = document.querySelector(`header.top nav a[data-nav="${section}"]`);
  if (link) { link.classList.add('active'); link.setAttribute('aria-current', 'page'); }
  let msg = null;
  try { msg = sessionStorage.getItem('fd.flash'); sessionStorage.removeItem('fd.flash'); } catch { /* private mode */ }
  if (msg) toast(msg);
}
