// Writes the browser lab's bundled test images, web/lab/images/ (committed; the build copies it):
// per data set 24 held-out test images (sampleIndices over the test split, seed 0; the first 16 are
// the ones `amrm demo` attacks by default) as PNG files, and index.json naming each file's test-set
// index and label.
// The page and its Node replay both read these PNGs, so they see the same bytes. Run it again only
// to change the set:
//   node scripts/lab-images.mjs DIST [CIFAR_DIR]   (DIST: a build folder holding node/index.js;
//   CIFAR_DIR: the cifar-10-batches-bin folder, default ../shared/data/cifar-10-batches-bin)
import { mkdirSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [dist, cifarDir = '../shared/data/cifar-10-batches-bin'] = process.argv.slice(2);
if (!dist) {
  console.error('usage: node scripts/lab-images.mjs DIST [CIFAR_DIR]');
  process.exit(2);
}
const lib = await import(pathToFileURL(resolve(dist, 'node/index.js')).href);
const COUNT = 24, SEED = 0;
const out = 'web/lab/images', tmp = `${out}.tmp`;
rmSync(tmp, { recursive: true, force: true });
const sets = {
  mnist: { set: lib.loadMnistSplit('test'), source: 'MNIST test split (src/data/mnist.ts MNIST_SPLIT.test)' },
  cifar10: { set: lib.loadCifar(cifarDir, 'cifar10', { split: 'test' }), source: 'CIFAR-10 test_batch.bin' },
};
const index = { note: `per data set: sampleIndices(n, ${COUNT}, ${SEED}) over the test split (its first 16: amrm demo's images); written by scripts/lab-images.mjs`, datasets: {} };
for (const [name, { set, source }] of Object.entries(sets)) {
  const shape = set.shape.slice(1);
  const per = shape[0] * shape[1] * shape[2];
  const picks = lib.sampleIndices(set.n, COUNT, SEED);
  mkdirSync(join(tmp, name), { recursive: true });
  const images = Array.from(picks, (i) => {
    const file = `${name}/${String(i).padStart(5, '0')}.png`;
    // Both splits hold exact multiples of 1/255, so the PNG round trip is lossless.
    lib.writePng(join(tmp, file), { data: set.images.slice(i * per, (i + 1) * per), shape });
    return { file, index: i, label: set.labels[i] };
  });
  index.datasets[name] = { source, shape, classes: set.classes, images };
}
writeFileSync(join(tmp, 'index.json'), JSON.stringify(index, null, 1) + '\n');
rmSync(out, { recursive: true, force: true });
renameSync(tmp, out);
console.log(`wrote ${out}/: ${Object.entries(index.datasets).map(([k, v]) => `${v.images.length} ${k}`).join(', ')} test images`);
