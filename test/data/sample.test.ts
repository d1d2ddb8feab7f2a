import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { sampleIndices, parseIndexRange } from '../../src/data/index.js';

const test = suite('data: sampling and index lists');

const throwsLike = (f: () => unknown, re: RegExp) => {
  try { f(); } catch (e) { assert.match((e as Error).message, re); return; }
  assert.unreachable(`expected an error matching ${re}`);
};

test('sampleIndices: deterministic, distinct, in range, seed-dependent, prefix-stable', () => {
  for (const [total, n] of [[10, 10], [10000, 500], [50000, 37], [1, 1], [5, 0], [2 ** 31 - 1, 1000]]) {
    const a = sampleIndices(total, n, 42);
    assert.equal(Array.from(a), Array.from(sampleIndices(total, n, 42)));
    assert.is(a.length, n);
    assert.is(new Set(a).size, n, 'without replacement');
    assert.ok(a.every((k) => k >= 0 && k < total));
  }
  assert.equal(Array.from(sampleIndices(10, 10, 3)).sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.not.equal(Array.from(sampleIndices(10000, 20, 1)), Array.from(sampleIndices(10000, 20, 2)));
  assert.equal(Array.from(sampleIndices(10000, 50, 9)), Array.from(sampleIndices(10000, 200, 9).subarray(0, 50)));
  // Every index is about equally likely (2,000 draws of 5 from 10: each index ~1,000 times).
  const hits = new Array(10).fill(0);
  for (let s = 0; s < 2000; s++) for (const k of sampleIndices(10, 5, s)) hits[k]++;
  assert.ok(hits.every((h) => h > 850 && h < 1150), `counts ${hits}`);
  throwsLike(() => sampleIndices(10, 11, 0), /n 11 is not an integer in 0\.\.10/);
  throwsLike(() => sampleIndices(-1, 0, 0), /total -1/);
  throwsLike(() => sampleIndices(10, 2.5, 0), /n 2\.5/);
});

test('parseIndexRange: single indices, ranges, lists; clear errors', () => {
  assert.equal(Array.from(parseIndexRange('0-499')), Array.from({ length: 500 }, (_, i) => i));
  assert.equal(Array.from(parseIndexRange('3,7,10-12')), [3, 7, 10, 11, 12]);
  assert.equal(Array.from(parseIndexRange(' 5 , 1 - 2 ')), [5, 1, 2]);
  assert.equal(Array.from(parseIndexRange('9', 10)), [9]);
  throwsLike(() => parseIndexRange(''), /empty index list/);
  throwsLike(() => parseIndexRange('1,,2'), /"" in "1,,2" is not an index or a range/);
  throwsLike(() => parseIndexRange('a-3'), /"a-3" .* is not an index or a range/);
  throwsLike(() => parseIndexRange('-3'), /is not an index or a range/);
  throwsLike(() => parseIndexRange('1.5'), /is not an index or a range/);
  throwsLike(() => parseIndexRange('12-10'), /range "12-10" ends before it starts/);
  throwsLike(() => parseIndexRange('0-10', 10), /reaches 10, past the last index 9/);
  throwsLike(() => parseIndexRange('3,1-5'), /index 3 is listed twice/);
  throwsLike(() => parseIndexRange('0-99999999999'), /past the largest index/);
  throwsLike(() => parseIndexRange('0-2000000000'), /lists more than/);
});

test.run();
