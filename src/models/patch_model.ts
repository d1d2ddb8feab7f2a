// What every masked patch model (the MAE, MaskDiT) shares: its image geometry (the p×p patch
// grid, row-major), its own masking generator, and mask plans drawn from a MaskSource.
import { Rng } from '../engine/random.js';
import { StatefulModule } from './module.js';
import { planMasks, type MaskPlan, type MaskSource } from './masking.js';

export interface PatchGeometry { imgSize: [number, number]; patchSize: number; inChans: number; }

export abstract class PatchModel extends StatefulModule {
  readonly gridH: number;
  readonly gridW: number;
  readonly numPatches: number;
  /** Values per patch, p·p·C. */
  readonly patchDim: number;
  /** The generator masks come from when a forward names none. */
  readonly maskRng: Rng;

  /** `defaultMaskRatio`: the ratio a plan uses when its source gives none (the model's training ratio). */
  protected constructor(geometry: PatchGeometry, maskSeed: number, private readonly defaultMaskRatio: number) {
    super();
    const p = geometry.patchSize;
    this.gridH = geometry.imgSize[0] / p;
    this.gridW = geometry.imgSize[1] / p;
    this.numPatches = this.gridH * this.gridW;
    this.patchDim = p * p * geometry.inChans;
    this.maskRng = new Rng(maskSeed);
  }

  /** Which patches stay visible for a batch, from the source (see MaskSource). */
  maskPlan(batch: number, o: MaskSource = {}): MaskPlan {
    return planMasks(batch, this.numPatches, o, this.maskRng, this.defaultMaskRatio);
  }
}
