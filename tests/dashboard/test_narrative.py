"""The "What am I looking at?" sentences quote the run's own numbers: checked on a hand-made
result whose numbers are known by construction (tests/synthetic_result.py)."""

from synthetic_result import T_STAR, T_STAR_STAR, synthetic_result

from dashboard.content import narrative
from eos_core.analysis.claims import Verdict


def text(sentences):
    return " ".join(sentences)


def test_sharpness_names_the_onset_the_plateau_and_t_star_star():
    s = text(narrative.sharpness(synthetic_result()))
    assert "crossed 0.9·2/η = 45 at step 48" in s
    assert "between 0.90 and 0.98 of 2/η (median 0.94)" in s
    assert "2/(c·η) = 200" in s and f"at step {T_STAR_STAR} (t**, {T_STAR_STAR - T_STAR} steps after the fork)" in s
    assert "from 5 at step 0" in s


def test_sharpness_of_a_run_still_sharpening_and_one_that_never_forked():
    running = text(narrative.sharpness(synthetic_result(upto=4)))  # steps 0, 8, 16, 24
    assert "to 25.4 at step 24" in running and "forks when λ1 reaches 0.9·2/η = 45" in running
    never = text(narrative.sharpness(synthetic_result(forked=False)))
    assert "never reached the onset level 0.9·2/η = 45" in never and "no t*" in never
    assert "no Δℓ_k" in text(narrative.groups(synthetic_result(forked=False)))


def test_exit_branch_without_t_star_star_yet():
    partial = synthetic_result(upto=61 + 10)  # the whole baseline and 10 exit steps (48…120)
    s = text(narrative.sharpness(partial))
    assert "has not reached 0.9·2/(c·η) = 180 by step 120 (no t** yet)" in s


def test_groups_quote_the_window_deltas_and_call_the_trade_off():
    s = narrative.groups(synthetic_result())
    assert s[0].startswith(f"At equal effective time, from t* (step {T_STAR}) to t** (step {T_STAR_STAR})")
    assert "ahead on output-outliers (+0.03)" in s[0]
    assert "behind on inliers (−0.02), boundary points (−0.01) and input-outliers (−0.2)" in s[0]
    assert "selective trade-off" in s[1] and "Opposite signs" in s[1]


def test_groups_of_a_control_with_one_sign_say_no_trade_off():
    control = synthetic_result(
        "teach-selective-random",
        delta={"inlier": -0.02, "boundary": -0.03, "input_outlier": -0.01, "output_outlier": -0.04},
    )
    s = narrative.groups(control)
    assert "behind on" in s[0] and "ahead on" not in s[0]
    assert s[1].startswith("All one sign: no selective trade-off")


def test_alignment_outliers_prototypes():
    r = synthetic_result()
    a = text(narrative.alignment(r))
    assert (
        "At the fork (step 48) the input-outliers' gradient points most along v1: cos²θ = 0.93, against 0.12 "
        "for inliers" in a
    )
    assert "output-outliers have the largest curvature influence" in a and "median 0.03, 300×" in a
    o = text(narrative.outliers(r))
    assert "has median −0.1; from t* on +0.4 — it rises at EoS" in o
    p = text(narrative.prototypes(r))
    assert "input-outliers lie farthest" in p and "median distance 12" in p and "6.0× the inliers' 2" in p


def test_compare_report_and_runs():
    c = narrative.compare(synthetic_result(), synthetic_result("teach-selective-random"), ("coherent", "random"))
    assert c[0].startswith(f"coherent: t* = {T_STAR}, t** = {T_STAR_STAR}; median Δℓ_k")
    assert "output-outliers +0.03" in c[0] and "a trade-off" in c[0]
    verdicts = [
        Verdict("C1", "", "supported", ""),
        Verdict("C2", "", "untested", ""),
        Verdict("C3", "", "untested", ""),
    ]
    assert "3 claims checked here: 1 supported (C1); 2 untested (C2, C3)" in narrative.report(verdicts)[0]
    jobs = [{"state": "done"}, {"state": "queued"}]
    assert (
        narrative.runs(jobs, [{"t_star": 48}, {"t_star": None}])[0]
        == "2 results are stored (1 forked at t*); jobs: 1 done, 1 queued."
    )


def test_story_on_real_tiny_runs_has_five_steps_of_two_sentences(tiny_run):
    from tiny import TINY

    from dashboard.content import story

    coherent, random = tiny_run(TINY), tiny_run(TINY.replace(displacement="random"))
    steps = story.steps(coherent, random)
    assert [s.title for s in steps] == list(story.TITLES)
    for s in steps:
        assert len(s.sentences) == 2 and all(len(x) > 20 for x in s.sentences), s.title
        assert s.figure is not None and len(s.figure.data), s.title
    assert f"at step {coherent.meta['t_star']}" in steps[0].sentences[0]
    missing = story.control(coherent, None)
    assert missing.figure is None and "displacement = random" in missing.sentences[0]


def test_story_steps_on_the_synthetic_pair_quote_the_numbers():
    from dashboard.content import story

    steps = story.steps(
        synthetic_result(),
        synthetic_result(
            "teach-selective-random",
            delta={"inlier": -0.02, "boundary": -0.03, "input_outlier": -0.01, "output_outlier": -0.04},
        ),
    )
    assert "9.0× sharper in 48 steps" in steps[0].sentences[1]
    assert "c·η = 0.01 (c = 0.25)" in steps[2].sentences[0] and "step 272 (t**" in steps[2].sentences[1]
    assert steps[3].sentences[1].startswith("Opposite signs")
    assert steps[4].sentences[1].startswith("The trade-off disappears")
    assert all(len(s.sentences) == 2 for s in steps)
