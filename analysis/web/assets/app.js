/* scentrack web map: one page, three views (#handler, #leader, #trainer), fed by GET /api/snapshot and one
 * Server-Sent Events stream (/api/events). Plain JS, no framework: cheap Android browsers on a field Wi-Fi.
 * Every user-supplied string reaches the DOM through textContent (never innerHTML), so names cannot inject.
 * Test hooks live in window.scentrack (event ids seen, alert timings) and change nothing the user sees. */
(function () {
  'use strict';

  /* ---------- settings (thresholds a programme may tune; shown in the UI where they matter) ---------- */
  const CFG = {
    link_lost_s: 60,           /* nothing heard for this long by this page's clock: the marker greys out, never a
                                  frozen "online" (the alerts themselves come from the server: core.ini [web] alert_*) */
    trail_max_points: 4000,
  };
  /* A programme (or a test) tunes them in the URL: ?link_lost_s=30 */
  for (const [k, v] of new URLSearchParams(location.search)) {
    const x = Number(v);
    if (!(x >= 0) || !isFinite(x)) continue;
    if (typeof CFG[k] === 'number') CFG[k] = x;
  }

  /* ---------- small helpers ---------- */
  const $ = (id) => document.getElementById(id);
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function tms(t) { return typeof t === 'number' ? t : Date.parse(t); }
  function fmtAge(s) {
    if (!isFinite(s)) return '—';
    if (s < 0) s = 0;
    if (s < 90) return Math.round(s) + ' s';
    if (s < 5400) return Math.round(s / 60) + ' min';
    if (s < 172800) return Math.round(s / 3600) + ' h';
    return Math.round(s / 86400) + ' d';
  }
  function fmtTime(ms) { return new Date(ms).toISOString().slice(11, 19) + 'Z'; }
  function num(v, d, unit) { return (v === null || v === undefined || !isFinite(v)) ? '?' : Number(v).toFixed(d) + (unit || ''); }

  /* Test and figure hooks: the browser tests read these, the page never depends on them. */
  const hooks = window.scentrack = {
    ids: [],            /* every SSE event id received, in order */
    gaps: 0,            /* ids that were not last + 1 */
    resets: 0,
    alerts: [],         /* {ind, t_dom: performance.now(), wall_ms: Date.now()} */
    fixes: 0,
    fixLog: [],         /* [collar_id, rec_seq, epoch ms the event arrived, epoch ms the DOM took it, server_ms] */
    firstRender: null,  /* performance.now() when the map first drew the task/animals */
    snapshotLoaded: 0,
    opens: 0,
    liveSince: [],      /* epoch ms of each stream open (events committed after it reach this page live) */
    srvAlerts: [],      /* every server alert event taken: [alert_id, kind, state, collar_id, epoch ms] */
  };

  /* ---------- page clock: the server's wall clock (phones on a field hotspot often have the wrong time) ---------- */
  let clockSkewMs = 0;
  function now() { return Date.now() + clockSkewMs; }

  /* ---------- state ---------- */
  const S = {
    lastId: 0,
    task: null, boxes: [], origin: null,
    animals: new Map(),     /* key → animal record (key = animal_id, or "c<collar>" if none) */
    byCollar: new Map(),    /* collar_id → key */
    inds: new Map(),        /* ind id → ind */
    hazards: new Map(),
    alerts: new Map(),      /* the server's active alerts: "<animal key>|<kind>" → alert */
    view: 'handler',
    follow: '',
  };

  /* ---------- metric frame: metres east/north of the task origin (WGS84 radii of curvature at the origin) ---------- */
  const A = 6378137.0, E2 = 6.69437999014e-3, D2R = Math.PI / 180;
  let kx = 1, ky = 1;
  function setOrigin(lat, lon) {
    const s = Math.sin(lat * D2R), w = 1 - E2 * s * s;
    kx = A / Math.sqrt(w) * Math.cos(lat * D2R) * D2R;       /* metres per degree of longitude */
    ky = A * (1 - E2) / Math.pow(w, 1.5) * D2R;               /* metres per degree of latitude */
    S.origin = { lat: lat, lon: lon };
  }
  function xy(lat, lon) {                 /* → Leaflet LatLng in CRS.Simple: [north m, east m] (or as is over tiles) */
    if (S.geo) return L.latLng(lat, lon);
    if (!S.origin) setOrigin(lat, lon);
    return L.latLng((lat - S.origin.lat) * ky, (lon - S.origin.lon) * kx);
  }
  /* screen pixels per metre at the map's centre, in either mode */
  function pxPerMetre() {
    const z = map.getZoom();
    if (!S.geo) return Math.pow(2, z);
    return 256 * Math.pow(2, z) / (40075016.686 * Math.cos(map.getCenter().lat * D2R));
  }
  /* Offline raster tiles (the core's [web] mbtiles): the same layers over Web Mercator instead of the grid.
     Switched once, before anything is drawn (the first snapshot), so no layer holds metric coordinates. */
  function useTiles(t) {
    if (S.geo || !t) return;
    S.geo = true;
    map.options.crs = L.CRS.EPSG3857;
    map.setMinZoom(Math.max(0, Number(t.minzoom) || 0));
    map.setMaxZoom(22);
    L.tileLayer('tiles/{z}/{x}/{y}.' + (t.format === 'jpg' || t.format === 'jpeg' ? 'jpg' : 'png'),
      { minZoom: 0, maxZoom: 22, maxNativeZoom: Number(t.maxzoom) || 18, minNativeZoom: Number(t.minzoom) || 0 }).addTo(map);
    gridLayer.clearLayers();
    map.setView([0, 0], map.getMinZoom(), { reset: true });
  }

  /* ---------- map ---------- */
  const map = L.map('map', { crs: L.CRS.Simple, minZoom: -6, maxZoom: 6, zoomSnap: 0.25, attributionControl: false, zoomControl: false });
  L.control.zoom({ position: 'bottomright' }).addTo(map);  /* thumbs reach the bottom corner; the grid labels keep the left edge */
  map.setView([0, 0], 1);
  L.control.scale({ imperial: false, metric: true, position: 'bottomleft' }).addTo(map);
  const North = L.Control.extend({
    options: { position: 'topright' },
    onAdd: function () {
      const d = L.DomUtil.create('div', 'north');
      d.title = 'north (the grid is aligned to true north)';
      d.innerHTML = '<svg width="28" height="38" viewBox="0 0 28 38" aria-label="north"><path d="M14 2 L24 30 L14 24 L4 30 Z" fill="#222"/>' +
        '<text x="14" y="37" text-anchor="middle" font-size="10" font-family="sans-serif">N</text></svg>';
      return d;
    },
  });
  new North().addTo(map);

  const gridLayer = L.layerGroup().addTo(map);
  const boxLayer = L.layerGroup().addTo(map);
  const covLayer = L.layerGroup();
  const trailLayer = L.layerGroup().addTo(map);
  const animalLayer = L.layerGroup().addTo(map);
  const indLayer = L.layerGroup().addTo(map);
  const hazardLayer = L.layerGroup();
  const replayLayer = L.layerGroup();

  /* Labelled metric grid, redrawn for the visible area at a 1-2-5 step that gives ~6-12 lines. */
  function drawGrid() {
    gridLayer.clearLayers();
    if (S.geo) return;                      /* the tiles are the background */
    const b = map.getBounds(), span = Math.max(b.getNorth() - b.getSouth(), b.getEast() - b.getWest());
    if (!(span > 0)) return;
    const raw = span / 8, p = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
    const style = { color: '#9aa3ad', weight: 1, opacity: 0.6, interactive: false };
    for (let x = Math.ceil(b.getWest() / step) * step; x <= b.getEast(); x += step) {
      gridLayer.addLayer(L.polyline([[b.getSouth(), x], [b.getNorth(), x]], style));
      gridLayer.addLayer(L.marker([b.getSouth(), x], { interactive: false, keyboard: false,
        icon: L.divIcon({ className: 'grid-label', html: '', iconSize: null, iconAnchor: [-2, 28] }) })
        .on('add', function (e) { e.target.getElement().textContent = Math.round(x) + ' m E'; }));
    }
    for (let y = Math.ceil(b.getSouth() / step) * step; y <= b.getNorth(); y += step) {
      gridLayer.addLayer(L.polyline([[y, b.getWest()], [y, b.getEast()]], style));
      gridLayer.addLayer(L.marker([y, b.getWest()], { interactive: false, keyboard: false,
        icon: L.divIcon({ className: 'grid-label', html: '', iconSize: null, iconAnchor: [-2, 14] }) })
        .on('add', function (e) { e.target.getElement().textContent = Math.round(y) + ' m N'; }));
    }
  }
  map.on('moveend zoomend resize', drawGrid);
  map.on('zoomend', () => drawBoxes());

  function textIcon(cls, text, anchor) {
    const d = el('div', null, text);
    return L.divIcon({ className: cls, html: d, iconSize: null, iconAnchor: anchor || [0, 0] });
  }

  /* Boxes as polygons with their name. corners = [p0, p_along, p_along + across, p_across] (the store's box frame):
   lanes run along 0→1 and are stacked across 0→3, so lane boundaries are dashed lines parallel to 0→1. */
  function drawBoxes() {
    boxLayer.clearLayers();
    for (const b of S.boxes) {
      if (!b.corners || b.corners.length < 4) continue;
      const c = b.corners.map((p) => xy(p[0], p[1]));
      boxLayer.addLayer(L.polygon(c, { color: '#223', weight: 2, fill: false }));
      boxLayer.addLayer(L.marker(c[0], { interactive: false, icon: textIcon('box-label', b.name || ('box ' + b.id), [0, 16]) }));
      /* lane lines at least 6 px apart on screen: every k-th lane when zoomed out (k = 1, 2, 5, 10, ...) */
      const n = b.lanes | 0, px = (Number(b.lane_width_m) || 1) * pxPerMetre();
      let k = 1;
      for (const m of [1, 2, 5, 10, 20, 50, 100]) { k = m; if (px * m >= 6) break; }
      for (let i = k; i < n; i += k) {
        const f = i / n;
        const p0 = L.latLng(c[0].lat + (c[3].lat - c[0].lat) * f, c[0].lng + (c[3].lng - c[0].lng) * f);
        const p1 = L.latLng(c[1].lat + (c[2].lat - c[1].lat) * f, c[1].lng + (c[2].lng - c[1].lng) * f);
        boxLayer.addLayer(L.polyline([p0, p1], { color: '#556', weight: 1, dashArray: '4 4', interactive: false }));
      }
    }
  }

  function fitAll() {
    const pts = [];
    for (const b of S.boxes) for (const p of (b.corners || [])) pts.push(xy(p[0], p[1]));
    for (const a of S.animals.values()) if (a.ll) pts.push(a.ll);
    if (S.view === 'leader') for (const h of S.hazards.values()) if (isFinite(h.lat)) pts.push(xy(h.lat, h.lon));
    if (pts.length === 0) return;
    map.fitBounds(L.latLngBounds(pts).pad(0.15), { maxZoom: S.geo ? 21 : 3 });  /* ~8 px per metre at most */
  }

  /* ---------- animals ---------- */
  const STATE_COLOUR = { searching: '#0b57d0', stationary: '#b36b00', indicating: '#c0191f', resting: '#666' };
  function keyOf(o) {
    if (o.animal_id !== undefined && o.animal_id !== null) return String(o.animal_id);
    const k = S.byCollar.get(o.collar_id);
    return k !== undefined ? k : 'c' + o.collar_id;
  }
  function animal(o) {
    const k = keyOf(o);
    let a = S.animals.get(k);
    if (!a) {
      a = { key: k, animal_id: o.animal_id, collar_id: o.collar_id, name: null, species: null, state: null,
        lat: NaN, lon: NaN, h_acc_m: NaN, heading_deg: NaN, t_ms: NaN, battery_pct: null,
        link: null, gps: null, temp_c: null, trail: [] };
      S.animals.set(k, a);
      addFollowOption(a);
      if (o.name === undefined) wantNames();
    }
    if (o.collar_id !== undefined && o.collar_id !== null) { a.collar_id = o.collar_id; S.byCollar.set(o.collar_id, k); }
    return a;
  }
  /* An animal first seen in the stream has no name yet (events carry ids only): fetch the snapshot once,
     debounced, and take names and species from it — nothing else, the stream stays the source of state. */
  let namesTimer = null;
  function wantNames() {
    if (namesTimer || !hooks.snapshotLoaded) return;
    namesTimer = setTimeout(async () => {
      try {
        const r = await fetch('api/snapshot');
        if (r.ok) for (const x of ((await r.json()).animals || [])) {
          const a = S.animals.get(keyOf(x));
          if (a && x.name && a.name !== x.name) { a.name = x.name; a.species = x.species || a.species; relabelOptions(a); if (a.marker) drawAnimal(a); renderAnimalRow(a); }
        }
      } catch (e) { /* labels stay "animal N" until the next try */ }
      namesTimer = null;
    }, 1000);
  }
  function label(a) { return a.name || (a.animal_id !== null && a.animal_id !== undefined ? 'animal ' + a.animal_id : 'collar ' + a.collar_id); }
  function addFollowOption(a) {
    const o = el('option', null, label(a));
    o.value = a.key;
    $('follow').appendChild(o);
    const t = el('option', null, label(a));
    t.value = a.animal_id !== undefined && a.animal_id !== null ? a.animal_id : '';
    if (t.value !== '') $('trainer-animal').appendChild(t);
  }
  function relabelOptions(a) {
    for (const sel of [$('follow'), $('trainer-animal')])
      for (const o of sel.options) if (o.value === a.key || o.value === String(a.animal_id)) o.textContent = label(a);
  }

  function arrowSvg(colour, heading) {
    const rot = isFinite(heading) ? heading : 0;
    const shape = isFinite(heading) ? 'M12 1 L20 21 L12 16 L4 21 Z' : 'M12 4 a8 8 0 1 0 0.01 0 Z';
    return '<svg width="24" height="24" viewBox="0 0 24 24" style="transform:rotate(' + rot + 'deg)"><path d="' + shape +
      '" fill="' + colour + '" stroke="#fff" stroke-width="1.5"/></svg>';
  }
  function drawAnimal(a) {
    if (!isFinite(a.lat)) return;
    a.ll = xy(a.lat, a.lon);
    const stale = a.drawnStale = isStale(a);
    const colour = stale ? '#777' : (STATE_COLOUR[a.state] || '#0b57d0');
    const html = '<div class="amk' + (stale ? ' stale' : '') + '">' + arrowSvg(colour, a.heading_deg) + '<span class="lbl"></span></div>';
    const icon = L.divIcon({ className: '', html: html, iconSize: [24, 24], iconAnchor: [12, 12] });
    if (!a.marker) {
      a.ring = L.circle(a.ll, { radius: 1, color: colour, weight: 1, fillOpacity: 0.1, interactive: false }).addTo(animalLayer);
      a.marker = L.marker(a.ll, { icon: icon, title: label(a) }).addTo(animalLayer);
      a.marker.on('click', () => { $('follow').value = a.key; S.follow = a.key; follow(); });
    } else {
      a.marker.setLatLng(a.ll);
      a.marker.setIcon(icon);
      a.ring.setLatLng(a.ll);
    }
    a.ring.setRadius(isFinite(a.h_acc_m) ? Math.max(a.h_acc_m, 0.05) : 0.05);
    a.ring.setStyle({ color: colour });
    const e = a.marker.getElement();
    if (e) {
      e.dataset.animal = a.key;
      e.querySelector('.lbl').textContent = label(a);
    }
    if (hooks.firstRender === null) hooks.firstRender = performance.now();
  }

  /* Fading trail: the last N minutes of the animal's own track, in 6 age bands of decreasing opacity. */
  function drawTrail(a) {
    if (a.trailLines) for (const l of a.trailLines) trailLayer.removeLayer(l);
    a.trailLines = [];
    if (a.trail.length < 2) return;
    const win = Number($('trail-min').value) * 60000, tEnd = a.trail[a.trail.length - 1][0], bands = 6;
    const colour = STATE_COLOUR.searching;
    let start = a.trail.findIndex((p) => p[0] >= tEnd - win);
    if (start < 0) return;
    for (let b = 0; b < bands; b++) {
      const t0 = tEnd - win + (win * b) / bands, t1 = tEnd - win + (win * (b + 1)) / bands;
      const seg = [];
      for (let i = Math.max(start - 1, 0); i < a.trail.length; i++) {
        const p = a.trail[i];
        if (p[0] < t0 && !(a.trail[i + 1] && a.trail[i + 1][0] >= t0)) continue;
        if (p[0] > t1) { seg.push(p[1]); break; }
        seg.push(p[1]);
      }
      if (seg.length >= 2)
        a.trailLines.push(L.polyline(seg, { color: colour, weight: 3, opacity: 0.12 + (0.78 * (b + 1)) / bands, interactive: false }).addTo(trailLayer));
    }
  }
  function addTrailPoint(a, t, lat, lon) {
    const p = [t, xy(lat, lon)];
    const tr = a.trail;
    if (tr.length && tr[tr.length - 1][0] > t) {      /* out of order (replay after reconnect): insert in place */
      let i = tr.length - 1;
      while (i > 0 && tr[i - 1][0] > t) i--;
      if (tr[i][0] === t) return;
      tr.splice(i, 0, p);
    } else if (tr.length && tr[tr.length - 1][0] === t) {
      return;
    } else {
      tr.push(p);
    }
    if (tr.length > CFG.trail_max_points) tr.splice(0, tr.length - CFG.trail_max_points);
  }

  function applyFix(f) {
    const a = animal(f);
    if (f.lat === null || f.lat === undefined || f.t === null || f.t === undefined) return a;  /* no position or no UTC yet */
    const t = tms(f.t);
    if (isFinite(a.t_ms) && t < a.t_ms) {     /* an older fix (replayed): trail only, the marker stays on the newest */
      addTrailPoint(a, t, f.lat, f.lon);
      return a;
    }
    a.lat = f.lat; a.lon = f.lon; a.t_ms = t;
    if (f.h_acc_m !== undefined) a.h_acc_m = f.h_acc_m;
    if (f.cog_deg !== undefined && f.cog_deg !== null) a.heading_deg = f.cog_deg;
    if (f.heading_deg !== undefined && f.heading_deg !== null) a.heading_deg = f.heading_deg;
    if (f.state) a.state = f.state;
    else if (f.sog_mps !== undefined && f.sog_mps !== null && a.state !== 'indicating') a.state = f.sog_mps < 0.1 ? 'stationary' : 'searching';
    addTrailPoint(a, t, f.lat, f.lon);
    return a;
  }

  function applyStatus(s) {
    const a = animal(s);
    if (s.battery_pct !== undefined && s.battery_pct !== null) a.battery_pct = s.battery_pct;
    if (s.battery_mv !== undefined) a.battery_mv = s.battery_mv;
    a.link = Object.assign({}, a.link || {}, s.link || {}, pick(s, ['loss_pct', 'rssi_dbm', 'last_seen']));
    if (s.gps !== undefined) a.gps = s.gps;
    if (s.temp_c !== undefined && s.temp_c !== null) a.temp_c = s.temp_c;
    if (s.state) a.state = s.state;
    return a;
  }
  function pick(o, ks) { const r = {}; for (const k of ks) if (o[k] !== undefined && o[k] !== null) r[k] = o[k]; return r; }

  /* Last heard = the newest time the collar itself stamped (a fix, or the link's last_seen from the core):
     never the time this page received something, so a replayed old record cannot make an animal look live. */
  function lastHeardMs(a) {
    let t = NaN;
    if (a.link && a.link.last_seen) { const l = tms(a.link.last_seen); if (isFinite(l)) t = isFinite(t) ? Math.max(t, l) : l; }
    if (isFinite(a.t_ms)) t = isFinite(t) ? Math.max(t, a.t_ms) : a.t_ms;
    return t;
  }
  /* the server's link_lost alert, or this page's own clock (the page must grey a marker even when the server
     itself has gone quiet: never a frozen "online") */
  function isStale(a) { return S.alerts.has(a.key + '|link_lost') || !(now() - lastHeardMs(a) < CFG.link_lost_s * 1000); }

  /* Alerts for one animal: the server decides them (every page and a late joiner see the same, as `alert`
     events with ids and replay; thresholds in the core's [web] alert_* keys); the page only words them,
     with ages that move on each tick. */
  const BAD = new Set(['link_lost', 'gps_lost', 'battery_low', 'heat']);
  function animalAlerts(a) {
    const out = [], t = now();
    for (const [k, x] of S.alerts) {
      if (!k.startsWith(a.key + '|')) continue;
      const since = tms(x.since);
      let txt = x.text || x.kind;
      if (x.kind === 'link_lost') txt = 'link lost ' + fmtAge((t - since) / 1000) + ' ago';
      else if (x.kind === 'stationary' && isFinite(a.t_ms)) txt = 'stationary ' + fmtAge((a.t_ms - since) / 1000);
      else if (x.kind === 'work_bout' && isFinite(a.t_ms)) txt = 'work bout ' + fmtAge((a.t_ms - since) / 1000) + ' (' + x.text.replace(/^work bout /, '') + ')';
      out.push([BAD.has(x.kind) ? 'bad' : '', txt]);
    }
    if (!S.alerts.has(a.key + '|link_lost') && isStale(a)) out.unshift(['bad', 'no data ' + fmtAge((t - lastHeardMs(a)) / 1000)]);
    return out;
  }
  function resetAlerts(list) {
    const had = [...S.alerts.keys()];
    S.alerts.clear();
    for (const b of document.querySelectorAll('.alert.srv')) b.remove();
    for (const x of (list || [])) applyAlert(x, false);
    for (const k of had) { const a = S.animals.get(k.split('|')[0]); if (a) { if (a.marker) drawAnimal(a); renderAnimalRow(a); } }
    countAlerts();
  }
  /* One server alert raised or cleared: the animal's chips, and a banner for the equipment ones (no sound:
     the sound is for indications). */
  function applyAlert(x, live) {
    const a = animal(x), k = a.key + '|' + x.kind;
    const old = S.alerts.get(k);
    if (x.state === 'cleared') { if (old && old.alert_id === x.alert_id) S.alerts.delete(k); }
    else S.alerts.set(k, x);
    let b = document.querySelector('.alert.srv[data-kind="' + CSS.escape(k) + '"]');
    if (x.state === 'cleared' || !BAD.has(x.kind)) { if (b && (!S.alerts.has(k))) { b.remove(); countAlerts(); } }
    else if (!b) {
      b = el('div', 'alert srv');
      b.dataset.kind = k;
      b.append(el('span', 'txt', label(a) + ': ' + (x.kind === 'link_lost' ? 'link lost' : x.text || x.kind)));
      const h = el('button', 'dismiss', '✕'); h.type = 'button'; h.title = 'hide';
      h.onclick = () => { b.remove(); countAlerts(); };
      b.append(h);
      $('alerts').prepend(b);
      countAlerts();
    }
    if (live) hooks.srvAlerts.push([x.alert_id, x.kind, x.state, x.collar_id, performance.timeOrigin + performance.now()]);
    if (a.marker) drawAnimal(a);
    renderAnimalRow(a);
  }

  function renderAnimalRow(a) {
    let li = a.row;
    if (!li) {
      li = a.row = el('li', 'animal');
      li.dataset.animal = a.key;
      li.append(el('span', 'name'), el('span', 'state'), el('div', 'meta'), el('div', 'chips'));
      li.addEventListener('click', () => { $('follow').value = a.key; S.follow = a.key; follow(); });
      $('animals').appendChild(li);
      $('no-animals').hidden = true;
    }
    const stale = isStale(a);
    li.classList.toggle('stale', stale);
    li.querySelector('.name').textContent = label(a) + (a.species ? ' · ' + a.species : '');
    const st = li.querySelector('.state');
    st.textContent = stale ? 'no signal' : (a.state || 'unknown');
    st.className = 'state ' + (stale ? 'stale' : (a.state || ''));
    const link = a.link || {};
    li.querySelector('.meta').textContent =
      'fix ' + fmtAge((now() - a.t_ms) / 1000) + ' ago · heading ' + num(a.heading_deg, 0, '°') + ' · ±' + num(a.h_acc_m, a.h_acc_m < 0.1 ? 2 : 1, ' m') +
      ' · battery ' + (a.battery_pct !== null && a.battery_pct !== undefined ? a.battery_pct + ' %' : '?') +
      ' · link ' + (link.loss_pct !== undefined ? num(link.loss_pct, 0, ' % loss') : '?') +
      (link.rssi_dbm !== undefined && link.rssi_dbm !== null ? ' ' + link.rssi_dbm + ' dBm' : '');
    const chips = li.querySelector('.chips');
    chips.replaceChildren(...animalAlerts(a).map(([c, txt]) => el('span', 'chip ' + c, txt)));
  }

  function follow() {
    const a = S.animals.get(S.follow);
    if (a && a.ll) map.panTo(a.ll);
  }

  /* ---------- indications: marker, banner, beep, vibration, confirm/reject ---------- */
  let audio = null;
  function beep() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      if (audio.state === 'suspended') audio.resume().catch(() => {});
      const o = audio.createOscillator(), g = audio.createGain();
      o.frequency.value = 880; g.gain.value = 0.2;
      o.connect(g); g.connect(audio.destination);
      o.start(); o.stop(audio.currentTime + 0.35);
    } catch (e) { /* no audio: the banner and marker still show */ }
  }
  document.addEventListener('pointerdown', () => { if (audio && audio.state === 'suspended') audio.resume().catch(() => {}); }, { once: false });

  function drawInd(i) {
    if (!isFinite(i.lat)) return;
    const st = ['open', 'confirmed', 'rejected'].includes(i.status) ? i.status : 'open';  /* a class name, never raw text */
    const icon = L.divIcon({ className: '', html: '<div class="indmk ' + st + '"></div>', iconSize: [22, 22], iconAnchor: [11, 11] });
    if (!i.marker) i.marker = L.marker(xy(i.lat, i.lon), { icon: icon, zIndexOffset: 1000 }).addTo(indLayer);
    else { i.marker.setLatLng(xy(i.lat, i.lon)); i.marker.setIcon(icon); }
    const e = i.marker.getElement();
    if (e) e.dataset.ind = i.id;
  }

  function indAlert(i, live) {
    let box = document.querySelector('.alert[data-ind="' + CSS.escape(String(i.id)) + '"]');
    if (!box) {
      if (!live || i.status !== 'open') return;
      box = el('div', 'alert');
      box.dataset.ind = i.id;
      const a = S.animals.get(keyOf(i));
      box.append(el('span', 'txt', (a ? label(a) : 'collar ' + i.collar_id) + ': ' + (i.kind || '?') +
        (i.conf_pct !== undefined ? ' ' + i.conf_pct + '%' : '') + ' ' + fmtTime(tms(i.t))));
      const ok = el('button', 'confirm', 'Confirm'), no = el('button', 'reject', 'Reject'), x = el('button', 'dismiss', '✕');
      x.title = 'hide';
      ok.type = no.type = x.type = 'button';
      ok.onclick = () => judge(i.id, 'confirm', box);
      no.onclick = () => judge(i.id, 'reject', box);
      x.onclick = () => box.remove();
      box.append(ok, no, x, el('output', 'why'));
      x.addEventListener('click', countAlerts);
      $('alerts').prepend(box);
      countAlerts();
      hooks.alerts.push({ ind: i.id, collar_id: i.collar_id, rec_seq: i.rec_seq, recv_ms: hooks.tRecv, epoch_ms: performance.timeOrigin + performance.now() });
      beep();
      if (navigator.vibrate) try { navigator.vibrate([300, 150, 300]); } catch (e) { /* not allowed here */ }
    }
    if (i.status && i.status !== 'open') {
      box.classList.add('done');
      box.querySelector('.txt').textContent = box.querySelector('.txt').textContent.replace(/ — (confirmed|rejected)$/, '') + ' — ' + i.status;
      for (const b of box.querySelectorAll('button.confirm, button.reject')) b.disabled = true;
    }
  }

  /* More than three alerts: a one-line counter with "hide all" on top (the list scrolls below it). */
  function countAlerts() {
    const n = document.querySelectorAll('#alerts .alert').length;
    let m = $('alerts-more');
    if (n <= 3) { if (m) m.remove(); return; }
    if (!m) {
      m = el('div'); m.id = 'alerts-more';
      const t = el('span', 'n'), b = el('button', null, 'hide all'); b.type = 'button';
      b.onclick = () => { for (const e of document.querySelectorAll('#alerts .alert')) e.remove(); countAlerts(); };
      m.append(t, b);
    }
    $('alerts').prepend(m);
    m.querySelector('.n').textContent = n + ' alerts';
  }

  function applyInd(d, live) {
    const prev = S.inds.get(d.id);
    const i = Object.assign(prev || {}, d);
    S.inds.set(d.id, i);
    const a = S.animals.get(keyOf(i));
    if (a && i.status === 'open' && live) a.state = 'indicating';
    drawInd(i);
    indAlert(i, live);
  }

  /* ---------- writes (token in localStorage, sent as a Bearer header) ---------- */
  function token() { return localStorage.getItem('scentrack.token') || ''; }
  function by() { return localStorage.getItem('scentrack.by') || ''; }
  async function write(path, body) {
    const h = { 'Content-Type': 'application/json' };
    if (token()) h.Authorization = 'Bearer ' + token();
    const r = await fetch(path, { method: 'POST', headers: h, body: JSON.stringify(body) });
    let j = null;
    try { j = await r.json(); } catch (e) { j = null; }
    if (!r.ok) throw new Error((j && j.error) || ('HTTP ' + r.status));
    return j;
  }
  async function judge(id, verb, box) {
    const out = box.querySelector('.why');
    if (!token()) { out.textContent = 'enter the write token first (key button)'; $('token-dlg').showModal(); return; }
    try {
      await write('api/indications/' + encodeURIComponent(id) + '/' + verb, { by: by() || 'handler' });
      out.textContent = verb + 'ed';
    } catch (e) { out.textContent = e.message; }
  }
  $('token-btn').onclick = () => { $('token-in').value = token(); $('by-in').value = by(); $('token-dlg').showModal(); };
  $('token-dlg').addEventListener('close', () => {
    const v = $('token-dlg').returnValue;
    if (v === 'save') { localStorage.setItem('scentrack.token', $('token-in').value.trim()); localStorage.setItem('scentrack.by', $('by-in').value.trim()); }
    if (v === 'clear') { localStorage.removeItem('scentrack.token'); }
    $('token-btn').textContent = token() ? 'key ✓' : 'key';
  });
  $('token-btn').textContent = token() ? 'key ✓' : 'key';

  /* ---------- hazards (leader view) ---------- */
  function pColour(p) {            /* green (0) → amber (0.5) → red (1) */
    p = Math.max(0, Math.min(1, Number(p) || 0));
    const r = p < 0.5 ? Math.round(60 + 390 * p) : 255, g = p < 0.5 ? 170 : Math.round(170 - 300 * (p - 0.5));
    return 'rgb(' + Math.min(r, 255) + ',' + Math.max(g, 20) + ',40)';
  }
  /* Resolved points (a clearance result says what was there) are drawn dashed; superseded ones leave the map. */
  const STATUS_DASH = { confirmed_explosive: '6 3', confirmed_fragment: '2 4', confirmed_scrap: '2 4',
    confirmed_nothing: '2 4', not_accessible: '1 5' };
  function applyHazard(h) {
    const prev = S.hazards.get(h.id);
    const z = Object.assign(prev || {}, h);
    S.hazards.set(h.id, z);
    if (z.status === 'superseded') {
      if (z.circle) { hazardLayer.removeLayer(z.circle); hazardLayer.removeLayer(z.dot); z.circle = z.dot = null; }
      if (z.row) { z.row.remove(); z.row = null; }
      return;
    }
    if (!isFinite(z.lat)) return;
    /* two shapes: the r95 circle in metres (true size) and a dot of fixed screen size, so a 0.5 m point stays
       visible and tappable at any zoom; both coloured by P(explosive), dashed once a clearance result resolved it */
    const ring = { radius: Math.max(Number(z.radius_m) || 1, 0.05), color: '#222', weight: 1, fillColor: pColour(z.p_explosive),
      fillOpacity: 0.25, dashArray: STATUS_DASH[z.status] || null, interactive: false };
    const dot = { radius: 9, color: '#111', weight: 2, fillColor: pColour(z.p_explosive), fillOpacity: 0.95,
      dashArray: STATUS_DASH[z.status] || null };
    if (!z.circle) {
      z.circle = L.circle(xy(z.lat, z.lon), ring).addTo(hazardLayer);
      z.dot = L.circleMarker(xy(z.lat, z.lon), dot).addTo(hazardLayer);
      z.dot.on('click', () => showEvidence(z.id));
    } else {
      z.circle.setLatLng(xy(z.lat, z.lon)); z.circle.setStyle(ring); z.circle.setRadius(ring.radius);
      z.dot.setLatLng(xy(z.lat, z.lon)); z.dot.setStyle(dot);
    }
    z.dot.bindTooltip(el('span', null, 'hazard ' + z.id + ' · P=' + num(z.p_explosive, 2) + ' · ' + (z.status || '')));  /* Leaflet sets string tooltips as HTML */
    renderHazardRow(z);
  }
  function renderHazardRow(z) {
    let li = z.row;
    if (!li) {
      li = z.row = el('li', 'hazard');
      li.dataset.hazard = z.id;
      li.append(el('span', 'sw'), el('span', 'txt'));
      li.onclick = () => showEvidence(z.id);
      $('hazards').appendChild(li);
      $('no-hazards').hidden = true;
    }
    li.querySelector('.sw').style.background = pColour(z.p_explosive);
    li.querySelector('.txt').textContent = '#' + z.id + ' P(explosive) ' + num(z.p_explosive, 2) + ' · ' + (z.status || '?') +
      ' · ' + (z.n_ind !== undefined ? z.n_ind : '?') + (z.n_animals !== undefined && z.n_animals !== null ? ' ind. by ' + z.n_animals + ' animal(s)' : (z.animals ? ' ind. by ' + z.animals.length + ' animal(s)' : ' ind.'));
    li.dataset.status = z.status || '';
    li.dataset.p = z.p_explosive;
    sortHazards();
  }
  /* the list reads most likely first: P(explosive) descending, then id (stable between updates) */
  let sortPending = false;
  function sortHazards() {
    if (sortPending) return;
    sortPending = true;
    requestAnimationFrame(() => {
      sortPending = false;
      const ul = $('hazards'), rows = [...ul.children];
      rows.sort((a, b) => (Number(b.dataset.p) || 0) - (Number(a.dataset.p) || 0) || String(a.dataset.hazard).localeCompare(String(b.dataset.hazard)));
      rows.forEach((r, i) => { if (ul.children[i] !== r) ul.insertBefore(r, ul.children[i] || null); });
    });
  }
  async function showEvidence(id) {
    const z = S.hazards.get(id);
    const box = $('evidence');
    box.hidden = false;
    box.replaceChildren(el('b', null, 'Hazard ' + id));
    if (z && isFinite(z.lat)) {
      const f = $('clearance-form');
      f.lat.value = Number(z.lat).toFixed(7); f.lon.value = Number(z.lon).toFixed(7);
      map.panTo(xy(z.lat, z.lon));
    }
    let d = Object.assign({}, z || {}), inds = null, radius = null;
    try {
      const r = await fetch('api/hazards/' + encodeURIComponent(id));
      if (r.ok) {
        const j = await r.json();
        d = Object.assign(d, j.hazard || j);
        inds = j.indications || null; radius = j.evidence_radius_m;
        if (Array.isArray(j.swept_by)) d.swept_by = j.swept_by;   /* passes with a usable fix there and no indication */
      }
    } catch (e) { /* keep what the stream said */ }
    /* ids, or objects with an animal_id (a pass: animal, session, start, end); each animal named once */
    const names = (ids) => [...new Set(ids.map((x) => (x && typeof x === 'object') ? x.animal_id : x))]
      .map((x) => { const a = S.animals.get(String(x)); return a ? label(a) : 'animal ' + x; }).join(', ') || 'none';
    const by = d.animals || (inds ? [...new Set(inds.map((i) => i.animal_id).filter((x) => x !== null && x !== undefined))] : null);
    box.append(el('div', null, 'P(explosive) ' + num(d.p_explosive, 3) + ', status ' + (d.status || '?') + ', r95 ' + num(d.radius_m, 2, ' m')),
      el('div', 'by', 'indicated by: ' + (by ? names(by) : 'unknown')),
      el('div', null, 'covered without indicating: ' + (d.swept_by ? names(d.swept_by) : 'not reported by the core')));
    if (inds) {
      box.append(el('div', 'muted', inds.length + ' indication(s) within ' + num(radius, 1, ' m') + ':'));
      for (const i of inds.slice(0, 50)) {
        const a = S.animals.get(keyOf(i));
        box.append(el('div', 'muted', '· ' + (a ? label(a) : 'collar ' + i.collar_id) + ' ' + (i.kind || '') + ' ' + (i.t || '') + ' ' + (i.status || '')));
      }
    }
  }

  /* Coverage: each lane segment coloured by how many distinct animals swept it (1×, 2×, 3×+). */
  async function loadCoverage() {
    covLayer.clearLayers();
    for (const b of S.boxes) {
      if (!b.corners || b.corners.length < 4 || !b.lanes) continue;
      let rows;
      try { const r = await fetch('api/coverage?box=' + encodeURIComponent(b.id)); if (!r.ok) continue; rows = await r.json(); } catch (e) { continue; }
      if (!Array.isArray(rows)) rows = rows.cells || rows.segments || [];
      const c = b.corners.map((p) => xy(p[0], p[1]));
      const laneLen = map.distance(c[0], c[1]);  /* the CRS's distance: metres in both modes */
      for (const s of rows) {
        /* a cell spans its lane across and along_m ± seg_m/2 along it (the last cell of a lane may be short) */
        const segM = s.seg_m || 0.5;
        const mid = s.along_m !== undefined ? s.along_m : (s.seg + 0.5) * segM;
        const f0 = s.lane / b.lanes, f1 = (s.lane + 1) / b.lanes;
        const g0 = Math.max(0, (mid - segM / 2) / laneLen), g1 = Math.min(1, (mid + segM / 2) / laneLen);
        /* f across the lanes (0→3), g along a lane (0→1) */
        const P = (f, g) => L.latLng(c[0].lat + (c[3].lat - c[0].lat) * f + (c[1].lat - c[0].lat) * g,
          c[0].lng + (c[3].lng - c[0].lng) * f + (c[1].lng - c[0].lng) * g);
        const fill = s.animals >= 3 ? '#1b5fb0' : s.animals === 2 ? '#6fb1f2' : s.animals === 1 ? '#cfe8ff' : null;
        if (fill) covLayer.addLayer(L.polygon([P(f0, g0), P(f1, g0), P(f1, g1), P(f0, g1)], { stroke: false, fillColor: fill, fillOpacity: 0.55, interactive: false }));
      }
    }
  }

  /* Replay: the slider sets time T; indications up to T and every animal's position at T, from /api/tracks. */
  let replay = null;
  async function startReplay() {
    const times = [];
    for (const i of S.inds.values()) times.push(tms(i.t));
    for (const a of S.animals.values()) if (isFinite(a.t_ms)) times.push(a.t_ms);
    if (!times.length) return;
    const t1 = Math.max(...times), t0 = Math.min(...times, t1 - 3600000);
    replay = { t0: t0, t1: t1, tracks: new Map() };
    for (const a of S.animals.values()) {
      if (a.animal_id === undefined || a.animal_id === null) continue;
      try {
        const r = await fetch('api/tracks?animal=' + encodeURIComponent(a.animal_id) + '&from=' + new Date(t0).toISOString() + '&to=' + new Date(t1).toISOString());
        if (r.ok) replay.tracks.set(a.key, (await r.json()).points || []);
      } catch (e) { /* no track: the animal is left out of the replay */ }
    }
    $('replay-t').disabled = false;
    map.removeLayer(animalLayer); map.removeLayer(trailLayer); map.removeLayer(indLayer);
    replayLayer.addTo(map);
    drawReplay();
  }
  function stopReplay() {
    replay = null;
    $('replay-t').disabled = true; $('replay-t').value = 1000; $('replay-label').textContent = 'live';
    map.removeLayer(replayLayer); animalLayer.addTo(map);
    if (S.view !== 'leader') { trailLayer.addTo(map); indLayer.addTo(map); }
  }
  function drawReplay() {
    if (!replay) return;
    const T = replay.t0 + (replay.t1 - replay.t0) * Number($('replay-t').value) / 1000;
    $('replay-label').textContent = new Date(T).toISOString().replace('T', ' ').slice(0, 19) + 'Z';
    replayLayer.clearLayers();
    for (const i of S.inds.values())
      if (tms(i.t) <= T && isFinite(i.lat)) replayLayer.addLayer(L.circleMarker(xy(i.lat, i.lon), { radius: 6, color: '#c0191f' }));
    for (const [k, pts] of replay.tracks) {
      const past = pts.filter((p) => p[0] <= T);
      if (!past.length) continue;
      replayLayer.addLayer(L.polyline(past.slice(-600).map((p) => xy(p[1], p[2])), { color: '#0b57d0', weight: 2, opacity: 0.6 }));
      const p = past[past.length - 1], a = S.animals.get(k);
      replayLayer.addLayer(L.circleMarker(xy(p[1], p[2]), { radius: 7, color: '#0b57d0', fillOpacity: 0.9 }).bindTooltip(el('span', null, a ? label(a) : k), { permanent: true, direction: 'right' }));
    }
  }
  $('replay-on').onchange = (e) => { if (e.target.checked) startReplay(); else stopReplay(); };
  $('replay-t').oninput = drawReplay;
  $('cov-on').onchange = (e) => { if (e.target.checked && S.view === 'leader') { covLayer.addTo(map); loadCoverage(); } else map.removeLayer(covLayer); };

  $('clearance-form').date.value = new Date().toISOString().slice(0, 10);
  $('clearance-form').by.value = by();
  $('clearance-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = ev.target, out = $('clearance-out');
    const body = { lat: Number(f.lat.value), lon: Number(f.lon.value), err_m: Number(f.err_m.value), result: f.result.value,
      device: f.device.value, team: f.team.value, date: f.date.value, by: f.by.value };
    if (f.depth_cm.value !== '') body.depth_cm = Number(f.depth_cm.value);
    out.textContent = 'sending…';
    try {
      const r = await write('api/clearance', body);
      out.textContent = 'recorded #' + r.clearance_id + (r.matched_hazard !== null && r.matched_hazard !== undefined ? ', matched hazard ' + r.matched_hazard : ', no hazard point matched');
      out.dataset.result = 'ok';
    } catch (e) { out.textContent = 'refused: ' + e.message; out.dataset.result = 'refused'; }
  });

  /* ---------- trainer view ---------- */
  async function loadReport() {
    const id = $('trainer-animal').value, box = $('report');
    if (id === '') { box.replaceChildren(el('p', 'muted', 'No animal with an id yet.')); return; }
    box.replaceChildren(el('p', 'muted', 'loading…'));
    try {
      const r = await fetch('api/accuracy?animal=' + encodeURIComponent(id));
      if (!r.ok) throw new Error('HTTP ' + r.status);
      const j = await r.json();
      try { const q = await fetch('api/accreditation?animal=' + encodeURIComponent(id)); if (q.ok) j.accreditation = (await q.json()).tests; } catch (e) { /* no tests shown */ }
      box.replaceChildren(window.scentrackCharts.report(j, Number(id), { thrFalse: Number($('thr-false').value), thrSens: Number($('thr-sens').value) / 100 }));
    } catch (e) { box.replaceChildren(el('p', 'fail', 'report unavailable: ' + e.message)); }
  }
  $('trainer-animal').onchange = loadReport;
  $('thr-false').onchange = $('thr-sens').onchange = loadReport;
  $('print').onclick = () => window.print();

  /* ---------- views ---------- */
  function setView() {
    const v = (location.hash || '#handler').slice(1);
    S.view = ['handler', 'leader', 'trainer'].includes(v) ? v : 'handler';
    document.body.className = 'view-' + S.view;
    for (const a of document.querySelectorAll('#views a')) a.classList.toggle('on', a.dataset.view === S.view);
    for (const s of ['handler', 'leader', 'trainer']) $(s + '-panel').hidden = s !== S.view;
    /* the leader reads hazard points and coverage; live indication markers and trails are the handler's */
    if (S.view === 'leader') {
      hazardLayer.addTo(map);
      map.removeLayer(indLayer); map.removeLayer(trailLayer);
      if ($('cov-on').checked) { covLayer.addTo(map); loadCoverage(); }
    } else {
      map.removeLayer(hazardLayer); map.removeLayer(covLayer);
      if (replay) { $('replay-on').checked = false; stopReplay(); }
      indLayer.addTo(map); trailLayer.addTo(map);
    }
    if (S.view === 'trainer') loadReport();
    else setTimeout(() => map.invalidateSize(), 0);
  }
  window.addEventListener('hashchange', setView);
  $('trail-min').onchange = () => { for (const a of S.animals.values()) drawTrail(a); };
  $('follow').onchange = (e) => { S.follow = e.target.value; if (S.follow) follow(); else fitAll(); };
  $('fit-all').onclick = () => { $('follow').value = ''; S.follow = ''; fitAll(); };

  /* ---------- snapshot + stream ---------- */
  const conn = $('conn');
  function setConn(state, text) { conn.dataset.state = state; conn.textContent = text; }

  async function loadSnapshot() {
    const r = await fetch('api/snapshot');
    if (!r.ok) throw new Error('snapshot HTTP ' + r.status);
    const s = await r.json();
    if (s.server_time) { const st = Date.parse(s.server_time); if (isFinite(st)) clockSkewMs = st - Date.now(); }
    useTiles(s.tiles);
    S.task = s.task || null;
    S.boxes = Array.isArray(s.boxes) ? s.boxes : [];
    if (S.task && isFinite(S.task.origin_lat)) setOrigin(S.task.origin_lat, S.task.origin_lon);
    else if (S.boxes.length && S.boxes[0].corners) setOrigin(S.boxes[0].corners[0][0], S.boxes[0].corners[0][1]);
    else { const a0 = (s.animals || []).find((a) => isFinite(a.lat)); if (a0) setOrigin(a0.lat, a0.lon); }
    drawBoxes();
    for (const a of (s.animals || [])) {
      const x = animal(a);
      if (a.name) x.name = a.name;
      if (a.species) x.species = a.species;
      relabelOptions(x);
      /* the newest fix is either flat on the animal or its "fix" object; the link is its "link" object */
      const f = a.fix ? Object.assign({ collar_id: a.collar_id, animal_id: a.animal_id }, a.fix) : a;
      if (f.lat !== null && f.lat !== undefined && isFinite(f.lat)) applyFix(f);
      applyStatus(a);
      if (a.link) applyStatus(Object.assign({ collar_id: a.collar_id, animal_id: a.animal_id }, a.link));
      if (a.state) x.state = a.state;
      drawAnimal(x); renderAnimalRow(x);
    }
    for (const i of (s.indications || [])) applyInd(i, false);
    for (const h of (s.hazards || [])) applyHazard(h);
    resetAlerts(s.alerts);
    S.lastId = Number(s.event_id) || 0;
    hooks.snapshotLoaded++;
    fitAll();
    drawGrid();
    if (hooks.firstRender === null) hooks.firstRender = performance.now();
    loadTrails();
    if (S.view === 'trainer') loadReport();
    if (S.view === 'leader' && $('cov-on').checked) loadCoverage();
  }

  /* Trails of the last hour from the history API, merged with what the stream brings. */
  async function loadTrails() {
    for (const a of S.animals.values()) {
      if (a.animal_id === undefined || a.animal_id === null || !isFinite(a.t_ms)) continue;
      try {
        const r = await fetch('api/tracks?animal=' + encodeURIComponent(a.animal_id) + '&from=' + new Date(a.t_ms - 3600000).toISOString() + '&to=' + new Date(a.t_ms + 1).toISOString());
        if (!r.ok) continue;
        for (const p of ((await r.json()).points || [])) addTrailPoint(a, p[0], p[1], p[2]);
        drawTrail(a);
      } catch (e) { /* the live stream still draws the trail from now on */ }
    }
  }

  let es = null, retryMs = 500, retryTimer = null;
  function openStream() {
    if (es) es.close();
    hooks.opens++;
    setConn(hooks.opens > 1 ? 'reconnecting' : 'connecting', hooks.opens > 1 ? 'reconnecting' : 'connecting');
    /* The id rides in the query as well: a fresh EventSource has no Last-Event-ID of its own. */
    es = new EventSource('api/events?last_event_id=' + S.lastId);
    es.onopen = () => { retryMs = 500; setConn('live', 'live'); hooks.liveSince.push(performance.timeOrigin + performance.now()); };
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) {    /* the browser gave up (server down, bad status): retry ourselves */
        setConn('offline', 'offline — retrying');
        clearTimeout(retryTimer);
        retryTimer = setTimeout(openStream, retryMs);
        retryMs = Math.min(retryMs * 2, 8000);
      } else {
        setConn('reconnecting', 'reconnecting');
      }
    };
    const on = (type, fn) => es.addEventListener(type, (ev) => {
      hooks.tRecv = performance.timeOrigin + performance.now();
      const id = Number(ev.lastEventId);
      if (isFinite(id) && ev.lastEventId !== '') {
        if (id <= S.lastId) return;                      /* already applied (snapshot or earlier stream) */
        if (S.lastId && id !== S.lastId + 1) hooks.gaps++;
        S.lastId = id;
        hooks.ids.push(id);
      }
      let d;
      try { d = JSON.parse(ev.data); } catch (e) { return; }
      fn(d);
    });
    on('fix', (d) => {
      const a = applyFix(d); drawAnimal(a); drawTrail(a); renderAnimalRow(a); hooks.fixes++;
      if (S.follow === a.key) follow();
      if (hooks.fixLog.length < 50000) hooks.fixLog.push([d.collar_id, d.rec_seq, hooks.tRecv, performance.timeOrigin + performance.now(), d.server_ms]);
    });
    on('ind', (d) => { applyInd(d, true); const a = S.animals.get(keyOf(d)); if (a) { drawAnimal(a); renderAnimalRow(a); } });
    on('hazard', (d) => applyHazard(d));
    on('status', (d) => { if (d.kind === 'gateway' || (d.collar_id === undefined && d.animal_id === undefined)) return; const a = applyStatus(d); drawAnimal(a); renderAnimalRow(a); });
    on('alert', (d) => applyAlert(d, true));
    on('alerts', (d) => resetAlerts(d.alerts));       /* a (re)started core's whole set */
    on('clearance', (d) => {
      if (S.view === 'trainer') loadReport();
      if (d.matched_hazard !== null && d.matched_hazard !== undefined && !$('evidence').hidden) showEvidence(d.matched_hazard);
    });
    es.addEventListener('reset', () => { hooks.resets++; S.lastId = 0; reloadAll(); });
  }
  async function reloadAll() {
    try { await loadSnapshot(); } catch (e) { setConn('offline', 'offline — ' + e.message); setTimeout(reloadAll, 2000); return; }
    openStream();
  }

  /* One tick a second: ages, staleness and alerts move on even when nothing arrives. */
  setInterval(() => {
    for (const a of S.animals.values()) {
      renderAnimalRow(a);
      const st = isStale(a);
      if (a.marker && st !== a.drawnStale) drawAnimal(a);
    }
  }, 1000);

  setView();
  map.whenReady(drawGrid);
  reloadAll();
})();
