// The jobs list: newest first, filtered by state, paged with nextCursor,
// and kept live from job events (new jobs appear, states change in place).

import { get } from '../api.js';
import { badge, h, replace } from '../dom.js';
import * as fmt from '../format.js';
import * as live from '../live.js';

const STATES = ['QUEUED', 'ASSIGNED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'];
const PAGE = 50;

export function mount(main, { params }) {
  const want = (params.get('state') || '').toUpperCase();
  const filter = STATES.includes(want) ? want : '';
  document.title = (filter ? cap(filter) + ' jobs' : 'Jobs') + ' · drover';

  const rows = new Map(); // job id → { job, tr }
  let cursor = '';
  let buffered = null; // job events that arrived while a page loaded
  const dirty = new Set();
  let frame = 0;

  const tbody = h('tbody');
  const table = h('table', { class: 'table jobs' },
    // The "extra" columns are left out on a phone (style.css).
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, 'State'), h('th', { scope: 'col' }, 'Job'), h('th', { scope: 'col', class: 'extra' }, 'Worker'),
      h('th', { scope: 'col', class: 'extra' }, 'Requests'), h('th', { scope: 'col', class: 'extra' }, 'Created'),
      h('th', { scope: 'col', class: 'num extra' }, 'Duration'), h('th', { scope: 'col', class: 'num' }, 'Exit'))),
    tbody);
  const empty = h('div', { class: 'empty', hidden: true });
  const error = h('p', { class: 'banner error', role: 'alert', hidden: true });
  const more = h('button', { type: 'button', class: 'button', hidden: true, onclick: () => loadMore() }, 'Load more');
  const tabs = h('nav', { class: 'tabs', 'aria-label': 'Filter by state' },
    ['', ...STATES].map((s) => h('a', {
      href: s ? `#/jobs?state=${s}` : '#/jobs', 'aria-current': s === filter ? 'page' : null,
    }, s ? cap(s) : 'All')));

  main.append(h('section', { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', {}, 'Jobs'), h('a', { class: 'button primary', href: '#/submit' }, 'New job')),
    tabs, error, h('div', { class: 'table-wrap' }, table), empty, h('div', { class: 'more' }, more)));

  // A click anywhere on a row opens the job; the link in the row is what
  // keyboards and screen readers use.
  tbody.addEventListener('click', (ev) => {
    const tr = ev.target.closest('tr[data-id]');
    if (tr && !ev.target.closest('a, button') && !window.getSelection().toString()) {
      location.hash = `#/jobs/${tr.dataset.id}`;
    }
  });

  const query = (after) => {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (filter) q.set('state', filter);
    if (after) q.set('cursor', after);
    return '/jobs?' + q;
  };

  async function reload() {
    buffered = [];
    try {
      const page = await get(query(''));
      for (const { tr } of rows.values()) tr.remove();
      rows.clear();
      for (const j of page.jobs || []) add(j, false);
      cursor = page.nextCursor || '';
      error.hidden = true;
    } catch (e) {
      showError(e);
    }
    const late = buffered;
    buffered = null;
    for (const j of late) upsert(j);
    update();
  }

  async function loadMore() {
    more.disabled = true;
    try {
      const page = await get(query(cursor));
      for (const j of page.jobs || []) if (!rows.has(j.id)) add(j, false);
      cursor = page.nextCursor || '';
      error.hidden = true;
    } catch (e) {
      showError(e);
    }
    more.disabled = false;
    update();
  }

  function showError(e) {
    if (e.status === 401) return; // the token form takes over
    error.textContent = 'The jobs could not be loaded: ' + e.message;
    error.hidden = false;
  }

  // add renders a job in its place: newest first by creation time.
  function add(job, live) {
    const tr = h('tr', { dataset: { id: job.id } });
    fill(tr, job);
    rows.set(job.id, { job, tr });
    if (!live) { tbody.append(tr); return; }
    for (const other of tbody.children) {
      if (newer(job, rows.get(other.dataset.id)?.job)) { tbody.insertBefore(tr, other); return; }
    }
    tbody.append(tr);
  }

  function upsert(job) {
    const row = rows.get(job.id);
    if (filter && job.state !== filter) {
      if (row) { row.tr.remove(); rows.delete(job.id); update(); }
      return;
    }
    if (row) {
      // Final states never change; an older copy must not undo one.
      if (fmt.isFinal(row.job.state) && !fmt.isFinal(job.state)) return;
      row.job = job;
      dirty.add(job.id);
      if (!frame) frame = requestAnimationFrame(flush);
      return;
    }
    // A job older than the last row loaded belongs to a page not loaded yet.
    const lastRow = tbody.lastElementChild && rows.get(tbody.lastElementChild.dataset.id);
    if (cursor && lastRow && newer(lastRow.job, job)) return;
    add(job, true);
    update();
  }

  // flush re-renders changed rows once per frame: a busy fleet sends many
  // job events a second.
  function flush() {
    frame = 0;
    for (const id of dirty) {
      const row = rows.get(id);
      if (row) fill(row.tr, row.job);
    }
    dirty.clear();
  }

  function update() {
    more.hidden = !cursor;
    empty.hidden = rows.size > 0 || !error.hidden;
    replace(empty, filter
      ? h('p', {}, `No ${filter.toLowerCase()} jobs.`)
      : h('p', {}, 'No jobs yet. ', h('a', { href: '#/submit' }, 'Submit one'), ', or run ', h('code', {}, 'drover run -- echo hello'), '.'));
  }

  const unsubscribe = live.subscribe({
    job: (j) => (buffered ? buffered.push(j) : upsert(j)),
    workers: () => { for (const { job, tr } of rows.values()) fill(tr, job); },
    reset: () => reload(),
  });
  live.loadedWorkers().then(() => { for (const { job, tr } of rows.values()) fill(tr, job); });
  reload();

  return () => {
    unsubscribe();
    cancelAnimationFrame(frame);
  };
}

function newer(a, b) {
  if (!b) return true;
  if (a.createdAt !== b.createdAt) return a.createdAt > b.createdAt;
  return a.id > b.id;
}

function cap(s) {
  return s.charAt(0) + s.slice(1).toLowerCase();
}

function fill(tr, job) {
  // Redraw only what changed: most events and worker reloads change nothing
  // a row shows.
  const key = JSON.stringify([job.state, job.cancelRequestedAt, job.spec, job.workerId && workerOf(job),
    job.createdAt, job.startedAt, job.completedAt, job.exitCode, job.reason]);
  if (tr.key === key) return;
  tr.key = key;
  const title = fmt.jobTitle(job);
  const named = !!job.spec?.name;
  const res = job.spec?.resources || {};
  // The creation time and the duration are drawn twice: in their columns,
  // and in a line under the job's name that a phone shows instead.
  const created = () => h('time', { datetime: job.createdAt, title: fmt.timestamp(job.createdAt), dataset: { ago: job.createdAt } }, fmt.ago(job.createdAt));
  const ran = job.startedAt && job.completedAt;
  const running = job.startedAt && !fmt.isFinal(job.state);
  const dur = () => ran ? fmt.duration(fmt.elapsed(job.startedAt, job.completedAt))
    : running ? h('span', { dataset: { from: job.startedAt } }, fmt.duration(fmt.elapsed(job.startedAt))) : '—';
  // Until the job is final, an exit code or reason is a previous
  // attempt's, not how the job ended.
  const final = fmt.isFinal(job.state);
  const code = final ? job.exitCode : null;
  const exit = !final ? h('span', { class: 'muted' }, '—') : code === null || code === undefined
    ? h('span', { class: 'muted' }, job.reason && job.state !== 'COMPLETED' ? job.reason.replaceAll('_', ' ') : '—')
    : h('span', { class: code === 0 ? 'ok' : job.state === 'CANCELLED' ? 'muted' : 'bad', title: job.state === 'CANCELLED' ? 'stopped by the cancellation' : null }, String(code));
  replace(tr,
    h('td', {}, badge(job.state, job.cancelRequestedAt && !fmt.isFinal(job.state) ? 'cancelling' : '')),
    h('td', { class: 'job-cell' },
      h('a', { href: `#/jobs/${job.id}`, class: named ? 'job-name' : 'job-name mono', title }, title),
      h('span', { class: 'sub mono job-id' }, job.id),
      h('span', { class: 'sub job-meta' }, created(), ran ? [' · took ', dur()] : running ? [' · ', dur(), ' so far'] : null)),
    // A queued job waits: the worker of an attempt before (lost, say) is history.
    h('td', { class: 'extra worker-cell', title: job.workerId && job.state !== 'QUEUED' ? workerOf(job) : null },
      job.workerId && job.state !== 'QUEUED' ? workerOf(job) : h('span', { class: 'muted' }, job.state === 'QUEUED' ? 'waiting' : '—')),
    h('td', { class: 'nowrap extra' }, `${fmt.cpu(res.cpu)} · ${fmt.memory(res.memoryMB)}`),
    h('td', { class: 'nowrap extra' }, created()),
    h('td', { class: 'num nowrap extra' }, dur()),
    h('td', { class: 'num' }, exit));
}

// workerOf names a job's worker: its name now, or, once the worker is gone,
// the name it had then.
function workerOf(job) {
  const name = live.workerName(job.workerId);
  return name === job.workerId && job.workerName ? job.workerName : name;
}
