"""The session's one clock: its times, where each branch stands at a time, the nearest stored
checkpoint, the line it draws, and the pages under AppTest that follow it. Numbers come from the
hand-made result of tests/synthetic_result.py (teach-selective: η = 0.04, c = 0.25, t* = 48,
logged every 8 steps), so every expected value below is computed by hand in its comment."""

import base64

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from harness import app_test, charts, from_sidebar, switch_to
from streamlit.testing.v1 import AppTest
from synthetic_result import T_STAR, synthetic_result, with_checkpoints

from dashboard import clock
from dashboard.content import plots, timeline
from dashboard.content.series import series
from eos_core.groups import GROUPS, LABELS

ETA, C = 0.04, 0.25
RUN = synthetic_result().meta["config_hash"]


def base_time(step: int) -> float:
    return ETA * step


def exit_time(step: int) -> float:
    return ETA * T_STAR + C * ETA * (step - T_STAR)


@pytest.fixture
def result():
    return with_checkpoints(synthetic_result())


# -- the pure mapping (content.timeline) ---------------------------------------------------------


def test_the_clocks_times_are_every_time_either_branch_logged(result):
    # EoS every 0.32 (8 steps × η); the exit branch every 0.08 (8 steps × c·η) from the fork at 1.92 to
    # its end at 6.24; the fork's time once
    expected = sorted({base_time(s) for s in range(0, 481, 8)} | {exit_time(s) for s in range(48, 481, 8)})
    merged = [t for i, t in enumerate(expected) if i == 0 or t - expected[i - 1] > 1e-9]
    assert len(merged) == 7 + 54 + 41
    assert timeline.ticks(result.trace) == pytest.approx(merged)
    with_flow = pd.concat([result.trace, result.trace.assign(branch="gradient_flow", t_eff=0.001)])
    assert timeline.ticks(with_flow) == timeline.ticks(result.trace)  # a reference flow's grid is not the clock's


def test_a_time_maps_to_each_branchs_nearest_logged_step(result):
    # t = 3.84 is the EoS branch's step 96; the exit branch reaches it at 48 + (3.84 − 1.92)/0.01 = 240
    assert timeline.step_at(result.trace, "baseline", 3.84) == (96, pytest.approx(3.84))
    assert timeline.step_at(result.trace, "exit", 3.84) == (240, pytest.approx(3.84))
    # 3.845 lies between the exit branch's steps 240 (3.84) and 248 (3.92): 240 is nearer
    assert timeline.step_at(result.trace, "exit", 3.845)[0] == 240
    # before the fork the exit branch does not exist; after its end (t = 6.24) it does not either
    assert timeline.step_at(result.trace, "exit", 1.0) is None
    assert timeline.step_at(result.trace, "exit", 7.0) is None


def test_the_lines_sit_at_the_time_or_at_each_branchs_step(result):
    assert timeline.lines(result.trace, 3.84, "time") == [(pytest.approx(3.84), "t = 3.84")]
    assert timeline.lines(result.trace, 3.84, "step") == [(96, "t = 3.84"), (240, "exit at t = 3.84")]
    # before the fork, and at the fork itself (both branches at step 48), one line
    assert timeline.lines(result.trace, 0.96, "step") == [(24, "t = 0.96")]
    assert timeline.lines(result.trace, base_time(48), "step") == [(48, "t = 1.92")]
    # x measured from the fork (a median over seeds): the same lines shifted by t* and its time
    start = timeline.origin(result, aligned=True)
    assert start == (48, pytest.approx(1.92))
    assert timeline.lines(result.trace, 3.84, "step", start) == [(48, "t = 3.84"), (192, "exit at t = 3.84")]
    assert timeline.lines(result.trace, 3.84, "time", start)[0][0] == pytest.approx(1.92)


def test_the_nearest_checkpoint_is_nearest_in_effective_time(result):
    # EoS checkpoints every 24 steps: t = 0, 0.96, 1.92, 2.88 …; t = 2.24 (step 56) is 0.32 from step 48
    point = timeline.nearest_checkpoint(result, "baseline", 2.24)
    assert (point.step, point.row) == (48, 2) and point.t_eff == pytest.approx(1.92)
    # exit checkpoints at 48, 72, 96 …: t = 1.92, 2.16, 2.40; t = 2.24 is 0.08 from step 72, 0.16 from 96
    point = timeline.nearest_checkpoint(result, "exit", 2.24)
    assert (point.step, point.row) == (72, 1) and point.t_eff == pytest.approx(exit_time(72))
    # before the fork the exit branch's nearest is its first checkpoint, at the fork
    assert timeline.nearest_checkpoint(result, "exit", 0.0).step == 48
    assert timeline.checkpoint_time(result, "exit", 96) == pytest.approx(2.40)
    assert timeline.nearest_checkpoint(synthetic_result(), "exit", 1.0) is None  # it stored none


def test_a_checkpoint_between_logged_steps_gets_an_interpolated_time(result):
    result.per_example["baseline_steps"] = np.array([0, 4, 12])  # 4 and 12 lie between logged steps
    assert timeline.checkpoint_times(result, "baseline") == pytest.approx([0.0, 0.16, 0.48])


def test_the_prototypes_values_are_read_by_example_index(result):
    # the examples' table shuffled: values must still follow the arrays' order of examples
    result.examples = result.examples.iloc[::-1].reset_index(drop=True)
    result.per_example["prototype_index"] = np.array([3, 0])
    values = timeline.prototype_values(result, timeline.nearest_checkpoint(result, "exit", 2.24))  # step 72
    rows = [len(result.examples) - 1 - 3, len(result.examples) - 1]  # where examples 3 and 0 now sit
    assert values.index.tolist() == [3, 0]
    assert values.loss.tolist() == pytest.approx([0.072 + r / 100 for r in rows], abs=1e-6)
    assert values.cos2.tolist() == pytest.approx([0.0072 + r / 1000 for r in rows], abs=1e-6)
    assert (
        timeline.prototype_captions(values)[0] == f"ℓ {0.072 + rows[1] / 100:.3g} · cos² {0.0072 + rows[1] / 1000:.3g}"
    )


def test_the_words_give_the_numbers_at_the_line(result):
    # λ1 at step 96 on EoS: (96/8) even → 45; the exit branch at 240: 45.8 + 0.6·192 = 161
    assert timeline.describe_sharpness(result.trace, 3.84) == (
        "At the line, t = 3.84: λ1 = 45 on the EoS branch (step 96); λ1 = 161 on the exit branch (step 240)."
    )
    # group losses START − 0.02·t on EoS; the exit branch adds DELTA after the fork
    text = timeline.describe_groups(result.groups, 3.84)
    from synthetic_result import DELTA, START_LOSS

    for g in GROUPS:
        assert f"{LABELS[g]} {START_LOSS[g] - 0.02 * 3.84:.4g}" in text.split("; ")[0]
        assert f"{LABELS[g]} {START_LOSS[g] - 0.02 * 3.84 + DELTA[g]:.4g}" in text.split("; ")[1]
    assert "(step 96)" in text and "(step 240)" in text


# -- the line (plots.add_clock) ----------------------------------------------------------------


def clock_lines(spec: dict) -> list[tuple[float, str, str]]:
    """(x, x axis, dash) of every clock line in a figure's JSON spec."""
    shapes = spec["layout"].get("shapes", [])
    return [(s["x0"], s["xref"], s["line"]["dash"]) for s in shapes if s["line"].get("color") == plots.CLOCK_COLOR]


def values(array) -> list[float]:
    """A figure's array from its JSON spec (plotly sends numpy arrays as base64 typed arrays)."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def test_add_clock_draws_a_vertical_line_on_every_x_axis(result):
    fig = plots.add_clock(go.Figure(go.Scatter(x=[0, 1], y=[0, 1])), [(0.5, "t = 0.5"), (0.7, "exit at t = 0.5")])
    assert clock_lines(fig.to_plotly_json()) == [(0.5, "x", "solid"), (0.7, "x", "dash")]
    assert {s.x0 == s.x1 and (s.y0, s.y1) == (0, 1) and s.yref.endswith("domain") for s in fig.layout.shapes} == {True}
    assert [a.text for a in fig.layout.annotations] == ["t = 0.5", "exit at t = 0.5"]
    two = plots.add_clock(plots.distance_figure(series([result])), [(3.0, "t = 3")])  # two panels
    assert sorted(clock_lines(two.to_plotly_json())) == [(3.0, "x", "solid"), (3.0, "x2", "solid")]


# -- the pages under AppTest ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def cache(make_cache):
    return make_cache(with_checkpoints(synthetic_result()), name="clock-cache")


@pytest.fixture
def app(cache, monkeypatch):
    return app_test(cache, monkeypatch, RUN)


def image_captions(at) -> list[str]:
    return [c for element in at.get("image") for c in element.captions]


def slider(at, page: str):
    return at.select_slider(key=f"clock_slider_{page}")


def test_moving_the_clock_moves_the_line_on_the_sharpness_page(app):
    switch_to(app, "app_pages/sharpness.py")
    assert clock_lines(charts(app)[0]) == [(0, "x", "solid")]  # a fresh session starts at t = 0
    slider(app, "sharpness").set_value(timeline.snap(timeline.ticks(synthetic_result().trace), 3.84)).run()
    assert clock_lines(charts(app)[0]) == [(96, "x", "solid"), (240, "x", "dash")]
    assert float(app.query_params["t"]) == pytest.approx(3.84)
    assert any("λ1 = 161 on the exit branch (step 240)" in c.value for c in app.caption)


def test_the_line_on_a_time_axis_and_on_the_group_losses(cache, monkeypatch):
    at = app_test(cache, monkeypatch, RUN, x="time", t="3.84")
    switch_to(at, "app_pages/groups.py")
    assert clock_lines(charts(at)[0]) == [(pytest.approx(3.84), "x", "solid")]
    assert all(not clock_lines(spec) for spec in charts(at)[1:])  # Δℓ_k and the rest carry no line
    assert any("each group's loss on the EoS branch (step 96)" in c.value for c in at.caption)


def test_the_scatter_follows_the_clock_to_the_nearest_checkpoint(app):
    switch_to(app, "app_pages/outliers.py")
    slider(app, "outliers").set_value(timeline.snap(timeline.ticks(synthetic_result().trace), 2.24)).run()
    scatter = charts(app)[0]
    assert "at step 48" in scatter["layout"]["title"]["text"]  # EoS: t = 2.24 is nearest step 48's 1.92
    assert app.query_params["step"] == "48"
    inliers = scatter["data"][0]  # every example here is tracked; the inliers are examples 0, 4, 8 …
    assert values(inliers["y"]) == pytest.approx([0.0048 + i / 1000 for i in range(0, 20, 4)], abs=1e-6)
    app.radio[0].set_value("exit").run()  # same clock, the exit branch: step 72 (t = 2.16)
    assert "at step 72" in charts(app)[0]["layout"]["title"]["text"]
    assert any("step 72, t = 2.16" in c.value for c in app.caption)


def test_the_time_survives_switching_pages(app):
    switch_to(app, "app_pages/sharpness.py")
    slider(app, "sharpness").set_value(timeline.snap(timeline.ticks(synthetic_result().trace), 2.24)).run()
    from_sidebar(app, "app_pages/outliers.py")  # the sidebar's links drop the URL's ?t=
    assert slider(app, "outliers").value == pytest.approx(2.24)
    assert "at step 48" in charts(app)[0]["layout"]["title"]["text"]
    from_sidebar(app, "app_pages/prototypes.py")
    assert any("step 48, t = 1.92" in c.value for c in app.caption)
    assert image_captions(app)[0] == "#0 y=0 · ℓ 0.048 · cos² 0.0048"  # example 0 at step 48
    from_sidebar(app, "app_pages/sharpness.py")
    assert clock_lines(charts(app)[0]) == [(56, "x", "solid"), (80, "x", "dash")]  # exit: 48 + (2.24 − 1.92)/0.01


def test_a_link_from_before_the_clock_opens_its_checkpoint(cache, monkeypatch):
    at = switch_to(app_test(cache, monkeypatch, RUN, branch="exit", step="96"), "app_pages/outliers.py")
    assert "at step 96" in charts(at)[0]["layout"]["title"]["text"]
    assert float(at.query_params["t"]) == pytest.approx(2.40)  # exit step 96: 1.92 + 0.01·48


@pytest.mark.parametrize("value", ["soon", "1e400", "-1", "99"])
def test_a_malformed_time_warns_and_falls_back_to_the_start(cache, monkeypatch, value):
    at = switch_to(app_test(cache, monkeypatch, RUN, t=value), "app_pages/sharpness.py")
    warning = next(w.value for w in at.warning if "t=" in w.value)
    assert "a number in [0, 19.2]" in warning
    assert clock_lines(charts(at)[0]) == [(0, "x", "solid")]


def test_play_advances_one_frame_per_tick_and_stops_on_leaving_the_page(app):
    switch_to(app, "app_pages/sharpness.py")
    app.button(key="clock_play_sharpness").click().run()  # AppTest runs no timer: the press's own frame
    assert app.session_state[clock.PLAYING] == "sharpness"
    assert clock_lines(charts(app)[0])[0][0] == 8  # one frame: the next logged time, step 8
    assert app.button(key="clock_play_sharpness").label == "Pause"
    from_sidebar(app, "app_pages/groups.py")
    assert clock.PLAYING not in app.session_state
    from_sidebar(app, "app_pages/sharpness.py")  # back: paused where it was
    assert app.button(key="clock_play_sharpness").label == "Play"
    assert clock_lines(charts(app)[0])[0][0] == 8


def test_pause_and_the_slider_stop_play(app):
    switch_to(app, "app_pages/sharpness.py")
    app.button(key="clock_play_sharpness").click().run()
    app.button(key="clock_play_sharpness").click().run()  # Pause
    assert clock.PLAYING not in app.session_state and app.button(key="clock_play_sharpness").label == "Play"
    app.button(key="clock_play_sharpness").click().run()
    slider(app, "sharpness").set_value(timeline.snap(timeline.ticks(synthetic_result().trace), 3.84)).run()
    assert clock.PLAYING not in app.session_state
    assert clock_lines(charts(app)[0])[0][0] == 96


def test_the_story_draws_the_line_on_its_sharpness_steps(cache, monkeypatch):
    at = app_test(cache, monkeypatch, t="0.96")
    switch_to(at, "app_pages/story.py")
    assert clock_lines(charts(at)[2]) == [(24, "x", "solid")]  # after the two toys' figures
    assert len(charts(at)) == 3  # the clock adds no chart
    assert all(not clock_lines(spec) for spec in charts(at)[:2])


def test_the_storys_first_step_runs_its_clock_over_the_sharpening_it_shows(cache, monkeypatch):
    at = switch_to(app_test(cache, monkeypatch), "app_pages/story.py")
    result = synthetic_result()
    ticks = timeline.ticks(result.trace)
    shown = [t for t in ticks if t <= 2 * T_STAR * result.meta["config"]["lr"] + 1e-12]  # its x axis: 0 to 2·t*
    assert len(slider(at, "story").options) == len(shown) < len(ticks)
    next(b for b in at.button if b.label == "next →").click().run()
    assert len(slider(at, "story").options) == len(ticks)  # step 2 shows the whole run


def test_a_new_story_step_pauses_play(cache, monkeypatch):
    at = switch_to(app_test(cache, monkeypatch), "app_pages/story.py")
    at.button(key="clock_play_story").click().run()
    assert at.session_state[clock.PLAYING] == "story"
    next(b for b in at.button if b.label == "next →").click().run()
    assert clock.PLAYING not in at.session_state


def test_the_clocks_own_time_beyond_this_runs_end_snaps_without_a_warning(app):
    """A time written by the clock on a longer run (the sidebar picked another since) is no bad link."""
    app.session_state[clock.CLOCK] = 100.0
    app.query_params["t"] = "100"
    switch_to(app, "app_pages/sharpness.py")
    assert not [w for w in app.warning if "t=" in w.value]
    assert clock_lines(charts(app)[0]) == [(480, "x", "solid")]  # the last logged time, t = 19.2
    assert app.query_params["t"] == "19.2"


def _clock_without_times():
    from dashboard import clock

    clock.show([], "nowhere", lambda t: None)


def test_a_run_that_logged_nothing_gets_a_message():
    at = AppTest.from_function(_clock_without_times)
    at.run()
    assert not at.exception and "no time to show" in at.info[0].value


@pytest.fixture(scope="module")
def digits_cache(make_cache):
    return make_cache(with_checkpoints(synthetic_result("teach-digits")), name="clock-digits")


def test_the_storys_gallery_follows_the_clock(digits_cache, monkeypatch):
    """On real images the trade-off step shows the tracked images, captioned at the EoS branch's
    checkpoint nearest the clock: t = 2.24 is nearest step 48 (t = 1.92; checkpoints every 48 steps)."""
    at = switch_to(app_test(digits_cache, monkeypatch, step="4", t="2.24"), "app_pages/story.py")
    assert any("EoS branch to the clock's t = 2.24: step 48, t = 1.92" in c.value for c in at.caption)
    assert image_captions(at)[0] == "#0 y=0 · ℓ 0.048 · cos² 0.0048"  # example 0 at step 48: 48/1000 and 48/10000
