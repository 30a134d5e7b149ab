"""The command line, as a script user runs it."""
import json

import pytest

from eos_core.analysis.results import FILES, OPTIONAL_FILES, Result
from harness import eos as cli

pytestmark = pytest.mark.process   # every test runs `python -m eos_core`


@pytest.mark.training
def test_run_writes_a_result_and_prints_a_summary(tmp_path):
    out = tmp_path / "run"
    done = cli("run", "--preset", "teach-digits", "--set", "steps=48", "--set", "log_every=16",
               "--set", "example_every=16", "--set", "onset_fraction=0.1", "--quiet", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "t*  = " in done.stdout and "Δℓ[" in done.stdout and str(out) in done.stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES + OPTIONAL_FILES)
    result = Result.load(out)
    assert result.meta["config"]["steps"] == 48 and result.meta["t_star"] is not None


def test_invalid_override_is_a_clear_error():
    done = cli("run", "--set", "c=2", "--quiet")
    assert done.returncode == 2
    assert "c=2.0 is invalid: the exit factor must lie in (0, 1]" in done.stderr
    assert "Traceback" not in done.stderr


def test_missing_cifar10_names_the_folder(tmp_path):
    env = {"EOS_DATA_DIR": str(tmp_path / "nowhere"), "PATH": "/usr/bin:/bin"}
    done = cli("run", "--preset", "paper-mlp-mse", "--quiet", env=env)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert str(tmp_path / "nowhere" / "cifar-10-batches-bin") in done.stderr and "--download" in done.stderr


def test_help_explains_every_option():
    text = cli("run", "--help").stdout
    for option in ("--preset", "--set", "--out", "--quiet"):
        assert option in text
    assert "teach-digits" in cli("presets").stdout


@pytest.mark.training
def test_bench_prints_figures_as_a_last_json_line():
    done = cli("bench", "--preset", "teach-digits", "--set", "steps=64", "--set", "log_every=16",
               "--set", "example_every=16", "--vmap-sample", "32", "--no-full-run")
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    for key in ("steps_per_s", "diagnostics_overhead", "per_example_cost_grad_equiv",
                "per_example_speedup_vs_vmap", "peak_rss_mb"):
        assert figures[key] > 0
    assert figures["per_example_speedup_vs_vmap"] > 1
