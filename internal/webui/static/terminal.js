// terminal.js shows a job's output as a terminal would: ANSI colours,
// stderr marked, carriage returns rewriting the line (progress bars). It
// stays responsive with hundreds of thousands of lines:
//   - writes are queued and rendered once per animation frame, with a
//     budget per frame, so a flood or a long replay never blocks the tab;
//   - lines are grouped in blocks styled content-visibility: auto, so the
//     browser skips layout and paint of blocks out of view;
//   - at most maxLines lines stay in the page; older blocks are dropped
//     with a note offering to show everything or download the full output,
//     and a backlog longer than that is parsed and counted, never drawn.

import { AnsiParser, paletteRGB } from './ansi.js';
import { h } from './dom.js';

const BLOCK_LINES = 200;
// What one animation frame draws at most: enough to keep up with any job,
// little enough that a frame stays well under 50 ms.
const FRAME_CHARS = 128 * 1024;
const FRAME_LINES = 1500;
// LINE_CHARS caps what is drawn of one line: a line of megabytes (a JSON
// dump, a minified file) is laid out again on every frame it grows, which
// froze the page; the rest is counted and said, and the download has it.
const LINE_CHARS = 64 * 1024;
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
      this.downloadURL ? [' · ', h('a', { href: this.downloadURL, download: opts.downloadName || 'output.log' }, 'Download the output')] : null);
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

  // write queues a chunk of output of one attempt's stream; size is its
  // length in bytes (the text's length by default).
  write(stream, attempt, data, size = data.length) {
    this.bytes += size;
    if (!data) return;
    const c = { stream: stream === 'stderr' ? 'stderr' : 'stdout', attempt, data };
    this.chunks.push(c);
    this.queue.push(c);
    this.schedule();
  }

  // markDropped queues a line of the page's own between the output's, drawn
  // like the line where a retry begins: where output was dropped, and why.
  // size is the bytes it stands for in the output.
  markDropped(attempt, text, size = 0) {
    this.bytes += size;
    const c = { stream: 'stderr', attempt, data: '', mark: text };
    this.chunks.push(c);
    this.queue.push(c);
    this.schedule();
  }

  setEmptyText(text) { this.empty.textContent = text; }

  setFollow(on) {
    this.follow = on;
    if (on) this.toBottom();
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
    if (this.maxLines !== Infinity) this.skipAhead();
    let chars = FRAME_CHARS;
    let lines = FRAME_LINES;
    while (this.queue.length && chars > 0 && lines > 0) {
      const c = this.queue[0];
      let cut = Math.min(c.data.length, chars);
      const n = newlines(c.data, cut, lines);
      if (n.count === lines) cut = n.end;
      // Never split a surrogate pair between two frames' text nodes.
      const last = c.data.charCodeAt(cut - 1);
      if (cut < c.data.length && last >= 0xd800 && last <= 0xdbff) cut--;
      if (cut < c.data.length) this.queue[0] = { ...c, data: c.data.slice(cut) };
      else this.queue.shift();
      chars -= Math.max(cut, 1);
      lines -= n.count;
      this.render(c, c.data.slice(0, cut));
    }
    this.trim();
    if (this.dropped) {
      this.noteText.textContent = `Showing the last ${this.rendered.toLocaleString()} of ${this.total.toLocaleString()} lines.`;
      this.note.hidden = false;
    }
    this.empty.hidden = this.total > 0;
    if (this.follow) this.toBottom();
    if (this.queue.length) this.schedule();
    this.onChange(this);
  }

  // skipAhead handles a backlog (opening the page of a job with a large
  // output, or a flood): lines that would be dropped as soon as they were
  // drawn are parsed for their colour state and counted, never drawn.
  skipAhead() {
    let pending = 0;
    for (const c of this.queue) pending += newlines(c.data, c.data.length, Infinity).count;
    let left = pending - this.maxLines;
    if (left <= 0) return;
    // Everything on screen is older than the lines skipped: drop it too.
    for (const b of this.screen.querySelectorAll('.blk')) b.remove();
    this.dropped += this.rendered;
    this.rendered = 0;
    this.block = null;
    this.open = { stdout: null, stderr: null };
    const t = this;
    const skip = { text() {}, cr() {}, newline() { t.total++; t.dropped++; } };
    while (left > 0 && this.queue.length) {
      const c = this.queue[0];
      const n = newlines(c.data, c.data.length, left);
      const end = n.count === left ? n.end : c.data.length;
      if (end < c.data.length) this.queue[0] = { ...c, data: c.data.slice(end) };
      else this.queue.shift();
      this.attempt = c.attempt;
      this.parsers[c.stream].parse(c.data.slice(0, end), skip);
      left -= n.count;
    }
  }

  // render draws data, a piece of chunk c (a mark is drawn whole).
  render(c, data) {
    if (c.attempt !== this.attempt) {
      // A retry: mark where the new attempt's output begins.
      if (this.attempt !== 0) {
        this.open = { stdout: null, stderr: null };
        this.newLine('l mark').textContent = `attempt ${c.attempt}`;
      }
      this.attempt = c.attempt;
    }
    if (c.mark) {
      // What comes after it does not continue the lines before.
      this.open = { stdout: null, stderr: null };
      this.newLine('l mark dropped').textContent = c.mark;
      return;
    }
    this.parsers[c.stream].parse(data, this.sinkFor(c.stream));
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
          l.chars = 0;
          l.cut = null;
        }
        const room = LINE_CHARS - (l.chars || 0);
        if (s.length > room) {
          if (room > 0) appendStyled(l, s.slice(0, room), style);
          l.chars = LINE_CHARS;
          if (!l.cut) {
            l.cut = document.createElement('span');
            l.cut.className = 'cut';
            l.cut.hidden = true; // shown once the count is set
            l.append(l.cut);
            l.cutChars = 0;
          }
          l.cutChars += s.length - Math.max(room, 0);
          l.cut.textContent = ` … ${l.cutChars.toLocaleString()} more characters of this line not shown (the download has them)`;
          l.cut.hidden = false;
          return;
        }
        l.chars = (l.chars || 0) + s.length;
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
  }

  // toBottom scrolls to the end and remembers where that was.
  toBottom() {
    this.screen.scrollTop = this.screen.scrollHeight;
    this.autoTop = this.screen.scrollTop;
  }

  onScroll() {
    const s = this.screen;
    const atBottom = s.scrollHeight - s.scrollTop - s.clientHeight < 4;
    // Output drawn between our own scroll and its event leaves the view
    // above the end without the reader moving it: only a scroll above
    // where we put the view turns following off.
    if (this.follow && !atBottom && s.scrollTop >= (this.autoTop ?? 0) - 4) return;
    if (atBottom !== this.follow) {
      this.follow = atBottom;
      this.onChange(this);
    }
  }
}

// newlines counts the "\n" in s[0:limit], stopping at max; end is the
// index after the last one counted.
function newlines(s, limit, max) {
  let count = 0;
  let end = 0;
  while (count < max) {
    const i = s.indexOf('\n', end);
    if (i < 0 || i >= limit) break;
    end = i + 1;
    count++;
  }
  return { count, end };
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
