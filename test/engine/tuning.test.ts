import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setup } from '../harness.js';
import { engine } from '../../src/engine/engine.js';
import { setTuning, submitBatchFor, tuning, tuningFor, type TuningOverride } from '../../src/engine/tuning.js';

await setup();
const test = suite('tuning');

test('every adapter kind has every choice; the running adapter gets its own', () => {
  for (const kind of ['gpu', 'llvmpipe', 'swiftshader'] as const) {
    const t = tuningFor(kind);
    assert.ok(t.matmul.tm > 0 && t.attention.wg > 0 && t.shift.tr > 0 && t.submitBatch > 0, kind);
    assert.ok(['blocked', 'registers', 'matrices'].includes(t.conv));
  }
  setTuning();
  assert.equal(tuning(), tuningFor(engine().gpu.kind));
});

test('setTuning overrides one section at a time and restores it', () => {
  const kind = engine().gpu.kind;
  try {
    setTuning({ matmul: { tm: 8 }, conv: 'registers' });
    setTuning({ attention: { rcap: 2 } });
    let t = tuning();
    assert.is(t.matmul.tm, 8);
    assert.is(t.matmul.tn, tuningFor(kind).matmul.tn, 'the other fields of a section stay');
    assert.is(t.conv, 'registers');
    assert.is(t.attention.rcap, 2);
    setTuning({ matmul: undefined });
    t = tuning();
    assert.equal(t.matmul, tuningFor(kind).matmul);
    assert.is(t.attention.rcap, 2, 'a section not named stays overridden');
    setTuning({ submitBatch: 7 });
    assert.is(submitBatchFor(kind), 7);
  } finally { setTuning(); }
  assert.equal(tuning(), tuningFor(kind));
  assert.is(submitBatchFor(kind), tuningFor(kind).submitBatch);
});

test('bad overrides name what is wrong and change nothing', () => {
  assert.throws(() => setTuning({ rows: 'warp' } as unknown as TuningOverride), /setTuning: rows must be loop or subgroups, got 'warp'/);
  assert.throws(() => setTuning({ matmull: {} } as unknown as TuningOverride), /unknown section 'matmull' \(matmul, attention, shift, conv, rows, submitBatch\)/);
  assert.throws(() => setTuning({ conv: 'winograd' } as unknown as TuningOverride), /conv must be blocked, registers or matrices, got 'winograd'/);
  assert.equal(tuning(), tuningFor(engine().gpu.kind));
});

test.run();
