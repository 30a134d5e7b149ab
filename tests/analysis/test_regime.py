"""The regime map over constructed runs whose trade-offs are known (see test_tradeoff)."""

import pytest
from test_tradeoff import PATTERN, constructed

from eos_core import cli
from eos_core.analysis.regime import grid, markdown, select, table
from eos_core.runs.store import Store

NONE = dict.fromkeys(PATTERN, 0.02)  # every group behind under EoS: no trade-off


def runs():
    """shirt–tshirt: the paper's pattern in 3 coherent seeds, none under random displacement;
    bag–boot: the pattern in 2 of 3 coherent seeds; a cross-entropy run as a distractor."""
    flipped = {k: -v for k, v in PATTERN.items()}
    out = [constructed(seed=s) for s in range(3)]
    out += [constructed(NONE, seed=s, displacement="random") for s in range(3)]
    out += [constructed(PATTERN if s < 2 else flipped, seed=s, classes=["bag", "boot"]) for s in range(3)]
    out += [constructed(seed=0, loss="ce")]
    return out


def test_cells_hold_each_groups_window_value_and_the_seeds_that_agree():
    frame = select(table(runs()), "pair", "displacement", {"loss": "mse"})
    g = grid(frame, "pair", "displacement")
    assert g.loc["shirt–tshirt", "coherent"].startswith("in -0.") and " io +0.0" in g.loc["shirt–tshirt", "coherent"]
    assert "(3/3)" in g.loc["shirt–tshirt", "coherent"] and g.loc["shirt–tshirt", "coherent"].endswith("✓ pattern 3/3")
    assert g.loc["shirt–tshirt", "random"] == "no trade-off window"
    assert g.loc["bag–boot", "coherent"].endswith("✓ pattern 2/3") and "(2/3)" in g.loc["bag–boot", "coherent"]
    assert g.loc["bag–boot", "random"] == "—"  # never run
    io = frame[(frame.pair == "shirt–tshirt") & (frame.displacement == "coherent") & (frame.group == "input_outlier")]
    assert io.value.iloc[0] > 0 and io.agree.iloc[0] == 3 and (io.u1.iloc[0], io.u2.iloc[0]) == (77, 123)
    md = markdown(g)
    assert md.splitlines()[0] == "| class pair \\ displacement | coherent | random |"


def test_at_the_end_the_transient_trade_off_is_gone():
    frame = select(table(runs(), at="end"), "pair", "displacement", {"loss": "mse"})
    io = frame[(frame.pair == "shirt–tshirt") & (frame.displacement == "coherent") & (frame.group == "input_outlier")]
    assert abs(io.value.iloc[0]) < 1e-9


def test_a_cell_shared_by_two_configurations_keeps_one_and_says_so():
    frame = select(table(runs()), "pair", "displacement")  # loss not fixed: mse and ce share a cell
    assert grid(frame, "pair", "displacement").loc["shirt–tshirt", "coherent"].endswith("(+1 more)")


def test_bad_axes_are_refused():
    with pytest.raises(ValueError, match="unknown axis 'colour'"):
        select(table(runs()), "colour", "loss")
    with pytest.raises(ValueError, match="two different axes"):
        select(table(runs()), "loss", "loss")


def test_the_cli_prints_markdown_or_csv_from_the_store(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EOS_CACHE_DIR", str(tmp_path))
    store = Store()
    for r in runs():
        store.put_result(r)
    store.close()
    assert cli.main(["regime", "--rows", "pair", "--cols", "displacement", "--where", "loss=mse"]) == 0
    out = capsys.readouterr().out
    assert "| shirt–tshirt |" in out and "✓ pattern 3/3" in out and "no trade-off window" in out
    assert cli.main(["regime", "--where", "alpha=3", "--where", "loss=mse", "--format", "csv"]) == 0
    csv = capsys.readouterr().out.splitlines()
    assert csv[0].startswith("family,runs,n_seeds,dataset,pair") and len(csv) == 1 + 3 * 4
    assert cli.main(["regime", "--rows", "colour"]) == 2
    assert "unknown axis 'colour'" in capsys.readouterr().err


def test_the_regime_page_maps_the_stored_runs_and_links_a_cell_to_compare(tmp_path, monkeypatch):
    import json

    from harness import app_test

    store = Store(tmp_path)
    for r in runs():
        store.put_result(r)
    store.close()
    at = app_test(tmp_path, monkeypatch)
    at.query_params.update(rows="pair", cols="displacement", w_loss="mse")
    at.run()
    at.switch_page("app_pages/regime.py").run()
    assert not at.exception
    assert at.title[0].value == "Regime map"
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    spec = json.loads(charts[0].proto.spec)
    cells = dict(zip(zip(spec["data"][0]["y"], spec["data"][0]["x"]), spec["data"][0]["text"]))
    assert cells[("shirt–tshirt", "coherent")].startswith("+0.0") and cells[("shirt–tshirt", "coherent")].endswith(
        "3/3"
    )
    assert cells[("shirt–tshirt", "random")] == "—"  # no window: no value to colour
    table = at.dataframe[0].value
    assert table.loc["shirt–tshirt", "coherent"].endswith("✓ pattern 3/3")
