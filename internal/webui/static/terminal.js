// terminal.js shows a job's output as a terminal would: ANSI colours,
// stderr marked, carriage returns rewriting the line (progress bars). It
// stays responsive with hundreds of thousands of lines:
//   - writes are queued and rendered once per animation frame, with a
//     budget per frame, so a flood or a long replay never blocks the tab;
//   - lines are grouped in blocks styled content-visibility: auto, so the
//     browser skips layout and paint of blocks out of view;
//   - at most maxLines lines stay in the page; older blocks are dropped
//     with a note offering to show everything or download the full output.

import { AnsiParser, paletteRGB } from './ansi.js';
import { h } from './dom.js';

const BLOCK_LINES = 200;
const FRAME_BUDGET = 256 * 1024; // characters rendered per frame
export const DEFAULT_MAX_LINES = 10000;

export class Terminal {
  // opts.downloadURL: the full output, offered when lines are dropped.
  // opts.onChange(term): called after each rendered frame (counts changed).
  constructor(opts = {}) {
    this.maxLines = opts.maxLines || DEFAULT_MAX_LINES;
    this.onChange = opts.onChange || (() => {});
    this.downloadURL = opts.downloadURL || '';
    this.follow = true;
    this.chunks = []; // everything written, for "show all"
    this.bytes = 0;
    this.queue = [];
    this.frame = 0;

    this.noteText = h('span');
    this.note = h('div', { class: 'term-note', hidden: true }, this.noteText, ' ',
      h('button', { type: 'button', class: 'link', onclick: () => this.showAll() }, 'Show all'),
      this.downloadURL ? [' · ', h('a', { href: this.downloadURL, download: opts.downloadName || 'output.log' }, 'Download the full output')] : null);
    this.empty = h('div', { class: 'term-empty' }, 'Waiting for output…');
    this.screen = h('div', {
      class: 'term', tabindex: '0', role: 'log', 'aria-live': 'off', 'aria-label': 'Job output',
      onscroll: () => this.onScroll(),
    }, this.empty);
    this.el = h('div', { class: 'term-box' }, this.note, this.screen);
    this.resetView();
  }

  // resetView empties the screen and the parsers (not the stored chunks).
  resetView() {
    for (const b of this.screen.querySelectorAll('.blk')) b.remove();
    this.parsers = { stdout: new AnsiParser(), stderr: new AnsiParser() };
    this.open = { stdout: null, stderr: null }; // the unfinished line of each stream
    this.block = null;
    this.blockLines = 0;
    this.total = 0; // lines made
    this.rendered = 0; // lines in the page
    this.dropped = 0;
    this.attempt = 0;
    this.note.hidden = true;
  }

  // write queues a chunk of output of one attempt's stream.
  write(stream, attempt, data) {
    if (!data) return;
    const c = { stream: stream === 'stderr' ? 'stderr' : 'stdout', attempt, data };
    this.chunks.push(c);
    this.bytes += data.length;
    this.queue.push(c);
    this.schedule();
  }

  setEmptyText(text) { this.empty.textContent = text; }

  setFollow(on) {
    this.follow = on;
    if (on) this.screen.scrollTop = this.screen.scrollHeight;
    this.onChange(this);
  }

  // showAll renders every line written so far, over as many frames as it
  // takes.
  showAll() {
    this.maxLines = Infinity;
    this.resetView();
    this.queue = this.chunks.slice();
    this.schedule();
  }

  destroy() {
    cancelAnimationFrame(this.frame);
    this.queue = [];
  }

  schedule() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.frame = 0;
    let budget = FRAME_BUDGET;
    while (this.queue.length && budget > 0) {
      const c = this.queue[0];
      let data = c.data;
      if (data.length > budget) {
        let cut = budget;
        // Never split a surrogate pair between two frames' text nodes.
        if (data.charCodeAt(cut - 1) >= 0xd800 && data.charCodeAt(cut - 1) <= 0xdbff) cut--;
        this.queue[0] = { ...c, data: data.slice(cut) };
        data = data.slice(0, cut);
      } else {
        this.queue.shift();
      }
      budget -= data.length;
      this.render(c.stream, c.attempt, data);
    }
    this.trim();
    this.empty.hidden = this.total > 0;
    if (this.follow) this.screen.scrollTop = this.screen.scrollHeight;
    if (this.queue.length) this.schedule();
    this.onChange(this);
  }

  render(stream, attempt, data) {
    if (attempt !== this.attempt) {
      // A retry: mark where the new attempt's output begins.
      if (this.attempt !== 0) {
        this.open = { stdout: null, stderr: null };
        this.newLine('mark').textContent = `attempt ${attempt}`;
      }
      this.attempt = attempt;
    }
    this.parsers[stream].parse(data, this.sinkFor(stream));
  }

  sinkFor(stream) {
    const t = this;
    const cls = stream === 'stderr' ? 'l e' : 'l';
    const line = () => {
      let l = t.open[stream];
      if (!l) l = t.open[stream] = t.newLine(cls);
      return l;
    };
    return {
      text(s, style) {
        const l = line();
        if (l.cr) { // a carriage return earlier: the line is being rewritten
          l.textContent = '';
          l.last = null;
          l.cr = false;
        }
        appendStyled(l, s, style);
      },
      newline() {
        const l = line();
        l.cr = false;
        t.open[stream] = null;
      },
      cr() { line().cr = true; },
    };
  }

  newLine(cls) {
    if (!this.block || this.blockLines >= BLOCK_LINES) {
      this.block = h('div', { class: 'blk' });
      this.block.lines = 0;
      this.screen.append(this.block);
      this.blockLines = 0;
    }
    const l = document.createElement('div');
    l.className = cls;
    this.block.append(l);
    this.block.lines++;
    this.blockLines++;
    this.total++;
    this.rendered++;
    return l;
  }

  // trim drops whole blocks from the top while more than maxLines remain,
  // keeping the reader's view still when they are not following.
  trim() {
    let first = this.screen.querySelector('.blk');
    if (!first || this.rendered - first.lines < this.maxLines) return;
    const before = this.screen.scrollHeight;
    while (first && first !== this.block && this.rendered - first.lines >= this.maxLines) {
      const next = first.nextElementSibling;
      this.rendered -= first.lines;
      this.dropped += first.lines;
      first.remove();
      first = next;
    }
    if (!this.follow) this.screen.scrollTop -= before - this.screen.scrollHeight;
    this.noteText.textContent = `Showing the last ${this.rendered.toLocaleString()} of ${this.total.toLocaleString()} lines.`;
    this.note.hidden = false;
  }

  onScroll() {
    const s = this.screen;
    const atBottom = s.scrollHeight - s.scrollTop - s.clientHeight < 4;
    if (atBottom !== this.follow) {
      this.follow = atBottom;
      this.onChange(this);
    }
  }
}

// appendStyled adds text to a line, extending the last run when the style
// is the same (the parser hands out one style object until it changes).
function appendStyled(line, s, style) {
  if (line.last && line.lastStyle === style) {
    line.last.appendData(s);
    return;
  }
  const text = document.createTextNode(s);
  const look = lookOf(style);
  if (look) {
    const span = document.createElement('span');
    if (look.className) span.className = look.className;
    if (look.color) span.style.color = look.color;
    if (look.background) span.style.backgroundColor = look.background;
    span.append(text);
    line.append(span);
  } else {
    line.append(text);
  }
  line.last = text;
  line.lastStyle = style;
}

const looks = new WeakMap();

// lookOf turns a style into CSS classes (the 16 themed colours, bold…) and
// inline colours (palette 16-255 and 24-bit). null means plain text.
function lookOf(st) {
  if (looks.has(st)) return looks.get(st);
  let fg = st.fg;
  let bg = st.bg;
  const cls = [];
  if (st.inverse) {
    [fg, bg] = [bg, fg];
    if (fg === null) cls.push('fi'); // default background as text colour
    if (bg === null) cls.push('bi'); // default text colour as background
  }
  let color = '';
  let background = '';
  if (typeof fg === 'number' && fg < 16) cls.push('f' + fg);
  else if (typeof fg === 'number') color = paletteRGB(fg);
  else if (typeof fg === 'string') color = fg;
  if (typeof bg === 'number' && bg < 16) cls.push('b' + bg);
  else if (typeof bg === 'number') background = paletteRGB(bg);
  else if (typeof bg === 'string') background = bg;
  if (st.bold) cls.push('sb');
  if (st.dim) cls.push('sd');
  if (st.italic) cls.push('si');
  if (st.underline) cls.push('su');
  if (st.strike) cls.push('ss');
  const look = cls.length || color || background ? { className: cls.join(' '), color, background } : null;
  looks.set(st, look);
  return look;
}
