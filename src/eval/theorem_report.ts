// The theorem tool's report in words and pictures: a printed summary table per budget and SVG line
// plots against the attack budget, all read from the TheoremReport (nothing here measures).
import { linePlotsSvg, type LinePlot, type Series } from './plot.js';
import type { TheoremReport } from './theorem.js';
import { attentionLayerName as layerName } from '../models/reconstructor.js';

const f = (v: number, digits = 3): string => (Number.isFinite(v) ? v.toPrecision(digits) : String(v));
const pct = (v: number): string => `${(100 * v).toFixed(1)}%`;
/** Budgets are shown in /255 for l_inf (pixel steps) and as they are for l_2. */
const budgetUnit = (norm: string): { scale: number; unit: string } => (norm === 'linf' ? { scale: 255, unit: ' (×1/255)' } : { scale: 1, unit: '' });
const budgetText = (eps: number, norm: string): string => (norm === 'linf' ? `${f(eps, 4)} (${f(eps * 255, 3)}/255)` : f(eps, 4));

/** The summary table, one block per budget, and the oracle's rows. */
export function theoremSummary(r: TheoremReport, norm: string): string {
  const out: string[] = [];
  for (const b of r.budgets) {
    out.push(`\n${norm} eps ${budgetText(b.eps, norm)}: classifier accuracy clean ${pct(b.accuracy.clean)}, attacked ${pct(b.accuracy.attacked)}, noise ${pct(b.accuracy.noise)}; median perturbation attack ${f(b.perturbation.attack)}, noise ${f(b.perturbation.noise)}`);
    out.push('  layer head  ‖ΔA‖_F  ‖dA‖_F  ratio(med)  cos(med)  Thm3.1 holds: attack  noise   LHS/RHS med: attack  noise');
    for (const l of b.layers) {
      for (const h of l.heads) {
        out.push(`  ${layerName(l.stack, l.layer).padEnd(5)} ${String(h.head).padStart(4)}  ${f(h.actual).padStart(7)} ${f(h.firstOrder).padStart(7)}  ${f(h.ratio.median).padStart(10)}  ${f(h.cosine.median).padStart(8)}` +
          `  ${pct(h.bound.attack.holds).padStart(19)} ${pct(h.bound.noise.holds).padStart(6)}  ${f(h.bound.attack.ratio.median).padStart(19)} ${f(h.bound.noise.ratio.median).padStart(6)}`);
      }
    }
    const t = b.theorem32;
    out.push(`  Thm 3.2 (${t.images} images, ${t.layers} decoder layers): mean L_rec^adv ${f(t.batch.meanLa)}, L_rec ${f(t.batch.meanL)}; ` +
      `per image: ${t.holdsWithZeroOffset ? `holds with c_rec = 0 for H·C_A ≤ ${f(t.cMaxNoOffset ?? NaN)}` : 'fails with c_rec = 0 on some image (L_rec^adv < L_rec/2)'}; ` +
      `least-squares H·C_A ${f(t.lsC)} needs c_rec ≥ ${f(t.offsetAtLsC)}; Pearson(decoder AMV², L_rec^adv − L_rec/2) ${f(t.pearson)}`);
  }
  if (r.oracle) {
    const o = r.oracle;
    out.push(`\noracle at eps ${f(o.eps, 4)}: Σ_layers AMV to the clean attention: attacked ${f(o.amv.attacked)}, after L_rec purification ${f(o.amv.lrec)}, after AMV-oracle purification ${f(o.amv.oracle)}`);
    out.push(`  classifier accuracy: clean ${pct(o.accuracy.clean)}, attacked ${pct(o.accuracy.attacked)}, L_rec-purified ${pct(o.accuracy.lrec)}, oracle-purified ${pct(o.accuracy.oracle)}`);
    out.push(`  oracle objective (mean per image): step 1 ${f(o.oracleObjective[0] ?? NaN)}, last ${f(o.oracleObjective[o.oracleObjective.length - 1] ?? NaN)}`);
  }
  return out.join('\n');
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];

/** Per layer (heads averaged), one series of `pick` against the budget in /255. */
function perLayer(r: TheoremReport, scale: number, pick: (h: TheoremReport['budgets'][number]['layers'][number]['heads'][number]) => number, suffix = '', dashed = false): Series[] {
  const x = r.budgets.map((b) => b.eps * scale);
  return r.budgets[0]?.layers.map((l, i) => ({
    label: `${layerName(l.stack, l.layer)}${suffix}`, x, dashed, color: COLORS[i % COLORS.length],
    y: r.budgets.map((b) => { const hs = b.layers[i].heads.map(pick).filter(Number.isFinite); return hs.length ? hs.reduce((s, v) => s + v, 0) / hs.length : NaN; }),
  })) ?? [];
}

/** The SVG plots: the first-order shift, Theorem 3.1's bound, Theorem 3.2's quantities, all against the budget. */
export function theoremSvgs(r: TheoremReport, norm: string): { shift: string; bound: string; theorem32: string } {
  const { scale, unit } = budgetUnit(norm);
  const xLabel = `attack budget ${norm}${unit}`;
  const xTicks = r.budgets.map((b) => b.eps * scale);
  const plot = (title: string, yLabel: string, series: Series[], logY = false): LinePlot => ({ title, xLabel, yLabel, series, xTicks, logY });
  const shift = linePlotsSvg([
    plot('‖dA‖_F / ‖A_adv − A‖_F (median over images)', 'ratio', perLayer(r, scale, (h) => h.ratio.median)),
    plot('cos(dA, A_adv − A) (median over images)', 'cosine', perLayer(r, scale, (h) => h.cosine.median)),
  ], 2, { title: 'Exact first-order attention shift against the actual one (heads averaged)' });
  const bound = linePlotsSvg([
    plot('pairs where LHS ≥ RHS', 'fraction', [...perLayer(r, scale, (h) => h.bound.attack.holds, ' attack'), ...perLayer(r, scale, (h) => h.bound.noise.holds, ' noise', true)]),
    plot('median LHS / RHS', 'ratio', [...perLayer(r, scale, (h) => h.bound.attack.ratio.median, ' attack'), ...perLayer(r, scale, (h) => h.bound.noise.ratio.median, ' noise', true)], true),
  ], 2, { title: 'Theorem 3.1 per query-key pair: attacked (solid) and random noise of the same norm (dashed)' });
  const x = r.budgets.map((b) => b.eps * scale);
  const t32 = r.budgets.map((b) => b.theorem32);
  const theorem32 = linePlotsSvg([
    plot('reconstruction loss (mean over images)', 'L_rec', [
      { label: 'L_rec^adv', x, y: t32.map((t) => t.batch.meanLa), color: COLORS[1] },
      { label: 'L_rec / 2', x, y: t32.map((t) => t.batch.meanL / 2), color: COLORS[0], dashed: true },
      { label: 'decoder AMV² (Σ layers, mean)', x, y: t32.map((t) => t.batch.meanAmvSum), color: COLORS[2] },
    ]),
    plot('across images', 'Pearson r', [{ label: 'Pearson(decoder AMV², L_rec^adv − L_rec/2)', x, y: t32.map((t) => t.pearson), color: COLORS[3] }]),
  ], 2, { title: 'Theorem 3.2: decoder AMV and the adversarial reconstruction loss' });
  return { shift, bound, theorem32 };
}
