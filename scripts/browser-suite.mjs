// The browser suite: serves the bundled engine to headless Chromium (WebGPU on, SwiftShader
// adapter), collects the numbers it computes, computes the same cases in Node on SwiftShader, and
// compares them. Prints one line per case and `browser: N passed, M failed`.
import { createServer } from 'node:http';
import { readFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dist = process.env.AMRM_DIST ?? 'dist';
const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find(existsSync);
if (!chromium) {
  console.log('browser: no Chromium found (apt-get install chromium)');
  console.log('browser: 0 passed, 1 failed');
  process.exit(1);
}

const page = '<!doctype html><meta charset="utf-8"><title>amrm browser suite</title><script type="module" src="/browser-suite.js"></script>';
let resolveResult;
const result = new Promise((r) => { resolveResult = r; });
const server = createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/result') {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => { res.end('ok'); resolveResult(JSON.parse(body)); });
    return;
  }
  if (req.url === '/browser-suite.js') {
    res.setHeader('content-type', 'text/javascript');
    res.end(readFileSync(join(dist, 'web/browser-suite.js')));
    return;
  }
  res.setHeader('content-type', 'text/html');
  res.end(page);
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${server.address().port}/`;

const profile = mkdtempSync(join(tmpdir(), 'amrm-chromium-'));
const browser = spawn(chromium, [
  '--headless=new', '--no-sandbox', '--disable-gpu-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan',
  '--use-webgpu-adapter=swiftshader', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, '--remote-debugging-port=0', url,
], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
let browserLog = '';
browser.stderr.on('data', (c) => { browserLog += c; });

const timeout = new Promise((r) => setTimeout(() => r({ error: 'timed out after 120 s waiting for the page' }), 120_000));
const fromBrowser = await Promise.race([result, timeout]);
const exited = new Promise((r) => browser.once('exit', r));
// Chromium's helper processes share its process group: end them all before removing the profile.
try { process.kill(-browser.pid, 'SIGKILL'); } catch { browser.kill('SIGKILL'); }
await exited;
server.close();
try { rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 }); } catch { /* a temp dir; best effort */ }

let passed = 0, failed = 0;
if (fromBrowser.error) {
  console.log(`browser: the page failed: ${fromBrowser.error}`);
  if (/timed out/.test(fromBrowser.error)) console.log(browserLog.split('\n').slice(-15).join('\n'));
  failed++;
} else {
  const node = spawnSync(process.execPath, [join(dist, 'web/node-cases.js')], {
    env: { ...process.env, AMRM_ADAPTER: 'swiftshader' }, encoding: 'utf8', maxBuffer: 1 << 26,
  });
  const fromNode = JSON.parse(node.stdout || '{"results":{}}');
  console.log(`browser adapter: ${fromBrowser.adapter}; node adapter: ${fromNode.adapter}`);
  for (const [name, b] of Object.entries(fromBrowser.results)) {
    const n = fromNode.results[name];
    let worst = n && n.length === b.length ? 0 : Infinity, scale = 0;
    if (n) for (let i = 0; i < b.length; i++) { worst = Math.max(worst, Math.abs(b[i] - n[i])); scale = Math.max(scale, Math.abs(n[i])); }
    const rel = worst / Math.max(scale, 1e-30);
    const ok = rel <= 1e-6 && b.every(Number.isFinite);
    ok ? passed++ : failed++;
    console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${name}: browser vs node relative difference ${rel.toExponential(2)}`);
  }
}
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
