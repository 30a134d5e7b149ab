"""The torch-free spectrum: its distance, density, JSON, folder file and store entry."""

import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest

from eos_core.analysis.spectrum import (
    FILE,
    Spectrum,
    SpectrumError,
    check_step,
    loads,
    merged,
    read_folder,
    wasserstein1,
    write_folder,
)
from eos_core.runs.keys import Keys
from eos_core.runs.store import CorruptEntry, Store

ONE = ((1.0,), (1.0,))  # two probes, one node each


def spectrum(step=10, seed=0, nodes=((-1.0, 2.0, 5.0), (0.0, 4.0)), weights=((0.5, 0.25, 0.25), (0.5, 0.5))):
    return Spectrum(
        config_hash="abc",
        branch="baseline",
        step=step,
        t_eff=0.1 * step,
        nodes=[list(n) for n in nodes],
        weights=[list(w) for w in weights],
        lambda1=5.0,
        threshold=40.0,
        threshold_symbol="2/η",
        dim=3,
        probes=len(nodes),
        steps=3,
        seed=seed,
        hvps=5,
        wall_s=0.01,
    )


def test_wasserstein1_is_the_area_between_the_cdfs():
    one = (np.array([0.0]), np.array([1.0]))
    assert wasserstein1(one, (np.array([1.5]), np.array([1.0]))) == pytest.approx(1.5)
    assert wasserstein1(one, one) == 0.0
    half = (np.array([0.0, 2.0]), np.array([0.5, 0.5]))  # half the mass moves 2
    assert wasserstein1(one, half) == pytest.approx(1.0)
    assert wasserstein1(half, one) == pytest.approx(1.0)
    unnormalised = (np.array([0.0, 2.0]), np.array([3.0, 3.0]))  # weights are normalised first
    assert wasserstein1(unnormalised, half) == pytest.approx(0.0)


def test_the_measure_averages_the_probes_and_the_smoothed_density_integrates_to_one():
    s = spectrum()
    nodes, weights = s.measure()
    assert nodes.tolist() == [-1.0, 0.0, 2.0, 4.0, 5.0]
    assert weights.tolist() == [0.25, 0.25, 0.125, 0.25, 0.125] and weights.sum() == 1.0
    assert s.top_node == 5.0
    sigma = s.default_sigma()  # the node span 6 over m − 1 = 2 spacings, /√(8 ln 3)
    assert sigma == pytest.approx(6 / 2 / math.sqrt(8 * math.log(3)))
    grid = s.grid(4001)  # ±4σ beyond the nodes: the tails left out are 2·3e-5 of the mass
    assert np.trapezoid(s.smoothed(grid), grid) == pytest.approx(1.0, abs=1e-4)


def test_json_round_trip_and_unreadable_records_are_refused():
    s = spectrum()
    assert loads(json.dumps([s.to_dict()])) == [s]
    with pytest.raises(SpectrumError, match="missing"):
        loads(json.dumps([{"branch": "baseline"}]))
    with pytest.raises(SpectrumError, match="differ in length"):
        loads(json.dumps([{**s.to_dict(), "weights": [[1.0], [0.5, 0.5]]}]))
    with pytest.raises(SpectrumError, match="unreadable"):
        loads("{not json")


def test_a_new_spectrum_replaces_one_computed_the_same_way():
    a, b, again = spectrum(step=10), spectrum(step=20), spectrum(step=10, nodes=((1.0,), (1.0,)), weights=ONE)
    kept = merged(merged([b], a), again)
    assert [s.step for s in kept] == [10, 20] and kept[0].nodes == [[1.0], [1.0]]
    assert len(merged(kept, spectrum(step=10, seed=1))) == 3  # another seed is another spectrum


def test_folder_file_adds_and_results_without_one_have_none(tmp_path):
    assert read_folder(tmp_path) == []
    write_folder(tmp_path, spectrum(step=10))
    write_folder(tmp_path, spectrum(step=20))
    assert [s.step for s in read_folder(tmp_path)] == [10, 20]
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILE]  # no temporary file left behind


def test_the_store_keeps_a_runs_spectra_and_drops_them_with_the_run(tmp_path):
    store = Store(tmp_path / "cache")
    assert store.spectra("abc") == []
    store.put_spectrum(spectrum(step=10))
    store.put_spectrum(spectrum(step=20))
    store.put_spectrum(spectrum(step=10, nodes=((3.0,), (3.0,)), weights=ONE))
    assert [(s.step, s.nodes) for s in store.spectra("abc")] == [(10, [[3.0], [3.0]]), (20, spectrum().nodes)]
    store.cache.set(Keys.spectra("bad"), "[{")
    with pytest.raises(CorruptEntry):
        store.spectra("bad")
    store.put_spectrum(dataclasses.replace(spectrum(), config_hash="bad"))  # the unreadable entry moves aside
    assert [s.step for s in store.spectra("bad")] == [10] and any((tmp_path / "cache" / "quarantine").iterdir())
    store.delete_result("abc")
    assert store.spectra("abc") == []
    store.close()


def test_a_step_outside_the_logged_grid_is_refused_with_the_range():
    trace = pd.DataFrame({"branch": ["baseline"] * 3 + ["exit"] * 2, "step": [0, 5, 10, 5, 10]})
    meta = {"config": {"log_every": 5}}
    check_step(trace, meta, 10, "exit")
    with pytest.raises(SpectrumError, match=r"step 7 is not a logged baseline step: .* 0–10 every 5 steps"):
        check_step(trace, meta, 7, "baseline")
    with pytest.raises(SpectrumError, match=r"step 0 is not a logged exit step: .* 5–10"):
        check_step(trace, meta, 0, "exit")
    with pytest.raises(SpectrumError, match="unknown branch"):
        check_step(trace, meta, 5, "sideways")
