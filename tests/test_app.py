"""Every page under Streamlit's AppTest, against fixture results in a temporary cache."""
import json
import os
import subprocess
import sys

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from eos_core.experiment import run_experiment
from eos_core.presets import FIRST_LAUNCH, preset
from eos_core.store import Store
from tiny import TINY

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ["pages/sharpness.py", "pages/groups.py", "pages/alignment.py", "pages/outliers.py",
         "pages/prototypes.py", "pages/compare.py", "pages/report.py", "pages/runs.py"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cache")
    store = Store(folder)
    for cfg in (TINY, TINY.replace(seed=1), TINY.replace(displacement="random")):
        store.put_result(run_experiment(cfg))
    store.close()
    return folder


@pytest.fixture
def app(cache, monkeypatch):
    monkeypatch.setenv("EOS_CACHE_DIR", str(cache))
    monkeypatch.setenv("EOS_AUTOSTART_WORKER", "0")
    monkeypatch.chdir(ROOT)
    st.cache_resource.clear()
    at = AppTest.from_file(os.path.join(ROOT, "app.py"), default_timeout=60)
    at.query_params["run"] = TINY.config_hash()
    return at


def charts(at):
    return [json.loads(el.proto.spec) for el in at.get("plotly_chart")]


def test_experiment_page_shows_the_form_and_presets(app):
    app.run()
    assert not app.exception
    assert "Edge of stability" in app.title[0].value
    assert any(b.label == "Run experiment" for b in app.button)
    assert {"teach-digits", "paper-mlp-mse"} <= {b.label for b in app.button}


def test_first_launch_queues_the_teaching_presets_and_fills_the_form(tmp_path, monkeypatch):
    monkeypatch.setenv("EOS_CACHE_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("EOS_AUTOSTART_WORKER", "0")
    monkeypatch.chdir(ROOT)
    st.cache_resource.clear()
    at = AppTest.from_file(os.path.join(ROOT, "app.py"), default_timeout=60)
    at.run()
    assert not at.exception
    store = Store(tmp_path / "empty")
    queued = [j["id"] for j in store.jobs() if j["state"] == "queued"]
    store.close()
    assert queued == [preset(name).config_hash() for name in FIRST_LAUNCH]
    assert at.session_state["form_base"] == preset("teach-selective")
    st.cache_resource.clear()


def test_preset_button_fills_the_form(app):
    app.run()
    next(b for b in app.button if b.label == "synthetic-mini").click().run()
    assert app.session_state["form_dataset"] == "synthetic" and app.session_state["form_lr"] == 0.02


def test_invalid_value_is_shown_next_to_its_field(app):
    app.run()
    app.text_input(key="form_seeds").set_value("zero")
    next(b for b in app.button if b.label == "Run experiment").click().run()
    assert not app.exception
    assert any("seeds='zero' is invalid" in e.value for e in app.error)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_exceptions(app, page):
    app.run()
    app.switch_page(page).run()
    assert not app.exception, app.exception
    if page != "pages/runs.py":
        assert charts(app), f"{page} drew no chart"


def test_sharpness_page_draws_the_thresholds(app):
    app.run()
    app.switch_page("pages/sharpness.py").run()
    spec = charts(app)[0]
    ys = sorted(s["y0"] for s in spec["layout"]["shapes"] if s.get("y0") == s.get("y1"))
    assert ys == pytest.approx(sorted([2 / TINY.lr, 2 / (TINY.c * TINY.lr)]))
    assert app.query_params["x"] == "step"


def test_seed_median_view_from_the_link(app):
    app.query_params["seeds"] = "all"
    app.run()
    app.switch_page("pages/groups.py").run()
    assert not app.exception
    spec = charts(app)[0]
    assert any(t.get("fill") == "toself" for t in spec["data"])


def test_malformed_link_gives_a_message_not_a_traceback(app):
    app.query_params["run"] = "not-a-run"
    app.query_params["x"] = "sideways"
    app.run()
    app.switch_page("pages/sharpness.py").run()
    assert not app.exception
    warnings = " ".join(w.value for w in app.warning)
    assert "not in this cache" in warnings and "sideways" in warnings


def test_the_ui_process_never_imports_torch(cache):
    code = (
        "import sys; sys.path.insert(0, '.');"
        "import dashboard.state, dashboard.form, dashboard.status, dashboard.widgets;"
        "import eos_core.plots, eos_core.views, eos_core.store, eos_core.worker, eos_core.presets, eos_core.sweep;"
        "from streamlit.testing.v1 import AppTest;"
        "at = AppTest.from_file('app.py', default_timeout=60); at.run();"
        "[at.switch_page(p).run() for p in %r];"
        "print('torch' in sys.modules, any(m.startswith('torch') for m in sys.modules))" % PAGES)
    env = {**os.environ, "EOS_AUTOSTART_WORKER": "0", "EOS_CACHE_DIR": str(cache)}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False False"
