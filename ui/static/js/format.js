// Reading the API's quantities and writing them for people.

// parseCPU reads "250m" or "2" (cores) as millicores.
export function parseCPU(v) {
  if (typeof v === 'number') return v;
  if (!v) return 0;
  return v.endsWith('m') ? Number(v.slice(0, -1)) : Number(v) * 1000;
}

const MEMORY_UNITS = {Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, K: 1e3, M: 1e6, G: 1e6 * 1e3, T: 1e12};

// parseMemory reads "64Mi", "1G" or a number of bytes.
export function parseMemory(v) {
  if (typeof v === 'number') return v;
  if (!v) return 0;
  const m = /^([0-9.]+)\s*([A-Za-z]*)$/.exec(v);
  if (!m) return 0;
  return Number(m[1]) * (MEMORY_UNITS[m[2]] || 1);
}

export function cpu(milli) {
  if (milli >= 1000) {
    const cores = +(milli / 1000).toFixed(milli % 1000 ? 2 : 0);
    return `${cores} ${cores === 1 ? 'core' : 'cores'}`;
  }
  return `${Math.round(milli)}m`;
}

export function bytes(n) {
  for (const [unit, size] of [['Ti', 2 ** 40], ['Gi', 2 ** 30], ['Mi', 2 ** 20], ['Ki', 2 ** 10]]) {
    if (n >= size) return `${+(n / size).toFixed(n % size ? 1 : 0)}${unit}`;
  }
  return `${Math.round(n)}B`;
}

export function pct(part, whole) { return whole > 0 ? Math.round((100 * part) / whole) : 0; }

export function num(v, digits = 1) { return Number.isFinite(v) ? v.toFixed(digits) : '-'; }

export function ms(v) {
  if (!v) return '-';
  return v >= 1000 ? `${(v / 1000).toFixed(2)}s` : `${v >= 10 ? Math.round(v) : v.toFixed(1)}ms`;
}

export function clock(t) {
  const d = t instanceof Date ? t : new Date(t);
  if (Number.isNaN(d.getTime()) || d.getFullYear() < 2000) return '-';
  return d.toLocaleTimeString([], {hour12: false});
}

// ago says how long ago t was: "4s ago", "3m ago".
export function ago(t, now = Date.now()) {
  const d = new Date(t).getTime();
  if (!d || new Date(t).getFullYear() < 2000) return '-';
  const s = Math.max(0, Math.round((now - d) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

// count writes n things: "1 node", "3 nodes" (plural: the word for more
// than one, when it is not word + "s").
export function count(n, word, plural = word + 's') { return `${n} ${n === 1 ? word : plural}`; }

// natural compares names with numbers in them as people do: n2 before n10.
const collator = new Intl.Collator(undefined, {numeric: true});
export function natural(a, b) { return collator.compare(a, b); }

// serviceHue is a stable colour per service, the same in every view.
export function serviceHue(key) {
  let h = 2166136261;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  // Reds are kept for trouble (a node down): hues 25..335 only.
  return 25 + ((h >>> 0) % 311);
}

// goDuration reads a Go duration ("2.375ms", "1m30s", "655µs") as
// milliseconds; NaN when it is not one.
export function goDuration(s) {
  const units = {h: 3600e3, m: 60e3, s: 1e3, ms: 1, 'µs': 1e-3, 'us': 1e-3, ns: 1e-6};
  let total = 0;
  let rest = String(s);
  if (rest === '0') return 0;
  while (rest) {
    const m = /^([0-9.]+)(h|ms|m|s|µs|us|ns)/.exec(rest);
    if (!m) return NaN;
    total += Number(m[1]) * units[m[2]];
    rest = rest.slice(m[0].length);
  }
  return total;
}

// duration writes milliseconds for people: "2ms", "1.5s", "3m".
export function duration(msec) {
  if (!Number.isFinite(msec)) return '-';
  if (msec < 1) return '<1ms';
  if (msec < 1000) return `${Math.round(msec)}ms`;
  if (msec < 60e3) return `${+(msec / 1000).toFixed(1)}s`;
  return `${Math.round(msec / 60e3)}m`;
}

// revisionColor tells revisions of one service apart in the charts.
const REVISION_COLORS = ['#2563eb', '#f59e0b', '#10b981', '#ef4444', '#8b5cf6', '#ec4899', '#14b8a6', '#84cc16'];
export function revisionColor(rev) { return REVISION_COLORS[(rev - 1 + REVISION_COLORS.length) % REVISION_COLORS.length]; }

// live reports whether an allocation still holds its place on its node.
export function placed(a) {
  return a.desiredStatus === 'run' && !['failed', 'lost', 'complete'].includes(a.status);
}

export function dnsName(svc) { return `${svc.name}.${svc.namespace}.svc.flotilla`; }

export function shortID(id) { return id.length > 8 ? id.slice(0, 8) : id; }
