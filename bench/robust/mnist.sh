#!/usr/bin/env bash
# The MNIST rows of the README's robustness table: the shipped classifier (models/mnist-cnn) alone
# and behind AMRM-Pure with the shipped MAE (models/mnist-mae, preset mae-mnist) and with the shipped
# MaskDiT (models/mnist-maskdit, preset maskdit-mnist: MaskDiT-Pure), on a seeded sample of the
# held-out digits, l_inf 0.3 and 0.1. Each command writes one report under
# bench/results/robust/; `node scripts/results-table.mjs` turns them into the table.
#   usage: bash bench/robust/mnist.sh [N]    (N images, default 64; about 110 CPU-minutes on llvmpipe)
# AMRM is an env override for the command (default: npx amrm). PARTS the parts to run (default
# "plain": the rows above; "rmaskdit" the robust-fine-tuned MaskDiT's, models/mnist-rmaskdit with
# preset rmaskdit-mnist, the same 50-step loop as maskdit-mnist, so the plain rows are its counterpart);
# "rmaskdit-bpda" its BPDA row; "rmae" the robust-fine-tuned MAE's (models/mnist-rmae, preset
# rmae-mnist, the same 100-step loop as mae-mnist).
set -euo pipefail
N=${1:-64}
AMRM=${AMRM:-npx amrm}
PARTS=${PARTS:-plain}
has() { [[ " $PARTS " == *" $1 "* ]]; }
OUT=bench/results/robust
mkdir -p "$OUT"
common=(--dataset mnist --classifier models/mnist-cnn.safetensors --n "$N" --seed 0 --batch 16)
pur=(--purifier models/mnist-mae.safetensors --preset mae-mnist)
md=(--purifier models/mnist-maskdit.safetensors --preset maskdit-mnist)
rmd=(--purifier models/mnist-rmaskdit.safetensors --preset rmaskdit-mnist)
rmae=(--purifier models/mnist-rmae.safetensors --preset rmae-mnist)
if has rmaskdit; then
  for e in 0.3 0.1; do
    # The same PGD-40 last iterates (same seed), purified by the robust MaskDiT; then PGD-10 with exact
    # gradients through its 50-step purification.
    $AMRM eval "${common[@]}" "${rmd[@]}" --attack pgd --norm linf --eps $e --steps 40 --adaptive none --json "$OUT/mnist-rmaskdit-pgd40-none-linf-$e.json"
    $AMRM eval "${common[@]}" "${rmd[@]}" --attack pgd --norm linf --eps $e --steps 10 --eot 1 --adaptive exact --json "$OUT/mnist-rmaskdit-pgd10-exact-linf-$e.json"
  done
fi
if has rmae; then
  for e in 0.3 0.1; do
    # The robust-fine-tuned MAE (models/mnist-rmae, preset rmae-mnist: the same 100-step loop as
    # mae-mnist): the same PGD-40 last iterates, purified; then PGD-10 with exact gradients through
    # its purification.
    $AMRM eval "${common[@]}" "${rmae[@]}" --attack pgd --norm linf --eps $e --steps 40 --adaptive none --json "$OUT/mnist-rmae-pgd40-none-linf-$e.json"
    $AMRM eval "${common[@]}" "${rmae[@]}" --attack pgd --norm linf --eps $e --steps 10 --eot 1 --adaptive exact --json "$OUT/mnist-rmae-pgd10-exact-linf-$e.json"
  done
fi
if has rmaskdit-bpda; then
  # BPDA-10 on the robust MaskDiT, as on the plain one: the strongest attack on it at 0.3 (about
  # 7 CPU-minutes each on llvmpipe).
  for e in 0.3 0.1; do
    $AMRM eval "${common[@]}" "${rmd[@]}" --attack bpda --norm linf --eps $e --steps 10 --eot 1 --json "$OUT/mnist-rmaskdit-bpda10-linf-$e.json"
  done
fi
has plain || exit 0
for e in 0.3 0.1; do
  # No defense: PGD-40 on the classifier.
  $AMRM eval "${common[@]}" --attack pgd --norm linf --eps $e --steps 40 --json "$OUT/mnist-none-pgd40-linf-$e.json"
  # AMRM-Pure, non-adaptive: PGD-40 on the classifier alone, then purified and classified.
  $AMRM eval "${common[@]}" "${pur[@]}" --attack pgd --norm linf --eps $e --steps 40 --adaptive none --json "$OUT/mnist-amrm-pgd40-none-linf-$e.json"
  # MaskDiT-Pure, non-adaptive: the same PGD-40 last iterates (same seed), purified by the MaskDiT.
  $AMRM eval "${common[@]}" "${md[@]}" --attack pgd --norm linf --eps $e --steps 40 --adaptive none --json "$OUT/mnist-maskdit-pgd40-none-linf-$e.json"
  # AMRM-Pure, adaptive: PGD-10 with exact gradients through the 100-step purification (EOT 1).
  $AMRM eval "${common[@]}" "${pur[@]}" --attack pgd --norm linf --eps $e --steps 10 --eot 1 --adaptive exact --json "$OUT/mnist-amrm-pgd10-exact-linf-$e.json"
  # MaskDiT-Pure, adaptive: PGD-10 with exact gradients through the 50-step purification (EOT 1;
  # each draw fixes the masks and the noise at sigma_pur).
  $AMRM eval "${common[@]}" "${md[@]}" --attack pgd --norm linf --eps $e --steps 10 --eot 1 --adaptive exact --json "$OUT/mnist-maskdit-pgd10-exact-linf-$e.json"
done
# MaskDiT-Pure, adaptive: BPDA-10 (the purifier's backward as the identity: the classifier's
# gradient at the purified image), where the exact gradient cannot use the denoiser.
for e in 0.3 0.1; do
  $AMRM eval "${common[@]}" "${md[@]}" --attack bpda --norm linf --eps $e --steps 10 --eot 1 --json "$OUT/mnist-maskdit-bpda10-linf-$e.json"
done
# AMRM-Pure, adaptive with EOT: PGD-10 + EOT-4 (gradients averaged over 4 mask draws per step) at
# l_inf 0.1, the one threat where EOT 1 leaves digits standing (about 70 CPU-minutes on llvmpipe).
$AMRM eval "${common[@]}" "${pur[@]}" --attack pgd --norm linf --eps 0.1 --steps 10 --eot 4 --adaptive exact --json "$OUT/mnist-amrm-pgd10-eot4-exact-linf-0.1.json"
# MaskDiT-Pure, adaptive with EOT: PGD-10 + EOT-4 (gradients averaged over 4 draws of masks and
# noise per step) at l_inf 0.1, where EOT 1 leaves 95% standing (about 110 CPU-minutes on llvmpipe).
$AMRM eval "${common[@]}" "${md[@]}" --attack pgd --norm linf --eps 0.1 --steps 10 --eot 4 --adaptive exact --json "$OUT/mnist-maskdit-pgd10-eot4-exact-linf-0.1.json"
# AMRM-Pure, adaptive APGD-CE-10 with exact gradients through the purifier (EOT 1), l_inf 0.1.
$AMRM eval "${common[@]}" "${pur[@]}" --attack apgd-ce --norm linf --eps 0.1 --steps 10 --eot 1 --adaptive exact --json "$OUT/mnist-amrm-apgd-ce-10-exact-linf-0.1.json"
# Diagnosis (not a table row): how much the purifier's output and its exact gradient change with the
# mask draw, which bounds what EOT can add.
node dist/bench/robust/draw_spread.js --dataset mnist --n 16 --draws 4 --json "$OUT/draw-spread-mnist.json"
