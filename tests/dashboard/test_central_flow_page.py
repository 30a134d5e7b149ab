"""The Group losses page with a run that integrated the central flow: prediction against measurement."""

import pytest
from harness import app_test, charts, switch_to
from tiny import TINY

# progressive sharpening, then EoS at 2/η = 20 from t* = 60: the flow has rows to draw
CENTRAL = TINY.replace(
    dtype="float64", init_scale=0.5, lr=0.1, steps=100, log_every=10, example_every=10, onset_fraction=0.9
).replace(flows=("central",))


@pytest.mark.training
def test_group_losses_page_draws_the_central_flow_against_the_measured_losses(make_cache, tiny_run, monkeypatch):
    app = app_test(make_cache(tiny_run(CENTRAL)), monkeypatch, CENTRAL.config_hash())
    switch_to(app, "app_pages/groups.py")
    assert any("Central flow" in h.value for h in app.subheader)
    titles = [c["layout"]["title"]["text"] for c in charts(app)]
    assert any("central flow" in t for t in titles)
    assert any("median_relative_error" in str(df.value.columns.tolist()) for df in app.dataframe)
