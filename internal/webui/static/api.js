// api.js is the UI's one way to talk to /api/v1: JSON requests with the API
// token, error bodies turned into ApiError, and Server-Sent Event streams
// that survive reconnects without losing or repeating events.

const TOKEN_KEY = 'drover.token';

// The API token lives in sessionStorage: it survives reloads of the tab but
// not closing it, and is never written anywhere else.
export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY) || '',
  set: (t) => sessionStorage.setItem(TOKEN_KEY, t),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

// ApiError carries the API's {"error":{"code","message","field"}}.
export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field || '';
  }
}

let unauthorized = () => {};

// onUnauthorized sets what happens when the API answers 401: the token is
// missing, wrong or revoked, and the UI must ask for one.
export function onUnauthorized(fn) { unauthorized = fn; }

// request sends a call and returns the decoded JSON (null for 204). body is
// sent as is (a Blob for bundles); json is encoded. A 401 calls the
// onUnauthorized handler unless opts.auth is false (the token form checks
// a candidate token itself).
export async function request(method, path, opts = {}) {
  const headers = new Headers(opts.headers || {});
  const t = token.get();
  if (t) headers.set('Authorization', 'Bearer ' + t);
  let body = opts.body;
  if (opts.json !== undefined) {
    headers.set('Content-Type', 'application/json');
    body = JSON.stringify(opts.json);
  }
  let resp;
  try {
    resp = await fetch('/api/v1' + path, { method, headers, body, signal: opts.signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'unreachable', 'The coordinator cannot be reached. Check that it is running, then try again.');
  }
  if (resp.status === 204) return null;
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { /* not JSON: a proxy's error page */ }
  if (!resp.ok) {
    const e = data?.error;
    const err = new ApiError(resp.status, e?.code || 'http_' + resp.status,
      e?.message || `${method} ${path}: ${resp.status} ${resp.statusText}`, e?.field);
    if (resp.status === 401 && opts.auth !== false) unauthorized(err);
    throw err;
  }
  return data;
}

export const get = (path, opts) => request('GET', path, opts);
export const post = (path, opts) => request('POST', path, opts);

// url is an API address for places that cannot send headers (EventSource,
// download links): the token goes in ?access_token=, which the API accepts
// on GET requests.
export function url(path) {
  const t = token.get();
  const u = '/api/v1' + path;
  return t ? u + (u.includes('?') ? '&' : '?') + 'access_token=' + encodeURIComponent(t) : u;
}

// stream opens a Server-Sent Events stream and calls handlers[name] with
// each event's parsed JSON data and the event.
//
// The browser reconnects by itself after a network error, sending
// Last-Event-ID, and the API replays exactly what came after it. It gives up
// for good on an HTTP error (a 401, a 502 from a proxy, a coordinator
// restarting behind one); then the stream reopens itself with growing waits,
// passing the last id it saw as ?lastEventId= so the replay still starts in
// the right place. onStatus hears "live", "reconnecting" and "down".
export function stream(path, handlers, onStatus = () => {}) {
  let es = null;
  let lastId = '';
  let closed = false;
  let wait = 1000;
  let timer = 0;

  const open = () => {
    let p = path;
    if (lastId) p += (p.includes('?') ? '&' : '?') + 'lastEventId=' + encodeURIComponent(lastId);
    es = new EventSource(url(p));
    es.onopen = () => { wait = 1000; onStatus('live'); };
    es.onerror = () => {
      if (closed) return;
      if (es.readyState !== EventSource.CLOSED) { onStatus('reconnecting'); return; }
      onStatus('down');
      timer = setTimeout(recover, wait);
      wait = Math.min(wait * 2, 30000);
    };
    for (const [name, fn] of Object.entries(handlers)) {
      es.addEventListener(name, (ev) => {
        if (closed) return;
        if (ev.lastEventId) lastId = ev.lastEventId;
        let data = null;
        try { data = ev.data ? JSON.parse(ev.data) : null; } catch { return; }
        fn(data, ev);
      });
    }
  };

  // recover asks a cheap authenticated question first: EventSource hides
  // the status of a failed connection, and a 401 must lead to the token
  // form rather than to reconnecting forever.
  const recover = async () => {
    if (closed) return;
    try {
      await get('/jobs?limit=1');
    } catch (e) {
      if (e.status === 401 || closed) return;
      timer = setTimeout(recover, wait);
      wait = Math.min(wait * 2, 30000);
      return;
    }
    if (!closed) open();
  };

  open();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      es?.close();
    },
  };
}
