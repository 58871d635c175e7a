// The services view: one row per service with its replicas (ready of
// desired), revision, rollout, VIP, DNS name, the traffic of each revision
// (requests/s, error %, p99 over the proxies' shortest window) and the
// autoscaler's state. The list is a blocking query. The traffic figures,
// which the leader keeps, are read on a timer for the rows on screen only;
// a rollout (there is no list of them to follow) is read when its service
// changes, every 5 s while it moves, and every minute otherwise. No
// service is read more than once per 5 s.

import {every, paths, settle, watch} from '../api.js';
import {fill, h, keyed, section, setAttr, setText, ticking} from '../dom.js';
import * as f from '../format.js';

const FIGURES_EVERY = 5000; // the least time between two reads of one service's traffic or rollout
const SETTLED_EVERY = 60000; // a rollout that does not move (completed, aborted, none)
const TICK = 1000; // how often what is due is looked for

export function mount(el) {
  document.title = 'Services · Flotilla';
  const body = h('tbody', {});
  const empty = h('p', {class: 'muted'}, 'Loading…');
  const table = h('table', {class: 'services responsive', id: 'services'},
    h('thead', {}, h('tr', {}, ['Service', 'Ready', 'Revision', 'Rollout', 'Address', 'Traffic per revision', 'Autoscaler'].map(t => h('th', {}, t)))),
    body);
  el.append(section('Services', empty, h('div', {class: 'table-wrap'}, table)));

  let services = null;
  // key -> {traffic, trafficError, trafficAt, rollout, rolloutError,
  // rolloutAt, version: the service's revision and modifyIndex when its
  // rollout was read}
  const figures = new Map();

  // The rows on screen: only their traffic is read.
  const onScreen = new Set();
  const observer = new IntersectionObserver(entries => {
    for (const e of entries) {
      if (e.isIntersecting) onScreen.add(e.target.dataset.service); else onScreen.delete(e.target.dataset.service);
    }
  });

  function render() {
    if (!services) return;
    setText(empty, services.length ? '' : 'No services yet: flotilla apply -f scenarios/examples/web.yaml');
    empty.hidden = services.length > 0;
    const sorted = [...services].sort((a, b) => f.natural(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`));
    keyed(body, sorted, svc => `${svc.namespace}/${svc.name}`,
      svc => { const tr = createRow(svc); observer.observe(tr); return tr; },
      (tr, svc) => updateRow(tr, svc, figures.get(`${svc.namespace}/${svc.name}`) || {}),
      tr => { observer.unobserve(tr); onScreen.delete(tr.dataset.service); figures.delete(tr.dataset.service); tr.remove(); });
    el.dataset.ready = 'true';
  }

  // refreshFigures reads what is due, one service after the other. A read
  // that fails is said in its cell (and counts in the connection's state
  // while it is on screen); the rollout last read stays, marked as such.
  async function refreshFigures(signal) {
    let read = false;
    for (const svc of services || []) {
      if (signal.aborted) return;
      const key = `${svc.namespace}/${svc.name}`;
      const fig = figures.get(key) || {};
      const now = Date.now();
      const version = `${svc.revision}/${svc.modifyIndex}`;
      const moving = fig.rollout && (fig.rollout.phase === 'progressing' || fig.rollout.phase === 'paused');
      const rolloutSince = now - (fig.rolloutAt || 0);
      const wantRollout = rolloutSince >= FIGURES_EVERY &&
        (fig.version !== version || moving || fig.rolloutError || rolloutSince >= SETTLED_EVERY);
      const wantTraffic = onScreen.has(key) && now - (fig.trafficAt || 0) >= FIGURES_EVERY;
      if (!wantRollout && !wantTraffic) continue;
      read = true;
      const [traffic, rollout] = await Promise.all([
        wantTraffic ? settle(paths.traffic(svc.namespace, svc.name), signal) : null,
        wantRollout ? settle(paths.rollout(svc.namespace, svc.name), signal) : null,
      ]);
      const next = {...fig};
      if (traffic) Object.assign(next, {traffic: traffic.err ? null : traffic.value, trafficError: traffic.err || null, trafficAt: now});
      if (rollout) Object.assign(next, {rollout: rollout.err ? fig.rollout : rollout.value, rolloutError: rollout.err || null, rolloutAt: now, version});
      figures.set(key, next);
    }
    if (read) render();
    for (const [key, fig] of figures) {
      const failed = fig.rolloutError || (onScreen.has(key) && fig.trafficError);
      if (failed) throw failed;
    }
  }

  const stops = [
    watch(paths.services(), v => { services = v || []; render(); }),
    every(TICK, refreshFigures),
    ticking(el, t => f.ago(t)),
  ];
  return {stop() { stops.forEach(stop => stop()); observer.disconnect(); }};
}

function cell(label, cls) { return h('td', {'data-label': label, class: cls || null}); }

function createRow(svc) {
  return h('tr', {'data-service': `${svc.namespace}/${svc.name}`},
    cell('Service', 'name'), cell('Ready', 'ready'), cell('Revision', 'revision'), cell('Rollout', 'rollout'),
    cell('Address', 'address'), cell('Traffic', 'traffic'), cell('Autoscaler', 'autoscale'));
}

function updateRow(tr, svc, {traffic, rollout, trafficError, rolloutError}) {
  const [name, ready, revision, roll, address, figures, autoscale] = tr.children;
  const href = `#/services/${encodeURIComponent(svc.namespace)}/${encodeURIComponent(svc.name)}`;
  fill(name,
    h('a', {href}, h('i', {class: 'swatch', style: {'--hue': f.serviceHue(`${svc.namespace}/${svc.name}`)}}), svc.name),
    svc.namespace !== 'default' ? h('span', {class: 'muted'}, ` ${svc.namespace}`) : null,
    svc.health && svc.health !== 'healthy' ? [' ', h('span', {class: 'badge warn', title: svc.healthMessage || ''}, svc.health)] : null);
  setAttr(tr, 'data-health', svc.health || 'healthy');
  fill(ready,
    h('strong', {}, `${svc.readyReplicas}/${svc.replicas}`),
    svc.runningReplicas !== svc.readyReplicas ? h('span', {class: 'muted'}, ` (${svc.runningReplicas} running)`) : null,
    svc.unplaced ? h('div', {class: 'error', title: svc.placementFailure || ''}, `${svc.unplaced} unplaced`) : null);
  setText(revision, `r${svc.revision}`);

  const strategy = svc.strategy || 'ramped';
  const rolloutFailed = rolloutError ? h('div', {class: 'error', 'data-unavailable': 'rollout'}, `not updated (${rolloutError.message})`) : null;
  if (rollout && rollout.revision) {
    const active = rollout.phase === 'progressing' || rollout.phase === 'paused';
    const weights = Object.entries(rollout.weights || {}).map(([r, w]) => `r${r} ${w}%`).join(' · ');
    fill(roll,
      h('div', {}, strategy, ' ', h('span', {class: `badge phase-${rollout.phase}`}, rollout.phase)),
      active ? h('div', {class: 'muted'}, `step ${rollout.step}/${rollout.steps}${weights ? ' · ' + weights : ''}`) : null,
      rolloutFailed);
  } else {
    fill(roll, strategy, rolloutFailed);
  }

  const ports = (svc.spec.ports || []).map(p => p.port);
  fill(address,
    h('div', {}, svc.vip ? `${svc.vip}${ports.length ? ':' + ports.join(',') : ''}` : 'headless'),
    h('div', {class: 'muted mono'}, f.dnsName(svc)));

  const window = traffic && traffic.windows && traffic.windows.length ? traffic.windows[0] : null;
  const revs = window ? [...window.revisions].sort((a, b) => a.revision - b.revision) : [];
  fill(figures, ...(revs.length ? revs.map(r => h('div', {'data-revision': r.revision},
    h('span', {class: 'rev'}, `r${r.revision}`), ` ${f.num(r.rps)} rps · ${f.num(100 * r.errorRate, 2)}% err · p99 ${f.ms(r.p99Ms)}`))
    : [trafficError ? h('span', {class: 'error', 'data-unavailable': 'traffic'}, `figures unavailable (${trafficError.message})`)
      : h('span', {class: 'muted'}, traffic ? 'no requests' : '…')]));
  if (window) setAttr(figures, 'title', `over the last ${window.window}`);

  const a = svc.spec.autoscale;
  if (a) {
    const unit = a.metric === 'cpu' || a.metric === 'memory' ? '%' : '';
    const last = svc.autoscaled;
    fill(autoscale,
      h('div', {}, `${a.metric} → ${a.target}${unit} per replica`),
      h('div', {class: 'muted'}, `${a.min}–${a.max} replicas`),
      last ? h('div', {class: 'muted', title: last.reason}, `${last.from}→${last.to} `, h('span', {'data-since': last.time}, f.ago(last.time))) : null);
  } else {
    fill(autoscale, h('span', {class: 'muted'}, 'off'));
  }
}
