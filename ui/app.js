// Tribune's web UI: plain JavaScript, no build step, no framework, nothing loaded from
// elsewhere. Everything it shows comes from the agent's HTTP API, as any client gets it; live
// pages follow blocking queries (`?index=&wait=`), so a change shows as soon as it commits.
(() => {
  'use strict';

  const meta = document.querySelector('meta[name="tribune-ui-settings"]');
  const SETTINGS = meta ? JSON.parse(meta.content || '{}') : {};
  const BASE = SETTINGS.ContentPath || '/ui/';
  const LOCAL_DC = SETTINGS.Datacenter || 'dc1';
  const HUGE_VALUE = 256 * 1024; // bytes: larger values are offered as a download, not edited
  const main = document.getElementById('main');

  // ---- settings kept in the browser -------------------------------------------------------
  const store = {
    get token() { return localStorage.getItem('tribune:token') || ''; },
    set token(v) { v ? localStorage.setItem('tribune:token', v) : localStorage.removeItem('tribune:token'); },
    get live() { return localStorage.getItem('tribune:live') !== 'off'; },
    set live(on) { localStorage.setItem('tribune:live', on ? 'on' : 'off'); },
  };

  // ---- small helpers -----------------------------------------------------------------------
  const h = (v) => String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  const enc = (segment) => encodeURIComponent(segment);
  const keyPath = (key) => key.split('/').map(enc).join('/');
  const sleep = (ms, signal) => new Promise((resolve) => {
    const stop = () => { clearTimeout(t); resolve(); };
    const t = setTimeout(() => { if (signal) signal.removeEventListener('abort', stop); resolve(); }, ms);
    if (signal) signal.addEventListener('abort', stop, { once: true });
  });
  const bytesText = (n) => n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(1)} MiB`;
  const worst = (statuses) => statuses.includes('critical') ? 'critical' : statuses.includes('warning') ? 'warning' : statuses.length ? 'passing' : 'neutral';
  const pill = (status, text) => `<span class="pill ${h(status)}">${h(text ?? status)}</span>`;
  const tags = (list) => (list || []).map((t) => `<span class="tag">${h(t)}</span>`).join('');

  function toast(text) {
    const box = document.getElementById('toast');
    const item = document.createElement('div');
    item.textContent = text;
    box.appendChild(item);
    setTimeout(() => item.remove(), 4000);
  }

  function confirmDialog(question, action) {
    return new Promise((resolve) => {
      const dialog = document.createElement('dialog');
      dialog.innerHTML = `<p>${h(question)}</p><div class="row"><button class="btn danger" value="yes">${h(action)}</button><button class="btn" value="no" autofocus>Cancel</button></div>`;
      document.body.appendChild(dialog);
      dialog.addEventListener('click', (e) => {
        const value = e.target.closest('button')?.value;
        if (value) { dialog.close(); resolve(value === 'yes'); }
      });
      dialog.addEventListener('cancel', () => resolve(false));
      dialog.addEventListener('close', () => dialog.remove());
      dialog.showModal();
    });
  }

  // ---- the API -----------------------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, text, path, index) {
      super(`${status} ${text}`);
      this.status = status; this.text = text; this.path = path; this.index = index;
    }
  }

  async function api(path, opts = {}) {
    const url = new URL(path, location.origin);
    if (route.dc && route.dc !== LOCAL_DC && opts.dc !== false) url.searchParams.set('dc', route.dc);
    if (opts.index) { url.searchParams.set('index', opts.index); url.searchParams.set('wait', '5m'); }
    const headers = {};
    if (store.token) headers['X-Consul-Token'] = store.token;
    let res;
    try {
      res = await fetch(url, { method: opts.method || 'GET', headers, body: opts.body, signal: opts.signal });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError(0, 'The agent did not answer (is it running?)', path);
    }
    const text = await res.text();
    if (!res.ok) throw new ApiError(res.status, text.trim(), path, res.headers.get('X-Consul-Index'));
    let data = text;
    if ((res.headers.get('Content-Type') || '').includes('json')) data = text ? JSON.parse(text) : null;
    return { data, index: res.headers.get('X-Consul-Index'), filtered: res.headers.get('X-Consul-Results-Filtered-By-ACLs') === 'true' };
  }

  function errorBox(e) {
    if (e.name === 'AbortError') return '';
    if (e.status === 403) {
      const missing = /lacks permission '([^']+)'/.exec(e.text);
      const what = missing ? `This token lacks the <code>${h(missing[1])}</code> permission.` : h(e.text);
      return `<div class="error" role="alert"><strong>Permission denied</strong>${what} <a href="${link('settings')}">Log in with another token</a>.</div>`;
    }
    if (e.status === 401 && /ACL support disabled/.test(e.text)) {
      return `<div class="notice">ACLs are disabled on this agent: there are no tokens, policies or roles to manage.</div>`;
    }
    if (/No path to datacenter/.test(e.text || '')) {
      return `<div class="error" role="alert"><strong>Datacenter unreachable</strong>No server of ${h(route.dc)} can be reached from this agent.</div>`;
    }
    const status = e.status ? `Error ${e.status}` : 'No answer';
    return `<div class="error" role="alert"><strong>${h(status)}</strong>${h(e.text || e.message)}</div>`;
  }

  // Follows `path` with blocking queries while live updates are on; `show` gets each new
  // answer. Errors are shown in `onError`, and retried with a backoff unless they are final.
  // With `emptyOn404`, a 404 is an empty answer that is followed too (an empty KV folder).
  async function follow(ctx, path, show, onError, emptyOn404) {
    let index = null;
    let backoff = 0;
    while (!ctx.signal.aborted) {
      const asked = Date.now();
      const blocking = store.live && index !== null;
      let r;
      try {
        r = await api(path, { index: blocking ? index : null, signal: ctx.signal });
      } catch (e) {
        if (ctx.signal.aborted || e.name === 'AbortError') return;
        if (e.status === 404 && emptyOn404) {
          r = { data: null, index: e.index };
        } else {
          (onError || ((err) => { main.innerHTML = errorBox(err); }))(e);
          if ([401, 403, 404].includes(e.status)) return;
          backoff = Math.min(backoff ? backoff * 2 : 1000, 15000);
          await sleep(backoff, ctx.signal);
          continue;
        }
      }
      backoff = 0;
      if (ctx.signal.aborted) return;
      if (r.index !== index || index === null) show(r);
      const unchanged = r.index === index;
      // An index that went backwards (a restore, another server) starts over.
      index = r.index && (!index || Number(r.index) >= Number(index)) ? r.index : null;
      if (!store.live) return;
      // An endpoint that does not block (or answers without an index) returns at once:
      // poll it every few seconds instead of as fast as the agent answers.
      if ((!r.index || (blocking && unchanged)) && Date.now() - asked < 1000) {
        await sleep(3000, ctx.signal);
      }
    }
  }

  // ---- routing -----------------------------------------------------------------------------
  const route = { dc: LOCAL_DC, section: 'services', rest: [] };
  const SECTIONS = [
    ['services', 'Services'], ['nodes', 'Nodes'], ['kv', 'Key/Value'],
    ['acls', 'Access Controls'], ['cluster', 'Cluster'], ['settings', 'Settings'],
  ];

  function link(section, ...rest) {
    return BASE + enc(route.dc) + '/' + section + (rest.length ? '/' + rest.join('/') : '');
  }

  // A segment as written in the address bar; a malformed escape is kept as it is.
  const dec = (segment) => { try { return decodeURIComponent(segment); } catch (e) { return segment; } };

  function parseLocation() {
    const path = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : '';
    const parts = path.split('/');
    route.dc = parts[0] ? dec(parts[0]) : LOCAL_DC;
    route.section = parts[1] || 'services';
    route.rest = parts.slice(2);
  }

  function navigate(url, replace) {
    if (replace) history.replaceState(null, '', url); else history.pushState(null, '', url);
    render();
  }

  document.addEventListener('click', (e) => {
    const a = e.target.closest('a[href]');
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || a.target || a.hasAttribute('download')) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || !url.pathname.startsWith(BASE)) return;
    e.preventDefault();
    navigate(url.pathname + url.search);
  });
  window.addEventListener('popstate', () => render());
  document.addEventListener('keydown', (e) => {
    // "/" focuses the page's search box, as in most consoles.
    if (e.key === '/' && !/^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName)) {
      const search = main.querySelector('input[type=search]');
      if (search) { e.preventDefault(); search.focus(); }
    }
  });

  let current = null; // the page being shown: its AbortController

  function render() {
    parseLocation();
    if (current) current.abort();
    current = new AbortController();
    const ctx = { signal: current.signal };
    drawChrome();
    main.innerHTML = '<p class="loading">Loading…</p>';
    const pages = { services: servicesPage, nodes: nodesPage, kv: kvPage, acls: aclPage, cluster: clusterPage, settings: settingsPage };
    const page = pages[route.section];
    if (!page) { main.innerHTML = `<div class="error"><strong>Not found</strong>No page named ${h(route.section)}.</div>`; return; }
    page(ctx).catch((e) => { if (!ctx.signal.aborted) main.innerHTML = errorBox(e); });
  }

  function drawChrome() {
    document.getElementById('nav').innerHTML = SECTIONS.map(([id, name]) =>
      `<a href="${link(id)}"${route.section === id ? ' aria-current="page"' : ''}>${h(name)}</a>`).join('');
    const indicator = document.getElementById('live-indicator');
    indicator.className = 'live ' + (store.live ? 'on' : 'off');
    indicator.textContent = store.live ? 'Live' : 'Paused';
    document.querySelector('.brand').setAttribute('href', link('services'));
    const title = SECTIONS.find(([id]) => id === route.section);
    document.title = `${title ? title[1] : 'Tribune'} · ${route.dc} · Tribune`;
  }

  async function loadDatacenters() {
    const select = document.getElementById('dc-select');
    try {
      const { data } = await api('/v1/catalog/datacenters', { dc: false });
      const dcs = data.includes(route.dc) ? data : [route.dc, ...data];
      select.innerHTML = dcs.map((dc) => `<option${dc === route.dc ? ' selected' : ''}>${h(dc)}</option>`).join('');
    } catch (e) {
      select.innerHTML = `<option selected>${h(route.dc)}</option>`;
    }
    select.addEventListener('change', () => {
      route.dc = select.value;
      navigate(link(route.section));
    });
  }

  function anonymousBanner() {
    if (!SETTINGS.ACLsEnabled || store.token) return '';
    return `<div class="notice" style="margin-bottom:12px">ACLs are on and you are browsing without a token (as anonymous). <a href="${link('settings')}">Log in</a></div>`;
  }

  // ---- services ----------------------------------------------------------------------------
  async function servicesPage(ctx) {
    if (route.rest[0]) return serviceDetail(ctx, dec(route.rest[0]));
    main.innerHTML = `${anonymousBanner()}<h1>Services <span class="muted" id="count"></span></h1>
      <div class="toolbar" role="search">
        <input type="search" id="search" placeholder="Search by name or tag  (press /)" aria-label="Search services">
        <select id="health" aria-label="Health"><option value="">Any health</option><option value="passing">Passing</option><option value="warning">Warning</option><option value="critical">Critical</option></select>
      </div>
      <div id="list"><p class="loading">Loading…</p></div>`;
    let services = [];
    const search = main.querySelector('#search');
    const health = main.querySelector('#health');
    const draw = () => {
      const q = search.value.trim().toLowerCase();
      const shown = services.filter((s) => {
        const status = s.ChecksCritical ? 'critical' : s.ChecksWarning ? 'warning' : 'passing';
        return (!q || s.Name.toLowerCase().includes(q) || (s.Tags || []).some((t) => t.toLowerCase().includes(q)))
          && (!health.value || health.value === status);
      });
      main.querySelector('#count').textContent = `${shown.length} of ${services.length}`;
      main.querySelector('#list').innerHTML = shown.length ? `<div class="table-wrap"><table>
        <thead><tr><th>Service</th><th>Health checks</th><th class="num">Instances</th><th>Tags</th></tr></thead>
        <tbody>${shown.map((s) => `<tr data-service="${h(s.Name)}">
          <td><a href="${link('services', enc(s.Name))}">${h(s.Name)}</a></td>
          <td><span class="health">${s.ChecksPassing ? pill('passing', `${s.ChecksPassing} passing`) : ''}${s.ChecksWarning ? pill('warning', `${s.ChecksWarning} warning`) : ''}${s.ChecksCritical ? pill('critical', `${s.ChecksCritical} critical`) : ''}${!(s.ChecksPassing + s.ChecksWarning + s.ChecksCritical) ? pill('neutral', 'no checks') : ''}</span></td>
          <td class="num">${s.InstanceCount}</td><td>${tags(s.Tags)}</td></tr>`).join('')}</tbody></table></div>`
        : `<p class="muted">${services.length ? 'No service matches.' : 'No services registered.'}</p>`;
    };
    search.addEventListener('input', draw);
    health.addEventListener('change', draw);
    await follow(ctx, '/v1/internal/ui/services', (r) => { services = r.data || []; draw(); },
      (e) => { main.querySelector('#list').innerHTML = errorBox(e); });
  }

  function checkBlock(c) {
    return `<div class="check ${h(c.Status)}">${pill(c.Status)} <strong>${h(c.Name)}</strong> <span class="muted">${h(c.CheckID)}${c.Type ? ' · ' + h(c.Type) : ''}</span>
      ${c.Notes ? `<div class="muted">${h(c.Notes)}</div>` : ''}${c.Output ? `<pre>${h(c.Output)}</pre>` : ''}</div>`;
  }

  async function serviceDetail(ctx, name) {
    main.innerHTML = `<div class="crumbs"><a href="${link('services')}">Services</a> /</div>
      <h1>${h(name)}</h1><div id="instances"><p class="loading">Loading…</p></div>`;
    await follow(ctx, `/v1/health/service/${enc(name)}`, (r) => {
      const list = r.data || [];
      main.querySelector('#instances').innerHTML = list.length ? `<div class="table-wrap"><table>
        <thead><tr><th>Instance</th><th>Node</th><th>Address</th><th>Health</th><th>Checks</th></tr></thead><tbody>
        ${list.map((e) => {
          const status = worst(e.Checks.map((c) => c.Status));
          const addr = (e.Service.Address || e.Node.Address) + (e.Service.Port ? ':' + e.Service.Port : '');
          return `<tr><td><strong>${h(e.Service.ID)}</strong><div>${tags(e.Service.Tags)}</div></td>
            <td><a href="${link('nodes', enc(e.Node.Node))}">${h(e.Node.Node)}</a></td><td><code>${h(addr)}</code></td>
            <td>${pill(status)}</td><td>${e.Checks.map(checkBlock).join('')}</td></tr>`;
        }).join('')}</tbody></table></div>` : '<p class="muted">No instances of this service.</p>';
    }, (e) => { main.querySelector('#instances').innerHTML = errorBox(e); });
  }

  // ---- nodes -------------------------------------------------------------------------------
  async function nodesPage(ctx) {
    if (route.rest[0]) return nodeDetail(ctx, dec(route.rest[0]));
    main.innerHTML = `${anonymousBanner()}<h1>Nodes <span class="muted" id="count"></span></h1>
      <div class="toolbar" role="search"><input type="search" id="search" placeholder="Search by name or address  (press /)" aria-label="Search nodes"></div>
      <div id="list"><p class="loading">Loading…</p></div>`;
    let nodes = [];
    const search = main.querySelector('#search');
    const draw = () => {
      const q = search.value.trim().toLowerCase();
      const shown = nodes.filter((n) => !q || n.Node.toLowerCase().includes(q) || n.Address.includes(q));
      main.querySelector('#count').textContent = `${shown.length} of ${nodes.length}`;
      main.querySelector('#list').innerHTML = `<div class="table-wrap"><table>
        <thead><tr><th>Node</th><th>Address</th><th>Health</th><th class="num">Services</th><th class="num">Checks</th></tr></thead><tbody>
        ${shown.map((n) => {
          const status = worst(n.Checks.map((c) => c.Status));
          return `<tr><td><a href="${link('nodes', enc(n.Node))}">${h(n.Node)}</a></td><td><code>${h(n.Address)}</code></td>
            <td>${pill(status)}</td><td class="num">${n.Services.length}</td><td class="num">${n.Checks.length}</td></tr>`;
        }).join('')}</tbody></table></div>`;
    };
    search.addEventListener('input', draw);
    await follow(ctx, '/v1/internal/ui/nodes', (r) => { nodes = r.data || []; draw(); },
      (e) => { main.querySelector('#list').innerHTML = errorBox(e); });
  }

  async function nodeDetail(ctx, name) {
    main.innerHTML = `<div class="crumbs"><a href="${link('nodes')}">Nodes</a> /</div><h1>${h(name)}</h1>
      <div class="grid2"><section><h2>Health checks</h2><div id="checks"><p class="loading">Loading…</p></div></section>
      <section><h2>Services</h2><div id="services"><p class="loading">Loading…</p></div>
      <h2>Sessions</h2><div id="sessions"><p class="loading">Loading…</p></div></section></div>`;
    const box = (id) => main.querySelector('#' + id);
    follow(ctx, `/v1/health/node/${enc(name)}`, (r) => {
      box('checks').innerHTML = (r.data || []).map(checkBlock).join('') || '<p class="muted">No checks.</p>';
    }, (e) => { box('checks').innerHTML = errorBox(e); });
    follow(ctx, `/v1/catalog/node-services/${enc(name)}`, (r) => {
      const services = r.data ? r.data.Services : [];
      box('services').innerHTML = services.length ? `<div class="table-wrap"><table><thead><tr><th>Service</th><th>ID</th><th class="num">Port</th><th>Tags</th></tr></thead><tbody>
        ${services.map((s) => `<tr><td><a href="${link('services', enc(s.Service))}">${h(s.Service)}</a></td><td>${h(s.ID)}</td><td class="num">${h(s.Port)}</td><td>${tags(s.Tags)}</td></tr>`).join('')}
        </tbody></table></div>` : '<p class="muted">No services on this node.</p>';
    }, (e) => { box('services').innerHTML = errorBox(e); });
    follow(ctx, `/v1/session/node/${enc(name)}`, (r) => {
      const sessions = r.data || [];
      box('sessions').innerHTML = sessions.length ? `<div class="table-wrap"><table><thead><tr><th>Session</th><th>Behavior</th><th>TTL</th><th></th></tr></thead><tbody>
        ${sessions.map((s) => `<tr><td><code>${h(s.ID)}</code><div class="muted">${h(s.Name)}</div></td><td>${h(s.Behavior)}</td><td>${h(s.TTL || '—')}</td>
          <td><button class="btn danger" data-invalidate="${h(s.ID)}">Invalidate</button></td></tr>`).join('')}
        </tbody></table></div>` : '<p class="muted">No sessions on this node.</p>';
    }, (e) => { box('sessions').innerHTML = errorBox(e); });
    main.addEventListener('click', async (e) => {
      const id = e.target.closest('[data-invalidate]')?.dataset.invalidate;
      if (!id || !(await confirmDialog(`Invalidate session ${id}? Its locks are released (or its keys deleted).`, 'Invalidate'))) return;
      try { await api(`/v1/session/destroy/${enc(id)}`, { method: 'PUT' }); toast('Session invalidated'); } catch (err) { toast(err.text || err.message); }
    }, { signal: ctx.signal });
  }

  // ---- key/value ---------------------------------------------------------------------------
  async function kvPage(ctx) {
    const rest = route.rest.map(dec);
    const last = rest[rest.length - 1];
    if (last === 'edit') return kvEdit(ctx, rest.slice(0, -1).join('/'));
    if (last === 'create') return kvCreate(ctx, rest.slice(0, -1).filter(Boolean).map((p) => p + '/').join(''));
    return kvFolder(ctx, rest.filter(Boolean).map((p) => p + '/').join(''));
  }

  function kvCrumbs(path) {
    const parts = path.split('/').filter(Boolean);
    let acc = '';
    return `<div class="crumbs"><a href="${link('kv')}">Key/Value</a> / ${parts.map((p) => {
      acc += p + '/';
      return `<a href="${link('kv', keyPath(acc.slice(0, -1)), '')}">${h(p)}</a>`;
    }).join(' / ')}</div>`;
  }

  async function kvFolder(ctx, folder) {
    main.innerHTML = `${anonymousBanner()}${kvCrumbs(folder)}<h1>${h(folder || 'Key/Value')}</h1>
      <div class="toolbar"><a class="btn primary" href="${link('kv', ...(folder ? [keyPath(folder.slice(0, -1))] : []), 'create')}">Create</a>
      ${folder ? '<button class="btn danger" id="delete-folder">Delete folder</button>' : ''}</div><div id="list"><p class="loading">Loading…</p></div>`;
    const list = main.querySelector('#list');
    const path = `/v1/kv/${keyPath(folder)}?keys&separator=/`;
    main.querySelector('#delete-folder')?.addEventListener('click', async () => {
      if (!(await confirmDialog(`Delete the folder ${folder} and every key under it?`, 'Delete'))) return;
      try {
        await api(`/v1/kv/${keyPath(folder)}?recurse`, { method: 'DELETE' });
        toast(`Deleted ${folder}`);
        const parent = folder.slice(0, -1).split('/').slice(0, -1).join('/');
        navigate(parent ? link('kv', keyPath(parent), '') : link('kv'));
      } catch (e) { toast(e.text || e.message); }
    });
    await follow(ctx, path, (r) => {
      const keys = (r.data || []).filter((k) => k !== folder);
      list.innerHTML = keys.length ? `<div class="table-wrap kv-list"><table><thead><tr><th>Name</th><th>Type</th></tr></thead><tbody>
        ${keys.map((k) => {
          const name = k.slice(folder.length);
          const isFolder = k.endsWith('/');
          const href = isFolder ? link('kv', keyPath(k.slice(0, -1)), '') : link('kv', keyPath(k), 'edit');
          return `<tr><td><a href="${href}">${h(name)}</a></td><td class="muted">${isFolder ? 'folder' : 'key'}</td></tr>`;
        }).join('')}</tbody></table></div>` : '<p class="muted">No keys here yet.</p>';
    }, (e) => { list.innerHTML = errorBox(e); }, true);
  }

  // What a value looks like, for the editor's hint: JSON (checked), YAML (tabs refused) or text.
  function detectFormat(text) {
    const t = text.trim();
    if (t.startsWith('{') || t.startsWith('[')) {
      try { JSON.parse(t); return { kind: 'JSON', ok: true, note: 'valid JSON' }; } catch (e) { return { kind: 'JSON', ok: false, note: 'JSON: ' + e.message }; }
    }
    if (/^[\w.-]+:(\s|$)/m.test(t) || t.startsWith('---')) {
      const tab = t.split('\n').findIndex((line) => /^\s*\t/.test(line));
      return tab >= 0 ? { kind: 'YAML', ok: false, note: `YAML: a tab indents line ${tab + 1} (YAML allows only spaces)` } : { kind: 'YAML', ok: true, note: 'YAML' };
    }
    return { kind: 'text', ok: true, note: t ? 'plain text' : 'empty' };
  }

  function editorHtml(text, flags) {
    return `<label>Value <span class="hint" id="format-hint"></span><textarea id="value" spellcheck="false">${h(text)}</textarea></label>
      <div class="row"><button type="button" class="btn" id="pretty">Format JSON</button></div>
      <label>Flags <span class="hint">an unsigned 64-bit number kept with the key</span><input type="number" id="flags" min="0" value="${h(flags || 0)}"></label>`;
  }

  function wireEditor() {
    const area = main.querySelector('#value');
    const hint = main.querySelector('#format-hint');
    const pretty = main.querySelector('#pretty');
    const update = () => {
      const f = detectFormat(area.value);
      hint.textContent = f.note;
      hint.style.color = f.ok ? '' : 'var(--crit)';
      pretty.disabled = !(f.kind === 'JSON' && f.ok);
    };
    area.addEventListener('input', update);
    pretty.addEventListener('click', () => { area.value = JSON.stringify(JSON.parse(area.value), null, 2); update(); });
    update();
  }

  function flagsParam(value) {
    return /^\d+$/.test(value) && value !== '0' ? `&flags=${value}` : '';
  }

  async function kvCreate(ctx, folder) {
    main.innerHTML = `${kvCrumbs(folder)}<h1>Create a key</h1><form class="form panel" id="form">
      <label>Key or folder name <span class="hint">under ${h(folder || 'the root')}; end with / to create a folder</span><input type="text" id="name" required autofocus></label>
      ${editorHtml('', 0)}<div id="result"></div><div class="row"><button class="btn primary" type="submit">Save</button>
      <a class="btn" href="${folder ? link('kv', keyPath(folder.slice(0, -1)), '') : link('kv')}">Cancel</a></div></form>`;
    wireEditor();
    main.querySelector('#form').addEventListener('submit', async (e) => {
      e.preventDefault();
      const name = main.querySelector('#name').value;
      const key = folder + name;
      const isFolder = name.endsWith('/');
      const value = isFolder ? '' : main.querySelector('#value').value;
      try {
        // cas=0: only if the key does not exist yet, so nothing is overwritten by accident.
        const r = await api(`/v1/kv/${keyPath(key)}?cas=0${flagsParam(main.querySelector('#flags').value)}`, { method: 'PUT', body: value });
        if (r.data !== true) {
          main.querySelector('#result').innerHTML = `<div class="error" role="alert"><strong>Not created</strong>A key named ${h(key)} already exists. <a href="${link('kv', keyPath(key), 'edit')}">Open it</a></div>`;
          return;
        }
        toast(`Created ${key}`);
        navigate(isFolder ? link('kv', keyPath(key.slice(0, -1)), '') : link('kv', keyPath(key), 'edit'));
      } catch (err) { main.querySelector('#result').innerHTML = errorBox(err); }
    });
  }

  function decodeValue(b64) {
    const binary = atob(b64 || '');
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    let text = null;
    try { text = new TextDecoder('utf-8', { fatal: true }).decode(bytes); } catch (e) { text = null; }
    return { bytes, text };
  }

  async function kvEdit(ctx, key) {
    const folder = key.includes('/') ? key.slice(0, key.lastIndexOf('/') + 1) : '';
    const r = await api(`/v1/kv/${keyPath(key)}`, { signal: ctx.signal }).catch((e) => {
      if (e.status === 404) return null;
      throw e;
    });
    if (ctx.signal.aborted) return;
    if (!r) {
      main.innerHTML = `${kvCrumbs(folder)}<div class="error" role="alert"><strong>Not found</strong>There is no key ${h(key)} (it may have been deleted).</div>`;
      return;
    }
    const entry = r.data[0];
    const { bytes, text } = decodeValue(entry.Value);
    const huge = bytes.length > HUGE_VALUE || text === null;
    main.innerHTML = `${kvCrumbs(folder)}<h1>${h(key.slice(folder.length))}</h1>
      <p class="muted" id="about">${bytesText(bytes.length)} · modify index ${h(entry.ModifyIndex)}${entry.Session ? ` · locked by session <code>${h(entry.Session)}</code>` : ''}</p>
      <form class="form panel" id="form">${huge ? `<div class="notice" id="huge">This value is ${bytesText(bytes.length)}${text === null ? ' of binary data' : ''}: too large to edit here.
        <a id="download" download="${h(key.split('/').pop() || 'value')}">Download it</a>.</div>
        <input type="hidden" id="flags" value="${h(entry.Flags)}">` : editorHtml(text, entry.Flags)}
      <div id="result"></div>
      <div class="row">${huge ? '' : '<button class="btn primary" type="submit">Save</button>'}<button class="btn danger" type="button" id="delete">Delete</button></div></form>`;
    if (huge) {
      const url = URL.createObjectURL(new Blob([bytes]));
      main.querySelector('#download').href = url;
      ctx.signal.addEventListener('abort', () => URL.revokeObjectURL(url));
    } else {
      wireEditor();
    }
    let modifyIndex = entry.ModifyIndex;
    const result = main.querySelector('#result');
    const conflict = () => {
      result.innerHTML = `<div class="error" role="alert"><strong>Not saved: the key changed</strong>Someone else changed or deleted ${h(key)} since you opened it, so your edit was not written over theirs. Copy your text if you need it, then <a href="${link('kv', keyPath(key), 'edit')}" id="reload">load the current value</a>.</div>`;
    };
    main.querySelector('#form').addEventListener('submit', async (e) => {
      e.preventDefault();
      try {
        // CAS on the index we loaded: a concurrent change is reported, never overwritten.
        const saved = await api(`/v1/kv/${keyPath(key)}?cas=${modifyIndex}${flagsParam(main.querySelector('#flags').value)}`, { method: 'PUT', body: main.querySelector('#value').value });
        if (saved.data !== true) { conflict(); return; }
        // The index to save on next: ours only if what is stored is what we wrote (another
        // write right after ours must not be overwritten by our next save).
        const now = await api(`/v1/kv/${keyPath(key)}`);
        const stored = now.data[0];
        const sent = new TextEncoder().encode(main.querySelector('#value').value);
        const back = decodeValue(stored.Value).bytes;
        if (back.length !== sent.length || back.some((b, i) => b !== sent[i]) || String(stored.Flags) !== (main.querySelector('#flags').value || '0')) {
          conflict();
          return;
        }
        modifyIndex = stored.ModifyIndex;
        main.querySelector('#about').textContent = `${bytesText(decodeValue(now.data[0].Value).bytes.length)} · modify index ${modifyIndex}`;
        result.innerHTML = '';
        toast(`Saved ${key}`);
      } catch (err) { result.innerHTML = errorBox(err); }
    });
    main.querySelector('#delete').addEventListener('click', async () => {
      if (!(await confirmDialog(`Delete the key ${key}?`, 'Delete'))) return;
      try {
        const done = await api(`/v1/kv/${keyPath(key)}?cas=${modifyIndex}`, { method: 'DELETE' });
        if (done.data !== true) { conflict(); return; }
        toast(`Deleted ${key}`);
        navigate(folder ? link('kv', keyPath(folder.slice(0, -1)), '') : link('kv'));
      } catch (err) { result.innerHTML = errorBox(err); }
    });
  }

  // ---- ACLs --------------------------------------------------------------------------------
  const ACL_KINDS = {
    tokens: { title: 'Tokens', one: 'token', list: '/v1/acl/tokens', id: 'AccessorID' },
    policies: { title: 'Policies', one: 'policy', list: '/v1/acl/policies', id: 'ID' },
    roles: { title: 'Roles', one: 'role', list: '/v1/acl/roles', id: 'ID' },
  };

  async function aclPage(ctx) {
    const kind = ACL_KINDS[route.rest[0]] ? route.rest[0] : 'tokens';
    const which = route.rest[1] ? dec(route.rest[1]) : null;
    const tabs = `<nav class="toolbar" aria-label="Access controls">${Object.entries(ACL_KINDS).map(([k, v]) =>
      `<a class="btn${k === kind ? ' primary' : ''}" href="${link('acls', k)}"${k === kind ? ' aria-current="page"' : ''}>${v.title}</a>`).join('')}</nav>`;
    if (!SETTINGS.ACLsEnabled) {
      main.innerHTML = `<h1>Access Controls</h1><div class="notice">ACLs are disabled on this agent: there are no tokens, policies or roles to manage. Turn them on with <code>acl { enabled = true }</code> in the agent's configuration.</div>`;
      return;
    }
    if (which) return aclEdit(ctx, kind, which, tabs);
    const spec = ACL_KINDS[kind];
    main.innerHTML = `${anonymousBanner()}<h1>Access Controls</h1>${tabs}
      <div class="toolbar"><a class="btn primary" href="${link('acls', kind, 'create')}">Create a ${spec.one}</a></div><div id="list"><p class="loading">Loading…</p></div>`;
    const list = main.querySelector('#list');
    await follow(ctx, spec.list, (r) => {
      const items = r.data || [];
      const names = (xs) => (xs || []).map((x) => `<span class="tag">${h(x.Name || x.ID)}</span>`).join('');
      const rows = items.map((t) => kind === 'tokens'
        ? `<tr><td><a href="${link('acls', 'tokens', enc(t.AccessorID))}"><code>${h(t.AccessorID)}</code></a></td><td>${h(t.Description)}</td><td>${names(t.Policies)}</td><td>${names(t.Roles)}</td><td>${t.Local ? 'local' : 'global'}</td></tr>`
        : `<tr><td><a href="${link('acls', kind, enc(t.ID))}">${h(t.Name)}</a></td><td>${h(t.Description)}</td><td>${kind === 'roles' ? names(t.Policies) : `<code>${h(t.ID)}</code>`}</td></tr>`).join('');
      const head = kind === 'tokens' ? '<th>Accessor ID</th><th>Description</th><th>Policies</th><th>Roles</th><th>Scope</th>'
        : `<th>Name</th><th>Description</th><th>${kind === 'roles' ? 'Policies' : 'ID'}</th>`;
      list.innerHTML = `<div class="table-wrap"><table><thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table></div>`;
    }, (e) => { list.innerHTML = errorBox(e); });
  }

  async function aclEdit(ctx, kind, which, tabs) {
    const spec = ACL_KINDS[kind];
    const creating = which === 'create';
    const cloneOf = new URLSearchParams(location.search).get('clone');
    const source = creating ? cloneOf : which;
    let item = {};
    if (source) item = (await api(`/v1/acl/${spec.one}/${enc(source)}`, { signal: ctx.signal })).data || {};
    if (ctx.signal.aborted) return;
    if (creating && cloneOf) item = { ...item, ID: undefined, Name: item.Name ? `${item.Name}-copy` : undefined };
    const [policies, roles] = await Promise.all([
      kind === 'policies' ? Promise.resolve({ data: [] }) : api('/v1/acl/policies', { signal: ctx.signal }),
      kind === 'tokens' ? api('/v1/acl/roles', { signal: ctx.signal }) : Promise.resolve({ data: [] }),
    ]);
    if (ctx.signal.aborted) return;
    const picked = (list, id) => (list || []).some((x) => x.ID === id);
    const checkboxes = (name, all, chosen) => all.length ? `<fieldset class="panel"><legend>${name}</legend>${all.map((p) =>
      `<label style="font-weight:400"><input type="checkbox" name="${name}" value="${h(p.ID)}"${picked(chosen, p.ID) ? ' checked' : ''}> ${h(p.Name)}</label>`).join('')}</fieldset>` : '';
    const title = creating ? `Create a ${spec.one}` : kind === 'tokens' ? `Token ${item.AccessorID}` : item.Name;
    main.innerHTML = `<h1>Access Controls</h1>${tabs}<h2>${h(title)}</h2><form class="form panel" id="form">
      ${kind === 'tokens' ? `${!creating ? `<p>Secret ID: <code id="secret">••••••••</code> <button type="button" class="btn" id="reveal">Show</button></p>` : ''}
        <label>Description<input type="text" id="description" value="${h(item.Description)}"></label>
        ${checkboxes('Policies', policies.data, item.Policies)}${checkboxes('Roles', roles.data, item.Roles)}
        ${creating ? '<label style="font-weight:400"><input type="checkbox" id="local"> Local to this datacenter</label>' : ''}`
      : `<label>Name<input type="text" id="name" required value="${h(item.Name)}"></label>
        <label>Description<input type="text" id="description" value="${h(item.Description)}"></label>
        ${kind === 'policies' ? `<label>Rules <span class="hint">HCL or JSON, as Consul reads them</span><textarea id="rules" spellcheck="false">${h(item.Rules)}</textarea></label>` : checkboxes('Policies', policies.data, item.Policies)}`}
      <div id="result"></div>
      <div class="row"><button class="btn primary" type="submit">Save</button>
      ${!creating ? `${kind === 'tokens' ? '<button class="btn" type="button" id="clone">Clone</button>' : `<a class="btn" href="${link('acls', kind, 'create')}?clone=${enc(item.ID)}">Clone</a>`}
        <button class="btn danger" type="button" id="delete">Delete</button>` : ''}
      <a class="btn" href="${link('acls', kind)}">Back</a></div></form>`;
    const result = main.querySelector('#result');
    main.querySelector('#reveal')?.addEventListener('click', (e) => {
      main.querySelector('#secret').textContent = item.SecretID || '(hidden from this token)';
      e.target.remove();
    });
    const chosen = (name) => [...main.querySelectorAll(`input[name="${name}"]:checked`)].map((c) => ({ ID: c.value }));
    main.querySelector('#form').addEventListener('submit', async (e) => {
      e.preventDefault();
      // Everything the item had (datacenters, identities, templated policies) is kept; only
      // what this form edits changes.
      const body = { ...item, Description: main.querySelector('#description').value };
      for (const readOnly of ['Hash', 'CreateIndex', 'ModifyIndex', 'CreateTime', 'SecretID']) delete body[readOnly];
      if (kind === 'tokens') {
        body.Policies = chosen('Policies'); body.Roles = chosen('Roles');
        if (creating) body.Local = main.querySelector('#local').checked; else body.AccessorID = item.AccessorID;
      } else {
        body.Name = main.querySelector('#name').value;
        if (kind === 'policies') body.Rules = main.querySelector('#rules').value; else body.Policies = chosen('Policies');
        if (!creating) body.ID = item.ID;
      }
      try {
        const path = creating ? `/v1/acl/${spec.one}` : `/v1/acl/${spec.one}/${enc(item[spec.id])}`;
        const saved = await api(path, { method: 'PUT', body: JSON.stringify(body) });
        toast(`Saved ${spec.one}`);
        navigate(link('acls', kind, enc(saved.data[spec.id])), true);
      } catch (err) { result.innerHTML = errorBox(err); }
    });
    main.querySelector('#clone')?.addEventListener('click', async () => {
      try {
        const cloned = await api(`/v1/acl/token/${enc(item.AccessorID)}/clone`, { method: 'PUT', body: JSON.stringify({ Description: `Clone of ${item.Description || item.AccessorID}` }) });
        toast('Token cloned');
        navigate(link('acls', 'tokens', enc(cloned.data.AccessorID)));
      } catch (err) { result.innerHTML = errorBox(err); }
    });
    main.querySelector('#delete')?.addEventListener('click', async () => {
      if (!(await confirmDialog(`Delete this ${spec.one}? This cannot be undone.`, 'Delete'))) return;
      try {
        await api(`/v1/acl/${spec.one}/${enc(item[spec.id])}`, { method: 'DELETE' });
        toast(`Deleted ${spec.one}`);
        navigate(link('acls', kind));
      } catch (err) { result.innerHTML = errorBox(err); }
    });
  }

  // ---- settings and login ------------------------------------------------------------------
  async function settingsPage() {
    main.innerHTML = `<h1>Settings</h1><div class="grid2">
      <form class="form panel" id="login"><h2 style="margin-top:0">ACL token</h2>
        <p class="muted">${SETTINGS.ACLsEnabled ? 'ACLs are on: pages show what your token may read.' : 'ACLs are off on this agent: no token is needed.'}</p>
        <div id="who"></div>
        <label>Secret ID<input type="password" id="token" autocomplete="off" placeholder="a token's SecretID"></label>
        <div class="row"><button class="btn primary" type="submit">Log in</button><button class="btn" type="button" id="logout">Log out</button></div></form>
      <form class="form panel"><h2 style="margin-top:0">Live updates</h2>
        <label style="font-weight:400"><input type="checkbox" id="live"${store.live ? ' checked' : ''}> Follow changes as they happen (blocking queries)</label></form></div>`;
    const who = main.querySelector('#who');
    const showWho = async () => {
      if (!store.token) { who.innerHTML = '<p>No token: requests go as <strong>anonymous</strong>.</p>'; return; }
      try {
        const me = (await api('/v1/acl/token/self', { dc: false })).data;
        who.innerHTML = `<p>Logged in as <code>${h(me.AccessorID)}</code> ${me.Description ? '· ' + h(me.Description) : ''}</p>`;
      } catch (e) { who.innerHTML = errorBox(e); }
    };
    showWho();
    main.querySelector('#login').addEventListener('submit', async (e) => {
      e.preventDefault();
      const secret = main.querySelector('#token').value.trim();
      if (!secret) return;
      const before = store.token;
      store.token = secret;
      try {
        await api('/v1/acl/token/self', { dc: false });
        main.querySelector('#token').value = '';
        toast('Logged in');
        showWho();
      } catch (err) {
        store.token = before;
        who.innerHTML = err.status === 403 || /ACL not found/.test(err.text) ? '<div class="error" role="alert"><strong>Not logged in</strong>No token has this secret.</div>' : errorBox(err);
      }
    });
    main.querySelector('#logout').addEventListener('click', () => { store.token = ''; toast('Logged out'); showWho(); });
    main.querySelector('#live').addEventListener('change', (e) => { store.live = e.target.checked; drawChrome(); });
  }

  // ---- cluster (beyond Consul's UI) --------------------------------------------------------
  function rttMs(a, b) {
    // serf's `DistanceTo`: Euclidean distance plus both heights, plus the adjustments when the
    // sum is positive; seconds.
    let sum = 0;
    for (let i = 0; i < a.Vec.length; i++) sum += (a.Vec[i] - b.Vec[i]) ** 2;
    let d = Math.sqrt(sum) + a.Height + b.Height;
    const adjusted = d + a.Adjustment + b.Adjustment;
    if (adjusted > 0) d = adjusted;
    return d * 1000;
  }

  // Classical multidimensional scaling on the RTT matrix (two leading eigenvectors by power
  // iteration): a flat map whose distances approximate the measured round trips.
  function mds(names, dist) {
    const n = names.length;
    if (n < 2) return names.map(() => [0, 0]);
    const sq = dist.map((row) => row.map((d) => d * d));
    const rowMean = sq.map((row) => row.reduce((s, x) => s + x, 0) / n);
    const all = rowMean.reduce((s, x) => s + x, 0) / n;
    const B = sq.map((row, i) => row.map((x, j) => -0.5 * (x - rowMean[i] - rowMean[j] + all)));
    const vectors = [];
    for (let k = 0; k < 2; k++) {
      let v = names.map((_, i) => Math.sin(i * 7 + k * 3 + 1));
      let lambda = 0;
      for (let it = 0; it < 100; it++) {
        let w = B.map((row) => row.reduce((s, x, j) => s + x * v[j], 0));
        for (const [u, l] of vectors) { const dot = w.reduce((s, x, i) => s + x * u[i], 0); w = w.map((x, i) => x - dot * u[i]); void l; }
        const norm = Math.sqrt(w.reduce((s, x) => s + x * x, 0)) || 1;
        lambda = norm; v = w.map((x) => x / norm);
      }
      vectors.push([v, lambda]);
    }
    return names.map((_, i) => vectors.map(([v, l]) => v[i] * Math.sqrt(Math.max(l, 0))));
  }

  function coordinateMap(coords, me) {
    if (!coords.length) return '<p class="muted">No coordinates yet (they arrive within a minute of joining).</p>';
    const names = coords.map((c) => c.Node);
    const dist = coords.map((a) => coords.map((b) => rttMs(a.Coord, b.Coord)));
    const points = mds(names, dist);
    const xs = points.map((p) => p[0]); const ys = points.map((p) => p[1]);
    const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    const span = Math.max(maxX - minX, maxY - minY, 0.001);
    const W = 560, H = 360, pad = 40;
    const px = (x) => pad + ((x - minX) / span) * (W - 2 * pad);
    const py = (y) => pad + ((y - minY) / span) * (H - 2 * pad);
    const mine = coords.findIndex((c) => c.Node === me);
    const dots = coords.map((c, i) => {
      const rtt = mine >= 0 ? ` · ${dist[mine][i].toFixed(2)} ms from ${me}` : '';
      return `<g><circle cx="${px(xs[i]).toFixed(1)}" cy="${py(ys[i]).toFixed(1)}" r="${i === mine ? 7 : 5}" fill="${i === mine ? '#6d28d9' : '#2563eb'}"><title>${h(c.Node)}${h(rtt)}</title></circle>
        <text x="${(px(xs[i]) + 9).toFixed(1)}" y="${(py(ys[i]) + 4).toFixed(1)}" font-size="11">${h(c.Node)}</text></g>`;
    }).join('');
    const table = mine >= 0 ? `<div class="table-wrap" style="margin-top:10px"><table><thead><tr><th>Node</th><th class="num">Estimated RTT from ${h(me)}</th></tr></thead><tbody>
      ${coords.map((c, i) => [c.Node, dist[mine][i]]).sort((a, b) => a[1] - b[1]).map(([n, d]) => `<tr><td>${h(n)}</td><td class="num">${d.toFixed(3)} ms</td></tr>`).join('')}</tbody></table></div>` : '';
    return `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="Network coordinates: distances approximate round-trip times" style="width:100%;max-width:${W}px;background:#fff;border:1px solid var(--line);border-radius:6px">
      <text x="10" y="18" font-size="11" fill="#5d6375">scale: ${(span).toFixed(2)} ms across</text>${dots}</svg>${table}`;
  }

  function latencyChart(samples) {
    const http = samples.filter((s) => s.Name === 'consul.api.http' && s.Count > 0)
      .sort((a, b) => (b.P99 || b.Max) - (a.P99 || a.Max)).slice(0, 15);
    if (!http.length) return '<p class="muted">No HTTP requests in the last interval.</p>';
    const max = Math.max(...http.map((s) => s.P99 || s.Max), 0.001);
    const row = 26, W = 640, label = 210, room = W - label - 170;
    const bars = http.map((s, i) => {
      const y = i * row + 6;
      const w99 = ((s.P99 || s.Max) / max) * room;
      const w50 = ((s.P50 || s.Mean) / max) * room;
      const name = `${s.Labels.method || ''} ${s.Labels.path || ''}`;
      return `<text x="0" y="${y + 13}" font-size="11">${h(name)}</text>
        <rect x="${label}" y="${y}" width="${w99.toFixed(1)}" height="16" fill="#c4b5fd"><title>p99 ${(s.P99 || s.Max).toFixed(3)} ms</title></rect>
        <rect x="${label}" y="${y + 4}" width="${w50.toFixed(1)}" height="8" fill="#6d28d9"><title>p50 ${(s.P50 || s.Mean).toFixed(3)} ms</title></rect>
        <text x="${(label + w99 + 6).toFixed(1)}" y="${y + 13}" font-size="11">${(s.P50 || s.Mean).toFixed(2)} / ${(s.P99 || s.Max).toFixed(2)} ms · ${s.Count}</text>`;
    }).join('');
    return `<svg viewBox="0 0 ${W} ${http.length * row + 10}" role="img" aria-label="HTTP latency per endpoint, p50 and p99" style="width:100%;max-width:${W}px">${bars}</svg>
      <p class="muted">Dark bar: p50, light bar: p99, over the last 10-second interval; then the request count.</p>`;
  }

  async function clusterPage(ctx) {
    main.innerHTML = `${anonymousBanner()}<h1>Cluster</h1>
      <section><h2>Raft</h2><div id="raft"><p class="loading">Loading…</p></div></section>
      <section><h2>Gossip pool</h2><div id="gossip"><p class="loading">Loading…</p></div></section>
      <div class="grid2"><section><h2>Network coordinates</h2><div id="coords"><p class="loading">Loading…</p></div></section>
      <section><h2>HTTP latency</h2><div id="latency"><p class="loading">Loading…</p></div></section></div>`;
    const box = (id) => main.querySelector('#' + id);
    const guard = (id) => (e) => { box(id).innerHTML = errorBox(e); };
    let self = null;
    try { self = (await api('/v1/agent/self', { dc: false, signal: ctx.signal })).data; } catch (e) { if (ctx.signal.aborted) return; }
    const statusWord = ['none', 'alive', 'leaving', 'left', 'failed'];
    const drawRaft = async () => {
      const [config, health] = await Promise.all([
        api('/v1/operator/raft/configuration', { signal: ctx.signal }),
        api('/v1/operator/autopilot/health', { signal: ctx.signal }).catch(() => ({ data: { Servers: [] } })),
      ]);
      const byId = Object.fromEntries((health.data.Servers || []).map((s) => [s.ID, s]));
      const raft = self && self.Stats && self.Stats.raft ? self.Stats.raft : {};
      box('raft').innerHTML = `<p>${['commit_index', 'applied_index', 'last_log_index', 'term'].filter((k) => raft[k] !== undefined)
        .map((k) => `<span class="stat"><span class="muted">${h(k.replace(/_/g, ' '))}</span><b>${h(raft[k])}</b></span>`).join('')}</p>
        <div class="table-wrap"><table><thead><tr><th>Server</th><th>Address</th><th>Role</th><th>Voter</th><th class="num">Last contact</th><th class="num">Last index</th><th>Health</th></tr></thead><tbody>
        ${config.data.Servers.map((s) => { const hs = byId[s.ID] || {}; return `<tr><td>${h(s.Node)}</td><td><code>${h(s.Address)}</code></td>
          <td>${s.Leader ? pill('passing', 'leader') : 'follower'}</td><td>${s.Voter ? 'yes' : 'no'}</td><td class="num">${h(hs.LastContact ?? '—')}</td>
          <td class="num">${h(hs.LastIndex ?? '—')}</td><td>${hs.Healthy === undefined ? '—' : pill(hs.Healthy ? 'passing' : 'critical', hs.Healthy ? 'healthy' : 'unhealthy')}</td></tr>`; }).join('')}</tbody></table></div>`;
    };
    drawRaft().catch(guard('raft'));
    const timer = setInterval(() => { if (store.live) drawRaft().catch(guard('raft')); }, 2000);
    ctx.signal.addEventListener('abort', () => clearInterval(timer));
    api('/v1/agent/members', { dc: false, signal: ctx.signal }).then(({ data }) => {
      const score = self && self.Stats && self.Stats.serf_lan ? self.Stats.serf_lan.health_score : null;
      box('gossip').innerHTML = `${score !== null ? `<p>This agent's health score: <strong>${h(score)}</strong> <span class="muted">(0 is healthy; it rises while probes of others fail)</span></p>` : ''}
        <div class="table-wrap"><table><thead><tr><th>Member</th><th>Address</th><th>Status</th><th>Role</th><th>Datacenter</th></tr></thead><tbody>
        ${data.map((m) => `<tr><td>${h(m.Name)}</td><td><code>${h(m.Addr)}:${h(m.Port)}</code></td>
          <td>${pill(m.Status === 1 ? 'passing' : m.Status === 4 ? 'critical' : 'warning', statusWord[m.Status] || m.Status)}</td>
          <td>${m.Tags.role === 'consul' ? 'server' : 'client'}</td><td>${h(m.Tags.dc)}</td></tr>`).join('')}</tbody></table></div>`;
    }).catch(guard('gossip'));
    api('/v1/coordinate/nodes', { signal: ctx.signal }).then(({ data }) => {
      box('coords').innerHTML = coordinateMap(data || [], self && self.Config ? self.Config.NodeName : '');
    }).catch(guard('coords'));
    const drawLatency = () => api('/v1/agent/metrics', { dc: false, signal: ctx.signal }).then(({ data }) => {
      box('latency').innerHTML = latencyChart(data.Samples || []);
    }).catch(guard('latency'));
    drawLatency();
    const metricsTimer = setInterval(() => { if (store.live) drawLatency(); }, 10000);
    ctx.signal.addEventListener('abort', () => clearInterval(metricsTimer));
  }

  // ---- start -------------------------------------------------------------------------------
  if (!location.pathname.startsWith(BASE) || location.pathname === BASE) {
    history.replaceState(null, '', BASE + enc(LOCAL_DC) + '/services');
  }
  parseLocation();
  loadDatacenters();
  render();
})();
