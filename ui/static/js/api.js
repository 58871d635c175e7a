// Every call the dashboard makes goes through this module, to the server
// that served the page (same origin), through the public /v1 API: the same
// endpoints the CLI uses. Lists are followed with blocking queries
// (?index=N&wait=30s), events with the server-sent event stream; only the
// figures the leader keeps in memory (traffic, top), which have no index,
// are read on a timer, and only while a view shows them.

const INDEX_HEADER = 'X-Flotilla-Index';
const WAIT = '30s';
const MIN_GAP = 200; // ms between two reads of one watch

// ACLs: every request carries the token the shell's provider returns (the
// one the user pasted, kept in localStorage; see app.js), in the header
// the servers read.
const TOKEN_HEADER = 'X-Flotilla-Token';
let tokenProvider = () => '';
export function setTokenProvider(fn) { tokenProvider = fn; }

// Connection state, shown in the header and over the views: 'live', or
// 'retrying' with why and since when (what the views show is as of then).
// Every read the views follow counts: a watch, the event stream, a timed
// read.
const connListeners = new Set();
const unauthorizedListeners = new Set();
let failing = new Map(); // what is failing now -> its error
let failingSince = 0;
let told = '';
export function onConnection(fn) { connListeners.add(fn); return () => connListeners.delete(fn); }
export function onUnauthorized(fn) { unauthorizedListeners.add(fn); return () => unauthorizedListeners.delete(fn); }
export function connection() {
  if (!failing.size) return {state: 'live', why: '', since: 0};
  return {state: 'retrying', why: [...failing.values()][0].message, since: failingSince};
}
function report(key, err) {
  const was = failing.size;
  if (err) failing.set(key, err); else failing.delete(key);
  if (failing.size && !was) failingSince = Date.now();
  const c = connection();
  const now = `${c.state} ${c.since} ${c.why}`;
  if (now === told) return;
  told = now;
  for (const fn of connListeners) fn(c.state, c.why, c.since);
}

// trouble reports whether err means the page cannot follow the cluster
// now (no answer, no leader, a server error), as opposed to an answer
// such as 404 or 403.
function trouble(err) { return !err.status || err.status >= 500; }

// refused reports whether err is the servers refusing the token (ACLs):
// an answer about what the token may not read, not a failure to retry.
export function refused(err) { return Boolean(err) && (err.status === 401 || err.status === 403); }

const REFUSED_AGAIN = 60000; // ms before a refused read is tried again, quietly

// tellRefused tells the shell what was refused: "GET /v1/nodes".
function tellRefused(method, path) {
  const what = `${method} ${path.split('?')[0]}`;
  for (const fn of unauthorizedListeners) fn(what);
}

export class APIError extends Error {
  constructor(status, message, field) {
    super(message);
    this.status = status;
    this.field = field || '';
  }
}

function headers(extra = {}) {
  const h = {Accept: 'application/json', ...extra};
  const token = tokenProvider();
  if (token) h[TOKEN_HEADER] = token;
  return h;
}

async function request(method, path, {body, signal} = {}) {
  const init = {method, signal, cache: 'no-store', headers: headers(body === undefined ? {} : {'Content-Type': 'application/json'})};
  if (body !== undefined) init.body = JSON.stringify(body);
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new APIError(0, `${method} ${path}: the server did not answer (${err.message})`);
  }
  const text = await resp.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!resp.ok) {
    if (resp.status === 401 || resp.status === 403) tellRefused(method, path);
    throw new APIError(resp.status, (data && data.error) || `${method} ${path}: HTTP ${resp.status}`, data && data.field);
  }
  return {data, index: Number(resp.headers.get(INDEX_HEADER) || 0)};
}

export async function get(path, {signal} = {}) { return (await request('GET', path, {signal})).data; }
export async function post(path, body = {}) { return (await request('POST', path, {body})).data; }

function sleep(ms, signal) {
  return new Promise(resolve => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, {once: true});
  });
}

function nextBackoff(ms) { return Math.min(ms ? ms * 2 : 500, 10000); }

// watch follows a list or object the API serves as a blocking query: one
// read, then the same read with ?index=N&wait=30s, which the server holds
// until something changed past N (or 30 s went by). fn gets the new value
// each time it changed; null when the object does not exist (404). Such a
// read is stale (any server answers it from its own state once that state
// reached N), so a watch through a follower stays on the follower. One
// request at a time; failures back off up to 10 s. A read the token may
// not make (403) is no failure: onRefused(err) is told, and the read is
// tried again only a minute later. Returns stop().
export function watch(path, fn, {onRefused} = {}) {
  const ctl = new AbortController();
  const key = Symbol(path);
  let index = 0;
  let backoff = 0;
  let stale = false; // read what this server has: there is no leader to ask
  let started = 0;
  (async () => {
    while (!ctl.signal.aborted) {
      // A burst of writes (a node's allocations replaced one by one) is
      // read as a few answers, not one request per write.
      const since = performance.now() - started;
      if (since < MIN_GAP) await sleep(MIN_GAP - since, ctl.signal);
      started = performance.now();
      const sep = path.includes('?') ? '&' : '?';
      let url = path;
      if (index > 0) url = `${path}${sep}index=${index}&wait=${WAIT}&stale`;
      else if (stale) url = `${path}${sep}stale`;
      try {
        const r = await request('GET', url, {signal: ctl.signal});
        report(key, null);
        backoff = 0;
        stale = false;
        if (r.index < index) {
          index = 0; // the state went back (a restored snapshot): read it afresh
          continue;
        }
        const changed = index === 0 || r.index > index;
        // An index of 0 would make the next read return at once: block
        // until anything at all is written instead.
        index = Math.max(r.index, 1);
        if (changed) fn(r.data);
      } catch (err) {
        if (ctl.signal.aborted) return;
        if (err.status === 404) {
          report(key, null);
          fn(null);
          index = 0;
          await sleep(5000, ctl.signal); // a 404 has no index to block on
          continue;
        }
        if (refused(err)) {
          report(key, null);
          if (onRefused) onRefused(err);
          index = 0;
          backoff = 0;
          await sleep(REFUSED_AGAIN, ctl.signal);
          continue;
        }
        // No leader (an election, or no quorum): show what this server
        // has rather than nothing, until a leader answers again.
        if (err.status === 503) stale = true;
        report(key, err);
        backoff = nextBackoff(backoff);
        await sleep(backoff, ctl.signal);
      }
    }
  })();
  return () => { ctl.abort(); report(key, null); };
}

// every calls fn now and then every ms until stopped, never two at once:
// for the figures that live in the leader's memory and have no index. An
// error fn throws (no answer, no leader) counts as the connection failing
// until a later call succeeds.
export function every(ms, fn) {
  const ctl = new AbortController();
  const key = Symbol('every');
  (async () => {
    while (!ctl.signal.aborted) {
      // A tab nobody looks at asks nothing.
      if (!document.hidden) {
        try {
          await fn(ctl.signal);
          report(key, null);
        } catch (err) {
          if (err.name === 'AbortError') return;
          report(key, trouble(err) ? err : null);
        }
      }
      await sleep(ms, ctl.signal);
    }
  })();
  return () => { ctl.abort(); report(key, null); };
}

// settle reads path for a timed read: {value}, or {err} when the read
// failed (a 404 is the value null). An abort still throws.
export function settle(path, signal) {
  return get(path, {signal}).then(value => ({value}), err => {
    if (err.name === 'AbortError') throw err;
    if (err.status === 404) return {value: null};
    return {err};
  });
}

// streamEvents follows GET /v1/events (server-sent events), narrowed by
// filter ({namespace, service, node}), from the oldest event the server
// keeps. fn gets each batch of new events, oldest first. A broken stream is
// resumed after the last event seen (?index=ID), so none is lost or seen
// twice. It reads the stream with fetch rather than EventSource so that
// the request can carry headers (the ACL hook) and every event type comes
// through one reader. A stream the token may not read (403) is told to
// onRefused(err), as watch does. Returns stop().
export function streamEvents(filter, fn, {onRefused} = {}) {
  const ctl = new AbortController();
  const key = Symbol('events');
  let last = 0;
  let backoff = 0;
  (async () => {
    while (!ctl.signal.aborted) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(filter || {})) if (v) q.set(k, v);
      if (last > 0) {
        q.set('index', String(last));
        q.set('stale', '');
      }
      try {
        const resp = await fetch('/v1/events' + (q.size ? '?' + q : ''), {
          headers: headers({Accept: 'text/event-stream'}), signal: ctl.signal, cache: 'no-store',
        });
        if (!resp.ok) {
          let msg = `GET /v1/events: HTTP ${resp.status}`;
          try { msg = (await resp.json()).error || msg; } catch { /* keep the status */ }
          if (resp.status === 401 || resp.status === 403) tellRefused('GET', '/v1/events');
          throw new APIError(resp.status, msg);
        }
        report(key, null);
        backoff = 0;
        const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = '';
        for (;;) {
          const {value, done} = await reader.read();
          if (done) break;
          buf += value.replaceAll('\r\n', '\n');
          const batch = [];
          let end;
          while ((end = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, end);
            buf = buf.slice(end + 2);
            const msg = parseSSE(block);
            if (!msg) continue;
            if (msg.event === 'error') throw new APIError(0, JSON.parse(msg.data).error);
            const ev = JSON.parse(msg.data);
            if (ev.id > last) {
              last = ev.id;
              batch.push(ev);
            }
          }
          if (batch.length) fn(batch);
        }
        throw new APIError(0, 'the event stream ended');
      } catch (err) {
        if (ctl.signal.aborted) return;
        if (refused(err)) {
          report(key, null);
          if (onRefused) onRefused(err);
          backoff = 0;
          await sleep(REFUSED_AGAIN, ctl.signal);
          continue;
        }
        report(key, err);
        backoff = nextBackoff(backoff);
        await sleep(backoff, ctl.signal);
      }
    }
  })();
  return () => { ctl.abort(); report(key, null); };
}

// parseSSE reads one server-sent event block; null for a comment (the
// stream's keep-alive).
function parseSSE(block) {
  const msg = {event: 'message', data: ''};
  let any = false;
  for (const line of block.split('\n')) {
    if (!line || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') msg.data += (msg.data ? '\n' : '') + value;
    else if (field === 'event') msg.event = value;
    else if (field === 'id') msg.id = value;
    any = true;
  }
  return any && msg.data ? msg : null;
}

// Paths, so that views do not build URLs by hand.
const enc = encodeURIComponent;
export const paths = {
  leader: () => '/v1/status/leader',
  peers: () => '/v1/status/peers',
  nodes: () => '/v1/nodes',
  services: () => '/v1/services',
  service: (ns, name) => `/v1/services/${enc(ns)}/${enc(name)}`,
  allocations: (ns, name) => (name ? `/v1/allocations?namespace=${enc(ns)}&service=${enc(name)}` : '/v1/allocations'),
  rollout: (ns, name) => `/v1/services/${enc(ns)}/${enc(name)}/rollout`,
  rolloutAction: (ns, name, action) => `/v1/services/${enc(ns)}/${enc(name)}/rollout/${enc(action)}`,
  traffic: (ns, name) => `/v1/services/${enc(ns)}/${enc(name)}/traffic`,
  top: () => '/v1/top/allocations',
};
