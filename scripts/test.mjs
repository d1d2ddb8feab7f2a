// `npm test`: the whole suite on llvmpipe and on SwiftShader (each in its own process, since the
// Vulkan driver is chosen once per process), then the browser suite and the browser lab's test in
// headless Chromium.
// Ends with the line `tests: N passed, M failed`.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const only = process.env.AMRM_TEST_ADAPTERS?.split(',') ?? ['llvmpipe', 'swiftshader'];
const filter = process.argv[2] ?? '';
let passed = 0, failed = 0, skipped = 0;

function tally(label, out, status) {
  const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? NaN);
  const ok = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? NaN);
  const skip = Number(/Skipped:\s+(\d+)/.exec(out)?.[1] ?? 0);
  if (Number.isNaN(total) || Number.isNaN(ok)) {
    console.log(`${label}: the suite did not finish (exit ${status})`);
    failed += 1;
    return;
  }
  passed += ok; skipped += skip; failed += total - ok - skip;
  if (status !== 0 && total - ok - skip === 0) failed += 1; // crashed after its last test
  console.log(`${label}: ${ok} passed, ${total - ok - skip} failed, ${skip} skipped`);
}

/**
 * Runs a node script with its output shown as it comes (each suite's line as it finishes, not
 * minutes of silence) and kept for the tally; stderr lines matching `quiet` are dropped.
 */
function run(args, env, quiet) {
  return new Promise((done) => {
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', errTail = '';
    child.stdout.on('data', (d) => { out += d; process.stdout.write(d); });
    child.stderr.on('data', (d) => {
      const lines = (errTail + d).split('\n');
      errTail = lines.pop();
      for (const l of lines) if (!quiet?.test(l)) process.stderr.write(`${l}\n`);
    });
    child.on('close', (status) => {
      if (errTail && !quiet?.test(errTail)) process.stderr.write(`${errTail}\n`);
      done({ out, status });
    });
  });
}

// Strict TypeScript is part of the suite, filtered or not: a type error fails the run like a failing test.
const tsc = spawnSync(process.execPath, ['node_modules/typescript/bin/tsc', '--noEmit', '-p', '.'], { encoding: 'utf8' });
process.stdout.write(tsc.stdout);
if (tsc.status === 0) { passed++; console.log('typecheck: ok'); } else { failed++; console.log('typecheck: FAILED'); }

for (const adapter of only) {
  console.log(`\n=== adapter: ${adapter} ===`);
  const r = await run(['scripts/run-suites.mjs', filter], { ...process.env, AMRM_ADAPTER: adapter, FORCE_COLOR: '0' }, /artificially reduced|XDG_RUNTIME_DIR/);
  tally(adapter, r.out, r.status);
}

if (!process.env.AMRM_TEST_ADAPTERS && !filter && existsSync('scripts/browser-suite.mjs')) {
  console.log('\n=== browser: headless Chromium ===');
  const r = await run(['scripts/browser-suite.mjs'], process.env);
  const m = /browser: (\d+) passed, (\d+) failed/.exec(r.out);
  if (m) { passed += Number(m[1]); failed += Number(m[2]); } else { failed += 1; console.log('browser: the suite did not finish'); }
}

if (!process.env.AMRM_TEST_ADAPTERS && !filter && existsSync('scripts/browser-lab.mjs')) {
  console.log('\n=== browser lab: headless Chromium (amrm serve) ===');
  const r = await run(['scripts/browser-lab.mjs'], process.env);
  const m = /browser-lab: (\d+) passed, (\d+) failed/.exec(r.out);
  if (m) { passed += Number(m[1]); failed += Number(m[2]); } else { failed += 1; console.log('browser-lab: the test did not finish'); }
}

console.log(`\ntests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed ? 1 : 0);
