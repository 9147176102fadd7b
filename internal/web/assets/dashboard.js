// bluegreen dashboard. Plain JavaScript, no build step, no dependency.
// One event stream (/api/v1/events?include=status,samples) keeps the page
// current: the server sends the status when it changes, every deployment
// event and every metrics point. Requests other than that stream are made
// once at start, after a reconnect, and when a deployment ends.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const SLOTS = ['blue', 'green'];
  const TERMINAL = new Set(['succeeded', 'failed', 'aborted', 'rolled_back']);
  const BAD = new Set(['failed', 'aborted', 'rolled_back', 'rolling_back']);
  const WINDOW_MS = 15 * 60 * 1000;

  const state = {
    status: null,
    series: { interval: 5, size: 180, points: [] },
    shown: null, // { dep, events } of the deployment in the timeline
    follow: true, // the timeline follows the active or last deployment
    loading: 0, // id of the deployment being fetched
    history: [],
    migrations: null,
    migrationEvents: [], // newest first, from the stream
    lastKey: '',
    busy: false,
  };

  // ---- small DOM helpers (no inline styles: the CSP forbids them) ----
  function el(tag, props, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }
  const SVGNS = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    return e;
  }
  function badge(text, cls) { return el('span', { class: 'badge ' + (cls || ''), text }); }
  function phaseClass(p) {
    if (p === 'succeeded') return 'good';
    if (BAD.has(p)) return 'bad';
    if (p === 'paused') return 'warn';
    return '';
  }
  function resultClass(r) { return r === 'pass' ? 'good' : r === 'fail' ? 'bad' : 'warn'; }

  // ---- formatting ----
  const pct = (v) => (v === null || v === undefined) ? '–' : (v * 100 >= 10 ? (v * 100).toFixed(1) : (v * 100).toFixed(2)) + '%';
  const ms = (v) => (v === null || v === undefined) ? '–' : (v >= 1 ? v.toFixed(2) + ' s' : (v * 1000 >= 10 ? (v * 1000).toFixed(0) : (v * 1000).toFixed(1)) + ' ms');
  const rate = (v) => (v === null || v === undefined) ? '–' : (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + '/s';
  function metricValue(metric, v) {
    if (v === null || v === undefined) return '–';
    if (metric === 'error_rate') return pct(v);
    if (String(metric).startsWith('latency')) return ms(v);
    return String(v);
  }
  function clock(t) {
    const d = new Date(t);
    return isNaN(d) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }
  function dateTime(t) {
    const d = new Date(t);
    return isNaN(d) ? '' : d.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  }
  function ago(t) {
    const s = Math.max(0, Math.round((Date.now() - new Date(t)) / 1000));
    if (s < 60) return s + 's ago';
    if (s < 3600) return Math.round(s / 60) + 'm ago';
    if (s < 86400) return Math.round(s / 3600) + 'h ago';
    return Math.round(s / 86400) + 'd ago';
  }
  function took(d) {
    if (!d.ended_at) return '–';
    const s = Math.round((new Date(d.ended_at) - new Date(d.created_at)) / 1000);
    return s < 60 ? s + 's' : Math.floor(s / 60) + 'm' + String(s % 60).padStart(2, '0') + 's';
  }

  // ---- API ----
  async function api(method, path, body) {
    const opts = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (method !== 'GET') {
      opts.headers['X-CSRF-Token'] = csrf;
      if (body !== undefined) {
        opts.headers['Content-Type'] = 'application/json';
        opts.body = JSON.stringify(body);
      }
    }
    const res = await fetch(path, opts);
    let data = null;
    try { data = await res.json(); } catch (_) { /* not JSON */ }
    if (res.status === 401) {
      location.reload(); // the session ended: back to the login form
      throw new Error('session expired');
    }
    if (!res.ok) {
      const err = new Error((data && data.error) || (res.status + ' ' + res.statusText));
      err.status = res.status;
      throw err;
    }
    return data;
  }

  // body[data-loaded] tells (tests, people) the first picture is complete.
  const loaded = new Set();
  function markLoaded(part) {
    loaded.add(part);
    if (loaded.has('status') && loaded.has('series') && loaded.has('history')) document.body.dataset.loaded = 'true';
  }

  // ---- the event stream ----
  let es = null;
  function setConn(s, text) {
    const c = $('conn');
    c.dataset.state = s;
    c.textContent = text || { live: 'live', connecting: 'connecting…', reconnecting: 'reconnecting…', lost: 'disconnected' }[s];
  }
  function connect() {
    if (es) es.close();
    setConn('connecting');
    es = new EventSource('/api/v1/events?include=status,samples');
    es.onopen = () => {
      setConn('live');
      loadSeries();
      loadHistory();
      loadMigrations();
      if (state.shown) loadDeployment(state.shown.dep.id); // events may have been missed
    };
    es.addEventListener('status', (e) => onStatus(JSON.parse(e.data)));
    es.addEventListener('deployment', (e) => onEvent(JSON.parse(e.data)));
    es.addEventListener('sample', (e) => onSample(JSON.parse(e.data)));
    es.addEventListener('migration', (e) => {
      // `bluegreen migrate` ran somewhere: keep its newest events, re-read the state.
      state.migrationEvents.unshift(JSON.parse(e.data));
      state.migrationEvents.length = Math.min(state.migrationEvents.length, 10);
      loadMigrations();
    });
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) {
        setConn('lost');
        // Refused (session ended?) or the server is gone: ask once, then retry.
        api('GET', '/api/v1/status').catch(() => {});
        setTimeout(connect, 5000);
      } else {
        setConn('reconnecting');
      }
    };
  }

  function currentDeployment(st) { return st && (st.active || st.last) || null; }

  function onStatus(st) {
    state.status = st;
    $('app').textContent = st.app || 'bluegreen';
    document.title = (st.app || 'bluegreen') + ' · bluegreen';
    const d = currentDeployment(st);
    const key = d ? d.id + ':' + d.phase : '';
    if (key !== state.lastKey) {
      const first = state.lastKey === '';
      state.lastKey = key;
      if (!first) { loadHistory(); if (d && TERMINAL.has(d.phase)) loadMigrations(); }
    }
    if (d && state.follow && (!state.shown || state.shown.dep.id !== d.id) && state.loading !== d.id) {
      loadDeployment(d.id);
    }
    if (d && state.shown && state.shown.dep.id === d.id) {
      state.shown.dep.phase = d.phase;
      state.shown.dep.reason = d.reason;
    }
    renderOverview();
    renderActions();
    renderSlots();
    renderCluster();
    renderCharts(); // roles (live, new) may have changed
    renderTimeline();
    markLoaded('status');
  }

  function onEvent(ev) {
    if (state.shown && ev.deployment_id === state.shown.dep.id) {
      if (!state.shown.events.some((x) => x.id === ev.id)) {
        state.shown.events.push(ev);
        state.shown.events.sort((a, b) => a.id - b.id);
      }
      state.shown.dep.phase = ev.phase;
      renderTimeline();
    } else if (state.follow && state.loading !== ev.deployment_id) {
      loadDeployment(ev.deployment_id);
    }
    if (TERMINAL.has(ev.phase)) { loadHistory(); loadMigrations(); }
  }

  function onSample(p) {
    const pts = state.series.points;
    if (pts.length && new Date(pts[pts.length - 1].t) >= new Date(p.t)) return;
    pts.push(p);
    while (pts.length > state.series.size) pts.shift();
    renderCharts();
  }

  async function loadSeries() {
    try {
      const s = await api('GET', '/api/v1/metrics/series');
      state.series = { interval: s.interval_seconds, size: s.size, points: s.points || [] };
      renderCharts();
      markLoaded('series');
    } catch (e) { /* the charts stay as they are */ }
  }
  async function loadHistory() {
    try {
      state.history = await api('GET', '/api/v1/deployments?limit=20') || [];
      renderHistory();
      renderActions();
      markLoaded('history');
    } catch (e) { /* keep the old list */ }
    loadAudit();
  }
  // The audit log's newest entries, under the history (who did what).
  async function loadAudit() {
    try {
      const a = await api('GET', '/api/v1/audit?limit=20');
      renderAudit((a && a.entries) || []);
    } catch (e) { /* keep the old list */ }
  }
  async function loadMigrations() {
    try {
      state.migrations = await api('GET', '/api/v1/migrations');
    } catch (e) {
      state.migrations = e.status === 404 ? null : { error: e.message };
    }
    renderMigrations();
  }
  async function loadDeployment(id) {
    state.loading = id;
    try {
      const d = await api('GET', '/api/v1/deployments/' + id);
      if (state.loading !== id) return;
      const events = d.events || [];
      delete d.events;
      // Events that arrived while fetching stay.
      if (state.shown && state.shown.dep.id === id) {
        for (const ev of state.shown.events) if (!events.some((x) => x.id === ev.id)) events.push(ev);
        events.sort((a, b) => a.id - b.id);
      }
      state.shown = { dep: d, events };
      renderTimeline();
      renderMigrations();
      renderHistory();
    } catch (e) {
      showResult('Could not load deployment ' + id + ': ' + e.message, true);
    } finally {
      if (state.loading === id) state.loading = 0;
    }
  }

  // ---- overview: split bar, phase, last verdict ----
  function slotOf(st, name) { return (st.slots || []).find((s) => s.slot === name) || { slot: name }; }
  function renderOverview() {
    const st = state.status;
    if (!st) return;
    const w = (st.route && st.route.weights) || {};
    const parts = [];
    for (const name of SLOTS) {
      const seg = $('split-' + name);
      const weight = w[name] || 0;
      const s = slotOf(st, name);
      seg.style.width = weight + '%';
      seg.dataset.weight = String(weight);
      seg.querySelector('.seg-label').textContent = weight > 0 ? `${name}${s.version ? ' · ' + s.version : ''} · ${weight}%` : '';
      parts.push(`${name}${s.version ? ' (' + s.version + ')' : ''} ${weight}%`);
    }
    $('split').setAttribute('aria-label', 'Production traffic: ' + parts.join(', ') + (st.route ? '; live slot ' + st.route.live : ''));

    const a = st.active;
    const d = a || st.last;
    const phaseEl = $('phase');
    const phase = a ? a.phase : 'idle';
    phaseEl.textContent = a ? (a.phase + (a.paused_in ? ' (in ' + a.paused_in + ')' : '')) : 'idle';
    phaseEl.dataset.phase = phase;
    phaseEl.className = 'phase ' + (a ? phaseClass(a.phase) : '');
    let step = '';
    if (a) {
      if (a.steps > 0 && (a.phase === 'shifting' || a.paused_in === 'shifting')) step += `step ${a.step + 1} of ${a.steps} · `;
      step += `${a.slot} ${a.weight}%`;
      if (a.time_left) step += ` · ${a.time_left} left`;
    }
    $('step').textContent = step;
    const kind = (x) => x.kind === 'rollback' ? 'Rollback' : 'Deployment';
    let summary = '';
    if (a) {
      summary = `${kind(a)} #${a.id}: ${a.from_version || 'nothing'} → ${a.version} into ${a.slot}, ${a.strategy}`;
    } else if (d) {
      summary = `Last: ${kind(d).toLowerCase()} #${d.id} (${d.from_version || 'nothing'} → ${d.version} in ${d.slot}) ended ${d.phase}` +
        (d.ended_at ? ' ' + ago(d.ended_at) : '');
    } else {
      summary = 'No deployment yet: deploy a first version below.';
    }
    $('summary').textContent = summary;
    $('reason').textContent = d ? d.reason || '' : '';
    const v = $('verdict');
    if (d && d.analysis) {
      v.hidden = false;
      v.className = 'verdict ' + resultClass(d.analysis.result);
      v.textContent = `Last analysis: ${d.analysis.result}` + (d.analysis.reason ? ` — ${d.analysis.reason}` : '');
    } else {
      v.hidden = true;
    }
  }

  // ---- actions: what is allowed now, and why not ----
  function allowed() {
    const st = state.status;
    const out = {};
    const no = (why) => ({ ok: false, why });
    if (!st) {
      for (const k of ['deploy', 'promote', 'pause', 'resume', 'abort', 'rollback']) out[k] = no('waiting for the status…');
      return out;
    }
    const a = st.active;
    const live = st.route ? st.route.live : 'blue';
    const idle = live === 'blue' ? 'green' : 'blue';
    const idleWeight = (st.route && st.route.weights && st.route.weights[idle]) || 0;
    const none = no('no deployment in progress');
    const inPhase = (set, verb) => !a ? none : set.includes(a.phase) ? { ok: true } :
      no(`deployment #${a.id} is ${a.phase}: only ${set.join(' or ')} can be ${verb}`);
    out.deploy = a ? no(`deployment #${a.id} is ${a.phase}: wait for it to end, or abort it`) :
      idleWeight > 0 ? no(`the idle slot ${idle} still gets ${idleWeight}% from a manual route: route it to 0% first`) : { ok: true };
    out.pause = inPhase(['shifting', 'baking'], 'paused');
    out.resume = inPhase(['paused'], 'resumed');
    out.promote = inPhase(['shifting', 'baking', 'paused'], 'promoted');
    out.abort = !a ? none : a.phase === 'rolling_back' ? no('already rolling back') : { ok: true };
    if (a) {
      out.rollback = a.phase === 'rolling_back' ? no('already rolling back') : { ok: true };
    } else {
      const ok = (state.history || []).find((d) => d.phase === 'succeeded');
      if (!ok) out.rollback = no('nothing succeeded yet: there is no earlier release to go back to');
      else if (!ok.from_version) out.rollback = no(`the newest release (${ok.version}) is the first one: there is nothing to roll back to`);
      else out.rollback = { ok: true, target: ok.from_version };
    }
    return out;
  }
  function renderActions() {
    const acts = allowed();
    for (const [name, a] of Object.entries(acts)) {
      const b = $('act-' + name);
      b.disabled = state.busy || !a.ok;
      $('why-' + name).textContent = a.ok ? '' : a.why;
    }
    $('deploy-version').disabled = state.busy || !acts.deploy.ok;
    $('deploy-strategy').disabled = state.busy || !acts.deploy.ok;
  }

  function describe(name, extra) {
    const st = state.status;
    const a = st.active;
    const live = st.route.live;
    const idle = live === 'blue' ? 'green' : 'blue';
    const liveSlot = slotOf(st, live);
    switch (name) {
      case 'deploy': {
        const strat = extra.strategy ? `strategy "${extra.strategy}"` : 'the configured strategy';
        if (!liveSlot.version || liveSlot.state === 'stopped') {
          return [`Deploy ${extra.version}?`, `${extra.version} starts in ${idle}, is checked through the preview route, and then gets all production traffic at once: it is the first release.`, 'Deploy'];
        }
        return [`Deploy ${extra.version}?`, `${extra.version} starts in the idle slot ${idle} and is checked through the preview route. Then production traffic moves to it by ${strat}, while ${liveSlot.version} in ${live} serves the rest and stays warm. With an analysis section in the config, a worse new release is rolled back by itself.`, 'Deploy'];
      }
      case 'promote':
        return [`Promote ${a.version}?`, `This skips the remaining steps, the analysis and the bake time: ${a.slot} (${a.version}) gets 100% of production traffic now and the deployment ends succeeded. ${a.from_version || 'The old release'} stays warm for rollback.`, 'Promote'];
      case 'pause':
        return [`Pause deployment #${a.id}?`, `Traffic stays where it is (${a.slot} ${a.weight}%) and the clock stops${a.time_left ? ' with ' + a.time_left + ' left' : ''}. Resume continues with the time that was left.`, 'Pause'];
      case 'resume':
        return [`Resume deployment #${a.id}?`, `The deployment goes back to ${a.paused_in || 'its phase'} with the time that was left; a new analysis window starts.`, 'Resume'];
      case 'abort': {
        const other = a.slot === 'blue' ? 'green' : 'blue';
        return [`Abort deployment #${a.id}?`, `All production traffic goes back to ${other}${a.from_version ? ' (' + a.from_version + ')' : ''} and ${a.version} in ${a.slot} is stopped. The deployment ends aborted.`, 'Abort'];
      }
      case 'rollback': {
        if (a) {
          const other = a.slot === 'blue' ? 'green' : 'blue';
          return ['Roll back?', `A deployment is in progress: rolling back aborts it. All production traffic goes back to ${other}${a.from_version ? ' (' + a.from_version + ')' : ''} and ${a.version} is stopped.`, 'Roll back'];
        }
        const target = extra.target;
        const warm = SLOTS.map((n) => slotOf(st, n)).find((s) => s.slot !== live && s.version === target && s.state === 'running' && s.total > 0 && s.healthy === s.total);
        const how = warm ? `${target} is still warm in ${warm.slot}: the route swaps at once, the next request goes there.` :
          `${target} is no longer running: it is started again in ${idle}, and traffic swaps once every instance is healthy.`;
        return [`Roll back to ${target}?`, `Production traffic leaves ${liveSlot.version} in ${live}. ${how} ${liveSlot.version} stays warm for a while, so you can go forward again.`, 'Roll back'];
      }
    }
    return [name, '', name];
  }

  function confirmDialog(title, text, okLabel) {
    const dlg = $('confirm');
    $('confirm-title').textContent = title;
    $('confirm-text').textContent = text;
    $('confirm-ok').textContent = okLabel;
    return new Promise((resolve) => {
      dlg.returnValue = '';
      dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true });
      dlg.showModal();
      $('confirm-cancel').focus();
    });
  }
  function showResult(text, isError) {
    const r = $('result');
    r.textContent = text;
    r.className = 'result' + (isError ? ' error' : '');
    r.setAttribute('role', isError ? 'alert' : 'status');
  }

  const endpoints = {
    deploy: (x) => ['POST', '/api/v1/deployments', x.strategy ? { version: x.version, strategy: x.strategy } : { version: x.version }],
    promote: () => ['POST', '/api/v1/deployments/current/promote'],
    pause: () => ['POST', '/api/v1/deployments/current/pause'],
    resume: () => ['POST', '/api/v1/deployments/current/resume'],
    abort: () => ['POST', '/api/v1/deployments/current/abort'],
    rollback: () => ['POST', '/api/v1/rollback'],
  };
  const working = { deploy: 'Starting the deployment…', promote: 'Promoting: waiting for the deployment to end…',
    pause: 'Pausing…', resume: 'Resuming…', abort: 'Aborting: waiting for traffic to move back…', rollback: 'Rolling back…' };

  async function act(name, extra) {
    const a = allowed()[name];
    if (!a.ok) { showResult(a.why, true); return; }
    extra = Object.assign({}, extra, { target: a.target });
    const [title, text, ok] = describe(name, extra);
    if (!(await confirmDialog(title, text, ok))) return;
    const [method, path, body] = endpoints[name](extra);
    state.busy = true;
    renderActions();
    showResult(working[name], false);
    try {
      const res = await api(method, path, body);
      let msg = (res && res.result) || 'done';
      if (name === 'deploy') msg = `Deployment #${res.id} of ${res.version} into ${res.slot} started.`;
      if (name === 'rollback') msg = `Rollback #${res.id} to ${res.version} in ${res.slot}: ${res.phase}.`;
      showResult(msg, false);
      if (name === 'deploy') $('deploy-version').value = '';
      state.follow = true;
    } catch (e) {
      showResult(`${name} refused: ${e.message}`, true);
    } finally {
      state.busy = false;
      renderActions();
    }
  }

  // ---- slots ----
  // renderCluster lists the serve processes sharing the state in
  // PostgreSQL (status.cluster); hidden for a single serve on SQLite.
  function renderCluster() {
    const c = state.status && state.status.cluster;
    const card = $('cluster-card');
    card.hidden = !c;
    if (!c) return;
    const rows = (c.instances || []).map((in_) => el('tr', {},
      el('td', {}, el('code', { text: in_.id }), in_.id === c.instance ? el('span', { class: 'muted', text: ' (this one)' }) : null),
      el('td', { class: 'mono', text: in_.admin }),
      el('td', { class: 'mono', text: in_.production }),
      el('td', {}, in_.leader ? badge('leader', 'good') : badge('follower', '')),
      el('td', {}, in_.degraded ? badge('degraded', 'bad') : badge('connected', 'good')),
      el('td', { class: 'num', text: String(in_.route_rev) }),
      el('td', { text: ago(in_.last_seen) })));
    $('cluster').querySelector('tbody').replaceChildren(...rows);
  }

  function renderSlots() {
    const st = state.status;
    if (!st) return;
    const a = st.active;
    for (const name of SLOTS) {
      const s = slotOf(st, name);
      const rs = (st.router && st.router.slots && st.router.slots[name]) || {};
      const card = $('slot-' + name);
      let role = 'idle';
      if (s.live) role = 'live';
      if (a && a.slot === name) role = 'new';
      else if (!s.live && s.stop_at && s.state === 'running') role = new Date(s.stop_at) > Date.now() ? 'warm' : 'stopping';
      const h = card.querySelector('h2');
      h.replaceChildren(name, ' ', badge(role, role === 'live' ? 'good' : role === 'new' ? 'warn' : ''));
      const rows = [
        ['Release', s.version || '–'],
        ['State', s.state || 'empty'],
        ['Traffic', (s.weight || 0) + '%'],
        ['Healthy', `${s.healthy || 0} of ${s.total || 0} instances`],
        ['In flight', String(rs.inflight || 0)],
      ];
      // Fields the router may add; shown when present.
      if (rs.mcp_sessions !== undefined) {
        const keep = rs.mcp_sessions > 0 && rs.session_drain_deadline && new Date(rs.session_drain_deadline) > Date.now();
        rows.push(['MCP sessions', String(rs.mcp_sessions) + (keep ? ` (kept until ${clock(rs.session_drain_deadline)})` : '')]);
      }
      const streams = rs.streams;
      if (typeof streams === 'number') rows.push(['Open streams', String(streams)]);
      else if (streams && typeof streams === 'object') {
        let v = `${streams.sse || 0} SSE, ${streams.websocket || 0} WebSocket`;
        if (streams.drained || streams.cut) v += ` (ended at a drain: ${streams.drained || 0} cleanly, ${streams.cut || 0} cut)`;
        rows.push(['Open streams', v]);
      }
      if (rs.draining) rows.push(['Draining', `${rs.draining_requests || 0} requests, until ${clock(rs.drain_deadline)}`]);
      if (rs.retries) rows.push(['Retries', String(rs.retries)]);
      if (s.stop_at && s.state === 'running') rows.push(new Date(s.stop_at) > Date.now() ? ['Scales down', `${clock(s.stop_at)} (warm for rollback)`] : ['Stopping', `since ${clock(s.stop_at)}`]);
      const dl = el('dl', {}, rows.map(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));
      const driver = ((st.instances && st.instances[name]) || []);
      const list = el('ul', { class: 'instances', 'aria-label': name + ' instances' },
        (rs.backends || []).map((b) => {
          const inst = driver.find((i) => i.addr === b.addr);
          return el('li', {},
            el('span', { class: 'dot' + (b.healthy ? ' up' : ''), 'aria-hidden': 'true' }),
            el('span', { class: 'mono', text: b.addr }),
            el('span', { class: 'muted', text: (b.healthy ? 'healthy' : 'not healthy') + (inst && inst.pid ? ` · pid ${inst.pid}` : '') + (b.inflight ? ` · ${b.inflight} in flight` : '') }));
        }));
      card.querySelector('.body').replaceChildren(dl, (rs.backends || []).length ? list : '');
      card.dataset.role = role;
      card.dataset.version = s.version || '';
    }
  }

  // ---- charts: hand-written SVG ----
  const METRICS = [
    { key: 'rps', label: 'Requests/s', fmt: rate, floor: 1 },
    { key: 'error_rate', label: 'Error rate', fmt: pct, floor: 0.01 },
    { key: 'p99', label: 'p99 latency', fmt: ms, floor: 0.005 },
  ];
  function niceMax(v, floor) {
    v = Math.max(v, floor);
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }
  function renderCharts() {
    const st = state.status;
    const live = st && st.route ? st.route.live : 'blue';
    const order = [live, live === 'blue' ? 'green' : 'blue'];
    const a = st && st.active;
    const now = Date.now();
    // The axis spans 15 minutes, or less while the series is younger.
    const first = state.series.points.length ? new Date(state.series.points[0].t).getTime() - state.series.interval * 1000 : now - WINDOW_MS;
    const from = Math.max(now - WINDOW_MS, Math.min(first, now - 60000));
    const span = now - from;
    const spanLabel = span >= WINDOW_MS - 1000 ? '−15 min' : '−' + (span >= 120000 ? Math.round(span / 60000) + ' min' : Math.round(span / 1000) + ' s');
    const pts = state.series.points.filter((p) => new Date(p.t).getTime() >= from);
    const W = 300, H = 90;
    const cells = [];
    for (const m of METRICS) {
      let top = 0;
      for (const p of pts) for (const s of SLOTS) {
        const v = p.slots[s] && p.slots[s][m.key];
        if (typeof v === 'number') top = Math.max(top, v);
      }
      top = niceMax(top, m.floor);
      for (const slot of order) {
        const role = slot === live ? 'live' : (a && a.slot === slot ? 'new' : 'idle');
        const vals = pts.map((p) => ({ t: new Date(p.t).getTime(), v: p.slots[slot] ? p.slots[slot][m.key] : undefined }));
        const last = vals.length ? vals[vals.length - 1].v : undefined;
        const g = svg('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', 'aria-hidden': 'true', focusable: 'false' });
        for (const y of [0, H / 2, H - 0.5]) g.append(svg('line', { class: 'grid', x1: 0, x2: W, y1: y, y2: y, 'vector-effect': 'non-scaling-stroke' }));
        // Segments break where a slot had no value (no requests).
        const segs = [];
        let cur = [];
        for (const { t, v } of vals) {
          if (typeof v !== 'number') { if (cur.length) segs.push(cur); cur = []; continue; }
          const x = ((t - from) / span) * W;
          const y = H - (Math.min(v, top) / top) * (H - 2) - 1;
          cur.push([x.toFixed(1), y.toFixed(1)]);
        }
        if (cur.length) segs.push(cur);
        for (const seg of segs) {
          const line = seg.map((p) => p.join(',')).join(' ');
          if (seg.length > 1) {
            g.append(svg('polygon', { class: 'area-' + slot, points: `${seg[0][0]},${H} ${line} ${seg[seg.length - 1][0]},${H}` }));
          }
          g.append(svg('polyline', { class: 'line-' + slot, points: seg.length > 1 ? line : `${line} ${(+seg[0][0] + 2).toFixed(1)},${seg[0][1]}`, 'vector-effect': 'non-scaling-stroke' }));
        }
        const peak = vals.reduce((x, { v }) => typeof v === 'number' ? Math.max(x, v) : x, 0);
        const label = `${m.label} on ${slot} (${role}), last ${spanLabel.slice(1)}: now ${m.fmt(last)}, peak ${m.fmt(vals.length ? peak : undefined)}`;
        cells.push(el('figure', { class: 'chart', role: 'img', 'aria-label': label, 'data-metric': m.key, 'data-slot': slot },
          el('h3', {}, el('span', {}, `${m.label} · ${slot} `, el('span', { class: 'muted', text: role })), el('span', { class: 'now', text: m.fmt(last) })),
          g,
          el('div', { class: 'axis' }, el('span', { text: spanLabel }), el('span', { text: 'max ' + m.fmt(top) }), el('span', { text: 'now' }))));
      }
    }
    $('charts').replaceChildren(...cells);
  }

  // ---- timeline: events and analysis verdicts ----
  function verdictBlock(v, open) {
    const samples = [`${v.new_slot}: ${v.new ? v.new.requests : 0} requests, ${v.new ? v.new.errors : 0} errors`];
    if (v.live) samples.push(`${v.live_slot}: ${v.live.requests} requests, ${v.live.errors} errors${v.live_from === 'baseline' ? ' (baseline window)' : ''}`);
    const head = `Analysis ${v.result}` + (v.decided_by ? ` — decided by ${v.decided_by}` : '') +
      ` · window ${v.window_seconds}s · min ${v.min_requests} requests`;
    const rules = (v.rules || []).map((r) => {
      const th = [];
      if (r.max !== undefined) th.push('max ' + metricValue(r.metric, r.max));
      if (r.min !== undefined) th.push('min ' + metricValue(r.metric, r.min));
      if (r.max_ratio_to_live) th.push(`≤ ${r.max_ratio_to_live}× live`);
      return el('tr', {},
        el('td', {}, el('code', { text: r.rule })),
        el('td', {}, badge(r.result, resultClass(r.result))),
        el('td', { class: 'num', text: metricValue(r.metric, r.new) }),
        el('td', { class: 'num', text: metricValue(r.metric, r.live) }),
        el('td', { text: th.join(', ') + (r.ratio !== undefined ? ` (ratio ${r.ratio.toFixed(2)}×)` : '') }),
        el('td', { text: r.reason || '' }));
    });
    const providers = (v.providers || []).map((p) => el('tr', {},
      el('td', {}, el('code', { text: `provider ${p.name} (${p.kind})` })),
      el('td', {}, badge(p.result, resultClass(p.result))),
      el('td', { class: 'num', text: p.value !== undefined ? String(p.value) : '–' }),
      el('td', { class: 'num', text: '' }),
      el('td', { text: [p.max !== undefined ? 'max ' + p.max : '', p.min !== undefined ? 'min ' + p.min : ''].filter(Boolean).join(', ') }),
      el('td', { text: p.reason || '' })));
    return el('details', { class: 'analysis', open: open },
      el('summary', {}, badge(v.result, resultClass(v.result)), ' ', head),
      el('p', { class: 'small', text: v.reason || '' }),
      el('p', { class: 'small muted', text: 'Samples: ' + samples.join('; ') }),
      el('div', { class: 'table-wrap' }, el('table', { class: 'rules' },
        el('thead', {}, el('tr', {}, ['Rule', 'Result', 'New', 'Live', 'Threshold', 'Why'].map((h) => el('th', { scope: 'col', text: h })))),
        el('tbody', {}, rules, providers))));
  }
  function checksBlock(title, rep) {
    if (!rep || !rep.results || !rep.results.length) return null;
    return el('div', {},
      el('h3', { class: 'small', text: title + (rep.passed ? ' — passed' : ' — failed') }),
      el('ul', { class: 'checks' }, rep.results.map((r) => el('li', {},
        badge(r.passed ? 'pass' : (r.kind === 'gate' ? 'refused' : 'fail'), r.passed ? 'good' : 'bad'), ' ',
        el('strong', { text: r.name }), el('span', { class: 'muted', text: ` (${r.kind})` }),
        r.reason ? ' — ' + r.reason : ''))));
  }
  function detailsOf(dep) {
    if (!dep || !dep.data) return {};
    return typeof dep.data === 'string' ? (() => { try { return JSON.parse(dep.data); } catch (_) { return {}; } })() : dep.data;
  }
  function renderTimeline() {
    const sh = state.shown;
    const list = $('timeline');
    if (!sh) {
      $('timeline-title').textContent = '';
      $('checks').replaceChildren();
      list.replaceChildren(el('li', { class: 'muted', text: 'No deployment yet.' }));
      return;
    }
    const d = sh.dep;
    $('timeline-title').replaceChildren(`#${d.id}${d.kind === 'rollback' ? ' (rollback)' : ''}: ${d.from_version || 'nothing'} → ${d.version} in ${d.slot} `,
      badge(d.phase, phaseClass(d.phase)), state.follow ? '' : ' ', state.follow ? '' : el('button', { type: 'button', id: 'follow', text: 'Follow the current deployment' }));
    const f = $('follow');
    if (f) f.addEventListener('click', () => { state.follow = true; const c = currentDeployment(state.status); if (c) loadDeployment(c.id); });
    const x = detailsOf(d);
    $('checks').replaceChildren(...[checksBlock('Checks before traffic', x.report), checksBlock('Checks after promotion', x.post_report)].filter(Boolean));
    const items = sh.events.map((ev) => {
      const data = ev.data || {};
      const v = data.analysis;
      return el('li', { class: 'ev-' + (phaseClass(ev.phase) || 'plain'), 'data-phase': ev.phase },
        el('span', { class: 'when' }, el('time', { datetime: ev.time, text: clock(ev.time) })),
        badge(ev.phase, phaseClass(ev.phase)),
        el('p', { class: 'what', text: ev.reason || '' }),
        v ? verdictBlock(v, v.result !== 'pass') : null);
    });
    list.replaceChildren(...items.reverse()); // newest first
  }

  // ---- migrations and gates ----
  function renderMigrations() {
    const card = $('migrations-card');
    const box = $('migrations');
    const parts = [];
    const m = state.migrations;
    if (m && m.error) parts.push(el('p', { class: 'error bad', text: 'Migrations: ' + m.error }));
    if (m && m.migrations && m.migrations.length) {
      parts.push(el('div', { class: 'table-wrap' }, el('table', {},
        el('thead', {}, el('tr', {}, ['Migration', 'State', 'Contract now'].map((h) => el('th', { scope: 'col', text: h })))),
        el('tbody', {}, m.migrations.map((x) => el('tr', {},
          el('td', {}, el('code', { text: x.name })),
          el('td', {}, badge(x.phase, x.phase === 'expanded' || x.phase === 'contracted' ? 'good' : x.phase === 'pending' ? '' : 'warn')),
          el('td', { text: x.contract ? (x.contract.allowed ? 'allowed' : 'refused: ' + x.contract.reason) : '–' })))))));
    }
    // What `bluegreen migrate` did while the page was open.
    const f = (ev, k) => ev[k] !== undefined ? ev[k] : ev[k.charAt(0).toUpperCase() + k.slice(1)];
    if (state.migrationEvents.length) {
      parts.push(el('h3', { class: 'small', text: 'Recent migration events' }),
        el('ul', { class: 'checks' }, state.migrationEvents.map((ev) => {
          const kind = f(ev, 'kind') || '';
          return el('li', {}, el('time', { class: 'muted', datetime: f(ev, 'time'), text: clock(f(ev, 'time')) }), ' ',
            badge(kind === 'phase' ? f(ev, 'phase') : kind, kind === 'refused' ? 'bad' : kind === 'forced' || kind === 'lock_timeout' ? 'warn' : ''), ' ',
            el('code', { text: f(ev, 'migration') || '' }), ' ', f(ev, 'message') || '');
        })));
    }
    // Gates that refused the shown deployment (schema gate in verifying).
    const x = state.shown ? detailsOf(state.shown.dep) : {};
    for (const r of ((x.report && x.report.results) || [])) {
      if (r.kind === 'gate' && !r.passed) parts.push(el('p', { class: 'verdict bad', text: `Gate ${r.name} refused ${state.shown.dep.version}: ${r.reason}` }));
    }
    card.hidden = parts.length === 0;
    box.replaceChildren(...parts);
  }

  // ---- audit ----
  function renderAudit(entries) {
    let table = $('audit');
    if (!table) {
      const card = $('history').closest('section');
      card.append(el('h3', { id: 'h-audit', text: 'Admin actions' }),
        el('div', { class: 'table-wrap' }, el('table', { id: 'audit', 'aria-labelledby': 'h-audit' },
          el('thead', {}, el('tr', {}, ['Time', 'Who', 'Action', 'Arguments', 'Result', 'From'].map((h) => el('th', { scope: 'col', text: h })))),
          el('tbody'))));
      table = $('audit');
    }
    const rows = entries.map((a) => el('tr', {},
      el('td', {}, el('time', { datetime: a.time, text: dateTime(a.time) })),
      el('td', { text: a.actor }),
      el('td', { text: a.action }),
      el('td', { class: 'muted', text: a.args ? JSON.stringify(a.args).slice(0, 120) : '' }),
      el('td', {}, a.result === 'ok' ? 'ok' : badge(a.result.slice(0, 120), 'bad')),
      el('td', { text: a.remote })));
    table.tBodies[0].replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: '6', class: 'muted', text: 'No admin actions yet.' }))]));
  }

  // ---- history ----
  function renderHistory() {
    const rows = (state.history || []).map((d) => {
      const tr = el('tr', { tabindex: '0', 'data-id': d.id, 'aria-current': state.shown && state.shown.dep.id === d.id ? 'true' : null,
        'aria-label': `Show deployment ${d.id} in the timeline` },
        el('td', { class: 'num', text: String(d.id) }),
        el('td', { text: d.kind }),
        el('td', { text: `${d.from_version || '–'} → ${d.version}` }),
        el('td', { text: d.slot }),
        el('td', {}, badge(d.phase, phaseClass(d.phase))),
        el('td', {}, el('time', { datetime: d.created_at, text: dateTime(d.created_at) })),
        el('td', { class: 'num', text: took(d) }));
      const show = () => {
        const c = currentDeployment(state.status);
        state.follow = !!(c && c.id === d.id);
        loadDeployment(d.id);
      };
      tr.addEventListener('click', show);
      tr.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); show(); } });
      return tr;
    });
    $('history').tBodies[0].replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: '7', class: 'muted', text: 'No deployments yet.' }))]));
  }

  // ---- wiring ----
  $('deploy-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const version = $('deploy-version').value.trim();
    const strategy = $('deploy-strategy').value.trim();
    if (!version) { showResult('Give the version to deploy, such as v2.', true); $('deploy-version').focus(); return; }
    act('deploy', { version, strategy });
  });
  for (const name of ['promote', 'pause', 'resume', 'abort', 'rollback']) {
    $('act-' + name).addEventListener('click', () => act(name, {}));
  }
  // The charts' time axis moves even when no point arrives.
  setInterval(() => { if (!document.hidden) renderCharts(); }, 30000);
  renderActions();
  renderTimeline();
  renderHistory();
  connect();
})();
