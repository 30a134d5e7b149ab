"""The teaching preset end to end: the phenomenon a teacher demonstrates, from a cold start."""

import numpy as np
import pytest

from eos_core.analysis.results import FILES, OPTIONAL_FILES, VALLEY_FILES, Result
from eos_core.groups import GROUPS
from eos_core.presets import preset
from eos_core.science.experiment import run_experiment


@pytest.mark.slow
@pytest.mark.training
def test_teach_digits_shows_sharpening_eos_and_the_fork(tmp_path):
    cfg = preset("teach-digits")
    result = Result.load(run_experiment(cfg).save(tmp_path / "run"))
    meta, trace = result.meta, result.trace
    assert meta["status"] == "done", meta["message"]
    t_star = meta["t_star"]
    assert t_star is not None and t_star >= 4 * cfg.log_every  # sharpening is visible first
    base = trace[trace.branch == "baseline"]
    exit_ = trace[trace.branch == "exit"]
    median_after = base[base.step >= t_star].lambda1.median()
    assert abs(median_after / (2 / cfg.lr) - 1) <= 0.15
    # complete and consistent files
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == sorted(FILES + OPTIONAL_FILES + VALLEY_FILES)
    assert list(base.step) == list(range(0, cfg.steps + 1, cfg.log_every))
    assert list(exit_.step) == list(range(t_star, cfg.steps + 1, cfg.log_every))
    assert np.allclose(exit_.t_eff, t_star * cfg.lr + (exit_.step - t_star) * cfg.c * cfg.lr)
    assert set(result.groups.group) == set(GROUPS)
    assert len(result.groups) == len(GROUPS) * len(trace)
    assert result.groups.loss_avg2.notna().all() and trace.loss_avg2.notna().all()
    n = cfg.n
    assert len(result.examples) == n and (result.examples.group != "").sum() == 4 * 2 * cfg.m
    for branch, rows in (("baseline", base), ("exit", exit_)):
        steps = result.per_example[f"{branch}_steps"]
        assert list(steps) == [s for s in rows.step if s % cfg.example_every == 0]
        assert result.per_example[f"{branch}_cos2"].shape == (len(steps), n)
        cos2 = result.per_example[f"{branch}_cos2"]
        assert ((cos2 >= 0) & (cos2 <= 1 + 1e-5)).all()
