// /admin/extensions: the phones' SIP accounts. Mirrors `frontdesk ext`.
import {api, el} from '/static/fd.js';
import {crudSection, showOnce} from '/static/admin.js';

const outbound = [['internal', 'Internal only'], ['local', 'Local'], ['national', 'National'], ['international', 'International']];
const forwardHelp = 'A destination such as vm:600 or ext:101; empty: own voicemail box';

const fields = [
  {name: 'number', label: 'Number', required: true, createOnly: true, help: '2 to 8 digits, not starting with 0', autocomplete: 'off'},
  {name: 'name', label: 'Name', required: true, help: 'Shown to the people this extension calls'},
  {name: 'secret', label: 'SIP password', type: 'password', autocomplete: 'new-password', help: 'At least 8 characters; empty: generate one'},
  {name: 'pin', label: 'Voicemail PIN', type: 'password', autocomplete: 'off', help: '4 to 10 digits; empty: generate one'},
  {name: 'voicemail', label: 'Personal voicemail box', type: 'checkbox'},
  {name: 'outbound', label: 'May dial out to', type: 'select', options: outbound, help: 'Emergency numbers always work'},
  {name: 'ring_seconds', label: 'Ring seconds', type: 'number', min: 1, max: 600},
  {name: 'forward_no_answer', label: 'When not answered', help: forwardHelp},
  {name: 'forward_busy', label: 'When busy', help: forwardHelp},
  {name: 'forward_unavailable', label: 'When no phone is registered', help: forwardHelp},
];
// Editing: the secret field sets a new one (empty keeps it); the PIN is reset on the box page.
const editFields = fields.filter(f => f.name !== 'pin').map(f => f.name === 'secret'
  ? {...f, label: 'New SIP password', help: 'Empty: keep the current one. A new one logs out the registered phones.'} : f);
editFields.splice(3, 0, {name: 'new_secret', label: 'Generate a new SIP password', type: 'checkbox'});

const section = document.getElementById('section');
crudSection({
  root: section, title: 'Extensions', path: '/admin/extensions', key: 'number',
  tableId: 'extensions', formId: 'extension-form', addLabel: 'Add extension',
  defaults: {voicemail: true, outbound: 'national', ring_seconds: 25},
  describe: r => 'extension ' + r.number,
  columns: [
    {key: 'number', label: 'Number'},
    {key: 'name', label: 'Name'},
    {key: 'registered_devices', label: 'Devices', render: r => el('span', {class: r.registered_devices ? 'badge new' : 'badge'}, r.registered_devices)},
    {key: 'voicemail', label: 'Voicemail', render: r => r.voicemail ? el('a', {href: '/admin/boxes/' + r.number}, 'box ' + r.number) : 'off'},
    {key: 'outbound', label: 'Dials out'},
    {key: 'ring_seconds', label: 'Rings', render: r => r.ring_seconds + ' s'},
    {key: 'forwards', label: 'Forwards', render: r => [r.forward_no_answer && 'no answer → ' + r.forward_no_answer,
      r.forward_busy && 'busy → ' + r.forward_busy, r.forward_unavailable && 'unavailable → ' + r.forward_unavailable].filter(Boolean).join('; ')},
  ],
  fields, editFields,
  toUpdate: data => { if (!data.secret) delete data.secret; return data; },
  afterSave: (res, {created}) => {
    const shown = [];
    if (res.secret) shown.push(['SIP user name', res.extension.number], ['SIP password', res.secret]);
    if (res.pin) shown.push(['Voicemail PIN', res.pin]);
    if (shown.length) showOnce((created ? 'Extension ' : 'New values for ') + res.extension.number, shown);
  },
});
