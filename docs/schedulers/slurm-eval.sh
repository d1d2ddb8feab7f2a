#!/usr/bin/env bash
# An amrm evaluation split over a Slurm job array, then merged. Each array task runs one shard:
# `amrm eval` reads SLURM_ARRAY_TASK_ID / _MIN / _COUNT when no --shard is given, and {shard} in
# --json becomes i-of-n. Submit from the repository root (with ../shared beside it, or adjust DATA):
#   sbatch docs/schedulers/slurm-eval.sh
# then, when every task has finished:
#   npx amrm merge runs/eval-shards --json runs/eval-merged.json
#SBATCH --job-name=amrm-eval
#SBATCH --array=0-3
#SBATCH --cpus-per-task=2
#SBATCH --time=04:00:00
#SBATCH --output=runs/eval-shards/slurm-%A_%a.log
set -euo pipefail
DATA=${DATA:-../shared/data/cifar-10-batches-bin}
mkdir -p runs/eval-shards
npx amrm eval --dataset cifar10 --data "$DATA" --classifier ../shared/models/resnet20-12fca82f.th \
  --n 512 --seed 0 --batch 32 --purifier models/cifar10-mae.safetensors --preset mae-cifar10 \
  --attack pgd --norm linf --eps 8/255 --steps 20 --adaptive none \
  --json 'runs/eval-shards/part-{shard}.json'
