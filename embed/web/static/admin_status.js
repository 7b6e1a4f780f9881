// /admin: system status and the live view (registered devices, active calls),
// refreshed every 2 seconds.
import {api, el, toast, fmtTime} from '/static/fd.js';
import {resourceTable, autoRefresh} from '/static/admin.js';

const section = document.getElementById('section');
const stats = el('div', {class: 'stats', id: 'status'});
const devices = el('div', {id: 'devices-box'});
const calls = el('div', {id: 'calls-box'});

section.replaceChildren(
  el('div', {class: 'section-head'}, el('h1', {}, 'System status'),
    el('a', {class: 'button', id: 'backup-download', href: '/api/v1/admin/backup', download: ''}, 'Download a backup')),
  stats,
  el('h2', {}, 'Registered devices'), devices,
  el('h2', {}, 'Active calls'), calls,
);

function bytes(n) {
  if (!n) return '0 B';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  const i = Math.min(u.length - 1, Math.floor(Math.log(n) / Math.log(1024)));
  return (n / 1024 ** i).toFixed(i ? 1 : 0) + ' ' + u[i];
}

function uptime(s) {
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return (d ? d + 'd ' : '') + (d || h ? h + 'h ' : '') + m + 'm';
}

function since(iso) {
  const s = Math.max(0, Math.round((Date.now() - new Date(iso)) / 1000));
  return Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0');
}

function stat(id, label, value) {
  return el('div', {class: 'stat', dataset: {stat: id}}, el('span', {class: 'label'}, label), el('span', {class: 'value'}, value));
}

async function refresh() {
  let st, ds, cs;
  try {
    [st, ds, cs] = await Promise.all([api('GET', '/admin/status'), api('GET', '/admin/devices'), api('GET', '/admin/calls')]);
  } catch (err) {
    toast(err.message, true);
    return;
  }
  const q = st.transcription_queue || {};
  stats.replaceChildren(
    stat('version', 'Version', st.version),
    stat('uptime', 'Up for', uptime(st.uptime_seconds)),
    stat('disk', 'Disk free', bytes(st.disk_free_bytes) + ' of ' + bytes(st.disk_total_bytes)),
    stat('database', 'Database', bytes(st.database_bytes) + ' (schema ' + st.schema_version + ')'),
    stat('engine', 'Transcription engine', st.transcription_engine),
    stat('model', 'Model', st.transcription_model_name || 'none in use'),
    stat('queue', 'Transcription queue', Object.keys(q).length ? Object.entries(q).map(([k, v]) => k + ' ' + v).join(', ') : 'empty'),
    stat('messages', 'Messages', st.counts.messages + (st.counts.messages_trash ? ' (+' + st.counts.messages_trash + ' in trash)' : '')),
    stat('outbox', 'Waiting to send', st.counts.pending_emails + ' emails, ' + st.counts.pending_notifications + ' notifications'),
    stat('live', 'Now', st.registered_devices + ' devices, ' + st.active_calls + ' calls'),
  );
  devices.replaceChildren(resourceTable({id: 'devices', rows: ds, empty: 'No phone is registered.', columns: [
    {key: 'extension', label: 'Extension'},
    {key: 'contact', label: 'Contact', render: r => el('code', {}, r.contact)},
    {key: 'transport', label: 'Transport'},
    {key: 'source', label: 'Source'},
    {key: 'user_agent', label: 'User agent'},
    {key: 'expires_at', label: 'Expires', render: r => fmtTime(r.expires_at)},
  ]}));
  calls.replaceChildren(resourceTable({id: 'calls', rows: cs, empty: 'No call in progress.', columns: [
    {key: 'from', label: 'From', render: r => r.from_number + (r.from_name ? ' ' + r.from_name : '')},
    {key: 'to_number', label: 'To'},
    {key: 'status', label: 'Status'},
    {key: 'started_at', label: 'Started', render: r => fmtTime(r.started_at)},
    {key: 'duration', label: 'For', render: r => since(r.answered_at || r.started_at)},
  ]}));
}

autoRefresh(refresh, 2000);
