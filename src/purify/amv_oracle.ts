// The objective the reconstruction loss stands in for (docs/method.md section 7, the paper's Eq. 1 when
// the clean image is known): the attention variation Σ_layers Σ_heads ‖A(x) − A(x_clean)‖²_F of
// every encoder and decoder layer, under a mask shared by x and x_clean (with several masks per step,
// the mean over them, as the reconstruction losses average theirs). Purifying by descending
// it (the same sign loop, ball and steps as AMRM) is an oracle: it needs the clean image, which a
// defense never has, and shows how much of the attention shift the L_rec surrogate removes. The
// model is a MaskedReconstructor: an MAE, or MaskDiT at σ_pur under its fixed noise draw, which x
// and x_clean then share as they share the mask.
import { keep, type Tensor } from '../engine/tensor.js';
import { noGrad } from '../engine/autograd.js';
import { add, mulScalar } from '../engine/ops/elementwise.js';
import { matmul } from '../engine/ops/matmul.js';
import { softmax } from '../engine/ops/softmax.js';
import { sum } from '../engine/ops/reduce.js';
import { amvLoss } from '../engine/ops/softmax_jacobian.js';
import { fmt } from '../engine/shape.js';
import type { MaskedReconstructor } from '../models/reconstructor.js';
import { attentionCollector, type ForwardProbe } from '../models/vit.js';
import { repeatForMasks, type PurifierLossOptions, type ReconstructionModel } from './loss.js';

export class AmvOracle implements ReconstructionModel {
  readonly name: string;
  readonly inputShape: readonly [number, number, number];

  /** `clean` [B, C, H, W]: the images whose attention the objective pulls x back to (not owned). */
  constructor(readonly model: MaskedReconstructor, readonly clean: Tensor) {
    this.inputShape = model.inputShape;
    this.name = `AMV oracle (${model.description})`;
    if (clean.rank !== 4 || clean.shape.slice(1).join() !== this.inputShape.join()) {
      throw new Error(`AmvOracle: clean images must be [B, ${this.inputShape.join(', ')}], got ${fmt(clean.shape)}`);
    }
  }

  /**
   * Σ over layers, heads and images of ‖A(x) − A(x_clean)‖²_F, averaged over `o.masks` masks (each
   * shared by x and x_clean), on the tape when x needs a gradient.
   */
  reconstructionLoss(x: Tensor, o: PurifierLossOptions): Tensor {
    if (x.shape.join() !== this.clean.shape.join()) throw new Error(`AmvOracle: images ${fmt(x.shape)} must match the clean images ${fmt(this.clean.shape)}`);
    // The batch repeated once per mask, copy-major like the explicit masks [masks·B, L].
    const xr = repeatForMasks(x, o.masks), cr = repeatForMasks(this.clean, o.masks);
    const mask = o.mask ?? this.model.maskPlan(xr.shape[0], { maskRatio: o.maskRatio, rng: o.rng }).mask;
    const ref = attentionCollector();
    noGrad(() => this.model.forward(cr, { mask, probe: ref.probe, probeProbs: true }));
    const refs = [...ref.maps.encoder, ...ref.maps.decoder];
    const terms: Tensor[] = [];
    let i = 0;
    // The fused attention kernel's probabilities carry no gradient: form A from the probe's Q, K.
    const probe: ForwardProbe = (r) => {
      const A = softmax(mulScalar(matmul(r.q, r.k, { transB: true }), r.scale));
      // Kept past the forward's scope; the handles go once summed (the graph keeps what backward needs).
      terms.push(keep(sum(amvLoss(A, refs[i++]))));
    };
    this.model.forward(xr, { mask, probe });
    const summed = terms.slice(1).reduce((a, b) => add(a, b), terms[0]);
    const total = o.masks === 1 ? summed : mulScalar(summed, 1 / o.masks);
    for (const t of [...refs, ...terms]) if (t !== summed) t.dispose();
    if (summed !== total) summed.dispose();
    if (xr !== x) xr.dispose();
    if (cr !== this.clean) cr.dispose();
    return total;
  }
}
