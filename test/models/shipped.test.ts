// The models the repository ships, as the lab lists them (web/lab/models.ts): each file is in
// models/ with its card beside it, each purifier loads and its metadata gives it the preset the lab
// names, and a robust fine-tune records the shipped model it started from.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setup } from '../harness.js';
import { SHIPPED } from '../../web/lab/models.js';
import { loadPurifier } from '../../src/cli/purifier.js';
import { loadStateDictFile } from '../../src/engine/io/node.js';

await setup();
const test = suite('models: the shipped files');

test('every listed model is in models/ with a card; purifiers load with the listed preset', () => {
  for (const [dataset, s] of Object.entries(SHIPPED) as [keyof typeof SHIPPED, (typeof SHIPPED)[keyof typeof SHIPPED]][]) {
    for (const m of [s.classifier, ...s.purifiers]) {
      const file = join('models', m.file);
      assert.ok(existsSync(file), `${file} is missing`);
      assert.ok(existsSync(file.replace(/\.safetensors$/, '.md')), `${file} has no card`);
    }
    for (const p of s.purifiers) {
      const loaded = loadPurifier(join('models', p.file), { dataset });
      try {
        assert.is(loaded.preset, p.preset, `${p.file}: preset`);
      } finally { loaded.dispose(); }
      const { metadata } = loadStateDictFile(join('models', p.file));
      const from = metadata['amrm.robust.from'];
      // The robust presets (rmae-*, rmaskdit-*) are for fine-tuned files, which name their start.
      assert.is(from !== undefined, p.preset!.startsWith('r'), `${p.file}: amrm.robust.from ${from}`);
      if (from) assert.ok(s.purifiers.some((q) => q.file === from), `${p.file} started from ${from}, which is not shipped`);
    }
  }
});

test.run();
