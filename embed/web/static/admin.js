// admin.js: the shared pieces of the admin portal's pages. No framework, no
// build step, no inline handlers (the CSP forbids them): everything is built
// with fd.js's el() and wired with addEventListener.
//
//   import {mountAdminMenu, buildForm, readForm, fillForm, submitForm, resourceTable,
//           crudSection, showOnce, confirmAction, autoRefresh, ADMIN_MENU} from '/static/admin.js';
//
// ADMIN_MENU: [{href, label, id}] the admin sections, in menu order.
//
// mountAdminMenu(target?): renders the admin menu (nav.admin-menu, links
//   a[data-admin-nav=ID], the current one has class "active") into target, or
//   into the page's <nav id="admin-menu"> when target is left out. Called
//   automatically on import when #admin-menu exists.
//
// Field specs (used by buildForm/readForm/fillForm/crudSection): objects with
//   name      the JSON key (and the input's name, so server "fields" errors land beside it)
//   label     text of the <label>
//   type      text (default) | number | password | email | checkbox | select | textarea |
//             list (comma-separated text <-> JSON array of strings) | hidden | file
//   options   for select: ['a','b'] or [['value','Label'], ...], or a function returning them
//   help      small text under the field
//   placeholder, min, max, step, required, autocomplete, accept (file)
//   createOnly: shown when adding, read-only when editing (e.g. a number that is the key)
//   editOnly:  shown only when editing
//   optional:  number fields: an empty input reads as null (omitted) instead of 0
//
// buildForm(fields, {id, submitLabel, editing, values, onSubmit, extra}): returns a
//   <form> (class "admin-form") with one labelled input per field, a submit
//   button, a p.form-error. onSubmit(data, form) is called with readForm()'s
//   result; errors it throws are shown with showErrors (field errors beside the
//   fields), its resolved value is passed to nothing. extra: nodes appended before the button.
//
// readForm(form, fields) -> object: like fd.js formData but by spec: list -> array,
//   number -> Number (null when optional and empty), checkbox -> boolean; file inputs skipped.
//
// fillForm(form, fields, values): puts values into the form's inputs.
//
// submitForm(form, fn): runs async fn(), clearing and then showing errors on
//   form; returns fn's result, or undefined after an error (already shown).
//
// resourceTable({id, columns, rows, actions, rowKey, empty}) -> <table class="responsive">:
//   columns: [{key, label, render?(row) -> string|Node, class?}]
//   actions: [{label, class?, action?, onClick(row, button)}] rendered as buttons
//            (button[data-action=ACTION]) in a last cell
//   rows get tr[data-key=row[rowKey]].
//
// crudSection({root, title, path, key, columns, fields, editFields?, addLabel?,
//              tableId?, formId?, rowActions?, canDelete?, deleteLabel?, load?, toCreate?, toUpdate?,
//              afterSave?(result, {created}), describe?(row)}) -> {reload(), rows()}
//   A whole section: a table of GET /api{path} (an array, or load() for another shape),
//   an "Add" form that POSTs path, "Edit" rows into the same form and PUT path/KEY,
//   "Remove" (with confirm) to DELETE path/KEY. afterSave gets the server's answer
//   (use it with showOnce to show generated secrets).
//   toCreate/toUpdate(data, row) may reshape the body before sending.
//
// showOnce(title, entries, root?): shows values the server will never show again
//   (generated secrets, PINs, passwords) in a div.show-once card with copyable
//   <code> elements and a Dismiss button; entries: [[label, value], ...].
//
// confirmAction(message) -> boolean (window.confirm).
//
// Importing admin.js also adds /static/admin.css to the page.
//
// autoRefresh(fn, ms): calls fn now and every ms while the page is visible;
//   returns a stop() function.

import {api, el, toast, showErrors} from '/static/fd.js';

export const ADMIN_MENU = [
  {href: '/admin', label: 'Status & live', id: 'status'},
  {href: '/admin/extensions', label: 'Extensions', id: 'extensions'},
  {href: '/admin/users', label: 'Users', id: 'users'},
  {href: '/admin/boxes', label: 'Voicemail boxes', id: 'boxes'},
  {href: '/admin/groups', label: 'Ring groups', id: 'groups'},
  {href: '/admin/queues', label: 'Queues', id: 'queues'},
  {href: '/admin/attendants', label: 'Auto attendants', id: 'attendants'},
  {href: '/admin/schedules', label: 'Schedules', id: 'schedules'},
  {href: '/admin/trunks', label: 'Trunks', id: 'trunks'},
  {href: '/admin/numbers', label: 'Inbound numbers', id: 'numbers'},
  {href: '/admin/dialrules', label: 'Dial rules', id: 'dialrules'},
  {href: '/admin/smtp', label: 'Email (SMTP)', id: 'smtp'},
  {href: '/admin/blocked', label: 'Blocked sources', id: 'blocked'},
];

export function mountAdminMenu(target) {
  target = target || document.getElementById('admin-menu');
  if (!target) return;
  const path = location.pathname.replace(/\/+$/, '') || '/admin';
  const current = ADMIN_MENU.filter(m => path === m.href || path.startsWith(m.href + '/'))
    .sort((a, b) => b.href.length - a.href.length)[0];
  target.classList.add('admin-menu');
  target.replaceChildren(...ADMIN_MENU.map(m => el('a', {
    href: m.href, dataset: {adminNav: m.id},
    class: current && current.id === m.id ? 'active' : undefined,
    'aria-current': current && current.id === m.id ? 'page' : undefined,
  }, m.label)));
}

function optionsOf(f) {
  const opts = typeof f.options === 'function' ? f.options() : (f.options || []);
  return opts.map(o => Array.isArray(o) ? o : [o, o]);
}

function inputFor(f, editing) {
  const id = 'f-' + f.name + '-' + Math.random().toString(36).slice(2, 7);
  const common = {id, name: f.name, placeholder: f.placeholder, required: f.required && !(editing && f.createOnly) ? true : undefined,
    autocomplete: f.autocomplete, readonly: editing && f.createOnly ? true : undefined};
  let input;
  switch (f.type) {
    case 'checkbox':
      input = el('input', {...common, type: 'checkbox', required: undefined, placeholder: undefined});
      return el('label', {class: 'check'}, input, f.label);
    case 'select':
      input = el('select', common, optionsOf(f).map(([v, l]) => el('option', {value: v}, l)));
      if (editing && f.createOnly) input.disabled = true;
      break;
    case 'textarea':
      input = el('textarea', {...common, rows: f.rows || 3});
      break;
    case 'hidden':
      return el('input', {...common, type: 'hidden'});
    case 'number':
      input = el('input', {...common, type: 'number', min: f.min, max: f.max, step: f.step});
      break;
    case 'file':
      input = el('input', {...common, type: 'file', accept: f.accept});
      break;
    case 'list':
      input = el('input', {...common, type: 'text', dataset: {list: '1'}});
      break;
    default:
      input = el('input', {...common, type: f.type || 'text'});
  }
  const wrap = el('div', {class: 'field'}, el('label', {for: id}, f.label || f.name), input);
  if (f.help) wrap.append(el('small', {class: 'muted help'}, f.help));
  return wrap;
}

export function buildForm(fields, opts = {}) {
  const editing = !!opts.editing;
  const form = el('form', {id: opts.id, class: 'admin-form', novalidate: true});
  for (const f of fields) {
    if (f.editOnly && !editing) continue;
    form.append(inputFor(f, editing));
  }
  if (opts.extra) form.append(...[opts.extra].flat());
  const buttons = el('div', {class: 'form-buttons'},
    el('button', {type: 'submit', class: 'primary'}, opts.submitLabel || 'Save'));
  if (opts.onCancel) buttons.append(el('button', {type: 'button', onclick: opts.onCancel, dataset: {action: 'cancel'}}, 'Cancel'));
  form.append(buttons, el('p', {class: 'form-error', role: 'alert'}));
  if (opts.values) fillForm(form, fields, opts.values);
  if (opts.onSubmit) {
    form.addEventListener('submit', async ev => {
      ev.preventDefault();
      await submitForm(form, () => opts.onSubmit(readForm(form, fields), form));
    });
  }
  return form;
}

export function readForm(form, fields) {
  const out = {};
  for (const f of fields) {
    const input = form.elements[f.name];
    if (!input || f.type === 'file') continue;
    if (input.disabled || input.readOnly) {
      if (f.createOnly) continue;
    }
    switch (f.type) {
      case 'checkbox': out[f.name] = input.checked; break;
      case 'number':
        out[f.name] = input.value === '' ? (f.optional ? null : 0) : Number(input.value);
        if (out[f.name] === null) delete out[f.name];
        break;
      case 'list': out[f.name] = input.value.split(/[,\s]+/).map(s => s.trim()).filter(Boolean); break;
      default: out[f.name] = input.value;
    }
  }
  return out;
}

export function fillForm(form, fields, values) {
  for (const f of fields) {
    const input = form.elements[f.name];
    if (!input || f.type === 'file' || f.type === 'password') continue;
    const v = values ? values[f.name] : undefined;
    if (f.type === 'checkbox') input.checked = !!v;
    else if (f.type === 'list') input.value = (v || []).join(', ');
    else input.value = v === undefined || v === null ? '' : String(v);
  }
}

export async function submitForm(form, fn) {
  showErrors(form, null);
  const btn = form.querySelector('button[type=submit]');
  if (btn) btn.disabled = true;
  try {
    return await fn();
  } catch (err) {
    showErrors(form, err);
    toast(err.message, true);
    return undefined;
  } finally {
    if (btn) btn.disabled = false;
  }
}

export function resourceTable({id, columns, rows, actions, rowKey, empty}) {
  const head = el('tr', {}, columns.map(c => el('th', {}, c.label)), actions && actions.length ? el('th', {}, '') : null);
  const body = el('tbody');
  if (!rows.length) {
    body.append(el('tr', {class: 'empty'}, el('td', {colspan: columns.length + 1, class: 'muted'}, empty || 'None yet.')));
  }
  for (const row of rows) {
    const tr = el('tr', {dataset: rowKey ? {key: row[rowKey]} : undefined});
    for (const c of columns) {
      const v = c.render ? c.render(row) : row[c.key];
      tr.append(el('td', {class: c.class || ('col-' + (c.key || '')), dataset: {label: c.label}}, v === undefined || v === null ? '' : v));
    }
    if (actions && actions.length) {
      tr.append(el('td', {class: 'actions'}, actions.filter(a => !a.show || a.show(row)).map(a =>
        el('button', {type: 'button', class: a.class, dataset: {action: a.action || a.label.toLowerCase()},
          onclick: ev => a.onClick(row, ev.currentTarget)}, a.label))));
    }
    body.append(tr);
  }
  return el('table', {id, class: 'responsive admin-table'}, el('thead', {}, head), body);
}

export function crudSection(o) {
  const root = o.root;
  let rows = [];
  let editing = null; // the row being edited, or null when adding
  const tableBox = el('div', {class: 'table-box'});
  const formBox = el('div', {class: 'card form-card'});
  const heading = el('h2', {}, o.addLabel || 'Add');
  const addButton = el('button', {type: 'button', class: 'primary', dataset: {action: 'add'}, onclick: () => openForm(null)}, o.addLabel || 'Add');
  root.replaceChildren(el('div', {class: 'section-head'}, o.title ? el('h1', {}, o.title) : null, addButton), tableBox, formBox);
  formBox.hidden = true;

  function openForm(row) {
    editing = row;
    const fields = row && o.editFields ? o.editFields : o.fields;
    heading.textContent = row ? 'Edit ' + (o.describe ? o.describe(row) : row[o.key]) : (o.addLabel || 'Add');
    const form = buildForm(fields, {
      id: o.formId, editing: !!row, values: row || o.defaults || {},
      submitLabel: row ? 'Save' : (o.addLabel || 'Add'),
      onCancel: () => { formBox.hidden = true; },
      onSubmit: async data => {
        let res;
        if (row) {
          const body = o.toUpdate ? o.toUpdate(data, row) : data;
          res = await api('PUT', o.path + '/' + encodeURIComponent(row[o.key]), body);
        } else {
          const body = o.toCreate ? o.toCreate(data) : data;
          res = await api('POST', o.path, body);
        }
        toast(row ? 'Saved' : 'Added');
        formBox.hidden = true;
        if (o.afterSave) o.afterSave(res, {created: !row});
        await reload();
      },
    });
    formBox.replaceChildren(heading, form);
    formBox.hidden = false;
    const first = form.querySelector('input:not([readonly]):not([type=hidden]), select, textarea');
    if (first) first.focus();
  }

  async function reload() {
    try {
      rows = o.load ? await o.load() : await api('GET', o.path);
      rows = rows || [];
    } catch (err) {
      toast(err.message, true);
      return;
    }
    const actions = [{label: 'Edit', action: 'edit', onClick: r => openForm(r)}, ...(o.rowActions || [])];
    if (o.canDelete !== false) {
      actions.push({label: o.deleteLabel || 'Remove', action: 'remove', class: 'danger', show: o.canDeleteRow,
        onClick: async r => {
          if (!confirmAction('Remove ' + (o.describe ? o.describe(r) : r[o.key]) + '?')) return;
          try {
            await api('DELETE', o.path + '/' + encodeURIComponent(r[o.key]));
            toast('Removed');
            await reload();
          } catch (err) { toast(err.message, true); }
        }});
    }
    tableBox.replaceChildren(resourceTable({id: o.tableId, columns: o.columns, rows, actions, rowKey: o.key}));
  }

  reload();
  return {reload, rows: () => rows, edit: openForm};
}

export function showOnce(title, entries, root) {
  root = root || document.getElementById('show-once') || document.querySelector('main');
  const card = el('div', {class: 'card show-once', role: 'alert'},
    el('strong', {}, title),
    el('p', {class: 'muted'}, 'Shown only this once: copy it now.'),
    el('dl', {}, entries.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, el('code', {class: 'secret'}, v))])),
  );
  card.append(el('button', {type: 'button', dataset: {action: 'dismiss'}, onclick: () => card.remove()}, 'Dismiss'));
  root.prepend(card);
  card.scrollIntoView({block: 'nearest'});
  return card;
}

export function confirmAction(message) {
  return window.confirm(message);
}

export function autoRefresh(fn, ms) {
  let timer = null;
  let running = false;
  const tick = async () => {
    if (running || document.hidden) return;
    running = true;
    try { await fn(); } catch (err) { /* shown by fn; keep polling */ } finally { running = false; }
  };
  tick();
  timer = setInterval(tick, ms);
  const onVis = () => { if (!document.hidden) tick(); };
  document.addEventListener('visibilitychange', onVis);
  return () => { clearInterval(timer); document.removeEventListener('visibilitychange', onVis); };
}

// The admin pages' styles live beside this file; every page importing it gets them.
if (!document.querySelector('link[href="/static/admin.css"]')) {
  document.head.append(el('link', {rel: 'stylesheet', href: '/static/admin.css'}));
}
mountAdminMenu();
