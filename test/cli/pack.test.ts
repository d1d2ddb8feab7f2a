// The package as a user gets it: `npm pack`, installed into a fresh project, imported with its
// types, and its CLI run (info, a small demo). It needs the npm registry (or npm's cache) for the
// dependencies, as `npm ci` does.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const test = suite('package');
const run = (cmd: string, args: string[], cwd: string, timeout = 600_000) =>
  spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, AMRM_ADAPTER: process.env.AMRM_ADAPTER ?? 'llvmpipe' } });

test('npm pack installs into a fresh project: types check, the engine imports, amrm info and amrm demo run', () => {
  if (process.env.AMRM_ADAPTER === 'swiftshader') { console.log('  NOTICE: the package check runs once, on llvmpipe'); return; }
  const repo = resolve('.');
  const dir = mkdtempSync(join(tmpdir(), 'amrm-pack-'));
  try {
    // The bundles are npm test's; the declarations are built here (npm pack's prepack would rebuild
    // dist/ under the running suites, so the scripts are skipped).
    let r = run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.types.json'], repo);
    assert.is(r.status, 0, r.stdout + r.stderr);
    r = run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], repo);
    assert.is(r.status, 0, r.stderr);
    const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'))!;
    const proj = join(dir, 'proj');
    mkdirSync(proj);
    writeFileSync(join(proj, 'package.json'), JSON.stringify({ name: 'uses-amrm', version: '1.0.0', type: 'module', private: true }));
    r = run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(dir, tgz)], proj);
    assert.is(r.status, 0, r.stderr);
    // Types: the public API with WebGPU's types, strict.
    writeFileSync(join(proj, 'main.ts'), [
      "import { init, engine, tensor, matmul } from 'amrm';",
      'await init();',
      'const a = tensor(new Float32Array([1, 2, 3, 4]), [2, 2]);',
      'const c: number[] = Array.from(await matmul(a, a).read());',
      'const kind: string = engine().gpu.kind;',
      'console.log(JSON.stringify({ c, kind }));',
      'process.exit(0);',
    ].join('\n'));
    writeFileSync(join(proj, 'tsconfig.json'), JSON.stringify({ compilerOptions: { target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, types: ['node'] }, files: ['main.ts'] }));
    r = run(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', '.', '--typeRoots', join(repo, 'node_modules/@types')], proj);
    assert.is(r.status, 0, r.stdout + r.stderr);
    // The same program run as JavaScript (its types stripped by hand: it has none left but the annotations).
    writeFileSync(join(proj, 'main.mjs'), [
      "import { init, engine, tensor, matmul } from 'amrm';",
      'await init();',
      'const a = tensor(new Float32Array([1, 2, 3, 4]), [2, 2]);',
      'const c = Array.from(await matmul(a, a).read());',
      'console.log(JSON.stringify({ c, kind: engine().gpu.kind }));',
      'process.exit(0);',
    ].join('\n'));
    r = run(process.execPath, ['main.mjs'], proj);
    assert.is(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout.trim().split('\n').pop()!).c, [7, 10, 15, 22]);
    r = run('npx', ['amrm', 'info'], proj);
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /adapter: /);
    // The demo with the shipped models, from inside the installed package.
    r = run('npx', ['amrm', 'demo', '--n', '2', '--out', 'demo-out'], proj);
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /attacked, purified/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test.run();
