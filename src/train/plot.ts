// The loss curve as a small hand-written SVG: raw losses in light grey, a moving average on top,
// axes with a few ticks. Long runs are thinned to at most ~1,000 points per line.

export interface PlotOptions { title?: string; width?: number; height?: number; }

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const tick = (v: number): string => (Math.abs(v) >= 100 || v === 0 ? v.toFixed(0) : v.toPrecision(3));

export function lossCurveSvg(losses: number[], o: PlotOptions = {}): string {
  const W = o.width ?? 640, H = o.height ?? 360, L = 60, R = 16, T = 32, B = 40;
  const finite = losses.filter(Number.isFinite);
  const lo = finite.length ? Math.min(...finite) : 0, hi = finite.length ? Math.max(...finite) : 1;
  const span = hi > lo ? hi - lo : 1;
  const n = Math.max(1, losses.length);
  const x = (i: number): number => L + ((W - L - R) * i) / Math.max(1, n - 1);
  const y = (v: number): number => T + (H - T - B) * (1 - (v - lo) / span);
  const window = Math.max(1, Math.round(n / 50));
  const smooth: number[] = [];
  let acc = 0;
  for (let i = 0; i < losses.length; i++) {
    acc += losses[i];
    if (i >= window) acc -= losses[i - window];
    smooth.push(acc / Math.min(i + 1, window));
  }
  const every = Math.max(1, Math.ceil(n / 1000));
  const path = (vals: number[]): string => vals.map((v, i) => [i, v] as const)
    .filter(([i, v]) => (i % every === 0 || i === vals.length - 1) && Number.isFinite(v))
    .map(([i, v], k) => `${k ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join('');
  const yTicks = [0, 0.25, 0.5, 0.75, 1].map((f) => lo + f * span);
  const xTicks = [0, 0.25, 0.5, 0.75, 1].map((f) => Math.round(f * (n - 1)));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="13">${esc(o.title ?? 'training loss')}</text>`,
    `<path d="M${L},${T}V${H - B}H${W - R}" fill="none" stroke="black"/>`,
    ...yTicks.map((v) => `<text x="${L - 6}" y="${y(v) + 4}" text-anchor="end">${tick(v)}</text><path d="M${L - 3},${y(v)}H${L}" stroke="black"/>`),
    ...xTicks.map((i) => `<text x="${x(i)}" y="${H - B + 16}" text-anchor="middle">${i + 1}</text>`),
    `<text x="${(L + W - R) / 2}" y="${H - 6}" text-anchor="middle">step</text>`,
    `<path d="${path(losses)}" fill="none" stroke="#bbb" stroke-width="1"/>`,
    `<path d="${path(smooth)}" fill="none" stroke="#c33" stroke-width="1.5"/>`,
    `<text x="${W - R}" y="${T - 4}" text-anchor="end" fill="#c33">moving average (${window} steps)</text>`,
    '</svg>',
    '',
  ].join('\n');
}
