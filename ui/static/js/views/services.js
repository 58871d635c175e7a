// The services view: one row per service with its replicas (ready of
// desired), revision, rollout, VIP, DNS name, the traffic of each revision
// (requests/s, error %, p99 over the proxies' shortest window) and the
// autoscaler's state. The list is a blocking query; the traffic figures
// and rollouts, which the leader keeps, are read on a timer while the view
// is shown, one service after the other.

import {every, paths, settle, watch} from '../api.js';
import {fill, h, keyed, section, setAttr, setText, ticking} from '../dom.js';
import * as f from '../format.js';

const FIGURES_EVERY = 5000;

export function mount(el) {
  document.title = 'Services · Flotilla';
  const body = h('tbody', {});
  const empty = h('p', {class: 'muted'}, 'Loading…');
  const table = h('table', {class: 'services responsive', id: 'services'},
    h('thead', {}, h('tr', {}, ['Service', 'Ready', 'Revision', 'Rollout', 'Address', 'Traffic per revision', 'Autoscaler'].map(t => h('th', {}, t)))),
    body);
  el.append(section('Services', empty, h('div', {class: 'table-wrap'}, table)));

  let services = null;
  const figures = new Map(); // key -> {traffic, rollout, trafficError, rolloutError}

  function render() {
    if (!services) return;
    setText(empty, services.length ? '' : 'No services yet: flotilla apply -f scenarios/examples/web.yaml');
    empty.hidden = services.length > 0;
    const sorted = [...services].sort((a, b) => f.natural(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`));
    keyed(body, sorted, svc => `${svc.namespace}/${svc.name}`, createRow, (tr, svc) => updateRow(tr, svc, figures.get(`${svc.namespace}/${svc.name}`) || {}));
    el.dataset.ready = 'true';
  }

  // A read that fails is said in its cell (and counts in the
  // connection's state); the rollout last read stays, marked as such.
  async function refreshFigures(signal) {
    let failed = null;
    for (const svc of services || []) {
      if (signal.aborted) return;
      const key = `${svc.namespace}/${svc.name}`;
      const [traffic, rollout] = await Promise.all([
        settle(paths.traffic(svc.namespace, svc.name), signal),
        settle(paths.rollout(svc.namespace, svc.name), signal),
      ]);
      const before = figures.get(key) || {};
      figures.set(key, {
        traffic: traffic.err ? null : traffic.value, trafficError: traffic.err || null,
        rollout: rollout.err ? before.rollout : rollout.value, rolloutError: rollout.err || null,
      });
      failed = failed || traffic.err || rollout.err;
    }
    render();
    if (failed) throw failed;
  }

  const stops = [
    watch(paths.services(), v => { services = v || []; render(); }),
    every(FIGURES_EVERY, refreshFigures),
    ticking(el, t => f.ago(t)),
  ];
  return {stop() { stops.forEach(stop => stop()); }};
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
