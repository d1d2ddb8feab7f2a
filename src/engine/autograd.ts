// Reverse-mode autograd. Ops call `record`; a node is made only when grad mode is on and an input
// needs a gradient. `backward` walks the nodes in reverse topological order, accumulating where a
// tensor was used twice, and writes `.grad` on the leaves that asked for one.
import { engine } from './engine.js';
import { Tensor, keep, scope, untrackedView } from './tensor.js';
import { add } from './ops/elementwise.js';
import { fill } from './ops/creation.js';

let noGradDepth = 0;
export function isGradEnabled(): boolean { return noGradDepth === 0; }

/** Runs `fn` without recording anything for autograd. */
export function noGrad<T>(fn: () => T): T {
  noGradDepth++;
  try { return fn(); } finally { noGradDepth--; }
}

/** Receives the output's gradient; returns one gradient per input (undefined where none flows). */
export type BackwardFn = (gy: Tensor, saved: Tensor[]) => (Tensor | undefined)[];

export class Node {
  private refs = 1; // the output tensor's handle; consumers add theirs
  private saved: Tensor[] | undefined;
  readonly parents: (Node | undefined)[];

  constructor(readonly op: string, readonly inputs: Tensor[], saved: Tensor[], readonly backwardFn: BackwardFn) {
    this.saved = saved.map(untrackedView);
    this.parents = inputs.map((t) => t.node?.ref());
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
  }

  run(gy: Tensor): (Tensor | undefined)[] {
    if (!this.saved) throw new Error(`backward through ${this.op} a second time: its saved tensors were freed (pass retainGraph: true to the first backward)`);
    return this.backwardFn(gy, this.saved);
  }
}

/**
 * Records `out` as produced by `op` from `inputs`. `saved` are the tensors the backward needs (kept
 * alive even if their owners dispose them). Also runs the optional NaN check on the output.
 */
export function record(op: string, out: Tensor, inputs: Tensor[], saved: Tensor[], backward: BackwardFn): Tensor {
  engine().checkOutput(op, out);
  if (noGradDepth > 0 || !inputs.some((t) => t.requiresGrad)) return out;
  out.requiresGrad = true;
  out.node = new Node(op, inputs, saved, backward);
  return out;
}

export interface BackwardOptions { retainGraph?: boolean; }

/** Back-propagates from `root` (a scalar, or with an explicit upstream gradient `gy`). */
export function backward(root: Tensor, gy?: Tensor, options: BackwardOptions = {}): void {
  if (!root.requiresGrad) throw new Error(`backward: ${root} does not require a gradient (no input of its graph asked for one)`);
  if (!gy && root.size !== 1) throw new Error(`backward: ${root} is not a scalar; pass the upstream gradient`);
  if (gy && gy.shape.join() !== root.shape.join()) throw new Error(`backward: upstream gradient [${gy.shape}] does not match ${root}`);
  noGrad(() => scope(() => {
    const seed = gy ? gy : fill(root.shape, 1);
    if (!root.node) { accumulateLeaf(root, seed); return; }
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
      const ins = n.run(g);
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
        } else accumulateLeaf(input, gi);
      });
    }
    if (!options.retainGraph) for (const n of order) n.freeSaved();
  }));
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

/** Gradients of a scalar `root` with respect to `wrt`, without touching `.grad` of anything else. */
export function grad(root: Tensor, wrt: Tensor[], gy?: Tensor, options: BackwardOptions = {}): Tensor[] {
  const before = wrt.map((t) => t.grad);
  for (const t of wrt) t.grad = undefined;
  backward(root, gy, options);
  return wrt.map((t, i) => {
    const g = t.grad ?? noGrad(() => fill(t.shape, 0));
    t.grad = before[i];
    return g;
  });
}
