// /admin/boxes/NUMBER: one voicemail box: settings, members, direct user
// access, PIN, greeting and team-inbox settings.
import {api, el, toast} from '/static/fd.js';
import {buildForm, fillForm, submitForm, resourceTable, showOnce, confirmAction} from '/static/admin.js';

const main = document.getElementById('admin-main');
const number = main.dataset.box;
const path = '/admin/boxes/' + encodeURIComponent(number);
const section = document.getElementById('section');
const days = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const accessOptions = [['listen', 'listen'], ['download', 'listen, download'], ['delete', 'listen, download, delete'], ['manage', 'everything (manage)']];

const settingsFields = [
  {name: 'name', label: 'Name', required: true},
  {name: 'emails', label: 'Email new messages to', type: 'list', help: 'Addresses, comma-separated'},
  {name: 'email_attach', label: 'Attach the audio to emails', type: 'checkbox'},
  {name: 'language', label: 'Prompt language', help: 'A two-letter code such as en'},
  {name: 'operator', label: 'Operator (caller presses 0)', help: 'A destination such as ext:100; empty: none'},
  {name: 'max_seconds', label: 'Longest message (seconds)', type: 'number', min: 5, max: 3600},
  {name: 'silence_seconds', label: 'Silence that ends a message (seconds)', type: 'number', min: 0, max: 60, help: '0: off'},
  {name: 'transcribe', label: 'Transcribe new messages', type: 'checkbox'},
  {name: 'transcribe_language', label: 'Language of the messages', help: 'auto, or a code such as en or de'},
];

let users = [];
let box = null;

const cards = {
  settings: el('div', {class: 'card', id: 'box-settings'}),
  members: el('div', {class: 'card', id: 'box-members'}),
  users: el('div', {class: 'card', id: 'box-users'}),
  pin: el('div', {class: 'card', id: 'box-pin'}),
  greeting: el('div', {class: 'card', id: 'box-greeting'}),
  inbox: el('div', {class: 'card', id: 'box-inbox'}),
};

async function load() {
  box = await api('GET', path);
  render();
}

function render() {
  const kind = box.kind === 'personal' ? 'personal box of extension ' + box.owner : 'shared box';
  section.replaceChildren(
    el('div', {class: 'section-head'}, el('h1', {}, 'Voicemail box ' + box.number + ' · ' + box.name),
      el('a', {href: '/admin/boxes'}, '← all boxes')),
    el('p', {class: 'muted'}, kind + ' · ' + box.new + ' new, ' + box.saved + ' saved' +
      (box.locked_until && new Date(box.locked_until) > new Date() ? ' · PIN locked until ' + new Date(box.locked_until).toLocaleString() : '')),
    ...[cards.settings, box.kind === 'shared' ? cards.members : null, cards.users, cards.pin, cards.greeting, cards.inbox].filter(Boolean),
  );
  renderSettings();
  if (box.kind === 'shared') renderMembers();
  renderUsers();
  renderPIN();
  renderGreeting();
  renderInbox();
}

function renderSettings() {
  const form = buildForm(settingsFields, {
    id: 'box-form', values: box, editing: true,
    onSubmit: async data => {
      const b = await api('PUT', path, data);
      Object.assign(box, b);
      toast('Box saved');
    },
  });
  cards.settings.replaceChildren(el('h2', {}, 'Settings'), form);
}

function renderMembers() {
  const table = resourceTable({id: 'members', rows: box.members || [], rowKey: 'extension', empty: 'No members yet.',
    columns: [
      {key: 'extension', label: 'Extension'},
      {key: 'access', label: 'Access'},
      {key: 'lamp', label: 'Lamp', render: r => r.lamp ? 'on' : 'off'},
    ],
    actions: [{label: 'Remove', action: 'remove', class: 'danger', onClick: async r => {
      if (!confirmAction('Remove extension ' + r.extension + ' from box ' + number + '?')) return;
      try { Object.assign(box, await api('DELETE', path + '/members/' + encodeURIComponent(r.extension))); renderMembers(); toast('Member removed'); }
      catch (err) { toast(err.message, true); }
    }}],
  });
  const fields = [
    {name: 'extension', label: 'Extension', required: true, help: 'One or more, comma-separated'},
    {name: 'access', label: 'May', type: 'select', options: accessOptions},
    {name: 'lamp', label: 'Light the phone\'s message lamp', type: 'checkbox'},
  ];
  const form = buildForm(fields, {
    id: 'member-form', submitLabel: 'Add or change member', values: {access: 'delete', lamp: true},
    onSubmit: async data => {
      Object.assign(box, await api('PUT', path + '/members', data));
      toast('Members saved');
      renderMembers();
    },
  });
  cards.members.replaceChildren(el('h2', {}, 'Members (extensions)'), table, form);
}

function userName(id) {
  const u = users.find(x => x.id === id);
  return u ? u.name : '#' + id;
}

async function renderUsers() {
  let rows = [];
  try { rows = await api('GET', path + '/users'); } catch (err) { toast(err.message, true); }
  const table = resourceTable({id: 'box-users-table', rows, rowKey: 'user_id', empty: 'Nobody but admins.',
    columns: [{key: 'name', label: 'User'}, {key: 'access', label: 'Access'}],
    actions: [{label: 'Remove direct access', action: 'remove', class: 'danger', onClick: async r => {
      try { await api('DELETE', path + '/users/' + r.user_id); toast('Access removed'); renderUsers(); }
      catch (err) { toast(err.message, true); }
    }}],
  });
  const fields = [
    {name: 'user_id', label: 'User', type: 'select', options: () => [['', '(choose)'], ...users.filter(u => !u.is_admin).map(u => [String(u.id), u.name])]},
    {name: 'access', label: 'May', type: 'select', options: accessOptions},
  ];
  const form = buildForm(fields, {
    id: 'box-user-form', submitLabel: 'Give access', values: {access: 'listen'},
    onSubmit: async data => {
      await api('PUT', path + '/users', {user_id: Number(data.user_id) || 0, access: data.access});
      toast('Access saved');
      renderUsers();
    },
  });
  cards.users.replaceChildren(el('h2', {}, 'Users'),
    el('p', {class: 'muted'}, 'Everyone who may work this inbox, directly or through their extension (the higher access counts). Admins see every box.'),
    table, form);
}

function renderPIN() {
  const fields = [{name: 'pin', label: 'New PIN', type: 'password', autocomplete: 'off', help: '4 to 10 digits; empty: generate one'}];
  const form = buildForm(fields, {
    id: 'pin-form', submitLabel: 'Reset PIN',
    onSubmit: async data => {
      const res = await api('POST', path + '/pin', data);
      form.reset();
      toast('PIN reset; the box is unlocked');
      if (res.pin) showOnce('PIN of box ' + number, [['PIN', res.pin]]);
      load();
    },
  });
  cards.pin.replaceChildren(el('h2', {}, 'PIN for *56'), form);
}

function renderGreeting() {
  const audio = box.greeting
    ? el('audio', {id: 'greeting-player', controls: true, preload: 'none', src: '/api/v1' + path + '/greeting?v=' + encodeURIComponent(box.greeting)})
    : el('p', {class: 'muted', id: 'greeting-player'}, 'The default greeting is used.');
  const upload = buildForm([{name: 'file', label: 'Upload a WAV file', type: 'file', accept: '.wav,audio/wav,audio/x-wav', help: '0.5 to 120 seconds, at most 10 MB'}], {
    id: 'greeting-upload-form', submitLabel: 'Upload',
    onSubmit: async (_, form) => {
      const file = form.elements.file.files[0];
      if (!file) { const e = new Error('Choose a WAV file first'); e.fields = {file: 'Choose a WAV file'}; throw e; }
      const fd = new FormData();
      fd.append('file', file);
      const res = await api('PUT', path + '/greeting', fd);
      toast('Greeting set (' + res.seconds.toFixed(1) + ' s)');
      load();
    },
  });
  const say = buildForm([{name: 'text', label: 'Or type what to say', type: 'textarea', help: 'Spoken with espeak-ng'}], {
    id: 'greeting-say-form', submitLabel: 'Speak it',
    onSubmit: async data => {
      const res = await api('POST', path + '/greeting/say', data);
      toast('Greeting set (' + res.seconds.toFixed(1) + ' s)');
      load();
    },
  });
  const remove = box.greeting ? el('button', {type: 'button', class: 'danger', dataset: {action: 'remove-greeting'}, onclick: async () => {
    if (!confirmAction('Go back to the default greeting?')) return;
    try { await api('DELETE', path + '/greeting'); toast('Default greeting restored'); load(); } catch (err) { toast(err.message, true); }
  }}, 'Use the default greeting') : null;
  cards.greeting.replaceChildren(...[el('h2', {}, 'Greeting'), audio, remove, upload, say].filter(Boolean));
}

async function renderInbox() {
  let st = box.inbox;
  if (!st) {
    try { st = await api('GET', path + '/inbox'); } catch (err) {
      cards.inbox.replaceChildren(el('h2', {}, 'Team inbox'), el('p', {class: 'muted'}, err.message));
      return;
    }
  }
  const userOptions = () => [['0', '(nobody)'], ...users.map(u => [String(u.id), u.name])];
  const fields = [
    {name: 'conversation_minutes', label: 'Group messages from one caller within (minutes)', type: 'number', min: 0, help: '0: each message stands alone'},
    {name: 'assign_mode', label: 'Assign new messages', type: 'select', options: [['none', 'No: leave them unassigned'], ['round-robin', 'Round robin'], ['rota', 'To the weekly rota\'s catcher']]},
    {name: 'open_limit_minutes', label: 'Alert when open longer than (minutes)', type: 'number', min: 0, help: '0: no alerts'},
    {name: 'done_on_callback', label: 'Mark done when a callback is answered', type: 'checkbox'},
    {name: 'trash_days', label: 'Keep deleted messages in the trash (days)', type: 'number', min: 1},
  ];
  const rota = el('fieldset', {class: 'rota', id: 'rota'}, el('legend', {}, 'Rota: who catches each weekday\'s messages'),
    days.map((d, i) => el('div', {class: 'field'}, el('label', {for: 'rota-' + i}, d),
      el('select', {id: 'rota-' + i, name: 'rota-' + i, dataset: {weekday: i}},
        userOptions().map(([v, l]) => el('option', {value: v}, l))))));
  const form = buildForm(fields, {
    id: 'inbox-form', values: st, extra: rota,
    onSubmit: async (data, f) => {
      data.rota = {};
      f.querySelectorAll('select[data-weekday]').forEach(s => { if (s.value !== '0') data.rota[s.dataset.weekday] = Number(s.value); });
      const saved = await api('PUT', path + '/inbox', data);
      box.inbox = saved;
      toast('Inbox settings saved');
    },
  });
  for (const [day, uid] of Object.entries(st.rota || {})) {
    const s = form.querySelector('select[data-weekday="' + day + '"]');
    if (s) s.value = String(uid);
  }
  cards.inbox.replaceChildren(el('h2', {}, 'Team inbox'), form);
}

(async () => {
  try { users = await api('GET', '/admin/users'); } catch (err) { toast(err.message, true); }
  try { await load(); } catch (err) {
    section.replaceChildren(el('h1', {}, 'Voicemail box ' + number), el('p', {class: 'form-error'}, err.message));
  }
})();
