// Bundles the engine for Node and the browser, the CLI, the test suites and the benchmarks.
// WGSL kernels are imported as text, so both targets carry the same kernel sources.
import { build } from 'esbuild';
import { copyFileSync, cpSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

const walk = (dir, re) => readdirSync(dir).flatMap((f) => {
  const p = join(dir, f);
  return statSync(p).isDirectory() ? walk(p, re) : re.test(f) ? [p] : [];
});

// The host module is the only file that differs between targets: Dawn's Node bindings or navigator.gpu.
const host = (target) => ({
  name: 'host',
  setup(b) {
    b.onResolve({ filter: /^#host$/ }, () => ({ path: join(process.cwd(), `src/engine/host-${target}.ts`) }));
  },
});

// AMRM_DIST picks the output folder and AMRM_BUILD_ONLY a regex of test/bench files to bundle, so
// that parallel work can build and test one part without the rest.
const dist = process.env.AMRM_DIST ?? 'dist';
const only = process.env.AMRM_BUILD_ONLY ? new RegExp(process.env.AMRM_BUILD_ONLY) : null;
const pick = (files) => (only ? files.filter((f) => only.test(f)) : files);
// Stale suites from an earlier build would still be run: start the test output afresh.
const targets = process.env.AMRM_BUILD_TARGETS;
if (targets !== 'node' && targets !== 'node,lab') rmSync(join(dist, 'test'), { recursive: true, force: true });

const common = { bundle: true, format: 'esm', sourcemap: true, loader: { '.wgsl': 'text' }, logLevel: 'warning' };
const nodeCommon = {
  ...common, platform: 'node', target: 'node20', external: ['webgpu', '@tensorflow/*', 'fflate', 'uvu', 'uvu/*'],
  plugins: [host('node')],
  banner: { js: "import { createRequire as __amrmCreateRequire } from 'node:module'; const require = __amrmCreateRequire(import.meta.url);" },
};

// AMRM_BUILD_TARGETS=node builds the library and the CLI alone (what bin/amrm.js needs); node,lab
// adds the browser lab (what `amrm serve` serves).
const cliOnly = targets === 'node' || targets === 'node,lab';
const lab = !only && (!cliOnly || targets === 'node,lab');
await Promise.all([
  only ? null : build({ ...nodeCommon, entryPoints: { index: 'src/node.ts', cli: 'src/cli/main.ts', serve: 'src/cli/serve.ts' }, outdir: `${dist}/node`, splitting: true }),
  cliOnly ? null : build({ ...nodeCommon, entryPoints: pick(walk('test', /\.test\.ts$/).concat(walk('bench', /\.ts$/))), outdir: dist, outbase: '.', splitting: true }),
  only || cliOnly ? null : build({ ...common, platform: 'browser', target: 'es2022', entryPoints: { amrm: 'src/index.ts' }, outdir: `${dist}/browser`, plugins: [host('browser')] }),
  only || cliOnly ? null : build({ ...common, platform: 'browser', target: 'es2022', entryPoints: { 'browser-suite': 'web/browser-suite.ts' }, outdir: `${dist}/web`, plugins: [host('browser')] }),
  only || cliOnly ? null : build({ ...nodeCommon, entryPoints: { 'node-cases': 'web/node-cases.ts' }, outdir: `${dist}/web` }),
  only || cliOnly ? null : build({ ...nodeCommon, entryPoints: { 'lab-node-replay': 'web/lab/node-replay.ts' }, outdir: `${dist}/web` }),
  lab ? build({ ...common, platform: 'browser', target: 'es2022', entryPoints: { lab: 'web/lab/lab.ts' }, outdir: `${dist}/web/lab`, plugins: [host('browser')] }) : null,
]);

// The lab's page, style and bundled test images (web/lab/images, committed; scripts/lab-images.mjs
// wrote them) go next to its bundle, which `amrm serve` then serves.
if (lab) {
  mkdirSync(`${dist}/web/lab`, { recursive: true });
  for (const f of ['index.html', 'lab.css']) copyFileSync(join('web/lab', f), join(dist, 'web/lab', f));
  rmSync(join(dist, 'web/lab/images'), { recursive: true, force: true });
  cpSync('web/lab/images', join(dist, 'web/lab/images'), { recursive: true });
}
