// live.js: the server-sent events of /api/v1/events, re-dispatched on window
// as CustomEvents so any part of a page can listen:
//   'fd-change'   detail = {kind, box, message_id, actor}  (a store Change),
//                 or {kind: 'reconnect'} after the stream was lost, since
//                 changes may have been missed meanwhile
//   'fd-presence' detail = {message_id, viewers: [user names]}
import {api} from '/static/fd.js';

let source = null;
let viewingID = null;
let retry = null;
let started = false;

// startLive opens the stream (once per page). viewing is the id of the
// message the page shows, so others see who is looking at it.
export function startLive(viewing) {
  if (started || typeof EventSource === 'undefined') return;
  started = true;
  viewingID = viewing || null;
  connect(false);
  // Close cleanly so the server drops our presence at once; a page restored
  // from the back/forward cache connects again and catches up.
  window.addEventListener('pagehide', close);
  window.addEventListener('pageshow', (ev) => { if (ev.persisted && started) connect(true); });
}

// stopLive closes the stream for good (the page has nothing left to watch).
export function stopLive() {
  started = false;
  close();
  document.body.classList.remove('offline');
}

function close() {
  clearTimeout(retry);
  if (source) source.close();
  source = null;
}

function connect(catchUp) {
  close();
  const url = '/api/v1/events' + (viewingID ? '?viewing=' + encodeURIComponent(viewingID) : '');
  const es = new EventSource(url, {withCredentials: true});
  source = es;
  let lost = catchUp;
  es.addEventListener('open', () => {
    document.body.classList.remove('offline');
    if (lost) window.dispatchEvent(new CustomEvent('fd-change', {detail: {kind: 'reconnect'}}));
    lost = false;
  });
  es.addEventListener('error', () => {
    lost = true;
    document.body.classList.add('offline');
    // EventSource retries by itself unless the server refused the stream
    // (logged out, restarted mid-handshake): then check the session, which
    // sends a logged-out user to /login, and try again a little later.
    if (es.readyState === EventSource.CLOSED && source === es && started) {
      retry = setTimeout(() => api('GET', '/me').then(() => connect(true), () => connect(true)), 5000);
    }
  });
  es.addEventListener('change', (ev) => dispatch('fd-change', ev.data));
  es.addEventListener('presence', (ev) => dispatch('fd-presence', ev.data));
}

function dispatch(name, data) {
  let detail;
  try { detail = JSON.parse(data); } catch { return; }
  window.dispatchEvent(new CustomEvent(name, {detail}));
}

// debounce calls fn once, ms after the last call of a burst.
export function debounce(fn, ms = 200) {
  let t;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}
