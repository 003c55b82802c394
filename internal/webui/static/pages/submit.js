// The submit form: a command, optional files (a .zip uploaded as is, or
// files and folders the browser zips), resources, limits and placement.
// Files go up first (POST /bundles), then the spec names the bundle by its
// sha256 (POST /jobs). The API's errors name the offending field; the
// message is shown next to it.

import { post } from '../api.js';
import { h, replace } from '../dom.js';
import * as fmt from '../format.js';
import * as live from '../live.js';
import { zip } from '../zip.js';

const LOCAL_LABEL = 'drover.local';

// fieldOf maps the API's error.field to the form field that shows it.
const fieldOf = {
  command: 'command', name: 'name', image: 'image', executor: 'executor', bundle: 'files',
  'resources.cpu': 'cpu', 'resources.memoryMB': 'memory', resources: 'resources',
  timeout: 'timeout', maxRetries: 'retries', retryOn: 'retries', env: 'env', constraints: 'constraints',
};

export function mount(main) {
  document.title = 'Submit a job · drover';
  const fields = {};
  let files = []; // [{path, file}]
  let uploaded = null; // {key, sha256}: the bundle of the current files, once uploaded
  let lastTry = null; // {body, key, failed}: for a safe retry after a network failure

  // field builds a labelled input with its help and error text, wired
  // with aria-describedby so both are read with the input.
  const field = (name, label, input, help, cls = '') => {
    input.id = 'f-' + name;
    input.name = name;
    const helpEl = help ? h('p', { class: 'help', id: `f-${name}-help` }, help) : null;
    const error = h('p', { class: 'field-error', id: `f-${name}-error` });
    input.setAttribute('aria-describedby', [helpEl && helpEl.id, error.id].filter(Boolean).join(' '));
    fields[name] = { input, error };
    return h('div', { class: 'field ' + cls }, h('label', { for: input.id }, label), input, helpEl, error);
  };

  const text = (attrs = {}) => h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', ...attrs });
  const area = (attrs = {}) => h('textarea', { rows: '3', spellcheck: 'false', ...attrs });

  const formError = h('div', { class: 'banner error', role: 'alert', hidden: true, tabindex: '-1' });
  const submitBtn = h('button', { type: 'submit', class: 'button primary' }, 'Submit job');
  const progress = h('span', { class: 'muted', role: 'status' });

  // The file picker is a real input (keyboard and screen readers reach it
  // through its label); the drop zone around it also takes drops.
  const fileInput = h('input', { type: 'file', multiple: true, class: 'visually-hidden', id: 'f-files', name: 'files', 'aria-describedby': 'f-files-help f-files-error' });
  const fileList = h('div', { class: 'file-list' });
  const filesError = h('p', { class: 'field-error', id: 'f-files-error' });
  fields.files = { input: fileInput, error: filesError };
  const drop = h('div', { class: 'drop' },
    h('p', {}, h('strong', {}, 'Drop a .zip, files or a folder here'), ' or ',
      h('label', { for: 'f-files', class: 'button small' }, 'Choose files…')),
    fileInput, fileList);
  const filesField = h('div', { class: 'field' },
    h('span', { class: 'label' }, 'Files ', h('span', { class: 'muted' }, '(optional)')), drop,
    h('p', { class: 'help', id: 'f-files-help' },
      'They become the job\'s working directory. One .zip is uploaded as is; anything else is zipped in the browser. A dropped folder\'s contents are placed at the top.'),
    filesError);

  const modeBox = h('div');
  const resourcesError = h('p', { class: 'field-error', id: 'f-resources-error' });
  fields.resources = { input: null, error: resourcesError };
  const executor = h('select', {},
    h('option', { value: '' }, 'Any (the worker\'s default)'),
    h('option', { value: 'process' }, 'process'),
    h('option', { value: 'docker' }, 'docker'));

  const form = h('form', { class: 'card submit-form', novalidate: true },
    formError,
    modeBox,
    h('div', { class: 'row' },
      field('command', 'Command', area({ class: 'mono', rows: '2', placeholder: 'sh run.sh', autocomplete: 'off',
        // Several lines run as a script; Ctrl+Enter (⌘+Enter) submits.
        onkeydown: (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); } } }),
        'A shell command, run with sh -c in the working directory; several lines run as a script (Ctrl+Enter submits). With an image it may be left out: the image\'s own command runs.', 'wide'),
      field('name', h('span', {}, 'Name ', h('span', { class: 'muted' }, '(optional)')), text({ placeholder: 'nightly-report' }))),
    filesField,
    h('div', { class: 'row four' },
      field('cpu', 'CPU', text({ inputmode: 'decimal', placeholder: '0.1' }), 'Cores (1.5) or millicores (500m).'),
      field('memory', 'Memory', text({ placeholder: '128M' }), 'Like 512M or 2G.'),
      field('timeout', 'Timeout', text({ placeholder: 'none' }), 'Running time: 90s, 5m, 1h30m.'),
      field('retries', 'Retries', h('input', { type: 'number', min: '0', max: '100', step: '1', placeholder: '0' }), 'After the job itself fails.'),
      resourcesError),
    h('div', { class: 'row' },
      field('executor', 'Executor', executor, 'process runs without isolation; docker needs an image.'),
      field('image', 'Image', text({ class: 'mono', placeholder: 'debian:bookworm-slim' }), 'For the docker executor.')),
    h('div', { class: 'row' },
      field('env', 'Environment', area({ class: 'mono', placeholder: 'KEY=value\nOTHER=value' }), 'One KEY=value a line.'),
      field('constraints', 'Constraints', area({ class: 'mono', placeholder: 'zone=a' }), 'Worker labels required, one key=value a line.')),
    h('div', { class: 'actions' }, submitBtn, progress));

  main.append(h('section', { class: 'page' },
    h('div', { class: 'page-head' }, h('h1', {}, 'Submit a job')), form));

  // The resources error belongs to both inputs.
  for (const n of ['cpu', 'memory']) {
    const i = fields[n].input;
    i.setAttribute('aria-describedby', `${i.getAttribute('aria-describedby')} f-resources-error`.trim());
  }

  // Mode: offered only when a worker runs inside the coordinator (drover dev).
  let mode = 'distributed';
  function renderMode() {
    // A draining or down local worker takes nothing: not offered.
    const local = [...live.workers.values()].some((w) => w.labels?.[LOCAL_LABEL] === 'true' && w.state === 'READY');
    if (!local) { mode = 'distributed'; replace(modeBox); return; }
    const radio = (value, label, help) => h('label', { class: 'choice' },
      h('input', { type: 'radio', name: 'mode', value, checked: mode === value, onchange: () => { mode = value; } }),
      h('span', {}, h('strong', {}, label), h('span', { class: 'help' }, help)));
    replace(modeBox, h('fieldset', { class: 'field mode' },
      h('legend', {}, 'Where it runs'),
      h('div', { class: 'choices' },
        radio('distributed', 'Distributed', 'On any worker with room for it.'),
        radio('local', 'Local', 'On this machine, by the worker inside drover dev.'))));
  }
  const unsubscribe = live.subscribe({ workers: renderMode, worker: renderMode });
  live.loadedWorkers().then(renderMode);
  renderMode();

  // Files: from the picker or a drop (folders included).
  fileInput.addEventListener('change', () => {
    setFiles([...fileInput.files].map((f) => ({ path: f.webkitRelativePath || f.name, file: f })));
  });
  drop.addEventListener('dragover', (ev) => { ev.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', (ev) => { if (!drop.contains(ev.relatedTarget)) drop.classList.remove('over'); });
  drop.addEventListener('drop', async (ev) => {
    ev.preventDefault();
    drop.classList.remove('over');
    try {
      setFiles(await droppedFiles(ev.dataTransfer));
    } catch (e) {
      showError('files', 'The dropped files could not be read: ' + e.message);
    }
  });

  function setFiles(list) {
    files = list;
    uploaded = null;
    showError('files', '');
    if (!files.length) { replace(fileList); return; }
    const total = files.reduce((s, f) => s + f.file.size, 0);
    const asZip = isZip(files);
    replace(fileList,
      h('ul', {}, files.slice(0, 8).map((f) => h('li', {}, h('span', { class: 'mono' }, f.path), h('span', { class: 'muted' }, ' ' + fmt.bytes(f.file.size)))),
        files.length > 8 ? h('li', { class: 'muted' }, `and ${files.length - 8} more`) : null),
      h('p', { class: 'muted' },
        asZip ? `A ZIP of ${fmt.bytes(total)}, uploaded as is. ` : `${files.length} ${files.length === 1 ? 'file' : 'files'}, ${fmt.bytes(total)}, zipped in the browser. `,
        h('button', { type: 'button', class: 'link', onclick: () => { fileInput.value = ''; setFiles([]); } }, 'Remove')));
  }

  function showError(name, message) {
    const f = fields[fieldOf[name] || name];
    if (!f) return false;
    f.error.textContent = message;
    const inputs = name === 'resources' ? [fields.cpu.input, fields.memory.input] : [f.input];
    for (const i of inputs) {
      if (!i) continue;
      if (message) i.setAttribute('aria-invalid', 'true');
      else i.removeAttribute('aria-invalid');
    }
    return true;
  }

  function clearErrors() {
    for (const name of Object.keys(fields)) showError(name, '');
    formError.hidden = true;
  }

  function focusFirstError() {
    const bad = form.querySelector('[aria-invalid="true"]');
    if (bad) bad.focus();
  }

  // collect reads the form into a job spec, or returns the field errors.
  function collect() {
    const v = (n) => fields[n].input.value.trim();
    const errors = {};
    const spec = {};
    // With an image the command may be left out: the image's own runs.
    if (v('command')) spec.command = v('command');
    else if (!v('image')) errors.command = 'Enter a command, like: sh run.sh (with an image it may be left out, to run the image\'s own)';
    if (v('name')) spec.name = v('name');
    const resources = {};
    if (v('cpu')) { try { resources.cpu = fmt.parseCPU(v('cpu')); } catch (e) { errors.cpu = e.message; } }
    if (v('memory')) { try { resources.memoryMB = fmt.parseMemory(v('memory')); } catch (e) { errors.memory = e.message; } }
    if (Object.keys(resources).length) spec.resources = resources;
    if (v('timeout')) {
      if (fmt.validTimeout(v('timeout'))) spec.timeout = v('timeout');
      else errors.timeout = `Timeout "${v('timeout')}": use a number and a unit, like 90s, 5m or 1h30m.`;
    }
    if (fields.retries.input.validity.badInput) {
      // A number input holding text the browser cannot read ("1e") says
      // its value is empty: not "no retries".
      errors.retries = 'Retries: a whole number from 0 to 100.';
    } else if (v('retries')) {
      const n = Number(v('retries'));
      if (Number.isInteger(n) && n >= 0 && n <= 100) spec.maxRetries = n;
      else errors.retries = 'Retries: a whole number from 0 to 100.';
    }
    if (v('executor')) spec.executor = v('executor');
    if (v('image')) spec.image = v('image');
    const env = pairs(v('env'), 'KEY=value', (e) => { errors.env = e; });
    if (env && Object.keys(env).length) spec.env = env;
    const constraints = pairs(v('constraints'), 'key=value', (e) => { errors.constraints = e; }) || {};
    if (mode === 'local') constraints[LOCAL_LABEL] = 'true';
    if (Object.keys(constraints).length) spec.constraints = constraints;
    return { spec, errors };
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearErrors();
    const { spec, errors } = collect();
    if (Object.keys(errors).length) {
      for (const [k, m] of Object.entries(errors)) showError(k, m);
      focusFirstError();
      return;
    }
    submitBtn.disabled = true;
    try {
      if (files.length) spec.bundle = await upload();
      progress.textContent = 'Submitting…';
      const body = JSON.stringify(spec);
      const key = lastTry && lastTry.failed && lastTry.body === body ? lastTry.key : randomKey();
      lastTry = { body, key, failed: false };
      let job;
      try {
        job = await post('/jobs', { body, headers: { 'Content-Type': 'application/json', 'Idempotency-Key': key } });
      } catch (e) {
        // Not knowing whether the job was made, a retry of the same spec
        // carries the same key and cannot submit it twice.
        lastTry.failed = e.status === 0;
        throw e;
      }
      location.hash = `#/jobs/${job.id}`;
    } catch (e) {
      progress.textContent = '';
      submitBtn.disabled = false;
      if (e.status === 401) return; // the token form takes over
      if (!(e.field && showError(e.field, e.message))) {
        formError.textContent = e.message;
        formError.hidden = false;
        formError.focus();
        return;
      }
      focusFirstError();
    }
  });

  // upload sends the files as one ZIP and returns its sha256; the same
  // files are not sent twice.
  async function upload() {
    const key = files.map((f) => `${f.path}:${f.file.size}:${f.file.lastModified}`).join('|');
    if (uploaded && uploaded.key === key) return uploaded.sha256;
    let blob;
    if (isZip(files)) {
      blob = files[0].file;
    } else {
      progress.textContent = `Zipping ${files.length} ${files.length === 1 ? 'file' : 'files'}…`;
      try {
        blob = await zip(files);
      } catch (e) {
        throw Object.assign(new Error(e.message), { field: 'bundle' });
      }
    }
    progress.textContent = `Uploading ${fmt.bytes(blob.size)}…`;
    let res;
    try {
      res = await post('/bundles', { body: blob, headers: { 'Content-Type': 'application/zip' } });
    } catch (e) {
      // A refused bundle is about the files; an unreachable or failing
      // coordinator is not, and goes to the form's banner.
      if (e.status >= 400 && e.status < 500 && e.status !== 401) e.field = 'bundle';
      throw e;
    }
    uploaded = { key, sha256: res.sha256 };
    return res.sha256;
  }

  fields.command.input.focus();
  return () => unsubscribe();
}

function isZip(files) {
  return files.length === 1 && /\.zip$/i.test(files[0].path);
}

// pairs reads "k=v" lines into an object; blank lines and # comments are
// skipped. A line without "=" is reported through fail.
function pairs(text, example, fail) {
  const out = {};
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) {
      fail(`Line ${i + 1} ("${line}") is not ${example}.`);
      return null;
    }
    out[line.slice(0, eq).trim()] = line.slice(eq + 1);
  }
  return out;
}

// randomKey makes an Idempotency-Key. crypto.randomUUID exists only on
// HTTPS or localhost; getRandomValues everywhere.
function randomKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return 'ui-' + [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
}

// droppedFiles lists what was dropped, walking into folders. When a single
// folder was dropped, its contents go at the top of the bundle.
async function droppedFiles(dt) {
  const entries = [...dt.items].filter((i) => i.kind === 'file').map((i) => i.webkitGetAsEntry?.()).filter(Boolean);
  if (!entries.length) return [...dt.files].map((f) => ({ path: f.name, file: f }));
  const out = [];
  if (entries.length === 1 && entries[0].isDirectory) await readDir(entries[0], '', out);
  else for (const e of entries) await walk(e, '', out);
  return out;
}

async function walk(entry, prefix, out) {
  if (entry.isFile) {
    const file = await new Promise((res, rej) => entry.file(res, rej));
    out.push({ path: prefix + entry.name, file });
  } else if (entry.isDirectory) {
    await readDir(entry, prefix + entry.name + '/', out);
  }
}

async function readDir(dir, prefix, out) {
  const reader = dir.createReader();
  for (;;) {
    // readEntries hands out a folder's entries in batches until an empty one.
    const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
    if (!batch.length) return;
    for (const c of batch) await walk(c, prefix, out);
  }
}
