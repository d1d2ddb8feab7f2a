// Figures as pictures (the paper's Figures 1 and 3): grids of images with a title, column and row
// titles, and a caption under each image (a prediction, in green or red with ✓/✗ so that right and
// wrong are not told apart by colour alone). The grid is laid out as SVG, where text is natural; the
// images go in as PNG data URLs, already upscaled by an integer factor here so that no rasterizer
// can blur them, and are placed at integer pixel offsets. renderPng rasterizes the SVG with resvg
// and a font shipped as an npm dependency (DejaVu Sans), never system fonts, so the output is the
// same on a machine without any. The layout object returned beside the SVG says where every title,
// image and caption went, for tests and for the figures command's JSON. Node only (resvg is native);
// the tiles and their colours are plain data in figure_tiles.ts, which the browser lab draws itself.
import { createRequire } from 'node:module';
import type { Resvg as ResvgClass, ResvgRenderOptions } from '@resvg/resvg-js';
import { encodePng } from '../data/png.js';
import { escapeXml, textWidth } from './plot.js';
import { CAPTION_COLORS, colormapStops, type GridFigure, type Tile } from './figure_tiles.js';


export interface CaptionBox { x: number; y: number; w: number; h: number; }

export interface FigureLayout {
  width: number;
  height: number;
  scale: number;
  title?: string;
  /** x: the column's left edge, w: its width (titles are centred over it), lines: the title as wrapped. */
  columns: { title: string; x: number; w: number; lines: string[] }[];
  /** y: the top of the row's images, h: the height of its images. */
  rows: { title?: string; y: number; h: number; lines: string[] }[];
  /** Where each image went (its upscaled pixels fill exactly x..x+w, y..y+h), and its caption as drawn. */
  cells: {
    row: number; col: number; x: number; y: number; w: number; h: number;
    caption?: string; verdict?: 'right' | 'wrong'; captionColor?: string; captionBox?: CaptionBox;
  }[];
  note?: { text: string; y: number };
  colorbar?: { x: number; y: number; w: number; h: number; lo: number; hi: number };
}

const MARK = { right: '✓', wrong: '✗' } as const;
const FONT_FAMILY = 'DejaVu Sans';
const SIZES = { title: 16, column: 12, row: 12, caption: 11, note: 11 };
const LINE = (size: number): number => Math.ceil(size * 1.25);
const MARGIN = 10, GAP_X = 8, GAP_Y = 10;

function checkTile(t: Tile, where: string): [number, number, number] {
  const s = t.shape;
  if (!s || s.length !== 3 || !s.every((d) => Number.isInteger(d) && d > 0)) throw new Error(`gridFigure: ${where}: shape must be [C, H, W] of positive integers, got [${s}]`);
  if (s[0] !== 1 && s[0] !== 3) throw new Error(`gridFigure: ${where}: shape [${s}] has ${s[0]} channels; tiles take 1 (grey) or 3 (RGB)`);
  const n = s[0] * s[1] * s[2];
  if (!t.image || t.image.length !== n) throw new Error(`gridFigure: ${where}: image has ${t.image?.length} values but shape [${s}] needs ${n}`);
  const bad = t.image.findIndex((v) => Number.isNaN(v));
  if (bad >= 0) throw new Error(`gridFigure: ${where}: image value ${bad} is NaN`);
  for (const m of t.marks ?? []) {
    if (![m.x, m.y, m.w, m.h].every(Number.isFinite)) throw new Error(`gridFigure: ${where}: mark ${JSON.stringify(m)} has a non-finite coordinate`);
  }
  return [s[0], s[1], s[2]];
}

/** Greedy word wrap to `max` px; explicit "\n" breaks; a word wider than `max` gets a line of its own. */
function wrap(text: string, max: number, size: number): string[] {
  const out: string[] = [];
  for (const para of text.split('\n')) {
    let line = '';
    for (const word of para.split(/ +/)) {
      const next = line ? `${line} ${word}` : word;
      if (line && textWidth(next, size) > max) { out.push(line); line = word; } else line = next;
    }
    out.push(line);
  }
  return out;
}

const longestWord = (text: string, size: number): number => Math.max(0, ...text.split(/[ \n]+/).map((w) => textWidth(w, size)));

/** Nearest-neighbour upscale of [C, H, W] by an integer factor, as PNG bytes (values clamped to [0, 1]). */
function tilePng(image: Float32Array, [C, H, W]: [number, number, number], s: number): Uint8Array {
  const out = new Float32Array(C * H * s * W * s);
  const Ws = W * s;
  for (let c = 0; c < C; c++) {
    for (let y = 0; y < H * s; y++) {
      const src = (c * H + Math.floor(y / s)) * W, dst = (c * H * s + y) * Ws;
      for (let x = 0; x < Ws; x++) out[dst + x] = image[src + Math.floor(x / s)];
    }
  }
  return encodePng({ data: out, shape: [C, H * s, W * s] });
}

const base64 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');

/** Multi-line centred (or start-anchored) text; `aria-label` holds the whole string, unwrapped. */
function textBlock(lines: string[], x: number, y: number, size: number, o: { anchor?: string; fill?: string; bold?: boolean; full: string; cls: string }): string {
  const attrs = [`class="${o.cls}"`, `x="${x}"`, `y="${y}"`, `font-size="${size}"`, `text-anchor="${o.anchor ?? 'middle'}"`, `aria-label="${escapeXml(o.full)}"`];
  if (o.fill) attrs.push(`fill="${o.fill}"`);
  if (o.bold) attrs.push('font-weight="bold"');
  if (lines.length === 1) return `<text ${attrs.join(' ')}>${escapeXml(lines[0])}</text>`;
  const spans = lines.map((l, i) => `<tspan x="${x}" dy="${i ? LINE(size) : 0}">${escapeXml(l)}</tspan>`).join('');
  return `<text ${attrs.join(' ')}>${spans}</text>`;
}

/** Lays out a grid figure; returns the SVG (self-contained: images are data URLs) and where everything went. */
export function gridFigureSvg(fig: GridFigure): { svg: string; layout: FigureLayout } {
  const nCols = fig.columnTitles?.length ?? 0;
  if (!nCols) throw new Error('gridFigure: columnTitles is empty');
  if (!Array.isArray(fig.rows) || !fig.rows.length) throw new Error('gridFigure: rows is empty');
  fig.rows.forEach((row, r) => {
    if (!Array.isArray(row) || row.length !== nCols) throw new Error(`gridFigure: row ${r} has ${row?.length} tiles but there are ${nCols} column titles`);
  });
  if (fig.rowTitles && fig.rowTitles.length !== fig.rows.length) throw new Error(`gridFigure: ${fig.rowTitles.length} row titles for ${fig.rows.length} rows`);
  const shapes = fig.rows.map((row, r) => row.map((t, c) => (t ? checkTile(t, `tile [${r}][${c}]`) : null)));
  const sides = shapes.flat().flatMap((s) => (s ? [s[1], s[2]] : []));
  if (!sides.length) throw new Error('gridFigure: every cell is empty');
  const scale = fig.scale ?? Math.max(1, Math.round(96 / Math.max(...sides)));
  if (!Number.isInteger(scale) || scale < 1 || scale > 64) throw new Error(`gridFigure: scale ${fig.scale} must be an integer from 1 to 64`);
  const tileW = Math.max(...shapes.flat().map((s) => (s ? s[2] * scale : 0)));
  const tileH = Math.max(...shapes.flat().map((s) => (s ? s[1] * scale : 0)));

  const captionText = (t: Tile | null): string | undefined => {
    if (!t || (t.caption === undefined && !t.verdict)) return undefined;
    const base = t.caption ?? t.verdict!;
    return t.verdict ? `${base} ${MARK[t.verdict]}` : base;
  };
  const captions = fig.rows.map((row) => row.map(captionText));
  const cellW = Math.max(tileW,
    ...fig.columnTitles.map((t) => longestWord(t, SIZES.column)),
    ...captions.flat().map((t) => (t ? longestWord(t, SIZES.caption) : 0)));
  const colLines = fig.columnTitles.map((t) => wrap(t, cellW + GAP_X - 2, SIZES.column));
  const capLines = captions.map((row) => row.map((t) => (t ? wrap(t, cellW + GAP_X - 2, SIZES.caption) : [])));
  const rowLines = (fig.rowTitles ?? []).map((t) => wrap(t, Math.max(140, longestWord(t, SIZES.row)), SIZES.row));
  const rowTitleW = fig.rowTitles ? Math.max(0, ...rowLines.flat().map((l) => textWidth(l, SIZES.row))) + 10 : 0;
  const colBandH = Math.max(...colLines.map((l) => l.length)) * LINE(SIZES.column) + 6;
  const capRowH = capLines.map((row) => Math.max(0, ...row.map((l) => l.length)) * LINE(SIZES.caption));
  const capBand = (r: number): number => (capRowH[r] ? capRowH[r] + 4 : 0);

  const x0 = MARGIN + rowTitleW;
  const colX = (c: number): number => x0 + c * (cellW + GAP_X);
  const cbar = fig.colorbar;
  if (cbar && !(Number.isFinite(cbar.lo) && Number.isFinite(cbar.hi) && cbar.hi > cbar.lo)) throw new Error(`gridFigure: colorbar lo ${cbar.lo} / hi ${cbar.hi} must be finite with hi > lo`);
  const cbarLabels = cbar ? [fmt(cbar.hi), fmt(cbar.lo)] : [];
  const cbarW = cbar ? 16 + 14 + 6 + Math.max(...cbarLabels.map((l) => textWidth(l, SIZES.note)), cbar.label ? textWidth(cbar.label, SIZES.note) - 30 : 0) : 0;
  const gridRight = colX(nCols - 1) + cellW;
  const width = Math.ceil(gridRight + cbarW + MARGIN);
  // A title wider than the figure wraps onto more lines (never clipped).
  const titleLines = fig.title ? wrap(fig.title, Math.max(60, width - 2 * MARGIN), SIZES.title) : [];
  const titleH = titleLines.length ? titleLines.length * LINE(SIZES.title) + 8 : 0;
  const y0 = MARGIN + titleH + colBandH;
  const rowY: number[] = [];
  let y = y0;
  for (let r = 0; r < fig.rows.length; r++) { rowY.push(y); y += tileH + capBand(r) + GAP_Y; }
  const gridBottom = y - GAP_Y;
  const noteLines = fig.note ? wrap(fig.note, Math.max(60, width - 2 * MARGIN), SIZES.note) : [];
  const noteY = gridBottom + 6 + SIZES.note;
  const height = Math.ceil(gridBottom + (noteLines.length ? 6 + noteLines.length * LINE(SIZES.note) : 0) + MARGIN);

  const layout: FigureLayout = {
    width, height, scale,
    ...(fig.title !== undefined ? { title: fig.title } : {}),
    columns: fig.columnTitles.map((title, c) => ({ title, x: colX(c), w: cellW, lines: colLines[c] })),
    rows: fig.rows.map((_, r) => ({ ...(fig.rowTitles ? { title: fig.rowTitles[r] } : {}), y: rowY[r], h: tileH, lines: rowLines[r] ?? [] })),
    cells: [],
  };
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT_FAMILY}, Verdana, sans-serif">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
  ];
  if (fig.title) out.push(textBlock(titleLines, Math.round(width / 2), MARGIN + SIZES.title, SIZES.title, { bold: true, full: fig.title, cls: 'title' }));
  fig.columnTitles.forEach((t, c) => {
    const lines = colLines[c];
    const top = y0 - 6 - lines.length * LINE(SIZES.column) + SIZES.column;
    out.push(textBlock(lines, colX(c) + cellW / 2, top, SIZES.column, { full: t, cls: 'column-title' }));
  });
  (fig.rowTitles ?? []).forEach((t, r) => {
    const lines = rowLines[r];
    const top = rowY[r] + Math.round((tileH - lines.length * LINE(SIZES.row)) / 2) + SIZES.row;
    out.push(textBlock(lines, x0 - 10, top, SIZES.row, { anchor: 'end', full: t, cls: 'row-title' }));
  });
  fig.rows.forEach((row, r) => row.forEach((t, c) => {
    const s = shapes[r][c];
    if (!t || !s) return;
    const w = s[2] * scale, h = s[1] * scale;
    const x = colX(c) + Math.floor((cellW - w) / 2), yy = rowY[r] + Math.floor((tileH - h) / 2);
    out.push(`<image x="${x}" y="${yy}" width="${w}" height="${h}" preserveAspectRatio="none" image-rendering="optimizeSpeed" style="image-rendering:pixelated" xlink:href="data:image/png;base64,${base64(tilePng(t.image, s, scale))}"/>`);
    for (const m of t.marks ?? []) {
      out.push(`<rect class="mark" x="${x + m.x * scale}" y="${yy + m.y * scale}" width="${m.w * scale}" height="${m.h * scale}" fill="none" stroke="${escapeXml(m.color ?? '#ff00ff')}" stroke-width="2"/>`);
    }
    const cell: FigureLayout['cells'][number] = { row: r, col: c, x, y: yy, w, h };
    const text = captions[r][c];
    if (text !== undefined) {
      const color = CAPTION_COLORS[t.verdict ?? 'none'];
      const lines = capLines[r][c];
      const top = rowY[r] + tileH + 2;
      out.push(textBlock(lines, colX(c) + cellW / 2, top + SIZES.caption, SIZES.caption, { fill: color, full: text, cls: `caption${t.verdict ? ` ${t.verdict}` : ''}` }));
      Object.assign(cell, { caption: text, captionColor: color, captionBox: { x: colX(c), y: top, w: cellW, h: lines.length * LINE(SIZES.caption) + 2 } });
      if (t.verdict) cell.verdict = t.verdict;
    }
    layout.cells.push(cell);
  }));
  if (cbar) {
    const bx = gridRight + 16, by = y0 + 6 + (cbar.label ? LINE(SIZES.note) : 0), bh = Math.max(40, gridBottom - by - 6);
    const stops = colormapStops().map((s) => `<stop offset="${s.offset}" stop-color="${s.color}"/>`);
    out.push(
      `<linearGradient id="amrm-colorbar" x1="0" y1="1" x2="0" y2="0">${stops.join('')}</linearGradient>`,
      `<rect class="colorbar" x="${bx}" y="${by}" width="14" height="${bh}" fill="url(#amrm-colorbar)" stroke="#444" stroke-width="0.5"/>`,
      `<text x="${bx + 20}" y="${by + 8}" font-size="${SIZES.note}">${escapeXml(cbarLabels[0])}</text>`,
      `<text x="${bx + 20}" y="${by + bh}" font-size="${SIZES.note}">${escapeXml(cbarLabels[1])}</text>`,
    );
    if (cbar.label) out.push(`<text x="${bx}" y="${by - 6}" font-size="${SIZES.note}">${escapeXml(cbar.label)}</text>`);
    layout.colorbar = { x: bx, y: by, w: 14, h: bh, lo: cbar.lo, hi: cbar.hi };
  }
  if (fig.note) {
    out.push(textBlock(noteLines, MARGIN, noteY, SIZES.note, { anchor: 'start', fill: '#333', full: fig.note, cls: 'note' }));
    layout.note = { text: fig.note, y: noteY };
  }
  out.push('</svg>', '');
  return { svg: out.join('\n'), layout };
}

const fmt = (v: number): string => (v === 0 ? '0' : Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(2) : String(Number(v.toPrecision(3))));

let resvg: typeof ResvgClass | undefined;
let defaultFonts: string[] | undefined;

/** The font files renderPng loads: DejaVu Sans and DejaVu Sans Bold from the dejavu-fonts-ttf package. */
export function fontFiles(): string[] {
  if (!defaultFonts) {
    const req = createRequire(import.meta.url);
    try {
      defaultFonts = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf'].map((f) => req.resolve(`dejavu-fonts-ttf/ttf/${f}`));
    } catch (e) {
      throw new Error(`renderPng: the font package dejavu-fonts-ttf is not installed (npm install): ${(e as Error).message}`);
    }
  }
  return defaultFonts;
}

export interface RenderOptions {
  /** Font files to load instead of the DejaVu Sans pair (system fonts are never loaded). */
  fontFiles?: string[];
  /** Family for text whose font-family is not among the loaded fonts (default "DejaVu Sans"). */
  defaultFontFamily?: string;
  /** Background colour (default white). */
  background?: string;
}

/** Rasterizes an SVG document to PNG bytes at its own size (1 SVG unit = 1 pixel) with resvg. */
export function renderPng(svg: string, o: RenderOptions = {}): Uint8Array {
  if (!resvg) {
    try {
      resvg = (createRequire(import.meta.url)('@resvg/resvg-js') as { Resvg: typeof ResvgClass }).Resvg;
    } catch (e) {
      throw new Error(`renderPng: @resvg/resvg-js (a native module) could not be loaded: ${(e as Error).message}`);
    }
  }
  const opts: ResvgRenderOptions = {
    fitTo: { mode: 'original' },
    background: o.background ?? 'white',
    imageRendering: 1,
    font: { fontFiles: o.fontFiles ?? fontFiles(), loadSystemFonts: false, defaultFontFamily: o.defaultFontFamily ?? FONT_FAMILY, sansSerifFamily: o.defaultFontFamily ?? FONT_FAMILY },
    logLevel: 'off',
  };
  const png = new resvg(svg, opts).render().asPng();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

/** gridFigureSvg, rasterized. */
export function gridFigurePng(fig: GridFigure, o: RenderOptions = {}): { png: Uint8Array; svg: string; layout: FigureLayout } {
  const { svg, layout } = gridFigureSvg(fig);
  return { png: renderPng(svg, o), svg, layout };
}
