"""The reproduction report on synthetic traces with known answers (each claim true once, false
once), and the mechanism of App. F against hand-computed values."""

import numpy as np
import pandas as pd
import pytest

from eos_core.analysis.claims import REFUTED, SUPPORTED, UNTESTED, report
from eos_core.analysis.mechanism import decomposition, group_evidence, oscillation_shares, single_mode_fit
from eos_core.analysis.results import Result
from eos_core.config import RunConfig
from eos_core.groups import GROUPS

T_STAR, T_SS, END, EVERY = 40, 80, 120, 10


def _tables(delta, cos2, influence, rho, q_power) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The trace and groups tables of fake()'s run (see its docstring for the formulas)."""
    trace, groups = [], []
    for branch, start, lr in (("baseline", 0, 0.1), ("exit", T_STAR, 0.05)):
        for step in range(start, END + 1, EVERY):
            t_eff = 0.1 * min(step, T_STAR) + lr * max(step - T_STAR, 0)
            where = {"branch": branch, "step": step, "t_eff": t_eff}
            rho_now = rho[0] if step < T_STAR else rho[1]
            trace.append({**where, "lr": lr, "a_S": 2.0, "b_S": 4.0, "spearman_rho": rho_now})
            for k, g in enumerate(GROUPS):
                base_loss = 1.0 - 0.5 * t_eff / (0.1 * END)
                loss = base_loss + (delta[g] if branch == "exit" and step > T_STAR else 0.0)
                c_k = influence[g] * (1 + 0.1 * k + 0.01 * step)
                groups.append(
                    {
                        **where,
                        "group": g,
                        "loss": loss,
                        "loss_avg2": loss,
                        "cos2": cos2(g, branch, step),
                        "curvature_influence": c_k,
                        "Q": c_k**q_power,
                        "R": 0.3 * (k + 1),
                    }
                )
    return pd.DataFrame(trace), pd.DataFrame(groups)


def fake(
    loss="mse",
    displacement="coherent",
    alpha=3.0,
    seed=0,
    *,
    delta=None,
    cos2=None,
    influence=None,
    rho=(-0.1, 0.4),
    distance=None,
    q_power=0.5,
) -> Result:
    """A forked run whose tables follow simple formulas.

    delta[g]: the exit branch's loss minus the EoS branch's after the fork (constant);
    cos2[g](branch, step), influence[g]: per-group alignment and curvature influence;
    rho: Spearman ρ before and after t*; distance[g]: median centroid distance;
    Q = C ** q_power, so Q² ∝ C exactly when q_power = 0.5."""
    delta = delta or dict.fromkeys(GROUPS, 0.0)
    cos2 = cos2 or (lambda g, b, s: 0.1)
    influence = influence or dict.fromkeys(GROUPS, 1.0)
    distance = distance or dict(zip(GROUPS, (1.0, 2.0, 3.0, 0.5)))
    cfg = RunConfig(loss=loss, displacement=displacement, alpha=alpha, seed=seed, lr=0.1, c=0.5)
    trace, groups = _tables(delta, cos2, influence, rho, q_power)
    examples = pd.DataFrame(
        {
            "index": range(8),
            "label": 0,
            "original_label": 0,
            "group": [g for g in GROUPS for _ in range(2)],
            "centroid_distance": [distance[g] for g in GROUPS for _ in range(2)],
        }
    )
    meta = {
        "config": cfg.to_dict(),
        "config_hash": cfg.config_hash(),
        "status": "done",
        "t_star": T_STAR,
        "t_star_star": T_SS,
    }
    return Result(meta, trace, groups, examples, {})


def verdicts(runs):
    return {v.claim: v for v in report(runs)}


MIXED = {"inlier": -0.05, "boundary": -0.02, "input_outlier": 0.08, "output_outlier": 0.01}
SAME_SIGN = dict.fromkeys(GROUPS, -0.05)


def c2_true(g, b, s):
    if g != "input_outlier":
        return 0.1
    if s <= T_STAR:
        return 0.2 + 0.7 * s / T_STAR  # rises to 0.9 at t*
    return 0.9 if b == "exit" else 0.4  # falls under EoS, held on the exit branch


def test_c1_mixed_signs():
    assert verdicts([fake(delta=MIXED)])["C1"].verdict == SUPPORTED
    assert verdicts([fake(delta=SAME_SIGN)])["C1"].verdict == REFUTED


def test_c1_reports_the_random_control_beside_the_verdict():
    coherent, control = fake(delta=MIXED), fake(displacement="random", delta=SAME_SIGN)
    c1 = verdicts([coherent, control])["C1"]
    assert c1.verdict == SUPPORTED and "no trade-off" in c1.evidence
    assert c1.runs == [coherent.meta["config_hash"], control.meta["config_hash"]]
    assert "still mixed" in verdicts([coherent, fake(displacement="random", delta=MIXED)])["C1"].evidence


def test_c2_alignment_resolves_under_eos():
    assert verdicts([fake(cos2=c2_true)])["C2"].verdict == SUPPORTED
    assert verdicts([fake(cos2=lambda g, b, s: 0.3)])["C2"].verdict == REFUTED


def test_c3_random_control():
    strong = fake(influence={**dict.fromkeys(GROUPS, 1.0), "input_outlier": 100.0})
    assert verdicts([strong, fake(displacement="random")])["C3"].verdict == SUPPORTED
    assert verdicts([fake(), fake(displacement="random")])["C3"].verdict == REFUTED
    assert verdicts([strong])["C3"].verdict == UNTESTED and "paper-random" in verdicts([strong])["C3"].evidence


def test_c4_cross_entropy_moves_the_advantage_to_output_outliers():
    wins = fake(
        loss="ce",
        influence={**dict.fromkeys(GROUPS, 1.0), "output_outlier": 50.0},
        delta={**SAME_SIGN, "output_outlier": 0.2},
    )
    assert verdicts([wins])["C4"].verdict == SUPPORTED
    assert verdicts([fake(loss="ce", delta=MIXED)])["C4"].verdict == REFUTED
    assert verdicts([fake()])["C4"].verdict == UNTESTED


def test_c5_spearman_rises_at_eos():
    assert verdicts([fake(rho=(-0.1, 0.4))])["C5"].verdict == SUPPORTED
    assert verdicts([fake(rho=(0.2, 0.1))])["C5"].verdict == REFUTED


def test_c6_farthest_group_benefits_and_alpha_moves_it():
    a3 = fake(alpha=3.0, delta=MIXED, distance=dict(zip(GROUPS, (1.0, 2.0, 3.0, 0.5))))
    a10 = fake(alpha=10.0, delta={**MIXED, "boundary": 0.3}, distance=dict(zip(GROUPS, (1.0, 9.0, 3.0, 0.5))))
    assert verdicts([a3, a10])["C6"].verdict == SUPPORTED
    stuck = fake(alpha=10.0, delta=MIXED, distance=dict(zip(GROUPS, (1.0, 2.0, 3.0, 0.5))))
    assert verdicts([a3, stuck])["C6"].verdict == REFUTED
    assert verdicts([a3])["C6"].verdict == UNTESTED


def test_c7_single_mode_proxy():
    assert verdicts([fake(q_power=0.5)])["C7"].verdict == SUPPORTED
    assert verdicts([fake(q_power=0.1)])["C7"].verdict == REFUTED
    fit = single_mode_fit(fake(q_power=0.5))
    assert fit["slope"] == pytest.approx(1.0) and fit["r"] == pytest.approx(1.0)


def with_pgd(r: Result, eos: float, exit_: float, boundary_cos2: float) -> Result:
    r.trace["pgd_accuracy"] = [eos if b == "baseline" else exit_ for b in r.trace.branch]
    r.groups.loc[r.groups.group == "boundary", "cos2"] = boundary_cos2
    return r


def test_c8_pgd_only_when_boundary_points_dominate():
    assert verdicts([fake()])["C8"].verdict == UNTESTED  # no probe in the run
    helps_when_dominant = with_pgd(fake(), 0.6, 0.4, 0.9)
    no_help_otherwise = with_pgd(fake(alpha=10.0), 0.4, 0.5, 0.05)
    assert verdicts([helps_when_dominant, no_help_otherwise])["C8"].verdict == SUPPORTED
    helps_anyway = with_pgd(fake(alpha=10.0), 0.7, 0.4, 0.05)
    assert verdicts([helps_when_dominant, helps_anyway])["C8"].verdict == REFUTED


def test_branch_decomposition_by_hand():
    r = fake(delta=MIXED)
    d = decomposition(r)
    row = d[(d.group == "input_outlier") & (d.step == T_STAR + 20)].iloc[0]
    tau = 0.1 * 20
    c_k = 1.0 * (1 + 0.1 * 2 + 0.01 * T_STAR)  # at t*, group index 2
    assert row.tau == pytest.approx(tau)
    assert row.confounder == pytest.approx((1 - 0.5) * 0.3 * 3 * tau)
    assert row.selector == pytest.approx(2.0 / 4.0 * np.sqrt(c_k) * tau)
    # measured at the same step: the exit branch has also covered less effective time (c·η per step)
    lag = 0.5 * (0.1 * 20 - 0.05 * 20) / (0.1 * END)
    assert row.measured == pytest.approx(MIXED["input_outlier"] + lag)


def test_single_run_claims_prefer_the_main_setting_whatever_the_order():
    coherent, random = fake(rho=(-0.1, 0.4)), fake(displacement="random", rho=(0.3, 0.3))
    for runs in ([coherent, random], [random, coherent]):
        found = verdicts(runs)
        assert found["C5"].verdict == SUPPORTED and found["C5"].runs == [coherent.meta["config_hash"]]
        assert found["C7"].runs == [coherent.meta["config_hash"]]


def scaled_influence(r: Result, before: float, eos: float) -> Result:
    """Input-outliers' curvature influence on the EoS branch × `before` before t*, × `eos` from t*."""
    g = r.groups
    io = (g.group == "input_outlier") & (g.branch == "baseline")
    g.loc[io & (g.step < T_STAR), "curvature_influence"] *= before
    g.loc[io & (g.step >= T_STAR), "curvature_influence"] *= eos
    return r


def test_c3_judges_the_eos_branch_from_t_star_only():
    """Before t* the coherent run is 1000× ahead, from t* 9×: C3 fails (9 < 10). A median over every
    step would have mixed the phases and read 9·2.2/1.8 = 11× (supported)."""
    coherent, random = scaled_influence(fake(), 1000.0, 9.0), fake(displacement="random")
    c3 = verdicts([coherent, random])["C3"]
    assert c3.verdict == REFUTED
    assert "— 9.00× (before t*: 1000.00×)" in c3.evidence
    assert verdicts([scaled_influence(fake(), 0.01, 12.0), random])["C3"].verdict == SUPPORTED


def test_c3_states_the_random_directions_energy_in_the_data_subspace():
    random = fake(displacement="random")
    random.meta["input_geometry"] = {
        "variance": 0.99,
        "rank": 58,
        "dim": 3072,
        "random_direction_energy": 0.0183,
        "v_diff_energy": 0.998,
        "displacement_energy": 0.0179,
    }
    evidence = verdicts([fake(), random])["C3"].evidence
    assert "keeps 1.8 % of its energy in the training inputs' 99 %-variance subspace (rank 58 of 3072" in evidence
    assert "this run's displacements 1.8 %, v_diff 99.8 %" in evidence
    assert "not recorded" in verdicts([fake(), fake(displacement="random")])["C3"].evidence


def with_oscillation(r: Result, swing: dict) -> Result:
    """Every-step losses: group g swings ±swing[g] around 1 at every step (so |ℓ − ℓ̄| = swing[g])
    after t*, and by 5 × swing[g] before t* (which must not count)."""
    rows = []
    for step in range(END + 1):
        for g in GROUPS:
            amplitude = swing[g] * (1 if step >= T_STAR else 5)
            rows.append(
                {
                    "branch": "baseline",
                    "step": step,
                    "t_eff": 0.1 * step,
                    "group": g,
                    "loss": 1 + amplitude * (-1) ** step,
                    "loss_avg2": 1.0,
                }
            )
    r.losses = pd.DataFrame(rows)
    return r


def test_oscillation_shares_split_the_loss_spikes_after_t_star():
    r = with_oscillation(fake(), {"inlier": 0.1, "boundary": 0.0, "input_outlier": 0.3, "output_outlier": 0.0})
    shares = oscillation_shares(r)
    np.testing.assert_allclose(shares.to_numpy(), [0.25, 0.0, 0.75, 0.0], atol=1e-12)


def test_a_failing_group_claim_explains_who_dominates_v1_and_takes_the_spikes():
    influence = {**dict.fromkeys(GROUPS, 1.0), "output_outlier": 4.0}
    r = with_oscillation(
        fake(delta=SAME_SIGN, influence=influence),
        {"inlier": 0.0, "boundary": 0.0, "input_outlier": 0.1, "output_outlier": 0.3},
    )
    evidence = group_evidence(r)
    # C_k = influence·(1 + 0.1k + 0.01·step): the median before t* is at step 20, from t* at step 80
    assert evidence.loc["output_outlier", "influence_eos"] == pytest.approx(4.0 * (1 + 0.3 + 0.8))
    assert evidence.influence_share_eos.sum() == pytest.approx(1.0)
    c1 = verdicts([r])["C1"]
    assert c1.verdict == REFUTED
    assert "largest (∇ℓ_k·v1)² before t* output_outlier" in c1.why
    assert "input_outlier 25 %, output_outlier 75 %" in c1.why
    assert verdicts([fake(delta=MIXED)])["C1"].why == ""  # a supported claim needs no explanation
