// What the Purify tab computes for one image, free of the DOM, so that the page and its Node replay
// (node-replay.ts, which the browser test compares with the page) run the same calls: the PGD attack
// on the classifier alone (the non-adaptive attack `amrm demo` runs), the purification with every
// iterate, its loss, reconstruction and AMV handed over as they come (purify()'s onStep hook), and
// the paper's Figure 1 (one row) and Figure 3 (one query patch) from src/eval/figures.ts.
import { asyncScope } from '../../src/engine/tensor.js';
import { tensor } from '../../src/engine/ops/creation.js';
import { pgd } from '../../src/attacks/pgd.js';
import { classifierTarget, logitsOf } from '../../src/attacks/target.js';
import type { Classifier } from '../../src/models/cnn.js';
import { purify, type PurifyOptions } from '../../src/purify/amrm.js';
import type { LoadedPurifier } from '../../src/purify/load.js';
import { defaultQuery, drawMask, figure1, figure3, layerNames } from '../../src/eval/figures.js';
import { reconstructionView } from '../../src/eval/reconstruction_figure.js';
import type { GridFigure } from '../../src/eval/figure_tiles.js';
import { softmax } from './charts.js';

export interface AttackSpec { norm: 'linf' | 'l2'; eps: number; steps: number; seed: number; }

/** Class probabilities of one image [C·H·W]. */
export async function classify(classifier: Classifier, x: Float32Array): Promise<number[]> {
  return softmax(await logitsOf(classifierTarget(classifier), x, 1, 0));
}

/** PGD on the classifier alone, its last iterate (as every transfer evaluation through a purifier keeps: src/eval/robust.ts pgdKeep). */
export async function attackImage(classifier: Classifier, image: Float32Array, label: number, a: AttackSpec,
  onProgress?: (k: number, steps: number) => void): Promise<Float32Array> {
  if (a.steps === 0) return image;
  const r = await pgd(classifierTarget(classifier), image, Int32Array.of(label), { norm: a.norm, eps: a.eps, steps: a.steps, seed: a.seed, keep: 'last', onProgress });
  return r.adversarial;
}

export interface LiveStep {
  /** 1-based step. */
  step: number;
  steps: number;
  /** x_s on the host, [C·H·W]. */
  image: Float32Array;
  /** L_rec at x_{s-1}, the loss this step descended (as purify()'s trackLoss reports it). */
  loss: number;
  /** AMV of x_s against the reference image, averaged over the model's layers (purify()'s trackAmv: one probe mask for every step). */
  amv: number;
  /** The model's picture of x_s under one fixed mask (hidden patches predicted, visible ones x_s's), [C·H·W]. */
  reconstruction: Float32Array;
}

export interface LiveResult { image: Float32Array; losses: number[]; amv: number[]; seconds: number; }

/**
 * Purifies one image x0 ([C·H·W] in [0, 1]) and calls onStep after every step with the new iterate,
 * its loss, its AMV against `reference` (the clean image, to watch an attack being undone) and the
 * model's reconstruction of it. onStep may be async (the page repaints there); the next step waits.
 */
export async function purifyLive(p: LoadedPurifier, x0: Float32Array, reference: Float32Array, o: PurifyOptions,
  onStep: (s: LiveStep) => void | Promise<void>): Promise<LiveResult> {
  const shape = [1, ...p.recon.inputShape];
  const per = p.recon.inputShape.reduce((a, b) => a * b, 1);
  for (const [what, x] of [['the image', x0], ['the reference', reference]] as const) {
    if (x.length !== per) throw new Error(`purifyLive: ${what} has ${x.length} values, ${p.recon.name} takes [${p.recon.inputShape}] = ${per}`);
  }
  const losses: number[] = [], amvs: number[] = [];
  return asyncScope(async () => {
    const r = await purify(p.recon, tensor(x0, shape), o, {
      trackAmv: true, amvReference: tensor(reference, shape),
      // Small readbacks per step (the image, its picture and a scalar); they also keep the queue short.
      onStep: async ({ step, steps, x, loss, amv }) => {
        const [l] = await loss.data();
        const layers = [...amv!.encoder, ...amv!.decoder];
        const a = layers.reduce((s, v) => s + v, 0) / layers.length;
        losses.push(l);
        amvs.push(a);
        // One mask for every step (seeded like the loop), so the pictures differ only by x_s; drawn
        // as Figure 1 draws a reconstruction (the prediction on hidden patches, x_s on visible ones).
        const image = await x.data();
        const { rec } = await reconstructionView(p.reconstructor, image, 1, { maskRatio: o.maskRatio, seed: o.seed });
        await onStep({ step, steps, image, loss: l, amv: a, reconstruction: rec });
      },
    });
    return { image: await r.images.data(), losses, amv: amvs, seconds: r.seconds };
  });
}

export interface OneImage { image: Float32Array; label: number; index: number; classes: readonly string[]; }

/** Figure 1's row for one image: the image, its masked input and reconstruction, the attacked image and the reconstructions of it and of its purified version, each classified. */
export async function figure1Row(classifier: Classifier, p: LoadedPurifier, im: OneImage, attacked: Float32Array, purified: Float32Array,
  maskRatio: number, maskSeed: number): Promise<Awaited<ReturnType<typeof figure1>>> {
  return figure1({
    classifier, model: p.reconstructor, images: im.image, labels: Int32Array.of(im.label), indices: [im.index], classes: im.classes,
    attacked, purified, maskRatio, maskSeed,
  });
}

/** The mask Figure 1 and 3 use for one image ([L], 1 = hidden). */
export const figureMask = (p: LoadedPurifier, maskRatio: number, seed: number): Float32Array => drawMask(p.reconstructor, 1, maskRatio, seed);

/** Figure 3's first query: the visible patch nearest the image's centre (as `amrm figures` picks it). */
export const firstQuery = (p: LoadedPurifier, mask: Float32Array): number => defaultQuery(mask, p.reconstructor.gridH, p.reconstructor.gridW);

/**
 * Figure 3 for one query patch: its attention to every patch per layer, for the clean, attacked and
 * purified image under the figure's mask. A hidden query has no encoder token: then the decoder's layers only.
 */
export async function attentionOfPatch(p: LoadedPurifier, im: OneImage, attacked: Float32Array, purified: Float32Array, query: number,
  maskRatio: number, maskSeed: number): Promise<{ grid: GridFigure; hiddenQuery: boolean; data: Awaited<ReturnType<typeof figure3>>['data'] }> {
  const model = p.reconstructor;
  const mask = figureMask(p, maskRatio, maskSeed);
  const hiddenQuery = mask[query] === 1;
  const layers = layerNames(model).filter((n) => !hiddenQuery || !n.startsWith('enc'));
  const f = await figure3({
    model, clean: im.image, attacked, purified, index: im.index, labelName: im.classes[im.label] ?? String(im.label),
    mask, query, layers,
  });
  return { ...f, hiddenQuery };
}
