// Writes the browser lab's bundled digits, <dist>/web/lab/digits.json: the 16 held-out MNIST test
// digits `amrm demo` attacks by default (sampleIndices over the test split, seed 0), as base64 bytes,
// so the page needs neither the 21 MB `mnist` package nor Node. Run by scripts/build.mjs after the
// Node library is built; reads the digits through that library, so the set is the CLI's own.
import { writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const dist = process.argv[2];
if (!dist) {
  console.error('usage: node scripts/lab-digits.mjs DIST (the build folder holding node/index.js)');
  process.exit(2);
}
const lib = await import(pathToFileURL(resolve(dist, 'node/index.js')).href);
const COUNT = 16, SEED = 0;
const test = lib.loadMnistSplit('test');
const picks = lib.sampleIndices(test.n, COUNT, SEED);
const per = 28 * 28;
const digits = Array.from(picks, (i) => {
  const bytes = Buffer.alloc(per);
  // The split's values are exact multiples of 1/255 (src/data/mnist.ts), so this round trip is lossless.
  for (let j = 0; j < per; j++) bytes[j] = Math.round(test.images[i * per + j] * 255);
  return { index: i, label: test.labels[i], pixels: bytes.toString('base64') };
});
const out = join(dist, 'web/lab');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'digits.json'), JSON.stringify({
  source: `MNIST test split (src/data/mnist.ts MNIST_SPLIT.test), sampleIndices(${test.n}, ${COUNT}, ${SEED}) as in amrm demo`,
  shape: [1, 28, 28], digits,
}) + '\n');
process.exit(0);
