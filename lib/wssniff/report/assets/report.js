'use strict';
// wssniff report: draws the model that `wssniff report` embeds in <script id="wssniff-data">.
// Payloads are attacker-controlled, so every piece of data reaches the page through
// textContent, createTextNode or setAttribute of a fixed, non-URL attribute; never through
// the HTML parser.
//
// Model (lib/wssniff/report/model.cpp, to_json):
//   { generator, histogram_buckets, connections: [ {
//       source, conn, method, target, status, client, upstream, subprotocol, deflate, tls,
//       start, duration_ms, frames[2], messages[2], bytes[2], close_code[2], close_reason[2],
//       tcp_close, errors {code: n},
//       latency { upgrade_ms, round_trips [[pinger, ping_ms, rtt_ms]], unanswered_pings[2],
//                 close_ms, close_by },
//       rates { bucket_s, messages[2][], bytes[2][] }, sizes[2][histogram_buckets],
//       events: [[t_ms|null, dir (0 c2s, 1 s2c, -1), op (0 error), len, preview,
//                 flags (1 truncated, 2 hex, 4 fatal), extra]] } ] }
(function () {
  const SVGNS = 'http://www.w3.org/2000/svg';
  const ROW_H = 22;
  const DIAGRAM_MAX = 300;
  const GAP_MS = 1000; // a longer pause is drawn as a collapsed gap
  const OPS = { 0: 'error', 1: 'text', 2: 'binary', 8: 'close', 9: 'ping', 10: 'pong' };
  const DIRS = { 0: 'c2s', 1: 's2c' };

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVGNS, tag);
    for (const k in attrs) e.setAttribute(k, String(attrs[k]));
    if (text !== undefined) e.textContent = String(text);
    return e;
  }
  function opName(op) { return OPS[op] || ('op ' + op); }
  function size(n) {
    if (n < 1024) return n + ' B';
    if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
    if (n < 1073741824) return (n / 1048576).toFixed(1) + ' MiB';
    return (n / 1073741824).toFixed(1) + ' GiB';
  }
  function ms(v) {
    if (v === null || v === undefined) return '–';
    if (v < 1) return v.toFixed(3) + ' ms';
    if (v < 1000) return v.toFixed(1) + ' ms';
    return (v / 1000).toFixed(3) + ' s';
  }
  function dash(v) { return v === null || v === undefined || v === '' ? '–' : String(v); }
  function hexBytes(hex) {
    const out = new Uint8Array(hex.length >> 1);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
    return out;
  }
  function hexDump(hex) {
    const b = hexBytes(hex);
    const lines = [];
    for (let off = 0; off < b.length; off += 16) {
      let h = '';
      let a = '';
      for (let i = off; i < off + 16; i++) {
        if (i < b.length) {
          h += b[i].toString(16).padStart(2, '0') + ' ';
          a += b[i] >= 32 && b[i] < 127 ? String.fromCharCode(b[i]) : '.';
        } else {
          h += '   ';
        }
      }
      lines.push(off.toString(16).padStart(8, '0') + '  ' + h + ' ' + a);
    }
    return lines.join('\n');
  }
  // What the table's preview column and the search see for an event.
  function previewText(ev) {
    if (ev[2] === 0) return ev[6] + ': ' + ev[4];
    if (ev[2] === 8 && ev[6]) {
      const code = ev[6][0] === null ? '' : String(ev[6][0]);
      return (code + ' ' + (ev[6][1] || '')).trim();
    }
    return ev[4];
  }
  function closeText(code, reason) {
    if (code === null && (reason === null || reason === undefined)) return '–';
    return (code === null ? '(no code)' : String(code)) + (reason ? ' ' + reason : '');
  }

  const data = JSON.parse(document.getElementById('wssniff-data').textContent);
  const conns = data.connections;
  document.title = 'wssniff report: ' + conns.length + ' connection(s)';

  const header = el('header');
  header.appendChild(el('h1', null, 'wssniff report'));
  const sources = Array.from(new Set(conns.map((c) => c.source)));
  header.appendChild(el('p', 'muted', conns.length + ' connection(s) from ' + sources.join(', ') +
                        ' · ' + data.generator));
  document.body.appendChild(header);

  // The connections table.
  const tableWrap = el('div', 'scroll-x');
  const table = el('table', 'connections');
  table.id = 'connections';
  const cols = ['#', 'source', 'target', 'status', 'subprotocol', 'deflate', 'TLS', 'start',
                'duration', 'frames c→s / s→c', 'messages sent / received',
                'bytes sent / received', 'close (client)', 'close (server)', 'TCP close',
                'errors'];
  const thead = el('thead');
  const hr = el('tr');
  for (const c of cols) hr.appendChild(el('th', null, c));
  thead.appendChild(hr);
  table.appendChild(thead);
  const tbody = el('tbody');
  conns.forEach((c, i) => {
    const tr = el('tr');
    tr.dataset.conn = String(c.conn);
    const first = el('td');
    const link = el('a', null, String(c.conn));
    link.setAttribute('href', '#conn-' + i);
    first.appendChild(link);
    tr.appendChild(first);
    const errorList = Object.keys(c.errors).map((k) => k + ' ×' + c.errors[k]).join(', ');
    const cells = [c.source, c.target === null ? '(no handshake)' : c.method + ' ' + c.target,
                   dash(c.status), dash(c.subprotocol), dash(c.deflate), dash(c.tls), dash(c.start),
                   ms(c.duration_ms), c.frames[0] + ' / ' + c.frames[1],
                   c.messages[0] + ' / ' + c.messages[1],
                   size(c.bytes[0]) + ' / ' + size(c.bytes[1]),
                   closeText(c.close_code[0], c.close_reason[0]),
                   closeText(c.close_code[1], c.close_reason[1]), dash(c.tcp_close),
                   errorList || '0'];
    cells.forEach((v, k) => {
      const td = el('td', k === cells.length - 1 ? 'errors' : null, v);
      if (k === 9) td.className = 'messages';
      tr.appendChild(td);
    });
    if (errorList) tr.classList.add('has-errors');
    tbody.appendChild(tr);
  });
  table.appendChild(tbody);
  tableWrap.appendChild(table);
  document.body.appendChild(tableWrap);

  conns.forEach((c, i) => document.body.appendChild(connectionSection(c, i)));

  function connectionSection(c, i) {
    const s = el('section', 'conn');
    s.id = 'conn-' + i;
    s.dataset.conn = String(c.conn);
    s.appendChild(el('h2', null, 'Connection ' + c.conn + (c.target ? ' · ' + c.target : '') +
                     (sources.length > 1 ? ' · ' + c.source : '')));
    s.appendChild(latencyBlock(c));
    s.appendChild(el('h3', null, 'Sequence'));
    s.appendChild(diagram(c));
    s.appendChild(el('h3', null, 'Messages'));
    s.appendChild(messageTable(c));
    s.appendChild(el('h3', null, 'Rates and sizes'));
    s.appendChild(charts(c));
    return s;
  }

  function latencyBlock(c) {
    const ul = el('ul', 'latency');
    const L = c.latency;
    ul.appendChild(el('li', null, 'request → 101: ' + (L.upgrade_ms === null
      ? 'not recorded (the archive has no times)'
      : ms(L.upgrade_ms))));
    for (const side of [0, 1]) {
      const rtts = L.round_trips.filter((r) => r[0] === side).map((r) => r[2]).sort((a, b) => a - b);
      const who = side === 0 ? 'client' : 'server';
      let text = 'ping → pong (' + who + ' pings): ';
      if (rtts.length === 0) {
        text += 'none matched';
      } else {
        const median = rtts[(rtts.length - 1) >> 1];
        text += rtts.length + ' round trip(s), median ' + ms(median) + ', min ' + ms(rtts[0]) +
                ', max ' + ms(rtts[rtts.length - 1]);
      }
      if (L.unanswered_pings[side] > 0) text += ', ' + L.unanswered_pings[side] + ' unanswered';
      ul.appendChild(el('li', 'rtt', text));
    }
    ul.appendChild(el('li', null, 'close handshake: ' + (L.close_ms === null ? '–'
      : ms(L.close_ms) + ' (started by the ' + (L.close_by === 0 ? 'client' : 'server') + ')')));
    return ul;
  }

  function diagram(c) {
    const W = 760;
    const XC = 150;
    const XS = 640;
    const wrap = el('div', 'scroll-x');
    const g = svg('svg', { class: 'diagram', width: W });
    const shown = Math.min(c.events.length, DIAGRAM_MAX);
    let y = 40;
    g.appendChild(svg('text', { x: XC, y: 16, 'text-anchor': 'middle', class: 'lane-label' }, 'client'));
    g.appendChild(svg('text', { x: XS, y: 16, 'text-anchor': 'middle', class: 'lane-label' },
                      'server' + (c.target ? ' ' + c.target : '')));
    const body = svg('g', {});
    let prevT = null;
    for (let k = 0; k < shown; k++) {
      const ev = c.events[k];
      const t = ev[0];
      let dy = 26;
      if (t !== null && prevT !== null) {
        const gap = t - prevT;
        if (gap > GAP_MS) {
          const gapG = svg('g', { class: 'gap' });
          gapG.appendChild(svg('line', { x1: XC - 40, x2: XS + 40, y1: y + 6, y2: y + 6 }));
          gapG.appendChild(svg('text', { x: (XC + XS) / 2, y: y + 2, 'text-anchor': 'middle' },
                               '⋯ ' + ms(gap) + ' without traffic ⋯'));
          body.appendChild(gapG);
          y += 20;
        } else {
          dy += Math.min(30, 8 * Math.log10(1 + gap));
        }
      }
      if (t !== null) prevT = t;
      y += dy;
      body.appendChild(svg('text', { x: 4, y: y + 4, class: 'time' }, t === null ? '' : '+' + ms(t)));
      const dir = ev[1];
      if (ev[2] === 0) {
        const m = svg('g', { class: 'mark error' });
        const x = dir === 0 ? XC : dir === 1 ? XS : (XC + XS) / 2;
        m.appendChild(svg('circle', { cx: x, cy: y, r: 6 }));
        m.appendChild(svg('text', { x: (XC + XS) / 2, y: y - 4, 'text-anchor': 'middle' },
                          '✖ ' + ev[6] + (ev[5] & 4 ? ' (fatal)' : '')));
        m.appendChild(svg('title', {}, ev[6] + ': ' + ev[4]));
        body.appendChild(m);
        continue;
      }
      const from = dir === 0 ? XC : XS;
      const to = dir === 0 ? XS : XC;
      const a = svg('g', { class: 'arrow op-' + opName(ev[2]) + ' ' + (DIRS[dir] || '') });
      a.appendChild(svg('line', { x1: from, x2: to + (dir === 0 ? -8 : 8), y1: y, y2: y }));
      const tip = dir === 0 ? [to, y, to - 9, y - 4, to - 9, y + 4] : [to, y, to + 9, y - 4, to + 9, y + 4];
      a.appendChild(svg('polygon', { points: tip.join(' ') }));
      let label = opName(ev[2]) + ' ' + size(ev[3]);
      const p = previewText(ev);
      if (p) {
        const shortP = ev[5] & 2 && ev[2] !== 8 ? p.slice(0, 24) : p.slice(0, 40);
        label += ' · ' + shortP + (shortP.length < p.length || ev[5] & 1 ? '…' : '');
      }
      a.appendChild(svg('text', { x: (XC + XS) / 2, y: y - 4, 'text-anchor': 'middle' }, label));
      a.appendChild(svg('title', {}, label));
      body.appendChild(a);
    }
    y += 24;
    g.insertBefore(svg('line', { x1: XC, x2: XC, y1: 24, y2: y, class: 'lane' }), g.firstChild);
    g.insertBefore(svg('line', { x1: XS, x2: XS, y1: 24, y2: y, class: 'lane' }), g.firstChild);
    g.appendChild(body);
    g.setAttribute('height', String(y + 8));
    g.setAttribute('viewBox', '0 0 ' + W + ' ' + (y + 8));
    wrap.appendChild(g);
    if (shown < c.events.length) {
      wrap.appendChild(el('p', 'muted', 'The first ' + shown + ' of ' + c.events.length +
                          ' events are drawn; the table below lists them all.'));
    }
    if (c.events.length === 0) wrap.appendChild(el('p', 'muted', 'No messages.'));
    return wrap;
  }

  function messageTable(c) {
    const box = el('div', 'messages');
    const controls = el('div', 'controls');
    const dirSel = el('select', 'dir-filter');
    for (const [v, t] of [['all', 'all'], ['sent', 'sent (client → server)'],
                          ['received', 'received (server → client)']]) {
      const o = el('option', null, t);
      o.value = v;
      dirSel.appendChild(o);
    }
    const search = el('input', 'search');
    search.type = 'search';
    search.placeholder = 'regular expression (payload preview, error, close reason)';
    search.setAttribute('aria-label', 'search');
    const count = el('span', 'count muted');
    controls.appendChild(dirSel);
    controls.appendChild(search);
    controls.appendChild(count);
    box.appendChild(controls);
    const head = el('div', 'grid-head');
    for (const h of ['#', 'time', 'dir', 'op', 'length', 'preview']) head.appendChild(el('span', null, h));
    box.appendChild(head);
    const viewport = el('div', 'viewport');
    const spacer = el('div', 'spacer');
    viewport.appendChild(spacer);
    box.appendChild(viewport);
    const detail = el('pre', 'detail', 'Select a message to see it whole: JSON is shown pretty, binary as hex.');
    box.appendChild(detail);

    const texts = c.events.map(previewText);
    let visible = c.events.map((_, k) => k);
    let selected = -1;
    const pool = [];

    function applyFilter() {
      const want = dirSel.value === 'sent' ? 0 : dirSel.value === 'received' ? 1 : -1;
      let re = null;
      search.classList.remove('invalid');
      search.removeAttribute('title');
      if (search.value !== '') {
        try {
          re = new RegExp(search.value, 'i');
        } catch (e) {
          search.classList.add('invalid');
          search.setAttribute('title', String(e.message));
        }
      }
      visible = [];
      for (let k = 0; k < c.events.length; k++) {
        if (want !== -1 && c.events[k][1] !== want) continue;
        if (re && !re.test(texts[k])) continue;
        visible.push(k);
      }
      count.textContent = visible.length + ' of ' + c.events.length + ' shown';
      box.dataset.visible = String(visible.length);
      spacer.style.height = visible.length * ROW_H + 'px';
      viewport.scrollTop = 0;
      render();
    }

    function render() {
      const first = Math.max(0, Math.floor(viewport.scrollTop / ROW_H) - 2);
      const n = Math.min(visible.length - first, Math.ceil(viewport.clientHeight / ROW_H) + 5);
      while (pool.length < n) {
        const r = el('div', 'row');
        for (const cls of ['idx', 'time', 'dir', 'op', 'len', 'preview']) r.appendChild(el('span', cls));
        r.addEventListener('click', () => show(Number(r.dataset.index)));
        viewport.appendChild(r);
        pool.push(r);
      }
      for (let k = 0; k < pool.length; k++) {
        const r = pool[k];
        if (k >= n) {
          r.hidden = true;
          continue;
        }
        const idx = visible[first + k];
        const ev = c.events[idx];
        r.hidden = false;
        r.dataset.index = String(idx);
        r.style.transform = 'translateY(' + (first + k) * ROW_H + 'px)';
        r.className = 'row ' + (DIRS[ev[1]] || 'none') + (ev[2] === 0 ? ' error' : ev[2] >= 8 ? ' control' : '') +
                      (idx === selected ? ' selected' : '');
        const cells = r.children;
        cells[0].textContent = String(idx + 1);
        cells[1].textContent = ev[0] === null ? '–' : '+' + ms(ev[0]);
        cells[2].textContent = ev[1] === 0 ? '↑ sent' : ev[1] === 1 ? '↓ recv' : '';
        cells[3].textContent = ev[2] === 0 ? 'error' : opName(ev[2]);
        cells[4].textContent = ev[2] === 0 ? '' : String(ev[3]);
        const p = texts[idx];
        cells[5].textContent = (p.length > 300 ? p.slice(0, 300) : p) + (ev[5] & 1 ? ' …' : '');
      }
    }

    function show(idx) {
      selected = idx;
      const ev = c.events[idx];
      let head = '#' + (idx + 1) + ' ' + (ev[2] === 0 ? 'error ' + ev[6] : opName(ev[2])) + ', ' +
                 (ev[1] === 0 ? 'client → server' : ev[1] === 1 ? 'server → client' : 'no direction') +
                 (ev[0] === null ? '' : ', +' + ms(ev[0]));
      if (ev[2] !== 0) head += ', ' + ev[3] + ' bytes';
      if (ev[5] & 1) head += ' (the report holds only the first ' + (ev[5] & 2 ? ev[4].length / 2 : 'part') + ' bytes)';
      let body;
      if (ev[2] === 0) {
        body = ev[4] + (ev[5] & 4 ? '\n(fatal: decoding of that direction stopped)' : '');
      } else if (ev[5] & 2) {
        body = (ev[2] === 8 ? 'close ' + previewText(ev) + '\n\n' : '') + hexDump(ev[4]);
      } else {
        body = ev[4];
        try {
          body = JSON.stringify(JSON.parse(ev[4]), null, 2);
          head += ', JSON';
        } catch (e) { /* not JSON: shown as it is */ }
      }
      detail.textContent = head + '\n\n' + body;
      render();
    }

    let pending = false;
    viewport.addEventListener('scroll', () => {
      if (pending) return;
      pending = true;
      requestAnimationFrame(() => { pending = false; render(); });
    });
    dirSel.addEventListener('change', applyFilter);
    search.addEventListener('input', applyFilter);
    // Drawn once it is in the document (clientHeight is 0 before).
    requestAnimationFrame(applyFilter);
    return box;
  }

  function lineChart(title, series, bucketS, unit) {
    const W = 360;
    const H = 140;
    const P = 36;
    const box = el('figure');
    box.appendChild(el('figcaption', null, title));
    const g = svg('svg', { width: W, height: H, class: 'chart' });
    const n = Math.max(series[0].length, 1);
    let max = 0;
    for (const s of series) for (const v of s) max = Math.max(max, v / bucketS);
    g.appendChild(svg('line', { x1: P, x2: W - 4, y1: H - 20, y2: H - 20, class: 'axis' }));
    g.appendChild(svg('line', { x1: P, x2: P, y1: 6, y2: H - 20, class: 'axis' }));
    g.appendChild(svg('text', { x: 2, y: 14, class: 'time' }, unit === 'B' ? size(max) : max.toFixed(1)));
    g.appendChild(svg('text', { x: P, y: H - 6, class: 'time' }, '0 s'));
    g.appendChild(svg('text', { x: W - 4, y: H - 6, 'text-anchor': 'end', class: 'time' },
                      (n * bucketS) + ' s'));
    series.forEach((s, d) => {
      const pts = s.map((v, k) => {
        const x = P + (n === 1 ? 0 : (k / (n - 1)) * (W - 4 - P));
        const y = H - 20 - (max === 0 ? 0 : (v / bucketS / max) * (H - 30));
        return x.toFixed(1) + ',' + y.toFixed(1);
      });
      if (pts.length === 1) pts.push((W - 4) + ',' + pts[0].split(',')[1]);
      g.appendChild(svg('polyline', { points: pts.join(' '), class: DIRS[d] }));
    });
    box.appendChild(g);
    return box;
  }

  function bucketLabel(b) {
    if (b === 0) return '0';
    const lo = Math.pow(2, b - 1);
    const hi = Math.pow(2, b) - 1;
    return lo === hi ? size(lo) : size(lo) + '–' + size(hi);
  }

  function histogramChart(c) {
    const box = el('figure');
    box.appendChild(el('figcaption', null, 'message sizes (count per size range)'));
    let lo = -1;
    let hi = -1;
    for (let b = 0; b < data.histogram_buckets; b++) {
      if (c.sizes[0][b] + c.sizes[1][b] > 0) {
        if (lo < 0) lo = b;
        hi = b;
      }
    }
    if (lo < 0) {
      box.appendChild(el('p', 'muted', 'No messages.'));
      return box;
    }
    const n = hi - lo + 1;
    const barW = 12;
    const W = Math.max(200, 40 + n * (2 * barW + 10));
    const H = 170;
    let max = 0;
    for (let b = lo; b <= hi; b++) max = Math.max(max, c.sizes[0][b], c.sizes[1][b]);
    const g = svg('svg', { width: W, height: H, class: 'histogram' });
    g.appendChild(svg('text', { x: 2, y: 12, class: 'time' }, String(max)));
    for (let b = lo; b <= hi; b++) {
      const x = 30 + (b - lo) * (2 * barW + 10);
      for (const d of [0, 1]) {
        const h = (c.sizes[d][b] / max) * (H - 60);
        const r = svg('rect', { x: x + d * barW, y: H - 45 - h, width: barW - 1, height: Math.max(h, 0),
                                class: 'bar ' + DIRS[d] });
        r.appendChild(svg('title', {}, bucketLabel(b) + ': ' + c.sizes[d][b] +
                          (d === 0 ? ' sent' : ' received')));
        g.appendChild(r);
      }
      g.appendChild(svg('text', { x: x + barW, y: H - 32, 'text-anchor': 'end', class: 'time',
                                  transform: 'rotate(-35 ' + (x + barW) + ' ' + (H - 32) + ')' },
                        bucketLabel(b)));
    }
    box.appendChild(g);
    return box;
  }

  function charts(c) {
    const wrap = el('div');
    const legend = el('p', 'legend');
    legend.appendChild(el('span', 'c2s', '■ sent (client → server)'));
    legend.appendChild(document.createTextNode('  '));
    legend.appendChild(el('span', 's2c', '■ received (server → client)'));
    wrap.appendChild(legend);
    const row = el('div', 'charts');
    if (c.rates.messages[0].length === 0) {
      row.appendChild(el('p', 'muted', 'No times in this archive (from `wssniff decode`): no rates.'));
    } else {
      row.appendChild(lineChart('messages/s (buckets of ' + c.rates.bucket_s + ' s)', c.rates.messages,
                                c.rates.bucket_s, ''));
      row.appendChild(lineChart('bytes/s', c.rates.bytes, c.rates.bucket_s, 'B'));
    }
    row.appendChild(histogramChart(c));
    wrap.appendChild(row);
    return wrap;
  }

  document.body.dataset.ready = '1';
})();
