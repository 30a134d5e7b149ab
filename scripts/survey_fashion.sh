#!/usr/bin/env bash
# The Fashion-MNIST survey: five pairs spanning difficulty, each over α, loss and displacement,
# on the CPU preset fashion-cpu (n = 1,000 per class, 28×28). Results go to the store at
# $EOS_CACHE_DIR; `python -m eos_core regime` then maps them. Phases run the most telling cells
# first, so a survey stopped early still answers the main question:
#   bash scripts/survey_fashion.sh mse3     # MSE, α = 3, coherent and random, seeds 0-2
#   bash scripts/survey_fashion.sh ce3      # cross-entropy, α = 3, seeds 0-2
#   bash scripts/survey_fashion.sh alpha10  # MSE, α = 10, seeds 0-2
#   bash scripts/survey_fashion.sh all      # the whole grid, seeds 0-4 (stored runs are skipped)
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=(shirt,tshirt pullover,coat sneaker,sandal trouser,dress bag,boot)
python=${PYTHON:-.venv/bin/python}

sweep() {   # sweep SEEDS ALPHAS LOSSES
  for pair in "${PAIRS[@]}"; do
    "$python" -m eos_core sweep --preset fashion-cpu --set "classes=$pair" --seeds "$1" \
      --grid displacement=coherent,random --grid "alpha=$2" --grid "loss=$3" --workers "${WORKERS:-1}"
  done
}

case "${1:-all}" in
  mse3) sweep 0-2 3 mse ;;
  ce3) sweep 0-2 3 ce ;;
  alpha10) sweep 0-2 10 mse ;;
  all) sweep 0-4 3,10 mse,ce ;;
  *) echo "usage: $0 [mse3|ce3|alpha10|all]" >&2; exit 2 ;;
esac
