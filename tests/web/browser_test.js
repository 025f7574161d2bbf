#!/usr/bin/env node
/*
 * tests/web/browser_test.js — the web map in a real browser (Debian chromium driven by playwright-core)
 * against the real scentrack-core, fed through its real ingest by an_core_testgw (BATCHes over CURVE) into a
 * store prepared by an_core_setup (one task, one rat box, 8 rats wearing collars 1..8).
 *
 *   node browser_test.js CORE TESTGW SETUP CLI WEBROOT OUTDIR [--bench N]      (CLI = the `scentrack` tool)
 *
 * Checks: every request goes to the local server (anything else is intercepted, aborted and fails the test);
 * animal markers appear and move; an indication's alert is in the DOM within 2 s of the batch being handed to
 * the gateway upstream; the page recovers after scentrack-core restarts (SSE reconnect, no gap in event ids);
 * a clearance result recorded with the token updates the hazard point and the animal's report, and the same
 * write without the token is refused; `scentrack report accuracy --html` writes the same report as a
 * standalone file that renders its charts offline (and prints to PDF); phone (360x740) and desktop screenshots
 * land in OUTDIR.
 * Prints FIGURE lines (latency collar batch → DOM p50/p99, page weight, first map render).
 *
 *   node browser_test.js CORE SIMFEED - CLI WEBROOT OUTDIR --demo
 * plays a `scentrack sim` field day (reference scenario, seed 1: the window 05:20-05:40 UTC at 60x, so 20 s)
 * into the core with web_simfeed (its setup makes the task, boxes, animals and sessions): the handler sees
 * animals inside their boxes and each indication's alert within 2 s; screenshots of the demo in OUTDIR.
 *
 *   node browser_test.js CORE TESTGW SETUP CLI WEBROOT OUTDIR --clients N [--seconds S]
 * is a benchmark instead: N plain SSE clients (node http, each parsing the stream) and one real page on the
 * same core for S seconds; prints each one's fix latency (batch handed to the upstream → event received) p50/p99.
 * Never sleeps to wait: every wait is on a process line, a DOM state or a network event, with a deadline;
 * a global deadline kills everything. Exit 0 = all passed.
 */
'use strict';
const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');
const { chromium } = require('playwright-core');
const http = require('http');

const [CORE, TESTGW, SETUP, CLI, WEBROOT, OUTDIR] = process.argv.slice(2, 8);
const argOf = (k, d) => process.argv.includes(k) ? Number(process.argv[process.argv.indexOf(k) + 1]) : d;
const CLIENTS = argOf('--clients', 0), SECONDS = argOf('--seconds', 20), DEMO = process.argv.includes('--demo');
const SIM = process.argv.includes('--sim') ? process.argv[process.argv.indexOf('--sim') + 1] : null;
const LIVE = argOf('--live', 0);   /* --sim: the live demo (no --fast) until the page has shown LIVE indication alerts */
const BENCH = process.argv.includes('--bench') ? Number(process.argv[process.argv.indexOf('--bench') + 1] || 5) : 0;
const GLOBAL_DEADLINE_MS = Number(process.env.WEB_TEST_DEADLINE_MS || 220000);  /* under CTest's TIMEOUT 240 */
const WAIT_MS = 30000;
/* 1 batch/s of 8 records stamped from now (--t0-now): each collar 1 fix/s, record time keeps pace with the clock,
   so the page sees live animals (and every collar indicates every 16 s) */
const GW_ID = 7, PER = 8, RATE = 1;
const TOKEN = 'web-test-token-' + process.pid;
const TOKEN_FOR_PAGE = TOKEN;
const CHROME_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

if (!OUTDIR) { console.error('usage: browser_test.js CORE TESTGW SETUP CLI WEBROOT OUTDIR [--bench N]'); process.exit(2); }
fs.mkdirSync(OUTDIR, { recursive: true });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scentrack-web-'));
const procs = [];
let browser = null;
const results = [];
let reportAnimal = null;

/* ---------- processes: stdout lines with waits that have deadlines ---------- */
class Proc {
  constructor(name, cmd, args) {
    this.name = name;
    this.lines = [];
    this.waiters = [];
    this.exited = null;
    const err = fs.openSync(path.join(OUTDIR, 'stderr-' + name + '.log'), 'a');
    this.p = spawn(cmd, args, { stdio: ['ignore', 'pipe', err] });
    fs.closeSync(err);
    this.onLine = null;
    readline.createInterface({ input: this.p.stdout }).on('line', (l) => {
      this.lines.push(l);
      if (this.onLine) this.onLine(l);
      this.waiters = this.waiters.filter((w) => !w.test(l));
    });
    this.p.on('exit', (code, sig) => { this.exited = { code, sig }; for (const w of this.waiters) w.fail(); this.waiters = []; });
    procs.push(this);
  }
  wait(rx, ms = WAIT_MS) {
    for (const l of this.lines) { const m = l.match(rx); if (m) return Promise.resolve(m); }
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.name}: no line matching ${rx} within ${ms} ms; last: ${this.lines.slice(-4).join(' | ')}`)), ms);
      this.waiters.push({
        test: (l) => { const m = l.match(rx); if (m) { clearTimeout(t); resolve(m); return true; } return false; },
        fail: () => { clearTimeout(t); reject(new Error(`${this.name} exited (${JSON.stringify(this.exited)}) before ${rx}; last: ${this.lines.slice(-4).join(' | ')}`)); },
      });
      if (this.exited) this.waiters[this.waiters.length - 1].fail();
    });
  }
  stop(sig = 'SIGTERM', ms = 20000) {
    if (this.exited) return Promise.resolve(this.exited);
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.p.kill('SIGKILL'); }, ms);
      this.p.once('exit', (code, s) => { clearTimeout(t); resolve({ code, sig: s }); });
      this.p.kill(sig);
      this.p.kill('SIGCONT');   /* a process held with SIGSTOP (the sim's clock) must see its SIGTERM */
    });
  }
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: rc ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/* ---------- the rig: keys, allow-list, token, store, ini ---------- */
const eps = { ingest: 'tcp://127.0.0.1:*', pub: 'tcp://127.0.0.1:*', snapshot: 'tcp://127.0.0.1:*' };
let webListen = '127.0.0.1:0';
let mbtiles = '';   /* web_browser runs the map over offline MBTiles tiles; the demo over the metric grid */
let nCore = 0;
function writeIni() {
  const ini = path.join(tmp, 'core.ini');
  fs.writeFileSync(ini, `# browser test
[core]
db = ${tmp}/core.db
status_file = ${tmp}/status.json
log_level = info
[ingest]
endpoint = ${eps.ingest}
secret_key = ${tmp}/core.key
allow = ${tmp}/allow.txt
credit = 8
[pub]
endpoint = ${eps.pub}
[snapshot]
endpoint = ${eps.snapshot}
[web]
listen = ${webListen}
root = ${WEBROOT}
token_file = ${tmp}/token
${mbtiles ? 'mbtiles = ' + mbtiles : ''}
# server-side alerts, short enough for the test: link lost 4 s after the gateway stops, a 3 s work bout
alert_link_lost_s = 4
alert_gps_lost_s = 3
alert_bout_rat_s = 3
`);
  return ini;
}
async function startCore() {
  nCore++;
  const c = new Proc('core' + nCore, CORE, ['-N', '-f', writeIni()]);
  const m = await c.wait(/^READY ingest=(\S+) pub=(\S+) snapshot=(\S+)/);
  eps.ingest = m[1]; eps.pub = m[2]; eps.snapshot = m[3];   /* a restart binds the same ports */
  const w = await c.wait(/^WEB (http:\/\/\S+?)\/?$/);
  webListen = w[1].replace(/^http:\/\//, '');
  return { proc: c, base: w[1] + '/' };
}

/* CLOCK_MONOTONIC (the gateway's SENT stamps) → epoch ms (the page's clock): libuv's hrtime is CLOCK_MONOTONIC. */
function monoToEpochMs(ns) { return Date.now() - (Number(process.hrtime.bigint()) - ns) / 1e6; }

function pct(a, p) { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN; }
function median(a) { return pct(a, 0.5); }

async function check(name, fn) {
  const t0 = Date.now();
  try { await fn(); results.push([name, true]); console.log(`ok   ${name} (${Date.now() - t0} ms)`); }
  catch (e) { results.push([name, false]); console.log(`FAIL ${name}: ${e.message}`); }  /* go on: later checks and screenshots still tell */
}

async function main() {
  for (const who of ['core', 'gw']) run(CORE, ['keygen', `${tmp}/${who}.pub`, `${tmp}/${who}.key`]);
  const gwPub = fs.readFileSync(`${tmp}/gw.pub`, 'utf8').trim();
  fs.writeFileSync(`${tmp}/allow.txt`, `${GW_ID} ${gwPub}\n`);
  fs.writeFileSync(`${tmp}/token`, TOKEN + '\n');
  run(SETUP, [`${tmp}/core.db`]);
  /* plain PNG tiles around an_core_testgw's area (-25.9, 32.7), zooms 14-19, made by the standard library */
  mbtiles = `${tmp}/tiles.mbtiles`;
  run('/usr/bin/python3', [path.join(__dirname, 'make_mbtiles.py'), mbtiles, '-25.9', '32.7', '400', '14', '19']);

  let core = await startCore();
  const base = core.base, origin = new URL(base).origin;

  /* the gateway: SENT stamps are the latency origin of every record in that batch */
  const sent = new Map();
  const gw = new Proc('gw', TESTGW, ['run', '--endpoint', eps.ingest, '--gw-id', String(GW_ID), '--server-key', `${tmp}/core.pub`,
    '--secret', `${tmp}/gw.key`, '--batches', '100000', '--per', String(PER), '--state', `${tmp}/gw.state`, '--rate', String(RATE), '--t0-now']);
  gw.onLine = (l) => { const m = l.match(/^SENT (\d+) (\d+)$/); if (m) sent.set(Number(m[1]), monoToEpochMs(Number(m[2]))); };
  await gw.wait(/^READY/);
  const batchOf = (collar, recSeq) => Math.floor((recSeq * 8 + (collar - 1)) / PER) + 1;

  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROME_ARGS });
  const ctx = await browser.newContext({ viewport: { width: 360, height: 740 }, deviceScaleFactor: 1, isMobile: true, hasTouch: true });
  const foreign = [], requests = [];
  /* Interception: any request not to the core's own origin is aborted and recorded (the page must make none). */
  await ctx.route((url) => url.origin !== origin, (route) => { foreign.push(route.request().url()); return route.abort(); });
  ctx.on('request', (r) => requests.push(r.url()));
  let bytes = 0;
  ctx.on('requestfinished', async (r) => { try { const s = await r.sizes(); bytes += s.responseBodySize + s.responseHeadersSize; } catch (e) { /* page gone */ } });
  const page = await ctx.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  /* the core sends a Content-Security-Policy: anything the page does against it is a console error */
  page.on('console', (m) => { if (m.type() === 'error' && /Content.Security.Policy|Refused to/i.test(m.text())) pageErrors.push(m.text()); });

  await check('page loads from the local server only, map renders', async () => {
    await page.goto(base + '#handler', { waitUntil: 'load', timeout: WAIT_MS });
    await page.waitForFunction(() => window.scentrack && window.scentrack.snapshotLoaded > 0 && window.scentrack.firstRender !== null, null, { timeout: WAIT_MS });
    await page.locator('#conn[data-state=live]').waitFor({ timeout: WAIT_MS });
    const fr = await page.evaluate(() => window.scentrack.firstRender);
    console.log(`FIGURE first_load_bytes=${bytes} first_map_render_ms=${fr.toFixed(0)}`);
  });

  await check('offline tiles: the snapshot announces the MBTiles file, tiles load from the core', async () => {
    await page.locator('img.leaflet-tile-loaded').first().waitFor({ state: 'attached', timeout: WAIT_MS });
    const srcs = await page.evaluate(() => [...document.querySelectorAll('img.leaflet-tile-loaded')].map((i) => i.src));
    const bad = srcs.filter((u) => !u.startsWith(origin + '/tiles/'));
    if (bad.length) throw new Error('tiles from elsewhere: ' + bad.join(', '));
    const grid = await page.locator('.grid-label').count();
    if (grid) throw new Error(`${grid} metric grid labels drawn over the tiles`);
  });

  await check('animal markers appear and move', async () => {
    const mk = page.locator('.leaflet-marker-icon[data-animal]').first();
    await mk.waitFor({ timeout: WAIT_MS });
    const key = await mk.getAttribute('data-animal');
    const pos0 = await page.evaluate((k) => document.querySelector(`.leaflet-marker-icon[data-animal="${k}"]`).style.transform, key);
    await page.waitForFunction(([k, p]) => { const e = document.querySelector(`.leaflet-marker-icon[data-animal="${k}"]`); return e && e.style.transform !== p; },
      [key, pos0], { timeout: WAIT_MS });
    const rows = await page.locator('#animals li.animal').count();
    if (rows < 2) throw new Error(`only ${rows} animal rows`);
  });

  await check('follow one animal keeps it centred; fit all frames every animal', async () => {
    const key = await page.locator('#follow option').nth(3).getAttribute('value');
    await page.locator('#follow').selectOption(key);
    /* the marker moves every second; following pans to it each time (Leaflet's pan animation ends within 0.25 s) */
    await page.waitForFunction((k) => {
      const m = document.querySelector(`.leaflet-marker-icon[data-animal="${k}"]`).getBoundingClientRect();
      const c = document.getElementById('map').getBoundingClientRect();
      return Math.hypot(m.x + m.width / 2 - (c.x + c.width / 2), m.y + m.height / 2 - (c.y + c.height / 2)) < 40;
    }, key, { timeout: WAIT_MS });
    await page.locator('#fit-all').click();
    await page.waitForFunction(() => {
      const c = document.getElementById('map').getBoundingClientRect();
      return [...document.querySelectorAll('.leaflet-marker-icon[data-animal]')].every((e) => {
        const r = e.getBoundingClientRect();
        return r.x >= c.x - 1 && r.right <= c.right + 1 && r.y >= c.y - 1 && r.bottom <= c.bottom + 1;
      });
    }, null, { timeout: WAIT_MS });
    if ((await page.locator('#follow').inputValue()) !== '') throw new Error('fit all did not stop following');
  });

  await check('an indication shows its alert within 2 s of the gateway handing it over', async () => {
    await page.locator('.alert[data-ind]').first().waitFor({ timeout: WAIT_MS });
    await page.waitForFunction(() => window.scentrack.alerts.length >= 3, null, { timeout: WAIT_MS });
    const al = await page.evaluate(() => window.scentrack.alerts);
    const lat = al.filter((a) => a.rec_seq !== undefined).map((a) => a.epoch_ms - sent.get(batchOf(a.collar_id, a.rec_seq))).filter(isFinite);
    if (!lat.length) throw new Error('no alert could be matched to its batch');
    const worst = Math.max(...lat);
    const net = al.filter((a) => a.rec_seq !== undefined).map((a) => a.recv_ms - sent.get(batchOf(a.collar_id, a.rec_seq))).filter(isFinite);
    console.log(`FIGURE ind_alert_latency_ms (batch handed to the upstream -> alert in the DOM) n=${lat.length} p50=${median(lat).toFixed(1)} ` +
      `max=${worst.toFixed(1)}; -> SSE event in the page p50=${median(net).toFixed(1)} max=${Math.max(...net).toFixed(1)}`);
    if (worst > 2000) throw new Error(`alert ${worst.toFixed(0)} ms after the batch was sent (limit 2000)`);
  });

  await page.screenshot({ path: path.join(OUTDIR, 'phone-handler.png') });

  await check('the handler confirms an indication: token entered once in the dialog, the ind event closes the alert', async () => {
    const al = page.locator('.alert[data-ind]:not(.done)').first();
    await al.waitFor({ timeout: WAIT_MS });
    const ind = await al.getAttribute('data-ind');
    /* without a token the page asks for it instead of sending */
    await page.evaluate(() => localStorage.removeItem('scentrack.token'));
    await al.locator('button.confirm').click();
    await page.locator('#token-dlg[open]').waitFor({ timeout: WAIT_MS });
    await page.locator('#token-in').fill(TOKEN_FOR_PAGE);
    await page.locator('#by-in').fill('handler test');
    await page.locator('#token-dlg button[value=save]').click();
    await page.locator('#token-dlg[open]').waitFor({ state: 'detached', timeout: WAIT_MS }).catch(() => {});
    /* the page keeps the token in the dialog's 'close' event, a task queued after the dialog closes: wait for
     * it rather than read once (a busy machine ran the read first) */
    const kept = await page.waitForFunction((t) => localStorage.getItem('scentrack.token') === t, TOKEN_FOR_PAGE,
      { timeout: WAIT_MS }).then(() => true, () => false);
    if (!kept) throw new Error('token not kept');
    const box = page.locator(`.alert[data-ind="${ind}"]`);
    await box.locator('button.confirm').click();
    /* the server's ind event (status confirmed) marks the alert done; the marker turns "confirmed" */
    await page.locator(`.alert.done[data-ind="${ind}"]`).waitFor({ timeout: WAIT_MS });
    const txt = await box.locator('.txt').textContent();
    if (!/confirmed$/.test(txt)) throw new Error(`alert says ${txt}`);
    await page.locator(`.leaflet-marker-icon[data-ind="${ind}"] .indmk.confirmed`).waitFor({ state: 'attached', timeout: WAIT_MS });
  });

  /* latency of every fix so far (before the restart: records held while the core is down would count the
     downtime): batch handed to the gateway upstream → the page's DOM took it */
  const fl = await page.evaluate(() => window.scentrack.fixLog);
  const flat = fl.map(([c, s, , t]) => t - sent.get(batchOf(c, s))).filter(isFinite);
  const fnet = fl.map(([c, s, t]) => t - sent.get(batchOf(c, s))).filter(isFinite);
  const fdom = fl.map(([, , r, t]) => t - r).filter(isFinite);
  if (flat.length) console.log(`FIGURE fix_latency_ms (batch handed to the gateway upstream -> page DOM) n=${flat.length} ` +
    `p50=${median(flat).toFixed(1)} p99=${pct(flat, 0.99).toFixed(1)}; -> SSE event in the page p50=${median(fnet).toFixed(1)} ` +
    `p99=${pct(fnet, 0.99).toFixed(1)}; page work p50=${median(fdom).toFixed(2)} p99=${pct(fdom, 0.99).toFixed(2)}`);

  await check('page recovers after scentrack-core restarts: reconnect, no gap in event ids', async () => {
    const before = await page.evaluate(() => ({ last: window.scentrack.ids[window.scentrack.ids.length - 1], opens: window.scentrack.opens }));
    await core.proc.stop('SIGTERM');
    await page.locator('#conn:not([data-state=live])').waitFor({ timeout: WAIT_MS });
    core = await startCore();
    await page.waitForFunction((b) => window.scentrack.ids.length && window.scentrack.ids[window.scentrack.ids.length - 1] > b.last + 20 &&
      document.getElementById('conn').dataset.state === 'live', before, { timeout: WAIT_MS });
    const h = await page.evaluate(() => ({ gaps: window.scentrack.gaps, resets: window.scentrack.resets, n: window.scentrack.ids.length }));
    if (h.gaps) throw new Error(`${h.gaps} gaps in the event ids the page received`);
    console.log(`restart: ${h.n} events, 0 gaps, ${h.resets} resets`);
  });

  await check('clearance with the token updates the hazard point and the report; without it, refused', async () => {
    await page.goto(base + '#leader');
    await page.waitForFunction(() => window.scentrack.snapshotLoaded > 0, null, { timeout: WAIT_MS });
    const row = page.locator('#hazards li.hazard').first();
    await row.waitFor({ timeout: WAIT_MS });
    const hid = await row.getAttribute('data-hazard');
    const hz = await (await page.request.get(base + 'api/hazards/' + hid)).json();
    const animalId = ((hz.indications || []).find((i) => i.animal_id) || {}).animal_id;
    if (!animalId) throw new Error(`hazard ${hid} has no indicating animal in its evidence: ${JSON.stringify(hz).slice(0, 300)}`);
    const acc0 = await (await page.request.get(base + 'api/accuracy?animal=' + animalId)).json();
    const before = await row.evaluate((e) => e.dataset.status + '|' + e.dataset.p);
    await row.click();
    /* the evidence panel: who indicated it, and what the core says about passes that covered it */
    await page.locator('#evidence .by', { hasText: 'indicated by: ' }).waitFor({ timeout: WAIT_MS });
    if (!/covered without indicating: (none|\S)/.test(await page.locator('#evidence').textContent())) throw new Error('no swept-by line');
    if (Array.isArray(hz.swept_by) && /not reported by the core/.test(await page.locator('#evidence').textContent()))
      throw new Error('the core reports swept_by but the page says it does not');
    const form = page.locator('#clearance-form');
    await form.locator('[name=by]').fill('browser test');
    await form.locator('[name=result]').selectOption('ap_mine');
    await form.locator('[name=device]').fill('detector <script>x</script>');
    /* without the token: the form's write is refused and nothing changes */
    await page.evaluate(() => localStorage.removeItem('scentrack.token'));
    await form.locator('button[type=submit]').click();
    await page.locator('#clearance-out[data-result=refused]').waitFor({ timeout: WAIT_MS });
    const r401 = await page.evaluate(async () => (await fetch('api/clearance', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' })).status);
    if (r401 !== 401 && r401 !== 403) throw new Error(`write without token answered ${r401}`);
    const r401b = await page.evaluate(async () => (await fetch('api/clearance', { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: 'Bearer wrong' }, body: '{}' })).status);
    if (r401b !== 401 && r401b !== 403) throw new Error(`write with a wrong token answered ${r401b}`);
    /* with the token (entered once, kept in localStorage) */
    await page.evaluate((t) => localStorage.setItem('scentrack.token', t), TOKEN);
    await form.locator('button[type=submit]').click();
    await page.locator('#clearance-out[data-result=ok]').waitFor({ timeout: WAIT_MS });
    const out = await page.locator('#clearance-out').textContent();
    if (!/matched hazard/.test(out)) throw new Error(`clearance not matched to the hazard: ${out}`);
    reportAnimal = animalId;
    await page.waitForFunction(([id, b]) => { const e = document.querySelector(`#hazards li[data-hazard="${id}"]`); return e && (e.dataset.status + '|' + e.dataset.p) !== b; },
      [hid, before], { timeout: WAIT_MS });
    const acc1 = await (await page.request.get(base + 'api/accuracy?animal=' + animalId)).json();
    const c0 = JSON.stringify(acc0), c1 = JSON.stringify(acc1);
    if (c0 === c1) throw new Error('the animal\'s accuracy report did not change');
    await page.goto(base + '#trainer');
    await page.waitForFunction((id) => [...document.querySelectorAll('#trainer-animal option')].some((o) => o.value === String(id)), animalId, { timeout: WAIT_MS });
    await page.locator('#trainer-animal').selectOption(String(animalId));
    await page.locator('#report svg.chart').first().waitFor({ timeout: WAIT_MS });
    await page.getByText('ap_mine').first().waitFor({ timeout: WAIT_MS });
    await page.screenshot({ path: path.join(OUTDIR, 'phone-trainer.png'), fullPage: true });
  });

  await check('scentrack report accuracy --html: a standalone file with the same charts, offline, printable', async () => {
    if (!reportAnimal) throw new Error('no animal from the clearance check');
    const html = run(CLI, ['report', 'accuracy', '--db', `${tmp}/core.db`, '--animal', String(reportAnimal), '--html']);
    const file = path.resolve(OUTDIR, 'report.html');
    fs.writeFileSync(file, html);
    const rc = await browser.newContext({ viewport: { width: 1000, height: 1400 } });
    const net = [];
    await rc.route((url) => url.protocol !== 'file:', (route) => { net.push(route.request().url()); return route.abort(); });
    const rp = await rc.newPage();
    const errs = [];
    rp.on('pageerror', (e) => errs.push(e.message));
    await rp.goto('file://' + file);
    await rp.locator('#report svg.chart').nth(2).waitFor({ timeout: WAIT_MS });
    await rp.getByText('ap_mine').first().waitFor({ timeout: WAIT_MS });
    await rp.getByText('Accuracy report').first().waitFor({ timeout: WAIT_MS });
    await rp.screenshot({ path: path.join(OUTDIR, 'report-html.png'), fullPage: true });
    await rp.pdf({ path: path.join(OUTDIR, 'report.pdf'), format: 'A4' });
    await rc.close();
    if (net.length) throw new Error('the standalone report made requests: ' + net.join(', '));
    if (errs.length) throw new Error('script errors in the standalone report: ' + errs.join(' | '));
  });

  await page.goto(base + '#leader');
  await page.locator('#hazards li.hazard').first().waitFor({ timeout: WAIT_MS });
  await page.screenshot({ path: path.join(OUTDIR, 'phone-leader.png') });

  await check('leader replay: the time slider moves the animals along their stored tracks', async () => {
    await page.locator('#replay-on').check();
    await page.locator('#replay-t:not([disabled])').waitFor({ timeout: WAIT_MS });
    const at = async (v) => {
      await page.locator('#replay-t').fill(String(v));
      return page.evaluate(() => [...document.querySelectorAll('.leaflet-overlay-pane path.leaflet-interactive')].map((p) => p.getAttribute('d')).join('|'));
    };
    const early = await at(200), late = await at(1000);
    const label = await page.locator('#replay-label').textContent();
    if (!/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/.test(label)) throw new Error(`replay label ${label}`);
    if (!late || early === late) throw new Error('replay drew the same picture at two times');
    await page.locator('#replay-on').uncheck();
  });
  const desk = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await desk.route((url) => url.origin !== origin, (route) => { foreign.push(route.request().url()); return route.abort(); });
  const dp = await desk.newPage();
  for (const v of ['handler', 'leader', 'trainer']) {
    await dp.goto(base + '#' + v);
    await dp.waitForFunction(() => window.scentrack && window.scentrack.snapshotLoaded > 0, null, { timeout: WAIT_MS });
    if (v === 'handler') await dp.locator('.leaflet-marker-icon[data-animal]').first().waitFor({ timeout: WAIT_MS });
    if (v === 'leader') await dp.locator('#hazards li.hazard').first().waitFor({ timeout: WAIT_MS });
    if (v === 'trainer') await dp.locator('#report svg.chart').first().waitFor({ timeout: WAIT_MS });
    await dp.screenshot({ path: path.join(OUTDIR, 'desktop-' + v + '.png') });
  }
  await check('the trainer view prints only the report (print CSS)', async () => {
    await dp.emulateMedia({ media: 'print' });
    await dp.locator('#report svg.chart').first().waitFor({ timeout: WAIT_MS });
    for (const sel of ['#bar', '#map', '#alerts', '#trainer-panel .controls'])
      if (await dp.locator(sel).first().isVisible()) throw new Error(`${sel} is visible in print`);
    await dp.screenshot({ path: path.join(OUTDIR, 'desktop-trainer-print.png'), fullPage: true });
    await dp.emulateMedia({ media: 'screen' });
  });


  await check('server alerts: work-bout timer, then link lost when the gateway stops, also on a page that joins late', async () => {
    const hp = await ctx.newPage();
    hp.on('pageerror', (e) => pageErrors.push(e.message));
    await hp.goto(base + '?link_lost_s=30#handler');
    await hp.waitForFunction(() => window.scentrack.snapshotLoaded > 0, null, { timeout: WAIT_MS });
    await hp.locator('#animals li.animal:not(.stale)').first().waitFor({ timeout: WAIT_MS });
    await hp.locator('#animals .chip', { hasText: 'work bout' }).first().waitFor({ timeout: WAIT_MS });
    await gw.stop('SIGTERM');
    await hp.waitForFunction(() => { const r = document.querySelectorAll('#animals li.animal'); return r.length >= 8 &&
      [...r].every((li) => li.classList.contains('stale') && /link lost/.test(li.textContent)); }, null, { timeout: WAIT_MS });
    if ((await hp.locator('.leaflet-marker-icon[data-animal] .amk.stale').count()) < 1) throw new Error('markers not greyed');
    if ((await hp.locator('#conn').getAttribute('data-state')) !== 'live') throw new Error('the page lost its own stream');
    /* the page's own staleness is 30 s here: the 4 s link-lost came from the server, as alert events */
    const ev = await hp.evaluate(() => window.scentrack.srvAlerts.filter((x) => x[1] === 'link_lost' && x[2] === 'raised').map((x) => x[3]));
    if (new Set(ev).size < 8) throw new Error(`link_lost alert events for collars ${JSON.stringify(ev)}`);
    if ((await hp.locator('.alert.srv', { hasText: 'link lost' }).count()) < 8) throw new Error('no link-lost banners');
    await hp.screenshot({ path: path.join(OUTDIR, 'phone-link-lost.png') });
    /* a page opened now gets the same alerts from the snapshot */
    const late = await ctx.newPage();
    await late.goto(base + '?link_lost_s=30#handler');
    await late.waitForFunction(() => { const r = document.querySelectorAll('#animals li.animal'); return r.length >= 8 &&
      [...r].every((li) => /link lost/.test(li.textContent)); }, null, { timeout: WAIT_MS });
    await late.close();
    await hp.close();
  });

  await check('no request left the machine, no script error', async () => {
    if (foreign.length) throw new Error('requests to other origins: ' + foreign.join(', '));
    const bad = requests.filter((u) => !u.startsWith(origin));
    if (bad.length) throw new Error('requests not to the local server: ' + bad.join(', '));
    if (pageErrors.length) throw new Error('page errors: ' + pageErrors.join(' | '));
  });

  if (BENCH) await bench(base, origin);
}

/* Figures: first-load weight and time to first map render, BENCH fresh contexts, medians. */
async function bench(base, origin) {
  const w = [], r = [];
  for (let i = 0; i < BENCH; i++) {
    const ctx = await browser.newContext({ viewport: { width: 360, height: 740 } });
    let bytes = 0;
    const pend = [];
    ctx.on('requestfinished', (q) => pend.push(q.sizes().then((s) => { bytes += s.responseBodySize + s.responseHeadersSize; }).catch(() => {})));
    const p = await ctx.newPage();
    await p.goto(base + '#handler', { waitUntil: 'load' });
    await p.waitForFunction(() => window.scentrack.firstRender !== null && window.scentrack.snapshotLoaded > 0, null, { timeout: WAIT_MS });
    await Promise.all(pend);
    r.push(await p.evaluate(() => window.scentrack.firstRender));
    w.push(bytes);
    await ctx.close();
  }
  console.log(`FIGURE bench runs=${BENCH} first_load_bytes median=${median(w)} first_map_render_ms median=${median(r).toFixed(0)} (all: ${r.map((x) => x.toFixed(0)).join(' ')})`);
}

/* --clients N: plain SSE clients parse the stream like a page would; latency per fix = receipt − SENT. */
function sseClient(url, onEvent) {
  let buf = '', ev = {};
  const req = http.get(url, { headers: { Accept: 'text/event-stream' } }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (chunk) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i); buf = buf.slice(i + 1);
        if (line === '') { if (ev.data !== undefined) onEvent(ev); ev = {}; continue; }
        const c = line.indexOf(':');
        if (c === 0) continue;
        const k = line.slice(0, c), v = line.slice(c + 1).replace(/^ /, '');
        ev[k] = ev[k] === undefined ? v : ev[k] + '\n' + v;
      }
    });
  });
  req.on('error', () => {});
  return req;
}
async function clientsBench() {
  for (const who of ['core', 'gw']) run(CORE, ['keygen', `${tmp}/${who}.pub`, `${tmp}/${who}.key`]);
  fs.writeFileSync(`${tmp}/allow.txt`, `${GW_ID} ${fs.readFileSync(`${tmp}/gw.pub`, 'utf8').trim()}\n`);
  fs.writeFileSync(`${tmp}/token`, TOKEN + '\n');
  run(SETUP, [`${tmp}/core.db`]);
  const core = await startCore();
  const sent = new Map();
  const gw = new Proc('gw', TESTGW, ['run', '--endpoint', eps.ingest, '--gw-id', String(GW_ID), '--server-key', `${tmp}/core.pub`,
    '--secret', `${tmp}/gw.key`, '--batches', '100000', '--per', String(PER), '--state', `${tmp}/gw.state`, '--rate', String(RATE), '--t0-now']);
  gw.onLine = (l) => { const m = l.match(/^SENT (\d+) (\d+)$/); if (m) sent.set(Number(m[1]), monoToEpochMs(Number(m[2]))); };
  await gw.wait(/^READY/);
  const batchOf = (collar, recSeq) => Math.floor((recSeq * 8 + (collar - 1)) / PER) + 1;
  const lat = [], reqs = [];
  let events = 0;
  for (let i = 0; i < CLIENTS; i++)
    reqs.push(sseClient(core.base + 'api/events', (ev) => {
      events++;
      if (ev.event !== 'fix') return;
      const t = Date.now(), d = JSON.parse(ev.data), s0 = sent.get(batchOf(d.collar_id, d.rec_seq));
      if (s0 !== undefined) lat.push(t - s0);
    }));
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROME_ARGS });
  const page = await (await browser.newContext({ viewport: { width: 360, height: 740 } })).newPage();
  await page.goto(core.base + '#handler');
  await page.waitForFunction(() => window.scentrack && window.scentrack.snapshotLoaded > 0, null, { timeout: WAIT_MS });
  /* run for SECONDS: wait on the gateway's SENT lines (one a second), not on a timer */
  const first = Math.max(0, ...sent.keys());
  await gw.wait(new RegExp(`^SENT ${first + SECONDS} `), (SECONDS + 30) * 1000);
  const fl = await page.evaluate(() => window.scentrack.fixLog);
  const plat = fl.map(([c, s0, , t]) => t - sent.get(batchOf(c, s0))).filter(isFinite);
  for (const r of reqs) r.destroy();
  console.log(`FIGURE clients=${CLIENTS}+1 page, ${SECONDS} s, ${events} events received: SSE clients fix latency n=${lat.length} ` +
    `p50=${median(lat).toFixed(1)} p99=${pct(lat, 0.99).toFixed(1)} max=${Math.max(...lat).toFixed(1)} ms; ` +
    `the page (to DOM) n=${plat.length} p50=${median(plat).toFixed(1)} p99=${pct(plat, 0.99).toFixed(1)} ms`);
  results.push(['clients bench', lat.length > 0]);
}

async function teardown() {
  if (browser) await browser.close().catch(() => {});
  await Promise.all(procs.map((p) => p.stop('SIGTERM')));
  fs.rmSync(tmp, { recursive: true, force: true });
}

const deadline = setTimeout(async () => {
  console.log(`FAIL global deadline ${GLOBAL_DEADLINE_MS} ms`);
  /* SIGTERM first: `scentrack sim` stops its collars, gateway and core in order (SIGKILL would orphan them) */
  await Promise.all(procs.map((p) => p.stop('SIGTERM', 12000)));
  fs.rmSync(tmp, { recursive: true, force: true });
  process.exit(1);
}, GLOBAL_DEADLINE_MS);

/* --sim SCENARIO: the demo itself on simulated time — `scentrack sim SCENARIO --run --fast --web` runs real
   scentrack-collar processes, the radio medium, scentrack-gateway on a pty and scentrack-core with its web map.
   The scenario is dated today and starts now (as .ci/demo.sh does), so the page shows the animals as live.
   The sim's --frame-log says when each record's frame reached the gateway (CLOCK_REALTIME, the same clock as
   the page's Date.now()): every indication whose frame arrived after the page's stream opened must alert
   within 2 s of it; fix and indication latency frame → DOM are printed as FIGURE lines.
   `scentrack sim` is the day's clock and the medium (the collars' clocks follow their inputs under --fast):
   the test holds it with SIGSTOP while the page loads and while it takes screenshots, so the checks do not
   depend on how fast the machine runs the day. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = require('net').createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => { const p = srv.address().port; srv.close(() => resolve(p)); });
  });
}
async function simDemo() {
  const runs = [];
  for (let i = 0; i < (LIVE ? 1 : BENCH || 1); i++) runs.push(await simRun(i));
  if (runs.length > 1) {
    const f = (k, p) => median(runs.map((r) => pct(r[k], p))).toFixed(1);
    console.log(`FIGURE sim bench runs=${runs.length}: median over runs of ind p50=${f('lat', 0.5)} p99=${f('lat', 0.99)} ms; ` +
      `fix p50=${f('fl', 0.5)} p99=${f('fl', 0.99)} ms (each: ${runs.map((r) => pct(r.lat, 0.5).toFixed(0) + '/' + pct(r.lat, 0.99).toFixed(0) + ' ' +
      pct(r.fl, 0.5).toFixed(0) + '/' + pct(r.fl, 0.99).toFixed(0)).join(', ')})`);
  }
}
async function simRun(run) {
  const data = path.join(tmp, 'day' + run), frames = path.join(tmp, `frames${run}.log`), scen = path.join(tmp, 'scenario.ini');
  const stats = { lat: [], fl: [] };
  /* the first collar powers on 300 s before start_utc and the run begins 1 s before that: the day starts now */
  const start = new Date(Math.floor(Date.now() / 1000) * 1000 + 301000);
  fs.writeFileSync(scen, fs.readFileSync(SIM, 'utf8')
    .replace(/^date = .*$/m, 'date = ' + start.toISOString().slice(0, 10))
    .replace(/^start_utc = .*$/m, 'start_utc = ' + start.toISOString().slice(11, 19)));
  if (!browser) browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROME_ARGS });
  const port = await freePort();
  const sim = new Proc('sim' + run, CLI, ['sim', scen, '--seed', '1', '--run', ...(LIVE ? [] : ['--fast']), '--data', data,
    '--web', `127.0.0.1:${port}`, '--frame-log', frames]);
  /* (live: the collars run on their own clocks, so the medium is never held) */
  const hold = () => LIVE || sim.p.kill('SIGSTOP'), go = () => LIVE || sim.p.kill('SIGCONT');
  /* Wait until the page shows pred(arg). A --fast day lasts a few seconds: it runs in slices of 50 ms of wall
   * time, timed here in node (the page's own polling stalls while it renders a burst of events), and is held
   * between them and when this returns, so it cannot reach its end and stop the core between the page showing
   * something and the test looking at it. The slice paces the simulated day; the waits are on the page. */
  const runUntil = async (pred, arg, timeout) => {
    if (LIVE) return page.waitForFunction(pred, arg, { timeout });
    const until = Date.now() + timeout;
    for (;;) {
      go();
      await new Promise((resolve) => setTimeout(resolve, 50));
      hold();
      try {
        /* the gateway, the core and the page finish what the slice delivered while the day is held */
        await page.waitForFunction(pred, arg, { timeout: 1000 });
        return;
      } catch (e) {
        if (!/Timeout/.test(String(e))) throw e;
        if (sim.exited) throw new Error(`the day ended (${JSON.stringify(sim.exited)}: ${sim.lines.slice(-3).join(' | ')}) before the page showed it: ${pred}`);
        if (Date.now() > until) throw e;
      }
    }
  };
  const m = await sim.wait(/web map: (http:\/\/\S+\/)/);
  hold();
  const base = m[1], origin = new URL(base).origin;
  const ctx = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  const foreign = [], requests = [], errs = [];
  await ctx.route((url) => url.origin !== origin, (route) => { foreign.push(route.request().url()); return route.abort(); });
  ctx.on('request', (r) => requests.push(r.url()));
  const page = await ctx.newPage();
  page.on('pageerror', (e) => errs.push(e.message));
  page.on('console', (c) => { if (c.type() === 'error' && /Content.Security.Policy|Refused to/i.test(c.text())) errs.push(c.text()); });
  await check('sim: the demo\'s page loads from the local server only and goes live', async () => {
    await page.goto(base + '#handler', { waitUntil: 'load', timeout: WAIT_MS });
    await page.waitForFunction(() => window.scentrack && window.scentrack.snapshotLoaded > 0, null, { timeout: WAIT_MS });
    await page.locator('#conn[data-state=live]').waitFor({ timeout: WAIT_MS });
    const n = await page.locator('.box-label').count();
    if (n < 1) throw new Error('no box of the day on the map');
  });
  await check('sim: animal markers appear and move (collars → radio → gateway → core → page)', async () => {
    /* live: the first FIXB leaves after its 15 s hold, and a resting rat reports every 10 s until its bout */
    const wait = LIVE ? 400000 : WAIT_MS;
    await runUntil(() => document.querySelector('.leaflet-marker-icon[data-animal]') !== null, null, wait);
    const key = await page.locator('.leaflet-marker-icon[data-animal]').first().getAttribute('data-animal');
    const pos0 = await page.evaluate((k) => document.querySelector(`.leaflet-marker-icon[data-animal="${k}"]`).style.transform, key);
    await runUntil(([k, p]) => { const e = document.querySelector(`.leaflet-marker-icon[data-animal="${k}"]`); return e && e.style.transform !== p; },
      [key, pos0], wait);
    await runUntil(() => document.querySelectorAll('#animals li.animal:not(.stale)').length >= 2, null, wait);
  });
  await check('sim: screenshots of the running demo (phone 360x740, desktop), the day held still', async () => {
    await runUntil(() => window.scentrack.alerts.length >= 2, null, LIVE ? GLOBAL_DEADLINE_MS : 90000);
    hold();
    try {
      await page.screenshot({ path: path.join(OUTDIR, 'sim-phone-handler.png') });
      const desk = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      await desk.route((url) => url.origin !== origin, (route) => { foreign.push(route.request().url()); return route.abort(); });
      const dp = await desk.newPage();
      dp.on('pageerror', (e) => errs.push(e.message));
      if (sim.exited) throw new Error('the day ended before the screenshots: ' + JSON.stringify(sim.exited) + ' ' + sim.lines.slice(-2).join(' | '));
      await dp.goto(base + '#handler');
      await dp.waitForFunction(() => window.scentrack.snapshotLoaded > 0, null, { timeout: WAIT_MS });
      await dp.locator('.leaflet-marker-icon[data-animal]').first().waitFor({ timeout: WAIT_MS });
      await dp.screenshot({ path: path.join(OUTDIR, 'sim-desktop-handler.png') });
      await dp.goto(base + '#leader');
      await dp.waitForFunction(() => window.scentrack.snapshotLoaded > 0, null, { timeout: WAIT_MS });
      await dp.locator('#hazards li.hazard').first().waitFor({ timeout: WAIT_MS });
      await dp.screenshot({ path: path.join(OUTDIR, 'sim-desktop-leader.png') });
      await desk.close();
    } finally { go(); }
  });
  await check('sim: the day ends, every journaled record in the core (scentrack sim exits 0)', async () => {
    if (LIVE) {   /* the live day lasts its real length: stop it once the page has shown LIVE alerts */
      await page.waitForFunction((n) => window.scentrack.alerts.length >= n, LIVE, { timeout: GLOBAL_DEADLINE_MS });
      sim.p.kill('SIGINT');
    }
    await sim.wait(/^records in the core's store:/, 180000);
    const ex = await new Promise((resolve) => { if (sim.exited) resolve(sim.exited); else sim.p.once('exit', (code, sig) => resolve({ code, sig })); });
    if (ex.code !== 0) throw new Error('scentrack sim exited ' + JSON.stringify(ex));
    const j = sim.lines.find((l) => /^records journaled by the collars/.test(l)), st = sim.lines.find((l) => /^records in the core's store/.test(l));
    const n = (l) => (l.match(/(\d+) fixes, (\d+) IND/) || []).slice(1).join('/');
    if (!LIVE && (!j || n(j) !== n(st))) throw new Error(`journaled ${j} but ${st}`);
  });
  await check('sim: every indication alerts within 2 s of its frame reaching the gateway', async () => {
    const first = new Map(), fixAt = new Map();
    for (const l of fs.readFileSync(frames, 'utf8').split('\n')) {
      const f = l.match(/^(\d+\.\d+) (fix|ind) (\d+) (\d+)( completes=\d+)?$/);
      if (!f) continue;
      const k = f[3] + '/' + f[4], t = Number(f[1]);
      if (f[2] === 'ind' && !f[5] && !first.has(k)) first.set(k, t);
      if (f[2] === 'fix' && !fixAt.has(k)) fixAt.set(k, t);
    }
    const h = await page.evaluate(() => ({ alerts: window.scentrack.alerts, fixLog: window.scentrack.fixLog, live: window.scentrack.liveSince }));
    const live0 = h.live[0];
    const due = [...first].filter(([, t]) => t > live0);
    const lat = [];
    for (const [k, t] of due) {
      const a = h.alerts.find((x) => x.collar_id + '/' + x.rec_seq === k);
      if (!a) throw new Error(`indication ${k} (frame at ${t}) never alerted on the page`);
      lat.push(a.epoch_ms - t);
    }
    const fl = h.fixLog.map(([c, q, , t]) => t - fixAt.get(c + '/' + q)).filter(isFinite);
    /* where the fix time goes: frame at the gateway → queued by the core's web server (server_ms, right after
       the core's commit: gateway group commit + BATCH + core commit) → the page's DOM */
    const fq = h.fixLog.map(([c, q, , , sv]) => sv - fixAt.get(c + '/' + q)).filter(isFinite);
    console.log(`FIGURE sim fix frame -> core web queue p50=${median(fq).toFixed(1)} p99=${pct(fq, 0.99).toFixed(1)} ms`);
    stats.lat = lat; stats.fl = fl;
    console.log(`FIGURE sim ind_latency_ms (collar frame at the gateway -> alert in the DOM) n=${lat.length} ` +
      `p50=${median(lat).toFixed(1)} p99=${pct(lat, 0.99).toFixed(1)} max=${Math.max(...lat).toFixed(1)}; ` +
      `fix_latency_ms n=${fl.length} p50=${median(fl).toFixed(1)} p99=${pct(fl, 0.99).toFixed(1)} max=${Math.max(...fl).toFixed(1)}`);
    if (lat.length < 2) throw new Error(`only ${lat.length} indications arrived while the page was live`);
    if (fl.length < h.fixLog.length * 0.9) throw new Error(`${fl.length} of ${h.fixLog.length} fixes matched to a frame`);
    if (Math.max(...lat) > 2000) throw new Error(`an alert came ${Math.max(...lat).toFixed(0)} ms after its frame`);
  });
  await check('sim: no request left the machine, no script error', async () => {
    if (foreign.length) throw new Error('requests to other origins: ' + foreign.join(', '));
    const bad = requests.filter((u) => !u.startsWith(origin));
    if (bad.length) throw new Error('requests not to the local server: ' + bad.join(', '));
    if (errs.length) throw new Error('page errors: ' + errs.join(' | '));
  });
  await ctx.close();
  return stats;
}

/* --demo: a simulated field day on a compressed clock, through web_simfeed (TESTGW's place on the command line) */
async function demo() {
  const SIMFEED = TESTGW, DAY0 = 1741564800000, WIN0 = DAY0 + (5 * 60 + 20) * 60000, WIN1 = WIN0 + 20 * 60000, SPEED = 60;
  const sim = path.join(tmp, 'sim');
  run(CLI, ['sim', path.join(__dirname, '..', '..', 'analysis', 'scenarios', 'reference.ini'), '--seed', '1', '--out', sim]);
  for (const who of ['core', 'gw']) run(CORE, ['keygen', `${tmp}/${who}.pub`, `${tmp}/${who}.key`]);
  fs.writeFileSync(`${tmp}/allow.txt`, `${GW_ID} ${fs.readFileSync(`${tmp}/gw.pub`, 'utf8').trim()}\n`);
  fs.writeFileSync(`${tmp}/token`, TOKEN + '\n');
  const wall0 = Date.now() + 8000;  /* the feed starts once the page is up (the clock maps WIN0 to wall0) */
  const tmap = ['--wall0', String(wall0), '--win0', String(WIN0), '--speed', String(SPEED)];
  const setupOut = run(SIMFEED, ['setup', `${tmp}/core.db`, sim, ...tmap]);
  if (!/^SETUP task=\d+ boxes=17 animals=9 sessions=54/.test(setupOut)) throw new Error('setup: ' + setupOut);
  /* a hostile animal name: the page must show it as text, never run it */
  const HOSTILE = '<img src=x onerror="window.__xss=1">R02';
  run('/usr/bin/python3', ['-c', 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); ' +
    'c.execute("UPDATE animals SET name=? WHERE name=?", (sys.argv[2], "R02")); c.commit()', `${tmp}/core.db`, HOSTILE]);
  const core = await startCore();
  const sent = new Map(), inds = [];
  const feed = new Proc('simfeed', SIMFEED, ['run', sim, '--endpoint', eps.ingest, '--gw-id', String(GW_ID), '--server-key', `${tmp}/core.pub`,
    '--secret', `${tmp}/gw.key`, ...tmap, '--win1', String(WIN1), '--every-s', '2']);
  let lastSent = 0;
  feed.onLine = (l) => {
    let m = l.match(/^SENT (\d+) (\d+)$/);
    if (m) { lastSent = monoToEpochMs(Number(m[2])); sent.set(Number(m[1]), lastSent); }
    m = l.match(/^IND (\d+) (\d+)$/);
    if (m) inds.push({ collar: Number(m[1]), rec_seq: Number(m[2]), sent: lastSent });
  };
  const ready = await feed.wait(/^READY records=(\d+) batches=(\d+)/);
  console.log(`demo: ${ready[1]} records in ${ready[2]} batches over ${(WIN1 - WIN0) / 60000} simulated minutes at ${SPEED}x`);
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROME_ARGS });
  const ctx = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
  const origin = new URL(core.base).origin, foreign = [];
  await ctx.route((url) => url.origin !== origin, (route) => { foreign.push(route.request().url()); return route.abort(); });
  const page = await ctx.newPage();
  const errs = [];
  page.on('pageerror', (e) => errs.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error' && /Content.Security.Policy|Refused to/i.test(m.text())) errs.push(m.text()); });
  await page.goto(core.base + '#handler');
  await check('demo: the day\'s 17 boxes and 9 animals appear, animals move inside boxes', async () => {
    await page.waitForFunction(() => window.scentrack.snapshotLoaded > 0, null, { timeout: WAIT_MS });
    await page.waitForFunction(() => document.querySelectorAll('.leaflet-marker-icon[data-animal]').length >= 4 && window.scentrack.fixes > 50, null, { timeout: WAIT_MS });
    const n = await page.locator('.box-label').count();
    if (n !== 17) throw new Error(`${n} box labels, expected 17`);
    const live = await page.locator('#animals li.animal:not(.stale)').count();
    if (live < 4) throw new Error(`only ${live} animals live`);
  });
  await check('demo: every indication of the window alerts within 2 s of its batch', async () => {
    await page.waitForFunction(() => window.scentrack.alerts.length >= 3, null, { timeout: 60000 });
    await feed.wait(/^DONE$/, 60000);
    await page.waitForFunction((n) => window.scentrack.alerts.length >= n, inds.length, { timeout: WAIT_MS });
    const al = await page.evaluate(() => window.scentrack.alerts);
    const lat = al.map((a) => { const i = inds.find((x) => x.collar === a.collar_id && x.rec_seq === a.rec_seq); return i ? a.epoch_ms - i.sent : NaN; }).filter(isFinite);
    if (lat.length !== inds.length) throw new Error(`${lat.length} alerts matched of ${inds.length} indications sent`);
    console.log(`FIGURE demo ind_alert_latency_ms n=${lat.length} p50=${median(lat).toFixed(1)} max=${Math.max(...lat).toFixed(1)}`);
    if (Math.max(...lat) > 2000) throw new Error(`an alert came ${Math.max(...lat).toFixed(0)} ms after its batch`);
  });
  await page.screenshot({ path: path.join(OUTDIR, 'demo-phone-handler.png') });
  const desk = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await desk.route((url) => url.origin !== origin, (route) => { foreign.push(route.request().url()); return route.abort(); });
  const dp = await desk.newPage();
  dp.on('pageerror', (e) => errs.push(e.message));
  await dp.goto(core.base + '#leader');
  await dp.waitForFunction(() => window.scentrack.snapshotLoaded > 0, null, { timeout: WAIT_MS });
  await dp.locator('#hazards li.hazard').first().waitFor({ timeout: WAIT_MS });
  await dp.screenshot({ path: path.join(OUTDIR, 'demo-desktop-leader.png') });
  await dp.goto(core.base + '#handler');
  await dp.waitForFunction(() => window.scentrack.snapshotLoaded > 0, null, { timeout: WAIT_MS });
  await dp.locator('.leaflet-marker-icon[data-animal]').first().waitFor({ timeout: WAIT_MS });
  await dp.screenshot({ path: path.join(OUTDIR, 'demo-desktop-handler.png') });
  await check('demo: a hostile animal name is shown as text in the list, the marker label and the replay', async () => {
    for (const p of [page, dp]) {
      if (await p.evaluate(() => window.__xss)) throw new Error('the name ran as HTML');
      if ((await p.locator('img[src=x], .leaflet-pane img[onerror]').count()) !== 0) throw new Error('the name became an element');
    }
    await dp.locator('#animals li.animal .name', { hasText: '<img src=x' }).first().waitFor({ timeout: WAIT_MS });
    await dp.locator('.amk .lbl', { hasText: '<img src=x' }).first().waitFor({ state: 'attached', timeout: WAIT_MS });
    await dp.goto(core.base + '#leader');
    await dp.waitForFunction(() => window.scentrack.snapshotLoaded > 0, null, { timeout: WAIT_MS });
    await dp.locator('#replay-on').check();
    await dp.locator('.leaflet-tooltip', { hasText: '<img src=x' }).first().waitFor({ state: 'attached', timeout: WAIT_MS });
    if (await dp.evaluate(() => window.__xss)) throw new Error('the name ran as HTML in the replay');
  });
  await check('demo: no request left the machine, no script error', async () => {
    if (foreign.length) throw new Error('requests to other origins: ' + foreign.join(', '));
    if (errs.length) throw new Error('page errors: ' + errs.join(' | '));
  });
}

(CLIENTS ? clientsBench() : SIM ? simDemo() : DEMO ? demo() : main()).then(async () => {
  await teardown();
}, async (e) => {
  console.log('error: ' + (e && e.stack || e));
  await teardown();
}).finally(() => {
  clearTimeout(deadline);
  const pass = results.filter((r) => r[1]).length, fail = results.length - pass;
  const expected = CLIENTS ? 1 : SIM ? 6 * (LIVE ? 1 : BENCH || 1) : DEMO ? 4 : 13;
  console.log(`${pass} passed, ${fail + Math.max(0, expected - results.length)} failed`);
  process.exit(fail === 0 && results.length === expected ? 0 : 1);
});
