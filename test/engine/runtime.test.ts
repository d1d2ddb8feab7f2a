import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup, upload, download, Rng, rand } from '../harness.js';
import { log, exp, add, sum, tensor, fill } from '../../src/engine/ops/index.js';
import { empty, scope } from '../../src/engine/tensor.js';
import { engine } from '../../src/engine/engine.js';
import { bucketBytes, grid1d } from '../../src/engine/runtime.js';

await setup();
const rng = new Rng(3);
const test = suite('runtime');

test('the adapter is the one asked for, with its limits and features read from the device', () => {
  const gpu = engine().gpu;
  const want = process.env.AMRM_ADAPTER;
  if (want && want !== 'auto') assert.is(gpu.kind, want);
  assert.ok(gpu.limits.maxStorageBufferBindingSize >= 1 << 27, 'storage binding limit');
  assert.ok(Array.isArray(gpu.features));
  if (gpu.kind === 'llvmpipe') assert.is(gpu.featureLevel, 'compatibility');
  if (gpu.kind === 'swiftshader') assert.ok(gpu.features.includes('subgroups') && gpu.features.includes('timestamp-query'));
});

test('new outputs are poisoned in tests, so an unwritten element reads as NaN', async () => {
  const t = empty([5], 'f32', 'probe');
  const v = await t.data();
  assert.ok(v.every((x) => Number.isNaN(x)));
  t.dispose();
});

test('a tensor larger than the adapter allows gets a clear error and the engine stays usable', async () => {
  const max = engine().runtime.maxBinding;
  const n = Math.floor(max / 4) + 1024;
  assert.throws(() => fill([n], 0), /needs \d+ bytes, more than this adapter allows in one storage binding/);
  const s = await download(sum(fill([10], 2)));
  assert.is(s.data[0], 20);
});

test('the NaN check names the op that produced NaN or Inf, at the next readback', async () => {
  const e = engine();
  e.debug.checkNaN = true;
  try {
    const x = tensor([1, -1, 2], [3]);
    const y = log(x);
    const z = add(y, y);
    let message = '';
    try { await z.data(); } catch (err) { message = (err as Error).message; }
    assert.match(message, /NaN check: op log -> \[3\] produced NaN or Inf/);
    // Usable afterwards, and clean ops pass.
    const ok = await exp(tensor([0, 1], [2])).data();
    assert.ok(Math.abs(ok[1] - Math.E) < 1e-5);
    for (const t of [x, y, z]) t.dispose();
  } finally {
    e.debug.checkNaN = false;
  }
});

test('buffers are pooled by size bucket and reused after submission', async () => {
  assert.is(bucketBytes(1), 16);
  assert.is(bucketBytes(4100), 5120);
  assert.ok(bucketBytes(1 << 20) === 1 << 20);
  const rt = engine().runtime;
  const before = rt.stats();
  scope(() => { for (let i = 0; i < 50; i++) upload(rand(rng, [1000])); });
  rt.submit();
  const after = rt.stats();
  assert.is(after.bytesInUse, before.bytesInUse);
  assert.ok(after.bytesPooled >= 4096);
});

test('bind groups are reused when a dispatch binds the same pipeline and buffers again, and stay right across trim()', async () => {
  const rt = engine().runtime;
  const device = rt.device;
  const create = device.createBindGroup.bind(device);
  let created = 0;
  device.createBindGroup = (d: GPUBindGroupDescriptor) => { created++; return create(d); };
  try {
    const a = rand(rng, [300]), b = rand(rng, [300]);
    const sums: number[] = [];
    // A loop's steps: the same shapes, so the pool hands the same buffers back each round.
    const round = async (): Promise<void> => {
      const [x, y] = [upload(a), upload(b)];
      const z = add(x, y);
      const v = (await download(z)).data;
      sums.push(v.reduce((s, q) => s + q, 0));
      v.forEach((q, i) => assert.ok(Math.abs(q - (a.data[i] + b.data[i])) < 1e-6));
      for (const t of [x, y, z]) t.dispose();
      rt.submit();
    };
    await round();
    await round();
    const warm = created;
    for (let i = 0; i < 4; i++) await round();
    assert.is(created, warm, 'no new bind group once the buffers repeat');
    rt.trim(); // every pooled buffer destroyed: new buffers, new bind groups, same results
    await round();
    assert.ok(created > warm, 'new buffers after trim get new bind groups');
    assert.ok(sums.every((v) => Math.abs(v - sums[0]) < 1e-3));
  } finally {
    device.createBindGroup = create;
  }
});

test('large launches are split over a 2-D grid', () => {
  assert.equal(grid1d(64 * 65535, 64), [65535, 1]);
  const [x, y] = grid1d(64 * 65536, 64);
  assert.ok(x <= 65535 && x * y >= 65536);
});

test.run();
