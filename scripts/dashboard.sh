#!/usr/bin/env bash
# Set everything up, then start the dashboard (http://localhost:8501). On an empty cache it stores
# the teaching runs shipped with the package (real Fashion-MNIST images), so the Story is complete at
# once. As root with apt-get, Debian's dataset-fashion-mnist package is installed when it can be, so
# "Run it live" can train them again here; without it the form trains synthetic data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && ! dpkg -s dataset-fashion-mnist >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
    || echo "note: Fashion-MNIST could not be installed; the first launch uses synthetic data"
fi
exec .venv/bin/eos dashboard "$@"   # streamlit run dashboard/app.py with dashboard/streamlit.toml
