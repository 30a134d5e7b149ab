#!/usr/bin/env bash
# Build the Docker image and prove the deployment works, run the way docker-compose.yml runs it:
# a `ui` and a `worker` container on one named cache volume, both as the image's non-root user,
# the ui with EOS_AUTOSTART_WORKER=0. It waits for the ui's health check, queues teach-selective
# through the ui container's CLI, waits until the worker container has finished it, then checks
# that the dashboard's Runs page shows the result (in Chromium through Playwright when the host
# has both; otherwise through the ui container's CLI), that the worker logged its device, that
# the cache volume belongs to the image's user with mode 0700, that the image runs the installed
# package (no source tree), and that the backup and restore commands of docs/deployment.md and
# scripts/setup.sh work. Uses docker when its daemon answers, else podman.
# Extra arguments go to the submit command, e.g. `--set steps=64` for a shorter job on a busy
# machine (the full preset takes about a minute on two free cores).
#
# Everything it starts (containers, volume) is removed at exit, also on failure; the image
# (eos-explorer:smoke) is kept, so a second run builds from its cache.
# Last line on stdout: one JSON object {build_s, image_mb, healthy_s, job_s, ok, ...}.
# Exit status: 0 all checks passed, 1 a check failed, 77 no usable container engine here.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=eos-explorer:smoke
BASE=docker.io/library/python:3.11-slim
NAME="eos-smoke-$$"
UI="$NAME-ui" WORKER="$NAME-worker" VOLUME="$NAME-cache" RESTORED="$NAME-restored"
HEALTH_TIMEOUT_S=300 JOB_TIMEOUT_S=2400 MIN_FREE_GB=16
WORK="$(mktemp -d)"
ENGINE="" STARTED=0 BUILD_S=null IMAGE_MB=null HEALTHY_S=null JOB_S=null UI_CHECK=null ERROR=""

say() { echo "docker_smoke: $*" >&2; }
now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
e() { "$ENGINE" "$@"; }

report() {
  local ok=$1
  printf '{"build_s": %s, "image_mb": %s, "healthy_s": %s, "job_s": %s, "ok": %s, "engine": "%s", "ui_check": %s%s}\n' \
    "$BUILD_S" "$IMAGE_MB" "$HEALTHY_S" "$JOB_S" "$ok" "$ENGINE" "$UI_CHECK" \
    "${ERROR:+, \"error\": \"${ERROR//\"/\'}\"}"
}

skip() { ERROR="$1"; say "cannot run here: $1"; report false; exit 77; }
fail() { ERROR="$1"; say "FAILED: $1"; exit 1; }

cleanup() {
  local status=$?
  trap - EXIT
  if [ "$STARTED" = 1 ]; then
    if [ "$status" != 0 ]; then
      for container in "$UI" "$WORKER"; do
        say "last log lines of $container:"; e logs "$container" 2>&1 | tail -30 >&2 || true
      done
    fi
    e rm -f "$UI" "$WORKER" >/dev/null 2>&1 || true
    e volume rm -f "$VOLUME" "$RESTORED" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
  if [ "$status" = 0 ]; then report true; elif [ "$status" != 77 ]; then report false; fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- engine and base image

pick_engine() {
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    ENGINE=docker
  elif command -v podman >/dev/null && podman info >/dev/null 2>&1; then
    ENGINE=podman
  else
    skip "neither a docker daemon nor podman answers"
  fi
}

# The image is about 7 GB (CUDA's libraries) and building it needs as much again.
ensure_disk() {
  local root free_gb
  if [ "$ENGINE" = podman ]; then root="$(podman info --format '{{.Store.GraphRoot}}')"
  else root="$(docker info --format '{{.DockerRootDir}}')"; fi
  if [ "$ENGINE" = podman ] && [ "$(podman info --format '{{.Store.GraphDriverName}}')" = vfs ]; then
    skip "podman stores images with vfs here, a full copy of the 7 GB image per layer"
  fi
  free_gb="$(df -P -BG "$root" 2>/dev/null | awk 'NR == 2 { print $4 + 0 }')"
  # (a daemon on another machine: its disk cannot be seen from here, and the build will tell)
  [ -z "$free_gb" ] || [ "$free_gb" -ge "$MIN_FREE_GB" ] || skip "only $free_gb GB free for $ENGINE's images (needs $MIN_FREE_GB)"
}

image_exists() { e image inspect "$1" >/dev/null 2>&1; }

# No registry reachable (an offline machine): Debian's own packages make a base image with the
# same Python 3.11 and layout the Dockerfile relies on (python and pip on PATH, pip allowed to
# install system-wide), imported under the base image's name so the Dockerfile builds unchanged.
make_standin_base() {
  [ "$ENGINE" = podman ] && [ "$(id -u)" = 0 ] && command -v debootstrap >/dev/null \
    || skip "$BASE cannot be pulled, and a stand-in needs podman, root and debootstrap"
  local rootfs="$WORK/rootfs"
  say "$BASE cannot be pulled; making a stand-in from Debian bookworm with debootstrap"
  nice -n 10 debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates,passwd \
    bookworm "$rootfs" >"$WORK/debootstrap.log" 2>&1 || skip "debootstrap failed: $(tail -1 "$WORK/debootstrap.log")"
  ln -sf /usr/bin/python3 "$rootfs/usr/local/bin/python"
  ln -sf /usr/bin/pip3 "$rootfs/usr/local/bin/pip"
  rm -f "$rootfs"/usr/lib/python3.*/EXTERNALLY-MANAGED
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
  tar -C "$rootfs" -c . | podman import - "$BASE" >/dev/null
  rm -rf "$rootfs"
}

ensure_base() {
  image_exists "$BASE" && return
  timeout 120 "$ENGINE" pull -q "$BASE" >/dev/null 2>&1 || make_standin_base
}

# Podman's defaults fail on some hosts (crun with cgroups v1, rlimits a container may not raise):
# when a trivial container cannot run, retry with runc, cgroupfs and no default ulimits.
ensure_runnable() {
  e run --rm "$BASE" true >/dev/null 2>&1 && return
  if [ "$ENGINE" = podman ] && [ -z "${CONTAINERS_CONF:-}" ] && command -v runc >/dev/null; then
    printf '[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = "cgroupfs"\nruntime = "runc"\n' \
      >"$WORK/containers.conf"
    export CONTAINERS_CONF="$WORK/containers.conf"
    e run --rm "$BASE" true >/dev/null 2>&1 && { say "podman runs containers with runc and cgroupfs"; return; }
  fi
  skip "$ENGINE cannot run a container: $(e run --rm "$BASE" true 2>&1 | tail -1)"
}

# ---------------------------------------------------------------- build

# Podman builds with the host's network and, read-only, the host's CA certificates, pip's
# configuration files and the local folders they name (find-links, file:// indexes, constraints),
# so `pip install` inside the build reaches the packages exactly as the host does. Each mount only
# when the path exists: on a box with plain internet none is needed.
pip_mounts() {
  local python seen="" path target mounted
  python="$(command -v python3 || true)"
  [ -n "$python" ] && "$python" -m pip --version >/dev/null 2>&1 || return 0
  {
    echo /etc/ssl/certs
    "$python" -m pip config debug 2>/dev/null | sed -n 's/^ *\(\/[^,]*\), exists: True$/\1/p'
    "$python" -m pip config list 2>/dev/null | sed -n "s/^[^=]*='\(.*\)'$/\1/p" | tr ' ' '\n' \
      | sed -n 's|^file://||; s|/simple/\?$||; /^\//p'
  } | while read -r path; do
    [ -e "$path" ] || continue
    for mounted in $seen; do
      case "$path" in "$mounted" | "$mounted"/*) continue 2 ;; esac
    done
    seen="$seen $path"
    target="$path"
    # the build runs pip as root: a user's own configuration goes where root's pip reads it
    case "$path" in "$HOME"/*) target="/root/${path#"$HOME"/}" ;; esac
    printf -- '-v\n%s:%s:ro\n' "$path" "$target"
  done
}

build() {
  local started mounts=() args=()
  if [ "$ENGINE" = podman ]; then
    mapfile -t mounts < <(pip_mounts)
    args=(--format docker --network host "${mounts[@]}")   # docker format keeps the HEALTHCHECK
  fi
  started="$(now)"
  say "building $IMAGE with $ENGINE ${args[*]}"
  nice -n 10 "$ENGINE" build "${args[@]}" -t "$IMAGE" . >"$WORK/build.log" 2>&1 \
    || { tail -20 "$WORK/build.log" >&2; fail "the image did not build"; }
  BUILD_S="$(since "$started")"
  IMAGE_MB="$(e image inspect "$IMAGE" --format '{{.Size}}' | awk '{ printf "%.0f", $1 / 1e6 }')"
}

# ---------------------------------------------------------------- run as docker-compose.yml does

start_services() {
  local started
  STARTED=1
  e volume create "$VOLUME" >/dev/null
  started="$(now)"
  # (podman without systemd complains that it cannot time the health checks: they run below)
  # the ui's environment as docker-compose.yml sets it (the token, when the caller has one, as compose passes it)
  e run -d --name "$UI" -p 127.0.0.1::8501 -e EOS_AUTOSTART_WORKER=0 -e EOS_ACCESS_TOKEN=${EOS_ACCESS_TOKEN:-} \
    -e EOS_PRIVATE=${EOS_PRIVATE:-0} -v "$VOLUME:/cache" "$IMAGE" \
    >/dev/null 2>"$WORK/run.err" || { cat "$WORK/run.err" >&2; fail "the ui container did not start"; }
  e run -d --name "$WORKER" --no-healthcheck -v "$VOLUME:/cache" "$IMAGE" eos worker \
    >/dev/null 2>"$WORK/run.err" || { cat "$WORK/run.err" >&2; fail "the worker container did not start"; }
  wait_healthy "$started"
}

healthy() {
  if [ "$ENGINE" = podman ]; then
    podman healthcheck run "$UI" >/dev/null 2>&1
  else
    [ "$(docker inspect --format '{{.State.Health.Status}}' "$UI")" = healthy ]
  fi
}

wait_healthy() {
  until healthy; do
    [ "$(e inspect --format '{{.State.Running}}' "$UI")" = true ] || fail "the ui container stopped"
    [ "$(since "$1" | cut -d. -f1)" -lt "$HEALTH_TIMEOUT_S" ] || fail "the ui was not healthy within ${HEALTH_TIMEOUT_S} s"
    sleep 1
  done
  HEALTHY_S="$(since "$1")"
}

job_state() { e exec "$UI" eos status "$1" | awk '{ print $2 }'; }

run_teach_selective() {
  local started job state
  started="$(now)"
  job="$(e exec "$UI" eos submit --preset teach-selective "${SUBMIT_ARGS[@]}" \
         | sed -n 's/.*"id": "\([0-9a-f]*\)".*/\1/p')"
  [ -n "$job" ] || fail "the ui container's CLI did not queue teach-selective"
  say "queued teach-selective as job $job"
  while state="$(job_state "$job")"; [ "$state" != done ]; do
    case "$state" in failed|cancelled) fail "job $job ended $state" ;; esac
    [ "$(e inspect --format '{{.State.Running}}' "$WORKER")" = true ] || fail "the worker container stopped"
    [ "$(since "$started" | cut -d. -f1)" -lt "$JOB_TIMEOUT_S" ] || fail "job $job not done within ${JOB_TIMEOUT_S} s"
    sleep 2
  done
  JOB_S="$(since "$started")"
  JOB="$job"
}

# ---------------------------------------------------------------- checks

# The Runs page lists the finished job and, for a stored result, offers its tables.
check_runs_page() {
  local port python=.venv/bin/python
  port="$(e port "$UI" 8501 | head -1 | sed 's/.*://')"
  if [ -x /usr/bin/chromium ] && [ -x "$python" ] && "$python" -c "import playwright" 2>/dev/null; then
    timeout 180 "$python" - "http://127.0.0.1:$port/runs" "$JOB" <<'EOF' || fail "the Runs page does not show job $JOB"
import sys
from playwright.sync_api import sync_playwright

url, job = sys.argv[1:]
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
    page = browser.new_page()
    page.goto(url)
    page.get_by_text("trace table").first.wait_for(timeout=120_000)   # shown for a stored result
    chosen = page.get_by_role("combobox", name="Run").input_value()
    assert chosen.startswith(f"{job[:8]} · teach-selective"), f"the page shows {chosen!r}"   # short id · run name
    assert page.locator("[data-testid='stException']").count() == 0, "the page shows an exception"
    browser.close()
EOF
    UI_CHECK='"runs page"'
  else
    say "no Chromium with Playwright on this host: checking through the ui container's CLI instead"
    [ "$(job_state "$JOB")" = done ] || fail "the ui container does not see job $JOB done"
    UI_CHECK='"ui cli"'
  fi
}

check_users_and_volume() {
  local container owner
  for container in "$UI" "$WORKER"; do
    [ "$(e exec "$container" id -un)" = eos ] || fail "$container does not run as the image's user eos"
  done
  owner="$(e exec "$UI" stat -c '%U %a' /cache)"
  [ "$owner" = "eos 700" ] || fail "the cache volume is '$owner', not 'eos 700'"
  [ -z "$(e exec "$UI" find /cache ! -user eos)" ] || fail "the cache volume holds files eos does not own"
}

# The image runs the project's wheel from its environment, not a copy of the source tree.
check_installed_package() {
  local where
  where="$(e exec "$UI" python -c 'import eos_core, dashboard; print(eos_core.__file__, dashboard.__file__)')"
  case "$where" in
    /app/.venv/lib/*/site-packages/eos_core/*" /app/.venv/lib/"*/site-packages/dashboard/*) ;;
    *) fail "the image imports eos_core and dashboard from '$where', not from its installed wheel" ;;
  esac
  [ -z "$(e exec "$UI" ls -A /app | grep -vx -e .venv -e requirements.txt -e scripts)" ] \
    || fail "the image's /app holds more than .venv, requirements.txt and scripts: $(e exec "$UI" ls -A /app | tr '\n' ' ')"
}

check_worker_log() {
  e logs "$WORKER" 2>&1 | grep -q "starts on device" || fail "the worker did not log its device"
}

# docs/deployment.md: the backup and restore commands, with this volume and image; the restored
# volume must still show the finished job.
check_backup_and_restore() {
  e run --rm -v "$VOLUME:/cache:ro" "$IMAGE" tar czf - -C /cache . >"$WORK/backup.tgz" \
    || fail "the backup command failed"
  e run --rm -i -v "$RESTORED:/cache" "$IMAGE" tar xzf - -C /cache <"$WORK/backup.tgz" \
    || fail "the restore command failed"
  [ "$(e run --rm -v "$RESTORED:/cache" "$IMAGE" eos status "$JOB" | awk '{ print $2 }')" = done ] \
    || fail "the restored cache does not show job $JOB done"
}

# docs/deployment.md: the project's scripts run unchanged inside the image, installing nothing.
check_setup_script() {
  e exec "$UI" bash scripts/setup.sh || fail "scripts/setup.sh fails inside the image"
}

SUBMIT_ARGS=("$@")
pick_engine
ensure_disk
ensure_base
ensure_runnable
build
start_services
run_teach_selective
check_runs_page
check_users_and_volume
check_installed_package
check_worker_log
check_backup_and_restore
check_setup_script
say "all checks passed"
