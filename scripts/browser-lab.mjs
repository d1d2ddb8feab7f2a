// The browser lab's test: starts `amrm serve`'s server in this process, opens the lab in headless
// Chromium (the system's, driven by puppeteer-core; WebGPU on SwiftShader, as the browser suite),
// purifies a bundled MNIST digit with the shipped MaskDiT and a CIFAR-10 image with the shipped MAE
// under an l_2 attack, a few steps each, draws Figure 1's row and a clicked patch's Figure 3 (and
// checks every number against the same run in Node on the same adapter), runs the kernel timings,
// and saves screenshots of both tabs to bench/results/web/. Any console error or page error in the
// page fails it. Prints one line per check and `browser-lab: N passed, M failed`.
import { createServer, request } from 'node:http';
import { spawn } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PNG } from 'pngjs';

const dist = process.env.AMRM_DIST ?? 'dist';
const SHOTS = 'bench/results/web';
// Few steps: the test checks that the pipeline runs end to end in the page, not how well it purifies.
const QUERY = 'image=0&attack-steps=2&purify-steps=3&purifier=mnist-maskdit.safetensors&reps=3';
// CIFAR-10's test batch for the replay's check that the bundled PNGs hold its images (the CI's ../shared).
const CIFAR = '../shared/data/cifar-10-batches-bin';
const STEP_TIMEOUT_MS = 150_000;

let passed = 0, failed = 0;
function check(name, ok, detail = '') {
  ok ? passed++ : failed++;
  console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
  return ok;
}
function finish(code) {
  console.log(`browser-lab: ${passed} passed, ${failed} failed`);
  process.exit(code ?? (failed ? 1 : 0));
}

const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find(existsSync);
if (!chromium) { check('Chromium found', false, 'no /usr/bin/chromium (apt-get install chromium)'); finish(); }
let puppeteer;
try { puppeteer = (await import('puppeteer-core')).default; } catch (e) { check('puppeteer-core loads', false, `${e.message} (npm install)`); finish(); }
const servePath = resolve(dist, 'node/serve.js');
if (!existsSync(servePath)) { check('the serve module is built', false, `${servePath} is missing (AMRM_DIST=${dist} node scripts/build.mjs)`); finish(); }
const { startServer } = await import(pathToFileURL(servePath).href);

const t0 = performance.now();
const secs = () => ((performance.now() - t0) / 1000).toFixed(1);
const server = await startServer(dist, 0);
const profile = mkdtempSync(join(tmpdir(), 'amrm-lab-chromium-'));
let browser;
// Whatever happens, the browser and the server go, and the profile folder with them.
async function cleanup() {
  try { await browser?.close(); } catch { try { browser?.process()?.kill('SIGKILL'); } catch { /* gone */ } }
  await server.close();
  try { rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 }); } catch { /* a temp dir; best effort */ }
}

/** Non-blank: a PNG of some size whose pixels vary (a white or black page has variance ~0). */
function pngStats(file) {
  const png = PNG.sync.read(readFileSync(file));
  let s = 0, s2 = 0;
  const n = png.width * png.height;
  for (let i = 0; i < n; i++) {
    const v = (png.data[4 * i] + png.data[4 * i + 1] + png.data[4 * i + 2]) / 3;
    s += v; s2 += v * v;
  }
  const mean = s / n;
  return { bytes: statSync(file).size, width: png.width, height: png.height, variance: s2 / n - mean * mean };
}
function checkShot(name, file) {
  const st = pngStats(file);
  check(`${name} is not blank`, st.bytes > 8_000 && st.variance > 100, `${st.width}×${st.height}, ${(st.bytes / 1024).toFixed(0)} KB, pixel variance ${st.variance.toFixed(0)}`);
}

/** A raw GET (Node's fetch would normalize the ../ away): status and content type. */
function rawGet(path) {
  return new Promise((done, fail) => {
    const req = request({ host: '127.0.0.1', port: server.port, path, method: 'GET' }, (res) => {
      res.resume();
      res.on('end', () => done({ status: res.statusCode, type: res.headers['content-type'] ?? '' }));
    });
    req.on('error', fail);
    req.end();
  });
}

/**
 * The command itself, as a user runs it: `amrm serve --port 0` in a child (the built CLI's main), one
 * request, then SIGTERM; it must print its URL, answer, and exit 0 saying it stopped.
 */
async function serveCommand() {
  const cli = pathToFileURL(resolve(dist, 'node/cli.js')).href;
  const child = spawn(process.execPath, ['--input-type=module', '-e', `const { main } = await import(${JSON.stringify(cli)}); process.exitCode = await main(['serve', '--port', '0']);`],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const exited = new Promise((done) => child.once('exit', (code, signal) => done({ code, signal })));
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const deadline = Date.now() + 20_000;
  while (!/http:\/\/127\.0\.0\.1:\d+\//.test(out) && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
  const url = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
  let status = 0;
  if (url) status = await new Promise((done) => request({ host: '127.0.0.1', port: Number(url[1]), path: '/' }, (res) => { res.resume(); done(res.statusCode); }).on('error', () => done(0)).end());
  child.kill('SIGTERM');
  const end = await exited;
  clearTimeout(killer);
  check('amrm serve --port 0: prints its URL, serves, stops on SIGTERM', Boolean(url) && status === 200 && end.code === 0 && /stopped/.test(out),
    `${url ? url[0] : 'no URL printed'}, GET / ${status}, exit ${end.code ?? end.signal}`);
}

/** Runs <dist>/web/lab-node-replay.js for the page's report `r` (and Figure 3's query) on SwiftShader; its JSON, or { error }. */
function replayInNode(r, query) {
  const spec = {
    dataset: r.dataset, image: r.bundled, norm: r.attack.norm, eps: r.attack.eps, attack_steps: r.attack.steps, purify_steps: r.purify.steps,
    seed: r.attack.seed, classifier: r.classifier, purifier: r.purifier_file, query, cifar: CIFAR,
  };
  return new Promise((done) => {
    const child = spawn(process.execPath, [join(dist, 'web/lab-node-replay.js'), JSON.stringify(spec)], { env: { ...process.env, AMRM_ADAPTER: 'swiftshader' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (c) => { out += c; });
    child.stderr.on('data', (c) => { err += c; });
    child.on('close', (code) => {
      const line = out.trim().split('\n').pop();
      try { done(code === 0 ? JSON.parse(line) : { error: `exit ${code}: ${err.trim().split('\n').slice(-3).join(' ')}` }); } catch { done({ error: `no JSON: ${line}` }); }
    });
  });
}

/** Largest difference of two equally long lists of numbers (Infinity when the lengths differ). */
const maxDiff = (a, b) => (a.length === b.length ? Math.max(0, ...a.map((v, i) => Math.abs(v - b[i]))) : Infinity);

/** Runs the form as it stands and waits for the run's report; returns it with the page's drawn state. */
async function runPurify(what) {
  const tp = performance.now();
  await page.click('#run-purify');
  await page.waitForFunction(() => document.getElementById('purify-summary').dataset.state, { timeout: STEP_TIMEOUT_MS });
  const run = await page.evaluate(() => ({
    state: document.getElementById('purify-summary').dataset.state,
    summary: document.getElementById('purify-summary').textContent,
    status: document.getElementById('purify-status').textContent,
    bars: document.querySelectorAll('#probs-purified li').length,
    lossPoints: document.querySelector('#loss-plot polyline')?.getAttribute('points')?.split(' ').length ?? 0,
    amvPoints: document.querySelector('#amv-plot polyline')?.getAttribute('points')?.split(' ').length ?? 0,
    reconstructionStep: document.getElementById('img-reconstruction').dataset.step,
    fig1Tiles: document.querySelectorAll('#fig1-grid canvas.tile').length,
    fig1Captions: Array.from(document.querySelectorAll('#fig1-grid .tile-caption'), (c) => c.dataset.verdict ?? ''),
    fig1Shown: !document.getElementById('fig1').hidden,
    selected: Number(document.querySelector('#image-picker button[aria-pressed="true"]')?.dataset.i ?? -1),
  }));
  const ok = check(`${what}: purification runs to the end`, run.state === 'done', `${run.status} (${((performance.now() - tp) / 1000).toFixed(1)} s)`);
  return ok ? { ...run, report: { ...JSON.parse(run.summary), bundled: run.selected } } : undefined;
}

/** The checks every run gets: numbers finite and in range, every step drawn, Figure 1's row, and Node's replay equal to the page. */
async function checkRun(what, run, steps, query) {
  const r = run.report;
  const probs = [r.clean, r.attacked, r.purified].flatMap((x) => x.probabilities);
  check(`${what}: probabilities finite, each set sums to 1`, probs.length === 30 && probs.every(Number.isFinite)
    && [r.clean, r.attacked, r.purified].every((x) => Math.abs(x.probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-4),
    `clean ${r.clean.predicted}, attacked ${r.attacked.predicted}, purified ${r.purified.predicted} (label ${r.label})`);
  check(`${what}: L_rec and AMV per step, finite, plotted`, r.losses.length === steps && r.amv.length === steps && [...r.losses, ...r.amv].every(Number.isFinite)
    && r.amv.every((v) => v >= 0) && run.lossPoints === steps && run.amvPoints === steps,
    `L_rec ${r.losses.map((l) => l.toFixed(4)).join(', ')}; AMV ${r.amv.map((l) => l.toFixed(4)).join(', ')}`);
  check(`${what}: the attack stays in the ${r.attack.norm} ball`, r.attack.distance <= r.attack.eps * (1 + 1e-5) + 1e-6 && r.attack.distance > 0, `distance ${r.attack.distance.toFixed(4)} ≤ ε ${r.attack.eps}`);
  check(`${what}: probability bars and every step's reconstruction drawn`, run.bars === 10 && run.reconstructionStep === String(steps), `${run.bars} bars, last reconstruction step ${run.reconstructionStep}`);
  check(`${what}: Figure 1's row: six captioned tiles`, run.fig1Shown && run.fig1Tiles === 6 && run.fig1Captions.length === 6 && run.fig1Captions.every((v) => v === 'right' || v === 'wrong'),
    `${run.fig1Tiles} tiles, verdicts ${run.fig1Captions.join(' ')}`);
  // The same run in Node on the page's adapter (SwiftShader): same PNG, models, calls and seeds.
  const replay = await replayInNode(r, query);
  if (!check(`${what}: Node recomputes the run`, !replay.error, replay.error ?? '')) return undefined;
  check(`${what}: the bundled PNG holds the test set's image`, replay.png_matches_test_set !== false, `png_matches_test_set ${replay.png_matches_test_set}`);
  const worst = Math.max(maxDiff(r.clean.probabilities, replay.clean), maxDiff(r.attacked.probabilities, replay.attacked),
    maxDiff(r.purified.probabilities, replay.purified), maxDiff(r.losses, replay.losses), maxDiff(r.amv, replay.amv),
    maxDiff(r.figure1.map((c) => c.confidence), replay.figure1.map((c) => c.confidence)));
  const samePredictions = r.figure1.every((c, i) => c.prediction === replay.figure1[i]?.prediction);
  check(`${what}: probabilities, L_rec, AMV and Figure 1 equal Node's on the same adapter and seeds (1e-4)`, worst <= 1e-4 && samePredictions, `largest difference ${worst.toExponential(2)}`);
  return replay;
}

const pageErrors = [];
let page;
try {
  await serveCommand();

  // ---------------------------------------------------------------- the server
  const served = await Promise.all(['/', '/lab.js', '/models/mnist-maskdit.safetensors'].map(rawGet));
  check('serves the page, the bundle and the models with their types',
    served[0].status === 200 && /^text\/html/.test(served[0].type) && served[1].status === 200 && /^text\/javascript/.test(served[1].type)
    && served[2].status === 200 && served[2].type === 'application/octet-stream', served.map((r) => `${r.status} ${r.type}`).join('; '));
  const escapes = ['/../package.json', '/models/../package.json', '/models/%2e%2e/package.json', '/%2e%2e%2fpackage.json', '/models/mnist-cnn.md', '/models/..%5cpackage.json'];
  const refused = await Promise.all(escapes.map(rawGet));
  check('refuses paths outside web/lab and models/*.safetensors', refused.every((r) => r.status >= 400), escapes.map((p, i) => `${p} ${refused[i].status}`).join(', '));

  browser = await puppeteer.launch({
    executablePath: chromium,
    headless: true, // --headless=new
    userDataDir: profile,
    args: ['--no-sandbox', '--disable-gpu-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-webgpu-adapter=swiftshader', '--disable-quic'],
    protocolTimeout: STEP_TIMEOUT_MS + 30_000,
  });
  page = await browser.newPage();
  await page.setViewport({ width: 1200, height: 1000 });
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(`console.error: ${m.text()}`); });
  page.on('pageerror', (e) => pageErrors.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => pageErrors.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
  page.on('response', (r) => { if (r.status() >= 400) pageErrors.push(`HTTP ${r.status()}: ${r.url()}`); });

  // ---------------------------------------------------------------- Purify
  await page.goto(`${server.url}?${QUERY}`, { waitUntil: 'load' });
  await page.waitForFunction(() => document.body.dataset.gpu !== undefined, { timeout: 60_000 });
  const gpu = await page.evaluate(() => ({ state: document.body.dataset.gpu, text: document.getElementById('gpu-status')?.textContent }));
  if (!check('WebGPU opens in the page', gpu.state === 'ready', gpu.text)) throw new Error('no WebGPU in the page');
  check('the page is cross-origin isolated (fine timers)', await page.evaluate(() => globalThis.crossOriginIsolated === true));
  await page.waitForFunction(() => document.querySelectorAll('#image-picker button').length > 0 && !document.getElementById('run-purify').disabled, { timeout: 30_000 });
  const images = await page.$$eval('#image-picker button', (bs) => bs.length);
  check('bundled MNIST test images shown', images === 24, `${images} images`);

  const mnist = await runPurify('MNIST, MaskDiT');
  if (mnist) {
    // Figure 3 from a click on a patch of the picker: the patch under the click, drawn per layer.
    const picker = await page.$('#patch-picker');
    const box = await picker.boundingBox();
    const [gh, gw] = (await page.$eval('#patch-picker', (c) => c.dataset.grid)).split('x').map(Number);
    const row = Math.floor(gh / 2), col = Math.floor(gw / 2) - 1;
    await picker.click({ offset: { x: (col + 0.5) * box.width / gw, y: (row + 0.5) * box.height / gh } }); // scrolls it into view first
    await page.waitForFunction((q) => document.getElementById('fig3-grid').dataset.query === String(q) || /stopped/.test(document.getElementById('fig3-status').textContent),
      { timeout: STEP_TIMEOUT_MS }, row * gw + col);
    const fig3 = await page.evaluate(() => ({
      rows: Number(document.getElementById('fig3-grid').dataset.rows), vmax: JSON.parse(document.getElementById('fig3-grid').dataset.vmax),
      tiles: document.querySelectorAll('#fig3-grid canvas.tile').length, status: document.getElementById('fig3-status').textContent,
    }));
    check('Figure 3: a clicked patch draws its attention per layer (mask + clean, attacked, purified)', fig3.rows > 0 && fig3.tiles === 4 * fig3.rows && fig3.vmax.every((v) => v > 0 && v <= 1),
      `${fig3.status}; ${fig3.rows} layers`);
    const replay = await checkRun('MNIST, MaskDiT', mnist, 3, row * gw + col);
    if (replay) check('Figure 3\'s per-layer scale equals Node\'s (1e-4)', maxDiff(fig3.vmax, replay.figure3_vmax ?? []) <= 1e-4, `vmax ${fig3.vmax.map((v) => v.toFixed(4)).join(', ')}`);
  }
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, 'lab.png'), fullPage: true });
  checkShot(`${SHOTS}/lab.png`, join(SHOTS, 'lab.png'));

  // CIFAR-10 through the form's own controls: the data set, an l_2 attack, the shipped MAE.
  await page.select('#dataset', 'cifar10');
  await page.waitForFunction(() => document.querySelector('#image-picker button canvas')?.width === 32, { timeout: 30_000 });
  const cifarImages = await page.$$eval('#image-picker button', (bs) => bs.length);
  check('bundled CIFAR-10 test images shown', cifarImages === 24, `${cifarImages} images`);
  await page.select('#norm', 'l2');
  await page.select('#purifier', 'cifar10-mae.safetensors');
  await page.click('#image-picker button[data-i="2"]');
  for (const [id, v] of [['attack-steps', '2'], ['purify-steps', '2']]) await page.$eval(`#${id}`, (e, val) => { e.value = val; }, v);
  const cifar = await runPurify('CIFAR-10, MAE, l2');
  if (cifar) {
    check('CIFAR-10: the form took the data set, the norm, the purifier and the image', cifar.report.dataset === 'cifar10' && cifar.report.attack.norm === 'l2'
      && cifar.report.purifier_file === 'cifar10-mae.safetensors' && cifar.report.bundled === 2 && Math.abs(cifar.report.attack.eps - 0.5) < 1e-9,
      `${cifar.report.image}, ${cifar.report.attack.norm} ε ${cifar.report.attack.eps}, ${cifar.report.purifier_file}`);
    if (existsSync(CIFAR)) await checkRun('CIFAR-10, MAE, l2', cifar, 2);
    else check('CIFAR-10: Node replay skipped (no CIFAR-10 data at ../shared)', true);
  }
  await page.screenshot({ path: join(SHOTS, 'lab-cifar10.png'), fullPage: true });
  checkShot(`${SHOTS}/lab-cifar10.png`, join(SHOTS, 'lab-cifar10.png'));

  // ---------------------------------------------------------------- Kernels
  // By keyboard, as the tabs pattern has it: focus the selected tab, ArrowRight moves to the next.
  await page.focus('#tab-purify');
  await page.keyboard.press('ArrowRight');
  const shown = await page.evaluate(() => ({ panel: !document.getElementById('panel-kernels').hidden, focus: document.activeElement?.id }));
  check('the Kernels tab opens from the keyboard', shown.panel && shown.focus === 'tab-kernels', `focus on #${shown.focus}`);
  const tk = performance.now();
  await page.click('#run-kernels');
  await page.waitForFunction(() => document.getElementById('panel-kernels').dataset.state, { timeout: STEP_TIMEOUT_MS });
  const k = await page.evaluate(() => ({
    state: document.getElementById('panel-kernels').dataset.state,
    status: document.getElementById('kernels-status').textContent,
    json: document.getElementById('rows-json').value,
    tableRows: document.querySelectorAll('#kernel-table tbody tr').length,
    adapter: document.getElementById('adapter-info').textContent,
    limits: document.querySelectorAll('#adapter-limits tr').length,
    limit: Object.fromEntries(Array.from(document.querySelectorAll('#adapter-limits tr'), (tr) => [tr.cells[0].textContent, Number(tr.cells[1].textContent)])),
  }));
  let kernelRows = -1;
  if (check('kernel timings run to the end', k.state === 'done', `${k.status} (${((performance.now() - tk) / 1000).toFixed(1)} s)`)) {
    const report = JSON.parse(k.json);
    const { rows } = report;
    kernelRows = rows.length;
    // The shared benchmark's quick cases (bench/kernel_cases.ts), in `amrm bench kernels --json`'s format.
    const want = ['matmul', 'softmax', 'layernorm', 'attention', 'patch_loss'];
    check('a row per case, in the table and the JSON', k.tableRows === rows.length && want.every((n) => rows.some((r) => r.kernel === n)), rows.map((r) => `${r.kernel} ${r.shape}`).join(', '));
    const keys = (r) => Object.keys(r).sort().join(',');
    check('rows in the format of amrm bench kernels --json', report.bench === 'kernels' && report.adapter === 'swiftshader' && rows.every((r) => r.impl === 'amrm' && r.adapter === report.adapter
      && ['adapter,gflops,impl,kernel,median_ms,shape', 'adapter,gbps,impl,kernel,median_ms,shape'].includes(keys(r))), rows.map(keys).join(' | '));
    const rate = (r) => r.gflops ?? r.gbps;
    check('rates positive and finite', rows.every((r) => r.median_ms > 0 && Number.isFinite(rate(r)) && rate(r) > 0),
      rows.map((r) => `${r.kernel} ${rate(r)} ${r.gflops !== undefined ? 'GFLOP/s' : 'GB/s'}`).join('; '));
  }
  check('adapter info and limits shown', k.adapter.length > 0 && k.limits > 10, `${k.limits} limits`);
  // Everything above ran on a device with WebGPU's default limits (the spec's values), which any adapter offers.
  const defaults = { maxStorageBufferBindingSize: 134217728, maxComputeWorkgroupStorageSize: 16384, maxStorageBuffersPerShaderStage: 8, maxComputeInvocationsPerWorkgroup: 256 };
  check('the page ran within WebGPU\'s default limits', Object.entries(defaults).every(([n, v]) => k.limit[n] === v),
    Object.keys(defaults).map((n) => `${n} ${k.limit[n]}`).join(', '));
  // The copy button: the clipboard, once permitted, holds the rows.
  await browser.defaultBrowserContext().overridePermissions(server.url.replace(/\/$/, ''), ['clipboard-read', 'clipboard-write', 'clipboard-sanitized-write']);
  await page.click('#copy-rows');
  await page.waitForFunction(() => /copied|clipboard refused/.test(document.getElementById('kernels-status').textContent), { timeout: 10_000 });
  const copied = await page.evaluate(async () => ({ status: document.getElementById('kernels-status').textContent, text: await navigator.clipboard.readText().catch((e) => `(${e.message})`) }));
  let copiedRows = 0;
  try { copiedRows = JSON.parse(copied.text).rows.length; } catch { /* checked below */ }
  check('"Copy rows as JSON" puts the rows on the clipboard', copiedRows === kernelRows, copied.status);
  await page.screenshot({ path: join(SHOTS, 'kernels.png'), fullPage: true });
  checkShot(`${SHOTS}/kernels.png`, join(SHOTS, 'kernels.png'));

  // Any static host: the built lab folder with the model files copied into models/ beside it, served
  // as plain files (no cross-origin isolation headers), runs a purification.
  const site = join(profile, 'site');
  cpSync(join(dist, 'web/lab'), site, { recursive: true });
  mkdirSync(join(site, 'models'));
  for (const f of ['mnist-cnn.safetensors', 'mnist-mae.safetensors']) copyFileSync(join('models', f), join(site, 'models', f));
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.png': 'image/png' };
  const plain = createServer((req, res) => {
    const file = join(site, decodeURIComponent(new URL(req.url, 'http://x').pathname).replace(/\/$/, '/index.html'));
    if (!file.startsWith(site) || !existsSync(file)) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise((done) => plain.listen(0, '127.0.0.1', done));
  try {
    const elsewhere = await browser.newPage();
    elsewhere.on('pageerror', (e) => pageErrors.push(`static host: page error: ${e.message}`));
    await elsewhere.goto(`http://127.0.0.1:${plain.address().port}/?image=1&attack-steps=1&purify-steps=1&purifier=mnist-mae.safetensors`, { waitUntil: 'load' });
    await elsewhere.waitForFunction(() => document.querySelectorAll('#image-picker button').length > 0 && !document.getElementById('run-purify').disabled, { timeout: 60_000 });
    await elsewhere.click('#run-purify');
    await elsewhere.waitForFunction(() => document.getElementById('purify-summary').dataset.state, { timeout: STEP_TIMEOUT_MS });
    const st = await elsewhere.evaluate(() => ({ state: document.getElementById('purify-summary').dataset.state, status: document.getElementById('purify-status').textContent, isolated: globalThis.crossOriginIsolated }));
    check('the built lab runs from a plain static host (models copied beside it)', st.state === 'done', `${st.status}; cross-origin isolated: ${st.isolated}`);
    await elsewhere.close();
  } finally {
    await new Promise((done) => plain.close(done));
  }

  // Without WebGPU the page must say so and what to do (navigator.gpu hidden before any script runs).
  const bare = await browser.newPage();
  await bare.evaluateOnNewDocument(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true }));
  await bare.goto(server.url, { waitUntil: 'load' });
  await bare.waitForFunction(() => document.body.dataset.gpu !== undefined, { timeout: 30_000 });
  // The pictures below must land after the bundled images (choosing the first one resets the status line).
  await bare.waitForFunction(() => document.querySelectorAll('#image-picker button[aria-pressed="true"]').length === 1, { timeout: 30_000 });
  const missing = await bare.evaluate(() => ({ state: document.body.dataset.gpu, text: document.getElementById('gpu-status').textContent, run: document.getElementById('run-purify').disabled }));
  check('without navigator.gpu the page says what to do', missing.state === 'missing' && /Chrome or Edge 113/.test(missing.text) && /--enable-unsafe-webgpu/.test(missing.text) && missing.run,
    missing.text.slice(0, 60) + '…');
  // A user's picture (no GPU needed to read it): a dark stroke on white becomes a light digit on dark.
  const picture = new PNG({ width: 56, height: 56 });
  for (let i = 0; i < 56 * 56; i++) {
    const dark = Math.abs((i % 56) - 28) < 5 && Math.floor(i / 56) > 8 && Math.floor(i / 56) < 48;
    picture.data.set(dark ? [0, 0, 0, 255] : [255, 255, 255, 255], 4 * i);
  }
  const pictureFile = join(profile, 'stroke.png');
  writeFileSync(pictureFile, PNG.sync.write(picture));
  await (await bare.$('#png-input')).uploadFile(pictureFile);
  await bare.waitForFunction(() => /stroke\.png/.test(document.getElementById('purify-status').textContent), { timeout: 10_000 });
  const drawn = await bare.evaluate(() => {
    const d = document.getElementById('img-original').getContext('2d').getImageData(0, 0, 28, 28).data;
    return { status: document.getElementById('purify-status').textContent, centre: d[4 * (14 * 28 + 14)], corner: d[0] };
  });
  check('a PNG from the file input becomes a 28×28 light-on-dark digit', /inverted/.test(drawn.status) && drawn.centre > 200 && drawn.corner < 30,
    `centre ${drawn.centre}, corner ${drawn.corner}`);
  // A model file given where pictures go lands in the right slot: an MAE is a purifier.
  await (await bare.$('#png-input')).uploadFile(resolve('models/mnist-mae.safetensors'));
  await bare.waitForFunction(() => /mnist-mae\.safetensors/.test(document.getElementById('purify-status').textContent), { timeout: 10_000 });
  const slot = await bare.evaluate(() => ({ status: document.getElementById('purify-status').textContent, purifier: document.getElementById('purifier').value, fileShown: !document.getElementById('purifier-file-label').hidden }));
  check('a .safetensors purifier given as a file goes to the purifier slot', /used as the purifier/.test(slot.status) && slot.purifier === 'file' && slot.fileShown, slot.status);
  await bare.close();
} catch (e) {
  // Where a wait timed out, the page's own status lines say where it stood.
  const where = await page?.evaluate(() => ['gpu-status', 'purify-status', 'fig3-status', 'kernels-status'].map((id) => `#${id}: ${document.getElementById(id)?.textContent}`).join(' | ')).catch(() => '');
  check('the lab test ran', false, `${e.message}${where ? ` (${where})` : ''}`);
} finally {
  check('no console or page errors', pageErrors.length === 0, pageErrors.slice(0, 5).join(' | '));
  await cleanup();
}
console.log(`browser-lab: ${secs()} s in all`);
finish();
