// /admin/boxes: voicemail boxes, shared and personal. Mirrors `frontdesk vm`.
import {el} from '/static/fd.js';
import {crudSection} from '/static/admin.js';

export const boxFields = [
  {name: 'number', label: 'Number', required: true, createOnly: true, help: '2 to 8 digits, not starting with 0'},
  {name: 'name', label: 'Name', required: true},
  {name: 'pin', label: 'PIN', type: 'password', autocomplete: 'off', help: '4 to 10 digits, for *56'},
  {name: 'emails', label: 'Email new messages to', type: 'list', help: 'Addresses, comma-separated'},
  {name: 'email_attach', label: 'Attach the audio to emails', type: 'checkbox'},
  {name: 'language', label: 'Prompt language', help: 'A two-letter code such as en'},
  {name: 'operator', label: 'Operator (caller presses 0)', help: 'A destination such as ext:100; empty: none'},
  {name: 'max_seconds', label: 'Longest message (seconds)', type: 'number', min: 5, max: 3600},
  {name: 'silence_seconds', label: 'Silence that ends a message (seconds)', type: 'number', min: 0, max: 60, help: '0: off'},
  {name: 'transcribe', label: 'Transcribe new messages', type: 'checkbox'},
  {name: 'transcribe_language', label: 'Language of the messages', help: 'auto, or a code such as en or de'},
];
const addFields = [...boxFields,
  {name: 'members', label: 'Members (extensions)', type: 'list', help: 'e.g. 101, 102'},
  {name: 'access', label: 'Members may', type: 'select', options: [['listen', 'listen'], ['download', 'listen, download'], ['delete', 'listen, download, delete'], ['manage', 'everything (manage)']]},
];

crudSection({
  root: document.getElementById('section'), title: 'Voicemail boxes', path: '/admin/boxes', key: 'number',
  tableId: 'boxes', formId: 'box-form', addLabel: 'Add shared box',
  defaults: {email_attach: true, language: 'en', max_seconds: 180, silence_seconds: 5, transcribe: true, transcribe_language: 'auto', access: 'delete'},
  describe: r => 'box ' + r.number,
  canDeleteRow: r => r.kind === 'shared',
  columns: [
    {key: 'number', label: 'Number', render: r => el('a', {href: '/admin/boxes/' + encodeURIComponent(r.number)}, r.number)},
    {key: 'name', label: 'Name'},
    {key: 'kind', label: 'Kind', render: r => r.kind === 'personal' ? 'personal (ext ' + r.owner + ')' : 'shared'},
    {key: 'counts', label: 'New / saved', render: r => r.new + ' / ' + r.saved},
    {key: 'members', label: 'Members', render: r => (r.members || []).map(m => m.extension + ' (' + m.access + ')').join(', ')},
    {key: 'emails', label: 'Email', render: r => (r.emails || []).join(', ')},
    {key: 'transcribe', label: 'Transcribe', render: r => r.transcribe ? r.transcribe_language : 'off'},
  ],
  fields: addFields,
  editFields: boxFields.map(f => f.name === 'pin' ? {...f, label: 'New PIN', help: 'Empty: keep the current one'} : f),
  toUpdate: data => { if (!data.pin) delete data.pin; return data; },
});
