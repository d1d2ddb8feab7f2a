// Bundles the engine for Node and the browser, the CLI, the test suites and the benchmarks.
// WGSL kernels are imported as text, so both targets carry the same kernel sources.
import { build } from 'esbuild';
import { readdirSync, statSync } from 'node:fs';
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

const common = { bundle: true, format: 'esm', sourcemap: true, loader: { '.wgsl': 'text' }, logLevel: 'warning' };
const nodeCommon = {
  ...common, platform: 'node', target: 'node20', external: ['webgpu', '@tensorflow/*', 'fflate', 'uvu', 'uvu/*'],
  plugins: [host('node')],
  banner: { js: "import { createRequire as __amrmCreateRequire } from 'node:module'; const require = __amrmCreateRequire(import.meta.url);" },
};

await Promise.all([
  build({ ...nodeCommon, entryPoints: { index: 'src/index.ts', cli: 'src/cli/main.ts' }, outdir: 'dist/node', splitting: true }),
  build({ ...nodeCommon, entryPoints: walk('test', /\.test\.ts$/).concat(walk('bench', /\.ts$/)), outdir: 'dist', outbase: '.', splitting: true }),
  build({ ...common, platform: 'browser', target: 'es2022', entryPoints: { amrm: 'src/index.ts' }, outdir: 'dist/browser', plugins: [host('browser')] }),
  build({ ...common, platform: 'browser', target: 'es2022', entryPoints: { 'browser-suite': 'web/browser-suite.ts' }, outdir: 'dist/web', plugins: [host('browser')] }),
]);
