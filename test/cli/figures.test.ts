// `amrm figures` on MNIST with the shipped models at tiny settings: every file, the figures' layouts
// against their PNGs, the numbers against what they must be (AMV 0 at budget 0, one value per budget
// and per step), and bad flags refused by name before anything is written.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setup } from '../harness.js';
import { figuresCommand } from '../../src/cli/figures.js';
import { decodePng } from '../../src/data/png.js';
import { FIGURE1_COLUMNS, budgetTrend, stepTrend } from '../../src/eval/figures.js';
import { scratch } from '../data/fixtures.js';
import { writeTinyMnistMaskDit } from '../models/maskdit_fixtures.js';

await setup();
const test = suite('cli: figures');

const FILES = ['fig1.png', 'fig1.json', 'fig3.png', 'fig3.json', 'fig4-budget.svg', 'fig4-budget.json', 'fig4-purification.svg', 'fig4-purification.json'];
const LAYERS = ['enc0', 'enc1', 'enc2', 'enc3', 'dec0', 'dec1']; // the shipped MNIST MAE: depth 4, decoder depth 2

/** Runs the command with its output silenced: its exit code and what it printed to stderr. */
async function run(args: string[]): Promise<{ rc: number; err: string }> {
  const err: string[] = [];
  const log = console.log, error = console.error;
  console.log = () => {};
  console.error = (...m: unknown[]) => { err.push(m.join(' ')); };
  try {
    return { rc: await figuresCommand(args), err: err.join('\n') };
  } finally { console.log = log; console.error = error; }
}

test('MNIST, shipped models, tiny settings: every file; layouts match the PNGs; the numbers are the ones plotted', async () => {
  const s = scratch('figures');
  try {
    const out = join(s.dir, 'out');
    const { rc, err } = await run(['--n', '2', '--budget-n', '4', '--budgets', '0,8,32', '--purify-n', '2', '--purify-steps', '3', '--attack-steps', '2', '--out', out]);
    assert.is(rc, 0, err);
    for (const f of FILES) assert.ok(existsSync(join(out, f)), `${f} written`);
    const read = (f: string) => JSON.parse(readFileSync(join(out, f), 'utf8'));

    // Figure 1: 2 rows of 6 captioned tiles; the verdict agrees with the stored prediction and label.
    const f1 = read('fig1.json');
    assert.match(f1.command, /npx amrm figures .*--budgets 0,8,32/);
    assert.match(f1.classifier.file, /models[\\/]mnist-cnn\.safetensors$/);
    assert.match(f1.purifier.file, /models[\\/]mnist-mae\.safetensors$/);
    assert.is(f1.attack.keep, 'last');
    assert.is(f1.attack.eps, 8 / 255);
    assert.is(f1.preset, 'mae-mnist');
    const png1 = decodePng(readFileSync(join(out, 'fig1.png')));
    assert.equal(png1.shape, [3, f1.layout.height, f1.layout.width], 'PNG size = layout size');
    assert.equal(f1.layout.columns.map((c: { title: string }) => c.title), [...FIGURE1_COLUMNS]);
    assert.is(f1.layout.rows.length, 2);
    assert.is(f1.layout.cells.length, 12);
    assert.equal(f1.image_indices.length, 2);
    for (const cell of f1.layout.cells) {
      const im = f1.images[cell.row], c = im.cells[cell.col];
      assert.is(c.column, FIGURE1_COLUMNS[cell.col]);
      assert.is(c.verdict, c.prediction === im.label ? 'right' : 'wrong', `verdict of [${cell.row}][${cell.col}]`);
      assert.is(cell.verdict, c.verdict);
      assert.is(cell.caption, `${c.caption} ${c.verdict === 'right' ? '✓' : '✗'}`);
      assert.match(c.caption, /^\d \(\d\.\d\d\)$/, 'digit and confidence');
      assert.ok(c.confidence > 0 && c.confidence <= 1);
    }
    for (const col of FIGURE1_COLUMNS) assert.ok(typeof f1.captions_classify[col] === 'string', `what the ${col} caption classifies`);
    assert.is(f1.mask.hidden[0].length, 4, 'mask ratio 0.25 of 16 patches');

    // Figure 3: one row per layer, in order; each map's weights and cls weight are a row of an attention matrix.
    const f3 = read('fig3.json');
    const png3 = decodePng(readFileSync(join(out, 'fig3.png')));
    assert.equal(png3.shape, [3, f3.layout.height, f3.layout.width]);
    assert.equal(f3.rows.map((r: { layer: string }) => r.layer), LAYERS);
    assert.equal(f3.layout.rows.length, LAYERS.length);
    assert.is(f3.layout.columns.length, 4);
    assert.is(f3.image_index, f1.image_indices[0], 'the first image of Figure 1');
    assert.not.ok(f3.mask.hidden.includes(f3.query.patch), 'the query patch is visible');
    for (const r of f3.rows) {
      for (const col of ['clean', 'attacked', 'purified']) {
        const m = r.maps[col];
        const nulls = m.weights.filter((v: number | null) => v === null).length;
        assert.is(nulls, r.stack === 'encoder' ? f3.mask.hidden.length : 0, `${r.layer} ${col}: hidden patches have no encoder token`);
        const total = m.cls + m.weights.reduce((a: number, v: number | null) => a + (v ?? 0), 0);
        assert.ok(Math.abs(total - 1) < 1e-4, `${r.layer} ${col}: weights sum to ${total}`);
        assert.ok(m.weights.every((v: number | null) => v === null || v <= r.vmax + 1e-12), 'vmax covers the row');
      }
    }

    // Figure 4(a): one value per budget; AMV exactly 0 at budget 0 (same images, same mask).
    const f4 = read('fig4-budget.json');
    assert.equal(f4.budgets_255, [0, 8, 32]);
    assert.equal(f4.layers, LAYERS);
    for (const l of LAYERS) {
      assert.is(f4.amv[l].length, 3);
      assert.is(f4.amv[l][0], 0, `${l}: AMV at budget 0`);
      assert.ok(f4.amv[l][2] > 0, `${l}: AMV at 32/255`);
      assert.equal(f4.trend.amv[l], budgetTrend(f4.budgets, f4.amv[l]));
    }
    assert.is(f4.loss_attacked.length, 3);
    assert.is(f4.loss_attacked[0], f4.loss_clean, 'L_rec at budget 0 is the clean L_rec');
    assert.is(f4.loss_gap[0], 0);
    assert.is(f4.attacked_accuracy.length, 3);
    assert.is(f4.image_indices.length, 4);
    assert.is(f4.mask.ratio, 0.5);
    const svgB = readFileSync(join(out, 'fig4-budget.svg'), 'utf8');
    for (const label of [...LAYERS, 'L_rec (attacked)', 'L_rec (clean)', 'L_rec^adv − L_rec']) assert.ok(svgB.includes(`>${label}<`), `legend ${label}`);

    // Figure 4(b): steps + 1 values (step 0 included).
    const f4p = read('fig4-purification.json');
    assert.is(f4p.steps, 3);
    assert.is(f4p.loss.length, 4);
    assert.is(f4p.loss_fixed_mask.length, 4);
    assert.equal(f4p.trend.loss_fixed_mask, stepTrend(f4p.loss_fixed_mask));
    assert.ok(f4p.loss_clean_fixed_mask > 0);
    for (const l of LAYERS) {
      assert.is(f4p.amv[l].length, 4);
      assert.equal(f4p.trend.amv[l], stepTrend(f4p.amv[l]));
    }
    assert.is(f4p.purify.steps, 3);
    for (const v of Object.values(f4p.accuracy) as number[]) assert.ok(v >= 0 && v <= 1 && Number.isInteger(v * 2));
    const svgP = readFileSync(join(out, 'fig4-purification.svg'), 'utf8');
    for (const label of [...LAYERS, 'L_rec (fixed mask)', 'L_rec (the loop&#39;s fresh masks)', 'L_rec (clean, fixed mask)']) assert.ok(svgP.includes(`>${label}<`), `legend ${label}`);
  } finally { s.cleanup(); }
});

test('a MaskDiT purifier (MNIST-shaped, random weights): every file, the family named, its layers without a cls token, AMV 0 at budget 0', async () => {
  const s = scratch('figures-maskdit');
  try {
    const purifier = await writeTinyMnistMaskDit(s.dir, 5);
    const out = join(s.dir, 'out');
    const { rc, err } = await run(['--purifier', purifier, '--n', '2', '--budget-n', '2', '--budgets', '0,8', '--purify-n', '2', '--purify-steps', '2', '--attack-steps', '1', '--out', out]);
    assert.is(rc, 0, err);
    for (const f of FILES) assert.ok(existsSync(join(out, f)), `${f} written`);
    const read = (f: string) => JSON.parse(readFileSync(join(out, f), 'utf8'));
    const f1 = read('fig1.json');
    assert.is(f1.purifier.family, 'maskdit');
    assert.match(f1.purifier.description, /^MaskDiT 28×28 p4 .*σ_pur 1, noise seed 0$/);
    assert.is(f1.preset, 'maskdit-mnist');
    assert.match(f1.captions_classify.reconstruction, /the MaskDiT's reconstruction .*\(D \+ 1\) \/ 2/);
    assert.not.match(JSON.stringify(f1.captions_classify), /MAE/);
    assert.is(f1.mask.hidden[0].length, 25, 'mask ratio 0.5 of 49 patches');
    assert.is(f1.layout.cells.length, 12);
    const f3 = read('fig3.json');
    assert.equal(f3.rows.map((r: { layer: string }) => r.layer), ['enc0', 'dec0']);
    assert.match(f3.token_order, /no cls token/);
    for (const r of f3.rows) {
      assert.is(r.tokens, r.stack === 'encoder' ? 24 : 49);
      for (const col of ['clean', 'attacked', 'purified']) {
        const m = r.maps[col];
        assert.is(m.cls, null);
        const total = m.weights.reduce((a: number, v: number | null) => a + (v ?? 0), 0);
        assert.ok(Math.abs(total - 1) < 1e-4, `${r.layer} ${col}: the weights over the patches sum to ${total}`);
      }
    }
    const f4 = read('fig4-budget.json');
    assert.equal(f4.layers, ['enc0', 'dec0']);
    for (const l of ['enc0', 'dec0']) {
      assert.is(f4.amv[l][0], 0, `${l}: AMV at budget 0 (same images, same mask, same noise)`);
      assert.ok(f4.amv[l][1] > 0, `${l}: AMV at 8/255`);
    }
    assert.is(f4.loss_attacked[0], f4.loss_clean);
    const f4p = read('fig4-purification.json');
    assert.is(f4p.loss_fixed_mask.length, 3);
    assert.equal(Object.keys(f4p.amv), ['enc0', 'dec0']);
    assert.match(f4p.loss_measured.loss_fixed_mask, /diffusion-noise draw/);
    assert.ok([...f4p.loss, ...f4p.loss_fixed_mask, ...f4p.amv.enc0, ...f4p.amv.dec0].every(Number.isFinite));
  } finally { s.cleanup(); }
});

test('trends: computed from the numbers alone', () => {
  const b = [0, 1 / 255, 2 / 255, 4 / 255];
  assert.equal(budgetTrend(b, [0, 1, 2, 3]), { monotone_from_1_255: true, rising_pairs: 2, pairs: 2, value_at_0: 0, value_at_max: 3, ratio_max_vs_0: null, ratio_max_vs_first: 3 });
  const t = budgetTrend(b, [2, 1, 3, 2]);
  assert.is(t.monotone_from_1_255, false);
  assert.is(t.ratio_max_vs_0, 1);
  assert.is(budgetTrend(b, [0, -1, 0.5, 2]).ratio_max_vs_first, null, 'no ratio to a negative value');
  assert.equal(stepTrend([4, 3, 3.5, 2]), { first: 4, last: 2, last_below_first: true, ratio_last_vs_first: 0.5, decreasing_steps: 2, fraction_decreasing: 2 / 3 });
});

test('bad flags: a clear error naming the flag, and nothing written', async () => {
  const s = scratch('figures-bad');
  try {
    const fresh = join(s.dir, 'never');
    const cases: [string[], RegExp][] = [
      [['--dataset', 'svhn'], /--dataset must be mnist or cifar10/],
      [['--budgets', '0,-1,2'], /--budgets: -1 is negative/],
      [['--budgets', '0,x'], /--budgets must be a comma list/],
      [['--only', 'fig2'], /--only takes/],
      [['--eps', 'lots'], /--eps/],
      [['--layers', 'enc9'], /--layers: the MAE has no layer enc9/],
      [['--query', '16'], /--query 16 is not a patch/],
    ];
    for (const [args, re] of cases) {
      const { rc, err } = await run([...args, '--out', fresh]);
      assert.is(rc, 2, `${args.join(' ')}: usage error`);
      assert.match(err, re);
      assert.not.ok(existsSync(fresh), `${args.join(' ')}: nothing written`);
    }
    const file = join(s.dir, 'a-file');
    writeFileSync(file, 'keep me');
    // Refused before any work (src/cli/outputs.ts), the file left as it was.
    let outErr = '';
    try { await run(['--out', file]); } catch (e) { outErr = (e as Error).message; }
    assert.match(outErr, /--out .*a-file is a file, not a folder/);
    assert.is(readFileSync(file, 'utf8'), 'keep me');
    const none = await run([]);
    assert.is(none.rc, 2);
    assert.match(none.err, /--out DIR is required/);
  } finally { s.cleanup(); }
});

test.run();
