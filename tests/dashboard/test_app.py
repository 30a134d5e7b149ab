"""Every page under Streamlit's AppTest, against fixture results in a temporary cache."""

import os
import shutil

import pytest
import streamlit as st
from harness import app_test, charts, damaged_cache, first_launch_of, python, switch_to
from tiny import TINY

from dashboard import pages as registry
from eos_core.presets import first_launch, preset
from eos_core.runs import shipped
from eos_core.runs.queue import Queue
from eos_core.runs.store import Store

NO_TSS = TINY.replace(seed=7)  # stored as a run whose exit branch never reached its threshold
PAGES = [registry.page(key).file for key in registry.RESULT_PAGES]  # every page that shows a run


@pytest.fixture(scope="module")
def cache(make_cache, tiny_run):
    runs = [tiny_run(cfg) for cfg in (TINY, TINY.replace(seed=1), TINY.replace(displacement="random"))]
    return make_cache(*runs, without_t_star_star(tiny_run(TINY), NO_TSS))


@pytest.fixture
def app(cache, monkeypatch):
    return app_test(cache, monkeypatch, TINY.config_hash())


def without_t_star_star(result, cfg):
    """`result` relabelled as `cfg`, finished without t** (what a short exit branch gives)."""
    result.meta.update(
        config=cfg.to_dict(),
        config_hash=cfg.config_hash(),
        t_star_star=None,
        finished_at=0.0,
        message="the exit branch did not reach its threshold f·2/(c·η) within the budget (no t**)",
    )
    return result


def test_experiment_page_shows_the_form_and_presets(app):
    app.run()
    assert not app.exception
    assert "Edge of stability" in app.title[0].value
    assert any(b.label == "Run experiment" for b in app.button)
    assert {"teach-digits", "paper-mlp-mse"} <= {b.label for b in app.button}


def test_first_launch_stores_the_shipped_runs_and_fills_the_form_with_a_trainable_preset(tmp_path, monkeypatch):
    at, queued = first_launch_of(tmp_path / "empty", monkeypatch)
    assert not at.exception
    assert queued == []
    store = Store(tmp_path / "empty")
    assert sorted(store.result_hashes()) == sorted(preset(name).config_hash() for name in shipped.SHIPPED)
    store.close()
    assert at.session_state["form_base"] == preset(first_launch()[0]) == preset("teach-selective")
    st.cache_resource.clear()


def test_preset_button_fills_the_form(app):
    app.run()
    next(b for b in app.button if b.label == "synthetic-mini").click().run()
    assert app.session_state["form_dataset"] == "synthetic" and app.session_state["form_lr"] == 0.02


def test_the_form_keeps_its_values_across_a_visit_to_another_page(tmp_path, monkeypatch):
    """Streamlit drops the state of widgets a run did not draw: leaving the Experiment page and coming
    back used to raise (form_dataset missing) instead of showing the form as it was left."""
    at = app_test(tmp_path / "cache", monkeypatch)
    at.run()
    next(b for b in at.button if b.label == "synthetic-mini").click().run()  # η = 0.02; the default's is 0.04
    at.switch_page("app_pages/glossary.py").run()
    at.switch_page("app_pages/experiment.py").run()
    assert not at.exception
    assert at.session_state["form_dataset"] == "synthetic" and at.number_input(key="form_lr").value == 0.02


def test_invalid_value_is_shown_next_to_its_field(app):
    app.run()
    app.text_input(key="form_seeds").set_value("zero")
    next(b for b in app.button if b.label == "Run experiment").click().run()
    assert not app.exception
    assert any("Seeds = zero" in e.value for e in app.error)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_exceptions_and_tells_each_figure_in_words(app, page):
    switch_to(app, page)
    if page == "app_pages/valley.py":  # these runs stored no valley slices: the page says how to get them
        assert any("valley_every" in i.value for i in app.info) and not charts(app)
    elif page != "app_pages/runs.py":
        assert charts(app), f"{page} drew no chart"
    in_words = [e for e in app.expander if e.label == "The figure in words"]
    assert len(in_words) == len(charts(app)), "every figure has its text alternative"
    assert all(e.caption and any(ch.isdigit() for ch in e.caption[0].value) for e in in_words)


def test_sharpness_page_draws_the_thresholds(app):
    app.run()
    app.switch_page("app_pages/sharpness.py").run()
    spec = charts(app)[0]
    ys = sorted(s["y0"] for s in spec["layout"]["shapes"] if s.get("y0") == s.get("y1"))
    assert ys == pytest.approx(sorted([2 / TINY.lr, 2 / (TINY.c * TINY.lr)]))
    assert app.query_params["x"] == "step"


def test_seed_median_view_from_the_link(app):
    app.query_params["seeds"] = "all"
    app.run()
    app.switch_page("app_pages/groups.py").run()
    assert not app.exception
    spec = charts(app)[0]
    assert any(t.get("fill") == "toself" for t in spec["data"])


def test_malformed_link_gives_a_message_not_a_traceback(app):
    app.query_params["run"] = "not-a-run"
    app.query_params["x"] = "sideways"
    app.run()
    app.switch_page("app_pages/sharpness.py").run()
    assert not app.exception
    warnings = " ".join(w.value for w in app.warning)
    assert "not in this cache" in warnings and "` sideways `" in warnings


@pytest.mark.process
def test_the_ui_process_never_imports_torch(cache):
    code = (
        "import sys; sys.path.insert(0, '.');"
        "import dashboard.state, dashboard.form, dashboard.status, dashboard.widgets;"
        "import dashboard.content.plots, dashboard.content.series, eos_core.runs.store, eos_core.runs.worker, eos_core.presets, eos_core.runs.sweep;"
        "import eos_core.runs.queue, eos_core.runs.keys, eos_core.runs.disk, eos_core.runs.repair;"
        "from streamlit.testing.v1 import AppTest;"
        "at = AppTest.from_file('dashboard/app.py', default_timeout=60); at.run();"
        "[at.switch_page(p).run() for p in %r];"
        "print('torch' in sys.modules, any(m.startswith('torch') for m in sys.modules))" % PAGES
    )
    env = {**os.environ, "EOS_AUTOSTART_WORKER": "0", "EOS_CACHE_DIR": str(cache)}
    done = python(code, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False False"


# -- issue 9 §1: each defect as found, then fixed ------------------------------------------------


def test_show_this_run_opens_the_run_of_its_panel_not_the_newest(app):
    queue = Queue(os.environ["EOS_CACHE_DIR"])
    queue.submit(TINY)  # stored already: a done job, older than the random-displacement run
    queue.close()
    del app.query_params["run"]
    app.session_state["watching"] = [TINY.config_hash()]
    app.run()
    app.button(key=f"open-{TINY.config_hash()}").click().run()
    assert not app.exception
    assert app.selectbox[0].value == TINY.config_hash()
    assert app.query_params["run"] == TINY.config_hash()


def test_prototypes_of_synthetic_data_use_its_display_range_and_marking_is_a_toggle(app):
    app.run()
    app.switch_page("app_pages/prototypes.py").run()
    assert not app.exception
    lines = {m.value.split("**")[1]: m.value for m in app.markdown if m.value.startswith("**")}
    assert "— 0% of values outside [-5, 5]" in lines["inliers"], lines
    toggle = next(t for t in app.toggle if "magenta" in t.label)
    toggle.set_value(False).run()
    assert app.query_params["mark"] == "0"


def test_a_refusal_in_the_advanced_section_is_visible_above_the_run_button(app):
    app.run()
    app.number_input(key="form_m").set_value(500)
    next(b for b in app.button if b.label == "Run experiment").click().run()
    assert not app.exception
    summary = [e.value for e in app.error if e.value.startswith("Not queued")]
    assert summary and "m (prototypes per class and group) = 500" in summary[0]
    assert next(e for e in app.expander if e.label == "Advanced").proto.expanded


def test_a_run_too_big_for_this_machine_is_refused_on_the_form_with_the_estimate(app, monkeypatch):
    monkeypatch.setattr("eos_core.resources.available_bytes", lambda device: 10**6)  # 1 MB free
    app.run()
    next(b for b in app.button if b.label == "Run experiment").click().run()
    assert not app.exception
    summary = [e.value for e in app.error if e.value.startswith("Not queued")]
    assert summary and "this run needs an estimated" in summary[0] and "has 1 MB available" in summary[0]


def test_changing_the_class_pair_clamps_examples_per_class(app):
    app.run()
    next(b for b in app.button if b.label == "teach-digits").click().run()
    assert app.session_state["form_n_per_class"] == 300
    app.selectbox(key="form_class_a").select_index(3).run()  # "3 · three": labels carry the names
    app.selectbox(key="form_class_b").select_index(8).run()
    assert app.session_state["form_n_per_class"] == 135  # digits 3 has 135 training examples
    next(b for b in app.button if b.label == "Run experiment").click().run()
    assert not [e.value for e in app.error if e.value.startswith("Not queued")]


def test_cifar_without_its_files_is_refused_on_the_form(app, tmp_path, monkeypatch):
    monkeypatch.setenv("EOS_DATA_DIR", str(tmp_path / "nodata"))
    app.run()
    next(b for b in app.button if b.label == "paper-mlp-mse").click().run()
    messages = " ".join(e.value for e in app.error)
    assert str((tmp_path / "nodata" / "cifar-10-batches-bin").resolve()) in messages
    assert "python -m eos_core data --download cifar10" in messages
    assert next(b for b in app.button if b.label == "Run experiment").disabled


def test_failure_messages_are_shown_whole(app):
    message = "DatasetMissing: CIFAR-10 not found: expected its binary distribution in /data/cifar-10-batches-bin"
    queue = Queue(os.environ["EOS_CACHE_DIR"])
    job = queue.submit(TINY.replace(seed=9))
    queue.update_job(job["id"], state="failed", error=message)
    queue.close()
    app.run()
    app.switch_page("app_pages/runs.py").run()
    assert not app.exception
    assert any(c.value == message for c in app.code)


def test_a_run_without_t_star_star_is_not_shown_as_done(app):
    queue = Queue(os.environ["EOS_CACHE_DIR"])
    queue.submit(NO_TSS)
    queue.close()
    app.session_state["watching"] = [NO_TSS.config_hash()]
    app.run()
    assert not any(NO_TSS.config_hash()[:8] in s.value for s in app.success)
    assert any("no t**" in w.value and NO_TSS.config_hash()[:8] in w.value for w in app.warning)
    app.switch_page("app_pages/runs.py").run()
    table = app.dataframe[0].value.set_index("id")
    assert table.state[NO_TSS.config_hash()] == "finished, no t**"


def test_the_decomposition_coefficients_are_not_called_alpha(app):
    app.run()
    app.switch_page("app_pages/report.py").run()
    titles = [c["layout"]["title"]["text"] for c in charts(app)]
    assert any("a_S/b_S" in t for t in titles) and not any("α/β" in t for t in titles)


# -- issue 10: links are untrusted text ------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "[Session expired](https://evil.example)",
        "![b](http://127.0.0.1:9/t.png)",
        "<img src=x onerror=alert(1)>",
        "``x``",
    ],
)
def test_link_text_is_echoed_only_as_a_code_span(app, value):
    app.query_params["x"] = value
    app.run()
    app.switch_page("app_pages/sharpness.py").run()
    warning = next(w.value for w in app.warning if "x=" in w.value)
    fence = warning.split("x=", 1)[1].split(" ", 1)[0]
    assert set(fence) == {"`"} and f"{fence} {value} {fence}" in warning


@pytest.mark.parametrize("step", ["²", "9" * 5000, "-1", "7.5", "12345"])
def test_malformed_outlier_step_warns_and_falls_back(app, step):
    app.query_params["step"] = step
    app.run()
    app.switch_page("app_pages/outliers.py").run()
    assert not app.exception
    warning = next(w.value for w in app.warning if "step=" in w.value)
    assert len(warning) < 400
    assert app.query_params["step"] != step


@pytest.mark.parametrize("params", [{"a": ""}, {"b": ""}, {"a": "nope", "b": "[x](http://e)"}, {"runs": ",,,"}])
def test_malformed_compare_selection_warns_and_falls_back(app, params):
    for key, value in params.items():
        app.query_params[key] = value
    app.run()
    app.switch_page("app_pages/compare.py").run()
    assert not app.exception
    assert app.warning and charts(app)


def test_a_damaged_cache_gives_one_message_not_an_exception(tmp_path, monkeypatch):
    """(AppTest runs other pages without app.py; test_e2e_views checks every page in a browser.)"""
    folder = damaged_cache(tmp_path / "damaged")
    at = app_test(folder, monkeypatch)
    at.run()
    assert not at.exception, at.exception
    assert any("is damaged" in e.value and str(folder.resolve()) in e.value for e in at.error)
    st.cache_resource.clear()


def test_a_result_meta_without_its_config_is_skipped_with_a_warning(cache, tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    shutil.copytree(cache, folder)
    store = Store(folder)
    store.cache.set("meta/0123456789abcdef0123", '{"config_hash": "0123456789abcdef0123", "status": "done"}')
    store.close()
    for page in ("app_pages/sharpness.py", "app_pages/compare.py", "app_pages/runs.py"):
        at = app_test(folder, monkeypatch)
        at.run()
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        assert any("no readable configuration" in w.value for w in at.warning), page
    st.cache_resource.clear()
