// One job: where it is and why, its live output in a terminal view, every
// attempt with the time spent in each phase, and a Cancel button.
//
// Two streams keep it live: the job's output follow stream (output, state
// and the final end event) and the shared event stream, whose job events
// (which carry no attempts) trigger a fresh GET of the job.

import { get, post, stream, url } from '../api.js';
import { badge, chips, h, replace } from '../dom.js';
import * as fmt from '../format.js';
import * as live from '../live.js';
import { Terminal } from '../terminal.js';

export function mount(main, { args: [id] }) {
  document.title = `${id} · drover`;
  let job = null;
  let gone = false;
  let cancelError = '';

  const head = h('div');
  const status = h('div', { role: 'status' });
  const facts = h('div');
  const attempts = h('div');
  const termInfo = h('span', { class: 'muted' });
  const followBtn = h('button', {
    type: 'button', class: 'button small toggle', 'aria-pressed': 'true',
    onclick: () => term.setFollow(!term.follow),
  }, 'Follow');
  const term = new Terminal({
    downloadURL: url(`/jobs/${encodeURIComponent(id)}/output`),
    downloadName: `${id}.log`,
    onChange: (t) => {
      followBtn.setAttribute('aria-pressed', String(t.follow));
      termInfo.textContent = t.total ? `${t.total.toLocaleString()} ${t.total === 1 ? 'line' : 'lines'} · ${fmt.bytes(t.bytes)}` : '';
    },
  });
  const download = h('a', { class: 'button small', href: url(`/jobs/${encodeURIComponent(id)}/output`), download: `${id}.log` }, 'Download');
  // Says so when the coordinator dropped the middle of the output (the
  // job's outputDropped).
  const dropNote = h('div', { class: 'drop-note' });

  const details = h('div');
  main.append(h('section', { class: 'page job-page' },
    h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/jobs' }, 'Jobs'), h('span', { 'aria-hidden': 'true' }, ' / '), h('span', { class: 'mono' }, id)),
    head, status, facts,
    h('section', { class: 'output', 'aria-labelledby': 'output-title' },
      h('div', { class: 'section-head' }, h('h2', { id: 'output-title' }, 'Output'), termInfo,
        h('div', { class: 'spacer' }), followBtn, download),
      dropNote, term.el),
    h('section', { 'aria-labelledby': 'attempts-title' }, h('h2', { id: 'attempts-title', class: 'section-title' }, 'Attempts'), attempts),
    h('section', { 'aria-labelledby': 'details-title' }, h('h2', { id: 'details-title', class: 'section-title' }, 'Details'), details)));

  // refresh fetches the job, one request at a time: changes that arrive
  // while one is in flight are folded into a single follow-up.
  let inflight = false;
  let again = false;
  async function refresh() {
    if (inflight) { again = true; return; }
    inflight = true;
    try {
      job = await get(`/jobs/${encodeURIComponent(id)}`);
      render();
    } catch (e) {
      if (e.status === 404) { gone = true; notFound(); }
    }
    inflight = false;
    if (again && !gone) { again = false; refresh(); }
  }

  function notFound() {
    follow.close();
    replace(main, h('section', { class: 'page' },
      h('h1', {}, 'No such job'),
      h('p', {}, 'There is no job ', h('code', {}, id), ' on this coordinator. It may have been removed after its retention. ',
        h('a', { href: '#/jobs' }, 'See all jobs'), '.')));
  }

  // Output comes as text, or in base64 where its bytes are not valid UTF-8
  // (binary, or a character cut between two chunks): a streaming decoder
  // per attempt and stream puts cut characters back together.
  const decoders = new Map();
  const encoder = new TextEncoder();
  // While output flows the job's counts (outputBytes, outputDropped) move
  // without a job event: they are fetched again every few seconds.
  let countsTimer = 0;
  function output(d) {
    if (!countsTimer && job && !fmt.isFinal(job.state)) countsTimer = setTimeout(() => { countsTimer = 0; refresh(); }, 3000);
    if (d.marker) {
      // drover's line where output was dropped (the flag, never the
      // words: a job may print anything). Bytes on either side of the gap
      // do not make characters together.
      decoders.delete(`${d.attempt}/stdout`);
      decoders.delete(`${d.attempt}/stderr`);
      const words = d.data.match(DROPPED);
      term.markDropped(d.attempt, words ? dropLine(words[1]) : d.data.trim(), encoder.encode(d.data).length);
      refresh(); // the job's outputDropped has grown
      return;
    }
    const key = `${d.attempt}/${d.stream}`;
    let dec = decoders.get(key);
    if (!dec) { dec = new TextDecoder('utf-8'); decoders.set(key, dec); }
    const bytes = d.base64 ? Uint8Array.from(atob(d.base64), (c) => c.charCodeAt(0)) : encoder.encode(d.data);
    term.write(d.stream, d.attempt, dec.decode(bytes, { stream: true }), bytes.length);
  }

  const follow = stream(`/jobs/${encodeURIComponent(id)}/output?follow=1`, {
    output,
    state: (s) => {
      if (job) {
        Object.assign(job, { state: s.state, pendingReason: s.pendingReason || '', workerId: s.workerId || job.workerId });
        if (s.cancelling && !job.cancelRequestedAt) job.cancelRequestedAt = new Date().toISOString();
        render();
      }
      refresh();
    },
    end: (e) => {
      // The stream closes after "end"; closing first stops a reconnect.
      follow.close();
      if (job) { Object.assign(job, { state: e.state, exitCode: e.exitCode ?? null, reason: e.reason || '', message: e.message || '' }); render(); }
      term.setEmptyText('This job wrote no output.');
      refresh();
    },
  });

  const unsubscribe = live.subscribe({
    job: (j) => { if (j.id === id) refresh(); },
    reset: () => refresh(),
    workers: () => render(),
  });
  refresh();

  let shown = '';
  function render() {
    if (!job || gone) return;
    // Most refreshes change nothing on screen; redrawing anyway would swap
    // the Cancel button under a pointer about to click it.
    const key = JSON.stringify([job, cancelError, (job.attempts || []).map((a) => live.workerName(a.workerId))]);
    if (key === shown) return;
    shown = key;
    const spec = job.spec || {};
    const final = fmt.isFinal(job.state);
    const cancelling = job.cancelRequestedAt && !final;
    document.title = `${fmt.jobTitle(job)} · drover`;

    // What is redrawn loses the keyboard's focus: it goes back to the same
    // control when there is one (data-focus), else to the job's title.
    const regions = [head, status, facts, details, attempts];
    const focused = document.activeElement;
    const focusWas = regions.some((el) => el.contains(focused)) ? focused.dataset.focus || '' : null;

    const cancel = !final && h('button', {
      type: 'button', class: 'button danger', disabled: !!cancelling, onclick: doCancel, dataset: { focus: 'cancel' },
    }, cancelling ? 'Cancelling…' : 'Cancel');
    replace(head,
      h('div', { class: 'page-head' },
        h('h1', { class: spec.name ? '' : 'mono', title: fmt.jobTitle(job), tabindex: '-1' }, fmt.jobTitle(job)),
        badge(job.state, cancelling ? 'cancelling' : ''),
        h('div', { class: 'spacer' }), cancel),
      cancelError && h('p', { class: 'banner error', role: 'alert' }, cancelError),
      h('pre', { class: 'cmd', 'aria-label': 'Command' }, h('span', { class: 'prompt', 'aria-hidden': 'true' }, '$ '), fmt.command(spec.command)));

    replace(status, statusBanners(job));
    replace(facts, keyFacts(job));
    replace(details, moreFacts(job));
    replace(dropNote, dropNotes(job));
    replace(attempts, attemptTable(job));
    if (final && !term.total) term.setEmptyText('This job wrote no output.');
    if (focusWas !== null && !regions.some((el) => el.contains(document.activeElement))) {
      const again = focusWas && regions.map((el) => el.querySelector(`[data-focus="${focusWas}"]`)).find(Boolean);
      (again && !again.disabled ? again : head.querySelector('h1')).focus();
    }
  }

  async function doCancel() {
    cancelError = '';
    try {
      job = await post(`/jobs/${encodeURIComponent(id)}/cancel`);
    } catch (e) {
      // Cancelled meanwhile from elsewhere: what was asked is done.
      if (e.code === 'conflict' && /already CANCELLED/.test(e.message)) refresh();
      else cancelError = 'Cancel failed: ' + e.message;
    }
    render();
  }

  return () => {
    clearTimeout(countsTimer);
    follow.close();
    unsubscribe();
    term.destroy();
  };
}

// statusBanners says where the job is when that needs words: why it waits,
// when a retry starts, why it failed, that the process executor does not
// isolate.
function statusBanners(job) {
  const spec = job.spec || {};
  const out = [];
  if (job.state === 'QUEUED') {
    if (job.notBefore && Date.parse(job.notBefore) > Date.now()) {
      out.push(h('p', { class: 'banner info' }, h('strong', {}, 'Retrying. '), `The next attempt starts after its backoff, at ${fmt.timestamp(job.notBefore)}.`));
    } else if (job.pendingReason) {
      out.push(h('p', { class: 'banner info' }, h('strong', {}, 'Pending: '), job.pendingReason));
    } else {
      out.push(h('p', { class: 'banner info' }, 'Queued: waiting for the scheduler to place it.'));
    }
  }
  if (job.cancelRequestedAt && !fmt.isFinal(job.state)) {
    out.push(h('p', { class: 'banner warn' }, 'Cancelling: the worker is stopping the process (SIGTERM, then SIGKILL after the grace period).'));
  }
  // A message that only repeats the reason ("cancelled") is not said twice.
  const why = job.reason ? job.reason.replaceAll('_', ' ') : 'failed';
  const said = job.message && job.message.toLowerCase() !== why.toLowerCase() ? job.message : '';
  if (job.state === 'FAILED' || (job.state === 'CANCELLED' && said)) {
    out.push(h('p', { class: job.state === 'FAILED' ? 'banner error' : 'banner warn' },
      h('strong', {}, cap(why) + (said ? ': ' : '.')), said));
  }
  const process = spec.executor === 'process' || (!spec.executor && !spec.image);
  if (process) {
    out.push(h('p', { class: 'banner note' },
      h('strong', {}, 'Not isolated: '),
      'a plain process on the worker, with the worker\'s user and file system; its CPU and memory requests are not enforced. ' +
      'Use the docker executor for untrusted code.'));
  }
  return out;
}

// keyFacts answer "how did it go" above the output.
function keyFacts(job) {
  const res = job.spec?.resources || {};
  const [rows, add] = factRows();
  // Until the job is final, an exit code or reason is a previous attempt's
  // (it is in the attempts table), not how the job ended.
  add('Exit code', !fmt.isFinal(job.state) ? '—' : job.exitCode === null || job.exitCode === undefined
    ? (job.reason ? h('span', { class: 'muted' }, job.reason.replaceAll('_', ' ')) : '—')
    : h('span', { class: job.exitCode === 0 ? 'ok' : job.state === 'CANCELLED' ? '' : 'bad' }, String(job.exitCode)));
  const onWorker = (job.attempts || []).findLast((a) => a.workerId === job.workerId);
  add('Worker', job.workerId ? h('a', { href: '#/workers', dataset: { focus: 'worker' } }, onWorker ? attemptWorker(onWorker) : live.workerName(job.workerId)) : '—');
  add('Duration', job.startedAt
    ? (job.completedAt ? fmt.duration(fmt.elapsed(job.startedAt, job.completedAt)) : h('span', { dataset: { from: job.startedAt } }, fmt.duration(fmt.elapsed(job.startedAt))))
    : '—');
  add('Started', when(job.startedAt));
  add('Finished', when(job.completedAt));
  add('Requests', `${fmt.cpu(res.cpu)} · ${fmt.memory(res.memoryMB)}`);
  return h('dl', { class: 'facts' }, rows);
}

// DROPPED takes the words out of drover's line where output was dropped
// (an output event with marker set: the coordinator's marker of the middle
// of an output past its cap, or its notice to a reader that was past the
// marker when more of the middle went).
const DROPPED = /^\n\[drover: ([^\n]*)\]\n$/;

// dropLine says a dropped-output line for people: "1.2 MiB of output
// dropped here; …" rather than a count of bytes.
function dropLine(text) {
  return text.replace(/^(\d+) bytes\b/, (_, n) => fmt.bytes(Number(n)));
}

// dropNotes say next to the output that the middle of it is missing.
function dropNotes(job) {
  if (!(job.outputDropped > 0)) return [];
  return [h('p', { class: 'banner warn' }, h('strong', {}, 'The middle of this output was dropped. '),
    `The job wrote ${fmt.bytes(job.outputBytes || 0)}, more than the coordinator keeps of one job's output: ` +
    `it keeps the first and last parts and dropped ${fmt.bytes(job.outputDropped)} between them, where a line in its output says so. ` +
    'The download, and this page opened again, hold what it kept; a page that watched the job live may show more.')];
}

// moreFacts is the rest of the spec and bookkeeping, below the output.
function moreFacts(job) {
  const spec = job.spec || {};
  const [rows, add] = factRows();
  add('Executor', spec.image ? `${spec.executor || 'docker'} · ${spec.image}` : spec.executor || 'any (process)');
  add('Timeout', spec.timeout && spec.timeout !== '0s' ? fmt.goDuration(spec.timeout) : 'none');
  add('Retries', `${job.jobRetries || 0} of ${spec.maxRetries || 0}` + (job.fleetRetries ? ` · ${job.fleetRetries} after fleet failures` : ''));
  add('Created', when(job.createdAt));
  // All the job wrote; past the output cap the page holds less (the head,
  // the tail and a line saying what was dropped between).
  add('Output written', fmt.bytes(job.outputBytes || 0), job.outputDropped > 0 ? h('span', { class: 'muted' }, ` · ${fmt.bytes(job.outputDropped)} of the middle dropped`) : null);
  if (spec.constraints && Object.keys(spec.constraints).length) add('Constraints', chips(spec.constraints));
  if (spec.env && Object.keys(spec.env).length) add('Environment', h('span', { class: 'mono' }, Object.keys(spec.env).sort().join(' ')));
  if (spec.bundle) add('Bundle', h('span', { class: 'mono', title: spec.bundle }, spec.bundle.slice(0, 12)));
  if (spec.priority) add('Priority', String(spec.priority));
  add('Job ID', h('span', { class: 'mono' }, job.id));
  return h('dl', { class: 'facts' }, rows);
}

function factRows() {
  const rows = [];
  const add = (term, ...value) => rows.push(h('div', { class: 'fact' }, h('dt', {}, term), h('dd', {}, ...value)));
  return [rows, add];
}

function when(iso) {
  if (!iso) return '—';
  return h('time', { datetime: iso, title: new Date(iso).toString() }, fmt.timestamp(iso));
}

const PHASES = [
  ['queued', 'queued'],
  ['bundleFetch', 'bundle fetch'],
  ['imagePull', 'image pull'],
  ['running', 'running'],
];

// attemptTable lists the attempts, newest first. The times and the usage
// are each one column of labelled lines, so that the table fits a laptop's
// width even with a day in every timestamp.
function attemptTable(job) {
  const list = job.attempts || [];
  if (!list.length) return h('p', { class: 'muted' }, 'No attempt yet: the job has not been placed on a worker.');
  return h('div', { class: 'table-wrap' }, h('table', { class: 'table attempts' },
    h('thead', {}, h('tr', {},
      ['#', 'Worker', 'State', 'Exit', 'Reason', 'Where the time went', 'When', 'Usage']
        .map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, [...list].reverse().map((a) => {
      const ms = Object.fromEntries(PHASES.map(([k]) => [k, fmt.parseGoDuration(a.phases?.[k]) || 0]));
      // The running phase is reported at the end; while running, it is the
      // time since start.
      const runningNow = a.state === 'RUNNING' && a.startedAt && !ms.running;
      if (runningNow) ms.running = fmt.elapsed(a.startedAt);
      return h('tr', {},
        h('td', {}, String(a.n)),
        h('td', { class: 'worker-cell', title: a.workerId ? attemptWorker(a) : null }, a.workerId ? attemptWorker(a) : '—'),
        h('td', {}, badge(a.state)),
        h('td', { class: 'num' }, a.exitCode === null || a.exitCode === undefined ? '—' : String(a.exitCode)),
        h('td', {}, a.reason ? a.reason.replaceAll('_', ' ') : '—', a.message ? h('div', { class: 'sub' }, a.message) : null),
        h('td', { class: 'phases-cell' }, phaseBar(ms), h('div', { class: 'phase-text' },
          PHASES.filter(([k]) => k === 'queued' || k === 'running' || ms[k] > 0).map(([k, label], i) => [
            i ? ' · ' : '', h('span', { class: 'phase' }, h('span', { class: `ph ph-${k}` }, `${label} `),
              k === 'running' && runningNow ? h('span', { dataset: { from: a.startedAt } }, fmt.duration(ms.running)) : fmt.duration(ms[k])),
          ]))),
        h('td', {}, lines([['assigned', when(a.assignedAt)], ['started', when(a.startedAt)], ['finished', when(a.finishedAt)]])),
        h('td', {}, lines([
          ['peak memory', a.usage?.peakMemoryBytes ? fmt.bytes(a.usage.peakMemoryBytes) : '—'],
          ['CPU time', a.usage?.cpuSeconds ? fmt.duration(a.usage.cpuSeconds * 1000) : '—'],
        ])));
    }))));
}

// lines renders [label, value] pairs as a cell's lines, labels first.
function lines(pairs) {
  return h('dl', { class: 'lines' }, pairs.map(([label, value]) => [h('dt', {}, label), h('dd', {}, value)]));
}

function phaseBar(ms) {
  const total = PHASES.reduce((s, [k]) => s + ms[k], 0);
  if (!total) return null;
  return h('div', { class: 'phase-bar', 'aria-hidden': 'true' },
    PHASES.filter(([k]) => ms[k] > 0).map(([k, label]) => h('span', {
      class: `ph-${k}`, title: `${label} ${fmt.duration(ms[k])}`, style: { flexGrow: String(ms[k] / total) },
    })));
}

function cap(s) {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

// attemptWorker names an attempt's worker: its name now, or, once the
// worker is gone, the name it had then.
function attemptWorker(a) {
  const name = live.workerName(a.workerId);
  return name === a.workerId && a.workerName ? a.workerName : name;
}
