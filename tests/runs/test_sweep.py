"""Sweeps: baseline reuse across c, and identical results on a process pool and a Dask cluster."""

from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest
from tiny import TINY

from eos_core.config import ConfigError
from eos_core.runs.store import Store
from eos_core.runs.sweep import expand, make_executor, parse_grid, parse_seeds, run_sweep


def test_parsing_seeds_and_grids():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4] and parse_seeds("0,3,7") == [0, 3, 7]
    assert parse_grid(["c=0.25,0.5", "loss=mse,ce"]) == {"c": [0.25, 0.5], "loss": ["mse", "ce"]}
    with pytest.raises(ConfigError, match="seeds"):
        parse_seeds("a-b")
    configs = expand(TINY, [0, 1], {"c": [0.25, 0.5]})
    assert [(c.seed, c.c) for c in configs] == [(0, 0.25), (1, 0.25), (0, 0.5), (1, 0.5)]


@pytest.mark.training
def test_a_sweep_over_c_trains_each_baseline_once(store):
    with ThreadPoolExecutor(1) as pool:
        first = run_sweep(expand(TINY, [0], {"c": [0.5, 0.25]}), pool, store, show_progress=False)
        t_star = store.result(TINY.config_hash()).meta["t_star"]
        assert first.steps == {"baseline": TINY.steps, "exit": 2 * (TINY.steps - t_star)}
        second = run_sweep(expand(TINY, [0], {"c": [0.75, 0.5]}), pool, store, show_progress=False)
    assert second.steps == {"baseline": 0, "exit": TINY.steps - t_star}  # only the new c's exit branch
    assert second.cached == [TINY.config_hash()]
    a, b = store.result(TINY.replace(c=0.75).config_hash()), store.result(TINY.config_hash())
    pd.testing.assert_frame_equal(a.trace[a.trace.branch == "baseline"], b.trace[b.trace.branch == "baseline"])


@pytest.mark.training
def test_a_failed_run_does_not_sink_the_sweep(store):
    broken = TINY.replace(dataset="cifar10", classes=("cat", "dog"), image_size=32)  # no CIFAR-10 here
    with ThreadPoolExecutor(1) as pool:
        report = run_sweep([broken, TINY], pool, store, show_progress=False)
    assert list(report.failed) == [broken.config_hash()] and "DatasetMissing" in report.failed[broken.config_hash()]
    assert report.done == [TINY.config_hash()]


@pytest.mark.process
@pytest.mark.training
@pytest.mark.slow
def test_dask_and_the_local_pool_give_identical_results(tmp_path, monkeypatch):
    monkeypatch.setenv("EOS_DATA_DIR", str(tmp_path / "data"))
    configs = expand(TINY, [0, 1], {"loss": ["mse", "ce"]})
    tables = {}
    for kind in ("local", "dask"):
        store = Store(tmp_path / kind)
        executor, close = make_executor(kind, workers=2)
        try:
            report = run_sweep(configs, executor, store, show_progress=False)
        finally:
            close()
        assert not report.failed and len(report.done) == 4
        tables[kind] = {c.config_hash(): store.result(c.config_hash()) for c in configs}
    for key, local in tables["local"].items():
        remote = tables["dask"][key]
        for name in ("trace", "groups", "examples"):
            pd.testing.assert_frame_equal(getattr(local, name), getattr(remote, name), check_exact=True)
