// The lab's purification run recomputed in Node, for scripts/browser-lab.mjs: the same bundled digit,
// models, library calls (classifierTarget, pgd, purifyConfig, purify) and seeds as the page's
// Purify tab, on the adapter AMRM_ADAPTER names (the test uses SwiftShader, the page's). Prints the
// probabilities and per-step losses as one JSON line, for the test to compare with the page's.
//   node <dist>/web/lab-node-replay.js DIGITS_JSON DIGIT EPS ATTACK_STEPS PURIFY_STEPS SEED maskdit|mae
import { readFileSync } from 'node:fs';
import { init } from '../../src/engine/engine.js';
import { asyncScope } from '../../src/engine/tensor.js';
import { tensor } from '../../src/engine/ops/creation.js';
import { loadStateDictFile } from '../../src/engine/io/node.js';
import { createClassifier } from '../../src/models/classifiers.js';
import { classifierTarget, logitsOf } from '../../src/attacks/target.js';
import { pgd } from '../../src/attacks/pgd.js';
import { purify, purifyConfig } from '../../src/purify/amrm.js';
import { loadPurifier } from '../../src/cli/purifier.js';
import { PRESET_OF, MODEL_FILES, type PurifierChoice } from './models.js';
import { softmax } from './charts.js'; // the page's own (DOM only inside its drawing functions)

const [digitsFile, digit, eps, attackSteps, purifySteps, seed, choice] = process.argv.slice(2);
if (!choice || (choice !== 'maskdit' && choice !== 'mae')) {
  console.error('usage: node-replay.js DIGITS_JSON DIGIT EPS ATTACK_STEPS PURIFY_STEPS SEED maskdit|mae');
  process.exit(2);
}
await init();
const d = (JSON.parse(readFileSync(digitsFile, 'utf8')) as { digits: { label: number; pixels: string }[] }).digits[Number(digit)];
const image = Float32Array.from(Buffer.from(d.pixels, 'base64'), (b) => b / 255);
const classifier = createClassifier(undefined, loadStateDictFile(`models/${MODEL_FILES.classifier}`));
const preset = PRESET_OF[choice as PurifierChoice];
const p = loadPurifier(`models/${MODEL_FILES[choice as PurifierChoice]}`, { preset, dataset: 'mnist' });
const target = classifierTarget(classifier);
const classify = async (x: Float32Array): Promise<number[]> => softmax(await logitsOf(target, x, 1, 0));
const clean = await classify(image);
const attack = Number(attackSteps) === 0 ? { adversarial: image } : await pgd(target, image, Int32Array.of(d.label), {
  norm: 'linf', eps: Number(eps), steps: Number(attackSteps), seed: Number(seed), keep: 'last',
});
const attacked = await classify(attack.adversarial);
const options = purifyConfig(preset, { steps: Number(purifySteps), seed: Number(seed) });
const { purified, losses } = await asyncScope(async () => {
  const r = await purify(p.recon, tensor(attack.adversarial, [1, 1, 28, 28]), options, { trackLoss: true });
  return { purified: await classify(await r.images.data()), losses: Array.from(r.losses!) };
});
console.log(JSON.stringify({ clean, attacked, purified, losses }));
classifier.dispose();
p.dispose();
