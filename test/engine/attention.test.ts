import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, rand, Rng, arr, checkGrad, upload, download, normRelErr, type Arr } from '../harness.js';
import * as ops from '../../src/engine/ops/index.js';
import { setAttentionImpl, type AttentionOptions } from '../../src/engine/ops/attention.js';
import { setTuning } from '../../src/engine/tuning.js';
import * as R from '../../src/engine/reference/attention.js';
import { asyncScope, Tensor } from '../../src/engine/tensor.js';
import { backward } from '../../src/engine/autograd.js';

await setup();
const rng = new Rng(8088);
// At most 4 rows per invocation: the adapters' default splits (up to 22 rows at d = 64 on llvmpipe)
// take minutes to compile on first use, too long for CI. Every R is the same kernel source with a
// different constant; the fused-attention benchmark checks the default splits against the composed
// path before it times them.
const TEST_TILING = { rcap: 4 };
setTuning({ attention: TEST_TILING });
const test = suite('attention');

interface Case { B: number; H: number; Nq: number; Nk?: number; d: number; mask?: 'f32' | 'i32'; bias?: 'nn' | 'hnn' | 'bhnn' | '1hnn'; }

/** Random inputs for a case; the mask keeps ~70% of the keys (at least two) and, when B > 1, none of batch row 1's. */
function inputs(c: Case): { q: Arr; k: Arr; v: Arr; mask?: Arr; bias?: Arr } {
  const Nk = c.Nk ?? c.Nq;
  const q = rand(rng, [c.B, c.H, c.Nq, c.d]), k = rand(rng, [c.B, c.H, Nk, c.d]), v = rand(rng, [c.B, c.H, Nk, c.d]);
  let mask: Arr | undefined, bias: Arr | undefined;
  if (c.mask) {
    mask = rand(rng, [c.B, Nk], { lo: 0, hi: 1 });
    mask.data.forEach((x, i) => { mask!.data[i] = x < 0.3 ? 0 : c.mask === 'f32' ? 1 : 1 + (i % 3); });
    // At least two keys per batch row (with one key, dQ is 0 up to rounding and a relative check is meaningless) ...
    for (let b = 0; b < c.B; b++) for (const j of [0, Nk - 1]) mask.data[b * Nk + j] = 1;
    // ... except batch row 1, which attends to nothing.
    if (c.B > 1) mask.data.fill(0, Nk, 2 * Nk);
  }
  if (c.bias) {
    const shape = { nn: [c.Nq, Nk], hnn: [c.H, c.Nq, Nk], bhnn: [c.B, c.H, c.Nq, Nk], '1hnn': [1, c.H, c.Nq, Nk] }[c.bias];
    bias = rand(rng, shape, { lo: -1, hi: 1 });
  }
  return { q, k, v, mask, bias };
}

const label = (c: Case): string => `B${c.B} H${c.H} Nq${c.Nq} Nk${c.Nk ?? c.Nq} d${c.d}${c.mask ? ` mask:${c.mask}` : ''}${c.bias ? ` bias:${c.bias}` : ''}`;

/** Compares a GPU result with the reference, -inf entries (rows with no key) exactly, the rest by norm. */
function compare(what: string, got: ArrayLike<number>, want: Float64Array, tol: number): void {
  const g: number[] = [], w: number[] = [];
  for (let i = 0; i < want.length; i++) {
    if (want[i] === -Infinity) { assert.is(got[i], -Infinity, `${what}: element ${i} should be -inf, got ${got[i]}`); continue; }
    g.push(got[i]); w.push(want[i]);
  }
  const err = normRelErr(g, w);
  assert.ok(err <= tol, `${what}: relative error ${err.toExponential(2)} > ${tol}`);
}

async function forwardCase(c: Case, impl: 'fused' | 'composed' = 'fused'): Promise<void> {
  const x = inputs(c);
  const want = R.attention(x.q, x.k, x.v, { keyMask: x.mask, bias: x.bias });
  await asyncScope(async () => {
    const o: AttentionOptions = { returnProbs: true, impl };
    if (x.mask) o.keyMask = upload(x.mask, c.mask);
    if (x.bias) o.bias = upload(x.bias);
    const r = ops.attention(upload(x.q), upload(x.k), upload(x.v), o);
    assert.equal([...r.out.shape], want.out.shape);
    assert.equal([...r.lse.shape], want.lse.shape);
    compare(`${impl} ${label(c)} out`, (await download(r.out)).data, want.out.data, 1e-4);
    compare(`${impl} ${label(c)} lse`, (await download(r.lse)).data, want.lse.data, 1e-4);
    compare(`${impl} ${label(c)} probs`, (await download(r.probs!)).data, want.probs.data, 1e-4);
  });
}

const MAE: Case[] = [
  { B: 2, H: 3, Nq: 17, d: 64 },
  { B: 1, H: 3, Nq: 65, d: 64, mask: 'f32' },
  { B: 2, H: 4, Nq: 17, d: 16, bias: 'hnn' },
  { B: 1, H: 12, Nq: 17, d: 64, mask: 'i32', bias: 'nn' },
  { B: 1, H: 3, Nq: 65, d: 128 },
  { B: 2, H: 3, Nq: 17, d: 128, mask: 'f32', bias: 'bhnn' },
  { B: 1, H: 3, Nq: 257, d: 64 },
  { B: 64, H: 3, Nq: 17, d: 32, mask: 'f32' },
];
const ODD: Case[] = [
  { B: 1, H: 1, Nq: 5, d: 24 },
  { B: 3, H: 2, Nq: 33, d: 24, mask: 'f32' },
  { B: 2, H: 3, Nq: 5, Nk: 33, d: 16, mask: 'i32', bias: '1hnn' },
  { B: 1, H: 2, Nq: 33, Nk: 5, d: 24, bias: 'nn' },
  { B: 4, H: 1, Nq: 1, Nk: 1, d: 16, mask: 'f32' },
];

test('fused forward (out, lse, probs) equals the float64 reference at MAE shapes', async () => {
  for (const c of MAE) await forwardCase(c);
});

test('fused forward at odd sizes, Nq != Nk, masks (f32, i32) and biases', async () => {
  for (const c of ODD) await forwardCase(c);
});

test('other work splits (rows and keys per step not dividing N) give the same results', async () => {
  // The GPU's split (one row per invocation, sources not scalarized, dQ from its own kernel) and
  // splits that divide nothing (dQ as partial sums of the dK/dV kernel).
  for (const t of [{ r: 1, kbFwd: 4, kbDq: 4, kbDkv: 4, wg: 64, scalarize: false, dqPartial: false }, { r: 3, kbFwd: 2, kbDq: 3, kbDkv: 2, wg: 8 },
    { r: 2, kbFwd: 5, kbDq: 1, kbDkv: 4, wg: 16, unrollD: true }]) {
    setTuning({ attention: t });
    try {
      await forwardCase({ B: 2, H: 2, Nq: 33, d: 24, mask: 'f32', bias: 'hnn' });
      await gradCase({ B: 2, H: 1, Nq: 7, Nk: 6, d: 16, mask: 'f32', bias: 'nn' }, 'fused', ` ${JSON.stringify(t)}`);
    } finally { setTuning({ attention: TEST_TILING }); }
  }
});

test('composed path equals the float64 reference', async () => {
  for (const c of [MAE[0], MAE[1], MAE[3], ODD[1], ODD[2]]) await forwardCase(c, 'composed');
});

test('fused equals composed (forward and gradients), also through setAttentionImpl', async () => {
  const c: Case = { B: 2, H: 3, Nq: 17, d: 64, mask: 'f32', bias: 'hnn' };
  const x = inputs(c);
  const gy = rand(rng, [c.B, c.H, c.Nq, c.d], { lo: -1, hi: 1 });
  const results: Float32Array[][] = [];
  for (const impl of ['fused', 'composed'] as const) {
    setAttentionImpl(impl);
    try {
      await asyncScope(async () => {
        const ts = [x.q, x.k, x.v, x.bias!].map((a) => upload(a).requireGrad());
        const r = ops.attention(ts[0], ts[1], ts[2], { keyMask: upload(x.mask!), bias: ts[3], returnProbs: true });
        backward(r.out, upload(gy));
        const got: Float32Array[] = [];
        for (const t of [r.out, r.lse, r.probs!, ...ts.map((t) => t.grad!)]) got.push(await (t as Tensor).data());
        results.push(got);
      });
    } finally { setAttentionImpl('fused'); }
  }
  const names = ['out', 'lse', 'probs', 'dq', 'dk', 'dv', 'dbias'];
  results[0].forEach((f, i) => compare(`fused vs composed ${names[i]}`, f, Float64Array.from(results[1][i]), 1e-4));
});

async function gradCase(c: Case, impl: 'fused' | 'composed' = 'fused', note = ''): Promise<void> {
  const x = inputs(c);
  const ins = [x.q, x.k, x.v, ...(x.mask ? [x.mask] : []), ...(x.bias ? [x.bias] : [])];
  const mi = x.mask ? 3 : -1, bi = x.bias ? ins.length - 1 : -1;
  const wrt = [0, 1, 2, ...(bi > 0 ? [bi] : [])];
  await checkGrad({
    name: `attention ${impl}${note} ${label(c)}`, inputs: ins, wrt,
    dtypes: ins.map((_, i) => (i === mi && c.mask === 'i32' ? 'i32' : 'f32')),
    gpu: (...ts) => ops.attention(ts[0], ts[1], ts[2], { keyMask: mi > 0 ? ts[mi] : undefined, bias: bi > 0 ? ts[bi] : undefined, impl }).out,
    ref: (...as) => R.attention(as[0], as[1], as[2], { keyMask: mi > 0 ? as[mi] : undefined, bias: bi > 0 ? as[bi] : undefined }).out,
  }, rng);
}

test('gradients to q, k, v and the bias match finite differences of the reference', async () => {
  await gradCase({ B: 1, H: 2, Nq: 7, d: 16 });
  await gradCase({ B: 2, H: 2, Nq: 7, d: 16, mask: 'f32' });
  await gradCase({ B: 1, H: 2, Nq: 7, d: 16, bias: 'hnn' });
  await gradCase({ B: 2, H: 2, Nq: 5, Nk: 9, d: 24, mask: 'i32', bias: 'nn' });
  await gradCase({ B: 2, H: 2, Nq: 7, d: 16, mask: 'f32', bias: 'bhnn' }, 'composed');
});

/** q, k, v [B, H, N, d] as the QKV projection lays them out, [B, N, 3, H, d]. */
function toPacked(q: Arr, k: Arr, v: Arr): Arr {
  const [B, H, N, d] = q.shape;
  const out = arr([B, N, 3, H, d], new Array(3 * q.data.length).fill(0));
  [q, k, v].forEach((t, p) => {
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let n = 0; n < N; n++) for (let c = 0; c < d; c++) {
      out.data[((((b * N + n) * 3 + p) * H + h) * d) + c] = t.data[((b * H + h) * N + n) * d + c];
    }
  });
  return out;
}
/** Part p of a packed [B, N, 3, H, d] array (or a flat gradient of that layout), as [B, H, N, d]. */
function partOf(x: Arr | { shape: number[]; data: ArrayLike<number> }, p: number): Arr {
  const [B, N, , H, d] = x.shape;
  const out = arr([B, H, N, d], new Array(B * H * N * d).fill(0));
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let n = 0; n < N; n++) for (let c = 0; c < d; c++) {
    out.data[((b * H + h) * N + n) * d + c] = x.data[((((b * N + n) * 3 + p) * H + h) * d) + c];
  }
  return out;
}
/** [B, H, N, d] to [B, N, H, d]. */
function toBNHD(x: Arr): Arr {
  const [B, H, N, d] = x.shape;
  const out = arr([B, N, H, d], new Array(x.data.length).fill(0));
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let n = 0; n < N; n++) for (let c = 0; c < d; c++) {
    out.data[((b * N + n) * H + h) * d + c] = x.data[((b * H + h) * N + n) * d + c];
  }
  return out;
}

test('packed qkv [B, N, 3, H, d], out [B, N, H, d]: the same results as three tensors, gradients as one tensor by finite differences', async () => {
  for (const impl of ['fused', 'composed'] as const) {
    for (const c of [{ B: 2, H: 3, Nq: 17, d: 64, mask: 'f32', bias: 'hnn' }, { B: 1, H: 2, Nq: 9, d: 24 }] as Case[]) {
      const x = inputs(c);
      const qkv = toPacked(x.q, x.k, x.v);
      const gy = rand(rng, [c.B, c.H, c.Nq, c.d], { lo: -1, hi: 1 });
      const [packed, separate] = await asyncScope(async () => {
        const o = (): AttentionOptions => ({ keyMask: x.mask && upload(x.mask), bias: x.bias && upload(x.bias), returnProbs: true, impl });
        const p = upload(qkv).requireGrad();
        const rp = ops.attentionPacked(p, o());
        backward(rp.out, upload(toBNHD(gy)));
        const ts = [x.q, x.k, x.v].map((a) => upload(a).requireGrad());
        const rs = ops.attention(ts[0], ts[1], ts[2], o());
        backward(rs.out, upload(gy));
        const read = async (list: Tensor[]) => Promise.all(list.map((t) => t.data()));
        return [await read([rp.out, rp.lse, rp.probs!, p.grad!]), await read([rs.out, rs.lse, rs.probs!, ...ts.map((t) => t.grad!)])];
      });
      const sepOut = toBNHD(arr([c.B, c.H, c.Nq, c.d], Array.from(separate[0])));
      assert.equal(Array.from(packed[0]), Array.from(sepOut.data), `${impl} ${label(c)}: out packed = separate`);
      for (let i = 1; i < 3; i++) assert.equal(Array.from(packed[i]), Array.from(separate[i]), `${impl} ${label(c)}: output ${i} packed = separate`);
      for (let i = 0; i < 3; i++) {
        const part = partOf({ shape: qkv.shape, data: packed[3] }, i);
        assert.equal(Array.from(part.data), Array.from(separate[3 + i]), `${impl} ${label(c)}: gradient part ${i} packed = separate`);
      }
    }
    const c: Case = { B: 2, H: 2, Nq: 7, d: 16, mask: 'f32', bias: 'nn' };
    const x = inputs(c);
    await checkGrad({
      name: `attentionPacked ${impl} ${label(c)}`, inputs: [toPacked(x.q, x.k, x.v), x.mask!, x.bias!], wrt: [0, 2],
      gpu: (p, m, b) => ops.attentionPacked(p, { keyMask: m, bias: b, impl }).out,
      ref: (p, m, b) => toBNHD(R.attention(partOf(p, 0), partOf(p, 1), partOf(p, 2), { keyMask: m, bias: b }).out),
    }, rng);
  }
  await asyncScope(async () => {
    assert.throws(() => ops.attentionPacked(upload(rand(rng, [1, 5, 2, 2, 8]))), /packed qkv must be \[B, N, 3, H, d\], got \[1, 5, 2, 2, 8\]/);
    assert.throws(() => ops.attentionPacked(upload(rand(rng, [1, 5, 3, 2, 8])), { keyMask: upload(rand(rng, [1, 4])) }), /keyMask must be \[B, Nk\] = \[1, 5\]/);
  });
});

test('a row with every key masked gives zeros, lse -inf, zero probabilities and zero gradients (no NaN)', async () => {
  await asyncScope(async () => {
    const q = upload(rand(rng, [2, 2, 5, 16])).requireGrad(), k = upload(rand(rng, [2, 2, 6, 16])).requireGrad();
    const v = upload(rand(rng, [2, 2, 6, 16])).requireGrad();
    const mask = ops.tensor([1, 0, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0], [2, 6]);
    const r = ops.attention(q, k, v, { keyMask: mask, returnProbs: true });
    backward(r.out, ops.fill(r.out.shape, 1));
    const out = await r.out.data(), lse = await r.lse.data(), p = await r.probs!.data();
    const half = (a: Float32Array): Float32Array => a.subarray(a.length / 2);
    assert.ok(half(out).every((x) => x === 0), 'output of batch row 1 is zeros');
    assert.ok(half(lse).every((x) => x === -Infinity), 'lse of batch row 1 is -inf');
    assert.ok(half(p).every((x) => x === 0), 'probabilities of batch row 1 are zeros');
    for (const t of [q, k, v]) {
      const g = await t.grad!.data();
      assert.ok(g.every((x) => Number.isFinite(x)), 'gradients are finite');
      assert.ok(half(g).every((x) => x === 0), 'no gradient through the empty rows');
    }
    // Keys 1 and 4 of batch row 0 are masked: no gradient reaches them.
    const dk = await k.grad!.data();
    for (const j of [1, 4]) for (const h of [0, 1]) assert.ok(dk.subarray((h * 6 + j) * 16, (h * 6 + j + 1) * 16).every((x) => x === 0));
  });
});

test('shape errors name the op and the shapes', async () => {
  await asyncScope(async () => {
    const q = upload(rand(rng, [1, 2, 5, 16])), k = upload(rand(rng, [1, 2, 6, 16]));
    assert.throws(() => ops.attention(q, k, upload(rand(rng, [1, 2, 5, 16]))), /attention: v must have k's shape \[1, 2, 6, 16\], got q \[1, 2, 5, 16\], k \[1, 2, 6, 16\], v \[1, 2, 5, 16\]/);
    assert.throws(() => ops.attention(q, upload(rand(rng, [1, 2, 6, 8])), k), /attention: k must be \[1, 2, Nk, 16\]/);
    assert.throws(() => ops.attention(upload(rand(rng, [2, 5, 16])), k, k), /attention: q, k and v must be \[B, H, N, d\], got q \[2, 5, 16\]/);
    assert.throws(() => ops.attention(q, k, k, { keyMask: upload(rand(rng, [1, 5])) }), /attention: keyMask must be \[B, Nk\] = \[1, 6\], got \[1, 5\]/);
    assert.throws(() => ops.attention(q, k, k, { bias: upload(rand(rng, [3, 5, 6])) }), /attention: bias \[3, 5, 6\] must broadcast/);
    const big = upload(rand(rng, [1, 1, 2, 130]));
    assert.throws(() => ops.attention(big, big, big), /attention: the fused kernels take a head dimension d that is a multiple of 4 up to 128, got 130/);
    // The composed path has no such limit, and the engine stays usable.
    const r = ops.attention(big, big, big, { impl: 'composed' });
    assert.is((await r.out.data()).length, 260);
  });
});

test.run();
