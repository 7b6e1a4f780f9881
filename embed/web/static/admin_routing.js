// admin_routing.js: the routing sections of the admin portal (ring groups,
// queues, auto attendants, schedules, trunks, inbound numbers, dial rules).
// One page template serves them all; main[data-section] says which. The API
// validates exactly as the CLI does and answers {error, fields}; admin.js
// shows the field errors beside their inputs.

import {api, el, toast} from '/static/fd.js';
import {crudSection, buildForm} from '/static/admin.js';

const main = document.getElementById('admin-main');
const root = document.getElementById('section');
const extra = document.getElementById('section-extra');

// opts: what the forms offer to pick from (GET /admin/routing/options),
// refreshed after every save so new groups etc. appear as destinations.
let opts = {extensions: [], destinations: [], schedules: [], trunks: [], music: [], classes: []};
async function loadOptions() {
  try { opts = await api('GET', '/admin/routing/options'); } catch (err) { toast(err.message, true); }
}

const none = label => [['', label || '(none)']];
const dests = label => () => none(label).concat(opts.destinations.map(d => [d.value, d.label]));
const destLabel = v => {
  if (!v) return '';
  if (v === 'dial-by-extension') return 'Dial by extension';
  if (v === 'repeat') return 'Repeat the menu';
  const d = opts.destinations.find(x => x.value === v);
  return d ? d.label : v;
};
const extHelp = () => 'Extensions, comma-separated: ' + (opts.extensions.map(e => e.value).join(', ') || 'none yet');
const lines = s => (s || '').split(/\r?\n/).map(x => x.trim()).filter(Boolean);

const KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '0', '*', '#'];

const sections = {
  groups: () => crudSection({
    root, title: 'Ring groups', path: '/admin/groups', key: 'number', tableId: 'groups-list', formId: 'groups-form',
    addLabel: 'Add ring group', afterSave: loadOptions,
    defaults: {strategy: 'all', ring_seconds: 20, timeout: 60},
    columns: [
      {key: 'number', label: 'Number'}, {key: 'name', label: 'Name'},
      {key: 'strategy', label: 'Strategy', render: r => r.strategy === 'order' ? 'in order' : 'all at once'},
      {key: 'members', label: 'Members', render: r => r.members.join(', ')},
      {key: 'ring_seconds', label: 'Ring', render: r => r.ring_seconds + ' s'},
      {key: 'timeout', label: 'Timeout', render: r => r.timeout + ' s'},
      {key: 'no_answer', label: 'No answer', render: r => destLabel(r.no_answer)},
    ],
    fields: [
      {name: 'number', label: 'Number', createOnly: true, required: true, placeholder: '700', help: '2 to 8 digits, not starting with 0'},
      {name: 'name', label: 'Name', required: true, help: 'Shown to callees as "Name: caller"'},
      {name: 'members', label: 'Members', type: 'list', required: true, placeholder: '101, 102', get help() { return extHelp(); }},
      {name: 'strategy', label: 'Strategy', type: 'select', options: [['all', 'All at once'], ['order', 'In order, one after another']]},
      {name: 'ring_seconds', label: 'Ring time (seconds)', type: 'number', min: 1, max: 600, help: 'Each member (in order) or everyone (all at once)'},
      {name: 'timeout', label: 'Timeout (seconds)', type: 'number', min: 1, max: 3600, help: 'Then the call goes to the no-answer destination'},
      {name: 'no_answer', label: 'No-answer destination', type: 'select', options: dests('(hang up)')},
    ],
  }),

  queues: () => {
    const sec = crudSection({
      root, title: 'Queues', path: '/admin/queues', key: 'number', tableId: 'queues-list', formId: 'queues-form',
      addLabel: 'Add queue', afterSave: loadOptions,
      defaults: {strategy: 'roundrobin', ring_seconds: 15, max_wait: 300, leave_digit: '1', announce_seconds: 30},
      load: async () => (await api('GET', '/admin/queues')).map(q => ({...q, member_state: q.members, members: q.members.map(m => m.extension)})),
      columns: [
        {key: 'number', label: 'Number'}, {key: 'name', label: 'Name'}, {key: 'strategy', label: 'Strategy'},
        {key: 'members', label: 'Members (● logged in)', render: r => r.member_state.map(m => m.extension + (m.logged_in ? ' ●' : '')).join(', ')},
        {key: 'max_wait', label: 'Max wait', render: r => r.max_wait + ' s'},
        {key: 'leave_digit', label: 'Leave key'},
        {key: 'fallback', label: 'Fallback', render: r => destLabel(r.fallback)},
        {key: 'music', label: 'Music', render: r => (r.music || []).join(', ') || 'built-in'},
      ],
      fields: [
        {name: 'number', label: 'Number', createOnly: true, required: true, placeholder: '710'},
        {name: 'name', label: 'Name', required: true},
        {name: 'members', label: 'Members', type: 'list', required: true, get help() { return extHelp() + '. They log in with *45 and the queue number.'; }},
        {name: 'strategy', label: 'Strategy', type: 'select', options: [['roundrobin', 'Round robin'], ['longest-idle', 'Longest idle']]},
        {name: 'ring_seconds', label: 'Ring each member (seconds)', type: 'number', min: 1, max: 300},
        {name: 'max_wait', label: 'Max wait (seconds)', type: 'number', min: 5, max: 7200},
        {name: 'leave_digit', label: 'Leave key', placeholder: '1', help: 'Takes a waiting caller to the fallback; empty for none'},
        {name: 'announce_seconds', label: 'Announce position every (seconds)', type: 'number', min: 0, help: '0: no announcements'},
        {name: 'fallback', label: 'Fallback destination', type: 'select', options: dests('(hang up)'), help: 'On max wait, the leave key, or nobody logged in'},
        {name: 'music', label: 'Music on hold', type: 'list', get help() { return 'Files, comma-separated (empty: built-in). Uploaded: ' + (opts.music.join(', ') || 'none'); }},
      ],
    });
    extra.replaceChildren(uploadCard('Upload music on hold', 'music-upload', '/admin/music', null, async res => {
      toast('Stored ' + res.name);
      await loadOptions();
    }));
    return sec;
  },

  attendants: () => {
    const flat = a => {
      const row = {...a};
      for (const k of KEYS) row['options.' + k] = (a.options || {})[k] || '';
      return row;
    };
    const collect = data => {
      const options = {};
      for (const k of KEYS) {
        const v = data['options.' + k];
        delete data['options.' + k];
        if (v) options[k] = v;
      }
      data.options = options;
      return data;
    };
    const keyChoices = () => [['', '(nothing)'], ['dial-by-extension', 'Dial by extension'], ['repeat', 'Repeat the menu']]
      .concat(opts.destinations.map(d => [d.value, d.label]));
    const fields = [
      {name: 'number', label: 'Number', createOnly: true, required: true, placeholder: '800'},
      {name: 'name', label: 'Name', required: true},
      {name: 'greeting_text', label: 'Greeting text', type: 'textarea', help: 'Spoken by espeak-ng when saved; leave empty to keep the current greeting. Or upload a recording (Greeting button).'},
      ...KEYS.map(k => ({name: 'options.' + k, label: 'Key ' + k, type: 'select', options: keyChoices})),
      {name: 'timeout_dest', label: 'When the caller presses nothing', type: 'select', options: dests('(repeat, then hang up)')},
      {name: 'invalid_dest', label: 'When the caller presses a wrong key', type: 'select', options: dests('(say so and repeat)')},
      {name: 'schedule', label: 'Business hours', type: 'select', options: () => none('(always open)').concat(opts.schedules)},
      {name: 'after_hours_dest', label: 'After-hours destination', type: 'select', options: dests('(the menu plays)')},
    ];
    const editFields = fields.concat([
      {name: 'clear_greeting', label: 'Use the built-in greeting again', type: 'checkbox'},
      {name: 'clear_after_hours_greeting', label: 'Remove the after-hours greeting', type: 'checkbox'},
    ]);
    return crudSection({
      root, title: 'Auto attendants', path: '/admin/attendants', key: 'number', tableId: 'attendants-list', formId: 'attendants-form',
      addLabel: 'Add auto attendant', afterSave: loadOptions,
      load: async () => (await api('GET', '/admin/attendants')).map(flat),
      toCreate: collect, toUpdate: collect,
      columns: [
        {key: 'number', label: 'Number'}, {key: 'name', label: 'Name'},
        {key: 'options', label: 'Keys', render: r => Object.entries(r.options || {}).sort().map(([k, v]) => k + ' → ' + destLabel(v)).join('; ')},
        {key: 'timeout_dest', label: 'No key pressed', render: r => destLabel(r.timeout_dest)},
        {key: 'schedule', label: 'Hours', render: r => r.schedule ? r.schedule + ' (after hours: ' + (destLabel(r.after_hours_dest) || 'menu') + ')' : 'always open'},
        {key: 'greeting', label: 'Greeting', render: r => r.greeting ? 'recorded' : 'built-in'},
      ],
      fields, editFields,
      rowActions: [{label: 'Greeting', action: 'greeting', onClick: r => greetingCard(r)}],
    });
  },

  schedules: () => crudSection({
    root, title: 'Schedules', path: '/admin/schedules', key: 'name', tableId: 'schedules-list', formId: 'schedules-form',
    addLabel: 'Add schedule', afterSave: loadOptions,
    defaults: {timezone: Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC', hours_spec: 'mon-fri 09:00-17:00'},
    load: async () => (await api('GET', '/admin/schedules')).map(s => ({...s, hours_spec: s.hours_spec.join('\n'), holidays: s.holidays.join('\n'), hours_list: s.hours_spec, holiday_list: s.holidays})),
    toCreate: d => ({...d, hours_spec: lines(d.hours_spec), holidays: lines(d.holidays)}),
    toUpdate: d => ({...d, hours_spec: lines(d.hours_spec), holidays: lines(d.holidays)}),
    columns: [
      {key: 'name', label: 'Name'}, {key: 'timezone', label: 'Time zone'},
      {key: 'hours_list', label: 'Open', render: r => r.hours_list.join(', ') || 'never'},
      {key: 'holiday_list', label: 'Holidays', render: r => r.holiday_list.join(', ')},
    ],
    fields: [
      {name: 'name', label: 'Name', createOnly: true, required: true, placeholder: 'office'},
      {name: 'timezone', label: 'Time zone', required: true, placeholder: 'Europe/Berlin'},
      {name: 'hours_spec', label: 'Opening hours', type: 'textarea', rows: 4, help: 'One span a line, e.g. "mon-fri 09:00-17:00", "sat 10:00-14:00". Closing before opening runs past midnight.'},
      {name: 'holidays', label: 'Holidays', type: 'textarea', rows: 3, help: 'Closed all day: one YYYY-MM-DD a line'},
    ],
  }),

  trunks: () => crudSection({
    root, title: 'Trunks', path: '/admin/trunks', key: 'name', tableId: 'trunks-list', formId: 'trunks-form',
    addLabel: 'Add trunk', afterSave: loadOptions,
    defaults: {mode: 'register', transport: 'udp', codecs: 'PCMU,PCMA', expires: 300},
    columns: [
      {key: 'name', label: 'Name'}, {key: 'mode', label: 'Mode'},
      {key: 'host', label: 'Host', render: r => r.host + ' (' + r.transport + ')'},
      {key: 'username', label: 'User', render: r => (r.username || '') + (r.auth_username ? ' (auth ' + r.auth_username + ')' : '')},
      {key: 'caller_id', label: 'Caller ID'}, {key: 'codecs', label: 'Codecs'},
      {key: 'allow_from', label: 'Allowed sources'},
      {key: 'state', label: 'State', render: r => r.status ? el('span', {class: 'trunk-state state-' + r.status.state, title: r.status.last_error || ''},
        r.status.state + (r.status.last_error ? ': ' + r.status.last_error : '')) : '—'},
    ],
    fields: [
      {name: 'name', label: 'Name', createOnly: true, required: true, placeholder: 'itsp', help: 'Letters, digits, ".", "_" or "-"'},
      {name: 'mode', label: 'Mode', type: 'select', options: [['register', 'Register (log in to the provider)'], ['peer', 'Peer (trusted by address)']]},
      {name: 'host', label: 'Host', required: true, placeholder: 'sip.provider.example:5060', help: 'HOST or HOST:PORT'},
      {name: 'transport', label: 'Transport', type: 'select', options: ['udp', 'tcp']},
      {name: 'username', label: 'Username', autocomplete: 'off', help: 'Register trunks: the account at the provider'},
      {name: 'password', label: 'Password', type: 'password', autocomplete: 'new-password', help: 'Never shown again; leave empty to keep the current one'},
      {name: 'auth_username', label: 'Auth username', autocomplete: 'off', help: 'When the provider\'s digest username differs'},
      {name: 'caller_id', label: 'Caller ID', placeholder: '+15551234567', help: 'Number presented on outbound calls'},
      {name: 'codecs', label: 'Codecs', placeholder: 'PCMU,PCMA', help: 'In order: PCMU, PCMA or both'},
      {name: 'allow_from', label: 'Allowed sources', placeholder: '203.0.113.0/24', help: 'Peer trunks: IPs, IP:PORTs or networks, comma-separated (default: the host\'s IP)'},
      {name: 'expires', label: 'Registration expiry (seconds)', type: 'number', min: 60, max: 3600},
    ],
  }),

  numbers: () => crudSection({
    root, title: 'Inbound numbers', path: '/admin/numbers', key: 'number', tableId: 'numbers-list', formId: 'numbers-form',
    addLabel: 'Add inbound number',
    columns: [
      {key: 'number', label: 'Number'}, {key: 'dest', label: 'Goes to', render: r => destLabel(r.dest)},
      {key: 'schedule', label: 'Hours', render: r => r.schedule || 'always open'},
      {key: 'after_hours_dest', label: 'After hours', render: r => destLabel(r.after_hours_dest)},
    ],
    fields: [
      {name: 'number', label: 'Number', createOnly: true, required: true, placeholder: '+15551234567', help: 'As the provider sends it'},
      {name: 'dest', label: 'Destination', type: 'select', required: true, options: dests('(choose)')},
      {name: 'schedule', label: 'Business hours', type: 'select', options: () => none('(always open)').concat(opts.schedules)},
      {name: 'after_hours_dest', label: 'After-hours destination', type: 'select', options: dests('(same as above)')},
    ],
  }),

  dialrules: () => crudSection({
    root, title: 'Dial rules', path: '/admin/dialrules', key: 'key', tableId: 'dialrules-list', formId: 'dialrules-form',
    addLabel: 'Add dial rule', defaults: {class: 'national', strip: 0},
    describe: r => r.prefix ? 'rule ' + r.prefix : 'the rule for any number',
    load: async () => (await api('GET', '/admin/dialrules')).map(r => ({...r, key: r.prefix === '' ? 'any' : r.prefix})),
    columns: [
      {key: 'prefix', label: 'Prefix', render: r => r.prefix || '(any number)'},
      {key: 'trunk', label: 'Trunk'}, {key: 'class', label: 'Class'},
      {key: 'strip', label: 'Strip'}, {key: 'prepend', label: 'Prepend'},
    ],
    fields: [
      {name: 'prefix', label: 'Prefix', createOnly: true, placeholder: '00', help: 'Digits the number starts with; empty matches any number. Longest prefix wins.'},
      {name: 'trunk', label: 'Trunk', type: 'select', required: true, options: () => none('(choose)').concat(opts.trunks)},
      {name: 'class', label: 'Class', type: 'select', options: () => opts.classes.length ? opts.classes : ['local', 'national', 'international', 'emergency'],
        help: 'Checked against each extension\'s outbound permission'},
      {name: 'strip', label: 'Strip digits', type: 'number', min: 0, max: 16, help: 'e.g. 1 to drop a 9 for an outside line'},
      {name: 'prepend', label: 'Prepend', help: 'Digits added in front after stripping'},
    ],
  }),
};

// uploadCard is a small form that posts one file (multipart) to path.
function uploadCard(title, id, path, which, done) {
  const fields = [{name: 'file', label: 'WAV file', type: 'file', accept: '.wav,audio/wav'}];
  const form = buildForm(fields, {
    id, submitLabel: 'Upload',
    onSubmit: async (_, f) => {
      const body = new FormData();
      const file = f.elements.file.files[0];
      if (file) body.append('file', file);
      if (which) body.append('which', which);
      const res = await api('POST', path, body);
      f.reset();
      await done(res);
    },
  });
  return el('div', {class: 'card'}, el('h2', {}, title), form);
}

// greetingCard shows an attendant's greetings with players and uploads.
function greetingCard(a) {
  const base = '/admin/attendants/' + encodeURIComponent(a.number) + '/greeting';
  const player = (file, which) => file
    ? el('audio', {controls: true, preload: 'none', src: '/api/v1' + base + '?which=' + which})
    : el('p', {class: 'muted'}, 'The built-in prompt plays.');
  const refresh = async () => {
    try {
      const fresh = await api('GET', '/admin/attendants/' + encodeURIComponent(a.number));
      greetingCard(fresh);
    } catch (err) { toast(err.message, true); }
  };
  extra.replaceChildren(el('div', {class: 'card', id: 'greeting-card'},
    el('h2', {}, 'Greetings of ' + a.number + ' ' + a.name),
    el('h3', {}, 'Greeting'), player(a.greeting, 'greeting'),
    uploadCard('Upload a greeting', 'greeting-upload', base, 'greeting', async () => { toast('Greeting saved'); await refresh(); }),
    el('h3', {}, 'After-hours greeting'), player(a.after_hours_greeting, 'after_hours'),
    uploadCard('Upload an after-hours greeting', 'after-hours-upload', base, 'after_hours', async () => { toast('After-hours greeting saved'); await refresh(); }),
  ));
  extra.scrollIntoView({block: 'nearest'});
}

async function start() {
  const name = main && main.dataset.section;
  const make = sections[name];
  if (!make) return;
  await loadOptions();
  make();
}

start();
