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

# The project itself, editable, so `eos` and `import eos_core` run this checkout from any folder.
# Skipped when this checkout is already installed so and pyproject.toml has not changed since:
# the install builds in an isolated environment, which would fetch setuptools again. The Docker
# image has no checkout (no pyproject.toml): it installs the project's wheel instead.
[ -f pyproject.toml ] || exit 0
stamp=".venv/.eos-explorer-pyproject.sha256"
installed_here() {
  [ "$(cat "$stamp" 2>/dev/null)" = "$(sha256sum pyproject.toml | cut -d' ' -f1)" ] || return 1
  .venv/bin/python -I - "$PWD" <<'PY'   # -I: not the checkout's own eos_explorer.egg-info
import json, pathlib, sys
from importlib import metadata
try:
    origin = json.loads(metadata.distribution("eos-explorer").read_text("direct_url.json") or "{}")
except metadata.PackageNotFoundError:
    sys.exit(1)
here = pathlib.Path(sys.argv[1]).resolve().as_uri()
sys.exit(0 if origin.get("url") == here and origin.get("dir_info", {}).get("editable") else 1)
PY
}
if ! installed_here; then
  .venv/bin/python -m pip install --quiet --no-deps -e .
  sha256sum pyproject.toml | cut -d' ' -f1 >"$stamp"
fi
