// What a bind group costs to create, against the runtime's cache lookup (src/engine/runtime.ts caches
// them by pipeline and bound objects): 20,000 createBindGroup calls for one 4-buffer pipeline, then
// 20,000 lookups keyed the way the runtime keys them. Prints microseconds per call of each.
//   node scripts/build.mjs && AMRM_ADAPTER=llvmpipe node bench/bind_group_cost.mjs
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
const { init } = await import(pathToFileURL(resolve(process.env.AMRM_DIST ?? 'dist', 'node/index.js')).href);
const e = await init();
const device = e.gpu.device;
const module = device.createShaderModule({ code: `@group(0) @binding(0) var<uniform> u: vec4u; @group(0) @binding(1) var<storage, read> a: array<f32>; @group(0) @binding(2) var<storage, read> b: array<f32>; @group(0) @binding(3) var<storage, read_write> c: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) { if (g.x < u.x) { c[g.x] = a[g.x] + b[g.x]; } }` });
const p = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
const mk = (usage) => device.createBuffer({ size: 4096, usage });
const u = mk(GPUBufferUsage.UNIFORM), a = mk(GPUBufferUsage.STORAGE), b = mk(GPUBufferUsage.STORAGE), c = mk(GPUBufferUsage.STORAGE);
const N = 20000;
let t = performance.now();
for (let i = 0; i < N; i++) device.createBindGroup({ layout: p.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: u } }, { binding: 1, resource: { buffer: a } }, { binding: 2, resource: { buffer: b } }, { binding: 3, resource: { buffer: c } }] });
console.log('createBindGroup + getBindGroupLayout µs', (1000 * (performance.now() - t) / N).toFixed(2));
const ids = new WeakMap(); let next = 1; const id = (o) => { let v = ids.get(o); if (v === undefined) ids.set(o, v = next++); return v; };
const cache = new Map(); cache.set([p,u,a,b,c].map(id).join(','), 1);
t = performance.now();
for (let i = 0; i < N; i++) cache.get([p, u, a, b, c].map(id).join(','));
console.log('cache lookup µs', (1000 * (performance.now() - t) / N).toFixed(2));
process.exit(0);
