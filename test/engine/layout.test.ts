import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, rand, Rng, checkForward, checkGrad, upload, download, arr, type GradCase } from '../harness.js';
import * as ops from '../../src/engine/ops/index.js';
import * as R from '../../src/engine/reference/layout.js';
import { asyncScope } from '../../src/engine/tensor.js';

await setup();
const rng = new Rng(4321);
const test = suite('layout');

const ints = (values: number[]) => arr([values.length], values);

test('permute: forward on several ranks (i32 too), backward is the inverse permute', async () => {
  const cases: [number[], number[]][] = [
    [[2, 3, 4], [2, 0, 1]], [[1, 5, 1, 3], [3, 1, 0, 2]], [[7], [0]], [[3, 5], [1, 0]],
    [[2, 3, 4, 5, 2], [4, 2, 0, 3, 1]], [[2, 1, 3, 1, 2, 2, 1, 3], [7, 6, 5, 4, 3, 2, 1, 0]],
    [[2, 3, 4, 5, 2, 3, 2, 3, 2], [7, 8, 0, 1, 2, 3, 4, 6, 5]], // rank 9: fits once contiguous axes merge
  ];
  for (const [shape, axes] of cases) {
    await checkForward({ name: 'permute', inputs: [rand(rng, shape)], gpu: (x) => ops.permute(x, axes), ref: (x) => R.permute(x, axes) });
  }
  await checkForward({ name: 'permute i32', inputs: [rand(rng, [3, 4, 5], { lo: -50, hi: 50, int: true })], dtypes: ['i32'], gpu: (x) => ops.permute(x, [1, 2, 0]), ref: (x) => R.permute(x, [1, 2, 0]) });
  await checkGrad({ name: 'permute', inputs: [rand(rng, [2, 3, 4])], gpu: (x) => ops.permute(x, [2, 0, 1]), ref: (x) => R.permute(x, [2, 0, 1]) }, rng);
  await checkGrad({ name: 'permute', inputs: [rand(rng, [3, 1, 2, 5])], gpu: (x) => ops.permute(x, [3, 1, 0, 2]), ref: (x) => R.permute(x, [3, 1, 0, 2]) }, rng);
});

test('strided copies in runs: a last axis contiguous in both operands is copied RUN elements per invocation', async () => {
  assert.is(ops.copyRun([3, 5, 48], [[48, 144, 1], [240, 48, 1]]), 16);
  assert.is(ops.copyRun([3, 6], [[6, 1], [1, 3]]), 1); // the destination's last axis is strided
  assert.is(ops.copyRun([4, 6], [[6, 1], [6, 1]]), 2);
  assert.is(ops.copyRun([4, 7], [[7, 1], [7, 1]]), 1);
  // The attention layout change of the models: [B, N, 3, H, d] -> [3, B, H, N, d], runs of 16 and 8 and 4.
  for (const d of [64, 24, 12]) {
    await checkForward({ name: `permute qkv d=${d}`, inputs: [rand(rng, [2, 5, 3, 2, d])], gpu: (x) => ops.permute(x, [2, 0, 3, 1, 4]), ref: (x) => R.permute(x, [2, 0, 3, 1, 4]) });
  }
  await checkGrad({ name: 'permute in runs', inputs: [rand(rng, [3, 2, 8])], gpu: (x) => ops.permute(x, [1, 0, 2]), ref: (x) => R.permute(x, [1, 0, 2]) }, rng);
  for (const [shape, b, e] of [[[3, 8], [0, 2], [3, 6]], [[2, 3, 16], [1, 0, 3], [2, 2, 13]], [[1, 1], [0, 0], [1, 1]]]) {
    await checkGrad({ name: `slice in runs ${shape}`, inputs: [rand(rng, shape)], gpu: (x) => ops.slice(x, b, e), ref: (x) => R.slice(x, b, e) }, rng);
  }
  await checkForward({ name: 'slice in runs', inputs: [rand(rng, [3, 4, 8])], gpu: (x) => ops.slice(x, [1, 1, 4], [3, 3, 8]), ref: (x) => R.slice(x, [1, 1, 4], [3, 3, 8]) });
  await checkForward({ name: 'concat in runs', inputs: [rand(rng, [2, 3, 12]), rand(rng, [2, 1, 12])], gpu: (a, b) => ops.concat([a, b], 1), ref: (a, b) => R.concat([a, b], 1) });
  await checkForward({ name: 'concat last axis in runs', inputs: [rand(rng, [3, 4]), rand(rng, [3, 6])], gpu: (a, b) => ops.concat([a, b], 1), ref: (a, b) => R.concat([a, b], 1) });
});

test('transpose: forward and backward', async () => {
  await checkForward({ name: 'transpose', inputs: [rand(rng, [3, 5])], gpu: (x) => ops.transpose(x), ref: (x) => R.transpose(x, -2, -1) });
  await checkForward({ name: 'transpose', inputs: [rand(rng, [2, 3, 1, 5])], gpu: (x) => ops.transpose(x, 0, -1), ref: (x) => R.transpose(x, 0, -1) });
  await checkGrad({ name: 'transpose', inputs: [rand(rng, [2, 3, 4])], gpu: (x) => ops.transpose(x, 1, 2), ref: (x) => R.transpose(x, 1, 2) }, rng);
});

test('slice: negative and clamped bounds, partial lists, empty results; backward scatters into zeros', async () => {
  const cases: [number[], number[], number[]][] = [
    [[5, 7], [1, -3], [4, 7]], [[2, 3, 4], [0, 1], [2, 3]], [[1, 9], [0, 2], [1, -1]],
    [[6], [-100], [100]], [[3, 1, 65], [1, 0, 3], [3, 1, 64]], [[4], [2], [1]],
  ];
  for (const [shape, s, e] of cases) {
    await checkForward({ name: 'slice', inputs: [rand(rng, shape)], gpu: (x) => ops.slice(x, s, e), ref: (x) => R.slice(x, s, e) });
  }
  await checkForward({ name: 'slice i32', inputs: [rand(rng, [4, 6], { lo: -9, hi: 9, int: true })], dtypes: ['i32'], gpu: (x) => ops.slice(x, [1, 2], [3, 5]), ref: (x) => R.slice(x, [1, 2], [3, 5]) });
  for (const [shape, s, e] of cases.slice(0, 5)) {
    await checkGrad({ name: 'slice', inputs: [rand(rng, shape)], gpu: (x) => ops.slice(x, s, e), ref: (x) => R.slice(x, s, e) }, rng);
  }
});

test('concat: several axes and sizes, backward slices the gradient', async () => {
  const cases: [number[][], number][] = [
    [[[2, 3], [4, 3], [1, 3]], 0], [[[2, 3, 4], [2, 1, 4], [2, 5, 4]], 1], [[[3, 2], [3, 7]], -1], [[[5]], 0], [[[1, 1, 1], [1, 1, 2]], 2],
  ];
  for (const [shapes, axis] of cases) {
    await checkForward({ name: 'concat', inputs: shapes.map((s) => rand(rng, s)), gpu: (...xs) => ops.concat(xs, axis), ref: (...xs) => R.concat(xs, axis) });
    await checkGrad({ name: 'concat', inputs: shapes.map((s) => rand(rng, s)), gpu: (...xs) => ops.concat(xs, axis), ref: (...xs) => R.concat(xs, axis) }, rng);
  }
  await checkForward({ name: 'concat i32', inputs: [rand(rng, [2, 2], { int: true }), rand(rng, [2, 3], { int: true })], dtypes: ['i32', 'i32'], gpu: (a, b) => ops.concat([a, b], 1), ref: (a, b) => R.concat([a, b], 1) });
});

test('gather (index_select): repeated and out-of-range indices; gradients sum over repeats', async () => {
  const cases: [number[], number[], number][] = [
    [[5, 3], [4, 0, 4, 2], 0], [[2, 7, 3], [6, 1, 1, 0, 6, 3, 2, 5], 1], [[3, 1, 4], [3, 3, 0], -1], [[9], [8], 0], [[4, 2], [-1, 2, 4, 1], 0],
  ];
  for (const [shape, idx, axis] of cases) {
    const c: GradCase = { name: 'gather', inputs: [rand(rng, shape), ints(idx)], dtypes: ['f32', 'i32'], gpu: (x, i) => ops.gather(x, i, axis), ref: (x, i) => R.gather(x, i, axis) };
    await checkForward(c);
    await checkGrad(c, rng);
  }
  await checkForward({ name: 'gather i32', inputs: [rand(rng, [6, 2], { lo: -9, hi: 9, int: true }), ints([5, 0, 5])], dtypes: ['i32', 'i32'], gpu: (x, i) => ops.gather(x, i, 0), ref: (x, i) => R.gather(x, i, 0) });
});

test('gatherRows: per-row selection, repeats sum in the gradient', async () => {
  const cases: [number[], number[][]][] = [
    [[2, 6, 3], [[5, 0, 2, 0], [1, 1, 4, 3]]], [[1, 5, 1], [[4, 2]]], [[3, 4, 7], [[3], [0], [2]]], [[2, 3, 2], [[0, -1, 3], [2, 2, 2]]],
  ];
  for (const [shape, rows] of cases) {
    const idx = arr([rows.length, rows[0].length], rows.flat());
    const c: GradCase = { name: 'gatherRows', inputs: [rand(rng, shape), idx], dtypes: ['f32', 'i32'], gpu: (x, i) => ops.gatherRows(x, i), ref: R.gatherRows };
    await checkForward(c);
    await checkGrad(c, rng);
  }
});

test('scatterRows: rows replaced (last write wins), gradients to base and src', async () => {
  const cases: [number[], number[][]][] = [
    [[2, 6, 3], [[5, 0, 2], [1, 4, 3]]], [[1, 4, 1], [[3]]], [[2, 5, 2], [[1, 1, 4], [0, 9, -2]]], [[3, 3, 4], [[0, 1, 2], [2, 1, 0], [1, 1, 1]]],
  ];
  for (const [shape, rows] of cases) {
    const idx = arr([rows.length, rows[0].length], rows.flat());
    const src = rand(rng, [shape[0], rows[0].length, shape[2]]);
    const c: GradCase = { name: 'scatterRows', inputs: [rand(rng, shape), idx, src], dtypes: ['f32', 'i32', 'f32'], gpu: (b, i, s) => ops.scatterRows(b, i, s), ref: R.scatterRows };
    await checkForward(c);
    await checkGrad(c, rng);
  }
  // gatherRows undoes scatterRows on the replaced rows.
  await asyncScope(async () => {
    const base = upload(rand(rng, [2, 6, 3])), src = upload(rand(rng, [2, 2, 3]));
    const idx = upload(arr([2, 2], [4, 1, 0, 5]), 'i32');
    const back = await download(ops.gatherRows(ops.scatterRows(base, idx, src), idx));
    assert.equal([...back.data], [...(await download(src)).data]);
  });
});

test('shape errors name the op and the shapes', async () => {
  await asyncScope(async () => {
    const a = upload(rand(rng, [3, 4])), b = upload(rand(rng, [2, 5]));
    const i2 = upload(arr([2, 2], [0, 1, 1, 0]), 'i32'), i1 = upload(ints([0, 2]), 'i32');
    assert.throws(() => ops.permute(a, [0]), /permute: 1 axes \[0\] for a tensor of rank 2 \[3, 4\]/);
    assert.throws(() => ops.permute(a, [1, 1]), /permute: axes \[1,1\] repeat an axis/);
    const r9 = upload(rand(rng, [2, 3, 2, 3, 2, 3, 2, 3, 2]));
    assert.throws(() => ops.permute(r9, [8, 1, 0, 3, 2, 5, 4, 7, 6]), /permute: 9 non-mergeable axes exceed the kernel's 8/);
    assert.throws(() => ops.transpose(a, 0, 2), /transpose: axis 2 is out of range for rank 2/);
    assert.throws(() => ops.slice(a, [0, 0, 0], [1, 1, 1]), /slice: starts \[0,0,0\] \/ ends \[1,1,1\] name more axes than \[3, 4\]/);
    assert.throws(() => ops.concat([a, b], 0), /concat: shapes f32\[3, 4\], f32\[2, 5\] do not match outside axis 0/);
    assert.throws(() => ops.gather(a, i2, 0), /gather: indices must be 1-D, got \[2, 2\]/);
    assert.throws(() => ops.gather(a, a, 0), /gather: indices must be i32, got f32 \[3, 4\]/);
    assert.throws(() => ops.gatherRows(a, i2), /gatherRows: expected x \[B, N, D\] and idx \[B, K\] with the same B, got \[3, 4\] and \[2, 2\]/);
    const base = upload(rand(rng, [2, 4, 3]));
    assert.throws(() => ops.scatterRows(base, i2, upload(rand(rng, [2, 3, 3]))), /scatterRows: src must be f32\[2, 2, 3\] for base \[2, 4, 3\] and idx \[2, 2\], got f32\[2, 3, 3\]/);
    assert.is((await download(ops.gather(a, i1, 1))).data.length, 6);
  });
});

test.run();
