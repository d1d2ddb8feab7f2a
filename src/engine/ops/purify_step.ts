// The AMRM update as one kernel (kernels/purify_step.wgsl), and the diagonal Jacobian of the loop's
// images with respect to its input carried along it: the purification's hot loop without the six
// elementwise passes of its composed form, and the adaptive attack's exact gradient without a tape.
// No autograd: the loop on the tape uses the composed ops (src/purify/amrm.ts).
import { engine } from '../engine.js';
import { f32bits, grid1d } from '../runtime.js';
import { empty, Tensor } from '../tensor.js';
import { checkF32, fmt } from '../shape.js';
import source from '../../../kernels/purify_step.wgsl';

function check(op: string, x: Tensor, g: Tensor, x0: Tensor, lam: number, eta: number): void {
  checkF32(op, x, g, x0);
  for (const [name, t] of [['g', g], ['x0', x0]] as const) {
    if (t.shape.join() !== x.shape.join()) throw new Error(`${op}: ${name} ${fmt(t.shape)} must have the images' shape ${fmt(x.shape)}`);
  }
  if (!(lam >= 0) || !Number.isFinite(lam)) throw new Error(`${op}: the step must be a finite number ≥ 0, got ${lam}`);
  if (!(eta >= 0)) throw new Error(`${op}: the ball radius must be ≥ 0 (Infinity: no ball), got ${eta}`);
}

function launch(entry: 'purify_step' | 'purify_jacobian', x: Tensor, g: Tensor, x0: Tensor, out: Tensor, lam: number, eta: number): void {
  const ball = Number.isFinite(eta);
  engine().runtime.dispatch({
    kernel: 'purify_step', source, entry, constants: { BALL: ball ? 1 : 0 },
    uniforms: [x.size, f32bits(lam), f32bits(ball ? eta : 0), 0],
    buffers: [x.buffer, g.buffer, x0.buffer, out.buffer], workgroups: grid1d(x.size, 64),
  });
}

/** clamp01(project_{‖· − x0‖∞ ≤ eta}(x − lam·sign(g))), eta = Infinity for no ball: a new tensor. */
export function purifyStep(x: Tensor, g: Tensor, x0: Tensor, lam: number, eta: number): Tensor {
  check('purifyStep', x, g, x0, lam, eta);
  const y = empty(x.shape, 'f32', 'purifyStep');
  launch('purify_step', x, g, x0, y, lam, eta);
  return y;
}

/**
 * Carries the diagonal Jacobian d x_s / d x0 over the update purifyStep(x, g, x0, lam, eta) from
 * x = x_{s−1}: `jac` (d x_{s−1} / d x0, all ones before the first step) is updated in place. Call
 * it before the step's image replaces x.
 */
export function purifyStepJacobian(jac: Tensor, x: Tensor, g: Tensor, x0: Tensor, lam: number, eta: number): void {
  check('purifyStepJacobian', x, g, x0, lam, eta);
  checkF32('purifyStepJacobian', jac);
  if (jac.shape.join() !== x.shape.join()) throw new Error(`purifyStepJacobian: jac ${fmt(jac.shape)} must have the images' shape ${fmt(x.shape)}`);
  launch('purify_jacobian', x, g, x0, jac, lam, eta);
}
