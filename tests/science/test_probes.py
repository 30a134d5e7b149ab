"""§5.2 probes: PGD stays in its ε-ball, raises the loss, and the probes reach the trace."""

import torch
from tiny import TINY

from eos_core.science.branching import prepare
from eos_core.science.probes import EPSILON, evaluate, pgd

DIGITS = TINY.replace(dataset="digits", classes=("3", "8"), n_per_class=40, image_size=8)


def test_pgd_stays_in_the_epsilon_ball_and_does_not_lower_the_loss():
    setup = prepare(DIGITS)
    probes, problem, theta = setup.probes, setup.problem, setup.theta0
    x, y = probes.boundary_x, probes.boundary_y
    delta = pgd(problem, theta, x, y, probes.mean, probes.std, probes.clip)
    assert delta.abs().max() <= EPSILON + 1e-6  # float32 rounding of the projection
    pixels = x * probes.std + probes.mean
    assert (pixels + delta).min() >= -1e-6 and (pixels + delta).max() <= 1 + 1e-6  # valid pixels
    with torch.no_grad():
        clean = problem.loss_fn(problem.model(theta, x), y)
        attacked = problem.loss_fn(problem.model(theta, x + delta / probes.std), y)
    assert attacked.sum() >= clean.sum()
    assert len(x) == 50


def test_probes_are_logged_for_both_branches(tiny_run):
    setup = prepare(DIGITS)
    row = evaluate(setup.problem, setup.theta0, setup.probes)
    assert 0 <= row["pgd_accuracy"] <= row["boundary_accuracy"] <= 1
    assert set(row) >= {f"ood_loss_a{a:g}" for a in DIGITS.ood_alphas}
    # displacing further from the boundary changes the OOD loss: the probe sees α_test
    assert row["ood_loss_a0"] != row["ood_loss_a10"]
    result = tiny_run(TINY)
    assert {"pgd_accuracy", "boundary_accuracy", "ood_loss_a3"} <= set(result.trace.columns)
    after_fork = result.trace[result.trace.step >= result.meta["t_star"]]
    assert result.trace.pgd_accuracy.notna().sum() == len(after_fork)  # from t* on, both branches
    assert after_fork.pgd_accuracy.notna().all()
