// The optimizer kernels as in-place ops (kernels/optim.wgsl): per-tensor partial sums of squared
// gradients, the global clipping scale, and the fused AdamW and SGD updates. They read the per-step
// scalars (lr, bias corrections, clip scale) from a small step tensor on the GPU, so a training
// step never reads back. No autograd: they mutate their first arguments.
import { engine } from '../engine.js';
import { f32bits, grid1d } from '../runtime.js';
import type { Tensor } from '../tensor.js';
import source from '../../../kernels/optim.wgsl';

/** Gradient elements per invocation of the sum-of-squares pass. */
export const SUMSQ_CHUNK = 256;
/** Words of the step tensor (kernels/optim.wgsl's S_*): lr, bias corrections, clip scale, norm, ... */
export const STEP_WORDS = 8;

/** Partial sums of g² in chunks of SUMSQ_CHUNK, written to partials[offset ...]. */
export function sumSquaresInto(g: Tensor, partials: Tensor, offset: number): void {
  const chunks = Math.ceil(g.size / SUMSQ_CHUNK);
  engine().runtime.dispatch({
    kernel: 'optim', source, entry: 'sumsq',
    uniforms: [g.size, offset, 0, 0, 0, SUMSQ_CHUNK, 0, 0],
    buffers: [g.buffer, partials.buffer], workgroups: grid1d(chunks, 64),
  });
}

/** The global norm √Σ partials into step[4] and the clipping scale min(1, clipNorm/norm) into step[3]. */
export function clipScaleInto(partials: Tensor, step: Tensor, clipNorm: number): void {
  engine().runtime.dispatch({
    kernel: 'optim', source, entry: 'clip_scale',
    uniforms: [partials.size, f32bits(clipNorm), 0, 0, 0, 0, 0, 0],
    buffers: [partials.buffer, step.buffer], workgroups: [1],
  });
}

export interface AdamWUpdate { beta1: number; beta2: number; eps: number; weightDecay: number; }

/** One AdamW update of `param` in place; state [2n] holds m then v. */
export function adamwUpdate(param: Tensor, grad: Tensor, state: Tensor, step: Tensor, o: AdamWUpdate): void {
  engine().runtime.dispatch({
    kernel: 'optim', source, entry: 'adamw',
    uniforms: [param.size, f32bits(o.beta1), f32bits(o.beta2), f32bits(o.eps), f32bits(o.weightDecay), 0, f32bits(1 - o.beta1), f32bits(1 - o.beta2)],
    buffers: [param.buffer, grad.buffer, state.buffer, step.buffer], workgroups: grid1d(param.size, 64),
  });
}

export interface SgdUpdate { momentum: number; weightDecay: number; nesterov: boolean; }

/** One SGD update (momentum, optionally Nesterov) of `param` in place; state [n] is the momentum buffer. */
export function sgdUpdate(param: Tensor, grad: Tensor, state: Tensor, step: Tensor, o: SgdUpdate): void {
  engine().runtime.dispatch({
    kernel: 'optim', source, entry: 'sgd',
    uniforms: [param.size, f32bits(o.momentum), f32bits(o.weightDecay), 0, 0, o.nesterov ? 1 : 0, 0, 0],
    buffers: [param.buffer, grad.buffer, state.buffer, step.buffer], workgroups: grid1d(param.size, 64),
  });
}
