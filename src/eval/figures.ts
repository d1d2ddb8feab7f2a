// The paper's Figures 1, 3 and 4 computed on a classifier, a masked reconstruction model (an MAE, or
// MaskDiT at σ_pur under one fixed noise draw: models/reconstructor.ts) and real images (`amrm
// figures`; `amrm demo` draws its figure with figure1):
//   Figure 1: per image, the original, the model's masked input and reconstruction, the attacked image,
//             and the reconstructions of the attacked and of the purified image, all under one mask,
//             each captioned with the classifier's prediction on exactly the image shown;
//   Figure 3: one query patch's attention to every patch, averaged over heads, per layer, for the
//             clean, attacked and purified image under one mask (a shared colour scale per layer);
//   Figure 4: the attention variation AMV (‖A_adv − A_clean‖_F averaged over heads and images, per
//             layer; docs/method.md section 1) and the reconstruction loss L_rec against the attack budget
//             (one mask per image shared by clean and attacked), and along the purification steps.
// Everything here returns the numbers it plots; the command writes them beside the pictures.
import { asyncScope } from '../engine/tensor.js';
import { tensor } from '../engine/ops/creation.js';
import { noGrad } from '../engine/autograd.js';
import { Rng } from '../engine/random.js';
import type { Classifier } from '../models/cnn.js';
import { attentionLayerName as layerName, type MaskedReconstructor } from '../models/reconstructor.js';
import { classifierTarget, logitsOf } from '../attacks/target.js';
import { pgd } from '../attacks/pgd.js';
import { AMV_PROBE_SEED_OFFSET, purify, type PurifyOptions } from '../purify/amrm.js';
import type { ReconstructionModel } from '../purify/loss.js';
import { amvSquared, captureForward } from './attention_capture.js';
import { maskedView, reconstructionView } from './reconstruction_figure.js';
import { heatmapTile, patchMark, type GridFigure, type Tile } from './figure_tiles.js';
import { linePlotsSvg, type Series } from './plot.js';

// ---------------------------------------------------------------- shared steps

/** Images per batch in every step below (bounds memory). */
export const DEFAULT_BATCH = 32;

export interface Predictions {
  /** Per image: the arg-max class. */
  pred: Int32Array;
  /** Per image: its softmax probability. */
  conf: Float32Array;
}

/** The classifier's prediction and softmax confidence for n images [n, C, H, W], in batches. */
export async function classifyImages(classifier: Classifier, x: Float32Array, n: number, batch = DEFAULT_BATCH): Promise<Predictions> {
  const per = x.length / n, K = classifier.numClasses;
  if (!Number.isInteger(per)) throw new Error(`classifyImages: ${x.length} values are not ${n} images`);
  const target = classifierTarget(classifier);
  const pred = new Int32Array(n), conf = new Float32Array(n);
  for (let b0 = 0; b0 < n; b0 += batch) {
    const m = Math.min(batch, n - b0);
    const z = await logitsOf(target, x.subarray(b0 * per, (b0 + m) * per), m, 0);
    for (let i = 0; i < m; i++) {
      let k = 0;
      for (let j = 1; j < K; j++) if (z[i * K + j] > z[i * K + k]) k = j;
      let s = 0;
      for (let j = 0; j < K; j++) s += Math.exp(z[i * K + j] - z[i * K + k]);
      pred[b0 + i] = k;
      conf[b0 + i] = 1 / s;
    }
  }
  return { pred, conf };
}

export interface LinfAttack {
  /** l_inf radius in pixel units ([0, 1]); 0 returns the images themselves. */
  eps: number;
  steps: number;
  /** Batch k of the images is attacked with seed + k (random start). */
  seed: number;
  /** Which PGD iterate each image keeps (pgdKeep: 'last' for a transfer attack on a purified classifier). */
  keep: 'first' | 'last';
  batch?: number;
}

/** PGD l_inf on the classifier alone (step 2.5·eps/steps, random start), in batches. */
export async function attackLinf(classifier: Classifier, x: Float32Array, y: Int32Array, o: LinfAttack, onBatch?: (done: number, n: number) => void): Promise<Float32Array> {
  const n = y.length, per = x.length / n, batch = o.batch ?? DEFAULT_BATCH;
  if (o.eps === 0) return Float32Array.from(x);
  const target = classifierTarget(classifier);
  const out = new Float32Array(x.length);
  for (let b0 = 0, k = 0; b0 < n; b0 += batch, k++) {
    const m = Math.min(batch, n - b0);
    const r = await pgd(target, x.subarray(b0 * per, (b0 + m) * per), y.subarray(b0, b0 + m), {
      norm: 'linf', eps: o.eps, steps: o.steps, seed: o.seed + k, keep: o.keep,
    });
    out.set(r.adversarial, b0 * per);
    onBatch?.(b0 + m, n);
  }
  return out;
}

/** AMRM purification of n images in batches (each batch with the same options, seed included). */
export async function purifyImages(model: ReconstructionModel, x: Float32Array, n: number, options: PurifyOptions,
  o: { batch?: number; onStep?: (step: number, steps: number, done: number, n: number) => void } = {}): Promise<Float32Array> {
  const [C, H, W] = model.inputShape, per = C * H * W, batch = o.batch ?? DEFAULT_BATCH;
  const out = new Float32Array(x.length);
  for (let b0 = 0; b0 < n; b0 += batch) {
    const m = Math.min(batch, n - b0);
    out.set(await asyncScope(async () => {
      const r = await purify(model, tensor(x.subarray(b0 * per, (b0 + m) * per), [m, C, H, W]), options, {
        onProgress: (s, S) => o.onStep?.(s, S, b0 + m, n),
      });
      return r.images.data();
    }), b0 * per);
  }
  return out;
}

/** The model's attention layers by name: enc0 … enc{depth−1}, then dec0 … dec{decoder depth−1}. */
export function layerNames(model: MaskedReconstructor): string[] {
  return model.layers.map((l) => l.name);
}

/** The mask [n, L] (1 = hidden) that the model draws for n images from `seed` (image i's row does not depend on n). */
export function drawMask(model: MaskedReconstructor, n: number, maskRatio: number, seed: number): Float32Array {
  return model.maskPlan(n, { maskRatio, seed }).mask;
}

const hiddenList = (mask: Float32Array, L: number, b: number): number[] => {
  const out: number[] = [];
  for (let l = 0; l < L; l++) if (mask[b * L + l]) out.push(l);
  return out;
};

// ---------------------------------------------------------------- Figure 1

export const FIGURE1_COLUMNS = ['original', 'masked input', 'reconstruction', 'attacked', 'reconstruction of attacked', 'reconstruction of purified'] as const;

/** What the caption of each Figure-1 column classifies (always the image shown in that tile), for a model's reconstructions. */
export const figure1Captions = (model: MaskedReconstructor): Record<typeof FIGURE1_COLUMNS[number], string> => ({
  original: 'the classifier on the test image',
  'masked input': 'the classifier on the masked image as shown (hidden patches mid-grey)',
  reconstruction: `the classifier on the ${model.label}'s reconstruction of the test image as shown (its prediction on hidden patches${model.family === 'maskdit' ? ', D(2x − 1 + n; σ_pur) mapped back by (D + 1) / 2' : ''}, the input on visible ones)`,
  attacked: 'the classifier on the attacked image',
  'reconstruction of attacked': 'the classifier on the reconstruction of the attacked image (as shown)',
  'reconstruction of purified': 'the classifier on the reconstruction of the purified attacked image (as shown); the purified image itself, which is what the defense classifies, is in images[].purified',
});

export interface Figure1Input {
  classifier: Classifier;
  model: MaskedReconstructor;
  /** n images [n, C, H, W], their labels, their indices in the test set and the class names. */
  images: Float32Array;
  labels: Int32Array;
  indices: ArrayLike<number>;
  classes: readonly string[];
  /** The attacked images and the purified attacked images, same layout. */
  attacked: Float32Array;
  purified: Float32Array;
  /** The mask every column uses: mask ratio and the seed it is drawn from. */
  maskRatio: number;
  maskSeed: number;
  title?: string;
  note?: string;
  batch?: number;
}

export interface PredictionCell {
  prediction: number;
  prediction_name: string;
  confidence: number;
  verdict: 'right' | 'wrong';
}

export interface Figure1Data {
  columns: string[];
  captions_classify: Record<string, string>;
  mask: { ratio: number; seed: number; hidden: number[][] };
  images: {
    index: number; label: number; label_name: string; row_title: string;
    cells: (PredictionCell & { column: string; caption: string })[];
    purified: PredictionCell;
  }[];
  /** Per column: the fraction of images whose caption is right. */
  accuracy: Record<string, number>;
}

const className = (classes: readonly string[], k: number): string => classes[k] ?? String(k);

function predictionCell(p: Predictions, i: number, label: number, classes: readonly string[]): PredictionCell {
  return { prediction: p.pred[i], prediction_name: className(classes, p.pred[i]), confidence: p.conf[i], verdict: p.pred[i] === label ? 'right' : 'wrong' };
}

/** Figure 1 as a grid of captioned tiles (gridFigurePng draws it, the browser lab too) and every prediction it shows. */
export async function figure1(f: Figure1Input): Promise<{ grid: GridFigure; data: Figure1Data }> {
  const [C, H, W] = f.model.inputShape;
  const per = C * H * W, n = f.labels.length, L = f.model.numPatches, batch = f.batch ?? DEFAULT_BATCH;
  for (const [what, x] of [['images', f.images], ['attacked', f.attacked], ['purified', f.purified]] as const) {
    if (x.length !== n * per) throw new Error(`figure1: ${what} has ${x.length} values, not ${n} images of [${C}, ${H}, ${W}]`);
  }
  const mask = drawMask(f.model, n, f.maskRatio, f.maskSeed);
  // The same mask in every column, so the reconstructions differ only by their input.
  const views = async (x: Float32Array): Promise<{ masked: Float32Array; rec: Float32Array }> => {
    const masked = new Float32Array(n * per), rec = new Float32Array(n * per);
    for (let b0 = 0; b0 < n; b0 += batch) {
      const m = Math.min(batch, n - b0);
      const v = await reconstructionView(f.model, x.subarray(b0 * per, (b0 + m) * per), m, { maskRatio: f.maskRatio, seed: f.maskSeed, mask: mask.subarray(b0 * L, (b0 + m) * L) });
      masked.set(v.masked, b0 * per);
      rec.set(v.rec, b0 * per);
    }
    return { masked, rec };
  };
  const clean = await views(f.images);
  const adv = await views(f.attacked);
  const pur = await views(f.purified);
  const stages = [f.images, clean.masked, clean.rec, f.attacked, adv.rec, pur.rec];
  const preds: Predictions[] = [];
  for (const x of stages) preds.push(await classifyImages(f.classifier, x, n, batch));
  const purifiedPred = await classifyImages(f.classifier, f.purified, n, batch);
  const data: Figure1Data = {
    columns: [...FIGURE1_COLUMNS], captions_classify: figure1Captions(f.model),
    mask: { ratio: f.maskRatio, seed: f.maskSeed, hidden: Array.from({ length: n }, (_, b) => hiddenList(mask, L, b)) },
    images: [], accuracy: {},
  };
  const rows: Tile[][] = [];
  const rowTitles: string[] = [];
  for (let i = 0; i < n; i++) {
    const label = f.labels[i];
    const rowTitle = `test #${f.indices[i]}\nlabel: ${className(f.classes, label)}`;
    const cells = FIGURE1_COLUMNS.map((column, s) => {
      const p = predictionCell(preds[s], i, label, f.classes);
      return { column, ...p, caption: `${p.prediction_name} (${p.confidence.toFixed(2)})` };
    });
    rows.push(cells.map((cell, s) => ({ image: stages[s].slice(i * per, (i + 1) * per), shape: [C, H, W], caption: cell.caption, verdict: cell.verdict })));
    rowTitles.push(rowTitle);
    data.images.push({ index: f.indices[i], label, label_name: className(f.classes, label), row_title: rowTitle, cells, purified: predictionCell(purifiedPred, i, label, f.classes) });
  }
  FIGURE1_COLUMNS.forEach((col, s) => { data.accuracy[col] = data.images.filter((im) => im.cells[s].verdict === 'right').length / n; });
  const note = f.note ?? `Under each image: the classifier's prediction on that image as shown, with its softmax probability (✓ right, ✗ wrong). One mask (ratio ${f.maskRatio}, seed ${f.maskSeed}) in every column; hidden patches are grey in the masked input and predicted by the ${f.model.label} in the reconstructions${f.model.family === 'maskdit' ? ' (shown at the noisy patch\'s own mean and spread: the MaskDiT predicts them standardized per patch)' : ''}.`;
  return { grid: { title: f.title, columnTitles: [...FIGURE1_COLUMNS], rowTitles, rows, note }, data };
}

// ---------------------------------------------------------------- Figure 3

export const FIGURE3_COLUMNS = ['mask and query', 'clean', 'attacked', 'purified'] as const;

/** The default query: the visible patch whose centre is nearest the image's centre (ties: the lowest index). */
export function defaultQuery(mask: ArrayLike<number>, gh: number, gw: number): number {
  let best = -1, bestD = Infinity;
  for (let j = 0; j < gh * gw; j++) {
    if (mask[j]) continue;
    const d = (Math.floor(j / gw) + 0.5 - gh / 2) ** 2 + ((j % gw) + 0.5 - gw / 2) ** 2;
    if (d < bestD - 1e-12) { best = j; bestD = d; }
  }
  if (best < 0) throw new Error('defaultQuery: every patch is hidden');
  return best;
}

export interface Figure3Input {
  model: MaskedReconstructor;
  /** One image each, [C, H, W]. */
  clean: Float32Array;
  attacked: Float32Array;
  purified: Float32Array;
  /** Its index in the test set and its label's name (row titles, JSON). */
  index: number;
  labelName: string;
  /** [L], 1 = hidden. */
  mask: Float32Array;
  /** The query patch (row-major); it must be visible when an encoder layer is drawn. */
  query: number;
  /** Layer names (layerNames), in the order of the rows. */
  layers: string[];
  title?: string;
  /** Titles of the clean / attacked / purified columns (default: those words). */
  columnTitles?: [string, string, string];
}

export interface Figure3Map {
  /** Attention weight from the query token to the cls token (not drawn); null for a model without one (MaskDiT). */
  cls: number | null;
  /** Per patch (row-major): the weight from the query token, null for a hidden patch (no encoder token). */
  weights: (number | null)[];
}

export interface Figure3Row {
  layer: string;
  stack: string;
  index: number;
  heads: number;
  tokens: number;
  /** The query's token in this layer (the MAE's cls is token 0; MaskDiT has no cls token). */
  query_token: number;
  /** The top of the row's shared colour scale: the largest drawn weight of its three maps. */
  vmax: number;
  maps: { clean: Figure3Map; attacked: Figure3Map; purified: Figure3Map };
}

export interface Figure3Data {
  index: number;
  label_name: string;
  grid: [number, number];
  query: { patch: number; row: number; col: number };
  mask: { hidden: number[] };
  token_order: string;
  columns: string[];
  rows: Figure3Row[];
}

/** Figure 3 as a grid of tiles (rows: layers; columns: the mask, then clean / attacked / purified heat maps) and its numbers. */
export async function figure3(f: Figure3Input): Promise<{ grid: GridFigure; data: Figure3Data }> {
  const model = f.model;
  const [C, H, W] = model.inputShape;
  const per = C * H * W, L = model.numPatches, gh = model.gridH, gw = model.gridW, P = model.prefixTokens;
  if (f.mask.length !== L) throw new Error(`figure3: the mask has ${f.mask.length} values, the ${model.label} has ${L} patches`);
  if (!(Number.isInteger(f.query) && f.query >= 0 && f.query < L)) throw new Error(`figure3: query patch ${f.query} is not in 0..${L - 1}`);
  const known = layerNames(model);
  for (const name of f.layers) if (!known.includes(name)) throw new Error(`figure3: no layer ${name} (the ${model.label} has ${known.join(', ')})`);
  if (f.mask[f.query] && f.layers.some((n) => n.startsWith('enc'))) throw new Error(`figure3: query patch ${f.query} is hidden, and the encoder has no token for it`);
  const images = new Float32Array(3 * per);
  [f.clean, f.attacked, f.purified].forEach((x, b) => {
    if (x.length !== per) throw new Error(`figure3: an image has ${x.length} values, not [${C}, ${H}, ${W}]`);
    images.set(x, b * per);
  });
  const mask3 = new Float32Array(3 * L);
  for (let b = 0; b < 3; b++) mask3.set(f.mask, b * L);
  const cap = await captureForward(model, images, 3, mask3);
  const { idsKeep, lenKeep } = cap.plan;
  const hidden = Float32Array.from(f.mask);
  const names = ['clean', 'attacked', 'purified'] as const;
  const rows: Figure3Row[] = [];
  for (const name of f.layers) {
    const layer = cap.layers.find((l) => layerName(l.stack, l.layer) === name)!;
    const enc = layer.stack === 'encoder';
    const { heads: Hh, tokens: N } = layer;
    // After the P prefix tokens (the MAE's cls): encoder token P + s is patch idsKeep[s] (the visible
    // patches in the plan's order); decoder token P + l is patch l.
    const tokenOfPatch = new Int32Array(L).fill(-1);
    if (enc) for (let s = 0; s < lenKeep; s++) tokenOfPatch[idsKeep[s]] = P + s;
    else for (let l = 0; l < L; l++) tokenOfPatch[l] = P + l;
    const qt = tokenOfPatch[f.query];
    const maps = {} as Figure3Row['maps'];
    names.forEach((col, b) => {
      const row = new Float64Array(N);
      for (let h = 0; h < Hh; h++) {
        const o = ((b * Hh + h) * N + qt) * N;
        for (let j = 0; j < N; j++) row[j] += layer.probs[o + j] / Hh;
      }
      maps[col] = { cls: P ? row[0] : null, weights: Array.from({ length: L }, (_, l) => (tokenOfPatch[l] >= 0 ? row[tokenOfPatch[l]] : null)) };
    });
    const drawn = names.flatMap((col) => maps[col].weights.filter((v): v is number => v !== null));
    rows.push({ layer: name, stack: layer.stack, index: layer.layer, heads: Hh, tokens: N, query_token: qt, vmax: Math.max(...drawn), maps });
  }
  const maskTile = maskedView(f.clean, f.mask, C, H, W, model.patchSize);
  const mark = patchMark(f.query, gh, gw, H, W);
  const colTitles = f.columnTitles ?? ['clean', 'attacked', 'purified'];
  const tiles: Tile[][] = rows.map((r, i) => [
    { image: maskTile, shape: [C, H, W], marks: [mark], ...(i === 0 ? { caption: `query ${f.query}` } : {}) },
    ...names.map((col): Tile => {
      const m = r.maps[col];
      const w = m.weights.map((v) => v ?? 0);
      const img = col === 'clean' ? f.clean : col === 'attacked' ? f.attacked : f.purified;
      return {
        image: heatmapTile(img, [C, H, W], w, gh, gw, { vmax: r.vmax, hidden: r.stack === 'encoder' ? hidden : undefined }),
        shape: [3, H, W], marks: [mark], ...(m.cls !== null ? { caption: `cls ${m.cls.toFixed(3)}` } : {}),
      };
    }),
  ]);
  const rowTitles = rows.map((r) => `${r.stack} ${r.index}\nvmax ${r.vmax.toPrecision(3)}`);
  const note = `Attention from the query patch (outlined) to every patch token, averaged over heads; colours scaled to each row's vmax (shared by its three maps). `
    + `Hatched: hidden patches (the encoder has no token for them); the decoder has a token for every patch. `
    + (P ? 'Caption: the query\'s weight on the cls token (not drawn). ' : `The ${model.label} has no cls token: the weights over the patches sum to 1. `)
    + `Mask: ${hiddenList(f.mask, L, 0).length} of ${L} patches hidden.`;
  const grid: GridFigure = {
    title: f.title, columnTitles: ['mask and query', ...colTitles], rowTitles, rows: tiles, note,
    colorbar: { lo: 0, hi: 1, label: 'weight / vmax' },
  };
  const data: Figure3Data = {
    index: f.index, label_name: f.labelName, grid: [gh, gw],
    query: { patch: f.query, row: Math.floor(f.query / gw), col: f.query % gw },
    mask: { hidden: hiddenList(f.mask, L, 0) },
    token_order: P
      ? 'encoder: token 0 is cls, token 1 + s is visible patch idsKeep[s] (ascending patch order under a given mask); decoder: token 0 is cls, token 1 + l is patch l'
      : 'no cls token: encoder token s is visible patch idsKeep[s] (ascending patch order under a given mask); decoder token l is patch l',
    columns: ['mask and query', ...colTitles], rows,
  };
  return { grid, data };
}

// ---------------------------------------------------------------- Figure 4

/** What the figure's JSON says about a series' trend against the budget, computed from the numbers alone. */
export interface BudgetTrend {
  /** Non-decreasing over the budgets ≥ 1/255 (in increasing order). */
  monotone_from_1_255: boolean;
  /** Of the consecutive budget pairs ≥ 1/255: how many rise, and how many there are. */
  rising_pairs: number;
  pairs: number;
  value_at_0: number | null;
  value_at_max: number;
  /** value_at_max / value_at_0 (null without budget 0, or when the value there is not positive: a ratio to 0 or across signs says nothing). */
  ratio_max_vs_0: number | null;
  /** value_at_max / the value at the smallest budget ≥ 1/255 (null when there is none or it is not positive). */
  ratio_max_vs_first: number | null;
}

const ONE = 1 / 255;

export function budgetTrend(budgets: number[], values: number[]): BudgetTrend {
  const order = budgets.map((b, i) => [b, values[i]] as const).sort((a, b) => a[0] - b[0]);
  const from1 = order.filter(([b]) => b >= ONE - 1e-9);
  let rising = 0, monotone = true;
  for (let i = 1; i < from1.length; i++) {
    if (from1[i][1] > from1[i - 1][1]) rising++;
    if (from1[i][1] < from1[i - 1][1]) monotone = false;
  }
  const at0 = order.find(([b]) => b === 0)?.[1] ?? null;
  const atMax = order[order.length - 1][1];
  const first = from1.length ? from1[0][1] : null;
  return {
    monotone_from_1_255: monotone, rising_pairs: rising, pairs: Math.max(0, from1.length - 1),
    value_at_0: at0, value_at_max: atMax,
    ratio_max_vs_0: at0 !== null && at0 > 0 ? atMax / at0 : null,
    ratio_max_vs_first: first !== null && first > 0 ? atMax / first : null,
  };
}

/** What the figure's JSON says about a series along the purification steps. */
export interface StepTrend {
  first: number;
  last: number;
  /** last < first. */
  last_below_first: boolean;
  ratio_last_vs_first: number | null;
  /** Of the S steps s → s + 1: how many lower the value, as a count and a fraction. */
  decreasing_steps: number;
  fraction_decreasing: number;
}

export function stepTrend(values: number[]): StepTrend {
  let dec = 0;
  for (let i = 1; i < values.length; i++) if (values[i] < values[i - 1]) dec++;
  const first = values[0], last = values[values.length - 1];
  const S = Math.max(0, values.length - 1);
  return { first, last, last_below_first: last < first, ratio_last_vs_first: first > 0 ? last / first : null, decreasing_steps: dec, fraction_decreasing: S ? dec / S : 0 };
}

export interface BudgetSweepInput {
  classifier: Classifier;
  model: MaskedReconstructor;
  images: Float32Array;
  labels: Int32Array;
  /** l_inf budgets in pixel units. */
  budgets: number[];
  /** Mask ratio of the analysis mask (docs/method.md section 7: 0.5), one mask per image from maskSeed, shared by clean and attacked. */
  maskRatio: number;
  maskSeed: number;
  attack: Omit<LinfAttack, 'eps'>;
  batch?: number;
  onProgress?: (line: string) => void;
}

export interface BudgetSweep {
  budgets: number[];
  budgets_255: number[];
  layers: string[];
  /** Per layer, per budget: ‖A_adv − A_clean‖_F averaged over heads and images. */
  amv: Record<string, number[]>;
  /** Per layer, per budget: ‖A_adv − A_clean‖²_F averaged over heads and images (Theorem 3.2's quantity). */
  amv_squared: Record<string, number[]>;
  /** Mean L_rec of the clean images under the analysis mask. */
  loss_clean: number;
  /** Per budget: mean L_rec of the attacked images under the same mask, and its excess over loss_clean. */
  loss_attacked: number[];
  loss_gap: number[];
  /** Per budget: the classifier's accuracy on the attacked images (budget 0: on the clean ones). */
  attacked_accuracy: number[];
  n: number;
}

/** Figure 4(a)'s numbers: per budget, AMV per layer and L_rec, over n images in batches. */
export async function budgetSweep(s: BudgetSweepInput): Promise<BudgetSweep> {
  const n = s.labels.length, per = s.images.length / n, L = s.model.numPatches, batch = s.batch ?? DEFAULT_BATCH;
  const layers = layerNames(s.model), B = s.budgets.length;
  const mask = drawMask(s.model, n, s.maskRatio, s.maskSeed);
  const amvSum = layers.map(() => new Float64Array(B)), sqSum = layers.map(() => new Float64Array(B)), count = layers.map(() => new Float64Array(B));
  let cleanLoss = 0;
  const advLoss = new Float64Array(B), correct = new Float64Array(B);
  for (let b0 = 0, k = 0; b0 < n; b0 += batch, k++) {
    const m = Math.min(batch, n - b0);
    const x = s.images.subarray(b0 * per, (b0 + m) * per), y = s.labels.subarray(b0, b0 + m), mb = mask.subarray(b0 * L, (b0 + m) * L);
    const clean = await captureForward(s.model, x, m, mb);
    cleanLoss += clean.loss.reduce((a, v) => a + v, 0);
    for (let e = 0; e < B; e++) {
      const eps = s.budgets[e];
      const adv = await attackLinf(s.classifier, x, y, { ...s.attack, eps, seed: s.attack.seed + k, batch: m });
      const cap = await captureForward(s.model, adv, m, mb);
      cap.layers.forEach((l, i) => {
        const sq = amvSquared(clean.layers[i], l);
        for (const v of sq) { amvSum[i][e] += Math.sqrt(v); sqSum[i][e] += v; count[i][e]++; }
      });
      advLoss[e] += cap.loss.reduce((a, v) => a + v, 0);
      const p = await classifyImages(s.classifier, adv, m, m);
      correct[e] += p.pred.reduce((a, v, i) => a + (v === y[i] ? 1 : 0), 0);
      s.onProgress?.(`  budget ${fmt255(eps)}: images ${b0 + 1}-${b0 + m} of ${n} attacked and measured`);
    }
  }
  const amv: Record<string, number[]> = {}, amvSq: Record<string, number[]> = {};
  layers.forEach((name, i) => {
    amv[name] = Array.from(amvSum[i], (v, e) => v / count[i][e]);
    amvSq[name] = Array.from(sqSum[i], (v, e) => v / count[i][e]);
  });
  const lossClean = cleanLoss / n;
  const lossAttacked = Array.from(advLoss, (v) => v / n);
  return {
    budgets: [...s.budgets], budgets_255: s.budgets.map((b) => b * 255), layers, amv, amv_squared: amvSq,
    loss_clean: lossClean, loss_attacked: lossAttacked, loss_gap: lossAttacked.map((v) => v - lossClean),
    attacked_accuracy: Array.from(correct, (v) => v / n), n,
  };
}

export const fmt255 = (eps: number): string => `${Number((eps * 255).toPrecision(6))}/255`;

export interface PurificationTrackInput {
  classifier: Classifier;
  /** The model whose attention and fixed-mask loss are tracked, and the loss the purification descends (the same model's). */
  model: MaskedReconstructor;
  purifier: ReconstructionModel;
  images: Float32Array;
  labels: Int32Array;
  attack: LinfAttack;
  /** The purification (a preset with overrides). */
  options: PurifyOptions;
  batch?: number;
  onProgress?: (line: string) => void;
}

/** A seed for the one fresh mask draw that measures L_rec at x_S (apart from the loop's and the AMV probe's streams). */
export const FINAL_LOSS_SEED_OFFSET = 0x4c524543;

export interface PurificationTrack {
  steps: number;
  layers: string[];
  /** Per layer, per step s = 0 … S: AMV of x_s against the clean images (purify's trackAmv, one probe mask). */
  amv: Record<string, number[]>;
  /** Per step s = 0 … S: mean L_rec of x_s under the loop's own fresh masks (see loss_measured). */
  loss: number[];
  /** Per step s = 0 … S: mean L_rec of x_s under one fixed mask per image, the AMV's probe mask (see loss_measured). */
  loss_fixed_mask: number[];
  /** Mean L_rec of the clean images under the same fixed masks (the level a purified image would reach if it were the clean one). */
  loss_clean_fixed_mask: number;
  loss_measured: { loss: string; loss_fixed_mask: string };
  accuracy: { clean: number; attacked: number; purified: number };
  n: number;
}

/** Figure 4(b)'s numbers: attacked images purified with AMV and L_rec tracked per step, in batches (means over all images). */
export async function purificationTrack(t: PurificationTrackInput): Promise<PurificationTrack> {
  const n = t.labels.length, per = t.images.length / n, batch = t.batch ?? DEFAULT_BATCH;
  const lrec = t.purifier;
  const [C, H, W] = lrec.inputShape;
  const layers = layerNames(t.model), S = t.options.steps;
  const nEnc = t.model.layers.filter((l) => l.stack === 'encoder').length;
  // The fixed-mask loss under the AMV probe's mask and (MaskDiT) the probe's noise draw.
  const probeSeed = t.options.seed + AMV_PROBE_SEED_OFFSET;
  const probeModel = t.model.withNoiseSeed(probeSeed);
  const amv = layers.map(() => new Float64Array(S + 1));
  const loss = new Float64Array(S + 1), lossFixed = new Float64Array(S + 1);
  let lossClean = 0;
  let clean = 0, attacked = 0, purified = 0;
  for (let b0 = 0, k = 0; b0 < n; b0 += batch, k++) {
    const m = Math.min(batch, n - b0);
    const x = t.images.subarray(b0 * per, (b0 + m) * per), y = t.labels.subarray(b0, b0 + m);
    const adv = await attackLinf(t.classifier, x, y, { ...t.attack, seed: t.attack.seed + k, batch: m });
    t.onProgress?.(`  images ${b0 + 1}-${b0 + m} of ${n}: attacked (PGD ${fmt255(t.attack.eps)}), purifying`);
    const out = await asyncScope(async () => {
      const ref = tensor(x, [m, C, H, W]);
      const r = await purify(lrec, tensor(adv, [m, C, H, W]), t.options, {
        trackAmv: true, amvReference: ref, trackLoss: true, trajectory: true,
        onProgress: (s, steps) => { if (s % 25 === 0 || s === steps) t.onProgress?.(`    purification step ${s}/${steps} (images ${b0 + 1}-${b0 + m})`); },
      });
      const last = noGrad(() => lrec.reconstructionLoss(r.images, { maskRatio: t.options.maskRatio, masks: t.options.masks, rng: new Rng(t.options.seed + FINAL_LOSS_SEED_OFFSET) }));
      // L_rec of x_0 … x_S under the AMV's probe mask (one mask per image for every step), so the
      // curve shows the images changing, not the mask draws; every image hides as many patches, so
      // the forward's loss is the mean of the per-image losses.
      const mask = drawMask(t.model, m, t.options.maskRatio, probeSeed);
      const fixed: number[] = [];
      for (const xs of [x, adv, ...r.trajectory!]) {
        fixed.push(await asyncScope(async () => {
          const o = noGrad(() => probeModel.forward(tensor(xs, [m, C, H, W]), { mask }));
          return (await o.loss.data())[0];
        }));
      }
      return { images: await r.images.data(), losses: r.losses!, amv: r.amv!, last: (await last.data())[0], cleanLoss: fixed[0], fixed: fixed.slice(1) };
    });
    for (let s = 0; s <= S; s++) {
      const row = [...out.amv.encoder[s], ...out.amv.decoder[s]];
      if (row.length !== layers.length || out.amv.encoder[s].length !== nEnc) throw new Error(`purificationTrack: the AMV trajectory has ${row.length} layers, the ${t.model.label} ${layers.length}`);
      row.forEach((v, i) => { amv[i][s] += v * m; });
      loss[s] += (s < S ? out.losses[s] : out.last) * m;
      lossFixed[s] += out.fixed[s] * m;
    }
    lossClean += out.cleanLoss * m;
    const count = async (z: Float32Array): Promise<number> => {
      const p = await classifyImages(t.classifier, z, m, m);
      return p.pred.reduce((a, v, i) => a + (v === y[i] ? 1 : 0), 0);
    };
    clean += await count(x);
    attacked += await count(adv);
    purified += await count(out.images);
  }
  const amvOut: Record<string, number[]> = {};
  layers.forEach((name, i) => { amvOut[name] = Array.from(amv[i], (v) => v / n); });
  return {
    steps: S, layers, amv: amvOut, loss: Array.from(loss, (v) => v / n), loss_fixed_mask: Array.from(lossFixed, (v) => v / n),
    loss_clean_fixed_mask: lossClean / n,
    loss_measured: {
      loss: `loss[s] for s < S: the loss the purification loop descends at x_s (purify's trackLoss: the mean over images of L_rec under step s + 1's fresh masks, ratio ${t.options.maskRatio}); loss[S]: L_rec of x_S under one fresh mask draw (seed ${t.options.seed} + ${FINAL_LOSS_SEED_OFFSET}); means over batches weighted by batch size`,
      loss_fixed_mask: `L_rec of x_s for every s under one fixed mask per image: the AMV's probe mask (ratio ${t.options.maskRatio}, seed ${t.options.seed} + AMV_PROBE_SEED_OFFSET ${AMV_PROBE_SEED_OFFSET})${t.model.family === 'maskdit' ? ' and the probe\'s diffusion-noise draw (noise seed the same)' : ''}; means over batches weighted by batch size; loss_clean_fixed_mask: the clean images under the same masks`,
    },
    accuracy: { clean: clean / n, attacked: attacked / n, purified: purified / n }, n,
  };
}

const DASHED_DECODER = (name: string): boolean => name.startsWith('dec');

/** Figure 4(a) as SVG: AMV per layer, L_rec, and L_rec^adv − L_rec against the budget (in /255). */
export function budgetPlotSvg(b: BudgetSweep, title?: string): string {
  const x = b.budgets_255;
  const amv: Series[] = b.layers.map((name) => ({ label: name, x, y: b.amv[name], dashed: DASHED_DECODER(name) }));
  return linePlotsSvg([
    { title: 'AMV per layer', xLabel: 'l_inf budget (/255)', yLabel: '‖A_adv − A_clean‖_F (mean over heads, images)', series: amv, xTicks: x, width: 520, height: 380 },
    {
      title: 'reconstruction loss', xLabel: 'l_inf budget (/255)', yLabel: 'L_rec (mean over images)', xTicks: x, width: 520, height: 380, legend: 'bottom',
      series: [
        { label: 'L_rec (attacked)', x, y: b.loss_attacked },
        { label: 'L_rec (clean)', x, y: x.map(() => b.loss_clean), dashed: true, markers: false },
      ],
    },
    { title: 'L_rec^adv − L_rec', xLabel: 'l_inf budget (/255)', yLabel: 'L_rec^adv − L_rec', xTicks: x, width: 520, height: 380, legend: 'bottom', series: [{ label: 'L_rec^adv − L_rec', x, y: b.loss_gap }] },
  ], 3, { title: title ?? `Figure 4(a): AMV and L_rec against the attack budget (${b.n} images)` });
}

/** Figure 4(b) as SVG: AMV per layer and L_rec along the purification steps. */
export function purificationPlotSvg(p: PurificationTrack, title?: string): string {
  const x = Array.from({ length: p.steps + 1 }, (_, s) => s);
  return linePlotsSvg([
    { title: 'AMV per layer (against the clean images)', xLabel: 'purification step', yLabel: '‖A(x_s) − A_clean‖_F (mean over heads, images)', width: 560, height: 380, series: p.layers.map((name) => ({ label: name, x, y: p.amv[name], dashed: DASHED_DECODER(name) })) },
    {
      title: 'reconstruction loss', xLabel: 'purification step', yLabel: 'L_rec (mean over images)', width: 560, height: 380, legend: 'bottom',
      series: [
        { label: 'L_rec (fixed mask)', x, y: p.loss_fixed_mask, width: 2.2 },
        { label: "L_rec (the loop's fresh masks)", x, y: p.loss, width: 1, color: '#9e9e9e' },
        { label: 'L_rec (clean, fixed mask)', x, y: x.map(() => p.loss_clean_fixed_mask), dashed: true, markers: false, color: '#d62728' },
      ],
    },
  ], 2, { title: title ?? `Figure 4(b): AMV and L_rec along the purification (${p.n} attacked images)` });
}
