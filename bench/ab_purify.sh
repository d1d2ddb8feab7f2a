#!/usr/bin/env bash
# A/B timing of purification steps under kernel-choice overrides (src/engine/tuning.ts), rounds
# alternating between the variants so that a change in the machine's load hits them alike; writes
# each variant's per-round median step time, the median over rounds and its ratio to the first
# variant. Usage:
#   bench/ab_purify.sh OUT.json ONLY_REGEX ROUNDS STEPS TUNING_JSON [TUNING_JSON ...]
# e.g. bench/ab_purify.sh bench/results/x.json 'cifar10-mae' 3 6 '{"matmul":{"textures":false}}' '{}'
# Runs `amrm bench purify` (so AMRM_ADAPTER, AMRM_DIST apply as there).
set -euo pipefail
[ $# -ge 6 ] || { echo "usage: $0 OUT.json ONLY_REGEX ROUNDS STEPS TUNING_JSON TUNING_JSON [...]" >&2; exit 2; }
out=$1 only=$2 rounds=$3 steps=$4; shift 4
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
for r in $(seq 1 "$rounds"); do
  v=0
  for t in "$@"; do
    node "$here/bin/amrm.js" bench purify --only "$only" --steps "$steps" --tuning "$t" --json "$tmp/r$r-v$v.json" >/dev/null
    v=$((v + 1))
  done
done
node - "$out" "$only" "$rounds" "$steps" "$tmp" "$@" <<'JS'
const fs = require('fs');
const [out, only, rounds, steps, tmp, ...tunings] = process.argv.slice(2);
const med = (a) => { const s = [...a].sort((x, y) => x - y), h = s.length >> 1; return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2; };
const rows = new Map();
let adapter;
for (let r = 1; r <= +rounds; r++) tunings.forEach((t, v) => {
  const j = JSON.parse(fs.readFileSync(`${tmp}/r${r}-v${v}.json`, 'utf8'));
  adapter = j.adapter ?? adapter;
  for (const row of j.rows) {
    if (!rows.has(row.model)) rows.set(row.model, tunings.map(() => []));
    rows.get(row.model)[v].push(row.median_step_ms);
  }
});
const report = {
  bench: 'purify A/B: median step time per round, rounds alternating between the tuning variants',
  command: `bench/ab_purify.sh ${out} '${only}' ${rounds} ${steps} ${tunings.map((t) => `'${t}'`).join(' ')}`,
  adapter, date: new Date().toISOString(), variants: tunings,
  rows: [...rows].map(([model, per]) => ({
    model,
    variants: per.map((ms, v) => ({ tuning: tunings[v], step_ms: ms, median_ms: med(ms), vs_first: +(med(per[0]) / med(ms)).toFixed(3) })),
  })),
};
fs.writeFileSync(out + '.tmp', JSON.stringify(report, null, 1) + '\n');
fs.renameSync(out + '.tmp', out);
for (const r of report.rows) console.log(r.model, r.variants.map((v) => `${v.tuning}: ${v.median_ms.toFixed(1)} ms (x${v.vs_first})`).join(' | '));
JS
