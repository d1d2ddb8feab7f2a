// The design notes' probes run beside the engine's kernels in the same process, on the same device,
// in interleaved rounds: issue 16's llvmpipe targets for matmul (42 GFLOP/s) and softmax (6 GB/s)
// were set from hand-written probes measured on another day (docs/design.md), and this machine's
// speed moves by a fifth or more from hour to hour, so only a ratio measured in one run says
// whether the engine's kernel is short of the recipe or the machine is short of that day.
//
// - matmul: the recipe as the design notes give it, each invocation a 32×16 block of C, workgroups
//   of 64×1, no workgroup memory, A read from a storage buffer (a vec4 along K per row and step),
//   B read through an r32float texture (texel (n, k)), filled once before timing. The engine runs
//   the same product twice: as an op (`matmul`: the texture fills counted where it makes them) and
//   with B held as a frozen model's weights are (`holdOperandTextures`, filled in the warm-up).
// - softmax: the recipe's one invocation per row with the row held in registers (a private array
//   read once, one exp per element), against the engine's online softmax (two reads of the row).
//   AMRM_ADAPTER=llvmpipe node dist/bench/design_probes.js [--reps 9] [--json FILE]
import { engine, init } from '../src/engine/engine.js';
import { writeAtomic } from '../src/engine/io/node.js';
import { Rng } from '../src/engine/random.js';
import { copyData, tensor } from '../src/engine/ops/creation.js';
import { holdOperandTextures, matmul } from '../src/engine/ops/matmul.js';
import { softmax } from '../src/engine/ops/softmax.js';
import type { Tensor } from '../src/engine/tensor.js';
import { interleavedMedians } from './timing.js';
import { intFlag, parseFlags } from '../src/cli/args.js';
import { cpus } from 'node:os';
import { settle } from '#host';

const MATMULS = [
  { name: '1024³', M: 1024, K: 1024, N: 1024 },
  { name: '[4096×192]·[192×576]', M: 4096, K: 192, N: 576 },
  { name: '[4096×768]·[768×192]', M: 4096, K: 768, N: 192 },
  { name: 'CIFAR-10 MAE encoder qkv [1568×96]·[96×288]', M: 1568, K: 96, N: 288 },
];
const SOFTMAX = { rows: 4096, d: 1024 };
/** Products (rows) per timed call, so that one call is long enough to time. */
const CALLS = 4;

const PROBE_MATMUL = /* wgsl */ `
const TM = 32u;
const TN = 16u;
struct Params { M: u32, N: u32, K: u32, tiles_n: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> A: array<vec4f>;
@group(0) @binding(2) var BT: texture_2d<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let t = gid.x;
  if (t >= (P.M / TM) * P.tiles_n) { return; }
  let m0 = (t / P.tiles_n) * TM;
  let n0 = (t % P.tiles_n) * TN;
  let K4 = P.K / 4u;
  var acc: array<array<f32, TN>, TM>;
  var a: array<vec4f, TM>;
  var b: array<vec4f, TN>;
  for (var k4 = 0u; k4 < K4; k4++) {
    for (var i = 0u; i < TM; i++) { a[i] = A[(m0 + i) * K4 + k4]; }
    let k = 4u * k4;
    for (var j = 0u; j < TN; j++) {
      b[j] = vec4f(textureLoad(BT, vec2u(n0 + j, k), 0).x, textureLoad(BT, vec2u(n0 + j, k + 1u), 0).x,
                   textureLoad(BT, vec2u(n0 + j, k + 2u), 0).x, textureLoad(BT, vec2u(n0 + j, k + 3u), 0).x);
    }
    for (var i = 0u; i < TM; i++) {
      for (var j = 0u; j < TN; j++) { acc[i][j] += dot(a[i], b[j]); }
    }
  }
  for (var i = 0u; i < TM; i++) {
    for (var j = 0u; j < TN; j++) { C[(m0 + i) * P.N + n0 + j] = acc[i][j]; }
  }
}`;

const PROBE_SOFTMAX = /* wgsl */ `
const D = ${SOFTMAX.d}u;
struct Params { rows: u32, p0: u32, p1: u32, p2: u32 }
@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> X: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> Y: array<vec4f>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let row = gid.x;
  if (row >= P.rows) { return; }
  let base = row * (D / 4u);
  var r: array<vec4f, D / 4u>;
  var m = vec4f(-3.4e38);
  for (var i = 0u; i < D / 4u; i++) { r[i] = X[base + i]; m = max(m, r[i]); }
  let mx = max(max(m.x, m.y), max(m.z, m.w));
  var s = vec4f(0.0);
  for (var i = 0u; i < D / 4u; i++) { r[i] = exp(r[i] - mx); s += r[i]; }
  let inv = 1.0 / (s.x + s.y + s.z + s.w);
  for (var i = 0u; i < D / 4u; i++) { Y[base + i] = r[i] * inv; }
}`;

const flags = parseFlags(process.argv.slice(2), { valued: ['--reps', '--json'] }).values;
const reps = intFlag(flags, '--reps', 1) ?? 9;
const json = flags.get('--json');

await init();
const gpu = engine().gpu;
const device = gpu.device;
const rt = engine().runtime;
const rng = new Rng(11);
const rand = (shape: number[]): Tensor => tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b) }, () => rng.next() - 0.5), shape);

/** A buffer holding data (from a tensor's host copy), readable back with the runtime's read. */
function storage(data: Float32Array | Uint32Array, usage = GPUBufferUsage.STORAGE): GPUBuffer {
  const buf = device.createBuffer({ size: Math.max(16, data.byteLength), usage: usage | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
  rt.write(buf, data);
  return buf;
}

/**
 * The probe's dispatch, repeated `calls` times in one submission, timed to the queue's end. It waits
 * as the runtime does (settle): a plain await of a pending Dawn promise busy-polls one of the two
 * cores that llvmpipe's threads run on, which would slow the probe and not the engine.
 */
function probeRun(pipeline: GPUComputePipeline, bind: GPUBindGroup, workgroups: number, calls: number) {
  return async (): Promise<void> => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bind);
    for (let i = 0; i < calls; i++) pass.dispatchWorkgroups(workgroups);
    pass.end();
    device.queue.submit([enc.finish()]);
    await settle(device.queue.onSubmittedWorkDone());
  };
}

const readBuffer = async (buf: GPUBuffer, bytes: number): Promise<Float32Array> => new Float32Array(await rt.read(buf, bytes));

/** Largest |got − want| over the largest |want|. */
function relativeError(got: Float32Array, want: Float32Array): number {
  let err = 0, scale = 0;
  for (let i = 0; i < want.length; i++) { err = Math.max(err, Math.abs(got[i] - want[i])); scale = Math.max(scale, Math.abs(want[i])); }
  return err / scale;
}

const matmulPipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: PROBE_MATMUL }), entryPoint: 'main' } });
const matmulRows = [];
for (const s of MATMULS) {
  const a = rand([s.M, s.K]), b = rand([s.K, s.N]), bHeld = copyData(b);
  const [aHost, bHost] = await Promise.all([a.data(), b.data()]);
  // B as an r32float texture: texel (n, k) holds B[k, n].
  const tex = device.createTexture({ size: [s.N, s.K], format: 'r32float', usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.COPY_DST });
  device.queue.writeTexture({ texture: tex }, new Float32Array(bHost), { bytesPerRow: 4 * s.N, rowsPerImage: s.K }, [s.N, s.K]);
  const aBuf = storage(aHost), cBuf = storage(new Float32Array(s.M * s.N));
  const params = storage(new Uint32Array([s.M, s.N, s.K, s.N / 16]), GPUBufferUsage.UNIFORM);
  const bind = device.createBindGroup({ layout: matmulPipeline.getBindGroupLayout(0), entries: [
    { binding: 0, resource: { buffer: params } }, { binding: 1, resource: { buffer: aBuf } },
    { binding: 2, resource: tex.createView() }, { binding: 3, resource: { buffer: cBuf } }] });
  const invocations = (s.M / 32) * (s.N / 16);
  const probe = probeRun(matmulPipeline, bind, Math.ceil(invocations / 64), CALLS);
  await probe();
  const want = matmul(a, b);
  const err = relativeError(await readBuffer(cBuf, 4 * s.M * s.N), await want.data());
  want.dispose();
  if (!(err <= 1e-5)) throw new Error(`design_probes: the matmul probe differs from the engine at ${s.name} by ${err} (relative)`);
  const engineRun = (bt: Tensor) => (): Promise<void> => {
    for (let i = 0; i < CALLS; i++) matmul(a, bt).dispose();
    return rt.sync();
  };
  const [op, held, pr] = await holdOperandTextures([bHeld], () => interleavedMedians(reps, Infinity, [engineRun(b), engineRun(bHeld), probe]));
  const gflops = (ms: number): number => +((2 * s.M * s.K * s.N * CALLS) / ms / 1e6).toFixed(2);
  const row = {
    shape: s.name, engine_op_gflops: gflops(op!), engine_held_gflops: gflops(held!), probe_gflops: gflops(pr!),
    engine_op_ms: +(op! / CALLS).toFixed(3), engine_held_ms: +(held! / CALLS).toFixed(3), probe_ms: +(pr! / CALLS).toFixed(3),
    held_over_probe: +(pr! / held!).toFixed(3),
  };
  matmulRows.push(row);
  console.log(`matmul ${s.name}: engine op ${row.engine_op_gflops} GFLOP/s, engine with B held ${row.engine_held_gflops}, design probe ${row.probe_gflops} (engine held / probe: ${row.held_over_probe}×)`);
  for (const t of [a, b, bHeld]) t.dispose();
  for (const buf of [aBuf, cBuf, params]) buf.destroy();
  tex.destroy();
}

const softmaxPipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: PROBE_SOFTMAX }), entryPoint: 'main' } });
const x = rand([SOFTMAX.rows, SOFTMAX.d]);
const xBuf = storage(await x.data()), yBuf = storage(new Float32Array(SOFTMAX.rows * SOFTMAX.d));
const sParams = storage(new Uint32Array([SOFTMAX.rows, 0, 0, 0]), GPUBufferUsage.UNIFORM);
const sBind = device.createBindGroup({ layout: softmaxPipeline.getBindGroupLayout(0), entries: [
  { binding: 0, resource: { buffer: sParams } }, { binding: 1, resource: { buffer: xBuf } }, { binding: 2, resource: { buffer: yBuf } }] });
const sProbe = probeRun(softmaxPipeline, sBind, Math.ceil(SOFTMAX.rows / 64), CALLS);
await sProbe();
const sWant = softmax(x);
const sErr = relativeError(await readBuffer(yBuf, 4 * SOFTMAX.rows * SOFTMAX.d), await sWant.data());
sWant.dispose();
if (!(sErr <= 1e-5)) throw new Error(`design_probes: the softmax probe differs from the engine by ${sErr} (relative)`);
const [sEngine, sPr] = await interleavedMedians(reps, Infinity, [
  () => { for (let i = 0; i < CALLS; i++) softmax(x).dispose(); return rt.sync(); },
  sProbe,
]);
// Bytes moved: the row read and the result written (each implementation's extra passes are its own cost).
const gbps = (ms: number): number => +((2 * 4 * SOFTMAX.rows * SOFTMAX.d * CALLS) / ms / 1e6).toFixed(2);
const softmaxRow = {
  shape: `[${SOFTMAX.rows}×${SOFTMAX.d}]`, engine_gbps: gbps(sEngine!), probe_gbps: gbps(sPr!),
  engine_ms: +(sEngine! / CALLS).toFixed(3), probe_ms: +(sPr! / CALLS).toFixed(3), engine_over_probe: +(sPr! / sEngine!).toFixed(3),
};
console.log(`softmax ${softmaxRow.shape}: engine ${softmaxRow.engine_gbps} GB/s, design probe (row in registers) ${softmaxRow.probe_gbps} GB/s (engine / probe: ${softmaxRow.engine_over_probe}×)`);
x.dispose();
for (const buf of [xBuf, yBuf, sParams]) buf.destroy();

if (json) {
  writeAtomic(json, JSON.stringify({
    bench: 'design_probes', command: `AMRM_ADAPTER=${gpu.kind} node dist/bench/design_probes.js --reps ${reps} --json ${json}`,
    adapter: gpu.kind, cpu: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`, date: new Date().toISOString(),
    timing: `per row: ${CALLS} products per timed call, median of ${reps} interleaved rounds after 2 warm-up rounds; ratios above 1 favour the engine`,
    matmul: matmulRows, softmax: softmaxRow,
  }, null, 1) + '\n');
}
