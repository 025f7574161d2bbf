/* Trainer report: the JSON of `scentrack report accuracy` (GET /api/accuracy?animal=ID) drawn as tables and
 * small SVG charts written here (no chart library: a few hundred bytes of code per chart, printable). Every
 * figure shown is one the core computed; the page only draws it, with the interval the core gave. */
(function () {
  'use strict';
  const NS = 'http://www.w3.org/2000/svg';
  function s(tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = String(text);
    return e;
  }
  function h(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  const f = (v, d) => (v === null || v === undefined || !isFinite(v)) ? '—' : Number(v).toFixed(d);
  const p100 = (v, d) => (v === null || v === undefined) ? '—' : f(v * 100, d);  /* null stays a dash, never 0 % */
  const iv = (a, d, k) => Array.isArray(a) ? '[' + f(a[0] * (k || 1), d) + ', ' + f(a[1] * (k || 1), d) + ']' : (a && typeof a === 'object' ? '[' + f(a.lo * (k || 1), d) + ', ' + f(a.hi * (k || 1), d) + ']' : '—');
  /* charts are drawn at the width they are shown (a phone gets a narrower chart, not smaller text) */
  function chartW() {
    const r = document.getElementById('report');
    const w = r && r.clientWidth ? r.clientWidth - 4 : 560;
    return Math.max(300, Math.min(560, w));
  }
  const lo = (a) => Array.isArray(a) ? a[0] : (a ? a.lo : null);
  const hi = (a) => Array.isArray(a) ? a[1] : (a ? a.hi : null);

  /* Point estimates with interval whiskers per group and a dashed threshold line. */
  function intervalChart(title, groups, getV, getI, thr, thrLabel, unit, scale, cap) {
    const W = chartW(), rowH = 26, padL = W < 420 ? 90 : 150, padR = 20, H = 48 + rowH * Math.max(groups.length, 1);
    const svg = s('svg', { viewBox: '0 0 ' + W + ' ' + H, class: 'chart', role: 'img', 'aria-label': title, width: W, height: H });
    svg.append(s('text', { x: 4, y: 14, 'font-weight': 'bold' }, title));
    let max = thr || 0;
    for (const g of groups) { const v = getV(g), i = getI(g); max = Math.max(max, v || 0, hi(i) || 0); }
    max = (max || 1) * scale * 1.1;
    if (cap) max = Math.min(max, cap);
    const X = (v) => padL + (W - padL - padR) * (v * scale) / max;
    svg.append(s('line', { x1: padL, y1: 30, x2: padL, y2: H - 12, stroke: '#999' }));
    for (let k = 0; k <= 4; k++) {
      const v = (max * k) / 4;
      svg.append(s('text', { x: padL + (W - padL - padR) * k / 4, y: H - 1, 'text-anchor': 'middle', fill: '#555' }, f(v, unit === ' %' || v >= 10 ? 0 : 2) + (unit || '')));
    }
    groups.forEach((g, n) => {
      const y = 42 + n * rowH, v = getV(g), i = getI(g);
      svg.append(s('text', { x: padL - 6, y: y + 4, 'text-anchor': 'end' }, g.label || 'all'));
      if (i && lo(i) !== null) svg.append(s('line', { x1: X(lo(i)), x2: X(hi(i)), y1: y, y2: y, stroke: '#0b57d0', 'stroke-width': 3 }));
      if (v !== null && v !== undefined) svg.append(s('circle', { cx: X(v), cy: y, r: 5, fill: '#0b57d0' }));
      else svg.append(s('text', { x: padL + 4, y: y + 4, fill: '#888' }, 'no data'));
    });
    if (thr !== null && thr !== undefined && isFinite(thr)) {
      const x = X(thr);
      svg.append(s('line', { x1: x, x2: x, y1: 30, y2: H - 12, stroke: '#c0191f', 'stroke-dasharray': '5 4', 'stroke-width': 2, class: 'threshold' }));
      const right = x > W - 120;  /* near the right edge: label on the left of the line */
      svg.append(s('text', { x: right ? x - 3 : x + 3, y: 28, fill: '#c0191f', 'text-anchor': right ? 'end' : 'start' }, thrLabel));
    }
    return svg;
  }

  function barChart(title, bars, unit) {
    const W = chartW(), H = 180, padB = 34, padT = 36, n = Math.max(bars.length, 1), bw = Math.min((W - 40) / n, 110);
    const svg = s('svg', { viewBox: '0 0 ' + W + ' ' + H, class: 'chart', role: 'img', 'aria-label': title, width: W, height: H });
    svg.append(s('text', { x: 4, y: 14, 'font-weight': 'bold' }, title));
    const max = Math.max(1e-9, ...bars.map((b) => b.v || 0));
    bars.forEach((b, k) => {
      const hh = (H - padB - padT) * (b.v || 0) / max, x = 30 + k * bw;
      svg.append(s('rect', { x: x + 4, y: H - padB - hh, width: bw - 8, height: hh, fill: '#6fb1f2' }));
      svg.append(s('text', { x: x + bw / 2, y: H - padB - hh - 3, 'text-anchor': 'middle' }, f(b.v, b.d || 0) + (unit || '')));
      svg.append(s('text', { x: x + bw / 2, y: H - padB + 14, 'text-anchor': 'middle' }, b.label));
    });
    svg.append(s('line', { x1: 30, x2: W - 10, y1: H - padB, y2: H - padB, stroke: '#999' }));
    return svg;
  }

  function groupTable(title, groups) {
    const t = h('table');
    t.append(h('caption', null, title));
    const hr = h('tr');
    for (const c of ['group', 'targets', 'found', 'sensitivity %', 'false', 'false/100 m²', 'PPV %', 'area m²']) hr.append(h('th', null, c));
    t.append(hr);
    for (const g of groups) {
      const r = h('tr');
      for (const c of [g.label || 'all', g.targets, g.hits, p100(g.sensitivity, 1), g.false, f(g.false_per_100m2, 3), p100(g.ppv, 1), f(g.area_m2, 0)]) r.append(h('td', null, c));
      t.append(r);
    }
    return t;
  }

  function report(j, animalId, opt) {
    const root = h('div');
    const list = Array.isArray(j.animals) ? j.animals : (Array.isArray(j) ? j : [j]);
    const a = list.find((x) => Number(x.animal_id) === animalId) || list[0];
    if (!a || !a.all) { root.append(h('p', 'muted', 'No accuracy data for this animal yet.')); return root; }
    const all = a.all;
    root.append(h('h2', null, 'Accuracy report — ' + (a.animal || ('animal ' + animalId))));
    root.append(h('p', null, 'sensitivity ' + p100(all.sensitivity, 1) + ' % (' + all.hits + '/' + all.targets + '), Clopper-Pearson ' +
      iv(all.sensitivity_cp, 1, 100) + ' %; false indications ' + f(all.false_per_100m2, 3) + ' per 100 m² ' + iv(all.false_per_100m2_exact, 3) +
      ' over ' + f(all.area_m2, 0) + ' m²; PPV ' + p100(all.ppv, 1) + ' % ' + iv(all.ppv_cp, 1, 100) + ' %.'));
    if (a.statement) root.append(h('p', null, a.statement));
    const periods = (a.by_period && a.by_period.length) ? a.by_period : [Object.assign({ label: 'all' }, all)];
    root.append(intervalChart('Sensitivity over time (Clopper-Pearson interval)', periods, (g) => g.sensitivity, (g) => g.sensitivity_cp,
      opt.thrSens, 'programme ' + f(opt.thrSens * 100, 0) + ' %', ' %', 100, 100));
    root.append(intervalChart('False indications per 100 m² over time (exact interval)', periods, (g) => g.false_per_100m2, (g) => g.false_per_100m2_exact,
      opt.thrFalse, 'programme ' + f(opt.thrFalse, 2), '', 1));
    const rbc = all.resolved_by_class || {};
    root.append(barChart('Indications resolved, by result class (PPV ' + p100(all.ppv, 1) + ' %)', Object.keys(rbc).map((k) => ({ label: k, v: rbc[k] }))));
    const le = a.localisation_error_m;
    if (le && le.n) {
      const w05 = le.share_within_0_5m, w1 = le.share_within_1m, w2 = le.share_within_2m;
      root.append(barChart('Localisation error of ' + le.n + ' correct indications (median ' + f(le.median, 2) + ' m, p95 ' + f(le.p95, 2) + ' m)', [
        { label: '< 0.5 m', v: w05 * le.n }, { label: '0.5–1 m', v: (w1 - w05) * le.n }, { label: '1–2 m', v: (w2 - w1) * le.n },
        { label: '> 2 m', v: (1 - w2) * le.n }]));
    } else root.append(h('p', 'muted', 'No correct indication yet: no localisation error.'));
    root.append(h('h2', null, 'Condition breakdown'));
    for (const [k, title] of [['by_temperature', 'by temperature'], ['by_target_class', 'by target class'], ['by_team', 'by team'], ['by_period', 'by period']])
      if (Array.isArray(a[k]) && a[k].length) root.append(groupTable(title, a[k]));
    const need = a.more_targets_needed_no_miss;
    if (need) root.append(h('p', null, 'More targets to find with no miss to claim sensitivity ≥ 90 / 95 / 99 %: ' +
      [need['0.90'], need['0.95'], need['0.99']].map((x) => x === null || x === undefined ? '—' : x).join(' / ')));
    const acc = j.accreditation || a.accreditation;
    root.append(h('h2', null, 'Accreditation tests'));
    if (Array.isArray(acc) && acc.length) {
      for (const t of acc) {
        const p = h('p');
        p.append(h('span', t.pass ? 'pass' : 'fail', t.pass ? 'PASS' : 'FAIL'),
          document.createTextNode(' test ' + t.test_id + ', ' + (t.authority || '') + ', ' + (t.date_utc || '') + ', box ' + t.box_id + ': ' + t.hits + ' hits, ' +
            t['false'] + ' false' + (t.fail_reason ? ' — ' + t.fail_reason : '')));
        root.append(p);
      }
    } else root.append(h('p', 'muted', 'No accreditation test recorded for this animal.'));
    return root;
  }
  window.scentrackCharts = { report: report, intervalChart: intervalChart, barChart: barChart };
})();
