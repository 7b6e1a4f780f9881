// settings.js: the user's own settings ("/settings"): password, sessions
// ("log out everywhere") and notification rules.
import {api, el, toast, showErrors, formData} from '/static/fd.js';
import {fmtFull} from '/static/inbox-common.js';

// ---- password ----

const pwForm = document.getElementById('password-form');
const mustChange = document.getElementById('must-change');

// A user who must change their password is sent to /settings#password; the
// server renders the notice for them. Focus the form once the browser has
// finished jumping to the fragment.
if (location.hash === '#password') {
  setTimeout(() => {
    document.getElementById('password').scrollIntoView({block: 'start'});
    document.getElementById('pw-current').focus();
  }, 0);
}

pwForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = pwForm.elements;
  if (f.new.value !== f.repeat.value) {
    showErrors(pwForm, {message: 'The two new passwords differ; type the same one twice.', fields: {repeat: 'does not match'}});
    f.repeat.focus();
    return;
  }
  const button = pwForm.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    const res = await api('POST', '/me/password', {current: f.current.value, new: f.new.value});
    showErrors(pwForm, null);
    pwForm.reset();
    const wasForced = !mustChange.hidden;
    mustChange.hidden = true;
    const others = res && res.logged_out_sessions;
    toast('Password changed' + (others ? `; ${others} other session${others === 1 ? '' : 's'} logged out` : ''));
    if (wasForced) {
      if (location.hash === '#password') history.replaceState(null, '', location.pathname);
      loadBoxes().then(() => { editRule(null); loadRules(); });
    }
    loadSessions();
  } catch (err) {
    showErrors(pwForm, err);
  } finally {
    button.disabled = false;
  }
});

// ---- sessions ----

const sessionsBody = document.getElementById('sessions').tBodies[0];

async function loadSessions() {
  let list;
  try {
    list = await api('GET', '/me/sessions');
  } catch (err) {
    sessionsBody.replaceChildren(el('tr', null, el('td', {colspan: '4', class: 'form-error'}, err.message)));
    return;
  }
  if (!Array.isArray(list)) list = list.sessions || [];
  sessionsBody.replaceChildren(...list.map(s => el('tr', {dataset: {id: s.id}, class: s.current ? 'current' : null},
    el('td', {dataset: {label: 'Since'}}, fmtFull(s.created_at)),
    el('td', {dataset: {label: 'Last used'}}, s.current ? 'now (this browser)' : fmtFull(s.last_seen_at)),
    el('td', {class: 'ua', dataset: {label: 'Browser'}}, browserName(s.user_agent)),
    el('td', {dataset: {label: 'Address'}}, s.source || '',
      s.current ? null : el('button', {type: 'button', class: 'small', dataset: {end: s.id}}, 'Log out')))));
}

// browserName shortens a user agent to what people recognise.
function browserName(ua) {
  if (!ua) return 'unknown';
  const m = /(Edg|OPR|Firefox|Chrome|Chromium|Safari)\/[\d.]+/.exec(ua);
  const os = /(Android|iPhone|iPad|Windows|Mac OS X|Linux)/.exec(ua);
  if (!m) return ua.slice(0, 60);
  const name = {Edg: 'Edge', OPR: 'Opera'}[m[1]] || m[1];
  return os ? `${name} on ${os[1].replace('Mac OS X', 'macOS')}` : name;
}

sessionsBody.addEventListener('click', async (ev) => {
  const b = ev.target.closest('button[data-end]');
  if (!b) return;
  b.disabled = true;
  try {
    await api('DELETE', `/me/sessions/${encodeURIComponent(b.dataset.end)}`);
    toast('That session is logged out');
  } catch (err) {
    toast(err.message, true);
  }
  loadSessions();
});

document.getElementById('logout-all').addEventListener('click', async (ev) => {
  if (!confirm('Log out every other browser and device where you are logged in?')) return;
  ev.target.disabled = true;
  try {
    const res = await api('POST', '/me/logout-all');
    const n = res && res.logged_out_sessions;
    toast(n === undefined ? 'Logged out everywhere else' : `Logged out ${n} other session${n === 1 ? '' : 's'}`);
  } catch (err) {
    toast(err.message, true);
  } finally {
    ev.target.disabled = false;
  }
  loadSessions(); // if this session ended too, this sends us to /login
});

// ---- notification rules ----

const rulesBody = document.getElementById('notify-rules').tBodies[0];
const nForm = document.getElementById('notify-form');
const nEmpty = document.getElementById('notify-empty');
const channel = document.getElementById('notify-channel');
const saveBtn = document.getElementById('notify-save');
const cancelBtn = document.getElementById('notify-cancel');
const formTitle = document.getElementById('notify-form-title');
let rules = [];
let boxes = [];

const CHANNELS = {
  email: {label: 'Email', target: 'Email address', type: 'email', placeholder: 'you@example.com'},
  slack: {label: 'Slack', target: 'Slack incoming webhook URL', type: 'url', placeholder: 'https://hooks.slack.com/services/…'},
  webhook: {label: 'Webhook', target: 'Webhook URL', type: 'url', placeholder: 'https://example.com/frontdesk-hook'},
};

function syncChannel() {
  const c = CHANNELS[channel.value] || CHANNELS.email;
  document.getElementById('notify-target-label').textContent = c.target;
  const t = nForm.elements.target;
  t.type = c.type;
  t.placeholder = c.placeholder;
  document.getElementById('notify-secret-row').hidden = channel.value !== 'webhook';
}

channel.addEventListener('change', syncChannel);

function boxLabel(number) {
  const b = boxes.find(x => x.number === number);
  return b ? `${b.name || b.number} (${b.number})` : number;
}

function ruleRow(r) {
  const when = [r.on_new && 'new message', r.on_assign && 'assigned to me', r.on_overdue && 'open too long'].filter(Boolean).join(', ') || 'never';
  return el('tr', {dataset: {id: String(r.id)}},
    el('td', {dataset: {label: 'Inbox'}}, boxLabel(r.box)),
    el('td', {dataset: {label: 'Channel'}}, (CHANNELS[r.channel] || {label: r.channel}).label),
    el('td', {class: 'target', dataset: {label: 'Target'}}, r.target),
    el('td', {dataset: {label: 'When'}}, when),
    el('td', {class: 'row-actions'},
      el('button', {type: 'button', class: 'small', dataset: {edit: String(r.id)}}, 'Edit'), ' ',
      el('button', {type: 'button', class: 'small danger', dataset: {del: String(r.id)}}, 'Delete')));
}

async function loadRules() {
  try {
    const res = await api('GET', '/notify-rules');
    rules = Array.isArray(res) ? res : (res.items || res.rules || []);
  } catch (err) {
    rulesBody.replaceChildren(el('tr', null, el('td', {colspan: '5', class: 'form-error'}, err.message)));
    return;
  }
  rulesBody.replaceChildren(...rules.map(ruleRow));
  nEmpty.hidden = rules.length > 0;
}

async function loadBoxes() {
  try {
    boxes = await api('GET', '/inboxes');
  } catch {
    boxes = []; // e.g. before a forced password change: the form waits
  }
  const sel = nForm.elements.box;
  const keep = sel.value;
  sel.replaceChildren(...boxes.map(b => el('option', {value: b.number}, `${b.name || b.number} (${b.number})`)));
  if (keep) sel.value = keep;
  if (!boxes.length) sel.append(el('option', {value: ''}, 'No inboxes yet'));
}

function editRule(r) {
  nForm.elements.id.value = r ? String(r.id) : '';
  nForm.elements.box.value = r ? r.box : (boxes[0] && boxes[0].number) || '';
  channel.value = r ? r.channel : 'email';
  nForm.elements.target.value = r ? r.target : '';
  nForm.elements.secret.value = '';
  nForm.elements.secret.placeholder = r && r.channel === 'webhook' ? 'leave empty to keep the current secret' : '';
  nForm.elements.on_new.checked = r ? !!r.on_new : true;
  nForm.elements.on_assign.checked = r ? !!r.on_assign : true;
  nForm.elements.on_overdue.checked = r ? !!r.on_overdue : true;
  formTitle.textContent = r ? 'Change a notification' : 'Add a notification';
  saveBtn.textContent = r ? 'Save' : 'Add';
  cancelBtn.hidden = !r;
  showErrors(nForm, null);
  syncChannel();
  if (r) nForm.elements.box.focus();
}

rulesBody.addEventListener('click', async (ev) => {
  const edit = ev.target.closest('button[data-edit]');
  if (edit) {
    editRule(rules.find(r => String(r.id) === edit.dataset.edit));
    return;
  }
  const del = ev.target.closest('button[data-del]');
  if (!del || !confirm('Delete this notification?')) return;
  try {
    await api('DELETE', `/notify-rules/${del.dataset.del}`);
    toast('Notification deleted');
    if (nForm.elements.id.value === del.dataset.del) editRule(null);
  } catch (err) {
    toast(err.message, true);
  }
  loadRules();
});

cancelBtn.addEventListener('click', () => editRule(null));

nForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const d = formData(nForm);
  const id = d.id;
  delete d.id;
  if (d.channel !== 'webhook' || (id && !d.secret)) delete d.secret; // empty on edit: keep the old one
  saveBtn.disabled = true;
  try {
    if (id) await api('PUT', `/notify-rules/${id}`, d); else await api('POST', '/notify-rules', d);
    toast(id ? 'Notification saved' : 'Notification added');
    editRule(null);
    loadRules();
  } catch (err) {
    showErrors(nForm, err);
  } finally {
    saveBtn.disabled = false;
  }
});

// ---- start ----

syncChannel();
loadSessions();
loadBoxes().then(() => { editRule(null); loadRules(); });
