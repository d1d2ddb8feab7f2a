import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, rand, Rng, arr, checkForward, checkGrad, upload, type Arr } from '../harness.js';
import * as ops from '../../src/engine/ops/index.js';
import { asyncScope } from '../../src/engine/tensor.js';

await setup();
const rng = new Rng(606);
const test = suite('modulate');

/** out[b, n, d] = f(b, n, d) over x's shape [B, N, D]; v(t, b, d) reads a [B, 1, D] vector. */
function map3(shape: number[], f: (i: number, k: number) => number): Arr {
  const [, N, D] = shape;
  const out = arr(shape, new Array(shape[0] * N * D).fill(0));
  for (let i = 0; i < out.data.length; i++) out.data[i] = f(i, Math.floor(i / (N * D)) * D + (i % D));
  return out;
}
const refModulate = (x: Arr, shift: Arr, scale: Arr): Arr => map3(x.shape, (i, k) => x.data[i] * (1 + scale.data[k]) + shift.data[k]);
const refGated = (r: Arr, gate: Arr, x: Arr): Arr => map3(x.shape, (i, k) => r.data[i] + gate.data[k] * x.data[i]);

const SHAPES = [[2, 5, 8], [1, 17, 12], [3, 1, 5]];

test('modulate: x·(1 + scale) + shift per image, against float64; gradients to all three by finite differences', async () => {
  for (const [B, N, D] of SHAPES) {
    const ins = [rand(rng, [B, N, D]), rand(rng, [B, 1, D]), rand(rng, [B, 1, D])];
    await checkForward({ name: 'modulate', inputs: ins, gpu: (x, s, c) => ops.modulate(x, s, c), ref: refModulate });
    await checkGrad({ name: 'modulate', inputs: ins, gpu: (x, s, c) => ops.modulate(x, s, c), ref: refModulate }, rng);
  }
});

test('gatedResidual: r + gate·x per image, against float64; gradients to all three by finite differences', async () => {
  for (const [B, N, D] of SHAPES) {
    const ins = [rand(rng, [B, N, D]), rand(rng, [B, 1, D]), rand(rng, [B, N, D])];
    await checkForward({ name: 'gatedResidual', inputs: ins, gpu: (r, g, x) => ops.gatedResidual(r, g, x), ref: refGated });
    await checkGrad({ name: 'gatedResidual', inputs: ins, gpu: (r, g, x) => ops.gatedResidual(r, g, x), ref: refGated }, rng);
  }
});

test('shape errors name the op, the operand and the shapes', async () => {
  await asyncScope(async () => {
    const x = upload(rand(rng, [2, 3, 4]));
    assert.throws(() => ops.modulate(x, upload(rand(rng, [2, 1, 4])), upload(rand(rng, [2, 3, 4]))), /modulate: scale must be \[2, 1, 4\] for x \[2, 3, 4\], got \[2, 3, 4\]/);
    assert.throws(() => ops.modulate(upload(rand(rng, [6, 4])), x, x), /modulate: x must be \[B, N, D\], got \[6, 4\]/);
    assert.throws(() => ops.gatedResidual(upload(rand(rng, [2, 3, 5])), upload(rand(rng, [2, 1, 4])), x), /gatedResidual: r \[2, 3, 5\] must have x's shape \[2, 3, 4\]/);
  });
});

test.run();
