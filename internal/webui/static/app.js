// app.js starts the UI: it learns from GET /api/v1/info whether an API
// token is needed, asks for one if so, opens the shared event stream and
// routes on the URL hash (#/jobs, #/jobs/<id>, #/workers, #/submit), so the
// server only serves index.html and these files.

import { get, onUnauthorized, token } from './api.js';
import { h, replace } from './dom.js';
import { ago, duration } from './format.js';
import * as live from './live.js';
import * as jobPage from './pages/job.js';
import * as jobsPage from './pages/jobs.js';
import * as submitPage from './pages/submit.js';
import * as tokenPage from './pages/token.js';
import * as workersPage from './pages/workers.js';

const main = document.getElementById('main');
const routes = [
  { re: /^\/jobs\/([^/]+)$/, nav: 'jobs', page: jobPage },
  { re: /^\/jobs$/, nav: 'jobs', page: jobsPage },
  { re: /^\/workers$/, nav: 'workers', page: workersPage },
  { re: /^\/submit$/, nav: 'submit', page: submitPage },
];

let info = null;
let unmount = null;
let tokenMessage = '';

function needToken() {
  return info?.authRequired && !token.get();
}

function route(moveFocus) {
  unmount?.();
  unmount = null;
  replace(main);
  const signout = document.getElementById('signout');
  signout.hidden = !(info?.authRequired && token.get());
  document.getElementById('live').hidden = needToken();
  if (needToken()) {
    setNav('');
    document.title = 'API token · drover';
    unmount = tokenPage.mount(main, { message: tokenMessage, onToken: signedIn });
    return;
  }
  const raw = location.hash.replace(/^#/, '') || '/jobs';
  const [path, query] = raw.split('?');
  for (const r of routes) {
    const m = path.match(r.re);
    if (!m) continue;
    setNav(r.nav);
    unmount = r.page.mount(main, { args: m.slice(1).map(decodeURIComponent), params: new URLSearchParams(query || '') });
    if (moveFocus) main.focus({ preventScroll: false });
    return;
  }
  setNav('');
  document.title = 'Not found · drover';
  main.append(h('section', { class: 'page' },
    h('h1', {}, 'Nothing here'),
    h('p', {}, 'This address is not a page of drover. ', h('a', { href: '#/jobs' }, 'Go to the jobs'), '.')));
}

function setNav(name) {
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function signedIn() {
  tokenMessage = '';
  live.start();
  route(true);
}

// A 401 anywhere means the token is missing, wrong or revoked: forget it
// and ask again, saying so plainly.
onUnauthorized(() => {
  const had = token.get() !== '';
  token.clear();
  live.stop();
  if (!info) info = { authRequired: true };
  info.authRequired = true;
  tokenMessage = had
    ? 'The API token was refused: it is invalid or no longer accepted. Enter a valid token.'
    : '';
  route(true);
});

// tick refreshes relative times ("12s ago") and running durations once a
// second. It reads the page, not the server.
function tick() {
  const now = Date.now();
  for (const el of main.querySelectorAll('[data-ago]')) el.textContent = ago(el.dataset.ago, now);
  for (const el of main.querySelectorAll('[data-from]')) el.textContent = duration(now - Date.parse(el.dataset.from));
}

function showStatus(s) {
  const el = document.getElementById('live');
  const text = { live: 'Live', connecting: 'Connecting…', reconnecting: 'Reconnecting…', down: 'Offline, retrying…' }[s] || s;
  el.className = 'live ' + s;
  el.title = s === 'live' ? 'Updates arrive as they happen' : 'The event stream is not connected; updates resume when it is';
  replace(el, h('span', { class: 'dot', 'aria-hidden': 'true' }), h('span', { class: 'live-text' }, text));
}

async function boot() {
  document.getElementById('signout').addEventListener('click', () => {
    token.clear();
    live.stop();
    tokenMessage = 'The token is forgotten in this tab.';
    route(true);
  });
  try {
    info = await get('/info', { auth: false });
  } catch (e) {
    replace(main, h('section', { class: 'page' },
      h('h1', {}, 'drover is not reachable'),
      h('p', { class: 'banner error' }, e.message),
      h('button', { type: 'button', class: 'button', onclick: () => location.reload() }, 'Try again')));
    return;
  }
  document.getElementById('version').textContent = 'drover ' + info.version;
  live.onStatus(showStatus);
  // Only "#/…" is a route; the skip link moves focus without navigating.
  window.addEventListener('hashchange', () => { if (location.hash === '' || location.hash.startsWith('#/')) route(true); });
  document.querySelector('.skip').addEventListener('click', (ev) => { ev.preventDefault(); main.focus(); });
  setInterval(tick, 1000);
  if (!needToken()) live.start();
  route(false);
}

boot();
