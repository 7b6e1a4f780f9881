// /admin/smtp: the mail server notifications go through. Mirrors `frontdesk smtp set|show|test`.
import {api, el, toast} from '/static/fd.js';
import {buildForm, fillForm, submitForm} from '/static/admin.js';

const fields = [
  {name: 'host', label: 'Mail server host', required: true},
  {name: 'security', label: 'Security', type: 'select', options: [['starttls', 'STARTTLS'], ['tls', 'TLS'], ['none', 'None (port 25, local only for passwords)']]},
  {name: 'port', label: 'Port', type: 'number', min: 0, max: 65535, help: '0: 587, 465 or 25 by security'},
  {name: 'username', label: 'User name', autocomplete: 'off', help: 'Empty: no login'},
  {name: 'password', label: 'Password', type: 'password', autocomplete: 'new-password', help: 'Empty: keep the stored one'},
  {name: 'clear_password', label: 'Forget the stored password', type: 'checkbox'},
  {name: 'from', label: 'Sender', required: true, placeholder: 'Frontdesk <pbx@example.com>'},
  {name: 'link_base', label: 'Web address for links', placeholder: 'https://pbx.example.com'},
];

const section = document.getElementById('section');
const state = el('div', {class: 'stats', id: 'smtp-state'});

function showState(v) {
  const stat = (label, value) => el('div', {class: 'stat'}, el('span', {class: 'label'}, label), el('span', {class: 'value'}, value));
  state.replaceChildren(...[
    stat('Server', v.configured ? v.host + ':' + v.port + (v.port_default ? ' (default)' : '') : 'not set'),
    stat('Password', v.password),
    stat('Waiting emails', v.pending_emails),
    v.last_error ? stat('Last error', v.last_error) : null,
    v.problem ? stat('These settings can\'t send mail', v.problem) : null,
  ].filter(Boolean));
}

async function main() {
  const form = buildForm(fields, {
    id: 'smtp-form', submitLabel: 'Save',
    onSubmit: async data => {
      if (!data.port) data.port = 0;
      const v = await api('PUT', '/admin/smtp', data);
      toast('Mail settings saved');
      fillForm(form, fields, {...v, port: v.port_default ? 0 : v.port});
      showState(v);
    },
  });
  const testFields = [{name: 'address', label: 'Send a test email to', type: 'email', required: true}];
  const test = buildForm(testFields, {
    id: 'smtp-test-form', submitLabel: 'Send test email',
    onSubmit: async data => {
      const res = await api('POST', '/admin/smtp/test', data);
      toast(res.message);
    },
  });
  test.querySelector('button[type=submit]').dataset.action = 'test';
  section.replaceChildren(el('h1', {}, 'Email (SMTP)'), state,
    el('div', {class: 'card'}, el('h2', {}, 'Mail server'), form),
    el('div', {class: 'card'}, el('h2', {}, 'Test'), test));
  try {
    const v = await api('GET', '/admin/smtp');
    fillForm(form, fields, {...v, port: v.port_default ? 0 : v.port});
    showState(v);
  } catch (err) { toast(err.message, true); }
}
main();
