// The shared flag readers of src/cli/args.ts: every command's numbers go through them, so each
// accepts what its help says and refuses the rest with a UsageError naming the flag and the value.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { UsageError, fractionFlag, fractionListFlag, intFlag, numFlag, parseFlags, ratioFlag } from '../../src/cli/args.js';

const test = suite('cli: flag readers');
const values = (o: Record<string, string>): Map<string, string> => new Map(Object.entries(o));

/** The reader's UsageError message for this value (fails when it does not throw one). */
function refusal(read: () => unknown): string {
  try { read(); } catch (e) {
    assert.ok(e instanceof UsageError, `not a UsageError: ${(e as Error).message}`);
    return (e as Error).message;
  }
  assert.unreachable('no error');
  return '';
}

test('absent flags read as undefined', () => {
  const v = values({});
  assert.equal([intFlag(v, '--n', 1), numFlag(v, '--lr', 0), fractionFlag(v, '--eps'), fractionListFlag(v, '--eps'), ratioFlag(v, '--mask-ratio')],
    [undefined, undefined, undefined, undefined, undefined]);
});

test('integers and numbers', () => {
  assert.is(intFlag(values({ '--n': '12' }), '--n', 1), 12);
  assert.match(refusal(() => intFlag(values({ '--n': '0' }), '--n', 1)), /--n must be an integer ≥ 1, got '0'/);
  assert.match(refusal(() => intFlag(values({ '--n': '1.5' }), '--n', 1)), /got '1.5'/);
  assert.is(numFlag(values({ '--lr': '1e-4' }), '--lr', 0), 1e-4);
  assert.match(refusal(() => numFlag(values({ '--lr': '' }), '--lr', 0)), /--lr must be a number ≥ 0, got ''/);
});

test('radii: numbers, fractions, inf where allowed, lists', () => {
  assert.is(fractionFlag(values({ '--eps': '8/255' }), '--eps'), 8 / 255);
  assert.is(fractionFlag(values({ '--eps': '0.3' }), '--eps'), 0.3);
  assert.is(fractionFlag(values({ '--eta': 'inf' }), '--eta', { inf: true }), Infinity);
  assert.match(refusal(() => fractionFlag(values({ '--eps': 'inf' }), '--eps')), /--eps must be a number ≥ 0 or a fraction like 8\/255, got 'inf'/);
  assert.match(refusal(() => fractionFlag(values({ '--eta': 'wide' }), '--eta', { inf: true })), /--eta must be a number ≥ 0, inf or a fraction/);
  assert.equal(fractionListFlag(values({ '--eps': '2/255, 8/255,0.1' }), '--eps'), [2 / 255, 8 / 255, 0.1]);
  assert.match(refusal(() => fractionListFlag(values({ '--eps': '2/255,x' }), '--eps')), /comma-separated; got 'x'/);
  assert.match(refusal(() => fractionListFlag(values({ '--eps': '0,8/255' }), '--eps')), /--eps must be positive, got '0'/);
});

test('ratios: [0, 1), or (0, 1) when positive', () => {
  assert.is(ratioFlag(values({ '--mask-ratio': '0' }), '--mask-ratio'), 0);
  assert.is(ratioFlag(values({ '--mask-ratio': '0.75' }), '--mask-ratio', { positive: true }), 0.75);
  assert.match(refusal(() => ratioFlag(values({ '--mask-ratio': '1' }), '--mask-ratio')), /--mask-ratio must be in \[0, 1\), got '1'/);
  assert.match(refusal(() => ratioFlag(values({ '--mask-ratio': '0' }), '--mask-ratio', { positive: true })), /--mask-ratio must be in \(0, 1\), got '0'/);
  assert.match(refusal(() => ratioFlag(values({ '--mask-ratio': 'half' }), '--mask-ratio')), /got 'half'/);
});

test('parseFlags feeds them: valued flags by name', () => {
  const f = parseFlags(['--eps', '4/255,8/255', '--mask-ratio', '0.5'], { valued: ['--eps', '--mask-ratio'] });
  assert.equal([fractionListFlag(f.values, '--eps'), ratioFlag(f.values, '--mask-ratio')], [[4 / 255, 8 / 255], 0.5]);
});

test.run();
