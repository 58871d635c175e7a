// The cluster view: the servers (who leads, each Raft peer and whether it
// answers) and every node with its status, eligibility, what its
// allocations reserve against its capacity, and the allocations
// themselves as blocks, one colour per service. Nodes and allocations are
// followed with blocking queries, so a block appears, disappears or moves
// (a replacement flies in from the allocation it replaces) as soon as the
// scheduler acts; a node that goes down turns red.

import {every, get, paths, watch} from '../api.js';
import {fill, h, keyed, section, setAttr, setText} from '../dom.js';
import * as f from '../format.js';

// The servers' status has no index to block on: it is read on a timer.
const SERVERS_EVERY = 5000;

export function mount(el) {
  document.title = 'Cluster · Flotilla';
  const servers = h('div', {class: 'servers', id: 'servers'}, h('p', {class: 'muted'}, 'Loading…'));
  const summary = h('p', {class: 'summary', id: 'cluster-summary'}, 'Loading…');
  const legend = h('div', {class: 'legend', id: 'service-legend'});
  const grid = h('div', {class: 'nodes', id: 'nodes'});
  const nodesRefused = h('p', {class: 'error', id: 'nodes-refused', hidden: true});
  el.append(section('Servers', servers), section('Nodes', nodesRefused, summary, legend, grid));

  let nodes = null;
  let allocs = null;
  let services = null;
  let first = true;
  let frame = 0;
  const schedule = () => { if (!frame) frame = requestAnimationFrame(render); };

  function render() {
    frame = 0;
    if (!nodes || !allocs) return;
    // Where every block is now, so that a replacement can fly in from
    // the allocation it replaces.
    const before = new Map();
    if (!first) for (const b of grid.querySelectorAll('.alloc:not([data-leaving])')) before.set(b.dataset.key, b.getBoundingClientRect());

    const live = allocs.filter(f.placed);
    const byNode = new Map();
    for (const a of live) {
      if (!byNode.has(a.node)) byNode.set(a.node, []);
      byNode.get(a.node).push(a);
    }
    const created = [];
    const sorted = [...nodes].sort((a, b) => f.natural(a.name, b.name));
    keyed(grid, sorted, n => n.name, createNode, (card, n) => updateNode(card, n, byNode.get(n.name) || [], created, first));

    const ready = nodes.filter(n => n.status === 'ready').length;
    const running = live.filter(a => a.status === 'running').length;
    const keys = [...new Set(live.map(a => `${a.namespace}/${a.service}`))].sort(f.natural);
    // Services are counted from their list: those with nothing placed
    // (scaled to 0, unplaceable) are services too.
    setText(summary, [
      nodesRefused.hidden ? `${f.count(nodes.length, 'node')}, ${ready} ready` : null,
      `${f.count(live.length, 'allocation')} placed, ${running} running`,
      services ? f.count(services.length, 'service') : null,
    ].filter(Boolean).join(' · '));
    keyed(legend, keys, k => k, k => {
      const [ns, name] = k.split('/');
      return h('a', {href: `#/services/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`}, h('i', {class: 'swatch', style: {'--hue': f.serviceHue(k)}}), ns === 'default' ? name : k);
    }, () => {});

    for (const {el: block, alloc} of created) {
      const from = alloc.previousAllocation && before.get(alloc.previousAllocation);
      if (!from) continue;
      const to = block.getBoundingClientRect();
      block.animate([{transform: `translate(${from.left - to.left}px, ${from.top - to.top}px)`}, {transform: 'none'}],
        {duration: 700, easing: 'cubic-bezier(.2,.7,.3,1)'});
    }
    if (first) {
      first = false;
      el.dataset.ready = 'true';
      // The cluster view's first paint, for the benchmark in
      // docs/BENCHMARKS.md: rendered now, painted once the frame is out.
      performance.mark('flotilla:cluster-rendered');
      requestAnimationFrame(() => setTimeout(() => performance.mark('flotilla:cluster-painted'), 0));
    }
  }

  async function loadServers(signal) {
    try {
      const [leader, peers] = await Promise.all([get(paths.leader(), {signal}), get(paths.peers(), {signal})]);
      renderServers(servers, leader, peers);
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      fill(servers, h('p', {class: 'error'}, `Cannot read the servers' status: ${err.message}`));
      throw err; // the connection's state counts it
    }
  }

  const stops = [
    watch(paths.nodes(), v => { nodes = v || []; nodesRefused.hidden = true; schedule(); }, {onRefused: () => {
      // What the token may not read is not listed: the panel says so.
      nodes = [];
      setText(nodesRefused, 'Nodes: not readable with this token (needs node read).');
      nodesRefused.hidden = false;
      schedule();
    }}),
    watch(paths.allocations(), v => { allocs = v || []; schedule(); }),
    watch(paths.services(), v => { services = v || []; schedule(); }),
    every(SERVERS_EVERY, loadServers),
  ];
  return {stop() { stops.forEach(stop => stop()); cancelAnimationFrame(frame); }};
}

function renderServers(box, leader, peers) {
  const here = location.host;
  const cards = [...peers].sort((a, b) => f.natural(a.id, b.id));
  if (!cards.length) {
    fill(box, h('p', {class: 'muted'}, leader.leader ? `Leader: ${leader.leader}` : 'No leader known (an election is in progress or there is no quorum).'));
    return;
  }
  fill(box, ...cards.map(p => {
    const role = p.leader ? 'leader' : 'follower';
    let contact = '';
    if (!p.leader && p.lastContact) contact = `heard from the leader ${f.duration(f.goDuration(p.lastContact))} ago`;
    return h('article', {class: 'server', 'data-server': p.id, 'data-role': role, 'data-status': p.status || 'unknown'},
      h('header', {}, h('h3', {}, p.id), h('span', {class: `badge role-${role}`}, role), p.http === here ? h('span', {class: 'badge', title: 'this page is served by this server'}, 'this page') : null),
      h('div', {class: 'meta'}, `raft ${p.address}`, p.http ? ` · http ${p.http}` : ''),
      h('div', {class: `meta status-${p.status || 'unknown'}`}, p.status || 'unknown', p.status === 'alive' && !p.knownLeader ? ', knows no leader' : '', contact ? ` · ${contact}` : '', p.error ? ` · ${p.error}` : ''));
  }));
  if (!leader.leader) box.prepend(h('p', {class: 'error'}, 'No leader: writes wait for an election.'));
}

function createNode(n) {
  const card = h('article', {class: 'node', 'data-node': n.name},
    h('header', {}, h('h3', {}, n.name), h('span', {class: 'badge status'}), h('span', {class: 'badge elig'})),
    h('div', {class: 'meta'}),
    h('div', {class: 'status-message'}),
    resourceRow('CPU'),
    resourceRow('Memory'),
    h('div', {class: 'allocs', 'aria-label': `allocations on ${n.name}`}));
  return card;
}

function resourceRow(label) {
  return h('div', {class: 'res'}, h('span', {class: 'res-label'}, label), h('span', {class: 'bar'}, h('span', {class: 'fill'})), h('span', {class: 'res-value'}));
}

function updateNode(card, n, allocs, created, first) {
  setAttr(card, 'data-status', n.status);
  setAttr(card, 'data-eligible', n.eligible ? 'true' : 'false');
  setAttr(card, 'data-unreachable', n.unreachable ? 'true' : null);
  const [status, elig] = card.querySelectorAll('header .badge');
  setText(status, n.unreachable && n.status === 'ready' ? 'unreachable' : n.status);
  setText(elig, n.eligible ? 'eligible' : 'ineligible');
  setText(card.querySelector('.meta'), [n.runtime, n.subnet || n.address, f.count(allocs.length, 'allocation')].filter(Boolean).join(' · '));
  // Why a node is not ready, cut off or ineligible ("drained"), as the
  // server says.
  const why = card.querySelector('.status-message');
  const message = n.status !== 'ready' || n.unreachable || !n.eligible ? n.statusMessage || '' : '';
  setText(why, message ? `${message} (since ${f.clock(n.statusTime)})` : '');
  why.hidden = !message;
  const [cpuRow, memRow] = card.querySelectorAll('.res');
  fillRow(cpuRow, f.parseCPU(n.allocated.cpu), f.parseCPU(n.capacity.cpu), f.cpu);
  fillRow(memRow, f.parseMemory(n.allocated.memory), f.parseMemory(n.capacity.memory), f.bytes);

  allocs.sort((a, b) => f.natural(`${a.namespace}/${a.service}/${a.createIndex}`, `${b.namespace}/${b.service}/${b.createIndex}`) || (a.id < b.id ? -1 : 1));
  keyed(card.querySelector('.allocs'), allocs, a => a.id,
    a => {
      const el = h('a', {class: 'alloc', href: `#/services/${encodeURIComponent(a.namespace)}/${encodeURIComponent(a.service)}`});
      el.style.setProperty('--hue', f.serviceHue(`${a.namespace}/${a.service}`));
      if (!first) el.classList.add('entering');
      created.push({el, alloc: a});
      return el;
    },
    (el, a) => {
      setAttr(el, 'data-alloc', a.id);
      setAttr(el, 'data-service', `${a.namespace}/${a.service}`);
      setAttr(el, 'data-node', a.node);
      setAttr(el, 'data-status', a.status);
      setAttr(el, 'data-ready', a.ready ? 'true' : 'false');
      setAttr(el, 'title', `${a.service} (revision ${a.revision}) · ${a.status}${a.ready ? ', ready' : ''} · ${a.id}${a.address ? ' · ' + a.address : ''}`);
    },
    el => {
      el.dataset.leaving = 'true';
      el.classList.add('leaving');
      el.animate([{opacity: 1, transform: 'scale(1)'}, {opacity: 0, transform: 'scale(0.2)'}], {duration: 450, easing: 'ease-in'})
        .finished.then(() => el.remove(), () => el.remove());
    });
}

function fillRow(row, used, capacity, fmt) {
  const share = f.pct(used, capacity);
  const fill = row.querySelector('.fill');
  fill.style.width = `${Math.min(share, 100)}%`;
  setAttr(fill, 'data-level', share >= 90 ? 'high' : share >= 70 ? 'mid' : 'low');
  setText(row.querySelector('.res-value'), `${fmt(used)} / ${fmt(capacity)} (${share}%)`);
}
