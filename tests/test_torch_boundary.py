"""The torch boundary: every torch-free package imports, and does its everyday work, in a fresh
interpreter without loading torch — the dashboard process never pays for it. (The science/
package is the one that imports torch.)"""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TORCH_FREE = ["eos_core.analysis", "eos_core.runs", "eos_core.datasets", "dashboard", "dashboard.content"]
TOP_LEVEL = [
    "eos_core.config",
    "eos_core.presets",
    "eos_core.quantities",
    "eos_core.groups",
    "eos_core.resources",
    "eos_core.cli",
]

# Import every module of a package (the page scripts in dashboard/app_pages run on import, so
# AppTest covers them: tests/dashboard/test_app.py runs every page with torch absent).
IMPORT_ALL = """
import importlib, pkgutil, sys
package = importlib.import_module({name!r})
for info in pkgutil.walk_packages(getattr(package, "__path__", []), package.__name__ + "."):
    if ".app_pages" not in info.name:
        importlib.import_module(info.name)
"""
# What the dashboard does with them on every launch, beyond importing.
WORK = {
    "eos_core.resources": "import eos_core.config as c; eos_core.resources.check_fits(c.RunConfig(device='cpu'))",
    "eos_core.datasets": (
        "from eos_core.datasets import availability, idx; idx.package_folders = lambda p: (); "
        "print([availability(d)[0] for d in ('mnist', 'fashion_mnist', 'cifar10', 'digits', "
        "'synthetic')])"
    ),
}


@pytest.mark.parametrize("name", TORCH_FREE + TOP_LEVEL)
def test_package_never_imports_torch(name, tmp_path):
    code = (
        IMPORT_ALL.format(name=name)
        + f"import {name}\n"
        + WORK.get(name, "")
        + "\nprint(sorted(m for m in sys.modules if m.split('.')[0] == 'torch')[:3])"
    )
    env = {**os.environ, "EOS_DATA_DIR": str(tmp_path)}  # no dataset files: availability must say so
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == "[]", f"{name} loaded torch: {lines[-1]}"
    if name == "eos_core.datasets":
        assert lines[-2] == "[False, False, False, True, True]"
