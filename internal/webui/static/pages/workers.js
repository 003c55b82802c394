// The workers: each one's state, labels, executors, heartbeat age, what it
// offers against what is reserved on it and what the machine really uses,
// the jobs it runs (by name, linking to each), and a Drain button. Live from
// worker events (every heartbeat carries fresh usage; state "LEFT" means it
// deregistered) and, for the names of the jobs, job events.

import { get, post } from '../api.js';
import { badge, bar, chips, h, replace } from '../dom.js';
import * as fmt from '../format.js';
import * as live from '../live.js';

const ORDER = { READY: 0, DRAINING: 1, DOWN: 2 };

export function mount(main) {
  document.title = 'Workers · drover';
  const cards = new Map(); // worker id → card element
  const confirming = new Set(); // ids whose Drain asks for confirmation
  const errors = new Map(); // id → drain error text
  const summary = h('p', { class: 'summary muted' });
  const grid = h('div', { class: 'worker-grid' });
  const empty = h('div', { class: 'empty', hidden: true },
    h('p', {}, 'No workers are registered. Start one on any machine that can reach this coordinator:'),
    h('pre', { class: 'cmd' }, `DROVER_JOIN_TOKEN=… drover worker --server ${location.origin}`));
  // Says that a worker whose card had the keyboard left (its card goes).
  const left = h('p', { class: 'visually-hidden', role: 'status' });
  const title = h('h1', { tabindex: '-1' }, 'Workers');
  main.append(h('section', { class: 'page' },
    h('div', { class: 'page-head' }, title), summary, left, grid, empty));

  let frame = 0;
  const dirty = new Set();
  let all = true;
  let loaded = false; // no "no workers" message before the list came

  // Workers list the ids of their jobs; the page names them. A job's title
  // never changes, so titles are kept: from one list of the jobs that run,
  // then from job events (a job is ASSIGNED before the heartbeat of its
  // worker lists it). A job missing from both is asked for alone.
  const titles = new Map(); // job id → { title, named }
  const asked = new Set(); // ids asked for alone
  let listed = null; // settles when the list of the jobs that run came (or failed)
  let keep = 256; // titles kept before those of jobs no worker runs are dropped
  let closed = false; // the page was left: nothing more is fetched or drawn

  function noteJob(j) {
    if (closed || titles.has(j.id)) return;
    titles.set(j.id, { title: fmt.jobTitle(j), named: !!j.spec?.name });
    schedule(j.workerId);
    if (titles.size > keep) forget();
  }

  function listRunning() {
    listed = (async () => {
      let cursor = '';
      do {
        const q = new URLSearchParams({ state: 'ASSIGNED,RUNNING', limit: '1000' });
        if (cursor) q.set('cursor', cursor);
        const page = await get('/jobs?' + q);
        for (const j of page.jobs || []) noteJob(j);
        cursor = closed ? '' : page.nextCursor || '';
      } while (cursor);
    })().catch(() => {});
  }

  function titleOf(id) {
    const t = titles.get(id);
    if (!t && !asked.has(id)) {
      asked.add(id);
      // A failed fetch is tried again at the next draw.
      listed.then(() => titles.has(id) || closed ? null : get(`/jobs/${encodeURIComponent(id)}`).then(noteJob)).catch(() => asked.delete(id));
    }
    return t;
  }

  // forget drops the titles of jobs no worker runs any more: a busy fleet
  // starts jobs all day. It runs when the titles doubled since the last
  // time, so its cost spreads over the jobs noted.
  function forget() {
    const shown = new Set([...live.workers.values()].flatMap((w) => w.running || []));
    for (const id of titles.keys()) if (!shown.has(id)) titles.delete(id);
    for (const id of asked) if (!shown.has(id)) asked.delete(id);
    keep = 2 * titles.size + 256;
  }

  // Heartbeats from many workers arrive all the time: changes are drawn
  // once per frame.
  const schedule = (id) => {
    if (closed) return;
    if (id) dirty.add(id); else all = true;
    if (!frame) frame = requestAnimationFrame(draw);
  };

  // removeCard takes a gone worker's card away; the keyboard, if it was
  // there, goes to the page's title, and a screen reader hears why.
  function removeCard(id, card) {
    if (!card) return;
    const name = card.querySelector('h2')?.textContent || id;
    const focused = card.contains(document.activeElement);
    card.remove();
    cards.delete(id);
    if (focused) {
      left.textContent = `${name} left.`;
      title.focus();
    }
  }

  function draw() {
    frame = 0;
    if (all) {
      for (const [id, el] of cards) if (!live.workers.has(id)) removeCard(id, el);
      for (const id of live.workers.keys()) dirty.add(id);
    }
    for (const id of dirty) {
      const w = live.workers.get(id);
      let card = cards.get(id);
      if (!w) { removeCard(id, card); continue; }
      if (!card) {
        card = h('article', { class: 'card worker', 'aria-labelledby': `w-${id}`, dataset: { id } });
        card.parts = {};
        grid.append(card);
        cards.set(id, card);
      }
      update(card, w);
    }
    dirty.clear();
    all = false;
    sort();
    drawSummary();
  }

  function sort() {
    const list = [...cards.entries()].sort(([a], [b]) => {
      const wa = live.workers.get(a), wb = live.workers.get(b);
      return (ORDER[wa.state] ?? 3) - (ORDER[wb.state] ?? 3) || wa.name.localeCompare(wb.name) || a.localeCompare(b);
    });
    let prev = null;
    for (const [, el] of list) {
      // Move only what is out of place, so focus and hover stay put.
      if ((prev ? prev.nextElementSibling : grid.firstElementChild) !== el) grid.insertBefore(el, prev ? prev.nextElementSibling : grid.firstElementChild);
      prev = el;
    }
  }

  function drawSummary() {
    const ws = [...live.workers.values()];
    empty.hidden = !loaded || ws.length > 0;
    if (!ws.length) { summary.textContent = ''; return; }
    const up = ws.filter((w) => w.state !== 'DOWN');
    const sum = (f) => up.reduce((s, w) => s + f(w), 0);
    const ready = ws.filter((w) => w.state === 'READY').length;
    summary.textContent = `${ws.length} ${ws.length === 1 ? 'worker' : 'workers'}, ${ready} ready · ` +
      `${cpuPart(sum((w) => w.allocated?.cpu || 0))} of ${fmt.cpu(sum((w) => w.capacity?.cpu || 0))} reserved · ` +
      `${fmt.memory(sum((w) => w.allocated?.memoryMB || 0))} of ${fmt.memory(sum((w) => w.capacity?.memoryMB || 0))} memory reserved · ` +
      `${sum((w) => (w.running || []).length)} running`;
  }

  // update redraws the parts of a worker's card whose content changed.
  // Every heartbeat changes the usage gauges; the header (with its
  // buttons) and the job links are replaced only when they change, so a
  // click is never lost to a node swapped under the pointer.
  function update(card, w) {
    card.classList.toggle('down', w.state === 'DOWN');
    const parts = [
      ['head', [w.name, w.state, confirming.has(w.id), errors.get(w.id)], () => head(w)],
      ['meta', [w.state, w.executors, w.version, w.labels], () => meta(w)],
      ['gauges', [w.capacity, w.allocated, w.usage], () => gauges(w)],
      ['jobs', [w.running, (w.running || []).map((id) => titles.get(id)?.title)], () => jobs(w)],
    ];
    for (const [name, keyOf, make] of parts) {
      const key = JSON.stringify(keyOf);
      if (card.parts[name]?.key === key) continue;
      const focusWas = card.parts[name]?.contains(document.activeElement) ? document.activeElement.dataset.focus || '' : null;
      const el = make();
      el.key = key;
      if (card.parts[name]) card.parts[name].replaceWith(el); else card.append(el);
      card.parts[name] = el;
      // Keep the keyboard where it was when its button was redrawn; when
      // the button is gone (drained), on the worker's name.
      if (focusWas !== null) (el.querySelector(`[data-focus="${focusWas}"]`) || el.querySelector('button') || el.querySelector('h2'))?.focus();
    }
    const time = card.parts.meta.querySelector('time');
    time.dataset.ago = time.dateTime = w.lastHeartbeatAt;
    time.title = fmt.timestamp(w.lastHeartbeatAt);
    time.textContent = fmt.ago(w.lastHeartbeatAt);
  }

  function head(w) {
    let action = null;
    if (w.state === 'READY' && confirming.has(w.id)) {
      const keep = () => { confirming.delete(w.id); schedule(w.id); };
      action = h('div', { class: 'confirm', onkeydown: (e) => { if (e.key === 'Escape') { e.preventDefault(); keep(); } } },
        h('span', {}, 'Stop new work and let it leave when idle?'),
        h('button', { type: 'button', class: 'button small danger', dataset: { focus: 'yes' }, onclick: () => drain(w) }, 'Drain'),
        h('button', { type: 'button', class: 'button small', dataset: { focus: 'no' }, onclick: keep }, 'Keep'));
    } else if (w.state === 'READY') {
      action = h('button', {
        type: 'button', class: 'button small', dataset: { focus: 'drain' }, 'aria-label': `Drain ${w.name}`,
        onclick: () => { confirming.add(w.id); schedule(w.id); requestAnimationFrame(() => cards.get(w.id)?.querySelector('[data-focus="yes"]')?.focus()); },
      }, 'Drain');
    }
    return h('div', {},
      h('header', { class: 'worker-head' }, h('h2', { id: `w-${w.id}`, tabindex: '-1', dataset: { focus: 'name' } }, w.name), badge(w.state), h('div', { class: 'spacer' }), action),
      errors.get(w.id) ? h('p', { class: 'banner error', role: 'alert' }, errors.get(w.id)) : null);
  }

  function meta(w) {
    const down = w.state === 'DOWN';
    return h('dl', { class: 'worker-meta' },
      h('div', {}, h('dt', {}, down ? 'Last heard' : 'Heartbeat'), h('dd', { class: down ? 'bad' : '' }, h('time'))),
      h('div', {}, h('dt', {}, 'Executors'), h('dd', {}, (w.executors || []).join(', ') || '—')),
      h('div', {}, h('dt', {}, 'Version'), h('dd', {}, w.version || '—')),
      h('div', {}, h('dt', {}, 'ID'), h('dd', { class: 'mono' }, w.id)),
      Object.keys(w.labels || {}).length ? h('div', { class: 'wide' }, h('dt', {}, 'Labels'), h('dd', {}, chips(w.labels))) : null);
  }

  function gauges(w) {
    const cap = w.capacity || {};
    const alloc = w.allocated || {};
    const use = w.usage || {};
    // A DOWN worker's figures are what it last reported, not its state now.
    const inUse = w.state === 'DOWN' ? 'Last reported' : 'In use';
    return h('div', { class: 'gauges' },
      h('div', { class: 'gauge-group' }, h('h3', {}, 'CPU'),
        bar('Reserved', alloc.cpu || 0, cap.cpu || 0, `${cpuPart(alloc.cpu || 0)} of ${fmt.cpu(cap.cpu || 0)}`),
        bar(inUse, use.cpuPercent || 0, 100, `${(use.cpuPercent || 0).toFixed(0)}% of the machine` + (use.load1 ? ` · load ${use.load1.toFixed(2)}` : ''), 'use')),
      h('div', { class: 'gauge-group' }, h('h3', {}, 'Memory'),
        bar('Reserved', alloc.memoryMB || 0, cap.memoryMB || 0, `${alloc.memoryMB ? fmt.memory(alloc.memoryMB) : '0'} of ${fmt.memory(cap.memoryMB || 0)}`),
        bar(inUse, use.memoryUsedMB || 0, use.memoryTotalMB || 0, use.memoryTotalMB ? `${fmt.memory(use.memoryUsedMB)} of ${fmt.memory(use.memoryTotalMB)}` : 'not reported', 'use')),
      h('div', { class: 'gauge-group' }, h('h3', {}, 'Slots'),
        bar('Jobs', alloc.slots || 0, cap.slots || 0, `${alloc.slots || 0} of ${cap.slots || 0}`)));
  }

  function jobs(w) {
    const running = w.running || [];
    return h('div', { class: 'worker-jobs' },
      h('h3', {}, running.length ? `Running ${running.length} ${running.length === 1 ? 'job' : 'jobs'}` : 'Running no jobs'),
      running.length ? h('ul', { class: 'job-links' }, running.map((id) => {
        const t = titleOf(id);
        return h('li', {},
          h('a', { class: t?.named ? 'job-name' : 'job-name mono', href: `#/jobs/${id}`, title: t?.title, dataset: { focus: 'job-' + id } }, t ? t.title : id),
          t ? h('span', { class: 'sub mono' }, id) : null);
      })) : null);
  }

  async function drain(w) {
    confirming.delete(w.id);
    errors.delete(w.id);
    try {
      const nw = await post(`/workers/${encodeURIComponent(w.id)}/drain`);
      if (nw && live.workers.has(w.id)) live.workers.set(w.id, nw);
    } catch (e) {
      errors.set(w.id, 'Drain failed: ' + e.message);
    }
    schedule(w.id);
  }

  const unsubscribe = live.subscribe({
    worker: (w) => schedule(w.id),
    workers: () => schedule(),
    job: (j) => { if (j.state === 'ASSIGNED' || j.state === 'RUNNING') noteJob(j); },
    reset: () => listRunning(),
  });
  listRunning();
  live.loadedWorkers().then(() => { loaded = true; schedule(); });
  schedule();
  return () => {
    closed = true;
    unsubscribe();
    cancelAnimationFrame(frame);
  };
}

// cpuPart renders the first half of "1.5 of 4 cores": the unit is said once.
function cpuPart(m) {
  return m > 0 && m < 1000 ? `${m}m` : String(+(m / 1000).toFixed(3));
}
