// The shell: routes the location hash to a view, shows the connection's
// state, and asks for an ACL token when the servers refuse a request. A view is a module with
// mount(element, {params, query}) returning {stop()}; stop ends the view's
// watches, so that only what is on screen holds a connection.

import {onConnection, onUnauthorized, setTokenProvider} from './api.js';
import {h, fill, section, setText} from './dom.js';
import {clock} from './format.js';
import * as cluster from './views/cluster.js';
import * as services from './views/services.js';
import * as service from './views/service.js';
import * as events from './views/events.js';

const routes = [
  {pattern: /^\/cluster$/, view: cluster, nav: 'cluster'},
  {pattern: /^\/services$/, view: services, nav: 'services'},
  {pattern: /^\/services\/([^/]+)\/([^/]+)$/, view: service, nav: 'services'},
  {pattern: /^\/events$/, view: events, nav: 'events'},
];

const main = document.getElementById('view');
const conn = document.getElementById('conn');
const banner = document.getElementById('banner');
const stale = document.getElementById('stale');
let current = null;

function route() {
  const hash = location.hash.replace(/^#/, '').replace(/^\/?$/, '/cluster');
  const [path, query = ''] = hash.split('?');
  let match = null;
  let found = null;
  for (const r of routes) {
    match = r.pattern.exec(path);
    if (match) {
      found = r;
      break;
    }
  }
  if (current) current.stop();
  current = null;
  main.replaceChildren();
  // A name in the address is percent-encoded: a malformed one (a cut
  // link, a hand-typed %) is a bad address, not an exception.
  let params = null;
  let bad = '';
  if (found) {
    try {
      params = match.slice(1).map(decodeURIComponent);
    } catch (err) {
      bad = err.message;
    }
  }
  for (const a of document.querySelectorAll('#nav a')) a.toggleAttribute('aria-current', Boolean(found) && !bad && a.dataset.view === found.nav);
  if (!params) {
    main.dataset.view = 'not-found';
    current = notFound(main, hash, bad);
    return;
  }
  main.dataset.view = found.nav;
  current = found.view.mount(main, {params, query: new URLSearchParams(query)});
}

// notFound is the view for an address the dashboard has no view for, or
// one it cannot read.
function notFound(el, hash, bad) {
  document.title = `${bad ? 'Bad address' : 'Not found'} · Flotilla`;
  el.append(section(bad ? 'Bad address' : 'Not found',
    h('p', {id: 'not-found'}, bad ? `The address #${hash} cannot be read (${bad}).` : `There is no page at #${hash}.`),
    h('p', {}, h('a', {href: '#/cluster'}, 'Cluster'), ' · ', h('a', {href: '#/services'}, 'Services'), ' · ', h('a', {href: '#/events'}, 'Events'))));
  el.dataset.ready = 'true';
  return {stop() {}};
}

// While a read fails (the server does not answer, the cluster has no
// leader), what the views show is as of the first failure: the header
// and a line over the view say so, and the views grey out.
onConnection((state, why, since) => {
  const live = state === 'live';
  conn.dataset.state = state;
  conn.textContent = live ? 'live' : 'stale';
  conn.title = live ? `following ${location.host} live` : why;
  setText(stale, live ? '' : `Not updated since ${clock(since)}: ${why}`);
  stale.hidden = live;
  main.toggleAttribute('data-stale', !live);
});

// ACLs: the token the user pastes is kept in this browser (localStorage)
// and sent with every request (api.js). A refused request shows the form;
// so does the Token button.
const TOKEN_KEY = 'flotilla.token';
setTokenProvider(() => localStorage.getItem(TOKEN_KEY) || '');

// What was refused since the banner opened, and what the user closed the
// banner on: a refused read is tried again now and then, and a view read
// again when it is opened again; neither brings the banner back for the
// same refusal until the token changes.
let refusedNow = new Set();
let dismissed = new Set();
function tokenChanged() {
  refusedNow = new Set();
  dismissed = new Set();
}

function tokenForm(why) {
  const input = h('input', {type: 'password', autocomplete: 'off', placeholder: 'secret ID (flotilla acl token create ...)', 'aria-label': 'ACL token'});
  const save = () => {
    const v = input.value.trim();
    if (v) localStorage.setItem(TOKEN_KEY, v); else localStorage.removeItem(TOKEN_KEY);
    tokenChanged();
    banner.hidden = true;
    route(); // the views read again, with the token
  };
  input.addEventListener('keydown', e => { if (e.key === 'Enter') save(); });
  const has = Boolean(localStorage.getItem(TOKEN_KEY));
  fill(banner,
    h('span', {text: why + ' '}),
    input, ' ',
    h('button', {type: 'button', onclick: save}, 'Use token'), ' ',
    has ? h('button', {type: 'button', onclick: () => { localStorage.removeItem(TOKEN_KEY); tokenChanged(); banner.hidden = true; route(); }}, 'Forget token') : null,
    ' ',
    h('button', {type: 'button', id: 'banner-close', onclick: () => {
      for (const what of refusedNow) dismissed.add(what);
      refusedNow = new Set();
      banner.hidden = true;
    }}, 'Close'));
  banner.hidden = false;
  input.focus();
}

onUnauthorized(what => {
  if (dismissed.has(what)) return;
  refusedNow.add(what);
  if (!banner.hidden) return; // the form is up already
  const has = Boolean(localStorage.getItem(TOKEN_KEY));
  tokenForm(has ? `The servers refused a request (${what}): this token may not do it (or it was deleted). Paste another:`
    : `The servers refused a request (${what}): ACLs are on. Paste an ACL token:`);
});
document.getElementById('token-button').addEventListener('click', () => tokenForm('The ACL token this dashboard sends (kept in this browser):'));

window.addEventListener('hashchange', route);
route();
