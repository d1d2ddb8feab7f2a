// The shipped MAEs compute bit for bit what they computed before the model code was reshaped into
// shared parts (module base, layers, masking, probe): loss and prediction bits recorded with the
// code of commit 041255f on each software adapter (the adapters round differently, so each has its
// own record), on fixed inputs and masks.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { setup } from '../harness.js';
import { asyncScope } from '../../src/engine/tensor.js';
import { tensor } from '../../src/engine/ops/creation.js';
import { noGrad } from '../../src/engine/autograd.js';
import { loadStateDictFile } from '../../src/engine/io/node.js';
import { MAE } from '../../src/models/mae.js';

const eng = await setup();
const test = suite('models: shipped MAE bits');

const RECORDED: Record<string, Record<string, { loss: string; predSha256: string }>> = {
  llvmpipe: {
    mnist: { loss: 'c81b993e', predSha256: '8621d69a90c9f3bd98e1af14c1bd54cbf33ff763d9ac0fe673ce0236e428e726' },
    cifar10: { loss: '098abb3d', predSha256: 'a8d68af79ea5dcfe6400ad360c63f388ecf91e0da9c9542f529b1304cc54562c' },
  },
  swiftshader: {
    mnist: { loss: 'c91b993e', predSha256: '2773445dccb730ab49ace9b69cfd01bf390ebdeb1fbd7cdab2a52de37dcac750' },
    cifar10: { loss: '088abb3d', predSha256: '3912d70182e3f1dc5a3b102ba3115d31d9bb28f894a49bb74a7029cc69f1ad6f' },
  },
};

const hex = (a: Float32Array): string => Buffer.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).toString('hex');

test('loss and prediction bits of models/mnist-mae and models/cifar10-mae equal the record', async () => {
  const want = RECORDED[eng.gpu.kind];
  if (!want) { console.log(`  NOTICE: no record for adapter ${eng.gpu.kind}; skipped`); return; }
  for (const name of ['mnist', 'cifar10']) {
    const mae = MAE.load(loadStateDictFile(`models/${name}-mae.safetensors`));
    const c = mae.config;
    const n = 2, per = c.inChans * c.imgSize[0] * c.imgSize[1];
    // A fixed, non-trivial input: a multiplicative hash of the index, in [0, 1).
    const x = Float32Array.from({ length: n * per }, (_, i) => ((i * 2654435761) % 1000) / 1000);
    const got = await asyncScope(async () => {
      const r = noGrad(() => mae.forward(tensor(x, [n, c.inChans, c.imgSize[0], c.imgSize[1]]), { maskRatio: 0.25, seed: 11 }));
      return { loss: hex(await r.loss.data()), predSha256: createHash('sha256').update(hex(await r.pred.data())).digest('hex') };
    });
    mae.dispose();
    assert.equal(got, want[name], `${name} on ${eng.gpu.kind}`);
  }
});

test.run();
