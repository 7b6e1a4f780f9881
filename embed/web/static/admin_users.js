// /admin/users: who logs in to the web inbox. Mirrors `frontdesk user`.
import {api, el, toast} from '/static/fd.js';
import {crudSection, showOnce, confirmAction} from '/static/admin.js';

let extensions = [];
const extOptions = () => [['', '(none)'], ...extensions.map(e => [e.number, e.number + ' ' + e.name])];

const fields = [
  {name: 'name', label: 'User name', required: true, createOnly: true, autocomplete: 'off', help: 'Letters, digits, dots, dashes, underscores'},
  {name: 'email', label: 'Email', type: 'email', help: 'Optional; logs in too'},
  {name: 'extension', label: 'Linked extension', type: 'select', options: extOptions, help: 'Their desk phone: their personal box and the boxes it is a member of'},
  {name: 'is_admin', label: 'Admin (may do everything)', type: 'checkbox'},
  {name: 'password', label: 'Password', type: 'password', autocomplete: 'new-password', help: 'At least 10 characters; empty: generate one'},
  {name: 'must_change_password', label: 'Must choose a new password at first login', type: 'checkbox'},
];
const editFields = fields.filter(f => f.name !== 'password');

function passwordShown(res) {
  if (res.password) showOnce('Password of ' + res.user.name, [['User name', res.user.name], ['Password', res.password]]);
}

async function post(path, body, done) {
  try {
    const res = await api('POST', path, body);
    toast(done);
    return res;
  } catch (err) { toast(err.message, true); return null; }
}

async function main() {
  try { extensions = await api('GET', '/admin/extensions'); } catch (err) { toast(err.message, true); }
  const sec = crudSection({
    root: document.getElementById('section'), title: 'Users', path: '/admin/users', key: 'id',
    tableId: 'users', formId: 'user-form', addLabel: 'Add user',
    defaults: {must_change_password: true},
    describe: r => 'user ' + r.name,
    columns: [
      {key: 'name', label: 'Name'},
      {key: 'email', label: 'Email'},
      {key: 'extension', label: 'Extension'},
      {key: 'is_admin', label: 'Role', render: r => r.is_admin ? 'admin' : 'member'},
      {key: 'state', label: 'State', render: r => [r.locked && el('span', {class: 'badge status-done'}, 'locked'),
        r.must_change_password && el('span', {class: 'muted'}, 'must change password')].filter(Boolean)},
    ],
    fields, editFields,
    afterSave: passwordShown,
    rowActions: [
      {label: 'Reset password', action: 'reset-password', onClick: async r => {
        if (!confirmAction('Give ' + r.name + ' a new generated password and log them out everywhere?')) return;
        const res = await post('/admin/users/' + r.id + '/reset-password', {}, 'Password reset');
        if (res) { passwordShown(res); sec.reload(); }
      }},
      {label: 'Unlock', action: 'unlock', show: r => r.locked, onClick: async r => {
        if (await post('/admin/users/' + r.id + '/unlock', {}, r.name + ' unlocked')) sec.reload();
      }},
      {label: 'Log out everywhere', action: 'logout-all', onClick: async r => {
        if (!confirmAction('End every session of ' + r.name + '?')) return;
        const res = await post('/admin/users/' + r.id + '/logout-all', {}, 'Logged out');
        if (res) toast(res.sessions_ended + ' sessions ended');
      }},
    ],
  });
}
main();
