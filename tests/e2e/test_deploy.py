"""Deployment files: Dockerfile, docker-compose.yml, .dockerignore, requirements, .streamlit/config.toml,
scripts/docker_smoke.sh and the deployment guide (docs/deployment.md).

The static tests parse the files and need no container engine; the last test builds and runs the
image with scripts/docker_smoke.sh where an engine answers, and skips (with the reason) otherwise.
"""

from __future__ import annotations

import fnmatch
import json
import pathlib
import re
import shlex
import shutil
import subprocess
import tomllib

import pytest
import yaml  # requirements-dev.txt
from harness import ROOT

PORT = "8501"


# ---------------------------------------------------------------- Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuation lines joined."""
    instructions, pending = [], ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comments inside a continued instruction are dropped by Docker too
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = (pending + stripped).strip()
        pending = ""
        if full:
            keyword, _, rest = full.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    assert not pending, "Dockerfile ends inside a continued line"
    return instructions


def args_of(name: str) -> list[str]:
    return [rest for keyword, rest in dockerfile_instructions() if keyword == name]


def exec_form(rest: str) -> list[str]:
    """A CMD/HEALTHCHECK argument list: JSON exec form, or a shell-form string split like a shell."""
    rest = rest.strip()
    if rest.startswith("["):
        parsed = json.loads(rest)
        assert isinstance(parsed, list) and all(isinstance(part, str) for part in parsed)
        return parsed
    return shlex.split(rest)


def test_dockerfile_base_image():
    froms = args_of("FROM")
    # every stage: scripts/docker_smoke.sh makes a stand-in of this one image where none can be pulled
    assert froms and all(rest.split()[0] == "python:3.11-slim" for rest in froms)


def stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions, one list per build stage (each starts with its FROM)."""
    found = []
    for keyword, rest in dockerfile_instructions():
        if keyword == "FROM":
            found.append([])
        found[-1].append((keyword, rest))
    return found


def test_dockerfile_builds_the_wheel_from_what_pyproject_needs():
    build, *_, _runtime = stages()
    assert len(stages()) == 2 and build[0][1].split()[-1] == "build"
    copied = {
        path
        for keyword, rest in build
        if keyword == "COPY"
        for path in [a for a in rest.split() if not a.startswith("--")][:-1]
    }
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needed = {
        "pyproject.toml",
        pyproject["project"]["readme"],
        *pyproject["tool"]["setuptools"]["dynamic"]["dependencies"]["file"],
        *(pattern.rstrip("*") for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]),
    }
    assert needed <= copied
    wheel = [shlex.split(rest) for keyword, rest in build if keyword == "RUN" and "pip wheel" in rest]
    assert len(wheel) == 1 and "--no-deps" in wheel[0]


def test_dockerfile_runtime_has_the_installed_package_and_no_source_tree():
    runtime = stages()[-1]
    env = " ".join(rest for keyword, rest in runtime if keyword == "ENV")
    assert "PYTHONPATH" not in env  # what runs is the installed wheel, not a folder on the path
    sources = [
        [a for a in rest.split() if not a.startswith("--")][:-1]
        for keyword, rest in runtime
        if keyword == "COPY" and not rest.startswith("--from=")
    ]
    assert sorted(path for paths in sources for path in paths) == ["requirements.txt", "scripts"]
    assert any(keyword == "COPY" and rest.startswith("--from=build ") for keyword, rest in runtime)


def test_dockerfile_runs_as_non_root_user_set_before_cmd():
    instructions = dockerfile_instructions()
    keywords = [keyword for keyword, _ in instructions]
    assert "CMD" in keywords
    cmd_at = len(keywords) - 1 - keywords[::-1].index("CMD")
    users = [rest for keyword, rest in instructions[:cmd_at] if keyword == "USER"]
    assert users, "no USER before CMD: the container would run as root"
    user = users[-1].split(":")[0].strip()
    assert user and user not in {"root", "0"}
    # nothing after CMD switches back to root either
    later = [rest.split(":")[0].strip() for keyword, rest in instructions[cmd_at:] if keyword == "USER"]
    assert all(name not in {"root", "0"} for name in later)


def test_dockerfile_user_owns_app_and_cache():
    text = (ROOT / "Dockerfile").read_text()
    user = args_of("USER")[-1].split(":")[0].strip()
    assert re.search(rf"chown\s+(-R\s+)?{re.escape(user)}(:\S+)?\s+[^\n]*/app", text)
    assert re.search(rf"chown\s+(-R\s+)?{re.escape(user)}(:\S+)?\s+[^\n]*/cache", text)
    # the project files copied in belong to that user as well
    assert any(
        rest.startswith(f"--chown={user}")
        for rest in args_of("COPY")
        if rest.split()[-1] in {".", "/app"} or rest.split()[-1].startswith("/app")
    )


def test_dockerfile_exposes_streamlit_port_and_declares_cache_volume():
    exposed = {port.split("/")[0] for rest in args_of("EXPOSE") for port in rest.split()}
    assert PORT in exposed
    volumes = set()
    for rest in args_of("VOLUME"):
        volumes.update(json.loads(rest) if rest.startswith("[") else rest.split())
    assert "/cache" in volumes


def test_dockerfile_environment_points_at_the_cache_volume():
    env = {}
    for rest in args_of("ENV"):
        for token in shlex.split(rest):
            key, sep, value = token.partition("=")
            if sep:
                env[key] = value
    assert env.get("EOS_CACHE_DIR") == "/cache"
    assert env.get("EOS_DATA_DIR", "").startswith("/cache/")
    assert env.get("PYTHONUNBUFFERED") == "1"


def test_dockerfile_healthcheck_queries_streamlit_health_with_urllib():
    checks = args_of("HEALTHCHECK")
    assert len(checks) == 1
    _options, cmd = checks[0].split("CMD", 1)
    command = exec_form(cmd)
    joined = " ".join(command)
    assert command[0] in {"python", "python3"}
    assert "urllib" in joined
    assert f"http://localhost:{PORT}/_stcore/health" in joined
    assert "curl" not in joined and "wget" not in joined  # not in python:3.11-slim


@pytest.mark.parametrize("path", ["README.md", "scripts/setup.sh", "scripts/bench_gpu.sh"])
def test_dockerignore_keeps_what_the_wheel_and_the_image_scripts_need(path):
    assert not ignored(path)  # the wheel's build reads README.md (its description); scripts/ is copied in


def test_dockerfile_cmd_runs_the_dashboard_with_file_watcher_off():
    cmds = args_of("CMD")
    command = exec_form(cmds[-1])
    assert command[:2] == ["eos", "dashboard"]  # the installed console script; flags go to streamlit
    flags = set(command[2:])
    assert f"--server.port={PORT}" in flags
    assert "--server.address=0.0.0.0" in flags
    assert "--server.fileWatcherType=none" in flags
    assert "--server.headless=true" in flags


def install_commands() -> list[list[str]]:
    """Every `pip install` / `python -m pip install` command in RUN instructions, as token lists."""
    found = []
    for rest in args_of("RUN"):
        for part in re.split(r"&&|\|\||;", rest):
            tokens = shlex.split(part)
            for i in range(len(tokens) - 1):
                if re.fullmatch(r"pip3?(\.\d+)?", pathlib.PurePath(tokens[i]).name) and tokens[i + 1] == "install":
                    found.append(tokens[i + 2 :])
                    break
    return found


def test_dockerfile_installs_exactly_requirements_txt_then_the_wheel():
    installs = install_commands()
    assert installs == [
        ["--no-cache-dir", "-r", "requirements.txt"],
        ["--no-cache-dir", "--no-deps", "/tmp/wheels/eos_explorer-*.whl"],
    ]
    text = (ROOT / "Dockerfile").read_text()
    assert not re.search(r"\b(uv|conda|mamba|poetry|pipx)\b", text)
    # requirements.txt is copied on its own before the install (layer caching), the wheel after it
    steps = [(keyword, rest) for keyword, rest in stages()[-1] if keyword in {"COPY", "RUN"}]
    copy_reqs = next(i for i, (k, rest) in enumerate(steps) if k == "COPY" and rest.split()[0] == "requirements.txt")
    pip = next(i for i, (k, rest) in enumerate(steps) if k == "RUN" and "-r requirements.txt" in rest)
    copy_wheel = next(i for i, (k, rest) in enumerate(steps) if k == "COPY" and rest.startswith("--from=build "))
    pip_wheel = next(i for i, (k, rest) in enumerate(steps) if k == "RUN" and ".whl" in rest)
    assert copy_reqs < pip < copy_wheel < pip_wheel


def requirement_lines(name: str) -> list[str]:
    lines = [line.split("#")[0].strip() for line in (ROOT / name).read_text().splitlines()]
    return [line for line in lines if line]


def package(line: str) -> str:
    return re.split(r"[\[=<>~!]", line)[0].strip().lower()


def test_requirements_pin_cuda_torch():
    lines = requirement_lines("requirements.txt")
    assert "torch==2.14.1" in lines
    assert "streamlit==1.67.0" in lines
    assert all("==" in line for line in lines), "every runtime package is pinned"


def test_test_tools_stay_out_of_the_runtime_requirements():
    runtime = {package(line) for line in requirement_lines("requirements.txt")}
    dev = requirement_lines("requirements-dev.txt")
    assert dev[0] == "-r requirements.txt"
    dev_packages = {package(line) for line in dev[1:]}
    assert {"pytest", "playwright", "pyyaml"} <= dev_packages
    assert not runtime & {"pytest", "playwright"}
    assert not runtime & dev_packages, "a package pinned twice can drift apart"
    test_script = (ROOT / "scripts" / "test.sh").read_text()
    assert "bash scripts/setup.sh requirements-dev.txt" in test_script


def test_dockerfile_makes_the_cache_private_to_its_user():
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"chmod\s+0?700\s+/cache\b", text)


# ---------------------------------------------------------------- docker-compose.yml


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def mounts(service: dict) -> dict[str, str]:
    """target -> source for a service's volumes, short or long syntax."""
    out = {}
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source"), volume["target"]
        out[target] = source
    return out


def test_compose_has_ui_and_worker_from_one_image(compose):
    services = compose["services"]
    assert {"ui", "worker"} <= set(services)
    ui, worker = services["ui"], services["worker"]
    assert ui["image"] == worker["image"] == "eos-explorer"
    assert ui["build"] == worker["build"] == "."
    for service in (ui, worker):
        assert service.get("restart") == "unless-stopped"


def test_compose_ui_publishes_streamlit_and_keeps_default_cmd(compose):
    ui = compose["services"]["ui"]
    assert f"{PORT}:{PORT}" in [str(port) for port in ui["ports"]]
    assert "command" not in ui


def test_compose_worker_runs_the_worker_on_a_gpu(compose):
    worker = compose["services"]["worker"]
    command = worker["command"]
    assert (shlex.split(command) if isinstance(command, str) else command) == ["eos", "worker"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert any(
        device.get("driver") == "nvidia"
        and "gpu" in device.get("capabilities", [])
        and (device.get("count") in {"all", 1} or device.get("device_ids"))
        for device in devices
    )
    assert "ports" not in worker


def test_compose_services_share_one_cache_volume(compose):
    ui, worker = compose["services"]["ui"], compose["services"]["worker"]
    assert mounts(ui).get("/cache") == mounts(worker).get("/cache") == "eos-cache"
    assert "eos-cache" in (compose.get("volumes") or {})


# ---------------------------------------------------------------- .dockerignore


def dockerignore_patterns() -> list[str]:
    patterns = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            assert not line.startswith("!"), "negations are not modelled by this test"
            patterns.append(line.rstrip("/").removeprefix("./").removeprefix("/"))
    return patterns


def ignored(path: str) -> bool:
    """Docker's rule for the patterns used here: a path is excluded if it or a parent folder matches."""
    parts = pathlib.PurePosixPath(path).parts
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for pattern in dockerignore_patterns():
        for candidate in candidates:
            if fnmatch.fnmatchcase(candidate, pattern):
                return True
            if pattern.startswith("**/") and (
                fnmatch.fnmatchcase(candidate, pattern[3:])
                or fnmatch.fnmatchcase(candidate.split("/")[-1], pattern[3:])
            ):
                return True
    return False


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD",
        ".venv/bin/python",
        "cache/cache.db",
        "runs/a/result.json",
        "data/cifar-10/batch",
        "eos_core/__pycache__/cli.cpython-311.pyc",
        ".pytest_cache/v/x",
    ],
)
def test_dockerignore_excludes_local_state(path):
    assert ignored(path)


@pytest.mark.parametrize(
    "path",
    [
        "requirements.txt",
        "dashboard/app.py",
        "dashboard/app_pages/1_Run.py",
        "eos_core/cli/__init__.py",
        "eos_core/__main__.py",
        ".streamlit/config.toml",
        "dashboard/streamlit.toml",
        "pyproject.toml",
    ],
)
def test_dockerignore_keeps_what_the_image_needs(path):
    assert not ignored(path)


# ---------------------------------------------------------------- dashboard/streamlit.toml


@pytest.fixture(scope="module")
def streamlit_config() -> dict:
    """The dashboard's Streamlit settings: package data that `eos dashboard` passes on as flags."""
    with open(ROOT / "dashboard" / "streamlit.toml", "rb") as handle:
        return tomllib.load(handle)


def test_streamlit_config_has_one_source():
    """`streamlit run` from the checkout (the image's CMD) reads .streamlit/config.toml: a link to
    the package's file, so both ways of starting the app use the same settings."""
    link = ROOT / ".streamlit" / "config.toml"
    assert link.is_symlink() and link.resolve() == (ROOT / "dashboard" / "streamlit.toml").resolve()


def test_streamlit_config_server_and_privacy(streamlit_config):
    server = streamlit_config["server"]
    assert server["fileWatcherType"] == "none"
    assert server["enableXsrfProtection"] is True
    assert server["headless"] is True
    assert streamlit_config["browser"]["gatherUsageStats"] is False


def test_streamlit_config_light_theme(streamlit_config):
    theme = streamlit_config["theme"]
    assert theme["base"] == "light"
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", theme["primaryColor"])


def test_streamlit_config_options_are_known_to_streamlit(streamlit_config):
    config = pytest.importorskip("streamlit.config")
    known = set(config.get_config_options())
    keys = [f"{section}.{key}" for section, options in streamlit_config.items() for key in options]
    assert keys and [key for key in keys if key not in known] == []


def test_the_dashboard_container_does_not_start_its_own_worker():
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert str(compose["services"]["ui"]["environment"]["EOS_AUTOSTART_WORKER"]) == "0"


# ---------------------------------------------------------------- compose and Dockerfile agree


def dockerfile_user() -> str:
    return args_of("USER")[-1].split(":")[0].strip()


def test_compose_and_dockerfile_agree_on_cache_port_and_user(compose):
    volumes = {v for rest in args_of("VOLUME") for v in (json.loads(rest) if rest.startswith("[") else rest.split())}
    exposed = {port.split("/")[0] for rest in args_of("EXPOSE") for port in rest.split()}
    for name, service in compose["services"].items():
        assert set(mounts(service)) == volumes == {"/cache"}, name
        # no service overrides the image's user (it owns /cache in the image, hence in the volume)
        assert service.get("user") in (None, dockerfile_user()), name
        # nor moves the cache elsewhere
        assert "EOS_CACHE_DIR" not in (service.get("environment") or {}), name
    container_ports = {str(port).split(":")[-1] for port in compose["services"]["ui"]["ports"]}
    assert container_ports == exposed == {PORT}


def test_the_smoke_script_runs_the_services_as_compose_does(compose):
    script = (ROOT / "scripts" / "docker_smoke.sh").read_text()
    ui, worker = compose["services"]["ui"], compose["services"]["worker"]
    for key, value in ui["environment"].items():
        assert f"-e {key}={value}" in script
    assert " ".join(worker["command"]) in script
    assert script.count(':/cache"') >= 2 and f"::{PORT}" in script
    assert f"= {dockerfile_user()} ]" in script and f"{dockerfile_user()} 700" in script


def test_deployment_guide_commands_are_the_ones_the_smoke_script_checks(compose):
    section = (ROOT / "docs" / "deployment.md").read_text()
    script = (ROOT / "scripts" / "docker_smoke.sh").read_text()
    volume = f"{compose['name']}_{next(iter(compose['volumes']))}"
    for command in ("tar czf - -C /cache .", "tar xzf - -C /cache", "eos worker", "bash scripts/setup.sh"):
        assert command in script, command
    for command in (
        f"-v {volume}:/cache:ro {compose['services']['ui']['image']} tar czf - -C /cache .",
        f"-i -v {volume}:/cache {compose['services']['ui']['image']} tar xzf - -C /cache",
        "docker compose up -d",
        "docker compose logs",
        "scripts/bench_gpu.sh",
        "scripts/docker_smoke.sh",
        f"{compose['services']['ui']['image']} eos worker",
    ):
        assert command in section, command
    assert "starts on device" in section and "starts on device" in script


def test_the_worker_logs_its_device_at_start(tmp_path, capsys):
    from eos_core.runs.worker import worker_main

    assert worker_main(tmp_path, once=True) == 0
    assert "starts on device cpu" in capsys.readouterr().out


# ---------------------------------------------------------------- the image, built and run


def container_engine() -> str | None:
    for engine in ("docker", "podman"):
        if shutil.which(engine) and subprocess.run([engine, "info"], capture_output=True).returncode == 0:
            return engine
    return None


@pytest.mark.slow
@pytest.mark.process
def test_docker_smoke_builds_and_runs_the_deployment():
    if container_engine() is None:
        pytest.skip("no container engine answers here (docker daemon or podman)")
    smoke = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "docker_smoke.sh")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        out, err = smoke.communicate(timeout=3600)  # a guard against a hang, not a speed limit
    except BaseException as stopped:  # the guard, or an interrupted test run
        smoke.terminate()  # its trap removes the containers and volume it started
        out, err = smoke.communicate(timeout=300)
        if not isinstance(stopped, subprocess.TimeoutExpired):
            raise
    print(err[-4000:])
    last = json.loads(out.strip().splitlines()[-1])
    if smoke.returncode == 77:
        pytest.skip(f"the container engine cannot run the image here: {last.get('error')}")
    assert smoke.returncode == 0 and last["ok"] is True, last
    assert last["image_mb"] > 0 and last["healthy_s"] > 0 and last["job_s"] > 0
