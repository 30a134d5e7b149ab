#!/usr/bin/env bash
# Set everything up, then run the whole test suite (slow end-to-end runs included).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m pytest -q "$@"
