// format.js turns API values into text for people, and reads the resource
// sizes people type into the API's units. It mirrors drover's Go helpers
// (FormatCPU, ParseMemory…) so the UI and the CLI say the same things.

// cpu renders millicores: "2 cores", "1.5 cores", "500m".
export function cpu(m) {
  if (m == null) return '—';
  if (m % 1000 === 0) return `${m / 1000} ${m === 1000 ? 'core' : 'cores'}`;
  if (m < 1000) return `${m}m`;
  return `${+(m / 1000).toFixed(3)} cores`;
}

// memory renders MiB: "512M", "2G", "1.5G".
export function memory(mb) {
  if (mb == null) return '—';
  if (mb >= 1024) return (mb % 1024 === 0 ? mb / 1024 : (mb / 1024).toFixed(1)) + 'G';
  return `${mb}M`;
}

// bytes renders a byte count: "812 B", "12.4 KiB", "3.1 MiB".
export function bytes(n) {
  if (!n) return '0 B';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)) + ' ' + units[i];
}

// parseCPU reads cores ("1.5") or millicores ("500m") into millicores, or
// throws an Error whose message says what to type.
export function parseCPU(s) {
  s = s.trim();
  const bad = () => new Error(`CPU "${s}": use cores like 1.5 or millicores like 500m`);
  if (s.endsWith('m')) {
    const v = Number(s.slice(0, -1));
    if (!Number.isInteger(v) || v <= 0 || !/^\d+$/.test(s.slice(0, -1))) throw bad();
    return v;
  }
  const f = Number(s);
  if (!/^\d*\.?\d+$/.test(s) || !(f > 0) || f > 1e6) throw bad();
  const v = Math.round(f * 1000);
  if (v === 0) throw new Error(`CPU "${s}" is below one millicore`);
  return v;
}

// parseMemory reads "512M", "2G", "1.5Gi", "256MB" or a bare number of MiB.
export function parseMemory(s) {
  const t = s.trim();
  let u = t.toUpperCase().replace(/B$/, '').replace(/I$/, '');
  let mult = 1;
  const unit = u.slice(-1);
  if ('KMGT'.includes(unit) && unit !== '') {
    mult = { K: 1 / 1024, M: 1, G: 1024, T: 1024 * 1024 }[unit];
    u = u.slice(0, -1);
  }
  const f = Number(u);
  if (!/^\d*\.?\d+$/.test(u) || !(f > 0)) throw new Error(`memory "${t}": use a size like 512M or 2G`);
  return Math.ceil(f * mult);
}

const unitNS = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

// parseGoDuration reads Go's duration syntax ("1m30.5s") into milliseconds;
// it returns NaN when s is not one.
export function parseGoDuration(s) {
  if (s == null || s === '') return NaN;
  if (s === '0') return 0;
  const re = /(\d*\.?\d+)(ns|us|µs|μs|ms|s|m|h)/gy;
  let total = 0, m, end = 0;
  const neg = s.startsWith('-');
  if (neg) s = s.slice(1);
  while ((m = re.exec(s))) { total += Number(m[1]) * unitNS[m[2]]; end = re.lastIndex; }
  if (end !== s.length || end === 0) return NaN;
  return (neg ? -total : total) / 1e6;
}

// validTimeout reports whether s is what the API accepts as a timeout: a
// Go duration ("90s", "1h30m") or a number of seconds.
export function validTimeout(s) {
  return /^\d*\.?\d+$/.test(s) || !Number.isNaN(parseGoDuration(s));
}

// duration renders milliseconds like Go does, rounded for people:
// "350ms", "1.5s", "2m3s", "10m", "1h2m".
export function duration(ms) {
  if (ms == null || Number.isNaN(ms)) return '—';
  if (ms < 0) ms = 0;
  if (ms < 1) return ms === 0 ? '0s' : '<1ms';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 10_000) return `${+(ms / 1000).toFixed(2)}s`;
  if (ms < 60_000) return `${+(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  // Zero parts are left out: "10m", "1h5m", not "10m0s".
  if (h > 0) return `${h}h` + (m ? `${m}m` : '') + (h < 10 && r ? `${r}s` : '');
  return `${m}m` + (r ? `${r}s` : '');
}

// goDuration reformats a Go duration string from the API ("1.503241s") the
// way duration renders it ("1.5s").
export function goDuration(s) {
  const ms = parseGoDuration(s);
  return Number.isNaN(ms) ? (s || '—') : duration(ms);
}

// ago renders how long ago an ISO time was: "just now", "12s ago", "3m ago".
export function ago(iso, now = Date.now()) {
  if (!iso) return '—';
  const s = Math.max(0, Math.floor((now - Date.parse(iso)) / 1000));
  if (s < 2) return 'just now';
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

// elapsed is the time from one ISO time to another (or to now).
export function elapsed(fromISO, toISO, now = Date.now()) {
  if (!fromISO) return null;
  return (toISO ? Date.parse(toISO) : now) - Date.parse(fromISO);
}

// timestamp renders an ISO time in the reader's zone: "14:03:22" today,
// else "2024-05-01 14:03".
export function timestamp(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (d.toDateString() === new Date().toDateString()) return time;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

// command renders a job's argv for people, as drover's Command.String does.
export function command(argv) {
  if (!argv || !argv.length) return '';
  if (argv.length === 3 && argv[0] === 'sh' && argv[1] === '-c') return argv[2];
  return argv.join(' ');
}

// jobTitle is the job's name, or its command when it has none (or its
// image, whose own command it runs), as drover's Job.DisplayName.
export function jobTitle(job) {
  return job.spec?.name || command(job.spec?.command) || job.spec?.image || job.id;
}

// isFinal reports whether a job state never changes again.
export function isFinal(state) {
  return state === 'COMPLETED' || state === 'FAILED' || state === 'CANCELLED';
}
