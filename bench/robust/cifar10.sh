#!/usr/bin/env bash
# The CIFAR-10 rows of the README's robustness table: the published CIFAR-10 ResNet-20 (in
# ../shared/models) alone, behind AMRM-Pure with the MAE this repository trained (models/cifar10-mae,
# preset mae-cifar10: rho 0.25, S 150, lambda 1/255 halved) and behind MaskDiT-Pure with the MaskDiT
# it trained (models/cifar10-maskdit, preset maskdit-cifar10: rho 0.5, S 25, lambda 1/255, sigma_pur
# from bench/results/cifar10-maskdit-preset-sweep.json), on a seeded sample of test images, l_inf
# 8/255 and l_2 1.0. Each command writes one report under bench/results/robust/;
# `node scripts/results-table.mjs --write` puts them in the README.
#   usage: bash bench/robust/cifar10.sh [N] [N_ADAPTIVE]   (defaults 128 and 128)
# AMRM is an env override for the command (default: npx amrm); DATA the cifar-10-batches-bin folder;
# PARTS the parts to run (default "none mae maskdit extra": no defense, the MAE's rows, the
# MaskDiT's rows, the diagnoses and 512-image rows); "rmaskdit" and "rmae" add the robust-fine-tuned
# purifiers' rows (models/cifar10-rmaskdit, preset rmaskdit-cifar10: 15 steps; models/cifar10-rmae,
# preset rmae-cifar10: 90 steps) beside their plain counterparts under the same shorter loop. The
# committed rmaskdit rows were made with the default N and N_ADAPTIVE, the rmae rows with
# `PARTS=rmae bash bench/robust/cifar10.sh 128 64`; "mae-r75" adds one row of the MAE under a
# loop chosen on training images; "mae-e14" the longer-trained MAE's rows, "resnet56" the
# published ResNet-56's and "maskdit-e6" the longer-trained MaskDiT's (all three run with N 128, NA 64);
# "knobs" the MaskDiT-e6 under maskdit-cifar10 as the knobs sweep chose it, "budget" that pair at
# smaller l_inf budgets (both N 128, NA 64), "pareto" that pair with a 12/255 ball (N 128);
# "maskdit-e8" the MaskDiT trained to 8 epochs (N 128), "maskdit-e8-512" its transfer rows on all 512
# images the targets name (any N), "maskdit-e8-more" its adaptive and l_2 rows (N 128, NA 64),
# "maskdit-e8-eta12" it in a 12/255 ball (N 128); "paired" compares committed reports image by
# image (amrm compare).
set -euo pipefail
N=${1:-128}
NA=${2:-128}
AMRM=${AMRM:-npx amrm}
DATA=${DATA:-../shared/data/cifar-10-batches-bin}
PARTS=${PARTS:-none mae maskdit extra}
OUT=bench/results/robust
mkdir -p "$OUT"
has() { [[ " $PARTS " == *" $1 "* ]]; }
common=(--dataset cifar10 --data "$DATA" --classifier ../shared/models/resnet20-12fca82f.th --seed 0 --batch 32)
pur=(--purifier models/cifar10-mae.safetensors --preset mae-cifar10)
# Until the knobs sweep of 2026-12-07 (src/purify/presets.ts) maskdit-cifar10 meant σ_pur 0.2 and one
# mask per step; the rows made then pin those with --sigma 0.2 --masks 1, so that they reproduce.
old_md=(--sigma 0.2 --masks 1)
md=(--purifier models/cifar10-maskdit.safetensors --preset maskdit-cifar10 "${old_md[@]}")
# A purifier's report name and flags: name (amrm for the MAE, as its reports were named first), args.
rmd=(--purifier models/cifar10-rmaskdit.safetensors --preset rmaskdit-cifar10)
# The published ResNet-56 as the classifier (PARTS=resnet56 and maskdit-e6).
r56=(--dataset cifar10 --data "$DATA" --classifier ../shared/models/resnet56-4bfd9763.th --seed 0 --batch 32)
pgd8=(--attack pgd --norm linf --eps 8/255)
purifier() {
  case $1 in
    mae) name=amrm; args=("${pur[@]}") ;;
    maskdit) name=maskdit; args=("${md[@]}") ;;
  esac
}
for threat in "linf 8/255" "l2 1.0"; do
  set -- $threat
  norm=$1; eps=$2; tag="$norm-${eps/\//_}"
  if has none; then
    # No defense: PGD-20 on the classifier.
    $AMRM eval "${common[@]}" --n "$N" --attack pgd --norm "$norm" --eps "$eps" --steps 20 --json "$OUT/cifar10-none-pgd20-$tag.json"
    # No defense: APGD-CE and APGD-DLR, 20 iterations each.
    for atk in apgd-ce apgd-dlr; do
      $AMRM eval "${common[@]}" --n "$N" --attack $atk --norm "$norm" --eps "$eps" --steps 20 --json "$OUT/cifar10-none-$atk-20-$tag.json"
    done
  fi
  # Through each purifier: PGD-20, APGD-CE-20 and APGD-DLR-20 on the classifier alone (the same
  # seed, so the same adversarial images), then purified and classified; and the adaptive PGD-5 with
  # exact gradients through the purification (EOT 1; MaskDiT-Pure's draw fixes the masks and the
  # noise at sigma_pur). The MAE's l_2 adaptive report was made as --shard 1/2 and 2/2
  # (bench/results/robust/shards/) joined by amrm merge.
  for p in mae maskdit; do
    has $p || continue
    purifier $p
    $AMRM eval "${common[@]}" "${args[@]}" --n "$N" --attack pgd --norm "$norm" --eps "$eps" --steps 20 --adaptive none --json "$OUT/cifar10-$name-pgd20-none-$tag.json"
    for atk in apgd-ce apgd-dlr; do
      $AMRM eval "${common[@]}" "${args[@]}" --n "$N" --attack $atk --norm "$norm" --eps "$eps" --steps 20 --adaptive none --json "$OUT/cifar10-$name-$atk-20-none-$tag.json"
    done
    $AMRM eval "${common[@]}" "${args[@]}" --n "$NA" --attack pgd --norm "$norm" --eps "$eps" --steps 5 --eot 1 --adaptive exact --json "$OUT/cifar10-$name-pgd5-exact-$tag.json"
  done
done
# The robust-fine-tuned purifiers, at both threats: PGD-20 transferred and the adaptive PGD-5 with
# exact gradients, each beside its plain counterpart under the same loop (the robust preset's,
# shorter than the plain one's), so that the fine-tuning is compared at equal purification.
rma=(--purifier models/cifar10-rmae.safetensors --preset rmae-cifar10)
plain90=("${pur[0]}" "${pur[1]}" --preset rmae-cifar10)
plain15=("${md[0]}" "${md[1]}" --preset rmaskdit-cifar10)
for threat in "linf 8/255" "l2 1.0"; do
  set -- $threat
  robust=(--norm $1 --eps $2 --adaptive); tag="$1-${2/\//_}"
  if has rmaskdit; then
    $AMRM eval "${common[@]}" "${rmd[@]}" --n "$N" --attack pgd --steps 20 "${robust[@]}" none --json "$OUT/cifar10-rmaskdit-pgd20-none-$tag.json"
    $AMRM eval "${common[@]}" "${rmd[@]}" --n "$NA" --attack pgd --steps 5 --eot 1 "${robust[@]}" exact --json "$OUT/cifar10-rmaskdit-pgd5-exact-$tag.json"
    $AMRM eval "${common[@]}" "${plain15[@]}" --n "$N" --attack pgd --steps 20 "${robust[@]}" none --json "$OUT/cifar10-maskdit-s15-pgd20-none-$tag.json"
  fi
  if has rmae; then
    $AMRM eval "${common[@]}" "${rma[@]}" --n "$N" --attack pgd --steps 20 "${robust[@]}" none --json "$OUT/cifar10-rmae-pgd20-none-$tag.json"
    $AMRM eval "${common[@]}" "${plain90[@]}" --n "$N" --attack pgd --steps 20 "${robust[@]}" none --json "$OUT/cifar10-mae-s90-pgd20-none-$tag.json"
    $AMRM eval "${common[@]}" "${rma[@]}" --n "$NA" --attack pgd --steps 5 --eot 1 "${robust[@]}" exact --json "$OUT/cifar10-rmae-pgd5-exact-$tag.json"
    $AMRM eval "${common[@]}" "${plain90[@]}" --n "$NA" --attack pgd --steps 5 --eot 1 "${robust[@]}" exact --json "$OUT/cifar10-mae-s90-pgd5-exact-$tag.json"
  fi
done
# The MAE under the loop that kept the most clean images in the sweep on training images
# (bench/results/cifar10-mae-loop-sweep.json: 90 steps, mask ratio 0.75, the ratio it was trained
# at), PGD-20 transferred at l_inf 8/255 (PARTS=mae-r75).
if has mae-r75; then
  $AMRM eval "${common[@]}" "${plain90[@]}" --mask-ratio 0.75 --n "$N" --attack pgd --steps 20 --norm linf --eps 8/255 --adaptive none --json "$OUT/cifar10-mae-s90-r75-pgd20-none-linf-8_255.json"
fi
# The MAE trained 8 epochs more (models/cifar10-mae-e14, 14 in all) under the three loops the first
# one was measured with: the paper's (mae-cifar10, S 150), the robust preset's (S 90) and S 90 at its
# training mask ratio 0.75; PGD-20 transferred at l_inf 8/255 (PARTS=mae-e14, run with N 128, NA 64).
if has mae-e14; then
  e14=(--purifier models/cifar10-mae-e14.safetensors)
  lin=(--n "$N" --attack pgd --steps 20 --norm linf --eps 8/255 --adaptive none)
  $AMRM eval "${common[@]}" "${e14[@]}" --preset mae-cifar10 "${lin[@]}" --json "$OUT/cifar10-mae-e14-pgd20-none-linf-8_255.json"
  $AMRM eval "${common[@]}" "${e14[@]}" --preset rmae-cifar10 "${lin[@]}" --json "$OUT/cifar10-mae-e14-s90-pgd20-none-linf-8_255.json"
  $AMRM eval "${common[@]}" "${e14[@]}" --preset rmae-cifar10 --mask-ratio 0.75 "${lin[@]}" --json "$OUT/cifar10-mae-e14-s90-r75-pgd20-none-linf-8_255.json"
  # Issue 17's clean target on the paper's 512 images, under the loop that kept the most clean
  # training images (ratio 0.75); and the adaptive PGD-5 beside the first MAE's under the 90-step loop.
  $AMRM eval "${common[@]}" "${e14[@]}" --preset rmae-cifar10 --mask-ratio 0.75 --n 512 --json "$OUT/cifar10-512-mae-e14-s90-r75-clean.json"
  $AMRM eval "${common[@]}" "${e14[@]}" --preset rmae-cifar10 --n "$NA" --attack pgd --steps 5 --eot 1 --norm linf --eps 8/255 --adaptive exact --json "$OUT/cifar10-mae-e14-s90-pgd5-exact-linf-8_255.json"
fi
# The published ResNet-56 as the classifier (issue 17 section 3: on 32 training images MaskDiT-Pure
# with the maskdit-cifar10 preset brought back 9 of its PGD-20 last iterates against 2 of the
# ResNet-20's, bench/results/cifar10-maskdit-preset-sweep-resnet56.json): undefended, and behind
# MaskDiT-Pure under the transferred PGD-20 and the adaptive PGD-5, l_inf 8/255 (PARTS=resnet56).
if has resnet56; then
  $AMRM eval "${r56[@]}" --n "$N" "${pgd8[@]}" --steps 20 --json "$OUT/cifar10-resnet56-none-pgd20-linf-8_255.json"
  $AMRM eval "${r56[@]}" "${md[@]}" --n "$N" "${pgd8[@]}" --steps 20 --adaptive none --json "$OUT/cifar10-resnet56-maskdit-pgd20-none-linf-8_255.json"
  $AMRM eval "${r56[@]}" "${md[@]}" --n "$NA" "${pgd8[@]}" --steps 5 --eot 1 --adaptive exact --json "$OUT/cifar10-resnet56-maskdit-pgd5-exact-linf-8_255.json"
  # Clean on the paper's 512 images, undefended and behind MaskDiT-Pure; APGD-CE-20 transferred;
  # PGD-20 transferred at l_2 1.0.
  $AMRM eval "${r56[@]}" --n 512 --json "$OUT/cifar10-512-resnet56-clean.json"
  $AMRM eval "${r56[@]}" "${md[@]}" --n 512 --json "$OUT/cifar10-512-resnet56-maskdit-clean.json"
  $AMRM eval "${r56[@]}" "${md[@]}" --n "$N" --attack apgd-ce --norm linf --eps 8/255 --steps 20 --adaptive none --json "$OUT/cifar10-resnet56-maskdit-apgd-ce-20-none-linf-8_255.json"
  $AMRM eval "${r56[@]}" "${md[@]}" --n "$N" --attack pgd --norm l2 --eps 1.0 --steps 20 --adaptive none --json "$OUT/cifar10-resnet56-maskdit-pgd20-none-l2-1.0.json"
fi
# The MaskDiT trained 2 epochs more (models/cifar10-maskdit-e6, 6 in all, `amrm train maskdit --init`)
# under the same preset, beside the first one's rows: with the ResNet-56, the transferred PGD-20,
# clean on the paper's 512 images and APGD-CE-20; with the ResNet-20, the transferred PGD-20; then
# with the ResNet-56 the adaptive PGD-5 and the transfer rows at l_2 1.0 (PARTS=maskdit-e6, run with
# N 128, NA 64).
if has maskdit-e6; then
  e6=(--purifier models/cifar10-maskdit-e6.safetensors --preset maskdit-cifar10 "${old_md[@]}")
  $AMRM eval "${r56[@]}" "${e6[@]}" --n "$N" "${pgd8[@]}" --steps 20 --adaptive none --json "$OUT/cifar10-resnet56-maskdit-e6-pgd20-none-linf-8_255.json"
  $AMRM eval "${r56[@]}" "${e6[@]}" --n 512 --json "$OUT/cifar10-512-resnet56-maskdit-e6-clean.json"
  $AMRM eval "${r56[@]}" "${e6[@]}" --n "$N" --attack apgd-ce --norm linf --eps 8/255 --steps 20 --adaptive none --json "$OUT/cifar10-resnet56-maskdit-e6-apgd-ce-20-none-linf-8_255.json"
  $AMRM eval "${common[@]}" "${e6[@]}" --n "$N" "${pgd8[@]}" --steps 20 --adaptive none --json "$OUT/cifar10-maskdit-e6-pgd20-none-linf-8_255.json"
  $AMRM eval "${r56[@]}" "${e6[@]}" --n "$NA" "${pgd8[@]}" --steps 5 --eot 1 --adaptive exact --json "$OUT/cifar10-resnet56-maskdit-e6-pgd5-exact-linf-8_255.json"
  # The same pair at l_2 1.0: PGD-20 and APGD-CE-20 transferred.
  for atk in pgd apgd-ce; do
    name=$([[ $atk == pgd ]] && echo pgd20 || echo apgd-ce-20)
    $AMRM eval "${r56[@]}" "${e6[@]}" --n "$N" --attack $atk --norm l2 --eps 1.0 --steps 20 --adaptive none --json "$OUT/cifar10-resnet56-maskdit-e6-$name-none-l2-1.0.json"
  done
fi
# maskdit-cifar10 as the knobs sweep chose it (two masks per step, σ_pur 0.1; src/purify/presets.ts)
# with the MaskDiT-e6 (PARTS=knobs, run with N 128, NA 64): beside the rows above, which are the same
# model under the preset's first values (σ_pur 0.2, one mask). With the ResNet-56: the transferred
# PGD-20, clean on the paper's 512 images, the adaptive PGD-5 with exact gradients, APGD-CE-20 and
# the l_2 1.0 rows (transferred PGD-20 and APGD-CE-20, adaptive PGD-5); with the ResNet-20, the
# transferred PGD-20.
if has knobs; then
  e6k=(--purifier models/cifar10-maskdit-e6.safetensors --preset maskdit-cifar10)
  $AMRM eval "${r56[@]}" "${e6k[@]}" --n "$N" "${pgd8[@]}" --steps 20 --adaptive none --json "$OUT/cifar10-resnet56-maskdit-e6-knobs-pgd20-none-linf-8_255.json"
  $AMRM eval "${r56[@]}" "${e6k[@]}" --n 512 --json "$OUT/cifar10-512-resnet56-maskdit-e6-knobs-clean.json"
  $AMRM eval "${r56[@]}" "${e6k[@]}" --n "$NA" "${pgd8[@]}" --steps 5 --eot 1 --adaptive exact --json "$OUT/cifar10-resnet56-maskdit-e6-knobs-pgd5-exact-linf-8_255.json"
  $AMRM eval "${r56[@]}" "${e6k[@]}" --n "$N" --attack apgd-ce --norm linf --eps 8/255 --steps 20 --adaptive none --json "$OUT/cifar10-resnet56-maskdit-e6-knobs-apgd-ce-20-none-linf-8_255.json"
  for atk in pgd apgd-ce; do
    name=$([[ $atk == pgd ]] && echo pgd20 || echo apgd-ce-20)
    $AMRM eval "${r56[@]}" "${e6k[@]}" --n "$N" --attack $atk --norm l2 --eps 1.0 --steps 20 --adaptive none --json "$OUT/cifar10-resnet56-maskdit-e6-knobs-$name-none-l2-1.0.json"
  done
  $AMRM eval "${r56[@]}" "${e6k[@]}" --n "$NA" --attack pgd --norm l2 --eps 1.0 --steps 5 --eot 1 --adaptive exact --json "$OUT/cifar10-resnet56-maskdit-e6-knobs-pgd5-exact-l2-1.0.json"
  $AMRM eval "${common[@]}" "${e6k[@]}" --n "$N" "${pgd8[@]}" --steps 20 --adaptive none --json "$OUT/cifar10-maskdit-e6-knobs-pgd20-none-linf-8_255.json"
fi
# The attack's budget (PARTS=budget, run with N 128, NA 64): the same pair and preset at l_inf 2/255
# and 4/255, beside its 8/255 rows: the undefended classifier under PGD-20, the transferred PGD-20
# (last iterate) and the adaptive PGD-5 with exact gradients, so that the budget each target fails
# at is measured rather than guessed.
if has budget; then
  e6k=(--purifier models/cifar10-maskdit-e6.safetensors --preset maskdit-cifar10)
  for eps in 2/255 4/255; do
    tag="linf-${eps/\//_}"
    $AMRM eval "${r56[@]}" --n "$N" --attack pgd --norm linf --eps "$eps" --steps 20 --json "$OUT/cifar10-resnet56-none-pgd20-$tag.json"
    $AMRM eval "${r56[@]}" "${e6k[@]}" --n "$N" --attack pgd --norm linf --eps "$eps" --steps 20 --adaptive none --json "$OUT/cifar10-resnet56-maskdit-e6-knobs-pgd20-none-$tag.json"
  done
  for eps in 2/255 4/255; do
    tag="linf-${eps/\//_}"
    $AMRM eval "${r56[@]}" "${e6k[@]}" --n "$NA" --attack pgd --norm linf --eps "$eps" --steps 5 --eot 1 --adaptive exact --json "$OUT/cifar10-resnet56-maskdit-e6-knobs-pgd5-exact-$tag.json"
  done
fi
# The trade-off on the test images, for information (PARTS=pareto, run with N 128): the same pair and
# preset with the 12/255 ball, the pareto sweep's runner-up on training images
# (bench/results/cifar10-maskdit-e6-pareto-sweep.json: 250 of 256 clean kept, 32 of 64 last iterates
# brought back, against 245 and 42 at 16/255): clean on the paper's 512 images and the transferred
# PGD-20, beside the knobs rows.
if has pareto; then
  e6k12=(--purifier models/cifar10-maskdit-e6.safetensors --preset maskdit-cifar10 --eta 12/255)
  $AMRM eval "${r56[@]}" "${e6k12[@]}" --n 512 --json "$OUT/cifar10-512-resnet56-maskdit-e6-knobs-eta12-clean.json"
  $AMRM eval "${r56[@]}" "${e6k12[@]}" --n "$N" "${pgd8[@]}" --steps 20 --adaptive none --json "$OUT/cifar10-resnet56-maskdit-e6-knobs-eta12-pgd20-none-linf-8_255.json"
fi
# The MaskDiT trained 2 epochs more again (models/cifar10-maskdit-e8, 8 in all) with the ResNet-56
# under maskdit-cifar10 (PARTS=maskdit-e8, run with N 128): clean on the paper's 512 images, the
# transferred PGD-20 and APGD-CE-20, beside the MaskDiT-e6's knobs rows.
if has maskdit-e8; then
  e8=(--purifier models/cifar10-maskdit-e8.safetensors --preset maskdit-cifar10)
  $AMRM eval "${r56[@]}" "${e8[@]}" --n 512 --json "$OUT/cifar10-512-resnet56-maskdit-e8-clean.json"
  $AMRM eval "${r56[@]}" "${e8[@]}" --n "$N" "${pgd8[@]}" --steps 20 --adaptive none --json "$OUT/cifar10-resnet56-maskdit-e8-pgd20-none-linf-8_255.json"
  $AMRM eval "${r56[@]}" "${e8[@]}" --n "$N" --attack apgd-ce --norm linf --eps 8/255 --steps 20 --adaptive none --json "$OUT/cifar10-resnet56-maskdit-e8-apgd-ce-20-none-linf-8_255.json"
fi
# The same pair's transferred APGD-CE-20 and PGD-20 on the 512 images issue 17's targets name
# (PARTS=maskdit-e8-512; N does not apply).
if has maskdit-e8-512; then
  e8=(--purifier models/cifar10-maskdit-e8.safetensors --preset maskdit-cifar10)
  $AMRM eval "${r56[@]}" "${e8[@]}" --n 512 --attack apgd-ce --norm linf --eps 8/255 --steps 20 --adaptive none --json "$OUT/cifar10-512-resnet56-maskdit-e8-apgd-ce-20-none-linf-8_255.json"
  $AMRM eval "${r56[@]}" "${e8[@]}" --n 512 "${pgd8[@]}" --steps 20 --adaptive none --json "$OUT/cifar10-512-resnet56-maskdit-e8-pgd20-none-linf-8_255.json"
fi
# More rows of the MaskDiT-e8 pair (PARTS=maskdit-e8-more, run with N 128, NA 64): the adaptive PGD-5
# with exact gradients, and the transferred PGD-20 and APGD-CE-20 at l_2 1.0.
if has maskdit-e8-more; then
  e8=(--purifier models/cifar10-maskdit-e8.safetensors --preset maskdit-cifar10)
  $AMRM eval "${r56[@]}" "${e8[@]}" --n "$NA" "${pgd8[@]}" --steps 5 --eot 1 --adaptive exact --json "$OUT/cifar10-resnet56-maskdit-e8-pgd5-exact-linf-8_255.json"
  for atk in pgd apgd-ce; do
    name=$([[ $atk == pgd ]] && echo pgd20 || echo apgd-ce-20)
    $AMRM eval "${r56[@]}" "${e8[@]}" --n "$N" --attack $atk --norm l2 --eps 1.0 --steps 20 --adaptive none --json "$OUT/cifar10-resnet56-maskdit-e8-$name-none-l2-1.0.json"
  done
fi
# The MaskDiT-e8 in the 12/255 ball, as "pareto" did for the e6 (PARTS=maskdit-e8-eta12, run with
# N 128): clean on the paper's 512 images and the transferred PGD-20.
if has maskdit-e8-eta12; then
  e8k12=(--purifier models/cifar10-maskdit-e8.safetensors --preset maskdit-cifar10 --eta 12/255)
  $AMRM eval "${r56[@]}" "${e8k12[@]}" --n 512 --json "$OUT/cifar10-512-resnet56-maskdit-e8-eta12-clean.json"
  $AMRM eval "${r56[@]}" "${e8k12[@]}" --n "$N" "${pgd8[@]}" --steps 20 --adaptive none --json "$OUT/cifar10-resnet56-maskdit-e8-eta12-pgd20-none-linf-8_255.json"
fi
# Paired comparisons of committed reports (PARTS=paired, after the parts they read): which images
# each of two runs on the same images gets right, and the exact McNemar p-value (bench/results/paired/).
if has paired; then
  mkdir -p bench/results/paired
  paired() { $AMRM compare "$OUT/$1.json" "$OUT/$2.json" --json "bench/results/paired/$3.json"; }
  # The clean cost of the swept knobs against the first values, and against no purifier at all.
  paired cifar10-512-resnet56-maskdit-e6-clean cifar10-512-resnet56-maskdit-e6-knobs-clean e6-first-vs-knobs-clean
  paired cifar10-512-resnet56-clean cifar10-512-resnet56-maskdit-e6-knobs-clean resnet56-vs-e6-knobs-clean
  paired cifar10-512-resnet56-clean cifar10-512-resnet56-maskdit-e6-clean resnet56-vs-e6-first-clean
  paired cifar10-512-resnet56-maskdit-e6-knobs-clean cifar10-512-resnet56-maskdit-e6-knobs-eta12-clean e6-knobs-vs-eta12-clean
  # Eight epochs against six, clean, when the e8 rows exist.
  [[ -f "$OUT/cifar10-512-resnet56-maskdit-e8-clean.json" ]] && paired cifar10-512-resnet56-maskdit-e6-knobs-clean cifar10-512-resnet56-maskdit-e8-clean e6-vs-e8-clean
  [[ -f "$OUT/cifar10-resnet56-maskdit-e8-pgd20-none-linf-8_255.json" ]] && paired cifar10-resnet56-maskdit-e6-knobs-pgd20-none-linf-8_255 cifar10-resnet56-maskdit-e8-pgd20-none-linf-8_255 e6-vs-e8-pgd20
  [[ -f "$OUT/cifar10-resnet56-maskdit-e8-apgd-ce-20-none-linf-8_255.json" ]] && paired cifar10-resnet56-maskdit-e6-knobs-apgd-ce-20-none-linf-8_255 cifar10-resnet56-maskdit-e8-apgd-ce-20-none-linf-8_255 e6-vs-e8-apgd-ce-20
  # Eight epochs against six under the adaptive PGD-5 and at l_2 1.0, when the e8's rows exist.
  [[ -f "$OUT/cifar10-resnet56-maskdit-e8-pgd5-exact-linf-8_255.json" ]] && paired cifar10-resnet56-maskdit-e6-knobs-pgd5-exact-linf-8_255 cifar10-resnet56-maskdit-e8-pgd5-exact-linf-8_255 e6-vs-e8-pgd5-exact
  for name in pgd20 apgd-ce-20; do
    [[ -f "$OUT/cifar10-resnet56-maskdit-e8-$name-none-l2-1.0.json" ]] && paired cifar10-resnet56-maskdit-e6-knobs-$name-none-l2-1.0 cifar10-resnet56-maskdit-e8-$name-none-l2-1.0 e6-vs-e8-$name-l2
  done
  # The MaskDiT-e8 in the 16/255 ball against the 12/255 one, when those rows exist.
  [[ -f "$OUT/cifar10-512-resnet56-maskdit-e8-eta12-clean.json" ]] && paired cifar10-512-resnet56-maskdit-e8-clean cifar10-512-resnet56-maskdit-e8-eta12-clean e8-vs-eta12-clean
  [[ -f "$OUT/cifar10-resnet56-maskdit-e8-eta12-pgd20-none-linf-8_255.json" ]] && paired cifar10-resnet56-maskdit-e8-pgd20-none-linf-8_255 cifar10-resnet56-maskdit-e8-eta12-pgd20-none-linf-8_255 e8-vs-eta12-pgd20
  # What the knobs buy under the transferred PGD-20, and what the smaller ball gives back of it.
  paired cifar10-resnet56-maskdit-e6-pgd20-none-linf-8_255 cifar10-resnet56-maskdit-e6-knobs-pgd20-none-linf-8_255 e6-first-vs-knobs-pgd20
  paired cifar10-resnet56-maskdit-e6-knobs-pgd20-none-linf-8_255 cifar10-resnet56-maskdit-e6-knobs-eta12-pgd20-none-linf-8_255 e6-knobs-vs-eta12-pgd20
fi
# Square (l_inf only, black box), 1000 queries: on the classifier, and transferred through each purifier.
if has none; then
  $AMRM eval "${common[@]}" --n "$N" --attack square --norm linf --eps 8/255 --steps 1000 --json "$OUT/cifar10-none-square1000-linf-8_255.json"
fi
for p in mae maskdit; do
  has $p || continue
  purifier $p
  $AMRM eval "${common[@]}" "${args[@]}" --n "$N" --attack square --norm linf --eps 8/255 --steps 1000 --adaptive none --json "$OUT/cifar10-$name-square1000-none-linf-8_255.json"
done
has extra || exit 0
# Diagnosis (not a table row): why the transfer attacks differ. Classifier margins of PGD-20's first
# fooling and last iterates and of APGD-CE-20, and how many of each the purifier brings back.
node dist/bench/robust/transfer.js --data "$DATA" --n 64 --json "$OUT/transfer-diagnosis-linf-8_255.json"
# Diagnosis: how much the purifier's output and its exact gradient change with the mask draw.
node dist/bench/robust/draw_spread.js --dataset cifar10 --data "$DATA" --n 16 --draws 4 --json "$OUT/draw-spread-cifar10.json"
# The paper's 512 images (docs/method.md section 6) where this machine allows: PGD-20 at l_inf 8/255 on
# the classifier alone, undefended and transferred through AMRM-Pure (about 45 CPU-minutes).
$AMRM eval "${common[@]}" --n 512 --attack pgd --norm linf --eps 8/255 --steps 20 --json "$OUT/cifar10-512-none-pgd20-linf-8_255.json"
$AMRM eval "${common[@]}" "${pur[@]}" --n 512 --attack pgd --norm linf --eps 8/255 --steps 20 --adaptive none --json "$OUT/cifar10-512-amrm-pgd20-none-linf-8_255.json"
# Issue 17's clean target on the paper's 512 images: MaskDiT-Pure's clean accuracy (no attack).
$AMRM eval "${common[@]}" "${md[@]}" --n 512 --json "$OUT/cifar10-512-maskdit-clean.json"
