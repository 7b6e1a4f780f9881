// audit.js: the audit log ("/audit"): filters kept in the URL, pages of
// GET /api/v1/audit, and a CSV link with the same filters.
import {api, el, showErrors} from '/static/fd.js';
import {localDayToRFC3339, fmtFull, actorName} from '/static/inbox-common.js';

const FIELDS = ['actor', 'action', 'box', 'message_id', 'from', 'to'];
const PAGE = 100;

const form = document.getElementById('audit-filter');
const tbody = document.getElementById('audit-list').tBodies[0];
const more = document.getElementById('audit-more');
const empty = document.getElementById('audit-empty');
const errBox = document.getElementById('audit-error');
const csv = document.getElementById('audit-csv');

let filters = readURL();
let next = null;
let seq = 0;

function readURL() {
  const q = new URLSearchParams(location.search);
  const f = {};
  for (const k of FIELDS) f[k] = (q.get(k) || '').trim();
  return f;
}

// apiQuery is the API's query for the filters; dates become the user's
// local midnights.
function apiQuery(extra) {
  const q = new URLSearchParams();
  for (const k of FIELDS) {
    const v = filters[k];
    if (!v) continue;
    if (k === 'from' || k === 'to') q.set(k, localDayToRFC3339(v, k === 'to'));
    else q.set(k, v);
  }
  for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
  return q.toString();
}

function fillForm() {
  for (const k of FIELDS) if (form.elements[k]) form.elements[k].value = filters[k];
}

function row(e) {
  return el('tr', {dataset: {id: String(e.id)}},
    el('td', {class: 'time', dataset: {label: 'Time'}}, el('time', {datetime: e.at}, fmtFull(e.at))),
    el('td', {class: 'actor', dataset: {label: 'Who'}, title: e.actor}, actorName(e.actor)),
    el('td', {class: 'action', dataset: {label: 'Action'}}, e.action),
    el('td', {class: 'box', dataset: {label: 'Inbox'}}, e.box || ''),
    el('td', {class: 'message', dataset: {label: 'Message'}}, e.message_id ? el('a', {href: `/messages/${e.message_id}`}, String(e.message_id)) : ''),
    el('td', {class: 'detail', dataset: {label: 'Detail'}}, e.detail || ''));
}

async function load(append) {
  const n = ++seq;
  const extra = {limit: String(PAGE)};
  if (append && next) extra.before_id = String(next.before_id);
  let page;
  try {
    page = await api('GET', '/audit?' + apiQuery(extra));
  } catch (err) {
    if (n !== seq) return;
    if (err.fields) showErrors(form, err); else errBox.textContent = err.message;
    return;
  }
  if (n !== seq) return;
  showErrors(form, null);
  errBox.textContent = '';
  const items = Array.isArray(page) ? page : (page.items || []);
  const rows = items.map(row);
  if (append) tbody.append(...rows); else tbody.replaceChildren(...rows);
  next = Array.isArray(page) ? null : page.next || null;
  more.hidden = !next;
  empty.hidden = tbody.rows.length > 0;
}

function apply(push) {
  const q = new URLSearchParams();
  for (const k of FIELDS) if (filters[k]) q.set(k, filters[k]);
  const url = location.pathname + (q.toString() ? '?' + q : '');
  if (push) history.pushState(null, '', url);
  csv.href = '/api/v1/audit?' + apiQuery({format: 'csv'});
  next = null;
  load(false);
}

async function loadBoxes() {
  let boxes = [];
  try { boxes = await api('GET', '/inboxes'); } catch { return; /* the box filter stays free-form */ }
  const sel = form.elements.box;
  sel.replaceChildren(el('option', {value: ''}, 'Any'),
    ...boxes.map(b => el('option', {value: b.number}, `${b.name || b.number} (${b.number})`)));
  if (filters.box && !boxes.some(b => b.number === filters.box)) sel.append(el('option', {value: filters.box}, filters.box));
  sel.value = filters.box;
}

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  for (const k of FIELDS) filters[k] = form.elements[k] ? form.elements[k].value.trim() : '';
  apply(true);
});

form.addEventListener('reset', () => {
  // After the browser has cleared the fields.
  setTimeout(() => {
    for (const k of FIELDS) filters[k] = '';
    fillForm();
    apply(true);
  });
});

more.addEventListener('click', () => load(true));

window.addEventListener('popstate', () => {
  filters = readURL();
  fillForm();
  apply(false);
});

fillForm();
loadBoxes();
apply(false);
