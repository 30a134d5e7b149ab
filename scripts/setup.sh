#!/usr/bin/env bash
# Create .venv and install the pinned requirements (idempotent): requirements.txt by default, or
# the file given, e.g. `bash scripts/setup.sh requirements-dev.txt` for the tests. When .venv
# already holds them (as in the Docker image), nothing is downloaded.
set -euo pipefail
cd "$(dirname "$0")/.."
requirements="${1:-requirements.txt}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
.venv/bin/python -m pip install --quiet -r "$requirements"
.venv/bin/python -m pip install --quiet --no-deps -e .   # the project itself, editable
