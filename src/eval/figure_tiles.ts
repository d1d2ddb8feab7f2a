// The pieces of a figure that are plain data and arithmetic, shared by the PNG renderer
// (figure_render.ts, Node) and the browser lab (web/lab), which draws the same tiles on canvases:
// the grid's tiles and marks, the caption colours, and the heat-map colouring of Figure 3.
export interface Tile {
  /** [C, H, W] values in [0, 1] (clamped), C = 1 (grey) or 3 (RGB). */
  image: Float32Array;
  shape: readonly number[];
  /** Text under the image, e.g. "7 (0.98)". */
  caption?: string;
  /** Whether the caption's prediction is right: green with ✓ or red with ✗. */
  verdict?: 'right' | 'wrong';
  /** Rectangles outlined over the image, in the tile's own pixel coordinates (see patchMark). */
  marks?: Mark[];
}

export interface Mark { x: number; y: number; w: number; h: number; color?: string; }

export interface GridFigure {
  title?: string;
  columnTitles: string[];
  rowTitles?: string[];
  /** rows[r][c]: the tile in row r under column title c; null leaves the cell empty. */
  rows: (Tile | null)[][];
  /** Integer pixel upscale of every tile (default: round(96 / largest tile side), at least 1, so 32 px -> 96 px). */
  scale?: number;
  /** A line of text under the grid (e.g. the colour scale). */
  note?: string;
  /** A vertical colour bar right of the grid, in the heat-map colours, labelled lo at the bottom and hi at the top. */
  colorbar?: { lo: number; hi: number; label?: string };
}

/** Caption colours; `right` and `wrong` also carry ✓ and ✗. */
export const CAPTION_COLORS = { right: '#1a7f37', wrong: '#c62828', none: '#222222' } as const;

// ---- heat maps (Figure 3) ----

/** viridis at 0, 1/8, ..., 1 (matplotlib's colormap sampled at 9 points). */
const VIRIDIS: [number, number, number][] = [
  [0x44, 0x01, 0x54], [0x47, 0x2d, 0x7b], [0x3b, 0x52, 0x8b], [0x2c, 0x72, 0x8e], [0x21, 0x91, 0x8c],
  [0x28, 0xae, 0x80], [0x5e, 0xc9, 0x62], [0xad, 0xdc, 0x30], [0xfd, 0xe7, 0x25],
];

export const rgbHex = (r: number, g: number, b: number): string => `#${[r, g, b].map((v) => Math.round(v * 255).toString(16).padStart(2, '0')).join('')}`;

/** The heat-map colour of t in [0, 1] (clamped; NaN is 0): viridis, dark purple (low) to yellow (high), as RGB in [0, 1]. */
export function colormap(t: number): [number, number, number] {
  const u = Number.isNaN(t) ? 0 : Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(u)), f = u - i;
  const a = VIRIDIS[i], b = VIRIDIS[i + 1];
  return [0, 1, 2].map((k) => (a[k] + f * (b[k] - a[k])) / 255) as [number, number, number];
}

export interface HeatmapOptions {
  /** Weight of the colour over the greyscale image (default 0.6; 1 = colour only). */
  alpha?: number;
  /** The weight shown as the top colour (default: the largest weight); give the same vmax to maps that should share a scale. */
  vmax?: number;
  /** The weight shown as the bottom colour (default 0). */
  vmin?: number;
  /** Patch index (row-major over gh × gw) to outline, e.g. the query patch. */
  marker?: number;
  /** Outline colour, RGB in [0, 1] (default magenta, which viridis never uses). */
  markerColor?: [number, number, number];
  /** gh × gw, 1 = hidden (masked) patch, drawn as grey hatching instead of a weight. */
  hidden?: Float32Array;
}

/**
 * One image with a per-patch weight map over it (e.g. one query patch's attention over the image's
 * patches): the image in greyscale blended with the viridis colour of (w - vmin) / (vmax - vmin),
 * hidden patches hatched grey, the marker patch outlined. Returns RGB [3, H, W].
 */
export function heatmapTile(image: Float32Array, shape: readonly number[], weights: Float32Array | number[], gh: number, gw: number, o: HeatmapOptions = {}): Float32Array {
  if (!shape || shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d > 0)) throw new Error(`heatmapTile: shape must be [C, H, W] of positive integers, got [${shape}]`);
  const [C, H, W] = shape;
  if (C !== 1 && C !== 3) throw new Error(`heatmapTile: shape [${shape}] has ${C} channels; the image must be grey (1) or RGB (3)`);
  if (image.length !== C * H * W) throw new Error(`heatmapTile: image has ${image.length} values but shape [${shape}] needs ${C * H * W}`);
  if (!Number.isInteger(gh) || !Number.isInteger(gw) || gh < 1 || gw < 1 || H % gh || W % gw) {
    throw new Error(`heatmapTile: patch grid gh × gw = ${gh} × ${gw} must be positive integers dividing the image's ${H} × ${W}`);
  }
  const L = gh * gw;
  if (weights.length !== L) throw new Error(`heatmapTile: weights has ${weights.length} values but the patch grid ${gh} × ${gw} has ${L}`);
  const badW = Array.from(weights).findIndex((v) => !Number.isFinite(v));
  if (badW >= 0) throw new Error(`heatmapTile: weights[${badW}] is ${weights[badW]}, not finite`);
  if (o.hidden && o.hidden.length !== L) throw new Error(`heatmapTile: hidden has ${o.hidden.length} values but the patch grid ${gh} × ${gw} has ${L}`);
  if (o.marker !== undefined && !(Number.isInteger(o.marker) && o.marker >= 0 && o.marker < L)) throw new Error(`heatmapTile: marker ${o.marker} is not a patch index in 0..${L - 1}`);
  const alpha = o.alpha ?? 0.6;
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`heatmapTile: alpha ${o.alpha} must be in [0, 1]`);
  const vmin = o.vmin ?? 0;
  const shown = Array.from(weights).filter((_, j) => !o.hidden?.[j]);
  const vmax = o.vmax ?? (shown.length ? Math.max(...shown) : 1);
  if (!Number.isFinite(vmin) || !Number.isFinite(vmax)) throw new Error(`heatmapTile: vmin ${vmin} / vmax ${vmax} must be finite`);
  const span = vmax > vmin ? vmax - vmin : 1;
  const ph = H / gh, pw = W / gw, plane = H * W;
  const out = new Float32Array(3 * plane);
  const mc = o.markerColor ?? [1, 0, 1];
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const p = y * W + x, j = Math.floor(y / ph) * gw + Math.floor(x / pw);
      const grey = C === 1 ? image[p] : 0.299 * image[p] + 0.587 * image[plane + p] + 0.114 * image[2 * plane + p];
      const g = Math.min(1, Math.max(0, grey));
      let rgb: number[];
      if (o.hidden?.[j]) {
        const v = (x + y) % 4 === 0 ? 0.35 : 0.6;
        rgb = [v, v, v];
      } else {
        const c = colormap((weights[j] - vmin) / span);
        rgb = c.map((v) => (1 - alpha) * g + alpha * v);
      }
      if (o.marker === j) {
        const ly = y % ph, lx = x % pw;
        if (ly === 0 || lx === 0 || ly === ph - 1 || lx === pw - 1) rgb = mc;
      }
      out[p] = rgb[0]; out[plane + p] = rgb[1]; out[2 * plane + p] = rgb[2];
    }
  }
  return out;
}

/** The rectangle of patch `index` of a gh × gw grid over an H × W image, as a Tile mark (drawn crisply over the upscaled image). */
export function patchMark(index: number, gh: number, gw: number, H: number, W: number, color = '#ff00ff'): Mark {
  if (!Number.isInteger(index) || index < 0 || index >= gh * gw) throw new Error(`patchMark: index ${index} is not a patch index in 0..${gh * gw - 1}`);
  if (H % gh || W % gw) throw new Error(`patchMark: patch grid ${gh} × ${gw} does not divide the image's ${H} × ${W}`);
  const ph = H / gh, pw = W / gw;
  return { x: (index % gw) * pw, y: Math.floor(index / gw) * ph, w: pw, h: ph, color };
}

/** The heat-map colours at its k + 1 sample points 0, 1/k, ..., 1, as hex (a colour bar's gradient stops). */
export const colormapStops = (): { offset: number; color: string }[] =>
  VIRIDIS.map((_, i) => { const t = i / (VIRIDIS.length - 1); const [r, g, b] = colormap(t); return { offset: t, color: rgbHex(r, g, b) }; });
