// inbox-common.js: what the inbox, message and audit pages share.
import {el} from '/static/fd.js';

// statusOf names a message's state for people and for CSS (status-KEY).
export function statusOf(m) {
  if (m.deleted_at) return {key: 'trash', label: 'In trash'};
  if (m.status === 'done') return {key: 'done', label: 'Done'};
  if (m.in_progress) return {key: 'in_progress', label: 'In progress'};
  return {key: 'open', label: 'Open'};
}

// markSnippet turns a search snippet, whose matches the server wraps in
// [brackets], into text and <mark> nodes. Server text only ever becomes text
// nodes, never markup.
export function markSnippet(text) {
  const out = [];
  const re = /\[([^\[\]]*)\]/g;
  let last = 0;
  for (let m; (m = re.exec(text)) !== null;) {
    if (m.index > last) out.push(document.createTextNode(text.slice(last, m.index)));
    out.push(el('mark', null, m[1]));
    last = re.lastIndex;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}

// The list the user came from, so the message page can go to the next or
// previous message (j/k) and back to the same list.
const LIST_KEY = 'fd.list';

export function saveListContext(ids) {
  try {
    sessionStorage.setItem(LIST_KEY, JSON.stringify({ids, url: location.pathname + location.search}));
  } catch { /* storage full or private mode: j/k on the message page just won't work */ }
}

export function readListContext() {
  try {
    const v = JSON.parse(sessionStorage.getItem(LIST_KEY) || 'null');
    if (v && Array.isArray(v.ids)) return v;
  } catch { /* ignore */ }
  return {ids: [], url: '/'};
}

// toggleHelp shows or hides the "?" shortcut help (dialog#help).
export function toggleHelp() {
  const d = document.getElementById('help');
  if (!d) return;
  if (d.open) d.close();
  else if (d.showModal) d.showModal();
  else d.setAttribute('open', '');
}

// localDayToRFC3339 turns an <input type=date> value (YYYY-MM-DD) into the
// start of that day in the browser's time zone, or with end the start of
// the next day (an exclusive "to").
export function localDayToRFC3339(day, end) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(day);
  if (!m) return day;
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + (end ? 1 : 0));
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// fmtFull is a time with its date, for timelines and logs.
export function fmtFull(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toLocaleString([], {year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit'});
}

// actorName shows "user:anna" as "anna".
export function actorName(a) {
  return (a || '').replace(/^user:/, '');
}
