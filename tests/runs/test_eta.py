"""Time left from synthetic progress records whose true finish is known by construction."""

import pytest

from eos_core.runs.eta import describe, estimate, fork_step, records, speed, steps_left


def run_records(steps=480, log_every=8, t_star=48, pre=10.0, post=5.0, exit_rate=5.0, upto=None):
    """A run whose baseline does `pre` steps/s before t* and `post` after, and whose exit branch
    does `exit_rate`; records stop at wall time `upto`. Returns (records, true finish time)."""
    out, now = [], 0.0
    for step in range(0, steps + 1, log_every):
        if step:
            now += log_every / (pre if step <= t_star else post)
        out.append(["baseline", step, "eos" if step >= t_star else "sharpening", now])
    for step in range(t_star, steps + 1, log_every):
        if step > t_star:
            now += log_every / exit_rate
        out.append(["exit", step, "exit", now])
    finish = now
    if upto is not None:
        out = [r for r in out if r[3] <= upto]
    return out, finish


def test_remaining_steps_count_both_branches():
    recs, _ = run_records(upto=20.0)  # on the baseline, after the fork at 48
    last = records(recs)[-1]
    assert last.branch == "baseline" and fork_step(records(recs)) == 48
    assert steps_left(records(recs), 480) == (480 - last.step, 480 - 48, False)


def test_before_the_fork_the_exit_branch_is_an_upper_bound():
    recs, _ = run_records(upto=3.0)  # still sharpening
    step = records(recs)[-1].step
    assert fork_step(records(recs)) is None
    assert steps_left(records(recs), 480) == (480 - step, 480 - step, True)
    assert describe(estimate(recs, 480, now=3.0)).startswith("up to about")


def test_on_the_exit_branch_only_its_steps_are_left():
    recs, _ = run_records(upto=120.0)
    last = records(recs)[-1]
    assert last.branch == "exit"
    assert steps_left(records(recs), 480) == (0, 480 - last.step, False)


@pytest.mark.parametrize("now", [20.0, 50.0, 100.0, 150.0])
def test_constant_speed_after_the_fork_gives_the_exact_finish(now):
    recs, finish = run_records(upto=now)
    eta = estimate(recs, 480, now=now)
    assert eta.steps_per_second == pytest.approx(5.0)
    assert now + eta.seconds == pytest.approx(finish, rel=1e-9)


def test_speed_is_the_current_phase_not_the_faster_past():
    recs, _ = run_records(upto=30.0)  # sharpening at 10 steps/s, EoS at 5
    assert speed(records(recs)) == pytest.approx(5.0)


def test_branch_switch_is_not_counted_as_training():
    recs = [
        ["baseline", 464, "eos", 0.0],
        ["baseline", 472, "eos", 1.0],
        ["baseline", 480, "eos", 2.0],
        ["exit", 48, "exit", 100.0],
        ["exit", 56, "exit", 101.0],
    ]
    assert speed(records(recs)) == pytest.approx(8.0)


def test_too_few_records_say_estimating():
    assert estimate([], 480).seconds is None
    assert estimate([["baseline", 0, "sharpening", 5.0]], 480).seconds is None
    assert describe(estimate([], 480)) == "estimating time left…"
