// /admin/blocked: SIP sources the abuse guard blocked (too many failed
// logins, unknown users or malformed requests); their requests are dropped
// unanswered until the block ends. An admin can lift a block at once.
import {api, el, toast} from '/static/fd.js';
import {resourceTable, confirmAction, autoRefresh} from '/static/admin.js';

const section = document.getElementById('section');
const tableBox = el('div', {class: 'table-box'});
section.replaceChildren(
  el('h1', {}, 'Blocked sources'),
  el('p', {class: 'muted'}, 'Addresses sending too many failed logins, requests for unknown users or malformed requests ' +
    'are ignored for a while (serve --block-after, --block-window, --block-for). Trunks and --allow networks are never blocked.'),
  tableBox,
);

const when = v => v ? new Date(v).toLocaleString() : '';

async function reload() {
  let rows;
  try {
    rows = await api('GET', '/admin/blocked') || [];
  } catch (err) {
    toast(err.message, true);
    return;
  }
  tableBox.replaceChildren(resourceTable({
    id: 'blocked-table', rowKey: 'source', empty: 'No source is blocked.',
    columns: [
      {key: 'source', label: 'Source'},
      {key: 'reason', label: 'Reason'},
      {key: 'failures', label: 'Failures'},
      {key: 'dropped', label: 'Requests dropped'},
      {key: 'blocked_at', label: 'Blocked at', render: r => when(r.blocked_at)},
      {key: 'blocked_until', label: 'Blocked until', render: r => when(r.blocked_until)},
    ],
    actions: [{label: 'Unblock', action: 'unblock', onClick: async r => {
      if (!confirmAction('Unblock ' + r.source + '?')) return;
      try {
        await api('DELETE', '/admin/blocked/' + encodeURIComponent(r.source));
        toast('Unblocked ' + r.source);
        await reload();
      } catch (err) { toast(err.message, true); }
    }}],
  }));
}

autoRefresh(reload, 10000);
