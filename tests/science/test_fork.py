"""Fork anywhere: a fork at the parent's own t* with its own settings reproduces its exit branch
exactly; forks elsewhere or with other settings start from the replayed baseline's state there;
bad forks are refused before anything trains."""

import pandas as pd
import pytest
from tiny import TINY

from eos_core.analysis.lineage import fork_step, forked_config
from eos_core.config import FORKABLE, ForkError
from eos_core.science.fork import fork

pytestmark = pytest.mark.training


@pytest.fixture(scope="module")
def parent():
    from eos_core.science.experiment import run_experiment

    return run_experiment(TINY)


def test_a_fork_at_t_star_with_the_parents_settings_reproduces_its_exit_branch_exactly(parent):
    child = fork(parent, parent.meta["t_star"], {})
    for table in ("trace", "groups", "losses"):
        pd.testing.assert_frame_equal(getattr(child, table), getattr(parent, table), check_exact=True)
    for name, array in parent.per_example.items():
        assert (child.per_example[name] == array).all(), name
    assert child.meta["config_hash"] == parent.meta["config_hash"]
    assert child.meta["fork"] == {
        "parent": parent.meta["config_hash"],
        "step": parent.meta["t_star"],
        "t_eff": pytest.approx(parent.meta["t_star"] * TINY.lr),
        "parent_t_star": parent.meta["t_star"],
        "changes": {},
    }


def test_a_later_fork_with_another_c_starts_from_the_baselines_state_there(parent):
    base = parent.trace[parent.trace.branch == "baseline"]
    step = int(base.step.iloc[-3])
    child = fork(parent, step, {"c": 0.25})
    exit_ = child.trace[child.trace.branch == "exit"]
    assert exit_.step.iloc[0] == step and child.meta["t_star"] == step
    at = base[base.step == step].iloc[0]  # the exit's first row is measured on the baseline's weights
    assert exit_.iloc[0].lambda1 == at.lambda1 and exit_.iloc[0].loss == at.loss
    assert exit_.lr.iloc[0] == pytest.approx(0.25 * TINY.lr)
    pd.testing.assert_frame_equal(
        child.trace[child.trace.branch == "baseline"].reset_index(drop=True), base.reset_index(drop=True)
    )
    assert child.meta["config_hash"] != parent.meta["config_hash"]
    assert child.meta["fork"]["changes"] == {"c": 0.25}


def test_fork_at_sharpness_is_the_first_step_with_lambda1_above_that_share_of_the_threshold(parent):
    base = parent.trace[parent.trace.branch == "baseline"]
    threshold = 2 / TINY.lr
    step = fork_step(parent, at_sharpness=0.01)
    assert step == int(base[base.lambda1 >= 0.01 * threshold].step.iloc[0])
    with pytest.raises(ForkError, match="never reaches"):
        fork_step(parent, at_sharpness=100.0)


def test_bad_forks_are_refused_with_what_is_allowed(parent):
    with pytest.raises(ForkError, match=r"not a logged baseline step: .*every 5 steps"):
        fork_step(parent, at=3)
    with pytest.raises(ForkError, match="not a logged baseline step"):
        fork_step(parent, at=10_000)
    with pytest.raises(ForkError, match=r"cannot change dataset, width.*may change " + ", ".join(FORKABLE)):
        forked_config(parent, {"dataset": "digits", "width": 8})


def test_a_fork_to_cross_entropy_trains_and_measures_the_exit_branch_on_it(parent):
    child = fork(parent, parent.meta["t_star"], {"loss": "ce"})
    first = child.trace[child.trace.branch == "exit"].iloc[0]
    at = parent.trace[(parent.trace.branch == "baseline") & (parent.trace.step == parent.meta["t_star"])].iloc[0]
    assert first.loss != at.loss  # the same weights, measured on the other loss
    assert child.meta["config"]["loss"] == "ce" and child.trace.loss.notna().all()


def test_a_fork_with_the_central_flow_adds_it_beside_the_same_branches(parent):
    step = parent.meta["t_star"]
    child = fork(parent, step, {"flows": ("central",)})
    assert child.meta["flows"]["central_flow"]["status"] in ("done", "diverged")
    plain = fork(parent, step, {})
    own = child.trace[child.trace.branch != "central_flow"].dropna(axis=1, how="all")
    pd.testing.assert_frame_equal(own, plain.trace, check_exact=True)
