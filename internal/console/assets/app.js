// imh console: polls the agent that served this page (GET ../v1/status,
// and ../v1/destinations/{name}/leaseset when a LeaseSet changes), renders
// it, and derives recent events by comparing successive snapshots.
// Read-only: it never sends anything but GETs. The DOM is built with
// textContent only (no HTML from the wire).
'use strict';

(() => {
  const POLL_MS = 1500;
  const MAX_EVENTS = 200;
  const API = '../v1/';

  let prev = null; // the previous status snapshot
  let reachable = null; // did the last poll get an answer?
  const leaseSets = new Map(); // destination name -> {key, info}

  const $ = (id) => document.getElementById(id);

  function el(tag, props, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null) continue;
      if (k === 'class') e.className = v;
      else if (k === 'data') for (const [dk, dv] of Object.entries(v)) e.dataset[dk] = dv;
      else if (k === 'title') e.title = v;
      else e.setAttribute(k, v);
    }
    for (const kid of kids) {
      if (kid === undefined || kid === null) continue;
      e.append(kid instanceof Node ? kid : String(kid));
    }
    return e;
  }
  const td = (text, cls) => el('td', { class: cls }, text);
  const stateCell = (s) => el('td', { class: 'state ' + s }, s);

  function fill(tbody, rows) {
    tbody.replaceChildren(...rows);
  }

  function shortHex(h) {
    return h && h.length > 16 ? h.slice(0, 8) + '…' + h.slice(-4) : h || '';
  }

  function bytes(n) {
    n = Number(n) || 0;
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + ' ' + u[i];
  }

  function byRouter(m) {
    const keys = Object.keys(m || {}).sort();
    return keys.length ? keys.map((k) => k + ' ' + m[k]).join(', ') : 'none';
  }

  function dur(secs) {
    return secs < 120 ? secs + 's' : Math.floor(secs / 60) + 'm' + String(secs % 60).padStart(2, '0') + 's';
  }

  // ago: "12s ago" for a past time, "in 9m58s" for a future one.
  function ago(secs) {
    return secs < 0 ? 'in ' + dur(-secs) : dur(secs) + ' ago';
  }

  async function getJSON(path) {
    const r = await fetch(API + path, { cache: 'no-store', credentials: 'same-origin' });
    if (!r.ok) {
      let msg = r.status + ' ' + r.statusText;
      try {
        const b = await r.json();
        if (b && b.error) msg = b.error;
      } catch (_) { /* not JSON */ }
      throw new Error(msg);
    }
    return r.json();
  }

  // ---- events ----

  function addEvent(kind, text, tone) {
    const list = $('event-list');
    const now = new Date();
    list.prepend(el('li', { class: tone || '', data: { kind } },
      el('time', { datetime: now.toISOString() }, now.toLocaleTimeString()), text));
    while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
  }

  const byName = (xs) => new Map((xs || []).map((x) => [x.name, x]));

  function diff(a, b) {
    if (!a) {
      addEvent('start', 'console opened on ' + b.node + ': ' +
        (b.leader ? 'leader ' + b.leader + ', term ' + b.term : 'no leader'), '');
      return;
    }
    if (a.leader !== b.leader) {
      if (b.leader) addEvent('leader', 'leader ' + b.leader + ' elected (term ' + b.term + ')' + (a.leader ? ', was ' + a.leader : ''), 'good');
      else addEvent('leader', 'no leader (was ' + a.leader + ', term ' + b.term + ')', 'bad');
    } else if (a.term !== b.term) {
      addEvent('term', 'term ' + a.term + ' → ' + b.term + (b.leader ? ', ' + b.leader + ' still leads' : ''), '');
    }
    diffStates('peer', 'agent', a.peers, b.peers, ['left', 'shutdown']);
    diffStates('router', 'router', a.routers, b.routers, ['down']);
    diffStates('frontend', 'frontend', a.frontends, b.frontends, ['down']);
    const da = byName(a.destinations);
    for (const d of b.destinations || []) {
      const o = da.get(d.name);
      if (!o) { addEvent('destination', 'destination ' + d.name + ' added (' + d.policy + ')', ''); continue; }
      if (o.active_router !== d.active_router && d.policy === 'failover') {
        addEvent('failover', d.name + ': active router ' + (o.active_router || '(none)') + ' → ' + (d.active_router || '(none)') +
          (d.switches ? ' (switch ' + d.switches + ')' : ''), d.active_router ? '' : 'bad');
      }
      if (o.leases !== d.leases || byRouter(o.leases_by_router) !== byRouter(d.leases_by_router)) {
        addEvent('leaseset', d.name + ': LeaseSet now ' + d.leases + ' leases (' + byRouter(d.leases_by_router) + ')',
          d.leases < o.leases ? 'bad' : 'good');
      } else if (o.published !== d.published && d.published) {
        addEvent('publish', d.name + ': LeaseSet republished, ' + d.leases + ' leases', '');
      }
    }
    for (const name of da.keys()) {
      if (!(b.destinations || []).some((d) => d.name === name)) addEvent('destination', 'destination ' + name + ' removed', '');
    }
  }

  function diffStates(kind, noun, xs, ys, bad) {
    const before = byName(xs);
    const after = byName(ys);
    for (const [name, y] of after) {
      const x = before.get(name);
      if (!x) { addEvent(kind, noun + ' ' + name + ' added (' + y.state + ')', ''); continue; }
      if (x.state === y.state) continue;
      const tone = bad.includes(y.state) ? 'bad' : (bad.includes(x.state) || x.state === 'unknown' ? 'good' : '');
      addEvent(kind, noun + ' ' + name + ' ' + x.state + ' → ' + y.state + (y.error ? ': ' + y.error : ''), tone);
    }
    for (const name of before.keys()) {
      if (!after.has(name)) addEvent(kind, noun + ' ' + name + ' removed', '');
    }
  }

  // ---- rendering ----

  function health(st) {
    if (!st.leader) return ['critical', 'no leader'];
    const why = [];
    const gone = (st.peers || []).filter((p) => p.state === 'left' || p.state === 'shutdown').map((p) => p.name);
    if (gone.length) why.push('agents away: ' + gone.join(', '));
    const down = (st.routers || []).filter((r) => r.state !== 'up').map((r) => r.name + ' ' + r.state);
    if (down.length) why.push('routers: ' + down.join(', '));
    const empty = (st.destinations || []).filter((d) => !d.leases).map((d) => d.name);
    if (empty.length) why.push('no leases: ' + empty.join(', '));
    return why.length ? ['degraded', why.join('; ')] : ['healthy', 'all agents and routers up'];
  }

  function renderCluster(st) {
    const [h, why] = health(st);
    const badge = $('health');
    badge.className = 'badge ' + h;
    badge.dataset.health = h;
    badge.textContent = h;
    badge.title = why;
    $('node').textContent = st.node;
    const leader = $('leader');
    leader.textContent = st.leader || '(none)';
    leader.dataset.leader = st.leader || '';
    $('term').textContent = st.term;
    const peers = st.peers || [];
    $('peer-count').textContent = peers.filter((p) => p.state !== 'left').length + ' of ' + peers.length + ' reachable';
    const routers = st.routers || [];
    $('routers-up').textContent = routers.filter((r) => r.state === 'up').length + ' of ' + routers.length;
    fill($('peers').tBodies[0], peers.map((p) => el('tr', { data: { peer: p.name, state: p.state } },
      td(p.name + (p.name === st.node ? ' (this agent)' : '')), td(p.raft_addr, 'mono'), stateCell(p.state), td(p.voter ? 'yes' : 'no'))));
  }

  function renderRouters(st) {
    const leases = {};
    for (const d of st.destinations || []) {
      for (const [r, n] of Object.entries(d.leases_by_router || {})) leases[r] = (leases[r] || 0) + n;
    }
    fill(document.querySelector('#routers tbody'), (st.routers || []).map((r) => el('tr', { data: { router: r.name, state: r.state } },
      td(r.name), td(r.addr, 'mono'), stateCell(r.state), td((r.capabilities || []).join(', '), 'caps'),
      td(leases[r.name] || 0, 'num'), td(r.error || '', 'muted wrap'))));
  }

  function renderFrontends(st) {
    const fronts = st.frontends || [];
    $('frontends').hidden = fronts.length === 0;
    const rows = [];
    for (const f of fronts) {
      const ds = f.destinations && f.destinations.length ? f.destinations : [null];
      for (const d of ds) {
        rows.push(el('tr', { data: { frontend: f.name, state: f.state } },
          td(f.name), td(f.router), stateCell(f.state),
          td(d ? d.name : '–'), td(d ? (d.attached ? 'yes' : 'no') : '–'), td(d ? (d.backend_up ? 'up' : 'down') : '–'),
          td(d ? d.open : '–', 'num'), td(d ? d.accepted : '–', 'num'), td(d ? d.refused : '–', 'num'),
          td(d ? bytes(d.bytes_in) : '–', 'num'), td(d ? bytes(d.bytes_out) : '–', 'num'),
          td((d && d.last_error) || f.error || '', 'muted')));
      }
    }
    fill(document.querySelector('#frontends tbody'), rows);
  }

  function renderDestinations(st) {
    const now = Math.floor(Date.now() / 1000);
    const list = (st.destinations || []).map((d) => {
      const ls = leaseSets.get(d.name);
      const info = ls ? ls.info : null;
      const s = d.streams || {};
      const facts = [
        ['b32', el('span', { class: 'mono' }, d.b32)], ['policy', d.policy], ['service', d.service || 'none'],
        ['leases', d.leases + ' (' + byRouter(d.leases_by_router) + ')'],
        ['published', d.published ? ago(now - d.published) : 'not yet'],
        ['expires', info && info.expires ? ago(now - info.expires) : '–'],
      ];
      if (d.policy === 'failover') {
        facts.push(['active router', d.active_router || '(none)'], ['standby', (d.standby_routers || []).join(', ') || 'none'], ['switches', d.switches]);
      }
      facts.push(['gateway set', (d.gateway_set || []).length + ' peers' + (d.gateway_policy_enforced ? ', enforced' : '')],
        ['payloads', byRouter(d.payloads_by_router)],
        ['streams', s.open + ' open, ' + s.accepted + ' accepted, ' + s.refused + ' refused'],
        ['traffic', bytes(s.bytes_in) + ' in, ' + bytes(s.bytes_out) + ' out']);
      const dl = el('dl', { class: 'facts' });
      for (const [k, v] of facts) dl.append(el('dt', {}, k), el('dd', {}, v));
      const rows = info ? (info.leases || []).map((l, i) => el('tr', { data: { leaseRouter: l.router }, class: l.end <= now ? 'muted' : '' },
        td(i + 1, 'num'), td(l.router), td(shortHex(l.gateway), 'mono'), td(l.tunnel, 'num'), td(ago(now - l.end), 'num'))) : [];
      const table = el('table', { class: 'leases' },
        el('thead', {}, el('tr', {}, el('th', { class: 'num' }, '#'), el('th', {}, 'router'), el('th', {}, 'gateway'),
          el('th', { class: 'num' }, 'tunnel'), el('th', { class: 'num' }, 'ends'))),
        el('tbody', {}, ...rows));
      return el('div', { class: 'dest', data: { dest: d.name } }, el('h3', {}, d.name), dl,
        info ? table : el('p', { class: 'muted' }, d.leaseset ? 'loading the LeaseSet…' : 'no LeaseSet published yet'));
    });
    $('dest-list').replaceChildren(...(list.length ? list : [el('p', { class: 'muted' }, 'no destinations')]));
  }

  function render(st) {
    renderCluster(st);
    renderRouters(st);
    renderFrontends(st);
    renderDestinations(st);
    $('updated').textContent = new Date().toLocaleTimeString();
  }

  // refreshLeaseSets fetches the decoded LeaseSet of every destination
  // whose LeaseSet changed since the last poll.
  async function refreshLeaseSets(st) {
    const names = new Set();
    for (const d of st.destinations || []) {
      names.add(d.name);
      const key = d.published + ':' + d.leaseset;
      const have = leaseSets.get(d.name);
      if (!d.leaseset || (have && have.key === key)) continue;
      try {
        const info = await getJSON('destinations/' + encodeURIComponent(d.name) + '/leaseset');
        leaseSets.set(d.name, { key, info });
      } catch (_) {
        // Shown as "loading" until the next poll gets it.
      }
    }
    for (const name of [...leaseSets.keys()]) if (!names.has(name)) leaseSets.delete(name);
  }

  function setReachable(ok, why) {
    const conn = $('conn');
    conn.textContent = ok ? '' : 'agent not answering: ' + why;
    conn.dataset.reachable = ok ? 'yes' : 'no';
    if (reachable !== null && reachable !== ok) {
      addEvent('agent', ok ? 'the agent answers again' : 'the agent does not answer: ' + why, ok ? 'good' : 'bad');
    }
    if (!ok) {
      const badge = $('health');
      badge.className = 'badge unknown';
      badge.dataset.health = 'unknown';
      badge.textContent = 'unreachable';
    }
    reachable = ok;
  }

  // poll runs forever: an agent that does not answer is shown, not thrown;
  // a bug in rendering still surfaces as an uncaught error.
  async function poll() {
    let st = null;
    try {
      st = await getJSON('status');
    } catch (e) {
      setReachable(false, e.message);
    }
    try {
      if (st) {
        setReachable(true);
        await refreshLeaseSets(st);
        render(st);
        diff(prev, st);
        prev = st;
      }
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  poll();
})();
