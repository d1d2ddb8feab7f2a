// `amrm theorem`: the attention math of docs/method.md section 7 measured on a purifier and real test
// images. For each attack budget the clean, attacked and (as a control) randomly perturbed images
// go through the purifier's model (an MAE, or MaskDiT at σ_pur under one fixed noise draw) under one
// shared mask, and per layer and head it reports:
//   1. the actual attention shift ‖A_adv − A‖_F against the exact first-order prediction ‖dA‖_F
//      (the fused attention-shift kernel on the shift of the layer's normalized input): their ratio
//      and cosine, so the budgets where the linearization holds can be read off;
//   2. Theorem 3.1's two sides per query-key pair (theorem_math.ts fixes the conventions), for
//      attacked and for random-noise pairs of the same norm;
//   3. Theorem 3.2 per image: L_rec^adv, L_rec, each decoder layer's ‖A_adv − A‖²_F, the constants
//      they imply and the correlation across images;
// and 4. the oracle the reconstruction loss stands for: purification by descending the AMV to the
// clean image's attention, beside the ordinary L_rec purification.
import { asyncScope } from '../engine/tensor.js';
import { tensor } from '../engine/ops/creation.js';
import { Rng } from '../engine/random.js';
import type { Classifier } from '../models/cnn.js';
import type { MaskedReconstructor } from '../models/reconstructor.js';
import type { ReconstructionModel } from '../purify/loss.js';
import { AmvOracle } from '../purify/amv_oracle.js';
import { purify, type PurifyOptions } from '../purify/amrm.js';
import { classifierTarget, logitsOf, predictions, purifiedTarget, type AttackTarget } from '../attacks/target.js';
import { pgd } from '../attacks/pgd.js';
import { perturbationNorms, type Norm } from '../attacks/ball.js';
import {
  amvSquared, captureForward, firstOrderShift, qkWeights, type Capture, type CapturedLayer,
} from './attention_capture.js';
import {
  boundSummary, cosine, mean, quantiles, randomFeatures, theorem31Head, theorem32Summary,
  type BoundSummary, type RandomFeatures, type Theorem32Summary,
} from './theorem_math.js';

export interface TheoremOptions {
  /** Attack budgets in the norm's units (l_inf: pixel values in [0, 1]). */
  budgets: number[];
  norm: Norm;
  /** PGD iterations. */
  attackSteps: number;
  /** 'none': PGD on the classifier alone (last iterate kept); 'exact': through the purifier, exact gradients. */
  adaptive: 'none' | 'exact';
  /** The purification setting (mask ratio of the analysis, the adaptive attack's and the oracle's purifier). */
  purify: PurifyOptions;
  /** Mask ratio of the analysis mask (default the preset's). */
  maskRatio: number;
  /** Seed of the analysis mask, the attack's random start, the noise and the features. */
  seed: number;
  /** Random features per pair (Theorem 3.1's m = k + 1). */
  features: number;
  orthogonal: boolean;
  /** Query-key pairs sampled per image and head for Theorem 3.1 (all when ≥ N²). */
  pairs: number;
  /** Budget of the oracle comparison (one of `budgets`), or undefined to skip it. */
  oracleEps?: number;
  onProgress?: (line: string) => void;
}

const Q5 = [0.05, 0.25, 0.5, 0.75, 0.95];
type Spread = { q05: number; q25: number; median: number; q75: number; q95: number };
const spread = (v: ArrayLike<number>): Spread => {
  const [q05, q25, median, q75, q95] = v.length ? quantiles(v, Q5) : [NaN, NaN, NaN, NaN, NaN];
  return { q05, q25, median, q75, q95 };
};

export interface HeadReport {
  head: number;
  /** ‖A_adv − A‖_F per image, its median. */
  actual: number;
  /** ‖dA‖_F per image (first order), its median. */
  firstOrder: number;
  /** ‖dA‖_F / ‖A_adv − A‖_F over images. */
  ratio: Spread;
  /** cos(dA, A_adv − A) over images. */
  cosine: Spread;
  /** Theorem 3.1 over the sampled pairs of every image, attacked and random-noise shifts. */
  bound: { attack: BoundSummary; noise: BoundSummary };
}

export interface LayerReport {
  stack: string;
  layer: number;
  tokens: number;
  /** ‖A_adv − A‖_F averaged over heads and images (docs/method.md's AMV), and the same for the noise. */
  amv: number;
  amvNoise: number;
  heads: HeadReport[];
}

export interface BudgetReport {
  eps: number;
  /** Classifier accuracy on the clean, attacked and noisy images (no purification). */
  accuracy: { clean: number; attacked: number; noise: number };
  /** Median perturbation norm (the attack's norm) of the attacked and of the noisy images. */
  perturbation: { attack: number; noise: number };
  layers: LayerReport[];
  theorem32: Theorem32Summary & { La: number[]; L: number[]; amv2: number[][] };
}

export interface OracleReport {
  eps: number;
  /** Σ_layers AMV to the clean image (mean over heads and images), measured under the analysis mask. */
  amv: { attacked: number; lrec: number; oracle: number };
  /** Per layer, encoder then decoder. */
  amvPerLayer: { attacked: number[]; lrec: number[]; oracle: number[] };
  accuracy: { clean: number; attacked: number; lrec: number; oracle: number };
  /** The oracle's objective per step (mean over images), to show that it descends. */
  oracleObjective: number[];
}

export interface TheoremReport {
  /** The model measured: its family and description (MaskDiT: σ_pur and the noise seed). */
  model: { family: string; description: string };
  images: number;
  mask: { ratio: number; hidden: number; patches: number };
  budgets: BudgetReport[];
  oracle?: OracleReport;
}

/** Per image, a random perturbation with the attack's per-image norm, kept in [0, 1]. */
function noiseLike(x: Float32Array, xAdv: Float32Array, n: number, norm: Norm, rng: Rng): Float32Array {
  const per = x.length / n;
  const norms = perturbationNorms(xAdv, x, per, norm);
  const out = new Float32Array(x.length);
  for (let b = 0; b < n; b++) {
    const dir = new Float64Array(per);
    for (let i = 0; i < per; i++) dir[i] = norm === 'linf' ? (rng.next() < 0.5 ? -1 : 1) : rng.normal();
    const len = norm === 'linf' ? 1 : Math.sqrt(dir.reduce((s, v) => s + v * v, 0));
    for (let i = 0; i < per; i++) out[b * per + i] = Math.min(1, Math.max(0, x[b * per + i] + norms[b] * dir[i] / len));
  }
  return out;
}

const countRight = (p: Int32Array, y: Int32Array): number => p.reduce((s, v, i) => s + (v === y[i] ? 1 : 0), 0);

/** One layer's shift and bound statistics from the clean, attacked and noisy captures. */
async function layerReport(clean: CapturedLayer, adv: CapturedLayer, noise: CapturedLayer, w: { wQ: Float32Array; wK: Float32Array },
  features: RandomFeatures, pairs: number, rng: Rng): Promise<LayerReport> {
  const { batch: B, heads: H, tokens: N, headDim: hd } = clean;
  const shiftAdv = await firstOrderShift(clean, adv, w);
  const shiftNoise = await firstOrderShift(clean, noise, w);
  const sqAdv = amvSquared(clean, adv), sqNoise = amvSquared(clean, noise);
  const per = N * N, rows = N * hd;
  const heads: HeadReport[] = [];
  for (let h = 0; h < H; h++) {
    const actual: number[] = [], first: number[] = [], ratio: number[] = [], cos: number[] = [];
    const lhs: { attack: number[]; noise: number[] } = { attack: [], noise: [] };
    const rhs: { attack: number[]; noise: number[] } = { attack: [], noise: [] };
    for (let b = 0; b < B; b++) {
      const m = b * H + h;
      const At = clean.probs.subarray(m * per, (m + 1) * per);
      const dAct = Float64Array.from(adv.probs.subarray(m * per, (m + 1) * per), (v, i) => v - At[i]);
      const dA = shiftAdv.dA.subarray(m * per, (m + 1) * per);
      const a = Math.sqrt(sqAdv[m]), f = Math.hypot(...dA);
      actual.push(a); first.push(f);
      if (a > 0) ratio.push(f / a);
      if (a > 0 && f > 0) cos.push(cosine(dA, dAct));
      for (const [which, shift, other] of [['attack', shiftAdv, adv], ['noise', shiftNoise, noise]] as const) {
        const r = theorem31Head({
          Q: clean.q.subarray(m * rows, (m + 1) * rows), K: clean.k.subarray(m * rows, (m + 1) * rows),
          dQ: shift.dQ.subarray(m * rows, (m + 1) * rows), dK: shift.dK.subarray(m * rows, (m + 1) * rows),
          A: At, Aadv: other.probs.subarray(m * per, (m + 1) * per), n: N, d: hd, features, pairs, rng,
        });
        lhs[which].push(...r.lhs); rhs[which].push(...r.rhs);
      }
    }
    heads.push({
      head: h, actual: spread(actual).median, firstOrder: spread(first).median, ratio: spread(ratio), cosine: spread(cos),
      bound: { attack: boundSummary(lhs.attack, rhs.attack), noise: boundSummary(lhs.noise, rhs.noise) },
    });
  }
  const meanNorm = (sq: Float64Array): number => mean(Array.from(sq, Math.sqrt));
  return { stack: clean.stack, layer: clean.layer, tokens: N, amv: meanNorm(sqAdv), amvNoise: meanNorm(sqNoise), heads };
}

/** Σ_layers of the AMV to the reference capture, and per layer (mean over heads and images). */
function amvTo(ref: Capture, c: Capture): { total: number; perLayer: number[] } {
  const perLayer = ref.layers.map((l, i) => mean(Array.from(amvSquared(l, c.layers[i]), Math.sqrt)));
  return { total: perLayer.reduce((a, b) => a + b, 0), perLayer };
}

/** The purifier under study: its model as the analyses see it, and the loss its purification descends. */
export interface TheoremPurifier {
  reconstructor: MaskedReconstructor;
  /** L_rec of the same model (the adaptive attack's and the oracle comparison's purification). */
  loss: ReconstructionModel;
}

/**
 * Runs the whole analysis on n images [n, C, H, W] with labels y: the classifier is attacked (alone
 * or through the purifier), the purifier's attention is measured. Everything in the report is
 * measured; nothing is assumed to hold.
 */
export async function theoremAnalysis(purifier: TheoremPurifier, classifier: Classifier, x: Float32Array, y: Int32Array, o: TheoremOptions): Promise<TheoremReport> {
  const model = purifier.reconstructor;
  const n = y.length;
  const log = o.onProgress ?? ((): void => {});
  const shape = [n, ...classifier.inputShape];
  const mask = model.maskPlan(n, { maskRatio: o.maskRatio, seed: o.seed }).mask;
  const hidden = mask.subarray(0, model.numPatches).reduce((s, v) => s + v, 0);
  const weights = await qkWeights(model);
  const rng = new Rng(o.seed ^ 0x7e0);
  const hd = model.layers[0].attention.headDim;
  if (model.layers.some((l) => l.attention.headDim !== hd)) throw new Error('theorem: the attention layers differ in head dimension; one feature set per head dimension is not implemented');
  const features = randomFeatures(o.features, hd, rng, { orthogonal: o.orthogonal });
  const clsTarget = classifierTarget(classifier);
  const attackTarget: AttackTarget = o.adaptive === 'exact'
    ? purifiedTarget(classifier, { model: purifier.loss, options: o.purify }, 'exact') : clsTarget;
  const classify = async (imgs: Float32Array): Promise<Int32Array> => predictions(await logitsOf(clsTarget, imgs, n, 0), classifier.numClasses);
  const cleanPred = await classify(x);
  const clean = await captureForward(model, x, n, mask);
  const budgets: BudgetReport[] = [];
  let oracle: OracleReport | undefined;
  for (const eps of o.budgets) {
    log(`budget ${o.norm} ${eps.toFixed(5)}${o.norm === 'linf' ? ` (${(eps * 255).toFixed(2)}/255)` : ''}: PGD-${o.attackSteps} ${o.adaptive === 'exact' ? 'through the purifier (exact gradients)' : 'on the classifier alone'}`);
    const attack = await pgd(attackTarget, x, y, { norm: o.norm, eps, steps: o.attackSteps, seed: o.seed, keep: 'last' });
    const xAdv = attack.adversarial;
    const xNoise = noiseLike(x, xAdv, n, o.norm, new Rng(o.seed + 17));
    const adv = await captureForward(model, xAdv, n, mask);
    const noise = await captureForward(model, xNoise, n, mask);
    const layers: LayerReport[] = [];
    for (const [i, l] of clean.layers.entries()) {
      layers.push(await layerReport(l, adv.layers[i], noise.layers[i], weights[i], features, o.pairs, rng));
    }
    const decoder = clean.layers.map((l, i) => [l, i] as const).filter(([l]) => l.stack === 'decoder');
    const amv2 = Array.from({ length: n }, (_, b) => decoder.map(([l, i]) => {
      const sq = amvSquared(l, adv.layers[i]);
      return mean(sq.subarray(b * l.heads, (b + 1) * l.heads));
    }));
    const La = Array.from(adv.loss), L = Array.from(clean.loss);
    const per = x.length / n;
    const report: BudgetReport = {
      eps,
      accuracy: { clean: countRight(cleanPred, y) / n, attacked: countRight(await classify(xAdv), y) / n, noise: countRight(await classify(xNoise), y) / n },
      perturbation: { attack: spread(perturbationNorms(xAdv, x, per, o.norm)).median, noise: spread(perturbationNorms(xNoise, x, per, o.norm)).median },
      layers,
      theorem32: { ...theorem32Summary(La, L, amv2), La, L, amv2 },
    };
    budgets.push(report);
    if (o.oracleEps === eps) oracle = await oracleComparison(model, classify, x, xAdv, y, clean, mask, o, log);
  }
  return { model: { family: model.family, description: model.description }, images: n, mask: { ratio: o.maskRatio, hidden, patches: model.numPatches }, budgets, oracle };

  async function oracleComparison(m: MaskedReconstructor, cls: (v: Float32Array) => Promise<Int32Array>, xc: Float32Array, xa: Float32Array, labels: Int32Array,
    ref: Capture, analysisMask: Float32Array, opts: TheoremOptions, say: (s: string) => void): Promise<OracleReport> {
    const run = async (name: string, objective: (cleanT: ReturnType<typeof tensor>) => ReconstructionModel): Promise<{ images: Float32Array; losses: number[] }> =>
      asyncScope(async () => {
        const cleanT = tensor(xc, shape);
        const r = await purify(objective(cleanT), tensor(xa, shape), opts.purify, {
          trackLoss: true, onProgress: (s, S) => { if (s % 25 === 0 || s === S) say(`  ${name} purification step ${s}/${S}`); },
        });
        return { images: await r.images.data(), losses: Array.from(r.losses ?? []) };
      });
    say(`oracle at eps ${opts.oracleEps}: L_rec purification, then AMV-oracle purification (${opts.purify.steps} steps each)`);
    const lrec = await run('L_rec', () => purifier.loss);
    const orc = await run('AMV oracle', (cleanT) => new AmvOracle(m, cleanT));
    const before = amvTo(ref, await captureForward(m, xa, n, analysisMask));
    const afterL = amvTo(ref, await captureForward(m, lrec.images, n, analysisMask));
    const afterO = amvTo(ref, await captureForward(m, orc.images, n, analysisMask));
    return {
      eps: opts.oracleEps!,
      amv: { attacked: before.total, lrec: afterL.total, oracle: afterO.total },
      amvPerLayer: { attacked: before.perLayer, lrec: afterL.perLayer, oracle: afterO.perLayer },
      accuracy: {
        clean: countRight(await cls(xc), labels) / n, attacked: countRight(await cls(xa), labels) / n,
        lrec: countRight(await cls(lrec.images), labels) / n, oracle: countRight(await cls(orc.images), labels) / n,
      },
      oracleObjective: orc.losses.map((v) => v / n),
    };
  }
}
