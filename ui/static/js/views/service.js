// The service detail view: the service, its rollout (phase, step, the
// split between revisions, analysis verdicts, and the promote, pause,
// resume, abort, retry and undo buttons, which call the same endpoints as
// `flotilla rollout`), the split and the requests per revision over time,
// autoscaling (metric against target, replicas and forecast over time),
// allocations, endpoints and recent events.
//
// The service, its allocations and its rollout are blocking queries; its
// events come from the event stream; the traffic and usage figures, which
// the leader keeps in memory, are read every 2 s while the view is shown.
// The charts start when the view opens: the API keeps no history of them.

import {connection, every, onConnection, post, paths, settle, streamEvents, watch} from '../api.js';
import {splitBar, timeChart} from '../chart.js';
import {fill, h, keyed, section, setAttr, setText, ticking} from '../dom.js';
import * as f from '../format.js';

const FIGURES_EVERY = 2000;
const KEEP = 10 * 60 * 1000; // how much chart history to keep
const EVENTS_SHOWN = 30;
const ARMED_FOR = 4000; // ms an armed Abort or Undo waits for its second click

export function mount(el, {params: [ns, name]}) {
  document.title = `${name} · Flotilla`;
  const key = `${ns}/${name}`;
  const head = h('div', {class: 'detail-head'}, h('a', {href: '#/services', class: 'back'}, '← Services'), h('h1', {}, name), h('span', {class: 'muted'}, ns));
  const facts = h('dl', {class: 'facts', id: 'service-facts'});
  const rolloutBox = h('div', {id: 'rollout'}, h('p', {class: 'muted'}, 'Loading…'));
  const buttons = h('div', {class: 'actions', id: 'rollout-actions'});
  const result = h('p', {class: 'action-result', id: 'action-result', role: 'status'});
  const analysis = h('div', {id: 'analysis'});
  const splitChart = h('div', {id: 'split-chart'});
  const rpsChart = h('div', {id: 'rps-chart'});
  const revisionFigures = h('div', {id: 'revision-figures'});
  const autoscaleBox = h('div', {id: 'autoscale'});
  const allocTable = h('tbody', {});
  const endpointList = h('tbody', {});
  const eventList = h('ol', {class: 'events compact', id: 'service-events'});

  const autoscalePanel = section('Autoscaling', autoscaleBox);
  autoscalePanel.hidden = true;
  el.append(head, facts, h('div', {class: 'detail-grid'},
    h('div', {class: 'col'},
      section('Rollout', rolloutBox, buttons, result, analysis),
      section('Allocations', h('div', {class: 'table-wrap'}, h('table', {class: 'responsive', id: 'allocations'},
      h('thead', {}, h('tr', {}, ['Allocation', 'Node', 'Revision', 'Status', 'Address', 'Restarts', 'Age'].map(t => h('th', {}, t)))), allocTable))),
      section('Endpoints', h('div', {class: 'table-wrap'}, h('table', {class: 'responsive', id: 'endpoints'},
        h('thead', {}, h('tr', {}, ['Address', 'Node', 'Revision', 'Ready'].map(t => h('th', {}, t)))), endpointList)))),
    h('div', {class: 'col'},
      section('Traffic split over time', splitChart, rpsChart, revisionFigures),
      autoscalePanel,
      section('Recent events', eventList))));

  let svc;
  let rollout;
  let allocs = [];
  let traffic = null;
  let trafficError = null; // the last traffic read failed: why
  let usage = null;
  const history = {split: [], rps: [], autoscale: []};
  const seenRevisions = new Set();
  const events = [];
  const disarm = new Map(); // action -> the timer that disarms its button

  function trim(list) {
    const cutoff = Date.now() - KEEP;
    while (list.length > 2 && list[1].t < cutoff) list.shift();
  }

  function renderFacts() {
    if (svc === null) {
      fill(facts, h('p', {class: 'error'}, `There is no service ${key}.`));
      return;
    }
    if (!svc) return;
    const ports = (svc.spec.ports || []).map(p => `${p.name || p.protocol || 'port'} ${p.port}`).join(', ');
    const pairs = [
      ['Replicas', `${svc.readyReplicas} ready of ${svc.replicas}` + (svc.runningReplicas !== svc.readyReplicas ? ` (${svc.runningReplicas} running)` : '')],
      ['Revision', `r${svc.revision}`],
      ['Strategy', svc.strategy || 'ramped'],
      ['VIP', svc.vip ? `${svc.vip}${ports ? ' · ' + ports : ''}` : 'headless'],
      ['DNS', f.dnsName(svc)],
      ['Image', svc.spec.image],
      ['Health', svc.health + (svc.healthMessage ? `: ${svc.healthMessage}` : '')],
    ];
    if (svc.unplaced) pairs.push(['Unplaced', `${svc.unplaced}: ${svc.placementFailure}`]);
    fill(facts, ...pairs.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v))));
  }

  function renderRollout() {
    if (rollout === undefined) return;
    if (!rollout || !rollout.revision) {
      fill(rolloutBox, h('p', {class: 'muted'}, 'No rollout yet.'));
      renderButtons();
      return;
    }
    const r = rollout;
    const active = r.phase === 'progressing' || r.phase === 'paused';
    const weights = Object.entries(r.weights || {}).map(([rev, w]) => [Number(rev), w]).sort((a, b) => a[0] - b[0]);
    const lines = [
      h('div', {class: 'rollout-head'},
        h('span', {class: `badge phase-${r.phase}`, id: 'rollout-phase', 'data-phase': r.phase}, r.phase),
        ` ${r.strategy} · revision ${r.revision}`, r.stableRevision !== r.revision ? ` over ${r.stableRevision}` : '',
        r.steps > 0 ? [' · ', h('span', {id: 'rollout-step', 'data-step': r.step, 'data-steps': r.steps}, `step ${r.step} of ${r.steps}`)] : null),
      splitBar(r.weights, f.revisionColor),
      h('ul', {class: 'weights', id: 'split'}, weights.map(([rev, w]) =>
        h('li', {'data-revision': rev, 'data-weight': w}, h('i', {class: 'swatch', style: {background: f.revisionColor(rev)}}), `revision ${rev}: `, h('strong', {}, `${w}%`)))),
      r.reason ? h('p', {class: 'reason'}, r.reason) : null,
    ];
    if (r.paused) lines.push(h('p', {class: 'muted'}, 'Paused by hand: resume or promote to go on.'));
    if (active && r.pauseUntil) lines.push(h('p', {class: 'muted'}, `Pause ends at ${f.clock(r.pauseUntil)}.`));
    if (active && r.nextAnalysis) lines.push(h('p', {class: 'muted'}, `Next analysis at ${f.clock(r.nextAnalysis)}.`));
    if (r.previewVIP) lines.push(h('p', {class: 'muted'}, `Preview: ${r.previewVIP}`));
    if (r.ab) lines.push(h('p', {class: 'muted'}, `A/B experiment on ${r.ab.goal || 'its goal'}: ${r.ab.verdict || 'no verdict yet'} after ${f.count(r.ab.looksDone || 0, 'look')}.`));
    if (r.shadow) lines.push(h('p', {class: 'muted'}, `Shadow: ${r.shadow.mirrored} mirrored, ${r.shadow.judged} judged, ${r.shadow.differing} differing (${f.num(100 * r.shadow.diffRate, 2)}%)${r.shadow.learning ? ', still learning the noise' : ''}.`));
    fill(rolloutBox, ...lines);

    const runs = [...(r.analysis || [])].reverse();
    if (!runs.length) {
      fill(analysis);
    } else {
      const rows = runs.map(run => h('tr', {'data-verdict': run.verdict},
        h('td', {'data-label': 'Time'}, f.clock(run.time)),
        h('td', {'data-label': 'Step'}, run.step),
        h('td', {'data-label': 'Verdict'}, h('span', {class: `badge verdict-${run.verdict}`}, run.verdict)),
        h('td', {'data-label': 'Canary'}, figuresText(run.canary)),
        h('td', {'data-label': 'Stable'}, figuresText(run.stable)),
        h('td', {'data-label': 'Why'}, run.metric ? `${run.metric}: ${run.message}` : run.message)));
      const head = h('thead', {}, h('tr', {}, ['Time', 'Step', 'Verdict', 'Canary', 'Stable', 'Why'].map(t => h('th', {}, t))));
      fill(analysis,
        h('h3', {}, `Analysis${r.failures ? ` · ${r.failures} failed` : ''}`),
        h('div', {class: 'table-wrap'}, h('table', {class: 'responsive'}, head, h('tbody', {}, rows))));
    }
    renderButtons();
  }

  // The buttons call POST .../rollout/{action} and .../rollout/undo, as
  // `flotilla rollout promote|pause|resume|abort|retry|undo` do. Abort and
  // undo ask to be clicked twice.
  // They are off while the page cannot follow the cluster: it would act
  // on what it showed before.
  function renderButtons() {
    const conn = connection();
    const r = rollout && rollout.revision ? rollout : null;
    const active = r && (r.phase === 'progressing' || r.phase === 'paused');
    const spec = [
      {action: 'promote', label: 'Promote', enabled: active, body: {}},
      {action: 'promote-full', label: 'Promote fully', enabled: active && r.strategy !== 'ramped', body: {full: true}, path: 'promote'},
      {action: 'pause', label: 'Pause', enabled: active && !r.paused, body: {}},
      {action: 'resume', label: 'Resume', enabled: active && r.paused, body: {}},
      {action: 'abort', label: 'Abort', enabled: active, body: {}, confirm: true},
      {action: 'retry', label: 'Retry', enabled: r && (r.phase === 'aborted' || r.phase === 'failed'), body: {}},
      {action: 'undo', label: 'Undo', enabled: svc && svc.revision > 1, body: {}, confirm: true},
    ];
    keyed(buttons, spec, b => b.action,
      b => h('button', {type: 'button', 'data-action': b.action, class: b.confirm ? 'danger' : null, onclick: () => act(b)}, b.label),
      (btn, b) => {
        btn.disabled = !b.enabled || btn.dataset.busy === 'true' || conn.state !== 'live';
        setAttr(btn, 'title', conn.state !== 'live' ? `not connected: ${conn.why}` : null);
      });
  }

  async function act(b) {
    const btn = buttons.querySelector(`[data-action="${b.action}"]`);
    // Each arming has its own timer: an earlier one, left running, would
    // disarm a button armed again since.
    clearTimeout(disarm.get(b.action));
    disarm.delete(b.action);
    if (b.confirm && btn.dataset.armed !== 'true') {
      btn.dataset.armed = 'true';
      btn.textContent = `Confirm ${b.label.toLowerCase()}`;
      disarm.set(b.action, setTimeout(() => { disarm.delete(b.action); btn.dataset.armed = ''; btn.textContent = b.label; }, ARMED_FOR));
      return;
    }
    btn.dataset.armed = '';
    btn.textContent = b.label;
    btn.dataset.busy = 'true';
    btn.disabled = true;
    setText(result, `${b.label}…`);
    result.dataset.state = 'pending';
    try {
      const path = b.action === 'undo' ? `${paths.service(ns, name)}/rollout/undo` : paths.rolloutAction(ns, name, b.path || b.action);
      const resp = await post(path, b.body);
      setText(result, b.action === 'undo' ? `Rolling back as revision ${resp.revision}.` : `${b.label}: asked (revision ${rollout ? rollout.revision : '?'}).`);
      result.dataset.state = 'ok';
    } catch (err) {
      setText(result, `${b.label} failed: ${err.message}`);
      result.dataset.state = 'error';
    } finally {
      btn.dataset.busy = '';
      renderButtons();
    }
  }

  function sampleSplit() {
    if (!rollout || !rollout.weights) return;
    for (const rev of Object.keys(rollout.weights)) seenRevisions.add(Number(rev));
    if (!history.split.length) seedSplit(rollout);
    history.split.push({t: Date.now(), weights: {...rollout.weights}});
    trim(history.split);
  }

  // seedSplit starts the chart with what the rollout itself says of its
  // past: the current weights since its step took effect and, while on
  // its first step, all traffic on the stable revision since it started.
  // Steps before the current one are not kept by the API.
  function seedSplit(r) {
    const start = Date.parse(r.startTime);
    const step = Date.parse(r.stepTime);
    if (r.step <= 1 && start > 0 && r.stableRevision && r.stableRevision !== r.revision) {
      seenRevisions.add(r.stableRevision);
      history.split.push({t: start, weights: {[r.stableRevision]: 100}});
    }
    if (step > 0 && step <= Date.now()) history.split.push({t: step, weights: {...r.weights}});
  }

  function renderCharts() {
    const revs = [...seenRevisions].sort((a, b) => a - b);
    fill(splitChart, timeChart({
      title: 'Traffic weight per revision (%)', stacked: true, yMax: 100, unit: '%',
      series: revs.map(rev => ({label: `r${rev}`, color: f.revisionColor(rev), points: history.split.map(s => [s.t, s.weights[rev] || 0])})),
    }));
    fill(rpsChart, timeChart({
      title: 'Requests per second per revision, as the proxies counted them', height: 140,
      series: revs.map(rev => ({label: `r${rev}`, color: f.revisionColor(rev), points: history.rps.filter(s => rev in s.rps).map(s => [s.t, s.rps[rev]])})),
    }));
  }

  function renderFigures() {
    if (trafficError) {
      // Not "no requests": the figures could not be read.
      fill(revisionFigures, h('p', {class: 'error', id: 'figures-unavailable'}, `Figures unavailable (${trafficError.message}).`));
      return;
    }
    const window = traffic && traffic.windows && traffic.windows.length ? traffic.windows[0] : null;
    if (!window || !window.revisions.length) {
      fill(revisionFigures, h('p', {class: 'muted'}, 'No requests counted yet.'));
      return;
    }
    fill(revisionFigures, h('div', {class: 'table-wrap'}, h('table', {class: 'responsive figures'},
      h('caption', {}, `over the last ${window.window}`),
      h('thead', {}, h('tr', {}, ['Revision', 'Requests/s', 'Errors', 'p50', 'p99', 'In flight'].map(t => h('th', {}, t)))),
      h('tbody', {}, [...window.revisions].sort((a, b) => a.revision - b.revision).map(r => h('tr', {'data-revision': r.revision},
        h('td', {'data-label': 'Revision'}, h('i', {class: 'swatch', style: {background: f.revisionColor(r.revision)}}), `r${r.revision}`),
        h('td', {'data-label': 'Requests/s'}, f.num(r.rps)),
        h('td', {'data-label': 'Errors'}, `${f.num(100 * r.errorRate, 2)}%`),
        h('td', {'data-label': 'p50'}, f.ms(r.p50Ms)),
        h('td', {'data-label': 'p99'}, f.ms(r.p99Ms)),
        h('td', {'data-label': 'In flight'}, r.inFlight)))))));
  }

  // metricNow is the autoscaling metric per replica as the figures read
  // now: what the autoscaler compares with its target.
  function metricNow(a) {
    const window = traffic && traffic.windows && traffic.windows.length ? traffic.windows[0] : null;
    const ready = Math.max(svc.readyReplicas, 1);
    if (a.metric === 'rps' || a.metric === 'inflight') {
      if (!window || !window.revisions.length) return null;
      const total = window.revisions.reduce((sum, r) => sum + (a.metric === 'rps' ? r.rps : r.inFlight), 0);
      return total / ready;
    }
    const mine = (usage && usage.allocations || []).filter(u => u.namespace === ns && u.service === name && u.at);
    if (!mine.length) return null;
    const shares = mine.map(u => a.metric === 'cpu'
      ? 100 * f.parseCPU(u.cpu) / Math.max(f.parseCPU(u.reserved.cpu), 1)
      : 100 * f.parseMemory(u.memory) / Math.max(f.parseMemory(u.reserved.memory), 1));
    return shares.reduce((x, y) => x + y, 0) / shares.length;
  }

  function sampleAutoscale() {
    const a = svc && svc.spec.autoscale;
    if (!a) return;
    const forecast = ((usage && usage.forecasts) || []).find(fc => fc.namespace === ns && fc.service === name);
    // The autoscaler's last change is the one past count the API keeps.
    const change = svc.autoscaled;
    if (!history.autoscale.length && change && Date.parse(change.time) > 0) {
      const t = Date.parse(change.time);
      history.autoscale.push({t: t - 1, replicas: change.from}, {t, replicas: change.to});
    }
    history.autoscale.push({
      t: Date.now(), replicas: svc.replicas, ready: svc.readyReplicas, metric: metricNow(a), target: a.target,
      forecastReplicas: forecast && a.target > 0 ? Math.min(a.max, Math.max(a.min, Math.ceil(forecast.forecast / a.target))) : null,
      forecast,
    });
    trim(history.autoscale);
  }

  function renderAutoscale() {
    const a = svc && svc.spec.autoscale;
    autoscalePanel.hidden = !a;
    if (!a) return;
    const unit = a.metric === 'cpu' || a.metric === 'memory' ? '%' : '';
    const last = history.autoscale[history.autoscale.length - 1];
    const change = svc.autoscaled;
    const lines = [
      h('p', {id: 'autoscale-state'}, `${a.metric} per replica: `, h('strong', {}, last && last.metric !== null ? `${f.num(last.metric)}${unit}` : '–'),
        ` against a target of ${a.target}${unit} · ${f.count(svc.replicas, 'replica')} (${a.min}–${a.max})`),
      change ? h('p', {class: 'muted'}, `Last change ${change.from} → ${change.to} `, h('span', {'data-since': change.time}, f.ago(change.time)), `: ${change.reason}`) : h('p', {class: 'muted'}, 'No change made yet.'),
    ];
    if (last && last.forecast) lines.push(h('p', {class: 'muted'}, `Forecast: ${f.num(last.forecast.forecast)} in ${last.forecast.lookahead} (observed ${f.num(last.forecast.observed)}), about ${f.count(last.forecastReplicas, 'replica')}.`));
    const points = key => history.autoscale.filter(s => s[key] !== null && s[key] !== undefined).map(s => [s.t, s[key]]);
    lines.push(timeChart({
      title: `${a.metric} per replica against the target`, height: 140, unit,
      series: [{label: a.metric, color: '#2563eb', points: points('metric')}, {label: 'target', color: '#ef4444', dash: '5 4', step: true, points: points('target')}],
    }));
    lines.push(timeChart({
      title: 'Replicas', height: 140,
      series: [
        {label: 'desired', color: '#8b5cf6', step: true, points: points('replicas')},
        {label: 'ready', color: '#10b981', step: true, points: points('ready')},
        {label: 'forecast', color: '#f59e0b', dash: '2 3', step: true, points: points('forecastReplicas')},
      ],
    }));
    fill(autoscaleBox, ...lines);
  }

  function renderAllocations() {
    const live = allocs.filter(f.placed);
    const done = allocs.filter(a => !f.placed(a)).sort((a, b) => b.modifyIndex - a.modifyIndex).slice(0, 10);
    const rows = [...live.sort((a, b) => b.revision - a.revision || f.natural(a.node, b.node)), ...done];
    keyed(allocTable, rows, a => a.id, () => h('tr', {}, ...['Allocation', 'Node', 'Revision', 'Status', 'Address', 'Restarts', 'Age'].map(l => h('td', {'data-label': l}))),
      (tr, a) => {
        setAttr(tr, 'data-alloc', a.id);
        setAttr(tr, 'data-status', a.status);
        setAttr(tr, 'class', f.placed(a) ? null : 'gone');
        const [id, node, rev, status, address, restarts, age] = tr.children;
        setText(id, f.shortID(a.id));
        setAttr(id, 'title', a.id);
        setText(node, a.node);
        setText(rev, `r${a.revision}`);
        setText(status, `${a.status}${a.ready ? ', ready' : ''}${a.desiredStatus === 'stop' && a.desiredReason ? ` (${a.desiredReason})` : ''}`);
        setText(address, a.address || '-');
        setText(restarts, a.restarts);
        setAttr(age, 'data-since', a.createTime);
        setText(age, f.ago(a.createTime));
      });
    const ports = (svc && svc.spec.ports) || [];
    const eps = live.filter(a => a.status === 'running' && a.address);
    keyed(endpointList, eps, a => a.id, () => h('tr', {}, ...['Address', 'Node', 'Revision', 'Ready'].map(l => h('td', {'data-label': l}))),
      (tr, a) => {
        const [addr, node, rev, ready] = tr.children;
        // An allocation's address is IP:PORT of its first port.
        const ip = a.address.replace(/:\d+$/, '');
        setText(addr, ports.length ? ports.map(p => `${ip}:${p.port}`).join(', ') : a.address);
        setText(node, a.node);
        setText(rev, `r${a.revision}`);
        setText(ready, a.ready ? 'ready' : 'not ready');
        setAttr(tr, 'data-ready', a.ready ? 'true' : 'false');
      });
  }

  function renderEvents() {
    keyed(eventList, events.slice(-EVENTS_SHOWN).reverse(), e => e.id, eventItem, () => {});
  }

  async function refreshFigures(signal) {
    const wantUsage = svc && svc.spec.autoscale && (svc.spec.autoscale.metric === 'cpu' || svc.spec.autoscale.metric === 'memory' || svc.spec.autoscale.forecast);
    const [t, u] = await Promise.all([settle(paths.traffic(ns, name), signal), wantUsage ? settle(paths.top(), signal) : {value: null}]);
    traffic = t.value || null;
    trafficError = t.err || null;
    usage = u.value || null;
    const window = traffic && traffic.windows && traffic.windows.length ? traffic.windows[0] : null;
    if (window) {
      const rps = {};
      for (const r of window.revisions) {
        rps[r.revision] = r.rps;
        seenRevisions.add(r.revision);
      }
      history.rps.push({t: Date.now(), rps});
      trim(history.rps);
    }
    sampleAutoscale();
    renderFigures();
    renderCharts();
    renderAutoscale();
    if (t.err || u.err) throw t.err || u.err; // the connection's state counts it
  }

  const stops = [
    watch(paths.service(ns, name), v => { svc = v; renderFacts(); renderButtons(); renderAutoscale(); renderAllocations(); }, {onRefused: () => {
      fill(facts, h('p', {class: 'error', id: 'service-refused'}, `${key}: not readable with this token (needs read in namespace ${ns}).`));
    }}),
    watch(paths.allocations(ns, name), v => { allocs = v || []; renderAllocations(); }),
    watch(paths.rollout(ns, name), v => { rollout = v; sampleSplit(); renderRollout(); renderCharts(); el.dataset.ready = 'true'; }, {onRefused: () => {
      fill(rolloutBox, h('p', {class: 'error'}, `The rollout: not readable with this token (needs read in namespace ${ns}).`));
      el.dataset.ready = 'true';
    }}),
    streamEvents({namespace: ns, service: name}, batch => {
      events.push(...batch);
      if (events.length > 200) events.splice(0, events.length - 200);
      renderEvents();
    }),
    every(FIGURES_EVERY, refreshFigures),
    ticking(el, t => f.ago(t)),
    onConnection(() => renderButtons()),
  ];
  return {stop() { stops.forEach(stop => stop()); disarm.forEach(t => clearTimeout(t)); }};
}

function figuresText(fig) {
  if (!fig || !fig.requests) return '-';
  return `r${fig.revision}: ${fig.requests} req, ${f.num(100 * fig.errorRate, 1)}% err, p99 ${f.ms(fig.p99Ms)}`;
}

// eventItem is one event as the lists show it: when, what, where, why.
export function eventItem(e) {
  const where = [e.service ? `${e.namespace && e.namespace !== 'default' ? e.namespace + '/' : ''}${e.service}` : '', e.node, e.allocation ? f.shortID(e.allocation) : '']
    .filter(Boolean).join(' · ');
  return h('li', {'data-event': e.id, 'data-type': e.type, 'data-kind': eventKind(e.type)},
    h('time', {datetime: e.time, title: e.time}, f.clock(e.time)),
    h('span', {class: 'type'}, e.type),
    where ? h('span', {class: 'where'}, where) : null,
    h('span', {class: 'message'}, e.message));
}

// eventKind sorts event types into how alarming they are.
export function eventKind(type) {
  if (/Failed|Lost|Unhealthy|Aborted|Killed/.test(type)) return 'bad';
  if (/Stopped|Paused|Drained|Eligibility|NodeStatus/.test(type)) return 'warn';
  return 'ok';
}
