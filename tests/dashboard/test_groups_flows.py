"""The Group losses page with a run that integrated the gradient flow, and with one that did not."""

import pytest
from harness import app_test, charts, switch_to
from tiny import TINY

pytestmark = pytest.mark.training

FLOWING = TINY.replace(flows=("gradient",))


@pytest.fixture(scope="module")
def cache(make_cache, tiny_run):
    return make_cache(tiny_run(FLOWING), tiny_run(TINY))


def _names(spec: dict) -> list[str]:
    return [t.get("name") or "" for t in spec["data"]]


def test_the_flow_is_drawn_against_eos_with_the_branch_distances(cache, monkeypatch):
    at = switch_to(app_test(cache, monkeypatch, FLOWING.config_hash()), "app_pages/groups.py")
    specs = {spec["layout"]["title"]["text"]: spec for spec in charts(at)}
    delta = next(s for title, s in specs.items() if title.startswith("Δℓ_k (equal time)"))
    assert sum(name.endswith("gradient flow − EoS") for name in _names(delta)) == 4
    distance = next(s for title, s in specs.items() if title.startswith("How far each branch"))
    assert {"exit (c·η)", "gradient flow"} <= set(_names(distance))
    assert any(title.startswith("Output distance to the EoS branch per group") for title in specs)
    assert any("estimated error in θ" in c.value for c in at.caption)


def test_a_run_without_flows_shows_its_distances_and_no_flow(cache, monkeypatch):
    at = switch_to(app_test(cache, monkeypatch, TINY.config_hash()), "app_pages/groups.py")
    names = [name for spec in charts(at) for name in _names(spec)]
    assert not any("gradient flow" in name for name in names)
    assert any(spec["layout"]["title"]["text"].startswith("How far each branch") for spec in charts(at))
