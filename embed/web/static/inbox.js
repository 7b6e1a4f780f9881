// inbox.js: the team inbox list ("/"). The page is a shell; everything comes
// from /api/v1/inboxes (boxes and counts) and /api/v1/messages (rows). The
// list's state lives in the URL (?box=&view=&q=...) so reload and back work.
import {api, el, toast, fmtTime, fmtDuration, typing} from '/static/fd.js';
import {startLive, debounce} from '/static/live.js';
import {statusOf, markSnippet, saveListContext, toggleHelp, localDayToRFC3339} from '/static/inbox-common.js';

const PAGE = 50;
const VIEWS = ['unassigned', 'mine', 'open', 'done', 'trash'];
const FILTERS = ['q', 'caller', 'status', 'assignee', 'from', 'to'];

const boxSelect = document.getElementById('box-filter');
const table = document.getElementById('inbox-list');
const tbody = table.tBodies[0];
const form = document.getElementById('search-form');
const moreBtn = document.getElementById('load-more');
const empty = document.getElementById('inbox-empty');
const errBox = document.getElementById('inbox-error');
const title = document.getElementById('list-title');
const clearBtn = document.getElementById('search-clear');

let state = readState();
let items = [];
let next = null;
let boxes = [];
let selectedID = null;
let loadSeq = 0;

// readState reads the list's state from the URL. A search looks through
// every view unless a view is named.
function readState() {
  const q = new URLSearchParams(location.search);
  const st = {box: q.get('box') || '', view: q.get('view') || ''};
  for (const f of FILTERS) st[f] = q.get(f) || '';
  if (!st.view) st.view = searching(st) ? 'all' : 'open';
  return st;
}

function searching(st) { return FILTERS.some(f => st[f]); }

function writeState(push) {
  const q = new URLSearchParams();
  if (state.box) q.set('box', state.box);
  const defView = searching(state) ? 'all' : 'open';
  if (state.view !== defView) q.set('view', state.view);
  for (const f of FILTERS) if (state[f]) q.set(f, state[f]);
  const url = location.pathname + (q.toString() ? '?' + q : '');
  if (push) history.pushState(null, '', url); else history.replaceState(null, '', url);
}

// apiQuery is the list request for the current state.
function apiQuery(extra) {
  const q = new URLSearchParams();
  if (state.box) q.set('box', state.box);
  q.set('view', state.view);
  for (const f of ['q', 'caller', 'status', 'assignee']) if (state[f]) q.set(f, state[f]);
  // Dates are the user's days: send their local midnights.
  if (state.from) q.set('from', localDayToRFC3339(state.from, false));
  if (state.to) q.set('to', localDayToRFC3339(state.to, true));
  for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
  return q.toString();
}

// ---- boxes, counts and tabs ----

async function loadBoxes() {
  try {
    boxes = await api('GET', '/inboxes');
  } catch (err) {
    errBox.textContent = err.message;
    return;
  }
  const keep = state.box;
  boxSelect.replaceChildren(el('option', {value: ''}, 'All my inboxes' + newSuffix(sum('unplayed'))));
  for (const b of boxes) {
    const label = `${b.name || b.number} (${b.number}) · ${b.kind === 'personal' ? 'personal' : 'shared'}`;
    boxSelect.append(el('option', {value: b.number}, label + newSuffix(b.counts?.unplayed)));
  }
  if (keep && !boxes.some(b => b.number === keep)) {
    // A box named in the URL the user can't see: the list call says why.
    boxSelect.append(el('option', {value: keep}, keep));
  }
  boxSelect.value = keep;
  renderCounts();
}

function newSuffix(n) { return n ? ` · ${n} new` : ''; }

// sum adds a count over the selected box, or every box.
function sum(field) {
  let n = 0;
  for (const b of boxes) {
    if (state.box && b.number !== state.box) continue;
    n += (b.counts && b.counts[field]) || 0;
  }
  return n;
}

function renderCounts() {
  for (const a of document.querySelectorAll('#view-tabs a[data-view]')) {
    const v = a.dataset.view;
    const span = a.querySelector('.count');
    if (span) span.textContent = boxes.length ? String(sum(v)) : '';
    const q = new URLSearchParams();
    if (state.box) q.set('box', state.box);
    q.set('view', v);
    a.href = '/?' + q;
    const on = v === state.view;
    a.classList.toggle('active', on);
    if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  const unplayed = sum('unplayed');
  const badge = document.getElementById('unplayed-badge');
  badge.textContent = `${unplayed} new`;
  badge.hidden = !unplayed;
}

// ---- the list ----

function boxName(number) {
  const b = boxes.find(x => x.number === number);
  return b ? (b.name || b.number) : number;
}

function row(it, fresh) {
  const m = it;
  const st = statusOf(m);
  const name = m.caller_name || m.caller_number || 'Unknown caller';
  const caller = el('td', {class: 'caller'},
    el('a', {href: `/messages/${m.id}`, class: 'caller-name'}, name),
    m.caller_name && m.caller_number ? el('span', {class: 'number'}, m.caller_number) : null,
    it.conversation_size > 1 ? el('span', {class: 'badge', title: `${it.conversation_size} messages in this conversation`}, String(it.conversation_size)) : null);
  const text = state.q && it.snippet ? it.snippet : it.first_line;
  const tr = el('tr', {dataset: {id: String(m.id)}, class: [m.played ? '' : 'unplayed', fresh ? 'fresh' : '', m.id === selectedID ? 'selected' : ''].filter(Boolean).join(' ') || null},
    caller,
    el('td', {class: 'box', dataset: {label: 'Inbox'}}, boxName(m.box)),
    el('td', {class: 'time', dataset: {label: 'Time'}}, el('time', {datetime: m.time, title: new Date(m.time).toLocaleString()}, fmtTime(m.time))),
    el('td', {class: 'duration', dataset: {label: 'Length'}}, fmtDuration(m.duration_seconds)),
    el('td', {class: 'first-line' + (it.transcript_state && it.transcript_state !== 'done' ? ' muted' : '')}, markSnippet(text || '')),
    el('td', {class: 'status', dataset: {label: 'Status'}}, el('span', {class: 'status-' + st.key}, st.label)),
    el('td', {class: 'assignee' + (it.assignee_name ? '' : ' muted'), dataset: {label: 'Assignee'}}, it.assignee_name || (m.assignee ? `user ${m.assignee}` : 'nobody')));
  if (!m.played) tr.title = 'Not played yet';
  return tr;
}

function render(freshIDs) {
  tbody.replaceChildren(...items.map(it => row(it, freshIDs && freshIDs.has(it.id))));
  empty.hidden = items.length > 0;
  if (!items.length) {
    empty.textContent = searching(state) ? 'Nothing matches this search.' : ({
      unassigned: 'Nothing waiting for someone to take it.',
      mine: 'Nothing assigned to you.',
      open: 'No open messages.',
      done: 'Nothing done yet.',
      trash: 'The trash is empty.',
    })[state.view] || 'No messages here.';
  }
  moreBtn.hidden = !next;
  saveListContext(items.map(it => it.id));
}

// loadList fetches the first page again (as many rows as are shown, so a
// live refresh keeps what "Load more" added) or appends the next page.
async function loadList({append = false, live = false} = {}) {
  const seq = ++loadSeq;
  const extra = {limit: String(PAGE)};
  if (append && next) {
    extra.before_time = next.before_time;
    extra.before_id = String(next.before_id);
  } else if (live) {
    extra.limit = String(Math.min(500, Math.max(PAGE, items.length)));
  }
  let page;
  try {
    page = await api('GET', '/messages?' + apiQuery(extra));
  } catch (err) {
    if (seq !== loadSeq) return;
    errBox.textContent = err.message;
    return;
  }
  if (seq !== loadSeq) return; // a newer request answers instead
  errBox.textContent = '';
  const got = page.items || [];
  let fresh = null;
  if (append) {
    items = items.concat(got.filter(it => !items.some(x => x.id === it.id)));
  } else {
    if (live) {
      const had = new Set(items.map(it => it.id));
      fresh = new Set(got.filter(it => !had.has(it.id)).map(it => it.id));
    }
    // Keep the selection where it was: the same message, or the row that
    // took its place when it left the view.
    const oldIndex = items.findIndex(it => it.id === selectedID);
    items = got;
    if (selectedID !== null && !items.some(it => it.id === selectedID)) {
      selectedID = items.length && oldIndex >= 0 ? items[Math.min(oldIndex, items.length - 1)].id : null;
    }
  }
  next = page.next || null;
  render(fresh);
}

function renderTitle() {
  const parts = [];
  if (state.q) parts.push(`“${state.q}”`);
  if (state.caller) parts.push(`caller ${state.caller}`);
  if (state.status) parts.push(state.status.replace('_', ' '));
  if (state.assignee) parts.push(`assigned to ${state.assignee === 'me' ? 'me' : state.assignee === 'unassigned' ? 'nobody' : state.assignee}`);
  if (state.from) parts.push(`from ${state.from}`);
  if (state.to) parts.push(`to ${state.to}`);
  title.hidden = !parts.length;
  title.textContent = parts.length ? 'Search: ' + parts.join(', ') : '';
  clearBtn.hidden = !parts.length;
}

function fillForm() {
  for (const f of FILTERS) {
    const input = form.elements[f];
    if (input) input.value = state[f];
  }
  document.getElementById('search-more').open = ['caller', 'status', 'assignee', 'from', 'to'].some(f => state[f]);
}

async function reload() {
  renderTitle();
  renderCounts();
  await loadList();
}

// ---- selection and keyboard ----

function rows() { return [...tbody.rows]; }

function select(id, scroll) {
  selectedID = id;
  for (const tr of rows()) {
    const on = Number(tr.dataset.id) === id;
    tr.classList.toggle('selected', on);
    if (on) tr.setAttribute('aria-selected', 'true'); else tr.removeAttribute('aria-selected');
    if (on && scroll) tr.scrollIntoView({block: 'nearest'});
  }
}

function move(delta) {
  const list = rows();
  if (!list.length) return;
  let i = list.findIndex(tr => Number(tr.dataset.id) === selectedID);
  i = i < 0 ? (delta > 0 ? 0 : list.length - 1) : Math.max(0, Math.min(list.length - 1, i + delta));
  select(Number(list[i].dataset.id), true);
  if (next && i === list.length - 1 && delta > 0) loadList({append: true});
}

function open(id) {
  if (id === null) return;
  saveListContext(items.map(it => it.id));
  location.href = `/messages/${id}`;
}

async function act(action, label) {
  if (selectedID === null) { toast('Select a message first (j / k)', true); return; }
  const id = selectedID;
  try {
    await api('POST', `/messages/${id}/${action}`, {});
    toast(label);
  } catch (err) {
    toast(err.message, true);
  }
  refresh();
}

document.addEventListener('keydown', (ev) => {
  if (typing(ev)) return;
  if (document.querySelector('dialog[open]') && ev.key !== '?') return;
  const onControl = ev.target.closest && ev.target.closest('a, button, summary');
  switch (ev.key) {
  case 'j': move(1); break;
  case 'k': move(-1); break;
  case 'Enter':
    if (onControl) return; // the link or button does its own thing
    open(selectedID);
    break;
  case 'o': open(selectedID); break;
  case 'e': act('done', 'Marked done'); break;
  case 'a': act('claim', 'Claimed: it is yours now'); break;
  case '/': document.getElementById('search').focus(); break;
  case '?': toggleHelp(); break;
  default: return;
  }
  ev.preventDefault();
});

tbody.addEventListener('click', (ev) => {
  const tr = ev.target.closest('tr[data-id]');
  if (!tr) return;
  const id = Number(tr.dataset.id);
  select(id, false);
  if (ev.target.closest('a')) { saveListContext(items.map(it => it.id)); return; } // the link opens it
  open(id);
});

// ---- controls ----

boxSelect.addEventListener('change', () => {
  state.box = boxSelect.value;
  selectedID = null;
  writeState(true);
  reload();
});

document.getElementById('view-tabs').addEventListener('click', (ev) => {
  const a = ev.target.closest('a[data-view]');
  if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
  ev.preventDefault();
  // A tab is a folder: it leaves the search.
  state = {box: state.box, view: a.dataset.view};
  for (const f of FILTERS) state[f] = '';
  selectedID = null;
  fillForm();
  writeState(true);
  reload();
});

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  for (const f of FILTERS) {
    const input = form.elements[f];
    state[f] = input ? input.value.trim() : '';
  }
  state.view = searching(state) ? 'all' : 'open';
  selectedID = null;
  writeState(true);
  reload();
});

clearBtn.addEventListener('click', () => {
  for (const f of FILTERS) state[f] = '';
  state.view = 'open';
  selectedID = null;
  fillForm();
  writeState(true);
  reload();
});

moreBtn.addEventListener('click', () => loadList({append: true}));

document.getElementById('help-open').addEventListener('click', () => toggleHelp());

window.addEventListener('popstate', () => {
  state = readState();
  selectedID = null;
  fillForm();
  boxSelect.value = state.box;
  reload();
});

// ---- live ----

const refresh = debounce(() => {
  loadBoxes();
  loadList({live: true});
}, 200);

window.addEventListener('fd-change', refresh);

// ---- start ----

if (!VIEWS.includes(state.view) && state.view !== 'all') state.view = 'open';
fillForm();
renderTitle();
loadBoxes();
loadList();
startLive();
