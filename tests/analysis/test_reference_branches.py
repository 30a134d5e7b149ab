"""A reference flow's branch in a result: Δℓ_k against it, and every consumer of branch names
left as it was (it is never mistaken for the exit branch)."""

import numpy as np
import pandas as pd
import pytest
from synthetic_result import synthetic_result

from dashboard.content import plots
from dashboard.content.series import series
from eos_core.analysis.aggregate import aggregate
from eos_core.analysis.claims import report
from eos_core.analysis.results import Result, branch_deltas, delta_loss, reference_branches, summary
from eos_core.analysis.tradeoff import tradeoff

FLOW = "gradient_flow"
SHIFT = 0.125  # the flow's losses: the exit branch's plus this, so Δℓ_k(flow) = Δℓ_k(exit) + SHIFT


def with_flow(result: Result) -> Result:
    """`result` with a gradient-flow branch on the exit branch's grid whose every loss is the exit
    branch's plus SHIFT, and which stops (as a diverged flow does) two logged steps before the end."""

    def flow_rows(table: pd.DataFrame) -> pd.DataFrame:
        rows = table[table.branch == "exit"].copy()
        rows = rows[rows.step < rows.step.max() - 2 * result.meta["config"]["log_every"] + 1]
        return rows.assign(branch=FLOW, loss=rows.loss + SHIFT, loss_avg2=rows.loss_avg2 + SHIFT)

    trace = pd.concat([result.trace, flow_rows(result.trace).assign(lr=np.nan)], ignore_index=True)
    groups = pd.concat([result.groups, flow_rows(result.groups)], ignore_index=True)
    meta = {**result.meta, "flows": {FLOW: {"status": "diverged", "message": "stopped", "error_estimate": 1e-6}}}
    return Result(meta, trace, groups, result.examples, result.per_example)


@pytest.fixture
def pair():
    plain = synthetic_result()
    return plain, with_flow(synthetic_result())


def test_delta_against_the_flow_is_read_at_equal_time_like_the_exit_branchs(pair):
    plain, flowing = pair
    exit_, flow = delta_loss(flowing), delta_loss(flowing, branch=FLOW)
    both = exit_.merge(flow, on=["step", "group"], suffixes=("_exit", "_flow"))
    assert len(both) == len(flow) > 0
    np.testing.assert_allclose(both.delta_loss_flow - both.delta_loss_exit, SHIFT, rtol=0, atol=1e-12)
    assert reference_branches(flowing) == [FLOW] and reference_branches(plain) == []
    assert set(branch_deltas(flowing).branch) == {"exit", FLOW}
    assert set(branch_deltas(plain).branch) == {"exit"}


def test_a_flow_leaves_the_exit_branchs_analysis_unchanged(pair):
    plain, flowing = pair
    assert summary(plain) == summary(flowing)
    a, b = report([plain]), report([flowing])
    assert [(c.claim, c.verdict, c.evidence) for c in a] == [(c.claim, c.verdict, c.evidence) for c in b]
    assert tradeoff([plain]).window == tradeoff([flowing]).window
    exit_delta = aggregate([plain, plain])["delta"]
    both = aggregate([flowing, flowing])["delta"]
    pd.testing.assert_frame_equal(exit_delta, both[both.branch == "exit"].reset_index(drop=True))
    assert (both.branch == FLOW).any()


def test_figures_draw_the_flow_dotted_and_old_results_as_before(pair):
    plain, flowing = pair
    old = plots.delta_figure(series([plain]))
    assert len(old.data) == 4 and all(t.line.dash == "solid" for t in old.data if t.name)
    new = plots.delta_figure(series([flowing]))
    dotted = [t.name for t in new.data if t.line.dash == "dot"]
    assert len(dotted) == 4 and all(name.endswith("gradient flow − EoS") for name in dotted)
    losses = plots.group_figure(series([flowing]), "loss_avg2")
    assert sum(t.name.endswith("gradient flow") for t in losses.data) == 4
    assert plots.distance_figure(series([plain])).data == ()  # an old result stores no distances
