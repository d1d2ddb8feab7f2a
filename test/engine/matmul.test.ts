import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, rand, Rng, checkForward, checkGrad, upload, download, normRelErr, type Arr } from '../harness.js';
import { matmul, holdOperandTextures, type MatmulOptions } from '../../src/engine/ops/matmul.js';
import { recordDispatches } from '../../src/engine/profile.js';
import { setTuning } from '../../src/engine/tuning.js';
import { unrollLoops, specializeBranches, scalarizeArrays, specialize, constOf } from '../../src/engine/wgsl.js';
import * as R from '../../src/engine/reference/matmul.js';
import { asyncScope, type Tensor } from '../../src/engine/tensor.js';
import { engine } from '../../src/engine/engine.js';
import { backward } from '../../src/engine/autograd.js';

await setup();
const rng = new Rng(4321);
const test = suite('matmul');

// Each tile shape and set of flags is its own pipeline, and a 16×16 one takes seconds to compile on
// the software adapters. So the wide grids of cases run with small 8×4 tiles (the same kernel
// template, TM ≠ TN to catch mixed-up indices), and a subset runs with the adapter's own tiling.
const small = { tm: 8, tn: 4 };
async function withTiling(t: { tm: number; tn: number; tiled?: boolean; textures?: boolean; textureMinWork?: number; f16?: boolean } | undefined, fn: () => Promise<void>): Promise<void> {
  setTuning({ matmul: t });
  try { await fn(); } finally { setTuning({ matmul: undefined }); }
}

type Trans = { transA: boolean; transB: boolean };
const TRANS: Trans[] = [
  { transA: false, transB: false }, { transA: true, transB: false },
  { transA: false, transB: true }, { transA: true, transB: true },
];
const tag = (t: Trans): string => `${t.transA ? 'T' : 'N'}${t.transB ? 'T' : 'N'}`;

/** Stored operand shapes for op(a): [..., M, K] and op(b): [..., K, N] under the transposes. */
function shapes(batchA: number[], batchB: number[], M: number, K: number, N: number, t: Trans): [number[], number[]] {
  return [
    [...batchA, ...(t.transA ? [K, M] : [M, K])],
    [...batchB, ...(t.transB ? [N, K] : [K, N])],
  ];
}

async function forward(name: string, sa: number[], sb: number[], o: MatmulOptions & { withBias?: number }): Promise<void> {
  const inputs = [rand(rng, sa), rand(rng, sb)];
  if (o.withBias !== undefined) inputs.push(rand(rng, [o.withBias]));
  const opts = { transA: o.transA, transB: o.transB, activation: o.activation };
  await checkForward({
    name, inputs, metric: 'norm', tol: 1e-4,
    gpu: (a, b, bias) => matmul(a, b, { ...opts, bias }),
    ref: (a, b, bias) => R.matmul(a, b, bias, opts),
  });
}

// M×K×N sizes that are not multiples of any tile, size-1 dimensions, and all-multiples-of-4 sizes
// (the vec4 load paths, with and without a tail of K).
const SIZES: [number, number, number][] = [[1, 1, 1], [3, 5, 7], [65, 17, 33], [130, 127, 64], [36, 45, 20], [20, 16, 12]];

for (const t of TRANS) {
  test(`forward ${tag(t)}: sizes off the tiles, against float64`, async () => {
    await withTiling(small, async () => {
      for (const [M, K, N] of SIZES) {
        const [sa, sb] = shapes([], [], M, K, N, t);
        await forward(`matmul ${tag(t)} 8x4 tiles`, sa, sb, t);
      }
    });
    // The adapter's tiling (one case per layout: its pipelines take seconds to compile): edges on
    // both sides, vec4 loads for the aligned layouts, scalar loads and a tail of K for the others.
    const [M, K, N] = ([[36, 44, 20], [65, 17, 33], [130, 127, 64], [36, 45, 20]] as const)[TRANS.indexOf(t)];
    const [sa, sb] = shapes([], [], M, K, N, t);
    await forward(`matmul ${tag(t)}`, sa, sb, t);
  });
}

test('forward with bias and relu / gelu / gelu_tanh epilogues', async () => {
  await withTiling(small, async () => {
    for (const [k, t] of TRANS.entries()) {
      for (const activation of ['none', 'relu', 'gelu', 'gelu_tanh'] as const) {
        const [M, K, N] = ([[3, 5, 7], [65, 17, 33], [20, 16, 12]] as const)[(k + activation.length) % 3];
        const [sa, sb] = shapes([], [], M, K, N, t);
        await forward(`matmul ${tag(t)} bias ${activation}`, sa, sb, { ...t, activation, withBias: N });
      }
    }
    // An activation without a bias.
    await forward('matmul gelu', [9, 6], [6, 5], { activation: 'gelu' });
    await forward('matmul gelu_tanh', [9, 6], [6, 5], { activation: 'gelu_tanh' });
  });
  await forward('matmul bias gelu', [70, 36], [36, 24], { activation: 'gelu', withBias: 24 });
  await forward('matmul bias gelu_tanh', [70, 36], [36, 24], { activation: 'gelu_tanh', withBias: 24 });
  await forward('matmul TT bias relu', [33, 65], [17, 33], { transA: true, transB: true, activation: 'relu', withBias: 17 });
});

test('forward with batch dimensions and broadcasting', async () => {
  const cases: [number[], number[]][] = [[[3], []], [[], [2]], [[2, 1], [3]], [[2, 3], [2, 3]], [[2, 1, 2], [1, 3, 1]], [[1], [1]]];
  await withTiling(small, async () => {
    for (const t of TRANS) {
      for (const [ba, bb] of cases) {
        const [sa, sb] = shapes(ba, bb, 13, 9, 6, t);
        await forward(`matmul ${tag(t)} batched`, sa, sb, { ...t, withBias: 6, activation: 'relu' });
      }
      // vec4 paths (every dimension a multiple of 4).
      const [sa, sb] = shapes([2, 1], [3], 8, 12, 20, t);
      await forward(`matmul ${tag(t)} batched vec4`, sa, sb, t);
    }
  });
  await forward('matmul batched', [2, 1, 33, 20], [3, 20, 18], {});
  await forward('matmul batched, a broadcast', [33, 20], [3, 18, 20], { transB: true });
});

test('backward: gradients to a, b and bias by finite differences', async () => {
  for (const t of TRANS) {
    const [sa, sb] = shapes([], [], 3, 4, 5, t);
    await checkGrad({
      name: `matmul ${tag(t)}`, inputs: [rand(rng, sa), rand(rng, sb), rand(rng, [5])],
      gpu: (a, b, bias) => matmul(a, b, { ...t, bias }), ref: (a, b, bias) => R.matmul(a, b, bias, t),
    }, rng);
  }
  for (const activation of ['relu', 'gelu', 'gelu_tanh'] as const) {
    await checkGrad({
      name: `matmul ${activation}`, inputs: [rand(rng, [4, 3]), rand(rng, [3, 5]), rand(rng, [5])],
      gpu: (a, b, bias) => matmul(a, b, { bias, activation }), ref: (a, b, bias) => R.matmul(a, b, bias, { activation }),
    }, rng);
  }
});

test('gelu_tanh epilogue: finite and accurate for pre-activations far out, fused and with gradients', async () => {
  // a·b + bias with b = 1 and bias = 0 puts the values of a, exactly, in front of the activation.
  const xs: number[] = [];
  for (let x = -20; x <= 20; x += 0.05) xs.push(Math.fround(x));
  xs.push(-3e38, -1e30, -1e4, 1e4, 1e30, 3e38);
  const M = xs.length, N = 4;
  const a = { shape: [M, 1], data: Float64Array.from(xs) };
  const b = { shape: [1, N], data: new Float64Array(N).fill(1) }, bias = { shape: [N], data: new Float64Array(N) };
  const want = R.matmul(a, b, bias, { activation: 'gelu_tanh' });
  for (const tracked of [false, true]) {
    await withTiling(small, () => asyncScope(async () => {
      const ta = upload(a);
      if (tracked) ta.requireGrad(); // the epilogue then runs as geluTanh after the matmul
      const y = matmul(ta, upload(b), { bias: upload(bias), activation: 'gelu_tanh' });
      const got = await y.read();
      for (let i = 0; i < want.data.length; i++) {
        const w = want.data[i];
        assert.ok(Number.isFinite(got[i]) && Math.abs(got[i] - w) <= 1e-5 * Math.max(1, Math.abs(w)),
          `gelu_tanh epilogue${tracked ? ' (tracked)' : ''} at ${xs[Math.floor(i / N)]}: ${got[i]}, want ${w}`);
      }
      if (tracked) {
        backward(y, upload({ shape: [M, N], data: new Float64Array(M * N).fill(1) }));
        const g = await ta.grad!.read();
        assert.ok(g.every(Number.isFinite), 'gelu_tanh epilogue: a non-finite gradient');
        // Far out the derivative is 0 or 1 per column, N columns.
        assert.equal([g[M - 6], g[M - 1]], [0, N]);
      }
    }));
  }
});

test('backward through broadcast batch dimensions', async () => {
  const cases: [number[], number[]][] = [[[2], []], [[], [2]], [[2, 1], [3]], [[2, 3], [2, 3]], [[1, 2], [1]]];
  for (const t of TRANS) {
    for (const [ba, bb] of cases) {
      const [sa, sb] = shapes(ba, bb, 3, 4, 2, t);
      await checkGrad({
        name: `matmul ${tag(t)} batched`, inputs: [rand(rng, sa), rand(rng, sb)],
        gpu: (a, b) => matmul(a, b, t), ref: (a, b) => R.matmul(a, b, undefined, t),
      }, rng);
    }
  }
});

/** The reference matmul plus a residual of its output's shape, added last. */
const withResidual = (a: Arr, b: Arr, bias: Arr | undefined, r: Arr, o: MatmulOptions) => {
  const y = R.matmul(a, b, bias, { transA: o.transA, transB: o.transB, activation: o.activation });
  return { shape: y.shape, data: y.data.map((v, i) => v + r.data[i]) };
};

test('residual epilogue: act(a·b + bias) + r, forward (vec4 and scalar stores, batched, folded) and gradients to all four', async () => {
  const cases: [number[], number[], MatmulOptions][] = [
    [[2, 5, 12], [8, 12], { transB: true }], // a batch folded into M, N a multiple of 4 (vec4 stores)
    [[3, 7], [7, 6], {}], // N not a multiple of 4 (scalar stores)
    [[2, 3, 4, 5], [2, 1, 5, 8], {}], // broadcast batch dimensions
  ];
  for (const [sa, sb, o] of cases) {
    const a = rand(rng, sa), b = rand(rng, sb);
    const ref = R.matmul(a, b, undefined, o);
    const r = rand(rng, ref.shape), bias = rand(rng, [ref.shape[ref.shape.length - 1]]);
    for (const activation of ['none', 'gelu'] as const) {
      const oo = { ...o, activation };
      await checkForward({ name: `matmul + residual ${activation}`, inputs: [a, b, bias, r], gpu: (x, y, z, w) => matmul(x, y, { ...oo, bias: z, residual: w }), ref: (x, y, z, w) => withResidual(x, y, z, w, oo) });
      await checkGrad({ name: `matmul + residual ${activation}`, inputs: [a, b, bias, r], gpu: (x, y, z, w) => matmul(x, y, { ...oo, bias: z, residual: w }), ref: (x, y, z, w) => withResidual(x, y, z, w, oo) }, rng);
    }
  }
  await asyncScope(async () => {
    assert.throws(() => matmul(upload(rand(rng, [3, 4])), upload(rand(rng, [4, 5])), { residual: upload(rand(rng, [3, 4])) }), /matmul: residual \[3, 4\] must have the output's shape \[3, 5\]/);
  });
});

test('with gradients recorded, an activation stays in the matmul pass (which also writes the pre-activation for the backward): no activation op forward, one act\' pass backward', async () => {
  for (const [sa, sb, activation] of [[[5, 12], [12, 8], 'gelu'], [[7, 9], [9, 6], 'relu'], [[2, 4, 8], [8, 12], 'gelu_tanh']] as const) {
    const inputs = [rand(rng, [...sa]), rand(rng, [...sb]), rand(rng, [sb[1]])];
    const gpu = (x: Tensor, y: Tensor, z: Tensor): Tensor => matmul(x, y, { bias: z, activation });
    await checkGrad({ name: `matmul ${activation} (fused, tracked)`, inputs, gpu, ref: (x, y, z) => R.matmul(x, y, z, { activation }) }, rng);
    const rt = engine().runtime, fwd: string[] = [], bwd: string[] = [];
    await asyncScope(async () => {
      const [x, y, z] = inputs.map((v) => upload(v));
      x.requireGrad();
      let seen = fwd;
      rt.observer = { see: (name) => { seen.push(name); return true; } };
      try {
        const out = gpu(x, y, z);
        seen = bwd;
        backward(out, upload(rand(rng, [...out.shape])));
      } finally { rt.observer = undefined; }
      await x.grad!.data();
    });
    // (util.fill_u32: the test harness poisons every new output.)
    assert.equal(fwd.filter((n) => !n.startsWith('util.')), ['matmul.matmul'], `forward dispatches: ${fwd.join(', ')}`);
    assert.is(bwd.filter((n) => n === 'elementwise.unary_grad').length, 1, `backward dispatches: ${bwd.join(', ')}`);
  }
});

test('the workgroup-tiled kernel (a GPU\'s default), forced here: every layout, edges, a tail of K past KT, batches, epilogues, gradients', async () => {
  // 4×4 per invocation is the GPU's block (32×32 per workgroup); 8×4 catches mixed-up TM and TN.
  for (const tiling of [{ tm: 4, tn: 4, tiled: true }, { tm: 8, tn: 4, tiled: true }]) {
    await withTiling(tiling, async () => {
      for (const t of TRANS) {
        // Sizes off the 32-wide blocks, K below, at and past the 16-step tiles (with a remainder).
        for (const [M, K, N] of [[1, 1, 1], [3, 5, 7], [65, 17, 33], [36, 45, 20], [33, 16, 40]] as [number, number, number][]) {
          const [sa, sb] = shapes([], [], M, K, N, t);
          await forward(`matmul ${tag(t)} tiled ${tiling.tm}x${tiling.tn}`, sa, sb, { ...t, withBias: N, activation: M % 2 ? 'gelu_tanh' : 'relu' });
        }
        const [sa, sb] = shapes([2, 1], [3], 13, 20, 6, t);
        await forward(`matmul ${tag(t)} tiled batched`, sa, sb, t);
      }
      const a = rand(rng, [2, 3, 21]), b = rand(rng, [21, 36]), r = rand(rng, [2, 3, 36]), bias = rand(rng, [36]);
      await checkForward({ name: 'matmul tiled + residual', metric: 'norm', inputs: [a, b, bias, r], gpu: (x, y, z, w) => matmul(x, y, { bias: z, residual: w }), ref: (x, y, z, w) => withResidual(x, y, z, w, {}) });
      await checkGrad({
        name: 'matmul tiled TN', inputs: [rand(rng, [5, 3]), rand(rng, [4, 5]), rand(rng, [4])],
        gpu: (x, y, z) => matmul(x, y, { transA: true, transB: true, bias: z }), ref: (x, y, z) => R.matmul(x, y, z, { transA: true, transB: true }),
      }, rng);
    });
  }
  // Blocks that do not fit the adapter's workgroup memory are refused by name.
  await withTiling({ tm: 64, tn: 64, tiled: true }, () => asyncScope(async () => {
    assert.throws(() => matmul(upload(rand(rng, [64, 8])), upload(rand(rng, [8, 64]))), /matmul: the tiled kernel at 64×64 per invocation needs 65536 bytes of workgroup memory, this adapter allows \d+/);
  }));
});

test('operands through textures (llvmpipe\'s default), forced on and off: the layouts that take them, folded batches, epilogues, gradients', async () => {
  for (const textures of [true, false]) {
    await withTiling({ tm: 8, tn: 4, textures, textureMinWork: 0 }, async () => {
      for (const t of TRANS) {
        // Rows of K floats copied into the texture (K·4 a multiple of 256 bytes) or written by a
        // kernel (K = 96, 20); M and N off the tiles.
        for (const [M, K, N] of [[37, 64, 20], [9, 192, 33], [11, 96, 17], [5, 20, 8]] as [number, number, number][]) {
          const [sa, sb] = shapes([], [], M, K, N, t);
          await forward(`matmul ${tag(t)} textures ${textures}`, sa, sb, { ...t, withBias: N, activation: 'gelu_tanh' });
        }
      }
      // A batch folded into M (x·Wᵀ over [B, L, K]), and a residual epilogue.
      const a = rand(rng, [3, 7, 128]), w = rand(rng, [24, 128]), r = rand(rng, [3, 7, 24]), bias = rand(rng, [24]);
      await checkForward({ name: `matmul xWᵀ folded, textures ${textures}`, metric: 'norm', tol: 1e-5, inputs: [a, w, bias, r],
        gpu: (x, y, z, u) => matmul(x, y, { transB: true, bias: z, residual: u }), ref: (x, y, z, u) => withResidual(x, y, z, u, { transB: true }) });
      await checkGrad({
        name: `matmul xWᵀ textures ${textures}`, inputs: [rand(rng, [3, 64]), rand(rng, [5, 64])],
        gpu: (x, y) => matmul(x, y, { transB: true }), ref: (x, y) => R.matmul(x, y, undefined, { transB: true }),
      }, rng);
    });
  }
});

test('operands in half precision (tuning.matmul.f16), forced in the register and the tiled kernel: every layout, edges, a tail of K, batches, epilogues, within 1e-2 of float64 and visibly rounded', async () => {
  for (const tiling of [{ tm: 8, tn: 4, f16: true }, { tm: 4, tn: 4, tiled: true, f16: true }]) {
    const kind = tiling.tiled ? 'tiled' : 'register';
    await withTiling(tiling, async () => {
      for (const t of TRANS) {
        for (const [M, K, N] of [[1, 1, 1], [3, 5, 7], [65, 17, 33], [20, 16, 12], [36, 45, 20]] as [number, number, number][]) {
          const [sa, sb] = shapes([], [], M, K, N, t);
          await checkForward({
            name: `matmul ${tag(t)} f16 ${kind}`, metric: 'norm', tol: 1e-2, inputs: [rand(rng, sa), rand(rng, sb), rand(rng, [N])],
            gpu: (a, b, bias) => matmul(a, b, { ...t, bias, activation: 'gelu_tanh' }), ref: (a, b, bias) => R.matmul(a, b, bias, { ...t, activation: 'gelu_tanh' }),
          });
        }
        const [sa, sb] = shapes([2, 1], [3], 8, 12, 20, t);
        await checkForward({ name: `matmul ${tag(t)} f16 ${kind} batched`, metric: 'norm', tol: 1e-2, inputs: [rand(rng, sa), rand(rng, sb)],
          gpu: (a, b) => matmul(a, b, t), ref: (a, b) => R.matmul(a, b, undefined, t) });
      }
      // The halves are what the kernel reads: the error is that of f16 rounding (about 2^-11 of
      // each operand), far above f32's, and the conversion runs once per operand.
      await asyncScope(async () => {
        const a = rand(rng, [65, 48]), b = rand(rng, [48, 33]);
        let got: Arr | undefined;
        const dispatches = await recordDispatches(async () => { got = await download(matmul(upload(a), upload(b))); });
        const err = normRelErr(got!.data, R.matmul(a, b, undefined, {}).data);
        assert.ok(err > 1e-5 && err < 2e-3, `f16 ${kind}: relative error ${err.toExponential(2)} should be that of half-precision operands`);
        assert.is(dispatches.filter((d) => d === 'matmul.to_f16').length, 2, `f16 ${kind}: conversions ${dispatches}`);
      });
    });
  }
});

test('held operands (a frozen model\'s weights) are read through their own textures, filled once, whatever the size', async () => {
  // textureMinWork out of reach: only the held weight goes through a texture, both as x·Wᵀ's B
  // (rows along K: a copy or to_texture) and as dY·W's (transposed: to_texture_t), as in a
  // purification step's forward and input gradient. M, N off the tiles; K = 96 and 64.
  for (const [M, K, N] of [[37, 96, 20], [50, 64, 36]] as [number, number, number][]) {
    await withTiling({ tm: 8, tn: 4, textures: true, textureMinWork: 2 ** 40 }, () => asyncScope(async () => {
      const xs = rand(rng, [M, K]), ws = rand(rng, [N, K]), gs = rand(rng, [M, N]);
      const x = upload(xs), w = upload(ws), g = upload(gs);
      const wantY = R.matmul(xs, ws, undefined, { transB: true }), wantDx = R.matmul(gs, ws);
      const both = async (): Promise<void> => {
        const y = matmul(x, w, { transB: true }), dx = matmul(g, w);
        const [gy, gdx] = [await download(y), await download(dx)];
        assert.ok(normRelErr(gy.data, wantY.data) < 1e-5, `x·Wᵀ ${M}×${K}×${N} through a held texture`);
        assert.ok(normRelErr(gdx.data, wantDx.data) < 1e-5, `dY·W ${M}×${N}×${K} through a held texture`);
        y.dispose(); dx.dispose();
      };
      const fills = (names: string[]): number => names.filter((n) => /to_texture|^copy$/.test(n)).length;
      assert.is(fills(await recordDispatches(both)), 0, 'nothing held: storage loads, no texture');
      await holdOperandTextures([w], async () => {
        assert.is(fills(await recordDispatches(both)), 2, 'first use: one fill per layout');
        assert.is(fills(await recordDispatches(both)), 0, 'later uses: no fill');
        await both();
      });
      assert.is(fills(await recordDispatches(both)), 0, 'released: storage loads again');
      // Disposing a held tensor drops its textures: a new tensor in the same pooled buffer is not
      // read through the old values.
      await holdOperandTextures([w], async () => {
        await both();
        const old = w.buffer;
        w.dispose();
        const w2s = rand(rng, [N, K]), w2 = upload(w2s);
        assert.ok(w2.buffer === old, 'the pool hands the same buffer out again');
        const y = matmul(x, w2, { transB: true });
        assert.ok(normRelErr((await download(y)).data, R.matmul(xs, w2s, undefined, { transB: true }).data) < 1e-5, 'a reused buffer');
      });
    }));
  }
});

test('shape errors name the op and the shapes', async () => {
  await asyncScope(async () => {
    const a = upload(rand(rng, [3, 4])), b = upload(rand(rng, [5, 6])), v = upload(rand(rng, [4]));
    assert.throws(() => matmul(a, b), /matmul: inner dimensions differ \(4 vs 5\) for \[3, 4\] and \[5, 6\]/);
    assert.throws(() => matmul(a, b, { transA: true, transB: true }), /matmul: inner dimensions differ \(3 vs 6\) for \[3, 4\]ᵀ and \[5, 6\]ᵀ/);
    assert.throws(() => matmul(v, b), /matmul: operands must have rank 2 or more, got \[4\] and \[5, 6\]/);
    const b3 = upload(rand(rng, [3, 4, 2])), a2 = upload(rand(rng, [2, 3, 4]));
    assert.throws(() => matmul(a2, b3), /matmul: batch dimensions \[2\] and \[3\] cannot be broadcast together/);
    const c = upload(rand(rng, [4, 6]));
    assert.throws(() => matmul(a, c, { bias: v }), /matmul: bias \[4\] must have shape \[6\]/);
    assert.throws(() => matmul(a, c, { activation: 'tanh' as 'relu' }), /matmul: unknown activation 'tanh'/);
  });
});

test('WGSL variant transforms: unrolling, constant branches, array scalarization', () => {
  const src = 'for (var i = 0u; i < TM / 2u; i++) { // unroll\n  x[i] += 1.0;\n}\nfor (var j = 0u; j < 3u; j++) { y[j] = 0.0; }';
  const out = unrollLoops(src, { TM: 4 });
  assert.ok(out.includes('x[0u] += 1.0;') && out.includes('x[1u] += 1.0;') && !out.includes('x[2u]'));
  assert.ok(out.includes('for (var j = 0u; j < 3u; j++) { y[j] = 0.0; }'));
  const br = 'if (!VEC) { a(); } else if (T && ACT == 2u) { b(); } else { c(); }\nif (n < N) { d(); }';
  assert.is(specializeBranches(br, { VEC: 1, T: 1, ACT: 2 }).replace(/\s+/g, ' '), '{ b(); } if (n < N) { d(); }');
  assert.is(specializeBranches(br, { VEC: 0, T: 1, ACT: 2 }).replace(/\s+/g, ' '), '{ a(); } if (n < N) { d(); }');
  assert.is(specializeBranches('if (H) { x(); }', { H: 0 }), '');
  const arr = 'var acc: array<array<f32, TN>, 2u>; acc[1u][0u] += acc[0u][2u * 1u + 1u];';
  assert.ok(scalarizeArrays(arr, ['acc'], { TN: 4 }).includes('acc_1_0 += acc_0_3;'));
  assert.throws(() => scalarizeArrays('var a: array<f32, 2u>; a[k] = 1.0;', ['a'], {}), /still indexed by a non-constant/);
});

test('specialize: one entry point kept, tagged lines dropped, constants set, then branches, unrolling, scalarization', () => {
  const src = [
    'const R: u32 = 1u;', 'const B = 2u;', '@group(0) @binding(9) var<storage> extra: array<f32>; // dqp',
    '@compute @workgroup_size(64)\nfn first(@builtin(global_invocation_id) gid: vec3u) { if (F) { one(); } else { two(); } }',
    '@compute @workgroup_size(64)\nfn second(@builtin(global_invocation_id) gid: vec3u) {',
    '  var acc: array<f32, R>;', '  for (var i = 0u; i < R; i++) { // d-loop', '    acc[i] = 1.0;', '  }', '}', '',
  ].join('\n');
  const out = specialize(src, { file: 'k.wgsl', entry: 'second', drop: ['dqp'], set: { R: 2 }, unroll: { tags: ['d-loop'] }, scalarize: 'all' });
  assert.ok(out.includes('const R: u32 = 2u;') && out.includes('const B = 2u;'));
  assert.ok(!out.includes('fn first') && out.includes('fn second') && !out.includes('extra'));
  assert.ok(out.includes('acc_0 = 1.0;') && out.includes('acc_1 = 1.0;') && !out.includes('for ('));
  assert.ok(specialize(src, { file: 'k.wgsl', entry: 'first', flags: { F: 0 } }).includes('{ two(); }'));
  assert.is(constOf(src, 'B', 'k.wgsl'), 2);
  assert.throws(() => specialize(src, { file: 'k.wgsl', set: { TM: 4 } }), /k\.wgsl: the `const TM` line is missing/);
  assert.throws(() => specialize(src, { file: 'k.wgsl', entry: 'third' }), /k\.wgsl: no entry point third/);
  assert.throws(() => constOf(src, 'Q', 'k.wgsl'), /k\.wgsl: no `const Q` line/);
});

test.run();
