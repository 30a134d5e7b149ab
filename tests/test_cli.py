"""The command line, as a script user runs it."""

import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from harness import ROOT
from harness import eos as cli

from eos_core.analysis.results import FILES, OPTIONAL_FILES, VALLEY_FILES, Result

pytestmark = pytest.mark.process  # every test runs `python -m eos_core`


@pytest.mark.training
def test_run_writes_a_result_and_prints_a_summary(tmp_path):
    out = tmp_path / "run"
    done = cli(
        "run",
        "--preset",
        "teach-digits",
        "--set",
        "steps=48",
        "--set",
        "log_every=16",
        "--set",
        "example_every=16",
        "--set",
        "onset_fraction=0.1",
        "--quiet",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert "t*  = " in done.stdout and "Δℓ[" in done.stdout and str(out) in done.stdout
    # teach-digits slices the valley
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES + OPTIONAL_FILES + VALLEY_FILES)
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
    done = cli(
        "bench",
        "--preset",
        "teach-digits",
        "--set",
        "steps=64",
        "--set",
        "log_every=16",
        "--set",
        "example_every=16",
        "--vmap-sample",
        "32",
        "--no-full-run",
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    for key in (
        "steps_per_s",
        "diagnostics_overhead",
        "per_example_cost_grad_equiv",
        "per_example_speedup_vs_vmap",
        "slq_checkpoint_s",
        "slq_cost_grad_equiv",
        "slq_cost_logged_steps",
        "peak_rss_mb",
        "valley_baseline_overhead",  # teach-digits slices the valley
        "valley_checkpoint_s",
    ):
        assert figures[key] > 0
    assert figures["valley_baseline_checkpoints"] >= 1
    assert figures["valley_checkpoint_grad_equiv"] > 1  # 166 forward passes
    assert figures["per_example_speedup_vs_vmap"] > 1
    assert figures["slq_cost_grad_equiv"] > figures["slq_cost_logged_steps"]  # a logged step costs > 1 gradient


def test_help_lists_every_verb_with_its_line():
    from eos_core import cli as package

    text = cli("--help").stdout
    verbs = [add.__name__.removeprefix("add_") for add in package.VERBS]
    assert len(verbs) == 17
    for verb in verbs:
        assert f"\n    {verb} " in text, verb
        assert f"\n  {verb} " in package.__doc__, verb  # the module's docstring names every verb too


def test_unknown_options_are_refused_except_where_passed_on():
    done = cli("run", "--bogus")
    assert (
        done.returncode == 2
        and done.stderr.strip() == "error: unrecognized arguments: --bogus (see `python -m eos_core --help`)"
    )


def test_dashboard_help():
    done = cli("dashboard", "--help")
    assert done.returncode == 0 and "streamlit run" in done.stdout and "--server.port" in done.stdout


def test_dashboard_execs_streamlit_on_the_installed_app_with_the_package_settings(tmp_path):
    """`eos dashboard` from any folder: `python -m streamlit run <dashboard>/app.py`, the settings of
    dashboard/streamlit.toml as flags, then the user's arguments (which win, coming last); neither
    torch nor Streamlit nor the dashboard package is imported by the CLI process."""
    import pathlib
    import tomllib

    script = (
        "import json, os, sys\n"
        "os.execv = lambda path, argv: print(json.dumps([path, argv]))\n"
        "from eos_core.cli import main\n"
        "main(['dashboard', '--server.port', '8502', '--theme.base=dark'])\n"
        "print(json.dumps([m for m in ('torch', 'streamlit', 'dashboard') if m in sys.modules]))\n"
    )
    root = pathlib.Path(__file__).resolve().parents[1]
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    (path, argv), imported = map(json.loads, done.stdout.splitlines())
    assert path == sys.executable == argv[0] and imported == []
    assert argv[1:4] == ["-m", "streamlit", "run"] and argv[4] == str(root / "dashboard" / "app.py")
    settings = tomllib.loads((root / "dashboard" / "streamlit.toml").read_text())
    flags = argv[5:-3]
    assert len(flags) == sum(len(options) for options in settings.values())
    assert "--client.showErrorDetails=none" in flags and "--server.headless=true" in flags
    assert "--server.fileWatcherType=none" in flags and "--browser.gatherUsageStats=false" in flags
    assert "--server.address=localhost" in flags  # reachable from this machine only, unless passed on
    assert argv[-3:] == ["--server.port", "8502", "--theme.base=dark"]


def test_output_cut_short_by_its_reader_ends_quietly():
    """`eos presets | head -1`: the reader closes the pipe early; no traceback, exit code 0."""
    process = subprocess.Popen(
        [sys.executable, "-m", "eos_core", "presets"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT
    )
    process.stdout.read(10)
    process.stdout.close()
    assert process.wait(timeout=60) == 0
    assert process.stderr.read() == b""


@pytest.mark.training
def test_fork_writes_a_result_with_its_lineage_and_refuses_bad_forks_writing_nothing(tmp_path, tiny_run):
    from tiny import TINY

    parent = tiny_run(TINY)
    parent.save(tmp_path / "parent")
    t_star = parent.meta["t_star"]
    refusals = {
        ("--at", "3"): "step 3 is not a logged baseline step",
        ("--at", str(t_star), "--set", "width=8"): "a fork cannot change width",
        ("--at", str(t_star), "--set", "c=2"): "c=2.0 is invalid",
    }
    for args, message in refusals.items():
        done = cli("fork", str(tmp_path / "parent"), *args, "--out", str(tmp_path / "bad"))
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
    done = cli("fork", str(tmp_path / "missing"), "--at", "0", "--out", str(tmp_path / "bad"))
    assert done.returncode == 2 and "cannot be read" in done.stderr
    assert not (tmp_path / "bad").exists()
    done = cli(
        "fork",
        str(tmp_path / "parent"),
        "--at",
        str(t_star),
        "--set",
        "c=0.25",
        "--quiet",
        "--out",
        str(tmp_path / "child"),
    )
    assert done.returncode == 0, done.stderr
    child = Result.load(tmp_path / "child")
    assert child.meta["fork"]["parent"] == parent.meta["config_hash"] and child.meta["fork"]["step"] == t_star
    assert child.meta["config"]["c"] == 0.25


def test_run_summary_names_each_reference_flow_and_how_it_ended(capsys):
    from eos_core.analysis.results import summary
    from eos_core.cli.running import print_summary
    from tests.synthetic_result import synthetic_result

    result = synthetic_result()
    message = "the central flow stopped at step 70: λ1 ran away to 1.60·2/η; the rows up to there are kept"
    result.meta.update(
        flows={"central_flow": {"status": "diverged", "message": message, "wall_time_s": 2.5, "rows": 3}},
        wall_time_s=1.0,
    )
    print_summary(summary(result), result.meta, "out")
    assert f"central_flow: diverged (2.5 s)  {message}" in capsys.readouterr().out


@pytest.mark.training
def test_valley_lists_checkpoints_prints_a_slice_and_refuses_a_step_without_one(tmp_path, tiny_run):
    from tiny import TINY

    from eos_core.analysis.valley import valley_at, valley_steps

    result = tiny_run(TINY.replace(valley_every=10))
    folder = str(result.save(tmp_path / "valley"))
    steps = valley_steps(result, "exit")
    listed = cli("valley", folder, "--branch", "exit")
    assert listed.returncode == 0 and listed.stdout.strip() == f"exit valley checkpoints: {', '.join(map(str, steps))}"
    printed = cli("valley", folder, "--branch", "exit", "--step", str(steps[-1]), "--format", "csv")
    assert printed.returncode == 0, printed.stderr
    table = pd.read_csv(io.StringIO(printed.stdout))
    stored = valley_at(result, "exit", steps[-1]).slice
    np.testing.assert_allclose(table.loss, stored.loss, rtol=1e-12)
    np.testing.assert_allclose(table.offset_along_v1, stored.s1, rtol=1e-12)
    readable = cli("valley", folder, "--step", "20")
    assert readable.returncode == 0 and "curvature along v1" in readable.stdout and "θ(t−1) lands at" in readable.stdout
    refused = cli("valley", folder, "--step", "21")
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.strip() == (
        "error: no valley slice at step 21 on the baseline branch; steps with one: "
        + ", ".join(map(str, valley_steps(result, "baseline")))
    )
    plain = cli("valley", str(tiny_run(TINY).save(tmp_path / "plain")))
    assert plain.returncode == 2 and "valley_every" in plain.stderr and len(plain.stderr.splitlines()) == 1
