#!/usr/bin/env bash
# The GPU benchmark in one go: paper-sized synthetic data (no CIFAR-10 needed) with the MLP — a
# whole run and a three-c sweep — then the per-example and diagnostics cost of the CNN and the
# ResNet-14 (no full run: 10,000 full-batch conv steps take long). Each bench prints a table and a
# JSON line; FIGURES_DIR (default runs/bench-gpu) keeps one log per benchmark.
# Extra arguments go to every bench, e.g. `--set steps=64` for a quick check.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
out="${FIGURES_DIR:-runs/bench-gpu}"
mkdir -p "$out"
.venv/bin/python -c "import torch; print('device:', torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu')"
.venv/bin/python -m eos_core bench --preset paper-synthetic --sweep "$@" | tee "$out/mlp.log"
for model in cnn resnet14; do
  .venv/bin/python -m eos_core bench --preset paper-synthetic --set model="$model" --no-full-run "$@" \
    | tee "$out/$model.log"
done
