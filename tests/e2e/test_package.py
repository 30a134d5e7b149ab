"""The installable package, as a user gets it: `pip wheel` builds a wheel holding the engine and the
dashboard (every module, page and settings file, nothing of tests/ or scripts/), and once it is
installed into a fresh virtual environment the `eos` command works from a folder outside the source
tree — help, presets, a tiny run, the dashboard — running the installed copy rather than this checkout.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import site
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
import zipfile

import pytest

from eos_core.analysis.results import FILES, OPTIONAL_FILES, VALLEY_FILES, Result

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("eos_core", "dashboard")

pytestmark = pytest.mark.slow

# The smallest run that forks and logs both branches: synthetic 3×4×4 inputs (no dataset files),
# 60 steps, the onset fraction low enough that the fork comes early (tests/tiny.py's TINY).
TINY_RUN = [
    "--preset",
    "teach-selective",
    "--set",
    "n_per_class=40",
    "--set",
    "image_size=4",
    "--set",
    "width=32",
    "--set",
    "m=4",
    "--set",
    "k=5",
    "--set",
    "alpha=3",
    "--set",
    "c=0.5",
    "--set",
    "lr=0.05",
    "--set",
    "steps=60",
    "--set",
    "log_every=5",
    "--set",
    "example_every=10",
    "--set",
    "onset_fraction=0.02",
    "--set",
    "init_scale=1.0",
]


def sources(folder: pathlib.Path) -> set[str]:
    """The package files a wheel must hold: every file below the packages, caches left out."""
    return {
        path.relative_to(folder).as_posix()
        for package in PACKAGES
        for path in (folder / package).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def project_copy(dest: pathlib.Path) -> pathlib.Path:
    """What the build reads — pyproject.toml, the files it names and the packages — copied, so the
    build's own folders (build/, *.egg-info) land there and not in the checkout."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dynamic = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["dynamic"]
    named = [project["readme"], *dynamic["dependencies"]["file"]]
    dest.mkdir()
    for name in ["pyproject.toml", *named]:
        shutil.copy2(ROOT / name, dest / name)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, dest / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> pathlib.Path:
    work = tmp_path_factory.mktemp("wheel")
    src = project_copy(work / "src")
    # Offline: no index, and the build backend (setuptools) is the one this interpreter has.
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(work / "dist"),
            str(src),
        ],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr
    (found,) = (work / "dist").glob("eos_explorer-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> pathlib.Path:
    """A fresh environment with only the wheel installed in it.

    Installing the dependencies (torch alone is gigabytes) would take minutes and need the package
    index, so the environment reuses the ones this interpreter already has: --system-site-packages
    shares the base interpreter's, a .pth file this environment's (where the tests run from a
    virtual environment, as scripts/test.sh's .venv), and the wheel goes in with --no-deps. A path
    listed in a .pth file is only appended to sys.path (its own .pth files are not run), so an
    editable install of this checkout there stays inactive, and the wheel's copy comes first.
    """
    folder = tmp_path_factory.mktemp("env") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (pathlib.Path(purelib) / "eos_test_reuse.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    # --ignore-installed: an eos-explorer this interpreter has (an editable install of a checkout) is
    # visible through the .pth file, and pip would call the wheel "already satisfied" and skip it.
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "--ignore-installed",
            "--quiet",
            str(wheel),
        ],
        capture_output=True,
        text=True,
    )
    assert installed.returncode == 0, installed.stderr
    assert (pathlib.Path(purelib) / "eos_core" / "__init__.py").is_file(), installed.stdout + installed.stderr
    return folder


def in_venv(venv: pathlib.Path, cwd: pathlib.Path, *command: str, check: bool = True) -> subprocess.CompletedProcess:
    """A command of the environment's bin/, from `cwd`, without PYTHONPATH, the cache in `cwd`."""
    env = {key: value for key, value in os.environ.items() if key not in {"PYTHONPATH", "PYTHONHOME"}}
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv),
        EOS_CACHE_DIR=str(cwd / "cache"),
        EOS_DATA_DIR=str(cwd / "data"),
        OMP_NUM_THREADS="1",
    )
    done = subprocess.run(
        [str(venv / "bin" / command[0]), *command[1:]], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    if check:
        assert done.returncode == 0, f"{' '.join(command)}: {done.stderr[-3000:]}"
    return done


def test_the_wheel_holds_every_module_and_page_and_nothing_else(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert {name for name in top if not name.endswith(".dist-info")} == set(PACKAGES)
    assert not [name for name in names if name.startswith(("tests/", "scripts/")) or "__pycache__" in name]
    missing = sources(ROOT) - set(names)
    assert not missing, f"not in the wheel: {sorted(missing)}"
    pages = [name for name in names if name.startswith("dashboard/app_pages/") and name.endswith(".py")]
    assert len(pages) == len(list((ROOT / "dashboard" / "app_pages").glob("*.py"))) > 0
    entry_points = next(zipfile.Path(wheel, name).read_text() for name in names if name.endswith("entry_points.txt"))
    assert "eos = eos_core.cli:main" in entry_points


def test_the_installed_package_is_the_one_imported(venv, tmp_path):
    where = json.loads(
        in_venv(
            venv,
            tmp_path,
            "python",
            "-c",
            "import json, eos_core, dashboard; print(json.dumps([eos_core.__file__, dashboard.__file__]))",
        ).stdout
    )
    for module in map(pathlib.Path, where):
        assert module.resolve().is_relative_to(venv.resolve()), module
        assert not module.resolve().is_relative_to(ROOT), module
    installed = pathlib.Path(where[1]).parent
    assert (installed / "app.py").is_file()
    assert sorted(p.name for p in (installed / "app_pages").glob("*.py")) == sorted(
        p.name for p in (ROOT / "dashboard" / "app_pages").glob("*.py")
    )


def test_eos_help_and_presets_from_outside_the_source_tree(venv, tmp_path):
    help_text = in_venv(venv, tmp_path, "eos", "--help").stdout
    for verb in ("run", "worker", "presets", "report"):
        assert verb in help_text
    listing = in_venv(venv, tmp_path, "eos", "presets").stdout
    assert "teach-selective" in listing and "paper-mlp-mse" in listing


def test_eos_run_writes_a_result_from_outside_the_source_tree(venv, tmp_path):
    out = tmp_path / "tiny"
    done = in_venv(venv, tmp_path, "eos", "run", *TINY_RUN, "--quiet", "--out", str(out))
    assert "status: done" in done.stdout and str(out) in done.stdout and "Traceback" not in done.stderr
    # teach-selective slices the valley
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES + OPTIONAL_FILES + VALLEY_FILES)
    result = Result.load(out)
    assert result.meta["config"]["steps"] == 60 and result.meta["t_star"] is not None
    assert set(result.trace["branch"]) == {"baseline", "exit"}


def test_eos_dashboard_serves_from_the_installed_package(venv, tmp_path):
    """`eos dashboard` finds the app inside the installed package and starts it with the package's
    Streamlit settings (usage statistics off, so Streamlit does not announce collecting them)."""
    if "dashboard" not in in_venv(venv, tmp_path, "eos", "--help").stdout:
        pytest.skip("this build's eos has no dashboard verb")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {key: value for key, value in os.environ.items() if key not in {"PYTHONPATH", "PYTHONHOME"}}
    env.update(EOS_CACHE_DIR=str(tmp_path / "cache"), EOS_AUTOSTART_WORKER="0")
    log = tmp_path / "dashboard.log"
    with open(log, "w") as out:
        server = subprocess.Popen(
            [str(venv / "bin" / "eos"), "dashboard", f"--server.port={port}", "--server.address=127.0.0.1"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline, healthy = time.monotonic() + 120, False
        while not healthy and time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as answer:
                    healthy = answer.status == 200
            except OSError:
                time.sleep(0.5)
        assert healthy, log.read_text()[-3000:]
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert "Collecting usage statistics" not in log.read_text()
