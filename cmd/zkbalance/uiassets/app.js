// The page of 'zkbalance ui': polls api/groups and api/group?name=G and
// draws them. Every value from the cluster goes in with textContent (never
// as HTML).
'use strict';

(() => {
  const POLL_GROUP_MS = 2000;
  const POLL_LIST_MS = 10000;
  const SVG = 'http://www.w3.org/2000/svg';
  const COLORS = ['#1f6feb', '#d9480f', '#2b8a3e', '#862e9c', '#c92a2a', '#e67700', '#0b7285', '#5c940d'];

  const $ = (id) => document.getElementById(id);
  let selected = null; // the group shown
  let generation = 0; // bumped on every selection: stale answers are dropped
  let groupTimer = null;

  // el makes an element with attributes and text or child nodes.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k.startsWith('data-')) e.dataset[k.slice(5).replace(/-(.)/g, (_, c) => c.toUpperCase())] = v;
      else e.setAttribute(k, v);
    }
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  async function getJSON(url) {
    const r = await fetch(url, { cache: 'no-store' });
    let body;
    try {
      body = await r.json();
    } catch (e) {
      throw new Error(`${r.status} ${r.statusText}`);
    }
    if (!r.ok) throw new Error(body.error || `${r.status} ${r.statusText}`);
    return body;
  }

  const dash = (v) => (v === null || v === undefined ? '-' : String(v));
  const clock = (t) => new Date(t).toLocaleTimeString([], { hour12: false });

  function showError(node, msg) {
    node.textContent = msg || '';
    node.hidden = !msg;
  }

  // ---- the group list

  async function loadGroups() {
    try {
      const d = await getJSON('api/groups');
      showError($('groups-error'), '');
      renderGroups(d);
    } catch (e) {
      showError($('groups-error'), `cannot list the groups: ${e.message}`);
    } finally {
      setTimeout(loadGroups, POLL_LIST_MS);
    }
  }

  function renderGroups(d) {
    const body = $('groups').tBodies[0];
    body.replaceChildren();
    if (d.groups.length === 0) body.append(el('tr', {}, el('td', { colspan: '4', class: 'muted' }, 'no consumer groups')));
    for (const g of d.groups) {
      const b = el('button', { type: 'button' }, g.group);
      b.addEventListener('click', () => select(g.group));
      body.append(el('tr', { 'data-group': g.group, class: g.group === selected ? 'selected' : '' },
        el('td', {}, b), el('td', { class: 'num' }, g.members), el('td', {}, g.coordination),
        el('td', {}, g.kafka_state && g.kafka_state !== 'Dead' ? `${g.kafka_state} (${g.kafka_members})` : '-')));
    }
    $('groups-warnings').replaceChildren(...(d.warnings || []).map((w) => el('li', {}, w)));
  }

  // ---- one group

  function select(group) {
    selected = group;
    generation++;
    clearTimeout(groupTimer);
    history.replaceState(null, '', `#group=${encodeURIComponent(group)}`);
    for (const tr of $('groups').tBodies[0].rows) tr.classList.toggle('selected', tr.dataset.group === group);
    $('pick').hidden = true;
    $('group').hidden = false;
    $('group-name').textContent = group;
    $('group').dataset.loaded = 'false';
    pollGroup(generation);
  }

  async function pollGroup(gen) {
    try {
      const d = await getJSON(`api/group?name=${encodeURIComponent(selected)}`);
      if (gen !== generation) return;
      renderGroup(d);
    } catch (e) {
      if (gen !== generation) return;
      showError($('group-error'), e.message);
    }
    if (gen === generation) groupTimer = setTimeout(() => pollGroup(gen), POLL_GROUP_MS);
  }

  function renderGroup(d) {
    const st = d.status;
    $('group-name').textContent = d.group;
    showError($('group-error'), d.error ? `latest read failed: ${d.error}` : '');
    $('updated').textContent = d.time ? `read at ${clock(d.time)}` : '';
    $('total-lag').textContent = st ? String(d.total_lag) : '-';
    renderChart(d);
    if (!st) return;
    const k = st.kafka;
    const mode = st.coordination_mode ? `, mode znode ${st.coordination_mode}${st.zookeeper_detached ? ' (zookeeper detached)' : ''}` : '';
    $('group-summary').textContent = `layout ${st.layout}, offsets in ${st.storage}, coordination ${st.coordination}${mode}` +
      (k ? `; kafka coordinator: ${k.state === 'Dead' ? 'no such group' : k.state}${k.protocol ? ' / ' + k.protocol : ''}` : '');

    const members = [];
    for (const m of st.members || []) {
      const topics = Object.entries(m.subscription || {}).map(([t, n]) => (n === 1 ? t : `${t}×${n}`)).join(', ');
      members.push(el('li', { 'data-member': m.id }, m.id, ' ', el('span', { class: 'kind' }, `zookeeper, ${m.layout}${topics ? ': ' + topics : ''}${m.error ? ' — ' + m.error : ''}`)));
    }
    for (const m of (k && k.members) || []) {
      const a = Object.entries(m.assignment || {}).map(([t, ps]) => `${t}:${ps.join(',')}`).join(' ');
      members.push(el('li', { 'data-member': m.id }, m.id, ' ', el('span', { class: 'kind' }, `kafka, ${m.client_id}@${m.host}${a ? ': ' + a : ''}`)));
    }
    if (members.length === 0) members.push(el('li', { class: 'muted' }, '(none)'));
    $('members').replaceChildren(...members);

    const body = $('partitions').tBodies[0];
    body.replaceChildren();
    for (const r of st.rows) {
      body.append(el('tr', { 'data-topic': r.topic, 'data-partition': String(r.partition) },
        el('td', {}, r.topic), el('td', { class: 'num' }, r.partition), el('td', { class: 'num' }, dash(r.current_offset)),
        el('td', { class: 'num' }, dash(r.log_end_offset)), el('td', { class: 'num lag' }, dash(r.lag)),
        el('td', {}, dash(r.owner)), el('td', {}, dash(r.store))));
    }
    if (st.rows.length === 0) body.append(el('tr', {}, el('td', { colspan: '7', class: 'muted' }, '(no partitions)')));

    const notes = [...(st.warnings || [])];
    for (const p of st.partitions || []) if (p.error) notes.push(`${p.topic}/${p.partition}: ${p.error}`);
    $('warnings').replaceChildren(...notes.map((w) => el('li', {}, w)));
    $('group').dataset.loaded = 'true';
  }

  // ---- the chart: total lag, and the lag per topic when there are several

  function renderChart(d) {
    const W = 640, H = 220, L = 56, R = 12, T = 12, B = 24;
    const chart = $('chart');
    const hist = d.history || [];
    chart.dataset.samples = String(hist.length);
    chart.replaceChildren();
    const topics = [...new Set(hist.flatMap((s) => Object.keys(s.topics || {})))].sort();
    const series = [{ name: 'total', color: '#24323f', value: (s) => s.lag }];
    if (topics.length > 1) {
      topics.forEach((t, i) => series.push({ name: t, color: COLORS[i % COLORS.length], value: (s) => (s.topics && t in s.topics ? s.topics[t] : null) }));
    }
    if (hist.length === 0) {
      chart.append(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'axis' }, 'no samples yet'));
      $('chart-legend').replaceChildren();
      return;
    }
    const t1 = Date.parse(hist[hist.length - 1].time);
    const t0 = Math.min(Date.parse(hist[0].time), t1 - 1000 * Math.max(d.interval_seconds || 1, 1));
    let ymax = 0;
    for (const s of hist) for (const se of series) { const v = se.value(s); if (v !== null && v > ymax) ymax = v; }
    ymax = niceCeil(ymax);
    const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
    const y = (v) => T + (1 - v / ymax) * (H - T - B);
    for (const v of [0, ymax / 2, ymax]) {
      chart.append(svg('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }));
      chart.append(svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, formatNum(v)));
    }
    chart.append(svg('text', { x: L, y: H - 6, class: 'axis' }, clock(t0)));
    chart.append(svg('text', { x: W - R, y: H - 6, 'text-anchor': 'end', class: 'axis' }, clock(t1)));
    // Draw the topics first so the total is on top.
    for (const se of series.slice(1).concat(series.slice(0, 1))) {
      let path = '', pen = false, points = 0;
      for (const s of hist) {
        const v = se.value(s);
        if (v === null || v === undefined) { pen = false; continue; }
        path += `${pen ? 'L' : 'M'}${x(Date.parse(s.time)).toFixed(1)},${y(v).toFixed(1)}`;
        pen = true;
        points++;
      }
      if (points === 0) continue;
      const p = svg('path', { d: path, stroke: se.color, 'data-series': se.name, 'data-points': String(points) });
      if (se.name === 'total') p.setAttribute('stroke-width', '3');
      chart.append(p);
      if (points === 1) { // a lone point: a dot so it shows
        const s = hist.find((h) => se.value(h) !== null && se.value(h) !== undefined);
        chart.append(svg('circle', { cx: x(Date.parse(s.time)), cy: y(se.value(s)), r: 3, fill: se.color }));
      }
    }
    $('chart-legend').replaceChildren(...series.map((se) => {
      const i = el('i', {});
      i.style.background = se.color;
      return el('span', {}, i, se.name === 'total' ? 'total lag' : se.name);
    }), el('span', { class: 'muted' }, `${hist.length} sample(s), every ${d.interval_seconds}s`));
  }

  function niceCeil(v) {
    if (v <= 0) return 1;
    const p = 10 ** Math.floor(Math.log10(v));
    for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function formatNum(v) {
    if (v >= 1e6) return `${(v / 1e6).toFixed(v % 1e6 ? 1 : 0)}M`;
    if (v >= 1e4) return `${(v / 1e3).toFixed(v % 1e3 ? 1 : 0)}k`;
    return String(Math.round(v * 10) / 10);
  }

  loadGroups();
  const m = location.hash.match(/^#group=(.+)$/);
  if (m) select(decodeURIComponent(m[1]));
})();
