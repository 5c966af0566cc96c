/* dashboard.js - renders `keygate dashboard`'s JSON endpoints into index.html.
 *
 * Every value shown comes from the chain, a KMS node or the decision log, so it is untrusted:
 * it enters the document only through text nodes (el() below, textContent), never as markup,
 * and never as a URL. The page's tests (tests/integration/dashboard_browser.js) read the ids and
 * data-* attributes set here. */
'use strict';

(function () {
  const state = { overview: null, decisions: [], chart: null };

  /* el('td', {class: 'x'}, 'text', child...): attributes from a fixed set, children as text. */
  const ATTRS = new Set(['class', 'id', 'title', 'colspan', 'value', 'data-kind', 'data-hash',
    'data-state', 'data-app', 'data-decision']);
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (!ATTRS.has(k)) throw new Error('attribute not allowed: ' + k);
      e.setAttribute(k, String(v));
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function $(id) { return document.getElementById(id); }

  function fmtTime(secs) {
    if (typeof secs !== 'number' || !isFinite(secs)) return '';
    return new Date(secs * 1000).toISOString().replace('T', ' ').replace('.000Z', 'Z');
  }
  function fmtDuration(s) {
    if (!s) return 'none';
    const units = [[86400, 'd'], [3600, 'h'], [60, 'min'], [1, 's']];
    for (const [n, u] of units) if (s % n === 0 && s >= n) return (s / n) + ' ' + u;
    return s + ' s';
  }
  function short(hex) {
    const h = String(hex || '');
    return h.length > 20 ? h.slice(0, 10) + '…' + h.slice(-8) : h;
  }
  /* A hash or address: shortened, the whole value in the title (an attribute, set as text). */
  function mono(value) { return el('span', { class: 'mono', title: String(value || '') }, short(value)); }

  async function getJSON(path) {
    const r = await fetch(path, { cache: 'no-store' });
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    if (!r.ok) throw new Error((body && body.error) || (path + ': HTTP ' + r.status));
    return body;
  }
  function showError(id, err) {
    const e = $(id);
    e.hidden = false;
    e.textContent = String(err && err.message ? err.message : err);
  }

  /* ---- overview ---------------------------------------------------------------------------- */
  function renderOverview(o) {
    state.overview = o;
    $('overview').textContent = 'chain ' + o.chain_id + ' at block ' + o.head.number + ' (' +
      fmtTime(o.head.timestamp) + ') · KMS contract ' + (o.kms_contract || 'none') +
      (o.from_block ? ' · events from block ' + o.from_block : '');
  }

  /* ---- verification ------------------------------------------------------------------------ */
  function renderVerify(v) {
    const box = $('verify');
    clear(box);
    box.setAttribute('data-state', v.ok ? 'ok' : 'failed');
    box.appendChild(el('p', { id: 'verify-status', class: v.ok ? 'verdict ok' : 'verdict bad' },
      v.ok ? 'OK: the log verifies' : 'FAILED: ' + v.violation_count + ' violation(s)'));
    box.appendChild(el('p', { class: 'muted' }, 'log: ' + v.source));
    if (!v.ok) {
      const ul = el('ul', { id: 'violations' });
      for (const x of v.violations)
        ul.appendChild(el('li', { class: 'violation' },
          x.entry === null ? '' : 'entry ' + x.entry + ': ', x.message));
      box.appendChild(ul);
    }
    const det = el('details', {}, el('summary', {}, 'report of keygate audit verify'));
    det.appendChild(el('pre', { id: 'verify-report' }, v.report.join('\n')));
    box.appendChild(det);
  }
  function verifyFailed(err) {
    const box = $('verify');
    clear(box);
    box.setAttribute('data-state', 'error');
    box.appendChild(el('p', { class: 'verdict bad' }, 'not verified: ' + err.message));
  }

  /* ---- apps -------------------------------------------------------------------------------- */
  const KINDS = {
    ComposeHashAdded: 'allowed', ComposeHashProposed: 'proposed', ComposeHashVetoed: 'vetoed',
    ComposeHashRemoved: 'revoked'
  };

  /* The compose-hash timeline of an app: its events, plus "activated" where a proposal's notice
   * ended without a veto (the contract emits nothing then), and what is still pending. */
  function timeline(app, now) {
    const rows = [];
    for (const h of app.history) {
      const kind = KINDS[h.event];
      if (!kind) continue;
      rows.push({ kind, hash: h.value, block: h.block, time: h.time, tx: h.tx,
        note: kind === 'vetoed' && h.guardian ? 'by guardian ' + h.guardian :
          kind === 'proposed' ? 'active from ' + fmtTime(h.activates_at) : undefined });
      if (kind === 'proposed') {
        const later = app.history.some((v) => v.event === 'ComposeHashVetoed' &&
          v.value === h.value && v.block >= h.block);
        if (!later && h.activates_at <= now)
          rows.push({ kind: 'activated', hash: h.value, time: h.activates_at, note: 'the notice ended' });
      }
    }
    for (const p of app.pending_compose_hashes)
      rows.push({ kind: 'pending', hash: p.compose_hash, time: p.activates_at,
        note: 'becomes active at ' + fmtTime(p.activates_at) });
    rows.sort((a, b) => (a.time || 0) - (b.time || 0) || (a.block || 0) - (b.block || 0));
    return rows;
  }

  function policyText(h) {
    if (h.advisory_id !== undefined) return 'advisory ' + h.advisory_id + ' ' + (h.value ? 'on' : 'off');
    if (h.policy !== undefined) return h.policy + ' ' + (h.enabled ? 'on' : 'off') +
      (h.address ? ' ' + h.address : h.number !== undefined ? ' ' + h.number : '');
    if (h.address) return h.address;
    if (h.new_owner) return 'new owner ' + h.new_owner;
    if (typeof h.value === 'boolean') return String(h.value);
    return h.value || '';
  }

  function renderApps(data) {
    const tbody = $('apps').tBodies[0];
    clear(tbody);
    const tl = $('timelines');
    clear(tl);
    const now = state.overview ? state.overview.head.timestamp : Date.now() / 1000;
    for (const a of data.apps) {
      const s = a.settings;
      tbody.appendChild(el('tr', { 'data-app': a.app_id },
        el('td', {}, mono(a.app_id)),
        el('td', {}, mono(a.owner), a.owner_is_contract
          ? el('span', { class: 'badge', title: 'the owner is a contract: a multisig, a timelock or a DAO' }, 'contract')
          : null),
        el('td', {}, fmtDuration(s.notice_period)),
        el('td', {}, /^0x0{40}$/.test(s.guardian) ? 'none' : mono(s.guardian)),
        el('td', {}, String(a.allowed_compose_hashes.length)),
        el('td', {}, String(a.pending_compose_hashes.length))));

      const box = el('div', { class: 'app', 'data-app': a.app_id });
      box.appendChild(el('h3', {}, 'App ', el('span', { class: 'mono' }, a.app_id)));
      for (const w of a.warnings) box.appendChild(el('p', { class: 'warning' }, w));
      const allowed = el('p', { class: 'allowed-now' }, 'Allowed now: ');
      if (a.allowed_compose_hashes.length === 0) allowed.appendChild(document.createTextNode('none'));
      for (const h of a.allowed_compose_hashes)
        allowed.appendChild(el('span', { class: 'mono hash', 'data-hash': h }, h));
      box.appendChild(allowed);
      const t = el('table', { class: 'timeline' },
        el('thead', {}, el('tr', {}, el('th', {}, 'Time (UTC)'), el('th', {}, 'Compose hash'),
          el('th', {}, 'Event'), el('th', {}, 'Block'), el('th', {}, 'Transaction'))));
      const tb = el('tbody', {});
      for (const r of timeline(a, now))
        tb.appendChild(el('tr', { class: 'ev ev-' + r.kind, 'data-kind': r.kind, 'data-hash': r.hash },
          el('td', {}, fmtTime(r.time)), el('td', { class: 'mono' }, r.hash),
          el('td', {}, r.kind + (r.note ? ' (' + r.note + ')' : '')),
          el('td', {}, r.block === undefined ? '' : String(r.block)),
          el('td', {}, r.tx ? mono(r.tx) : '')));
      t.appendChild(tb);
      box.appendChild(t);
      const other = a.history.filter((h) => !KINDS[h.event]);
      if (other.length) {
        const det = el('details', { class: 'policy-events' },
          el('summary', {}, 'Other governance events (' + other.length + ')'));
        const ul = el('ul', {});
        for (const h of other)
          ul.appendChild(el('li', { class: 'policy-event', 'data-kind': h.event },
            'block ' + h.block + ' · ' + fmtTime(h.time) + ' · ' + h.event + ' · ' + policyText(h)));
        det.appendChild(ul);
        box.appendChild(det);
      }
      tl.appendChild(box);
    }
    for (const e of data.errors)
      tl.appendChild(el('p', { class: 'error' }, 'app ' + e.app_id + ': ' + e.error));
  }

  /* ---- KMS --------------------------------------------------------------------------------- */
  const LISTS = [['allowed_mr', 'pending_mr', 'KMS aggregated MR', 'mr_aggregated'],
    ['allowed_device', 'pending_device', 'device', 'device_id'],
    ['allowed_os_image', 'pending_os_image', 'OS image', 'os_image_hash']];

  function renderKms(k) {
    const s = k.status;
    const dl = $('kms-summary');
    clear(dl);
    const kv = (key, value) => { dl.appendChild(el('dt', {}, key)); dl.appendChild(el('dd', {}, value)); };
    kv('contract', el('span', { class: 'mono' }, s.kms_contract));
    kv('owner', el('span', { class: 'mono' }, s.owner));
    kv('root key (k256)', el('span', { class: 'mono' }, s.k256_pubkey || 'not published'));
    if (s.governance_notice) kv('governance notice', fmtDuration(s.governance_notice.period));
    if (s.chain_view && s.chain_view.nodes !== undefined)
      kv('chain view', s.chain_view.quorum + ' of ' + s.chain_view.nodes + ' RPC nodes agree, ' +
        s.chain_view.confirmations + ' confirmations');

    const nodes = $('kms-nodes').tBodies[0];
    clear(nodes);
    for (const n of k.nodes) {
      const h = n.health || {};
      nodes.appendChild(el('tr', { 'data-state': n.error ? 'unreachable' : h.status },
        el('td', { class: 'mono' }, n.url),
        el('td', { class: n.error || !h.kms_allowed ? 'bad' : 'ok' }, n.error ? 'unreachable: ' + n.error : h.status),
        el('td', {}, h.self_check_reason === undefined ? '' : h.self_check_reason),
        el('td', {}, h.last_self_check_ms ? fmtTime(Math.floor(h.last_self_check_ms / 1000)) : '')));
    }

    const lists = $('kms-lists').tBodies[0];
    clear(lists);
    for (const [a, p, name] of LISTS) {
      for (const v of s[a] || []) lists.appendChild(el('tr', {}, el('td', {}, name), el('td', { class: 'mono' }, v), el('td', { class: 'ok' }, 'allowed')));
      for (const v of s[p] || []) lists.appendChild(el('tr', {}, el('td', {}, name), el('td', { class: 'mono' }, v.value),
        el('td', {}, 'pending, active from ' + fmtTime(v.activates_at))));
    }
    state.kmsStatus = s;
    renderMeasurements();

    const cps = $('kms-checkpoints').tBodies[0];
    clear(cps);
    for (const c of k.checkpoints)
      cps.appendChild(el('tr', {}, el('td', {}, String(c.size)), el('td', {}, mono(c.root)),
        el('td', {}, String(c.block)), el('td', {}, fmtTime(c.time)), el('td', {}, mono(c.tx))));
    if (k.checkpoints.length === 0)
      cps.appendChild(el('tr', {}, el('td', { colspan: 5, class: 'muted' },
        'none published (keygate kms checkpoint): a rolled-back log cannot be told from the chain')));
  }

  /* The node's measurements as its last self-check recorded them, against the allow-lists. */
  function renderMeasurements() {
    const tb = $('kms-measurements').tBodies[0];
    clear(tb);
    const s = state.kmsStatus;
    const checks = state.decisions.filter((d) => d.method === 'self-check');
    const last = checks[checks.length - 1];
    if (!s || !last) {
      tb.appendChild(el('tr', {}, el('td', { colspan: 3, class: 'muted' }, 'no self-check in the log')));
      return;
    }
    for (const [a, , name, field] of LISTS) {
      const v = last[field];
      const ok = (s[a] || []).includes(v);
      tb.appendChild(el('tr', {}, el('td', {}, name), el('td', { class: 'mono' }, v || ''),
        el('td', { class: ok ? 'ok' : 'bad' }, ok ? 'allowed' : 'not allowed')));
    }
  }

  /* ---- decisions --------------------------------------------------------------------------- */
  function filtered() {
    const app = $('f-app').value, dec = $('f-decision').value, reason = $('f-reason').value;
    return state.decisions.filter((d) => (!app || d.app_id === app) && (!dec || d.decision === dec) &&
      (!reason || d.reason === reason));
  }

  function fillSelect(id, values, label) {
    const sel = $(id);
    const keep = sel.value;
    while (sel.options.length > 1) sel.remove(1);
    for (const v of values) sel.appendChild(el('option', { value: v }, label ? label(v) : v));
    sel.value = values.includes(keep) ? keep : '';
  }

  function renderDecisions() {
    const rows = filtered();
    const allow = rows.filter((d) => d.decision === 'allow').length;
    $('count-total').textContent = String(rows.length);
    $('count-allow').textContent = String(allow);
    $('count-deny').textContent = String(rows.length - allow);
    const tb = $('decisions').tBodies[0];
    clear(tb);
    const shown = rows.slice(-500).reverse();
    for (const d of shown)
      tb.appendChild(el('tr', { class: 'decision', 'data-decision': d.decision },
        el('td', {}, fmtTime(Math.floor(d.time_ms / 1000))), el('td', {}, d.method || ''),
        el('td', { class: d.decision === 'allow' ? 'ok' : 'bad' }, d.decision === 'allow' ? 'released' : 'denied'),
        el('td', {}, d.app_id ? mono('0x' + d.app_id) : ''), el('td', {}, d.compose_hash ? mono(d.compose_hash) : ''),
        el('td', {}, d.block_number === null || d.block_number === undefined ? '' : String(d.block_number)),
        el('td', { class: 'reason' }, d.reason || '')));
    if (rows.length > shown.length)
      tb.appendChild(el('tr', {}, el('td', { colspan: 7, class: 'muted' }, 'the newest 500 of ' + rows.length + ' are listed')));
    drawChart(rows);
  }

  /* Releases and denials over time: their running counts, one point per decision. */
  function drawChart(rows) {
    const box = $('chart');
    if (state.chart) { state.chart.destroy(); state.chart = null; }
    clear(box);
    if (typeof uPlot === 'undefined') {
      box.appendChild(el('p', { class: 'muted' }, 'chart unavailable: uPlot was not built in (scripts/setup, then rebuild)'));
      return;
    }
    const xs = [], rel = [], den = [];
    let r = 0, d = 0;
    for (const x of rows) {
      if (x.decision === 'allow') r++; else d++;
      xs.push(x.time_ms / 1000);
      rel.push(r);
      den.push(d);
    }
    box.setAttribute('data-points', String(xs.length));
    const opts = {
      width: Math.max(400, Math.min(1100, box.clientWidth || 900)), height: 260,
      scales: { x: { time: true } },
      series: [{}, { label: 'released', stroke: '#1a7f37', width: 2, paths: uPlot.paths.stepped({ align: 1 }) },
        { label: 'denied', stroke: '#cf222e', width: 2, paths: uPlot.paths.stepped({ align: 1 }) }],
      axes: [{}, { label: 'decisions (running count)' }]
    };
    state.chart = new uPlot(opts, [xs, rel, den], box);
    window.kgDashboardChart = { points: xs.length, released: r, denied: d };
  }

  function setDecisions(data) {
    state.decisions = data.decisions;
    $('decisions-source').textContent = 'from ' + data.source + (data.decisions.length >= data.limit
      ? ' (the newest ' + data.limit + ')' : '');
    const apps = [...new Set(state.decisions.map((d) => d.app_id).filter(Boolean))].sort();
    const reasons = [...new Set(state.decisions.map((d) => d.reason).filter(Boolean))].sort();
    fillSelect('f-app', apps, (a) => '0x' + a);
    fillSelect('f-reason', reasons);
    renderDecisions();
    renderMeasurements();
  }

  /* ---- loading ----------------------------------------------------------------------------- */
  async function load() {
    document.body.setAttribute('data-state', 'loading');
    for (const id of ['apps-error', 'kms-error', 'decisions-error']) $(id).hidden = true;
    try { renderOverview(await getJSON('/api/overview')); } catch (e) { $('overview').textContent = 'chain: ' + e.message; }
    await Promise.all([
      getJSON('/api/apps').then(renderApps, (e) => showError('apps-error', e)),
      getJSON('/api/decisions').then(setDecisions, (e) => showError('decisions-error', e))
        .then(() => getJSON('/api/kms')).then(renderKms, (e) => showError('kms-error', e)),
      getJSON('/api/verify').then(renderVerify, verifyFailed)
    ]);
    document.body.setAttribute('data-state', 'ready');
  }

  document.addEventListener('DOMContentLoaded', () => {
    for (const id of ['f-app', 'f-decision', 'f-reason']) $(id).addEventListener('change', renderDecisions);
    $('reload').addEventListener('click', load);
    load();
  });
})();
