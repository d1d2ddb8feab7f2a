// Reverse-mode autograd. Ops call `record`; a node is made only when grad mode is on and an input
// needs a gradient. `backward` walks the nodes in reverse topological order, accumulating where a
// tensor was used twice, and writes `.grad` on the leaves that asked for one.
import { engine } from './engine.js';
import { Tensor, adopt, keep, scope, untrackedView } from './tensor.js';
import { add, affine } from './ops/elementwise.js';
import { fill } from './ops/creation.js';

let noGradDepth = 0;
export function isGradEnabled(): boolean { return noGradDepth === 0; }

/** Runs `fn` without recording anything for autograd. */
export function noGrad<T>(fn: () => T): T {
  noGradDepth++;
  try { return fn(); } finally { noGradDepth--; }
}

/**
 * An op's backward: the gradients of its inputs (undefined where none flows) from the output's gradient gy and the saved tensors.
 * `pending(k)` hands over the gradient input k has accumulated so far from its other consumers (or
 * undefined), for a backward that adds it in its own pass (saving the add): a backward that takes
 * it owns it and returns input k's gradient with it included.
 */
export type BackwardFn = (gy: Tensor, saved: Tensor[], pending?: (k: number) => Tensor | undefined) => (Tensor | undefined)[];

/**
 * A backward written in recorded ops, so that it can itself be differentiated (second order):
 * `inputs` are the op's inputs still linked to the graph, `out()` its output likewise, `saved` the
 * saved tensors (constants here, e.g. indices).
 * 'same': the op's BackwardFn already is such a function of its saved inputs and output.
 */
export type ComposedBackward = ((gy: Tensor, inputs: Tensor[], out: () => Tensor, saved: Tensor[]) => (Tensor | undefined)[]) | 'same';

let higherOrderDepth = 0;
/** True inside differentiableTwice(): ops record what a second differentiation needs, fused ops compose. */
export function isHigherOrder(): boolean { return higherOrderDepth > 0; }

/**
 * Runs `fn` (a forward) so that its backward can itself be differentiated: every op keeps its
 * inputs linked to the graph and a backward made of recorded ops, and fused kernels whose backward
 * is not (layer norm, attention, the patch loss) run in their composed forms. Then
 * `grad(root, wrt, { createGraph: true })` returns gradients on the tape.
 */
export function differentiableTwice<T>(fn: () => T): T {
  higherOrderDepth++;
  try { return fn(); } finally { higherOrderDepth--; }
}

/** What a node keeps for a second differentiation (recorded inside differentiableTwice). */
interface HigherOrder {
  /** Per input: a handle linked to the graph (a leaf itself; a view carrying the node otherwise). */
  inputs: Tensor[];
  /** The output's data, to be linked to this node when the backward runs. */
  out: Tensor;
  /** Per saved tensor: which input it is, -1 for the output, undefined for a constant. */
  savedFrom: (number | undefined)[];
  composed: ComposedBackward | undefined;
}

/** A handle on t's data that carries t's node (and so its graph), no scope's. */
function linkedView(t: Tensor): Tensor {
  if (!t.node && t.requiresGrad) return t; // a leaf that takes gradients: they accumulate on the leaf itself
  if (!t.node) return untrackedView(t); // a constant: its data, whoever disposes the handle
  const v = untrackedView(t);
  v.node = t.node.ref();
  v.requiresGrad = true;
  return v;
}

export class Node {
  private refs = 1; // the output tensor's handle; consumers add theirs
  private saved: Tensor[] | undefined;
  private higher: HigherOrder | undefined;
  readonly parents: (Node | undefined)[];

  constructor(readonly op: string, readonly inputs: Tensor[], saved: Tensor[], readonly backwardFn: BackwardFn, out?: Tensor, composed?: ComposedBackward) {
    this.saved = saved.map(untrackedView);
    this.parents = inputs.map((t) => t.node?.ref());
    if (out && higherOrderDepth > 0) {
      this.higher = {
        inputs: inputs.map(linkedView), out: untrackedView(out), composed,
        savedFrom: saved.map((t) => (t === out ? -1 : inputs.indexOf(t) >= 0 ? inputs.indexOf(t) : undefined)),
      };
    }
  }

  ref(): this { this.refs++; return this; }

  unref(): void {
    if (--this.refs > 0) return;
    this.freeSaved();
    for (const p of this.parents) p?.unref();
  }

  freeSaved(): void {
    if (!this.saved) return;
    for (const t of this.saved) t.dispose();
    this.saved = undefined;
    if (this.higher) {
      this.higher.inputs.forEach((t, k) => { if (t !== this.inputs[k]) t.dispose(); });
      this.higher.out.dispose();
      this.higher = undefined;
    }
  }

  run(gy: Tensor, pending?: (k: number) => Tensor | undefined): (Tensor | undefined)[] {
    if (!this.saved) throw new Error(`backward through ${this.op} a second time: its saved tensors were freed (pass retainGraph: true to the first backward)`);
    return this.backwardFn(gy, this.saved, pending);
  }

  /** The backward in recorded ops (grad mode on), for createGraph. */
  runComposed(gy: Tensor): (Tensor | undefined)[] {
    if (!this.saved) throw new Error(`backward through ${this.op} a second time: its saved tensors were freed (pass retainGraph: true to the first backward)`);
    const h = this.higher;
    if (!h) throw new Error(`backward with createGraph: ${this.op} was recorded outside differentiableTwice(), so its backward cannot be differentiated`);
    if (!h.composed) throw new Error(`backward with createGraph: ${this.op} has no backward in recorded ops (no second derivative)`);
    h.inputs.forEach((t, k) => {
      if (t.disposed) throw new Error(`backward with createGraph: input ${k} of ${this.op} (a leaf) was disposed before the backward`);
    });
    let outView: Tensor | undefined;
    const out = (): Tensor => {
      if (!outView) {
        outView = new Tensor(h.out.storage.retain(), h.out.shape, h.out.dtype);
        outView.node = this.ref();
        outView.requiresGrad = true;
      }
      return outView;
    };
    const saved = this.saved;
    if (h.composed !== 'same') return h.composed(gy, h.inputs, out, saved);
    return this.backwardFn(gy, h.savedFrom.map((k, i) => (k === undefined ? saved[i] : k === -1 ? out() : h.inputs[k])));
  }
}

/**
 * Records `out` as produced by `op` from `inputs`. `saved` are the tensors the backward needs (kept
 * alive even if their owners dispose them). Also runs the optional NaN check on the output.
 */
export function record(op: string, out: Tensor, inputs: Tensor[], saved: Tensor[], backward: BackwardFn, composed?: ComposedBackward): Tensor {
  engine().checkOutput(op, out);
  if (noGradDepth > 0 || !inputs.some((t) => t.requiresGrad)) return out;
  out.requiresGrad = true;
  out.node = new Node(op, inputs, saved, backward, out, composed);
  return out;
}

/**
 * The gradient gy passed on unchanged to an input: a second handle on its buffer in a plain
 * backward; a recorded identity when the backward is itself recorded (createGraph), so that the
 * graph stays connected.
 */
export function passGradient(gy: Tensor): Tensor {
  return noGradDepth > 0 ? gy.detach() : affine(gy, 1, 0);
}

export interface BackwardOptions {
  /** Keep the saved tensors, so that the graph can be back-propagated again. */
  retainGraph?: boolean;
  /**
   * Record the backward pass itself (implies retainGraph): the gradients are on the tape and can be
   * differentiated again. Needs a forward run inside differentiableTwice().
   */
  createGraph?: boolean;
  /** Only these leaves receive gradients (grad() uses it); others' `.grad` stay as they are. */
  only?: ReadonlySet<Tensor>;
  /** Gradients with respect to computed tensors, by their node: filled in as the pass reaches them (grad() uses it). */
  capture?: Map<Node, Tensor | undefined>;
}

/** Back-propagates from `root` (a scalar, or with an explicit upstream gradient `gy`). */
export function backward(root: Tensor, gy?: Tensor, options: BackwardOptions = {}): void {
  if (!root.requiresGrad) throw new Error(`backward: ${root} does not require a gradient (no input of its graph asked for one)`);
  if (!gy && root.size !== 1) throw new Error(`backward: ${root} is not a scalar; pass the upstream gradient`);
  if (gy && gy.shape.join() !== root.shape.join()) throw new Error(`backward: upstream gradient [${gy.shape}] does not match ${root}`);
  const createGraph = options.createGraph === true;
  const accumulate = (leaf: Tensor, g: Tensor): void => {
    if (options.only && !options.only.has(leaf)) g.dispose();
    else accumulateLeaf(leaf, g);
  };
  const pass = (): void => scope(() => {
    const seed = gy ? gy : noGrad(() => fill(root.shape, 1));
    if (!root.node) { accumulate(root, seed); return; }
    // Reverse topological order by iterative DFS over parent nodes.
    const order: Node[] = [];
    const seen = new Set<Node>();
    const stack: [Node, boolean][] = [[root.node, false]];
    while (stack.length) {
      const [n, expanded] = stack.pop()!;
      if (expanded) { order.push(n); continue; }
      if (seen.has(n)) continue;
      seen.add(n);
      stack.push([n, true]);
      for (const p of n.parents) if (p && !seen.has(p)) stack.push([p, false]);
    }
    const grads = new Map<Node, Tensor>([[root.node, seed]]);
    for (let i = order.length - 1; i >= 0; i--) {
      const n = order[i];
      const g = grads.get(n);
      if (!g) continue;
      grads.delete(n);
      if (options.capture?.has(n)) options.capture.set(n, keep(passGradient(g)));
      // An input's gradient so far, taken by a backward that folds it into its own pass.
      const pending = (k: number): Tensor | undefined => {
        const p = n.parents[k], prev = p && grads.get(p);
        if (!prev || prev.shape.join() !== n.inputs[k].shape.join()) return undefined;
        grads.delete(p);
        return prev;
      };
      const ins = createGraph ? n.runComposed(g) : n.run(g, pending);
      if (g !== gy) g.dispose();
      n.inputs.forEach((input, k) => {
        const gi = ins[k];
        if (!gi) return;
        if (!input.requiresGrad) { gi.dispose(); return; }
        if (gi.shape.join() !== input.shape.join()) {
          throw new Error(`backward of ${n.op}: gradient [${gi.shape}] for input ${k} does not match its shape [${input.shape}]`);
        }
        const p = n.parents[k];
        if (p) {
          const prev = grads.get(p);
          grads.set(p, prev ? sum2(prev, gi) : gi);
        } else accumulate(input, gi);
      });
    }
    if (!options.retainGraph && !createGraph) for (const n of order) n.freeSaved();
  });
  // The backward of a createGraph pass is itself recorded; otherwise nothing is.
  if (createGraph) pass(); else noGrad(pass);
}

function sum2(a: Tensor, b: Tensor): Tensor {
  const s = add(a, b);
  a.dispose();
  b.dispose();
  return s;
}

function accumulateLeaf(leaf: Tensor, g: Tensor): void {
  if (leaf.disposed) { g.dispose(); return; }
  leaf.grad = keep(leaf.grad ? sum2(leaf.grad, g) : g);
}

/**
 * Gradients of `root` (a scalar, or with upstream gradient `gy`) with respect to `wrt`: leaves, or
 * tensors computed on the tape (an unrolled loop differentiates with respect to its iterates),
 * without touching `.grad` of anything. With createGraph the gradients are on the tape (see
 * differentiableTwice). A tensor the root does not depend on gets zeros.
 */
export function grad(root: Tensor, wrt: Tensor[], gy?: Tensor, options: BackwardOptions = {}): Tensor[] {
  const leaves = wrt.filter((t) => !t.node);
  const capture = new Map<Node, Tensor | undefined>(wrt.filter((t) => t.node).map((t) => [t.node!, undefined]));
  const before = leaves.map((t) => t.grad);
  for (const t of leaves) t.grad = undefined;
  try {
    backward(root, gy, { ...options, only: new Set(leaves), capture });
    // The gradients were kept while the pass ran (a leaf's .grad outlives scopes); handed back, they
    // belong to the caller's scope like any op's result.
    return wrt.map((t) => {
      const g = t.node ? capture.get(t.node) : t.grad;
      return g ? adopt(g) : noGrad(() => fill(t.shape, 0));
    });
  } finally {
    leaves.forEach((t, i) => { t.grad = before[i]; });
  }
}
