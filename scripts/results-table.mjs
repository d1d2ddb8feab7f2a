// The README's robustness table, built from the reports of `amrm eval` in bench/results/robust/
// (each carries the command that produced it) and the paper's rows (docs/method.md section 6), and its
// purification throughput table, built from `amrm bench purify`'s reports (bench/results/purify-*.json).
//   node scripts/results-table.mjs            prints the tables
//   node scripts/results-table.mjs --write    replaces each table between its markers in README.md
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const DIR = 'bench/results/robust';
const THROUGHPUT_DIR = 'bench/results';
const markers = (name) => [`<!-- ${name}:start -->`, `<!-- ${name}:end -->`];

/** docs/method.md section 6: WRN-28-10 classifiers, ViT-Base MAE (3000 epochs), PGD-200 + EOT-20, 512 images. */
const PAPER = [
  { dataset: 'CIFAR-10', threat: 'l_inf 8/255', defense: 'AMRM-Pure_MAE (paper: ViT-Base MAE, WRN-28-10)', clean: 88.57, robust: 40.53 },
  { dataset: 'CIFAR-10', threat: 'l_2 1.0', defense: 'AMRM-Pure_MAE (paper: ViT-Base MAE, WRN-28-10)', clean: 88.57, robust: 53.50 },
  { dataset: 'CIFAR-10', threat: 'l_inf 8/255', defense: 'AMRM-Pure_MaskDiT (paper: CIFAR MaskDiT, WRN-28-10)', clean: 92.03, robust: 50.57 },
  { dataset: 'CIFAR-10', threat: 'l_2 1.0', defense: 'AMRM-Pure_MaskDiT (paper: CIFAR MaskDiT, WRN-28-10)', clean: 92.03, robust: 64.53 },
];

const pct = (x) => `${(100 * x).toFixed(1)}%`;
/** A radius in [0, 1] units as k/255 where it is one under 0.1, else as a number. */
const radiusText = (r) => {
  const k = r * 255;
  return Math.abs(k - Math.round(k)) < 1e-6 && r < 0.1 ? `${Math.round(k)}/255` : Number.isInteger(r) ? r.toFixed(1) : String(+r.toFixed(4));
};
const epsText = (norm, eps) => `${norm === 'l2' ? 'l_2' : 'l_inf'} ${radiusText(eps)}`;
/** A ball radius; a report keeps an infinite one as 'inf' (older ones as null): no ball. */
const etaText = (eta) => (typeof eta === 'number' && Number.isFinite(eta) ? radiusText(eta) : 'none');

function row(file, r) {
  const a = r.attack, p = r.purifier, c = r.config;
  const dataset = { mnist: 'MNIST', cifar10: 'CIFAR-10', cifar100: 'CIFAR-100' }[c.dataset] ?? c.dataset;
  // The loop's ball and mask draws are part of the defense (the ball's radius decides much of it).
  // MaskDiT-Pure's σ_pur: the report's field, or (older reports) the model name's "σ X".
  const sigma = p && (p.sigma ?? (/σ ([\d.]+)/.exec(p.model ?? '') ?? [])[1]);
  const loop = p && `S ${p.steps}, rho ${p.mask_ratio}, eta ${etaText(p.eta)}${p.masks > 1 ? `, ${p.masks} masks` : ''}${sigma !== undefined ? `, σ ${sigma}` : ''}`;
  const defense = p ? `AMRM-Pure (${p.file.replace(/^.*\//, '')}, ${p.preset}: ${loop}) + ${c.arch}` : `none (${c.arch})`;
  let attack = 'none (clean only)';
  if (a) {
    const on = a.adaptive === 'exact' ? 'adaptive: exact gradients through the purifier'
      : a.adaptive === 'bpda' ? 'BPDA through the purifier'
      : p ? 'non-adaptive: on the classifier alone' : 'on the classifier';
    // A transfer PGD that returns its last iterate says so (the first fooling one transfers far less).
    const last = a.keep === 'last' && a.adaptive === 'none' ? ' (last iterate)' : '';
    // A list (pgd,apgd-ce,...) is the worst case per image over its attacks.
    const names = a.name.split(',').map((x) => `${x.toUpperCase()}-${a.steps}`);
    const what = names.length > 1 ? `worst of ${names.join(', ')}` : names[0];
    attack = `${what}${a.eot > 1 ? ` + EOT-${a.eot}` : ''}${last}, ${on}`;
  }
  return {
    dataset, threat: a ? epsText(a.norm, a.eps) : '-', defense, attack, n: r.n,
    clean: pct(r.clean_accuracy), robust: a ? pct(r.robust_accuracy) : '-', rate: r.images_per_s.toFixed(2), file,
  };
}

export function table() {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();
  // Only `amrm eval` / `amrm merge` reports (they carry a config); diagnosis benches live beside them.
  const reports = files.map((f) => [join(DIR, f), JSON.parse(readFileSync(join(DIR, f), 'utf8'))]).filter(([, r]) => r.config);
  const rows = reports.map(([f, r]) => row(f, r));
  // Per data set and threat: no defense, then the purifier under the non-adaptive, then the adaptive attacks.
  const order = (r) => `${r.dataset}|${r.threat}|${r.defense.startsWith('none') ? 0 : 1}|${r.attack.includes('adaptive:') ? 1 : 0}|${r.attack}`;
  rows.sort((x, y) => order(x).localeCompare(order(y)));
  const lines = [
    '| data set | threat | defense | attack | images | clean | robust | images/s | report |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.dataset} | ${r.threat} | ${r.defense} | ${r.attack} | ${r.n} | ${r.clean} | ${r.robust} | ${r.rate} | [json](${r.file}) |`),
    ...PAPER.map((r) => `| ${r.dataset} | ${r.threat} | ${r.defense} | PGD-200 + EOT-20, adaptive (paper) | 512 | ${r.clean}% | ${r.robust}% | - | docs/method.md §6 |`),
  ];
  return lines.join('\n');
}

/** Seconds per batch of AMRM-Pure per model and adapter, beside the paper's A40 anchor (docs/method.md section 6). */
export function throughputTable() {
  const files = readdirSync(THROUGHPUT_DIR).filter((f) => /^purify-.*\.json$/.test(f)).sort();
  const lines = [
    '| model | adapter | preset (steps) | batch | s / batch | images/s | × the paper\'s A40 time | report |',
    '|---|---|---|---|---|---|---|---|',
  ];
  // Older reports carry the MAE's anchor alone (paper_anchor), newer ones one per family (paper_anchors).
  const anchors = {};
  for (const f of files) {
    const r = JSON.parse(readFileSync(join(THROUGHPUT_DIR, f), 'utf8'));
    Object.assign(anchors, r.paper_anchors ?? { mae: r.paper_anchor });
    for (const x of r.rows) {
      lines.push(`| ${x.model} | ${x.adapter} | ${x.preset} (${x.steps}) | ${x.batch} | ${x.seconds_per_batch.toFixed(1)} | ${x.images_per_s.toFixed(3)} | ${x.vs_paper_anchor.toFixed(1)} | [json](${join(THROUGHPUT_DIR, f)}) |`);
    }
  }
  for (const [family, anchor] of Object.entries(anchors)) {
    lines.push(`| ${anchor.model} | ${anchor.hardware} (paper) | ${family}-cifar10 (${anchor.steps}) | ${anchor.batch} | ${anchor.seconds_per_batch} | ${(anchor.batch / anchor.seconds_per_batch).toFixed(3)} | 1.0 | docs/method.md §6 |`);
  }
  return lines.join('\n');
}

const tables = { 'results-table': table(), 'throughput-table': throughputTable() };
if (process.argv.includes('--write')) {
  let readme = readFileSync('README.md', 'utf8');
  for (const [name, md] of Object.entries(tables)) {
    const [start, end] = markers(name);
    const i = readme.indexOf(start), j = readme.indexOf(end);
    if (i < 0 || j < i) throw new Error(`README.md has no ${start} … ${end} block`);
    readme = `${readme.slice(0, i + start.length)}\n${md}\n${readme.slice(j)}`;
  }
  writeFileSync('README.md.tmp', readme);
  renameSync('README.md.tmp', 'README.md');
  console.log(`README.md: ${Object.keys(tables).join(' and ')} updated`);
} else console.log(Object.values(tables).join('\n\n'));
