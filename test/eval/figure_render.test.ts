import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../src/engine/random.js';
import { decodePng } from '../../src/data/png.js';
import { gridFigurePng, gridFigureSvg, renderPng } from '../../src/eval/figure_render.js';
import { heatmapTile, colormap, patchMark, CAPTION_COLORS, type Tile, type GridFigure } from '../../src/eval/figure_tiles.js';
import { linePlotSvg, linePlotsSvg, niceTicks, formatTick } from '../../src/eval/plot.js';
import { lossCurveSvg } from '../../src/train/plot.js';

const test = suite('eval: figure_render');
const throwsLike = (f: () => unknown, re: RegExp) => {
  try { f(); } catch (e) { assert.match((e as Error).message, re); return; }
  assert.unreachable(`expected an error matching ${re}`);
};

/** A tile whose values are exactly k/255, so the PNG round trip through resvg must be exact. */
function tile(rng: Rng, shape: [number, number, number], extra: Partial<Tile> = {}): Tile {
  return { image: Float32Array.from({ length: shape[0] * shape[1] * shape[2] }, () => rng.int(256) / 255), shape, ...extra };
}

/** Decoded RGB value at (x, y), channel ch, as 0..255. */
const px = (img: { data: Float32Array; shape: number[] }, x: number, y: number, ch: number): number =>
  Math.round(img.data[(ch * img.shape[1] + y) * img.shape[2] + x] * 255);

const count = (s: string, sub: string): number => s.split(sub).length - 1;

const S = 8;

function sampleFigure(): GridFigure {
  const rng = new Rng(11);
  return {
    title: 'Figure 1 <test> & more',
    columnTitles: ['original', 'masked & hidden', 'a < b'],
    rowTitles: ['digit 0', 'digit 1'],
    scale: S,
    rows: [
      [tile(rng, [1, 8, 8], { caption: '7 (0.98)', verdict: 'right' }), tile(rng, [1, 8, 8]), tile(rng, [3, 8, 8], { caption: '3 (0.61)', verdict: 'wrong' })],
      [tile(rng, [3, 8, 8], { caption: 'no verdict' }), null, tile(rng, [1, 6, 8], { caption: 'x<y & z', verdict: 'right' })],
    ],
  };
}

test('grid figure: PNG size is the layout size, every tile lands pixel-exact at its layout position', () => {
  const fig = sampleFigure();
  const { png, svg, layout } = gridFigurePng(fig);
  const img = decodePng(png);
  assert.equal(img.shape, [3, layout.height, layout.width]);
  assert.is(layout.scale, S);
  assert.is(layout.cells.length, 5, 'the null cell is left out');
  assert.is(count(svg, '<image '), 5);
  for (const cell of layout.cells) {
    const t = fig.rows[cell.row][cell.col]!;
    const [C, H, W] = t.shape;
    assert.is(cell.w, W * S); assert.is(cell.h, H * S);
    assert.ok(Number.isInteger(cell.x) && Number.isInteger(cell.y), 'integer placement');
    // Every pixel of the upscaled tile: exact at 8 bits (no blur, no offset, no colour change).
    let worst = 0;
    for (let y = 0; y < cell.h; y++) for (let x = 0; x < cell.w; x++) for (let ch = 0; ch < 3; ch++) {
      const want = Math.round(t.image[((C === 1 ? 0 : ch) * H + Math.floor(y / S)) * W + Math.floor(x / S)] * 255);
      worst = Math.max(worst, Math.abs(px(img, cell.x + x, cell.y + y, ch) - want));
    }
    assert.ok(worst <= 1, `cell [${cell.row}][${cell.col}] differs by ${worst}/255`);
  }
  // The pixel just outside a tile is the white background, not a smeared tile pixel.
  const c0 = layout.cells[0];
  assert.equal([0, 1, 2].map((ch) => px(img, c0.x - 1, c0.y + 5, ch)), [255, 255, 255]);
  assert.equal([0, 1, 2].map((ch) => px(img, c0.x + 5, c0.y - 1, ch)), [255, 255, 255]);
});

test('grid figure: a title wider than the grid wraps onto more lines and pushes the grid down, never past the edge', () => {
  const fig = sampleFigure();
  const short = gridFigureSvg(fig).layout;
  const long = 'Figure 1: a title much longer than the three small columns of this grid can hold on one line';
  const { svg, layout } = gridFigureSvg({ ...fig, title: long });
  assert.is(layout.width, short.width, 'the title does not widen the figure');
  assert.ok(layout.rows[0].y > short.rows[0].y, 'the grid moves down by the extra title lines');
  const spans = [...svg.matchAll(/<text class="title"[^>]*>(.*?)<\/text>/g)][0][1];
  const lines = [...spans.matchAll(/<tspan[^>]*>([^<]*)<\/tspan>/g)].map((m) => m[1]);
  assert.ok(lines.length >= 2, 'wrapped');
  assert.is(lines.join(' '), long);
  for (const l of lines) assert.ok(l.length * 0.62 * 16 <= layout.width - 20 || !l.includes(' '), `line '${l}' fits`);
});

test('grid figure: titles and captions escaped in the SVG and recorded in the layout; right and wrong differ in colour and mark', () => {
  const fig = sampleFigure();
  const { svg, layout } = gridFigureSvg(fig);
  assert.ok(svg.includes('>Figure 1 &lt;test&gt; &amp; more<'), 'title, escaped');
  for (const t of ['original', 'masked &amp; hidden', 'a &lt; b', 'digit 0', 'digit 1']) assert.ok(svg.includes(`aria-label="${t}"`), `title ${t}`);
  assert.ok(svg.includes('>a &lt; b<') && !svg.includes('a < b'), 'column title escaped as element text');
  assert.ok(svg.includes('>x&lt;y &amp; z ✓<'), 'caption escaped');
  assert.equal(layout.columns.map((c) => c.title), fig.columnTitles);
  assert.equal(layout.rows.map((r) => r.title), fig.rowTitles);
  const byCaption = Object.fromEntries(layout.cells.filter((c) => c.caption).map((c) => [c.caption!, c]));
  assert.equal(Object.keys(byCaption).sort(), ['3 (0.61) ✗', '7 (0.98) ✓', 'no verdict', 'x<y & z ✓']);
  assert.is(byCaption['7 (0.98) ✓'].verdict, 'right');
  assert.is(byCaption['3 (0.61) ✗'].verdict, 'wrong');
  assert.is(byCaption['7 (0.98) ✓'].captionColor, CAPTION_COLORS.right);
  assert.is(byCaption['3 (0.61) ✗'].captionColor, CAPTION_COLORS.wrong);
  assert.is.not(CAPTION_COLORS.right, CAPTION_COLORS.wrong);
  assert.match(svg, new RegExp(`class="caption right"[^>]*fill="${CAPTION_COLORS.right}"[^>]*>7 \\(0\\.98\\) ✓<`));
  assert.match(svg, new RegExp(`class="caption wrong"[^>]*fill="${CAPTION_COLORS.wrong}"[^>]*>3 \\(0\\.61\\) ✗<`));
  // Columns are in order, left to right, and rows top to bottom, without overlap.
  for (let c = 1; c < layout.columns.length; c++) assert.ok(layout.columns[c].x >= layout.columns[c - 1].x + layout.columns[c - 1].w);
  assert.ok(layout.rows[1].y > layout.rows[0].y + layout.rows[0].h);
});

test('grid figure: the font renders: caption areas hold green and red text pixels, and are blank without a font', () => {
  const fig = sampleFigure();
  const { png, svg, layout } = gridFigurePng(fig);
  const img = decodePng(png);
  const tally = (im: typeof img, box: { x: number; y: number; w: number; h: number }) => {
    let ink = 0, greenish = 0, reddish = 0;
    for (let y = box.y; y < box.y + box.h; y++) for (let x = box.x; x < box.x + box.w; x++) {
      const [r, g, b] = [0, 1, 2].map((ch) => px(im, x, y, ch));
      if (r + g + b < 600) ink++;
      if (g > r + 40 && g > b) greenish++;
      if (r > g + 60 && r > b + 60) reddish++;
    }
    return { ink, greenish, reddish };
  };
  const right = layout.cells.find((c) => c.caption === '7 (0.98) ✓')!, wrong = layout.cells.find((c) => c.caption === '3 (0.61) ✗')!;
  const tr = tally(img, right.captionBox!), tw = tally(img, wrong.captionBox!);
  assert.ok(tr.ink > 30 && tw.ink > 30, `text drawn: ${tr.ink} / ${tw.ink} dark pixels`);
  assert.ok(tr.greenish > 10 && tr.reddish === 0, `right caption green: ${JSON.stringify(tr)}`);
  assert.ok(tw.reddish > 10 && tw.greenish === 0, `wrong caption red: ${JSON.stringify(tw)}`);
  // The title band has text too (bold font).
  assert.ok(tally(img, { x: 0, y: 0, w: layout.width, h: 24 }).ink > 50, 'title drawn');
  // Control: with no font loaded, resvg draws no text, so the check above could fail.
  const bare = decodePng(renderPng(svg, { fontFiles: [] }));
  assert.is(tally(bare, right.captionBox!).ink, 0);
});

test('grid figure: bad input errors name what is wrong', () => {
  const rng = new Rng(3);
  const ok = tile(rng, [1, 4, 4]);
  throwsLike(() => gridFigureSvg({ columnTitles: ['a', 'b'], rows: [[ok, ok], [ok]] }), /row 1 has 1 tiles but there are 2 column titles/);
  throwsLike(() => gridFigureSvg({ columnTitles: ['a'], rows: [[{ image: new Float32Array(15), shape: [1, 4, 4] }]] }), /tile \[0\]\[0\]: image has 15 values but shape \[1,4,4\] needs 16/);
  throwsLike(() => gridFigureSvg({ columnTitles: ['a'], rows: [[{ image: new Float32Array(32), shape: [2, 4, 4] }]] }), /tile \[0\]\[0\].*2 channels/);
  throwsLike(() => gridFigureSvg({ columnTitles: ['a'], rows: [[{ image: new Float32Array(16), shape: [4, 4] }]] }), /shape must be \[C, H, W\]/);
  throwsLike(() => gridFigureSvg({ columnTitles: ['a'], rows: [[{ image: new Float32Array(16).fill(NaN), shape: [1, 4, 4] }]] }), /tile \[0\]\[0\]: image value 0 is NaN/);
  throwsLike(() => gridFigureSvg({ columnTitles: ['a'], rowTitles: ['x', 'y'], rows: [[ok]] }), /2 row titles for 1 rows/);
  throwsLike(() => gridFigureSvg({ columnTitles: [], rows: [] }), /columnTitles is empty/);
  throwsLike(() => gridFigureSvg({ columnTitles: ['a'], rows: [[ok]], scale: 1.5 }), /scale 1.5/);
  throwsLike(() => gridFigureSvg({ columnTitles: ['a'], rows: [[null]] }), /every cell is empty/);
});

test('grid figure: default scale makes 32 px about 96 px; long titles wrap; colour bar and note', () => {
  const rng = new Rng(4);
  const { layout, svg } = gridFigureSvg({
    columnTitles: ['reconstruction of the purified image', 'b'], rows: [[tile(rng, [3, 32, 32]), tile(rng, [3, 32, 32])]],
    colorbar: { lo: 0, hi: 0.25, label: 'attention' }, note: 'shared scale',
  });
  assert.is(layout.scale, 3);
  assert.is(layout.cells[0].w, 96);
  assert.ok(layout.columns[0].lines.length > 1, 'wrapped');
  assert.is(layout.columns[0].lines.join(' '), 'reconstruction of the purified image');
  assert.ok(layout.colorbar && layout.colorbar.x >= layout.columns[1].x + layout.columns[1].w);
  assert.ok(layout.colorbar!.x + layout.colorbar!.w <= layout.width);
  assert.ok(svg.includes('>0.25<') && svg.includes('>attention<') && svg.includes('>shared scale<'));
  const img = decodePng(renderPng(svg));
  assert.equal(img.shape, [3, layout.height, layout.width]);
  // The colour bar's top is yellow-ish (high), its bottom dark purple (low).
  const cb = layout.colorbar!;
  const top = [0, 1, 2].map((ch) => px(img, cb.x + 7, cb.y + 2, ch)), bottom = [0, 1, 2].map((ch) => px(img, cb.x + 7, cb.y + cb.h - 2, ch));
  assert.ok(top[0] > 200 && top[1] > 200 && top[2] < 100, `top ${top}`);
  assert.ok(bottom[0] < 100 && bottom[1] < 40 && bottom[2] > 60, `bottom ${bottom}`);
});

test('heatmapTile: shape, hottest colour on the largest weight, vmax respected, marker and hidden patches', () => {
  const H = 8, W = 12, gh = 2, gw = 3;
  const img = new Float32Array(H * W).fill(0.5);
  const w = Float32Array.from([0.1, 0.2, 0.9, 0.0, 0.3, 0.45]);
  const out = heatmapTile(img, [1, H, W], w, gh, gw, { alpha: 1 });
  assert.is(out.length, 3 * H * W);
  const at = (o: Float32Array, y: number, x: number) => [0, 1, 2].map((c) => o[(c * H + y) * W + x]);
  const close = (a: number[], b: number[], tol = 1e-6) => a.every((v, i) => Math.abs(v - b[i]) <= tol);
  // Patch 2 (row 0, col 2) holds the max: it gets colormap(1); patch 3 (weight 0) gets colormap(0).
  assert.ok(close(at(out, 1, 9), colormap(1)), `hottest ${at(out, 1, 9)}`);
  assert.ok(close(at(out, 5, 1), colormap(0)));
  assert.ok(close(at(out, 5, 10), colormap(0.5)), 'normalized by the max');
  // colormap(1) is the brightest (yellow) and (0) the darkest.
  const lum = (c: number[]) => 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2];
  for (let t = 0; t < 1; t += 0.1) assert.ok(lum(colormap(t)) < lum(colormap(t + 0.1)) + 1e-9, `monotone luminance at ${t}`);
  // A shared vmax: the same weights against vmax 1.8 put the max at colormap(0.5).
  const shared = heatmapTile(img, [1, H, W], w, gh, gw, { alpha: 1, vmax: 1.8 });
  assert.ok(close(at(shared, 1, 9), colormap(0.5)));
  // alpha blends with the greyscale image (RGB -> luminance).
  const rgb = new Float32Array(3 * H * W);
  rgb.fill(1, 0, H * W);                                    // pure red: luminance 0.299
  const blend = heatmapTile(rgb, [3, H, W], w, gh, gw, { alpha: 0.25 });
  assert.ok(close(at(blend, 1, 9), colormap(1).map((v) => 0.75 * 0.299 + 0.25 * v), 1e-5));
  // Marker outline on patch 4's border (rows 4..7, cols 4..7), not its inside; hidden patch 0 is grey hatching.
  const hidden = Float32Array.from([1, 0, 0, 0, 0, 0]);
  const m = heatmapTile(img, [1, H, W], w, gh, gw, { marker: 4, hidden });
  assert.equal(at(m, 4, 4), [1, 0, 1]); assert.equal(at(m, 7, 6), [1, 0, 1]);
  assert.ok(!close(at(m, 5, 5), [1, 0, 1]));
  const g = at(m, 1, 1);
  assert.ok(g[0] === g[1] && g[1] === g[2], 'hidden patch is grey');
  // Hidden patches do not set the default scale: with the max patch 2 hidden, patch 5 (0.45) is the hottest.
  const h2 = heatmapTile(img, [1, H, W], w, gh, gw, { alpha: 1, hidden: Float32Array.from([0, 0, 1, 0, 0, 0]) });
  assert.ok(close(at(h2, 5, 10), colormap(1)));
  assert.equal(patchMark(4, gh, gw, H, W), { x: 4, y: 4, w: 4, h: 4, color: '#ff00ff' });
});

test('heatmapTile: bad shapes give errors naming the argument', () => {
  const img = new Float32Array(64);
  throwsLike(() => heatmapTile(img, [1, 8, 8], new Float32Array(5), 2, 2), /weights has 5 values but the patch grid 2 × 2 has 4/);
  throwsLike(() => heatmapTile(img, [1, 8, 8], new Float32Array(9), 3, 3), /patch grid gh × gw = 3 × 3 .* dividing the image's 8 × 8/);
  throwsLike(() => heatmapTile(img, [1, 8, 9], new Float32Array(4), 2, 2), /image has 64 values but shape \[1,8,9\] needs 72/);
  throwsLike(() => heatmapTile(img, [2, 4, 8], new Float32Array(4), 2, 2), /2 channels/);
  throwsLike(() => heatmapTile(img, [1, 8, 8], new Float32Array(4), 2, 2, { hidden: new Float32Array(3) }), /hidden has 3 values/);
  throwsLike(() => heatmapTile(img, [1, 8, 8], new Float32Array(4), 2, 2, { marker: 4 }), /marker 4 is not a patch index in 0..3/);
  throwsLike(() => heatmapTile(img, [1, 8, 8], Float32Array.from([0, NaN, 0, 0]), 2, 2), /weights\[1\] is NaN/);
});

test('linePlotSvg: one path per series, legend labels, NaN and Infinity leave gaps, text escaped, valid for resvg', () => {
  const svg = linePlotSvg({
    title: 'AMV & L_rec <budget>', xLabel: 'ε (×1/255)', yLabel: 'AMV',
    xTicks: [0, 2, 4, 8, 16],
    series: [
      { label: 'clean', x: [0, 2, 4, 8, 16], y: [0.1, 0.2, NaN, 0.4, 0.5], band: { lo: [0, 0.1, 0.2, 0.3, 0.4], hi: [0.2, 0.3, 0.4, 0.5, 0.6] } },
      { label: 'attacked <PGD>', x: [0, 2, 4, 8, 16], y: [0.3, Infinity, 0.5, 0.6, 0.7], dashed: true },
      { label: 'empty', x: [], y: [] },
      { label: 'all NaN', x: [1, 2], y: [NaN, NaN] },
    ],
  });
  assert.is(count(svg, '<path class="series"'), 4);
  for (const l of ['clean', 'attacked &lt;PGD&gt;', 'empty (no data)', 'all NaN (no data)']) assert.ok(svg.includes(`>${l}<`), `legend ${l}`);
  assert.ok(svg.includes('>AMV &amp; L_rec &lt;budget&gt;<'));
  assert.not.ok(svg.includes('<PGD>') || svg.includes('<budget>'));
  // The NaN at index 2 splits the clean line in two subpaths; the attacked line also restarts after ∞.
  const d = (label: string) => svg.match(new RegExp(`data-label="${label}" d="([^"]*)"`))![1];
  assert.is(count(d('clean'), 'M'), 2); assert.is(count(d('clean'), 'L'), 2);
  assert.is(count(d('attacked &lt;PGD&gt;'), 'M'), 2);
  assert.is(d('empty'), ''); assert.is(d('all NaN'), '');
  assert.not.ok(/NaN|Infinity/.test(svg.replace(/all NaN/g, '')), 'no NaN coordinates');
  for (const l of ['0', '2', '4', '8', '16']) assert.ok(svg.includes(`>${l}</text>`), `x tick ${l}`);
  assert.is(count(svg, 'class="band"'), 1, 'one band polygon: its lo/hi are finite everywhere');
  assert.ok(svg.includes('stroke-dasharray'));
  const img = decodePng(renderPng(svg));
  assert.equal(img.shape, [3, 400, 640]);
});

test('linePlotSvg: log y, ticks, multi-panel, errors', () => {
  const log = linePlotSvg({ title: 'loss', xLabel: 'step', yLabel: 'L', logY: true, series: [{ label: 's', x: [1, 2, 3, 4], y: [1, 0.1, 0, 0.001] }] });
  assert.ok(log.includes('>0.001<') && log.includes('>1<'));
  assert.is(count(log.match(/data-label="s" d="([^"]*)"/)![1], 'M'), 2, 'y = 0 is a gap on a log axis');
  assert.equal(niceTicks(0, 1).ticks, [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.equal(niceTicks(0.013, 0.087).ticks, [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09]);
  assert.is(formatTick(0.30000000000000004, 0.1), '0.3');
  assert.is(formatTick(2e-6), '2e-6');
  const two = linePlotsSvg([
    { title: 'AMV', xLabel: 'ε', yLabel: 'AMV', width: 400, height: 300, series: [{ label: 'a', x: [0, 1], y: [0, 1] }] },
    { title: 'L_rec', xLabel: 'ε', yLabel: 'L', width: 400, height: 300, series: [{ label: 'b', x: [0, 1], y: [1, 0] }] },
  ], 2, { title: 'Figure 4' });
  assert.match(two, /width="800" height="330"/);
  assert.is(count(two, 'class="panel"'), 2);
  assert.is(count(two, '<clipPath id="p0-clip"'), 1); assert.is(count(two, '<clipPath id="p1-clip"'), 1);
  assert.equal(decodePng(renderPng(two)).shape, [3, 330, 800]);
  throwsLike(() => linePlotSvg({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ label: 'bad', x: [1, 2], y: [1] }] }), /series 0 \("bad"\): x has 2 values but y has 1/);
  throwsLike(() => linePlotSvg({ title: 't', xLabel: 'x', yLabel: 'y', series: [{ label: 'b', x: [1], y: [1], band: { lo: [], hi: [1] } }] }), /band lo\/hi have 0\/1 values but x has 1/);
  throwsLike(() => linePlotsSvg([], 1), /no plots/);
});

test('lossCurveSvg: still a valid SVG with the raw losses and the moving average', () => {
  const losses = Array.from({ length: 3000 }, (_, i) => 2 * Math.exp(-i / 500) + 0.1 * Math.sin(i));
  const svg = lossCurveSvg(losses, { title: 'mae tiny on mnist' });
  assert.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="640" height="360"'));
  assert.ok(svg.includes('>mae tiny on mnist<'));
  assert.ok(svg.includes('>moving average (60 steps)<'));
  assert.is(count(svg, '<path class="series"'), 2);
  assert.ok(svg.includes('stroke="#bbb"') && svg.includes('stroke="#c33"'));
  const raw = svg.match(/data-label="loss" d="([^"]*)"/)![1];
  assert.ok(count(raw, 'L') <= 1001, 'thinned to ~1000 points');
  assert.equal(decodePng(renderPng(svg)).shape, [3, 360, 640]);
  // Degenerate inputs still give an SVG.
  for (const l of [[], [1], [NaN, NaN], [1, 1, 1]]) assert.match(lossCurveSvg(l), /<\/svg>/);
  assert.ok(lossCurveSvg([]).includes('>training loss<'));
});

test.run();
