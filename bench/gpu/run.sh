#!/usr/bin/env bash
# The one prepared GPU run (issue 16): on a lent NVIDIA GPU, in one command of a few minutes,
#   1. record the adapter;  2. run the engine's op tests on it;  3. benchmark the kernels (the
#   matmul also with its operands in half precision), and PyTorch's on the same card
#   (bench/torch_reference.py: matmul with TF32 off and at its default, attention forward + backward
#   at the MAE shapes, the patch loss);  4. time purification of the paper's models (mae-base-c32,
#   maskdit-c32) and of the same MAE loop in PyTorch eager.
# Results go to $OUT (default bench/results) as gpu-*.json / gpu-*.log, to be committed.
#
# Here, first: npm ci && node scripts/build.mjs && bash ../shared/gpu/prepare.sh
# Then through the device tool: command `bash .gpu/run.sh bash bench/gpu/run.sh`, carrying .gpu
# and dist, with a timeout that leaves room for one rerun (../shared/GPU.md).
# `bash bench/gpu/run.sh --dry-run` runs the same steps on this machine's adapter (llvmpipe unless
# AMRM_ADAPTER says otherwise) with tiny sizes, files named dryrun-*; the PyTorch steps run on the
# CPU where a python3 with torch is present and are skipped otherwise. A test runs it.
set -uo pipefail
cd "$(dirname "$0")/../.."
dry=0
[[ ${1:-} == --dry-run ]] && dry=1
OUT=${OUT:-bench/results}
mkdir -p "$OUT"
if ((dry)); then export AMRM_ADAPTER=${AMRM_ADAPTER:-llvmpipe}; tag=dryrun; dev=cpu
else export AMRM_ADAPTER=gpu; tag=gpu; dev=cuda; fi
# The built CLI run directly (bin/amrm.js would rebuild a stale bundle, and the GPU machine has no esbuild).
cli=(node --input-type=module -e "const { main } = await import('./dist/node/cli.js'); process.exitCode = await main(process.argv.slice(1));")
[[ -f dist/node/cli.js ]] || { echo "bench/gpu/run.sh: dist/ is not built (node scripts/build.mjs)" >&2; exit 1; }
py=""
for c in ${AMRM_PYTHON:-} python3 /usr/bin/python3; do
  if "$c" -c 'import torch' 2>/dev/null; then py=$c; break; fi
done
status=0
step() {
  local name=$1 t0=$SECONDS
  shift
  echo "== $name"
  if "$@"; then echo "== $name: ok ($((SECONDS - t0)) s)"; else echo "== $name: FAILED ($((SECONDS - t0)) s)"; status=1; fi
}
# Runs a command with its standard output into a file (its errors stay on the console).
to() { local f=$1; shift; "$@" > "$f"; }

step adapter to "$OUT/$tag-adapter.json" "${cli[@]}" info --json
if ((dry)); then tests='engine/(matmul|purify_step)'; else tests='engine/'; fi
step op-tests to "$OUT/$tag-op-tests.log" node scripts/run-suites.mjs "$tests"
grep -E '^ *(Total|Passed|Skipped):' "$OUT/$tag-op-tests.log"
if ((dry)); then kq=(--quick --only 'matmul 256'); else kq=(); fi
step kernels "${cli[@]}" bench kernels --no-tfjs "${kq[@]}" --json "$OUT/$tag-kernels.json"
# The GPU defaults (tiled matmul, subgroup layer norm) against the software adapters' choices on the
# same card, so that the tuning table's GPU row rests on a measurement.
if ((dry)); then kr=(--quick --only 'matmul 256'); else kr=(--only 'matmul|layernorm'); fi
step kernels-register "${cli[@]}" bench kernels --no-tfjs "${kr[@]}" --tuning '{"matmul":{"tiled":false},"rows":"loop"}' --json "$OUT/$tag-kernels-register.json"
# Half-precision operands (tuning.matmul.f16: packed halves, f32 accumulation) on the GPU's kernel.
if ((dry)); then kh=(--quick --only 'matmul 256'); else kh=(--only 'matmul'); fi
step kernels-f16 "${cli[@]}" bench kernels --no-tfjs "${kh[@]}" --tuning '{"matmul":{"f16":true}}' --json "$OUT/$tag-kernels-f16.json"
if ((dry)); then pq=(--only '^mnist-mae' --batch 2 --steps 1); else pq=(--only 'mae-base|maskdit-c32' --steps 5); fi
step purify "${cli[@]}" bench purify "${pq[@]}" --json "$OUT/$tag-purify.json"
if [[ -n $py ]]; then
  if ((dry)); then rq=(--quick --reps 3); else rq=(); fi
  step torch-kernels to /dev/null "$py" bench/torch_reference.py --device $dev "${rq[@]}" --json "$OUT/$tag-torch-kernels.json"
  if ((dry)); then
    step torch-purify to "$OUT/$tag-torch-purify.json" "$py" bench/torch_e2e.py models/mnist-mae.safetensors --batch 2 --steps 1 --device cpu
  else
    cfg=$(mktemp --suffix .json)
    node --input-type=module -e "const m = await import('./dist/node/index.js'); console.log(JSON.stringify(m.maeConfig('mae-base-c32')))" > "$cfg"
    step torch-purify-f32 to "$OUT/$tag-torch-purify-f32.json" "$py" bench/torch_e2e.py "$cfg" --batch 32 --mask-ratio 0.25 --steps 10 --device cuda
    step torch-purify-tf32 to "$OUT/$tag-torch-purify-tf32.json" "$py" bench/torch_e2e.py "$cfg" --batch 32 --mask-ratio 0.25 --steps 10 --device cuda --tf32
  fi
else
  echo "== PyTorch steps skipped: no python3 with torch here"
fi
echo "bench/gpu/run.sh: $( ((status)) && echo 'some steps FAILED' || echo 'every step ok'); results in $OUT/$tag-*"
exit $status
