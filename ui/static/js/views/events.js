// The events view: the cluster's event stream as it happens, newest
// first, each with its reason, filterable by service and by node (the
// filter is kept in the address, #/events?service=web&node=n2, so it can
// be shared). The stream is the server-sent events of GET /v1/events; the
// filters apply in the page, so that changing them needs no new request.

import {streamEvents} from '../api.js';
import {h, keyed, section, setText} from '../dom.js';
import * as f from '../format.js';
import {eventItem} from './service.js';

const KEEP = 1000;
const SHOWN = 300;

export function mount(el, {query}) {
  document.title = 'Events · Flotilla';
  const filter = {service: query.get('service') || '', node: query.get('node') || ''};
  const serviceSelect = h('select', {id: 'filter-service', 'aria-label': 'service'});
  const nodeSelect = h('select', {id: 'filter-node', 'aria-label': 'node'});
  const count = h('span', {class: 'muted', id: 'events-count'});
  const list = h('ol', {class: 'events', id: 'events'});
  el.append(section('Events',
    h('div', {class: 'filters'},
      h('label', {}, 'Service ', serviceSelect),
      h('label', {}, 'Node ', nodeSelect),
      count),
    list));

  const events = [];
  const services = new Set();
  const nodes = new Set();

  function options(select, values, current, all) {
    const want = ['', ...[...values].sort(f.natural)];
    if (current && !values.has(current)) want.push(current);
    keyed(select, want, v => v, v => h('option', {value: v}, v || all), () => {});
    select.value = current;
  }

  function render() {
    options(serviceSelect, services, filter.service, 'all services');
    options(nodeSelect, nodes, filter.node, 'all nodes');
    const matching = events.filter(e =>
      (!filter.service || (e.service && serviceKey(e) === filter.service)) &&
      (!filter.node || e.node === filter.node));
    keyed(list, matching.slice(-SHOWN).reverse(), e => e.id, eventItem, () => {});
    setText(count, `${matching.length} of the last ${f.count(events.length, 'event')}`);
    el.dataset.ready = 'true';
  }

  function onFilter() {
    filter.service = serviceSelect.value;
    filter.node = nodeSelect.value;
    const q = new URLSearchParams();
    if (filter.service) q.set('service', filter.service);
    if (filter.node) q.set('node', filter.node);
    history.replaceState(null, '', '#/events' + (q.size ? '?' + q : ''));
    render();
  }
  serviceSelect.addEventListener('change', onFilter);
  nodeSelect.addEventListener('change', onFilter);

  let frame = 0;
  const stop = streamEvents({}, batch => {
    for (const e of batch) {
      events.push(e);
      if (e.service) services.add(serviceKey(e));
      if (e.node) nodes.add(e.node);
    }
    if (events.length > KEEP) events.splice(0, events.length - KEEP);
    if (!frame) frame = requestAnimationFrame(() => { frame = 0; render(); });
  });
  render();
  return {stop() { stop(); cancelAnimationFrame(frame); }};
}

// serviceKey names an event's service as the filter does: NAME in the
// default namespace, NAMESPACE/NAME elsewhere.
function serviceKey(e) {
  return e.namespace && e.namespace !== 'default' ? `${e.namespace}/${e.service}` : e.service;
}
