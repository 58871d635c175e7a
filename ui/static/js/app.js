// The shell: routes the location hash to a view, shows the connection's
// state and the ACL hook's banner. A view is a module with
// mount(element, {params, query}) returning {stop()}; stop ends the view's
// watches, so that only what is on screen holds a connection.

import {onConnection, onUnauthorized} from './api.js';
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
let current = null;

function route() {
  const hash = location.hash.replace(/^#/, '') || '/cluster';
  const [path, query = ''] = hash.split('?');
  let match = null;
  let found = routes[0];
  for (const r of routes) {
    match = r.pattern.exec(path);
    if (match) {
      found = r;
      break;
    }
  }
  if (!match) {
    history.replaceState(null, '', '#/cluster');
    match = [];
  }
  if (current) current.stop();
  main.replaceChildren();
  for (const a of document.querySelectorAll('#nav a')) a.toggleAttribute('aria-current', a.dataset.view === found.nav);
  main.dataset.view = found.nav;
  current = found.view.mount(main, {params: match.slice(1).map(decodeURIComponent), query: new URLSearchParams(query)});
}

onConnection((state, why) => {
  conn.dataset.state = state;
  conn.textContent = state === 'live' ? 'live' : 'reconnecting';
  conn.title = state === 'live' ? `following ${location.host} live` : why;
});

// The ACL hook (see api.js): there are no ACLs yet, so a 401 or 403 can only
// come from something in front of the server. Say so rather than pretend
// to log in; when ACLs land, this is where the token is asked for.
onUnauthorized(() => {
  banner.hidden = false;
  banner.textContent = 'The server refused a request as unauthorised. This dashboard cannot send a token yet (Flotilla has no ACLs).';
});

window.addEventListener('hashchange', route);
route();
