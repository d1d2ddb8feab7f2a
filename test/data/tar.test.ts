import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { gzipSync } from 'fflate';
import { readTar, readTarGz, TarReader } from '../../src/data/index.js';
import { tarArchive, tarHeader } from './fixtures.js';

const test = suite('data: tar');
const enc = (s: string) => new TextEncoder().encode(s);
const throwsLike = (f: () => unknown, re: RegExp) => {
  try { f(); } catch (e) { assert.match((e as Error).message, re); return; }
  assert.unreachable(`expected an error matching ${re}`);
};

test('members, prefixes, directories, pax paths and GNU long names; fed in any chunking', () => {
  const long = `${'d'.repeat(120)}/file.bin`;
  const big = new Uint8Array(1500).map((_, i) => i * 7);
  const pax = enc('32 path=pax/overridden/name.txt\n');
  const arch = tarArchive([
    { name: 'top/', type: '5' },
    { name: 'top/a.txt', data: enc('hello') },
    { name: long, data: big },
    { name: 'PaxHeader', type: 'x', data: pax },
    { name: 'short', data: enc('pax body') },
    { name: '././@LongLink', type: 'L', data: enc('gnu/very/long/name\0') },
    { name: 'trunc', data: enc('L body') },
    { name: 'empty', data: new Uint8Array(0) },
    { name: 'link', type: '2', linkname: 'top/a.txt' },
  ]);
  const check = (es: ReturnType<typeof readTar>) => {
    assert.equal(es.map((e) => [e.name, e.type, e.size]), [
      ['top/', 'directory', 0], ['top/a.txt', 'file', 5], [long, 'file', 1500], ['pax/overridden/name.txt', 'file', 8],
      ['gnu/very/long/name', 'file', 6], ['empty', 'file', 0], ['link', 'other', 0],
    ]);
    assert.equal(Array.from(es[2].data!), Array.from(big));
    assert.is(new TextDecoder().decode(es[3].data), 'pax body');
  };
  check(readTar(arch));
  for (const step of [1, 7, 511, 512, 513, 4096]) {
    const r = new TarReader();
    for (let o = 0; o < arch.length; o += step) r.push(arch.subarray(o, o + step));
    check(r.end());
  }
  check(readTarGz(gzipSync(arch)));
  const only = readTar(arch, (name) => name.endsWith('a.txt'));
  assert.ok(only[1].data && !only[2].data, 'members not wanted are skipped');
});

test('truncation and corruption give clear errors', () => {
  const arch = tarArchive([{ name: 'f', data: new Uint8Array(1000) }]);
  throwsLike(() => readTar(arch.subarray(0, 700)), /truncated: member 'f' declares 1000 bytes but only 188 follow/);
  throwsLike(() => readTar(arch.subarray(0, 300)), /truncated: a header at offset 0 has only 300 of 512 bytes/);
  throwsLike(() => readTar(arch.subarray(0, 1536)), /truncated: no end-of-archive block after 1536 bytes/);
  const bad = arch.slice(); bad[10] ^= 1;
  throwsLike(() => readTar(bad), /header at offset 0 has checksum \d+, computed \d+/);
  const h = tarHeader({ name: 'x' }, 5); h.set(enc('12x4'), 124);
  let sum = 0; for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
  h.set(enc(sum.toString(8).padStart(6, '0') + '\0 '), 148);
  throwsLike(() => readTar(new Uint8Array([...h, ...new Uint8Array(1536)])), /size field is not octal/);
  throwsLike(() => readTarGz(enc('plain text, not gzip')), /not gzip data/);
  throwsLike(() => readTarGz(gzipSync(arch).subarray(0, 40)), /^(gzip|tar): /);
});

test.run();
