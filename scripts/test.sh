#!/usr/bin/env bash
# Set everything up (Python packages; as root with apt-get, Debian's chromium for the browser
# tests and podman for the Docker smoke test, when they can be installed), then run the whole
# test suite, slow end-to-end tests included.
# `--quick` runs the quick tier instead: every test without a mark of pyproject.toml's (no server,
# browser, process of its own or real training); it needs neither chromium nor podman.
# Other arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh requirements-dev.txt
if [ "${1:-}" = --quick ]; then
  shift
  exec .venv/bin/python -m pytest -q -m "not (slow or browser or process or training)" "$@"
fi

# Install Debian packages for optional tests: a test whose tool is missing skips, never fails.
apt_install() {
  local why="$1"; shift
  command -v apt-get >/dev/null && [ "$(id -u)" = 0 ] || return 0
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null) \
    || echo "note: could not install $*; $why will be skipped"
}
[ -x /usr/bin/chromium ] || apt_install "the browser tests" chromium
if ! { command -v docker >/dev/null && docker info >/dev/null 2>&1; } && ! command -v podman >/dev/null; then
  apt_install "the Docker smoke test" podman runc debootstrap
fi
.venv/bin/python -m pytest -q "$@"
