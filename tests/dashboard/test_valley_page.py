"""The Valley page: baseline beside exit branch at equal effective time, animated over the
checkpoints, the surface on demand, the numbers in words; a bad ?step= and a run without slices
get a clear message."""

import numpy as np
import pytest
from harness import app_test, charts, from_sidebar, switch_to
from test_tracked_pages import values
from tiny import TINY

from eos_core.analysis.valley import paired_checkpoints, valley_at, valley_steps

VALLEY = TINY.replace(valley_every=10)
PAGE = "app_pages/valley.py"

pytestmark = pytest.mark.training


@pytest.fixture(scope="module")
def cache(make_cache, tiny_run):
    return make_cache(tiny_run(TINY), tiny_run(VALLEY))


def test_the_page_draws_both_branches_at_the_linked_checkpoint_with_a_frame_for_each(cache, monkeypatch, tiny_run):
    result = tiny_run(VALLEY)
    pairs = paired_checkpoints(result)
    base_step, exit_step = next((b, e) for b, e in pairs if e is not None and b > 0)
    app = switch_to(app_test(cache, monkeypatch, VALLEY.config_hash(), step=str(base_step)), PAGE)
    (spec,) = charts(app)
    assert len(spec["frames"]) == len(valley_steps(result, "baseline")) == len(pairs)
    base, exit_ = valley_at(result, "baseline", base_step), valley_at(result, "exit", exit_step)
    # traces 0 and 4: the two slices, as stored
    np.testing.assert_allclose(values(spec["data"][0]["y"]), base.slice.loss)
    np.testing.assert_allclose(values(spec["data"][4]["y"]), exit_.slice.loss)
    # the iterates land on the slice at their projection
    np.testing.assert_allclose(values(spec["data"][2]["x"]), base.iterates.s1)
    np.testing.assert_allclose(
        values(spec["data"][2]["y"]), np.interp(base.iterates.s1, base.slice.s1, base.slice.loss)
    )
    # the dashed parabola has the threshold's curvature: its second difference is 2/η
    s, parabola = values(spec["data"][1]["x"]), values(spec["data"][1]["y"])
    h = s[1] - s[0]
    assert np.diff(parabola, 2) / h**2 == pytest.approx(2 / VALLEY.lr, rel=1e-6)
    assert spec["layout"]["sliders"][0]["active"] == [b for b, _ in pairs].index(base_step)
    words = " ".join(c.value for c in app.caption)
    assert f"step {base_step}" in words and f"step {exit_step}" in words and "× 2/η" in words


def test_the_surface_shows_on_demand_with_its_words(cache, monkeypatch, tiny_run):
    app = switch_to(app_test(cache, monkeypatch, VALLEY.config_hash(), step="20", surface="1"), PAGE)
    contour = charts(app)[1]["data"][0]
    stored = valley_at(tiny_run(VALLEY), "baseline", 20).surface
    assert np.sort(values(contour["z"])) == pytest.approx(np.sort(stored.loss))
    assert any("the loss spans" in c.value for c in app.caption)


def test_a_step_without_a_slice_names_the_steps_that_have_one(cache, monkeypatch, tiny_run):
    app = switch_to(app_test(cache, monkeypatch, VALLEY.config_hash(), step="7"), PAGE)
    steps = ", ".join(map(str, valley_steps(tiny_run(VALLEY), "baseline")))
    assert any("no valley slice at step 7" in w.value and steps in w.value for w in app.warning)
    assert len(charts(app)) == 1  # and the page still draws, at the default checkpoint


def test_a_run_without_slices_says_how_to_get_them(cache, monkeypatch):
    app = switch_to(app_test(cache, monkeypatch, TINY.config_hash()), PAGE)
    assert any("valley_every" in i.value for i in app.info)
    assert not charts(app)


def test_the_valley_opens_at_the_clocks_time_and_moves_it(cache, monkeypatch, tiny_run):
    """One clock: a time set on another page picks the Valley's checkpoint, and a checkpoint picked
    here is the time the other pages show."""
    result = tiny_run(VALLEY)
    bases = [valley_at(result, "baseline", s) for s in valley_steps(result, "baseline")]
    wanted = bases[-2]
    app = app_test(cache, monkeypatch, VALLEY.config_hash(), t=f"{wanted.t_eff + 1e-6:g}")
    switch_to(app, "app_pages/sharpness.py")  # the clock takes the link's time there
    from_sidebar(app, PAGE)
    chosen = next(s for s in app.selectbox if s.label.startswith("checkpoint"))
    assert chosen.value == wanted.step
    chosen.select(bases[1].step).run()
    assert app.session_state["clock_t"] == pytest.approx(bases[1].t_eff)
