"""The Sharpness page's Hessian spectrum: drawn from the store with λ1 and the threshold marked,
or, when none is stored, the command that computes one."""

import pytest
from harness import app_test, charts
from tiny import TINY

from eos_core.analysis.spectrum import Spectrum
from eos_core.runs.store import Store

pytestmark = pytest.mark.training


def spectrum(step: int) -> Spectrum:
    return Spectrum(
        config_hash=TINY.config_hash(),
        branch="baseline",
        step=step,
        t_eff=step * TINY.lr,
        nodes=[[-0.5, 0.0, 1.0, 30.0], [-0.2, 0.1, 2.0, 30.0]],
        weights=[[0.2, 0.6, 0.15, 0.05], [0.2, 0.6, 0.15, 0.05]],
        lambda1=30.0,
        threshold=2 / TINY.lr,
        threshold_symbol="2/η",
        dim=100,
        probes=2,
        steps=4,
        seed=0,
        hvps=8,
        wall_s=0.1,
    )


@pytest.fixture(scope="module")
def cache(make_cache, tiny_run):
    return make_cache(tiny_run(TINY))


def sharpness(cache, monkeypatch):
    at = app_test(cache, monkeypatch, TINY.config_hash())
    at.run()
    at.switch_page("app_pages/sharpness.py").run()
    assert not at.exception
    return at


def test_without_a_spectrum_the_page_says_how_to_compute_one(cache, monkeypatch):
    at = sharpness(cache, monkeypatch)
    info = " ".join(i.value for i in at.info)
    assert f"python -m eos_core spectrum {TINY.config_hash()} --step" in info
    assert len(charts(at)) == 1  # the sharpness chart only


def test_a_stored_spectrum_is_drawn_with_lambda1_and_the_threshold(make_cache, tiny_run, monkeypatch):
    cache = make_cache(tiny_run(TINY), name="spectra")
    store = Store(cache)
    store.put_spectrum(spectrum(10))
    store.put_spectrum(spectrum(20))
    store.close()
    at = sharpness(cache, monkeypatch)
    drawn = charts(at)[1]
    marks = sorted(s["x0"] for s in drawn["layout"]["shapes"])
    assert marks == pytest.approx([30.0, 2 / TINY.lr])
    assert drawn["layout"]["yaxis"]["type"] == "log"
    assert next(o for o in at.selectbox if o.label == "spectrum").options[1].startswith("baseline · step 20")
