// ansi.js reads terminal output: it keeps SGR styling (bold, dim, italic,
// underline, inverse, strike; 16, 256 and 24-bit colours) and drops every
// other escape sequence (cursor moves, titles, clears), which a log view
// cannot honour. A parser keeps state between chunks, since a chunk may end
// in the middle of an escape sequence.

// Style is the SGR state: fg and bg are null (default), 0-255 (palette) or
// "#rrggbb".
export function defaultStyle() {
  return { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false, inverse: false, strike: false };
}

// One match is a complete escape sequence, a line break or a control
// character to drop. CSI: ESC [ params intermediates final. OSC: ESC ] …
// ended by BEL or ESC \. Other two-byte escapes: ESC and one byte.
const TOKEN = /\x1b\[([0-?]*)([ -\/]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[PX^_][^\x1b]*\x1b\\|\x1b[ -\/]*[0-~]|\r|\n|[\x00-\x08\x0b-\x0c\x0e-\x1a\x1c-\x1f\x7f]/g;

// A held-back tail longer than this is not a sequence in progress but junk.
const MAX_PENDING = 512;

export class AnsiParser {
  constructor() {
    this.style = defaultStyle();
    this.pending = '';
  }

  // parse feeds text and calls sink.text(str, style) for runs of printable
  // text (style is shared until the next change: do not mutate it),
  // sink.newline() for "\n" and sink.cr() for a carriage return.
  parse(chunk, sink) {
    let s = this.pending + chunk;
    this.pending = '';
    let esc = s.lastIndexOf('\x1b');
    // A trailing ESC may be the first half of the "ESC \" that ends an
    // OSC string begun earlier: then hold back from the OSC's start.
    if (esc === s.length - 1) {
      const prev = s.lastIndexOf('\x1b', esc - 1);
      if (prev >= 0 && ']PX^_'.includes(s[prev + 1]) && !s.slice(prev, esc).includes('\x07')) esc = prev;
    }
    if (esc >= 0 && s.length - esc < MAX_PENDING && incomplete(s, esc)) {
      this.pending = s.slice(esc);
      s = s.slice(0, esc);
    }
    TOKEN.lastIndex = 0;
    let at = 0;
    let m;
    while ((m = TOKEN.exec(s))) {
      if (m.index > at) sink.text(s.slice(at, m.index), this.style);
      at = TOKEN.lastIndex;
      const t = m[0];
      if (t === '\n') sink.newline();
      else if (t === '\r') sink.cr();
      else if (m[3] === 'm' && m[2] === '' && !/[<=>?]/.test(m[1])) this.sgr(m[1]);
      // Anything else (other CSI, OSC, controls) is dropped.
    }
    if (at < s.length) sink.text(s.slice(at), this.style);
  }

  // sgr applies "Select Graphic Rendition" parameters. Sub-parameters may be
  // separated by ":" (ITU T.416) or ";" (xterm).
  sgr(params) {
    const st = { ...this.style };
    const ps = params === '' ? ['0'] : params.split(';');
    for (let i = 0; i < ps.length; i++) {
      const p = ps[i];
      if (p.includes(':')) {
        const sub = p.split(':').map((x) => (x === '' ? NaN : Number(x)));
        const n = sub[0];
        if (n === 38 || n === 48 || n === 58) {
          const c = extended(sub[1], sub.slice(2).filter((x) => !Number.isNaN(x)));
          if (n === 38) st.fg = c;
          else if (n === 48) st.bg = c;
        } else if (n === 4) st.underline = sub[1] !== 0;
        continue;
      }
      const n = p === '' ? 0 : Number(p);
      if (n === 38 || n === 48 || n === 58) {
        const mode = Number(ps[i + 1]);
        const argc = mode === 5 ? 1 : mode === 2 ? 3 : 0;
        const c = extended(mode, ps.slice(i + 2, i + 2 + argc).map(Number));
        i += 1 + argc;
        if (n === 38) st.fg = c;
        else if (n === 48) st.bg = c;
        continue;
      }
      switch (true) {
        case n === 0: Object.assign(st, defaultStyle()); break;
        case n === 1: st.bold = true; break;
        case n === 2: st.dim = true; break;
        case n === 3: st.italic = true; break;
        case n === 4: st.underline = true; break;
        case n === 7: st.inverse = true; break;
        case n === 9: st.strike = true; break;
        case n === 21: st.underline = true; break;
        case n === 22: st.bold = false; st.dim = false; break;
        case n === 23: st.italic = false; break;
        case n === 24: st.underline = false; break;
        case n === 27: st.inverse = false; break;
        case n === 29: st.strike = false; break;
        case n >= 30 && n <= 37: st.fg = n - 30; break;
        case n === 39: st.fg = null; break;
        case n >= 40 && n <= 47: st.bg = n - 40; break;
        case n === 49: st.bg = null; break;
        case n >= 90 && n <= 97: st.fg = n - 90 + 8; break;
        case n >= 100 && n <= 107: st.bg = n - 100 + 8; break;
        default: break; // blink, fonts, frames…: not shown
      }
    }
    this.style = st;
  }
}

// incomplete reports whether the escape sequence starting at s[i] has not
// ended yet within s.
function incomplete(s, i) {
  if (i + 1 >= s.length) return true;
  const next = s[i + 1];
  if (next === '[') return !/^\x1b\[[0-?]*[ -\/]*[@-~]/.test(s.slice(i));
  if (next === ']') return !/^\x1b\][^\x07\x1b]*(\x07|\x1b\\)/.test(s.slice(i));
  if ('PX^_'.includes(next)) return !/^\x1b[PX^_][^\x1b]*\x1b\\/.test(s.slice(i));
  return !/^\x1b[ -\/]*[0-~]/.test(s.slice(i));
}

// extended reads "5;n" (palette) or "2;r;g;b" (24-bit) colours.
function extended(mode, args) {
  if (mode === 5 && args.length >= 1 && args[0] >= 0 && args[0] <= 255) return args[0];
  if (mode === 2 && args.length >= 3) {
    const [r, g, b] = args.slice(-3).map((v) => Math.max(0, Math.min(255, v | 0)));
    return '#' + [r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('');
  }
  return null;
}

// paletteRGB is the colour of palette entries 16-255 (the 6×6×6 cube and
// the grey ramp); entries 0-15 are themed in CSS.
export function paletteRGB(n) {
  if (n < 232) {
    const i = n - 16;
    const c = (v) => (v === 0 ? 0 : 55 + v * 40);
    const hex = (v) => c(v).toString(16).padStart(2, '0');
    return '#' + hex(Math.floor(i / 36)) + hex(Math.floor(i / 6) % 6) + hex(i % 6);
  }
  const v = (8 + (n - 232) * 10).toString(16).padStart(2, '0');
  return '#' + v + v + v;
}
