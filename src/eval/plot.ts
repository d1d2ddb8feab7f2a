// Line plots as hand-written SVG: several series with markers, optional shaded bands, axes with
// round-numbered ticks, a legend, optional log y. Non-finite values (and, on a log axis, values
// <= 0) leave gaps; they are never drawn as 0. Pure string building: usable in Node and browsers.

export interface Series {
  label: string;
  x: number[];
  y: number[];
  /** Stroke colour (default: from a 10-colour palette, by series index). */
  color?: string;
  dashed?: boolean;
  /** Shaded spread around the line, per point (e.g. min/max or ±1 s.d. over seeds). */
  band?: { lo: number[]; hi: number[] };
  /** Markers at the data points (default: when the series has at most 60 finite points). */
  markers?: boolean;
  /** Stroke width in pixels (default 1.8). */
  width?: number;
}

export interface LinePlot {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Pixels (default 640 × 400). */
  width?: number;
  height?: number;
  /** Where the x ticks go (default: round numbers over the data's range). */
  xTicks?: number[];
  logY?: boolean;
  /** A fixed y range; what falls outside is clipped (default: the data's range, rounded out to ticks). */
  yRange?: [number, number];
  /** Legend placement (default: right of the plot if it fits in 30% of the width, else below it). */
  legend?: 'right' | 'bottom' | 'none';
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const FONT = "DejaVu Sans, Verdana, sans-serif";

/** Escapes text for SVG element content and double- or single-quoted attributes. */
export const escapeXml = (s: string): string =>
  String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/** Rough advance width of `text` in DejaVu Sans at `size` px (for layout; overestimates slightly). */
export const textWidth = (text: string, size: number): number => Math.ceil([...text].length * 0.62 * size);

const r1 = (v: number): string => (Math.round(v * 10) / 10).toString();

/** About `target` round-numbered ticks (1, 2 or 5 × 10^k apart) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, target = 5): { ticks: number[]; step: number; lo: number; hi: number } {
  if (!(hi > lo)) { const d = lo === 0 ? 1 : Math.abs(lo) * 0.1; lo -= d; hi += d; }
  const raw = (hi - lo) / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  const step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
  const a = Math.floor(lo / step + 1e-9), b = Math.ceil(hi / step - 1e-9);
  const ticks: number[] = [];
  for (let k = a; k <= b; k++) ticks.push(clean(k * step, step));
  return { ticks, step, lo: a * step, hi: b * step };
}

/** k·step computed in floating point, rounded to the step's decimals (0.30000000000000004 -> 0.3). */
const clean = (v: number, step: number): number => {
  const d = Math.max(0, Math.min(15, Math.ceil(-Math.log10(step)) + 1));
  const out = Number(v.toFixed(d));
  return out === 0 ? 0 : out;
};

/** A tick label: as few digits as tell the ticks apart, exponent form for very large or small values. */
export function formatTick(v: number, step?: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-4) return v.toExponential(step ? Math.max(0, Math.min(6, Math.round(Math.log10(a / step)))) : 2).replace(/\.?0+e/, 'e').replace('e+', 'e');
  if (step !== undefined && step > 0) {
    const d = Math.max(0, Math.min(8, Math.ceil(-Math.log10(step) - 1e-9)));
    return v.toFixed(d);
  }
  return String(Number(v.toPrecision(4)));
}

interface Frame { x0: number; x1: number; y0: number; y1: number; }
interface Scale { lo: number; hi: number; ticks: number[]; labels: string[]; log: boolean; }

function checkPlot(p: LinePlot): void {
  if (!p || !Array.isArray(p.series)) throw new Error('linePlotSvg: series must be an array');
  p.series.forEach((s, i) => {
    const name = `series ${i} (${JSON.stringify(s?.label)})`;
    if (!Array.isArray(s.x) || !Array.isArray(s.y)) throw new Error(`linePlotSvg: ${name}: x and y must be arrays`);
    if (s.x.length !== s.y.length) throw new Error(`linePlotSvg: ${name}: x has ${s.x.length} values but y has ${s.y.length}`);
    if (s.band && (s.band.lo.length !== s.x.length || s.band.hi.length !== s.x.length)) {
      throw new Error(`linePlotSvg: ${name}: band lo/hi have ${s.band.lo.length}/${s.band.hi.length} values but x has ${s.x.length}`);
    }
  });
  for (const k of ['width', 'height'] as const) {
    const v = p[k];
    if (v !== undefined && !(Number.isFinite(v) && v >= 120)) throw new Error(`linePlotSvg: ${k} ${v} must be a number >= 120`);
  }
  if (p.yRange && !(p.yRange[1] > p.yRange[0])) throw new Error(`linePlotSvg: yRange [${p.yRange}] must be increasing`);
  if (p.logY && p.yRange && !(p.yRange[0] > 0)) throw new Error(`linePlotSvg: yRange [${p.yRange}] must be positive with logY`);
}

function xScale(p: LinePlot): Scale {
  const xs = p.series.flatMap((s) => s.x.filter((x, i) => Number.isFinite(x) && usable(s.y[i], p.logY)));
  const given = (p.xTicks ?? []).filter(Number.isFinite);
  const all = xs.concat(given);
  let lo = all.length ? Math.min(...all) : 0, hi = all.length ? Math.max(...all) : 1;
  if (!(hi > lo)) { const d = lo === 0 ? 1 : Math.abs(lo) * 0.1; lo -= d; hi += d; }
  if (given.length) return { lo, hi, ticks: given, labels: given.map((v) => formatTick(v)), log: false };
  const n = niceTicks(lo, hi, 6);
  const ticks = n.ticks.filter((t) => t >= lo - 1e-9 * (hi - lo) && t <= hi + 1e-9 * (hi - lo));
  return { lo, hi, ticks, labels: ticks.map((t) => formatTick(t, n.step)), log: false };
}

const usable = (v: number, log?: boolean): boolean => Number.isFinite(v) && (!log || v > 0);

function yScale(p: LinePlot): Scale {
  const log = !!p.logY;
  const ys: number[] = [];
  for (const s of p.series) {
    const push = (arr: number[]) => arr.forEach((v, i) => { if (usable(v, log) && Number.isFinite(s.x[i])) ys.push(log ? Math.log10(v) : v); });
    push(s.y);
    if (s.band) { push(s.band.lo); push(s.band.hi); }
  }
  if (log) {
    let lo: number, hi: number;
    if (p.yRange) [lo, hi] = [Math.log10(p.yRange[0]), Math.log10(p.yRange[1])];
    else {
      lo = ys.length ? Math.floor(Math.min(...ys) + 1e-9) : 0;
      hi = ys.length ? Math.ceil(Math.max(...ys) - 1e-9) : 1;
      if (hi <= lo) hi = lo + 1;
    }
    const decades = hi - lo;
    const ticks: number[] = [];
    const mult = decades <= 1.5 ? [1, 2, 5] : decades <= 3 ? [1, 3] : [1];
    const every = Math.max(1, Math.ceil(decades / 8));
    for (let e = Math.floor(lo); e <= Math.ceil(hi); e++) {
      for (const m of mult) {
        if (m === 1 && (e - Math.floor(lo)) % every) continue;
        const t = Math.log10(m) + e;
        if (t >= lo - 1e-9 && t <= hi + 1e-9) ticks.push(t);
      }
    }
    return { lo, hi, ticks, labels: ticks.map((t) => formatTick(Number((10 ** t).toPrecision(6)))), log };
  }
  if (p.yRange) {
    const n = niceTicks(p.yRange[0], p.yRange[1], 5);
    const ticks = n.ticks.filter((t) => t >= p.yRange![0] - 1e-12 && t <= p.yRange![1] + 1e-12);
    return { lo: p.yRange[0], hi: p.yRange[1], ticks, labels: ticks.map((t) => formatTick(t, n.step)), log };
  }
  const n = ys.length ? niceTicks(Math.min(...ys), Math.max(...ys), 5) : niceTicks(0, 1, 5);
  return { lo: n.lo, hi: n.hi, ticks: n.ticks, labels: n.ticks.map((t) => formatTick(t, n.step)), log };
}

/** A marker shape per series index: circle, square, triangle, diamond (told apart without colour). */
function marker(k: number, x: number, y: number, color: string): string {
  const s = 3.2;
  switch (k % 4) {
    case 0: return `<circle cx="${r1(x)}" cy="${r1(y)}" r="${s}" fill="${color}"/>`;
    case 1: return `<rect x="${r1(x - s)}" y="${r1(y - s)}" width="${2 * s}" height="${2 * s}" fill="${color}"/>`;
    case 2: return `<path d="M${r1(x)},${r1(y - s - 0.8)}L${r1(x + s + 0.6)},${r1(y + s)}L${r1(x - s - 0.6)},${r1(y + s)}Z" fill="${color}"/>`;
    default: return `<path d="M${r1(x)},${r1(y - s - 0.8)}L${r1(x + s + 0.8)},${r1(y)}L${r1(x)},${r1(y + s + 0.8)}L${r1(x - s - 0.8)},${r1(y)}Z" fill="${color}"/>`;
  }
}

/** Runs of consecutive indices where `ok(i)` holds. */
function runs(n: number, ok: (i: number) => boolean): number[][] {
  const out: number[][] = [];
  let cur: number[] = [];
  for (let i = 0; i < n; i++) {
    if (ok(i)) cur.push(i);
    else if (cur.length) { out.push(cur); cur = []; }
  }
  if (cur.length) out.push(cur);
  return out;
}

/** The elements of one panel, drawn in a box of `W` × `H` at the origin; `id` keeps clip ids unique. */
function panel(p: LinePlot, id: string): { body: string[]; W: number; H: number } {
  checkPlot(p);
  const W = p.width ?? 640, H = p.height ?? 400;
  const sx = xScale(p), sy = yScale(p);
  const tickW = Math.max(...sy.labels.map((l) => textWidth(l, 11)), 10);
  const legendEntries = p.series.map((s) => s.label + (s.y.some((v, i) => usable(v, p.logY) && Number.isFinite(s.x[i])) ? '' : ' (no data)'));
  const legendW = Math.max(0, ...legendEntries.map((l) => textWidth(l, 11))) + 40;
  const where = p.legend ?? (legendW <= 0.3 * W ? 'right' : 'bottom');
  // Bottom legend: entries flow left to right in rows.
  const bottomRows: { label: string; k: number; x: number }[][] = [];
  if (where === 'bottom' && p.series.length) {
    let row: { label: string; k: number; x: number }[] = [], x = 0;
    legendEntries.forEach((label, k) => {
      const w = textWidth(label, 11) + 40;
      if (row.length && x + w > W - 24) { bottomRows.push(row); row = []; x = 0; }
      row.push({ label, k, x }); x += w;
    });
    bottomRows.push(row);
  }
  const f: Frame = {
    x0: 22 + tickW + 8,
    x1: W - 14 - (where === 'right' && p.series.length ? legendW : 0),
    y0: 34,
    y1: H - 44 - bottomRows.length * 16,
  };
  if (f.x1 - f.x0 < 40 || f.y1 - f.y0 < 40) throw new Error(`linePlotSvg: ${W}×${H} pixels leave no room for the plot of ${JSON.stringify(p.title)} (legend or tick labels too wide)`);
  const X = (v: number): number => f.x0 + ((f.x1 - f.x0) * (v - sx.lo)) / (sx.hi - sx.lo);
  const Y = (v: number): number => f.y1 - ((f.y1 - f.y0) * ((sy.log ? Math.log10(v) : v) - sy.lo)) / (sy.hi - sy.lo);
  const Yt = (t: number): number => f.y1 - ((f.y1 - f.y0) * (t - sy.lo)) / (sy.hi - sy.lo);
  const clip = `${id}-clip`;
  const body: string[] = [
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<clipPath id="${clip}"><rect x="${f.x0 - 4}" y="${f.y0 - 4}" width="${f.x1 - f.x0 + 8}" height="${f.y1 - f.y0 + 8}"/></clipPath>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(p.title)}</text>`,
    // Grid lines and ticks.
    ...sy.ticks.map((t, i) => `<line x1="${f.x0}" x2="${f.x1}" y1="${r1(Yt(t))}" y2="${r1(Yt(t))}" stroke="#e6e6e6"/>`
      + `<line x1="${f.x0 - 4}" x2="${f.x0}" y1="${r1(Yt(t))}" y2="${r1(Yt(t))}" stroke="black"/>`
      + `<text class="tick" x="${f.x0 - 7}" y="${r1(Yt(t) + 4)}" text-anchor="end">${escapeXml(sy.labels[i])}</text>`),
    ...sx.ticks.map((t, i) => `<line x1="${r1(X(t))}" x2="${r1(X(t))}" y1="${f.y1}" y2="${f.y1 + 4}" stroke="black"/>`
      + `<text class="tick" x="${r1(X(t))}" y="${f.y1 + 17}" text-anchor="middle">${escapeXml(sx.labels[i])}</text>`),
    `<line x1="${f.x0}" x2="${f.x0}" y1="${f.y0}" y2="${f.y1}" stroke="black"/>`,
    `<line x1="${f.x0}" x2="${f.x1}" y1="${f.y1}" y2="${f.y1}" stroke="black"/>`,
    `<text x="${r1((f.x0 + f.x1) / 2)}" y="${f.y1 + 35}" text-anchor="middle" font-size="12">${escapeXml(p.xLabel)}</text>`,
    `<text x="14" y="${r1((f.y0 + f.y1) / 2)}" text-anchor="middle" font-size="12" transform="rotate(-90 14 ${r1((f.y0 + f.y1) / 2)})">${escapeXml(p.yLabel)}</text>`,
  ];
  const lines: string[] = [];
  p.series.forEach((s, k) => {
    const color = s.color ?? PALETTE[k % PALETTE.length];
    const ok = (i: number): boolean => Number.isFinite(s.x[i]) && usable(s.y[i], p.logY);
    if (s.band) {
      const b = s.band;
      const okB = (i: number): boolean => Number.isFinite(s.x[i]) && usable(b.lo[i], p.logY) && usable(b.hi[i], p.logY);
      for (const run of runs(s.x.length, okB)) {
        const pts = run.map((i) => `${r1(X(s.x[i]))},${r1(Y(b.hi[i]))}`).concat(run.slice().reverse().map((i) => `${r1(X(s.x[i]))},${r1(Y(b.lo[i]))}`));
        lines.push(`<polygon class="band" points="${pts.join(' ')}" fill="${escapeXml(color)}" fill-opacity="0.18" stroke="none"/>`);
      }
    }
    const d = runs(s.x.length, ok).map((run) => run.map((i, j) => `${j ? 'L' : 'M'}${r1(X(s.x[i]))},${r1(Y(s.y[i]))}`).join('')).join('');
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    lines.push(`<path class="series" data-label="${escapeXml(s.label)}" d="${d}" fill="none" stroke="${escapeXml(color)}" stroke-width="${s.width ?? 1.8}" stroke-linejoin="round"${dash}/>`);
    const finite = s.x.reduce((a, _, i) => a + (ok(i) ? 1 : 0), 0);
    if (s.markers ?? finite <= 60) for (let i = 0; i < s.x.length; i++) if (ok(i)) lines.push(marker(k, X(s.x[i]), Y(s.y[i]), escapeXml(color)));
  });
  body.push(`<g clip-path="url(#${clip})">`, ...lines, '</g>');
  // Legend.
  const entry = (k: number, x: number, y: number): string => {
    const s = p.series[k], color = escapeXml(s.color ?? PALETTE[k % PALETTE.length]);
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    return `<line x1="${x}" x2="${x + 26}" y1="${y}" y2="${y}" stroke="${color}" stroke-width="${s.width ?? 1.8}"${dash}/>`
      + ((s.markers ?? true) ? marker(k, x + 13, y, color) : '')
      + `<text x="${x + 32}" y="${y + 4}">${escapeXml(legendEntries[k])}</text>`;
  };
  if (where === 'right') {
    body.push('<g class="legend">', ...p.series.map((_, k) => entry(k, f.x1 + 12, f.y0 + 8 + k * 18)), '</g>');
  } else if (where === 'bottom') {
    body.push('<g class="legend">', ...bottomRows.flatMap((row, r) => row.map((e) => entry(e.k, f.x0 + e.x, H - 8 - (bottomRows.length - 1 - r) * 16))), '</g>');
  }
  return { body, W, H };
}

const open = (W: number, H: number): string =>
  `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="${FONT}" font-size="11">`;

/** One line plot as a standalone SVG document. */
export function linePlotSvg(p: LinePlot): string {
  const { body, W, H } = panel(p, 'p0');
  return [open(W, H), ...body, '</svg>', ''].join('\n');
}

/** Several plots as panels of one SVG, `columns` per row (default: all in one row), with an optional overall title. */
export function linePlotsSvg(plots: LinePlot[], columns = plots.length, o: { title?: string } = {}): string {
  if (!plots.length) throw new Error('linePlotsSvg: no plots');
  if (!Number.isInteger(columns) || columns < 1) throw new Error(`linePlotsSvg: columns ${columns} is not a positive integer`);
  const panels = plots.map((p, i) => panel(p, `p${i}`));
  const cw = Math.max(...panels.map((q) => q.W)), ch = Math.max(...panels.map((q) => q.H));
  const top = o.title ? 30 : 0;
  const cols = Math.min(columns, plots.length), rows = Math.ceil(plots.length / columns);
  const W = cols * cw, H = top + rows * ch;
  return [
    open(W, H),
    `<rect width="${W}" height="${H}" fill="white"/>`,
    ...(o.title ? [`<text x="${W / 2}" y="21" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(o.title)}</text>`] : []),
    ...panels.flatMap((q, i) => [`<g class="panel" transform="translate(${(i % columns) * cw} ${top + Math.floor(i / columns) * ch})">`, ...q.body, '</g>']),
    '</svg>',
    '',
  ].join('\n');
}
