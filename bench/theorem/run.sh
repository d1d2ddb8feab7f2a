#!/usr/bin/env bash
# The theorem workbench on the shipped purifiers (README "Attention math on the shipped purifiers").
# Each run writes bench/results/theorem/<name>.json and its three SVG plots; minutes each on llvmpipe.
set -euo pipefail
cd "$(dirname "$0")/../.."
CIFAR=${CIFAR:-../shared/data/cifar-10-batches-bin}
out=bench/results/theorem
# CIFAR-10: PGD-10 on the classifier alone, l_inf budgets 0.5 ... 16/255, 16 test images, oracle at 8/255.
npx amrm theorem --dataset cifar10 --data "$CIFAR" --purifier models/cifar10-mae.safetensors --n 16 --json $out/cifar10-linf.json
# MNIST: the same budgets with the shipped MNIST models.
npx amrm theorem --dataset mnist --purifier models/mnist-mae.safetensors --n 16 --json $out/mnist-linf.json
# MNIST at the budgets its classifier actually breaks under (the robustness rows use 0.1 and 0.3).
npx amrm theorem --dataset mnist --purifier models/mnist-mae.safetensors --eps 0.05,0.1,0.2,0.3 --oracle-eps 0.3 --n 16 --json $out/mnist-linf-large.json
# CIFAR-10, l_2 budgets (the paper's l_2 ball is 0.5; a range around it).
npx amrm theorem --dataset cifar10 --data "$CIFAR" --norm l2 --eps 0.0625,0.125,0.25,0.5,1 --oracle-eps 0.5 --n 16 --json $out/cifar10-l2.json
