// The kernel benchmark's shared cases (bench/kernel_cases.ts), which `amrm bench kernels` and the
// browser lab's Kernels tab both run: fused attention and the patch loss among them, timed into
// rows of the report's format, and the page's default subset.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup } from '../harness.js';
import { engine } from '../../src/engine/engine.js';
import { setTuning } from '../../src/engine/tuning.js';
import { kernelCases, selectCases, timeKernelCases, rowLine, type KernelBenchRow } from '../../bench/kernel_cases.js';
import { PAGE_KERNELS, pageCases } from '../../web/lab/kernels.js';

await setup();
const test = suite('bench kernel cases');

test('every case is named once, quick and full, attention and patch_loss among them', () => {
  for (const quick of [true, false]) {
    const names = kernelCases(quick, false).map((c) => `${c.kernel} ${c.shape}`);
    assert.is(new Set(names).size, names.length, names.join(', '));
    for (const k of ['matmul', 'softmax', 'layernorm', 'attention', 'patch_loss', 'conv2d', 'add', 'gelu']) {
      assert.ok(names.some((n) => n.startsWith(`${k} `)), `${k} in ${quick ? 'quick' : 'full'}`);
    }
  }
  assert.ok(kernelCases(false, true).some((c) => c.shape === '4096³'), '4096³ on a hardware GPU');
  assert.not.ok(kernelCases(false, false).some((c) => c.shape === '4096³'));
});

test('the page runs the quick cases of matmul, softmax, layernorm, attention and patch_loss unless told otherwise', () => {
  const cases = pageCases();
  assert.equal([...new Set(cases.map((c) => c.kernel))], PAGE_KERNELS);
  assert.equal(cases.map((c) => c.shape), kernelCases(true).filter((c) => PAGE_KERNELS.includes(c.kernel)).map((c) => c.shape));
  assert.equal(pageCases(/^conv2d /).map((c) => c.kernel), ['conv2d']);
});

test('attention and patch_loss time into rows of the --json format with positive rates', async () => {
  // Small attention splits: the adapters' default ones take minutes to compile on llvmpipe (the
  // benchmark itself times the defaults).
  setTuning({ attention: { rcap: 4 } });
  try {
    const cases = selectCases(kernelCases(true), /^(attention|patch_loss) /);
    assert.equal(cases.map((c) => c.kernel), ['attention', 'patch_loss']);
    const seen: KernelBenchRow[] = [];
    const starts: string[] = [];
    const { rows, skipped } = await timeKernelCases(cases, {
      reps: 1, composed: true, onRow: (r) => seen.push(r), onCase: (c, i, n) => starts.push(`${c.kernel} ${i}/${n}`),
    });
    assert.equal(skipped, []);
    assert.equal(starts, ['attention 0/2', 'patch_loss 1/2']);
    assert.equal(seen, rows);
    assert.equal(rows.map((r) => `${r.kernel} ${r.impl}`), ['attention amrm', 'attention amrm-composed', 'patch_loss amrm', 'patch_loss amrm-composed']);
    for (const r of rows) {
      const rate = r.kernel === 'attention' ? 'gflops' : 'gbps';
      assert.equal(Object.keys(r).sort(), ['adapter', 'impl', 'kernel', 'median_ms', 'shape', rate].sort(), JSON.stringify(r));
      assert.is(r.adapter, engine().gpu.kind);
      assert.is(r.shape, cases.find((c) => c.kernel === r.kernel)!.shape);
      assert.ok(r.median_ms > 0 && Number.isFinite(r.median_ms), JSON.stringify(r));
      assert.ok(r[rate]! > 0 && Number.isFinite(r[rate]), JSON.stringify(r));
      assert.match(rowLine(r), rate === 'gflops' ? / GFLOP\/s$/ : / GB\/s$/);
    }
    let error = '';
    await timeKernelCases(cases, { reps: 0 }).catch((e: Error) => { error = e.message; });
    assert.match(error, /reps must be a positive integer, got 0/);
  } finally {
    setTuning({ attention: undefined });
  }
});

test.run();
