#!/usr/bin/env bash
# The CIFAR-10 rows of the README's robustness table: the published CIFAR-10 ResNet-20 (in
# ../shared/models) alone and behind AMRM-Pure with the MAE this repository trained
# (models/cifar10-mae, preset mae-cifar10: rho 0.25, S 150, lambda 1/255 halved), on a seeded sample
# of test images, l_inf 8/255 and l_2 1.0. Each command writes one report under
# bench/results/robust/; `node scripts/results-table.mjs --write` puts them in the README.
#   usage: bash bench/robust/cifar10.sh [N] [N_ADAPTIVE]   (defaults 128 and 128)
# AMRM is an env override for the command (default: npx amrm); DATA the cifar-10-batches-bin folder.
set -euo pipefail
N=${1:-128}
NA=${2:-128}
AMRM=${AMRM:-npx amrm}
DATA=${DATA:-../shared/data/cifar-10-batches-bin}
OUT=bench/results/robust
mkdir -p "$OUT"
common=(--dataset cifar10 --data "$DATA" --classifier ../shared/models/resnet20-12fca82f.th --seed 0 --batch 32)
pur=(--purifier models/cifar10-mae.safetensors --preset mae-cifar10)
for threat in "linf 8/255" "l2 1.0"; do
  set -- $threat
  norm=$1; eps=$2; tag="$norm-${eps/\//_}"
  # No defense: PGD-20 on the classifier.
  $AMRM eval "${common[@]}" --n "$N" --attack pgd --norm "$norm" --eps "$eps" --steps 20 --json "$OUT/cifar10-none-pgd20-$tag.json"
  # No defense: APGD-CE and APGD-DLR, 20 iterations each.
  for atk in apgd-ce apgd-dlr; do
    $AMRM eval "${common[@]}" --n "$N" --attack $atk --norm "$norm" --eps "$eps" --steps 20 --json "$OUT/cifar10-none-$atk-20-$tag.json"
  done
  # AMRM-Pure, non-adaptive: PGD-20 on the classifier alone, then purified and classified.
  $AMRM eval "${common[@]}" "${pur[@]}" --n "$N" --attack pgd --norm "$norm" --eps "$eps" --steps 20 --adaptive none --json "$OUT/cifar10-amrm-pgd20-none-$tag.json"
  # AMRM-Pure, non-adaptive: APGD-CE-20 and APGD-DLR-20 on the classifier alone, then purified.
  for atk in apgd-ce apgd-dlr; do
    $AMRM eval "${common[@]}" "${pur[@]}" --n "$N" --attack $atk --norm "$norm" --eps "$eps" --steps 20 --adaptive none --json "$OUT/cifar10-amrm-$atk-20-none-$tag.json"
  done
  # AMRM-Pure, adaptive: PGD-5 with exact gradients through the 150-step purification (EOT 1). The
  # l_2 report was made as --shard 1/2 and 2/2 (bench/results/robust/shards/) joined by amrm merge.
  $AMRM eval "${common[@]}" "${pur[@]}" --n "$NA" --attack pgd --norm "$norm" --eps "$eps" --steps 5 --eot 1 --adaptive exact --json "$OUT/cifar10-amrm-pgd5-exact-$tag.json"
done
# No defense: Square (l_inf only, black box), 1000 queries.
$AMRM eval "${common[@]}" --n "$N" --attack square --norm linf --eps 8/255 --steps 1000 --json "$OUT/cifar10-none-square1000-linf-8_255.json"
# AMRM-Pure, non-adaptive: Square-1000 on the classifier alone, then purified.
$AMRM eval "${common[@]}" "${pur[@]}" --n "$N" --attack square --norm linf --eps 8/255 --steps 1000 --adaptive none --json "$OUT/cifar10-amrm-square1000-none-linf-8_255.json"
# Diagnosis (not a table row): why the transfer attacks differ. Classifier margins of PGD-20's first
# fooling and last iterates and of APGD-CE-20, and how many of each the purifier brings back.
node dist/bench/robust/transfer.js --data "$DATA" --n 64 --json "$OUT/transfer-diagnosis-linf-8_255.json"
# Diagnosis: how much the purifier's output and its exact gradient change with the mask draw.
node dist/bench/robust/draw_spread.js --dataset cifar10 --data "$DATA" --n 16 --draws 4 --json "$OUT/draw-spread-cifar10.json"
# The paper's 512 images (METHOD.md section 7) where this machine allows: PGD-20 at l_inf 8/255 on
# the classifier alone, undefended and transferred through AMRM-Pure (about 45 CPU-minutes).
$AMRM eval "${common[@]}" --n 512 --attack pgd --norm linf --eps 8/255 --steps 20 --json "$OUT/cifar10-512-none-pgd20-linf-8_255.json"
$AMRM eval "${common[@]}" "${pur[@]}" --n 512 --attack pgd --norm linf --eps 8/255 --steps 20 --adaptive none --json "$OUT/cifar10-512-amrm-pgd20-none-linf-8_255.json"
