"""The Alignment page shows the evidence behind a failing claim: group shares from the engine and
C3's coherent/random comparison with the data-subspace energy, for a run whose twin is stored."""

import base64

import numpy as np
import pytest
from harness import app_test, charts, switch_to
from tiny import TINY

from dashboard.content.plots import EVIDENCE_MEASURES, GROUP_LABELS
from eos_core.analysis.mechanism import group_evidence


def values(array) -> np.ndarray:
    """A Plotly JSON array: a list, or a typed array {dtype, bdata (base64)}."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
    return np.asarray(array, dtype=float)


@pytest.fixture(scope="module")
def stored(make_cache, tiny_run):
    results = [tiny_run(cfg) for cfg in (TINY, TINY.replace(displacement="random"))]
    return make_cache(*results), results[0]


def test_alignment_page_shows_group_shares_and_the_c3_comparison(stored, monkeypatch):
    folder, result = stored
    at = switch_to(app_test(folder, monkeypatch, TINY.config_hash()), "app_pages/alignment.py")
    bars = next(c for c in charts(at) if c["data"][0]["type"] == "bar")
    want = group_evidence(result)
    for trace in bars["data"]:
        group = {label: g for g, label in GROUP_LABELS.items()}[trace["name"]]
        np.testing.assert_allclose(values(trace["y"]), want.loc[group, list(EVIDENCE_MEASURES)].to_numpy(dtype=float))
    text = " ".join(el.value for el in at.text)
    assert "median input-outlier (∇ℓ·v1)² on the EoS branch from t*" in text
    assert "%-variance subspace (rank" in text
