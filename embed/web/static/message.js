// message.js: one message ("/messages/ID"): player, transcript by segment,
// the workflow actions, timeline, conversation, caller history and who else
// is looking at it. Data from GET /api/v1/messages/ID; every action answers
// with the same detail, which is rendered again.
import {api, el, toast, fmtDuration, typing, flash} from '/static/fd.js';
import {startLive, stopLive, debounce} from '/static/live.js';
import {statusOf, readListContext, toggleHelp, fmtFull, actorName} from '/static/inbox-common.js';

const root = document.getElementById('message');
const id = Number(root.dataset.id);
const me = {id: Number(document.body.dataset.userId), name: document.body.dataset.userName || ''};
const player = document.getElementById('player');
const transcriptBox = document.getElementById('transcript');
const actions = document.getElementById('actions');
const loadError = document.getElementById('load-error');
const assignSelect = document.getElementById('assign-to');
const transferSelect = document.getElementById('transfer-to');

let detail = null;
let transcriptKey = null;
let assigneesOf = null; // the box whose assignees fill #assign-to
let inboxes = null;
let markedPlayed = false;
let loadSeq = 0;

// ---- loading ----

async function load() {
  const seq = ++loadSeq;
  try {
    const d = await api('GET', `/messages/${id}`);
    if (seq !== loadSeq) return;
    render(d);
    startLive(id); // once; it says to others that we are looking at it
  } catch (err) {
    if (seq !== loadSeq) return;
    if (err.status === 404) {
      gone('There is no such message (it may have been deleted for good).');
    } else if (err.status === 403) {
      gone(err.message);
    } else {
      loadError.textContent = err.message;
      startLive(id); // a passing failure: the next change loads it again
    }
  }
}

// gone shows that the message can't be shown (purged, or no access).
function gone(msg) {
  detail = null;
  stopLive(); // nothing left to watch (and the stream would be refused)
  loadError.textContent = msg;
  actions.hidden = true;
  player.removeAttribute('src');
  player.hidden = true;
  transcriptBox.replaceChildren(el('p', {class: 'muted'}, 'Not available.'));
}

// ---- rendering ----

function render(d) {
  detail = d;
  loadError.textContent = '';
  const m = d.message;
  const name = m.caller_name || m.caller_number || 'Unknown caller';
  const h1 = document.getElementById('caller');
  // replaceChildren would print a null: leave absent parts out.
  h1.replaceChildren(...[el('span', {class: 'caller-name'}, name),
    m.caller_name && m.caller_number ? el('span', {class: 'number'}, m.caller_number) : null].filter(Boolean));
  document.title = `${name} · Frontdesk`;
  text('box', `${d.box.name || d.box.number} (${d.box.number})`);
  document.getElementById('time').replaceChildren(el('time', {datetime: m.time}, fmtFull(m.time)));
  text('duration', fmtDuration(m.duration_seconds));
  const st = statusOf(m);
  document.getElementById('status').replaceChildren(...[el('span', {class: 'status-' + st.key}, st.label),
    m.status === 'done' && m.done_note ? el('span', {class: 'done-note'}, ' — ' + m.done_note) : null].filter(Boolean));
  const assignee = m.assignee ? (m.assignee === me.id ? `You (${d.assignee_name || me.name})` : d.assignee_name || `user ${m.assignee}`) : 'Nobody';
  document.getElementById('assignee').replaceChildren(el('span', {class: m.assignee ? '' : 'muted'}, assignee));
  text('played', m.played ? 'Yes' : 'Not yet');
  root.classList.toggle('unplayed', !m.played);
  renderTranscript(d);
  renderActions(d);
  renderTimeline(d.timeline || []);
  renderConversation(d.conversation || [], m);
  renderHistory(d.history || {}, m);
}

function text(elID, s) { document.getElementById(elID).textContent = s; }

const STATE_REASONS = {
  queued: 'Waiting to be transcribed; the transcript shows up here when it is ready.',
  running: 'Being transcribed right now…',
  failed: 'Transcription failed for this message.',
  'no-model': 'Not transcribed yet: transcription waits for a speech model to be set up (an admin can do that).',
  off: 'This inbox does not transcribe its messages.',
  done: 'No speech was recognised in this message.',
};

function renderTranscript(d) {
  const key = JSON.stringify([d.transcript, d.transcript_state]);
  if (key === transcriptKey) return; // keep the highlight while playing
  transcriptKey = key;
  const t = d.transcript;
  if (!t || (!t.text && !(t.segments || []).length)) {
    transcriptBox.replaceChildren(el('p', {class: 'muted transcript-state'},
      STATE_REASONS[d.transcript_state] || `No transcript (${d.transcript_state || 'unknown state'}).`));
    return;
  }
  const segs = t.segments || [];
  if (!segs.length) {
    transcriptBox.replaceChildren(el('p', null, t.text));
    return;
  }
  const p = el('p', {lang: t.language || null});
  for (const s of segs) {
    p.append(el('span', {class: 'segment', tabindex: '0', role: 'button',
      title: 'Play from ' + fmtDuration(s.start_ms / 1000),
      dataset: {startMs: String(s.start_ms), endMs: String(s.end_ms)}}, s.text.trim()), ' ');
  }
  transcriptBox.replaceChildren(p);
  highlight();
}

function show(sel, on) {
  for (const e of actions.querySelectorAll(sel)) e.hidden = !on;
}

function renderActions(d) {
  const m = d.message;
  const can = d.can || {};
  const trashed = !!m.deleted_at;
  const open = !trashed && m.status === 'open';
  const mine = m.assignee === me.id;
  const free = !m.assignee;
  actions.hidden = false;
  show('[data-action=claim]', open && !mine && (free || can.take_over));
  show('[data-group=assign]', open && (free || mine || can.take_over));
  show('[data-action=return]', open && !free && (mine || can.take_over));
  show('[data-action=progress]', open && !m.in_progress);
  show('[data-group=done]', open);
  show('[data-action=reopen]', !trashed && m.status === 'done');
  show('[data-group=note]', !trashed);
  show('[data-action=played]', !trashed && !m.played);
  show('[data-action=unplayed]', !trashed && m.played);
  show('[data-group=forward]', !trashed && !!can.download);
  show('[data-action=callback]', !trashed && !!can.callback);
  show('[data-group=transfer]', !trashed && !!can.transfer);
  show('[data-action=download]', !!can.download);
  show('[data-action=trash]', !trashed && !!can.delete);
  show('[data-action=restore]', trashed && !!can.delete);
  show('[data-action=purge]', trashed && !!can.delete);
  const cb = actions.querySelector('[data-action=callback]');
  if (cb && m.caller_number) cb.textContent = `Call back ${m.caller_number}`;
  if (open && (free || mine || can.take_over)) loadAssignees(d.box.number, m.assignee);
  if (!trashed && can.transfer) loadTransferTargets(d.box.number);
}

async function loadAssignees(box, current) {
  if (assigneesOf !== box) {
    assigneesOf = box;
    let list = [];
    try {
      list = await api('GET', `/boxes/${encodeURIComponent(box)}/assignees`);
    } catch (err) {
      assigneesOf = null;
      toast(err.message, true);
      return;
    }
    assignSelect.replaceChildren(el('option', {value: ''}, 'Assign to…'),
      ...list.map(u => el('option', {value: String(u.user_id)}, u.user_id === me.id ? `${u.name} (me)` : u.name)));
  }
  assignSelect.value = current ? String(current) : '';
}

async function loadTransferTargets(box) {
  if (!inboxes) {
    try {
      inboxes = await api('GET', '/inboxes');
    } catch (err) {
      toast(err.message, true);
      return;
    }
  }
  const keep = transferSelect.value;
  transferSelect.replaceChildren(el('option', {value: ''}, 'Transfer to inbox…'),
    ...inboxes.filter(b => b.number !== box).map(b => el('option', {value: b.number}, `${b.name || b.number} (${b.number})`)));
  transferSelect.value = keep;
}

const ACTION_WORDS = {
  'message.new': 'left the message', 'message.claimed': 'claimed it', 'message.assigned': 'assigned it',
  'message.returned': 'returned it to the inbox', 'message.in_progress': 'marked it in progress', 'message.done': 'marked it done',
  'message.reopened': 'reopened it', 'message.note': 'added a note', 'message.played': 'marked it played',
  'message.unplayed': 'marked it unplayed', 'message.forwarded': 'forwarded it', 'message.callback': 'called back',
  'message.transferred': 'transferred it', 'message.downloaded': 'downloaded it', 'message.trashed': 'deleted it (to the trash)',
  'message.restored': 'restored it from the trash', 'message.purged': 'deleted it for good', 'message.overdue': 'flagged it as overdue',
};

function renderTimeline(entries) {
  const ul = document.getElementById('timeline');
  if (!entries.length) {
    ul.replaceChildren(el('li', {class: 'muted'}, 'Nothing has happened to this message yet.'));
    return;
  }
  ul.replaceChildren(...entries.map(e => {
    const note = e.action === 'message.note' || e.action === 'note';
    return el('li', {class: note ? 'note' : null, dataset: {action: e.action}},
      el('time', {datetime: e.at}, fmtFull(e.at)), ' ',
      el('strong', {class: 'actor'}, actorName(e.actor)), ' ',
      el('span', {class: 'action'}, ACTION_WORDS[e.action] || e.action),
      e.message_id && e.message_id !== id ? el('a', {href: `/messages/${e.message_id}`, class: 'muted'}, ` (message ${e.message_id})`) : null,
      e.detail ? (note ? el('p', {class: 'note-text'}, e.detail) : el('span', {class: 'detail'}, ': ' + e.detail)) : null);
  }));
}

function messageLink(m, current) {
  const st = statusOf(m);
  return el('li', {class: m.played ? null : 'unplayed'},
    current ? el('strong', {'aria-current': 'page'}, fmtFull(m.time)) : el('a', {href: `/messages/${m.id}`}, fmtFull(m.time)),
    ' · ', fmtDuration(m.duration_seconds), ' · ', el('span', {class: 'status-' + st.key}, st.label),
    m.box && detail && m.box !== detail.box.number ? ` · inbox ${m.box}` : null);
}

function renderConversation(conv, m) {
  const box = document.getElementById('conversation');
  if (conv.length <= 1) {
    box.replaceChildren(el('p', {class: 'muted'}, 'This message stands alone.'));
    return;
  }
  box.replaceChildren(el('p', {class: 'muted'}, `${conv.length} messages from this caller, handled together:`),
    el('ul', {class: 'plain'}, conv.map(x => messageLink(x, x.id === m.id))));
}

function renderHistory(h, m) {
  const box = document.getElementById('history');
  const msgs = (h.messages || []).filter(x => x.id !== m.id);
  const calls = h.calls || [];
  if (!msgs.length && !calls.length) {
    box.replaceChildren(el('p', {class: 'muted'}, m.caller_number ? `No earlier messages or calls from ${m.caller_number}.` : 'The caller withheld their number.'));
    return;
  }
  const parts = [];
  if (msgs.length) parts.push(el('h3', null, 'Messages'), el('ul', {class: 'plain'}, msgs.map(x => messageLink(x, false))));
  if (calls.length) {
    parts.push(el('h3', null, 'Calls'), el('ul', {class: 'plain calls'}, calls.map(c => el('li', null,
      el('time', {datetime: c.started_at}, fmtFull(c.started_at)), ` · ${c.from_number} → ${c.to_number} · ${c.status}`,
      c.answered_at && c.ended_at ? ` · ${fmtDuration((new Date(c.ended_at) - new Date(c.answered_at)) / 1000)}` : null))));
  }
  box.replaceChildren(...parts);
}

// ---- actions ----

const DONE_TOASTS = {
  claim: 'Claimed: it is yours now', assign: 'Assigned', return: 'Returned to the inbox', progress: 'Marked in progress',
  done: 'Marked done', reopen: 'Reopened', note: 'Note added', played: 'Marked played', unplayed: 'Marked unplayed',
  transfer: 'Transferred', trash: 'Moved to the trash', restore: 'Restored',
};

async function act(action, button) {
  let path = `/messages/${id}/${action}`;
  let body = {};
  let msg = DONE_TOASTS[action];
  switch (action) {
  case 'assign': {
    const v = assignSelect.value;
    if (!v) { toast('Pick whom to assign it to.', true); assignSelect.focus(); return; }
    body = {user_id: Number(v)};
    msg = `Assigned to ${assignSelect.selectedOptions[0].textContent}`;
    break;
  }
  case 'done':
    body = {note: document.getElementById('done-note').value.trim()};
    break;
  case 'note': {
    const t = document.getElementById('note-text');
    if (!t.value.trim()) { toast('Write the note first.', true); t.focus(); return; }
    body = {text: t.value.trim()};
    break;
  }
  case 'played': case 'unplayed':
    path = `/messages/${id}/played`;
    body = {played: action === 'played'};
    break;
  case 'forward': {
    const f = document.getElementById('forward-address');
    if (!f.value.trim() || !f.checkValidity()) { toast('Enter the email address to forward it to.', true); f.focus(); return; }
    body = {address: f.value.trim()};
    msg = `Forwarded to ${body.address}`;
    break;
  }
  case 'callback':
    msg = 'Calling: your phone rings first, then the caller';
    break;
  case 'transfer': {
    const v = transferSelect.value;
    if (!v) { toast('Pick the inbox to move it to.', true); transferSelect.focus(); return; }
    body = {box: v};
    msg = `Transferred to ${transferSelect.selectedOptions[0].textContent}`;
    break;
  }
  case 'purge':
    if (!confirm('Delete this message for good? This cannot be undone.')) return;
    break;
  }
  if (button) button.disabled = true;
  try {
    if (action === 'purge') {
      await api('DELETE', `/messages/${id}`);
      flash('Message deleted for good');
      location.href = readListContext().url || '/?view=trash';
      return;
    }
    const d = await api('POST', path, body);
    if (action === 'note') document.getElementById('note-text').value = '';
    if (action === 'done') document.getElementById('done-note').value = '';
    if (action === 'forward') document.getElementById('forward-address').value = '';
    if (d && d.message) render(d); else load();
    toast(msg || 'Done');
  } catch (err) {
    toast(err.message, true);
    if (err.status === 409 || err.status === 403) load();
  } finally {
    if (button) button.disabled = false;
  }
}

actions.addEventListener('click', (ev) => {
  const b = ev.target.closest('button[data-action]');
  if (!b) return;
  act(b.dataset.action, b);
});

// Enter in a field does its row's action.
actions.addEventListener('keydown', (ev) => {
  if (ev.key !== 'Enter' || ev.target.tagName === 'TEXTAREA' && !(ev.ctrlKey || ev.metaKey)) return;
  const row = ev.target.closest('[data-group]');
  const b = row && row.querySelector('button[data-action]');
  if (b && ev.target !== b) { ev.preventDefault(); act(b.dataset.action, b); }
});

// ---- audio and transcript ----

// The first play marks the message played, as listening on the phone does.
player.addEventListener('play', () => {
  if (markedPlayed || !detail || detail.message.played) return;
  markedPlayed = true;
  api('POST', `/messages/${id}/played`, {played: true}).then(render, (err) => toast(err.message, true));
});

player.addEventListener('error', () => {
  if (player.getAttribute('src')) loadError.textContent = 'The recording could not be loaded.';
});

function highlight() {
  const ms = player.currentTime * 1000;
  let current = null;
  for (const s of transcriptBox.querySelectorAll('.segment')) {
    const on = ms >= Number(s.dataset.startMs) && ms < Number(s.dataset.endMs) && (player.currentTime > 0 || !player.paused);
    s.classList.toggle('current', on);
    if (on) current = s;
  }
  return current;
}

player.addEventListener('timeupdate', highlight);
player.addEventListener('seeked', highlight);

function seek(seg) {
  player.currentTime = Number(seg.dataset.startMs) / 1000;
  const p = player.play();
  if (p && p.catch) p.catch(() => { /* autoplay refused: the seek still happened */ });
  highlight();
}

transcriptBox.addEventListener('click', (ev) => {
  const seg = ev.target.closest('.segment');
  if (seg) seek(seg);
});

transcriptBox.addEventListener('keydown', (ev) => {
  const seg = ev.target.closest('.segment');
  if (seg && (ev.key === 'Enter' || ev.key === ' ')) { ev.preventDefault(); seek(seg); }
});

function togglePlay() {
  if (player.paused) {
    const p = player.play();
    if (p && p.catch) p.catch((err) => toast(err.message, true));
  } else {
    player.pause();
  }
}

// ---- list navigation and keyboard ----

const list = readListContext();
const pos = list.ids.indexOf(id);
const prevID = pos > 0 ? list.ids[pos - 1] : null;
const nextID = pos >= 0 && pos < list.ids.length - 1 ? list.ids[pos + 1] : null;
const backURL = pos >= 0 ? list.url : '/';
document.getElementById('back-link').href = backURL;
if (prevID) { const a = document.getElementById('prev-message'); a.href = `/messages/${prevID}`; a.hidden = false; }
if (nextID) { const a = document.getElementById('next-message'); a.href = `/messages/${nextID}`; a.hidden = false; }
if (pos >= 0) text('list-pos', `${pos + 1} of ${list.ids.length}`);

document.addEventListener('keydown', (ev) => {
  if (typing(ev)) return;
  if (document.querySelector('dialog[open]') && ev.key !== '?') return;
  const onControl = ev.target.closest && ev.target.closest('a, button, audio, summary, .segment');
  switch (ev.key) {
  case 'e': act('done', null); break;
  case 'a': act('claim', null); break;
  case ' ':
    if (onControl) return; // Space presses the focused control
    togglePlay();
    break;
  case 'j': if (nextID) location.href = `/messages/${nextID}`; break;
  case 'k': if (prevID) location.href = `/messages/${prevID}`; break;
  case 'u': location.href = backURL; break;
  case '?': toggleHelp(); break;
  default: return;
  }
  ev.preventDefault();
});

document.getElementById('help-open').addEventListener('click', () => toggleHelp());

// ---- live ----

const reload = debounce(load, 200);

window.addEventListener('fd-change', (ev) => {
  const c = ev.detail || {};
  if (c.kind === 'reconnect' || c.message_id === id) { reload(); return; }
  if (!detail) return;
  const inConversation = (detail.conversation || []).some(x => x.id === c.message_id);
  // A new message from the same caller may join this conversation.
  const newInBox = c.kind === 'message.new' && c.box === detail.box.number;
  if (inConversation || newInBox) reload();
});

window.addEventListener('fd-presence', (ev) => {
  const p = ev.detail || {};
  if (Number(p.message_id) !== id) return;
  const others = [...(p.viewers || [])];
  const mine = others.indexOf(me.name);
  if (mine >= 0) others.splice(mine, 1); // this page itself
  const v = document.getElementById('viewers');
  v.textContent = others.length ? `Also viewing: ${others.join(', ')}` : '';
  v.hidden = !others.length;
});

// ---- start ----

load();
