"""The Sharpness and Alignment pages draw the tracked eigenpairs when a run stored them, and say
how to get them when it did not."""

import base64

import numpy as np
import pytest
from harness import app_test, charts, switch_to
from tiny import TINY

from dashboard.content import spectrum_plots
from eos_core.config import branch_thresholds

TRACKED = TINY.replace(track_fraction=0.02)


def values(array) -> np.ndarray:
    """A Plotly JSON array: a list, or a typed array {dtype, bdata (base64)}."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
    return np.asarray(array, dtype=float)


@pytest.fixture(scope="module")
def cache(make_cache, tiny_run):
    return make_cache(tiny_run(TINY), tiny_run(TRACKED))


def _figure(app, title: str) -> dict:
    return next(c for c in charts(app) if c["layout"].get("title", {}).get("text", "").startswith(title))


@pytest.mark.training
def test_sharpness_page_draws_every_tracked_eigenvalue_with_threshold_and_cut(cache, monkeypatch, tiny_run):
    app = switch_to(app_test(cache, monkeypatch, TRACKED.config_hash()), "app_pages/sharpness.py")
    spec = _figure(app, "Every tracked Hessian eigenvalue")
    tracked = tiny_run(TRACKED).tracked
    drawn = np.sort(np.concatenate([values(trace["y"]) for trace in spec["data"]]))
    assert drawn == pytest.approx(np.sort(tracked.eigenvalue.to_numpy()))
    lines = sorted(s["y0"] for s in spec["layout"]["shapes"])
    expected = [t.value * f for t in branch_thresholds(TRACKED).values() for f in (1, TRACKED.track_fraction)]
    assert lines == pytest.approx(sorted(expected))
    assert any("eigenvalue(s) above 0.02·2/η" in m.value for m in app.markdown)


@pytest.mark.training
def test_alignment_page_draws_each_groups_cos2_with_each_eigenvector(cache, monkeypatch, tiny_run):
    app = switch_to(app_test(cache, monkeypatch, TRACKED.config_hash()), "app_pages/alignment.py")
    spec = _figure(app, "Each group's alignment")
    groups = tiny_run(TRACKED).tracked_groups
    assert len(spec["data"]) == groups.groupby(["group", "branch", "rank"]).ngroups
    drawn = np.sort(np.concatenate([values(trace["y"]) for trace in spec["data"]]))
    assert drawn == pytest.approx(np.sort(groups.cos2.to_numpy()))
    assert any("most aligned group per eigenvector" in m.value for m in app.markdown)


@pytest.mark.training
@pytest.mark.parametrize("page", ["app_pages/sharpness.py", "app_pages/alignment.py"])
def test_a_run_without_tracking_gets_the_hint(cache, monkeypatch, page):
    app = switch_to(app_test(cache, monkeypatch, TINY.config_hash()), page)
    assert any("--set track_fraction=0.5" in c.value for c in app.caption)
    assert not any(c["layout"].get("title", {}).get("text", "").startswith("Every tracked") for c in charts(app))


def test_descriptions_name_the_last_steps_values():
    import pandas as pd

    tracked = pd.DataFrame(
        {"branch": "baseline", "step": [0, 0, 5], "t_eff": 0.0, "rank": [1, 2, 1], "eigenvalue": [30.0, 20.0, 41.0]}
    )
    text = spectrum_plots.describe_tracked(tracked, TINY.replace(track_fraction=0.5).to_dict())
    assert "at step 5, 1 eigenvalue(s) above 0.5·2/η: 41" in text and "at most 2" in text
