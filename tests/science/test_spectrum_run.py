"""`spectrum_of` on a stored run (θ replayed to the step) and the `spectrum` verb: it writes
only after computing, and refuses bad input with one line and nothing written."""

import re
import shutil

import pytest
import torch
from tiny import TINY

from eos_core.analysis.spectrum import FILE, read_folder
from eos_core.cli import main
from eos_core.runs.store import Store
from eos_core.science.fork import state_at
from eos_core.science.spectrum import spectrum_of

pytestmark = pytest.mark.training


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from eos_core.science.experiment import run_experiment

    result = run_experiment(TINY)
    return result, result.save(tmp_path_factory.mktemp("run") / "tiny")


def test_the_exit_branch_replayed_to_t_star_is_the_baseline_there_and_then_moves_on(run):
    result, _ = run
    t_star = result.meta["t_star"]
    _, _, base = state_at(result, t_star, "baseline")
    _, _, exit_ = state_at(result, t_star, "exit")
    assert torch.equal(base.theta, exit_.theta)  # the fork point: bit for bit
    _, _, later = state_at(result, t_star + TINY.log_every, "exit")
    assert later.t_eff == pytest.approx(base.t_eff + TINY.log_every * TINY.c * TINY.lr)


@pytest.mark.parametrize("branch", ["baseline", "exit"])
def test_the_top_node_is_the_logged_lambda1(run, branch):
    """The logged λ1 stops at a Ritz residual of 3e-3 (λ1 within ~1e-4 relative, curvature.py);
    the float32 network's HVPs add ~1e-6. 2e-3 relative covers both with room."""
    result, _ = run
    trace = result.trace[result.trace.branch == branch]
    step = int(trace.step.iloc[len(trace) // 2])
    s = spectrum_of(result, step, branch, probes=2, steps=20, seed=0)
    assert s.top_node == pytest.approx(s.lambda1, rel=2e-3)
    assert s.threshold == pytest.approx(2 / (TINY.lr * (TINY.c if branch == "exit" else 1)))
    assert s.hvps <= 2 * 20 and s.probes == 2
    for weights in s.weights:
        assert sum(weights) == pytest.approx(1.0, abs=1e-12)


def test_the_verb_writes_the_folder_and_the_store_that_holds_the_run(run, tmp_path, monkeypatch, capsys):
    result, folder = run
    mine = shutil.copytree(folder, tmp_path / "tiny")
    monkeypatch.setenv("EOS_CACHE_DIR", str(tmp_path / "cache"))
    store = Store()
    store.put_result(result)
    store.close()
    step = int(result.trace.step.iloc[2])
    assert main(["spectrum", str(mine), "--step", str(step), "--probes", "2", "--steps", "10", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "top node" in out and FILE in out and "the store" in out
    assert [s.step for s in read_folder(mine)] == [step]
    store = Store()
    assert [s.step for s in store.spectra(result.meta["config_hash"])] == [step]
    store.close()
    by_hash = ["spectrum", result.meta["config_hash"], "--step", "0", "--probes", "1", "--steps", "4"]
    assert main(by_hash) == 0  # a stored run by its hash: into the store only
    assert [s.step for s in read_folder(mine)] == [step]


def test_bad_input_is_one_line_and_writes_nothing(run, tmp_path, monkeypatch, capsys):
    result, folder = run
    monkeypatch.setenv("EOS_CACHE_DIR", str(tmp_path / "cache"))
    mine = shutil.copytree(folder, tmp_path / "tiny")
    last = int(result.trace.step.max())
    cases = [
        ([str(mine), "--step", str(last + TINY.log_every)], f"is not a logged baseline step: .*0–{last} every"),
        ([str(mine), "--step", "3"], "is not a logged baseline step"),
        ([str(mine), "--step", "-5", "--branch", "exit"], "is not a logged exit step"),
        ([str(tmp_path / "nowhere"), "--step", "0"], "neither a result folder nor a run in the store"),
        ([str(mine), "--step", "0", "--probes", "0"], "--probes must be at least 1"),
    ]
    for args, message in cases:
        assert main(["spectrum", *args]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and re.search(message, err), err
    (mine / "trace.parquet").write_bytes(b"not parquet")
    assert main(["spectrum", str(mine), "--step", "0"]) == 2
    assert "cannot be read: result is corrupt" in capsys.readouterr().err
    (mine / "meta.json").unlink()
    assert main(["spectrum", str(mine), "--step", "0"]) == 2
    assert "missing meta.json" in capsys.readouterr().err
    assert not (mine / FILE).exists() and not (tmp_path / "cache").exists()
