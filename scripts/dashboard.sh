#!/usr/bin/env bash
# Set everything up, then start the dashboard (http://localhost:8501). On an empty cache it
# starts the offline teaching preset (scikit-learn digits) and shows it training.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/streamlit run app.py "$@"
