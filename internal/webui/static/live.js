// live.js holds the one GET /api/v1/events connection every page shares,
// and the list of workers (pages need their names and labels), kept current
// from worker events.

import { get, stream } from './api.js';

const subscribers = new Set();
const statusListeners = new Set();
let conn = null;
let status = 'connecting';

// workers maps worker id to the latest worker object.
export const workers = new Map();
let workersLoaded = null;

// start opens the event stream; calling it again does nothing.
export function start() {
  if (conn) return;
  conn = stream('/events', {
    hello: () => {},
    job: (ev) => ev.job && emit('job', ev.job),
    worker: (ev) => {
      if (!ev.worker) return;
      buffered?.push(ev.worker);
      applyWorker(ev.worker);
      emit('worker', ev.worker);
    },
    // The coordinator restarted or this client fell too far behind: what
    // was missed is gone, so every list reloads from the API.
    reset: () => { reloadWorkers(); emit('reset'); },
  }, setStatus);
  reloadWorkers();
}

// stop closes the stream (the token was refused).
export function stop() {
  conn?.close();
  conn = null;
  workers.clear();
  workersLoaded = null;
  setStatus('connecting');
}

function setStatus(s) {
  status = s;
  for (const fn of statusListeners) fn(s);
}

// onStatus calls fn with the connection status now and on every change;
// it returns the function that stops it.
export function onStatus(fn) {
  statusListeners.add(fn);
  fn(status);
  return () => statusListeners.delete(fn);
}

// subscribe calls handlers.job(job), handlers.worker(worker) and
// handlers.reset() as events arrive; it returns the unsubscribe function.
// Job objects from events carry no attempts.
export function subscribe(handlers) {
  subscribers.add(handlers);
  return () => subscribers.delete(handlers);
}

function emit(kind, value) {
  for (const s of subscribers) s[kind]?.(value);
}

// buffered collects worker events while the list loads: the list may be
// older than they are, so they are applied again on top of it.
let buffered = null;

function applyWorker(w) {
  if (w.state === 'LEFT') workers.delete(w.id);
  else workers.set(w.id, w);
}

function reloadWorkers() {
  buffered = [];
  workersLoaded = get('/workers').then((r) => {
    workers.clear();
    for (const w of r.workers || []) workers.set(w.id, w);
    for (const w of buffered || []) applyWorker(w);
    return workers;
  }).catch(() => workers).finally(() => {
    buffered = null;
    emit('workers');
  });
  return workersLoaded;
}

// loadedWorkers resolves once the first worker list arrived.
export function loadedWorkers() {
  return workersLoaded || reloadWorkers();
}

// workerName is a worker's name, or its id when it is unknown (gone).
export function workerName(id) {
  return workers.get(id)?.name || id;
}
