// The lab's small charts: a value per purification step (L_rec, AMV) as plain SVG, and class probabilities as bars.
const SVG = 'http://www.w3.org/2000/svg';

function el<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Redraws a line plot of y against 1..n into `svg` (fixed 320×160 viewBox, axes labelled). */
export function drawStepPlot(svg: SVGSVGElement, ys: readonly number[], steps: number, label: string): void {
  const W = 320, H = 160, L = 52, R = 10, T = 12, B = 28;
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.replaceChildren();
  svg.append(el('title', {}, `${label} per purification step`));
  const finite = ys.filter(Number.isFinite);
  let lo = finite.length ? Math.min(...finite) : 0, hi = finite.length ? Math.max(...finite) : 1;
  if (hi - lo < 1e-9) { lo -= 0.5 * Math.abs(lo || 1) * 0.1; hi += 0.5 * Math.abs(hi || 1) * 0.1; }
  const n = Math.max(steps, 2);
  const x = (i: number): number => L + ((i - 1) / (n - 1)) * (W - L - R);
  const y = (v: number): number => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
  svg.append(
    el('line', { x1: L, y1: H - B, x2: W - R, y2: H - B, class: 'axis' }),
    el('line', { x1: L, y1: T, x2: L, y2: H - B, class: 'axis' }),
    el('text', { x: L - 4, y: T + 4, 'text-anchor': 'end', class: 'tick' }, fmt(hi)),
    el('text', { x: L - 4, y: H - B, 'text-anchor': 'end', class: 'tick' }, fmt(lo)),
    el('text', { x: L, y: H - 8, class: 'tick' }, '1'),
    el('text', { x: W - R, y: H - 8, 'text-anchor': 'end', class: 'tick' }, `step ${steps}`),
  );
  if (!finite.length) return;
  const pts = ys.map((v, i) => `${x(i + 1).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  svg.append(el('polyline', { points: pts, class: 'line' }));
  const last = ys.length;
  svg.append(el('circle', { cx: x(last), cy: y(ys[last - 1]), r: 3, class: 'dot' }));
}

const fmt = (v: number): string => (Math.abs(v) >= 100 || Math.abs(v) < 0.01 ? v.toExponential(2) : v.toFixed(3));

/**
 * Class probabilities as horizontal bars in an HTML list (screen readers read the numbers), the
 * predicted class marked and, when known, the true one.
 */
export function drawProbabilities(list: HTMLElement, probs: readonly number[], truth?: number, names?: readonly string[]): void {
  let best = 0;
  for (let k = 1; k < probs.length; k++) if (probs[k] > probs[best]) best = k;
  list.replaceChildren(...probs.map((p, k) => {
    const li = document.createElement('li');
    li.className = `bar${k === best ? ' predicted' : ''}${k === truth ? ' truth' : ''}`;
    const name = document.createElement('span');
    name.className = 'cls';
    name.textContent = names?.[k] ?? String(k);
    const track = document.createElement('span');
    track.className = 'track';
    const fill = document.createElement('span');
    fill.className = 'fill';
    fill.style.width = `${(100 * p).toFixed(1)}%`;
    track.append(fill);
    const val = document.createElement('span');
    val.className = 'val';
    val.textContent = `${(100 * p).toFixed(1)}%`;
    li.append(name, track, val);
    li.setAttribute('aria-label', `class ${names?.[k] ?? k}: ${(100 * p).toFixed(1)} percent${k === best ? ', predicted' : ''}${k === truth ? ', true label' : ''}`);
    return li;
  }));
}

/** Softmax of logits on the host (ten numbers). */
export function softmax(z: ArrayLike<number>): number[] {
  let m = -Infinity;
  for (let i = 0; i < z.length; i++) m = Math.max(m, z[i]);
  const e = Array.from(z, (v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}
