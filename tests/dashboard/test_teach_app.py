"""The teaching side of the dashboard under Streamlit's AppTest: Glossary, Story, projector mode,
the "What am I looking at?" expanders and the live run at the top of the Experiment page."""

import time

import pytest
from harness import app_test, charts, follow, from_sidebar, switch_to
from streamlit.testing.v1 import AppTest
from synthetic_result import T_STAR, synthetic_result
from tiny import TINY

from dashboard import pages as registry
from dashboard.content.glossary import TERMS
from eos_core.presets import preset
from eos_core.runs import shipped
from eos_core.runs.queue import Queue

RANDOM_DELTA = {"inlier": -0.02, "boundary": -0.03, "input_outlier": -0.01, "output_outlier": -0.04}
COHERENT = preset("teach-selective").config_hash()


@pytest.fixture(scope="module")
def cache(make_cache, tiny_run):
    """The first-launch pair as hand-made results with known numbers, and one real tiny run."""
    return make_cache(
        synthetic_result(),
        synthetic_result("teach-selective-random", delta=RANDOM_DELTA),
        tiny_run(TINY),
        name="teach-cache",
    )


def markdown(at) -> str:
    return "\n".join(m.value for m in at.markdown).replace("\\", "")


# -- Glossary ----------------------------------------------------------------------------------


def test_glossary_lists_every_term_and_finds_one(cache, monkeypatch):
    at = switch_to(app_test(cache, monkeypatch), "app_pages/glossary.py")
    text = markdown(at)
    missing = [t.symbol for t in TERMS.values() if t.symbol not in text]
    assert not missing
    assert "Experiment form fields" in [h.value for h in at.subheader]
    at.text_input(key="glossary_find").set_value("curvature influence").run()
    text = markdown(at)
    assert "(∇ℓ_k·v1)²" in text and "λ2" not in text


# -- Story -------------------------------------------------------------------------------------


def test_story_walks_five_steps_on_the_first_launch_runs(cache, monkeypatch):
    at = switch_to(app_test(cache, monkeypatch), "app_pages/story.py")
    titles = []
    for step in range(5):
        titles.append(at.subheader[0].value)
        assert len(charts(at)) == 3, f"step {step + 1}: the two toys' figures and the step's"
        assert at.query_params["step"] == [str(step + 1)] or at.query_params["step"] == str(step + 1)
        if step < 4:
            next(b for b in at.button if b.label == "next →").click().run()
            assert not at.exception
    assert titles == [
        "1. Progressive sharpening",
        "2. The edge of stability",
        "3. The fork",
        "4. The selective trade-off",
        "5. The random control",
    ]
    assert "The trade-off disappears" in markdown(at)
    assert next(b for b in at.button if b.label == "next →").disabled


def test_story_starts_with_the_toys_and_their_sliders_change_the_regime(tmp_path, monkeypatch):
    """The toys need no run: they come first, and moving η redraws them at once."""
    at = switch_to(app_test(tmp_path / "empty", monkeypatch), "app_pages/story.py")
    assert "The iterates converge." in markdown(at)  # η = 0.15 on the bowl, λ1 = 10: η·λ1 = 1.5
    titles = [c["layout"]["title"]["text"] for c in charts(at)][:2]  # the Story's own step follows
    assert titles == [
        "Gradient descent on ½(λ1x² + λ2y²): η·λ1 = 1.50",
        "The sharpening toy at η = 0.15: λ1 rises, then is held near 2/η",
    ]
    for lr, regime in ((0.2, "The iterates oscillate at the edge."), (0.21, "The iterates diverge.")):
        at.slider(key="toy_lr").set_value(lr).run()
        assert not at.exception
        assert regime in markdown(at)
    assert "η·λ1 = 2.10 > 2: the iterates diverge; after 20 steps |x| grew from 1 to 6.73" in markdown(at)
    at.slider(key="toy_sharp_lr").set_value(0.1).run()
    assert "reaches 2/η = 20 at step 642" in markdown(at)


def test_story_sentences_quote_the_runs(cache, monkeypatch):
    at = switch_to(app_test(cache, monkeypatch, step="4"), "app_pages/story.py")
    text = markdown(at)
    assert at.subheader[0].value == "4. The selective trade-off"
    assert "ahead on output-outliers (+0.03)" in text and "selective trade-off" in text


def test_a_fresh_dashboard_tells_the_whole_story_from_the_shipped_runs_with_no_training(tmp_path, monkeypatch):
    at = switch_to(app_test(tmp_path / "empty", monkeypatch), "app_pages/story.py")
    assert at.subheader[0].value == "1. Progressive sharpening" and len(charts(at)) == 3
    assert at.session_state["story_run"] == preset(shipped.SHIPPED[0]).config_hash()
    queue = Queue(tmp_path / "empty")
    assert queue.jobs() == []  # nothing trains: no worker is needed
    queue.close()


def test_story_without_its_runs_offers_the_shipped_ones_back(tmp_path, monkeypatch):
    at = switch_to(app_test(tmp_path / "empty", monkeypatch), "app_pages/story.py")
    queue = Queue(tmp_path / "empty")
    for name in shipped.SHIPPED:  # a user deleted them
        queue.store.delete_result(preset(name).config_hash())
    queue.close()
    at.switch_page("app_pages/story.py").run()
    assert "teaching runs shipped with EoS Explorer" in " ".join(i.value for i in at.info)
    next(b for b in at.button if b.label == "Restore the shipped runs").click().run()
    assert not at.exception and at.subheader[0].value == "1. Progressive sharpening"


def test_run_it_live_trains_fresh_copies_or_says_why_it_cannot(tmp_path, monkeypatch):
    at = switch_to(app_test(tmp_path / "empty", monkeypatch), "app_pages/story.py")
    next(b for b in at.button if b.label == "Run it live").click().run()
    assert "teach-fashion cannot be trained on this machine" in at.error[0].value  # no Fashion-MNIST here
    queue = Queue(tmp_path / "empty")
    assert queue.jobs() == [] and len(queue.store.result_hashes()) == 2  # nothing lost
    monkeypatch.setattr(shipped, "availability", lambda dataset: (True, ""))
    at.switch_page("app_pages/story.py").run()
    next(b for b in at.button if b.label == "Run it live").click().run()
    assert not at.exception
    assert sorted(j["id"] for j in queue.jobs() if j["state"] == "queued") == sorted(
        preset(name).config_hash() for name in shipped.SHIPPED
    )
    queue.close()


# -- The right run everywhere: the Story's run, then the user's choice, never just the newest ----

STORY_RUN, OLDER = COHERENT, preset("teach-digits").config_hash()  # the tests' first launch, another run


@pytest.fixture(scope="module")
def story_then_control(make_cache):
    """An older run, the Story's run and, finished after it, its random control: the newest run is not
    the one the Story is about (what every first launch leaves)."""
    runs = synthetic_result("teach-digits"), synthetic_result(), synthetic_result("teach-selective-random")
    for finished_at, result in enumerate(runs):
        result.meta["finished_at"] = 1000.0 + finished_at
    return make_cache(*runs, name="story-then-control")


def shown_run(at) -> str:
    """The run a result page shows: its sidebar picker's value, checked against the URL."""
    chosen = at.sidebar.selectbox[0].value
    assert at.query_params["run"] == chosen, (at.query_params, chosen)
    return chosen


def test_a_result_page_opened_fresh_shows_the_storys_run_not_the_newest(story_then_control, monkeypatch):
    at = switch_to(app_test(story_then_control, monkeypatch), "app_pages/sharpness.py")
    assert shown_run(at) == STORY_RUN


def test_branches_opened_fresh_shows_the_storys_runs_family(story_then_control, monkeypatch):
    at = switch_to(app_test(story_then_control, monkeypatch), "app_pages/branches.py")
    assert at.query_params["run"] == STORY_RUN  # the family's origin: the Story's run is its own baseline


def test_a_result_page_reached_from_the_story_shows_the_storys_run(story_then_control, monkeypatch):
    at = switch_to(app_test(story_then_control, monkeypatch), "app_pages/story.py")
    assert shown_run(from_sidebar(at, "app_pages/groups.py")) == STORY_RUN
    story = from_sidebar(at, "app_pages/story.py")
    link = next(link for link in story.page_link if link.proto.query_string)
    assert shown_run(follow(story, link)) == STORY_RUN


def test_the_users_choice_survives_moving_between_result_pages(story_then_control, monkeypatch):
    at = switch_to(app_test(story_then_control, monkeypatch), "app_pages/sharpness.py")
    picker = at.sidebar.selectbox[0]
    picker.select_index(picker.options.index("teach-digits")).run()
    assert shown_run(at) == OLDER
    for page in ("app_pages/groups.py", "app_pages/story.py", "app_pages/alignment.py"):
        from_sidebar(at, page)
    assert shown_run(at) == OLDER


def test_a_run_picked_in_the_story_is_the_one_result_pages_open_on(story_then_control, monkeypatch):
    at = switch_to(app_test(story_then_control, monkeypatch), "app_pages/story.py")
    picker = at.selectbox(key="story_run")
    picker.select_index(picker.options.index("teach-digits")).run()
    assert shown_run(from_sidebar(at, "app_pages/sharpness.py")) == OLDER


# -- Projector mode ----------------------------------------------------------------------------


def _sizes(spec):
    layout = spec["layout"]
    ticks = [layout[a]["tickfont"]["size"] for a in layout if a.startswith(("xaxis", "yaxis"))]
    widths = [t["line"]["width"] for t in spec["data"] if t.get("line", {}).get("width") not in (None, 0)]
    return ticks, layout["title"]["font"]["size"], widths


def test_projector_mode_from_the_link_restyles_every_figure(cache, monkeypatch):
    at = app_test(cache, monkeypatch, projector="1", run=COHERENT)
    at.run()
    assert at.sidebar.toggle(key="projector").value is True
    assert any("font-size: 18px" in h.proto.body for h in at.get("html"))  # captions ≥ 18 px
    for page in ("app_pages/sharpness.py", "app_pages/groups.py"):
        at.switch_page(page).run()
        assert not at.exception
        assert at.query_params["projector"] == "1"
        for spec in charts(at):
            ticks, title, widths = _sizes(spec)
            assert ticks and min(ticks) >= 16 and title >= 22 and widths and min(widths) >= 3
            assert all(s["line"]["width"] >= 3 for s in spec["layout"].get("shapes", []))


def _toggle_script():
    import streamlit as st

    from dashboard.teach import projector_toggle

    st.write(f"projector on: {projector_toggle()}")


def test_projector_toggle_writes_the_link_and_clears_it():
    at = AppTest.from_function(_toggle_script)
    at.run()
    assert "projector" not in at.query_params and not at.get("html")
    at.sidebar.toggle(key="projector").set_value(True).run()
    assert at.query_params["projector"] == "1" and at.get("html")
    at.sidebar.toggle(key="projector").set_value(False).run()
    assert "projector" not in at.query_params and not at.get("html")
    assert at.markdown[-1].value == "projector on: False"


def test_projector_mode_off_leaves_figures_alone(cache, monkeypatch):
    at = switch_to(app_test(cache, monkeypatch, run=COHERENT), "app_pages/sharpness.py")
    assert all("tickfont" not in spec["layout"].get("xaxis", {}) for spec in charts(at))


# -- What am I looking at? ---------------------------------------------------------------------


@pytest.mark.parametrize("page", [registry.page(key).file for key in [*registry.RESULT_PAGES, "experiment"]])
def test_every_page_has_the_explainer(cache, monkeypatch, page):
    at = switch_to(app_test(cache, monkeypatch, run=TINY.config_hash()), page)
    assert "What am I looking at?" in [e.label for e in at.expander]


def test_explainers_read_the_selected_run(cache, monkeypatch):
    at = switch_to(app_test(cache, monkeypatch, run=COHERENT), "app_pages/sharpness.py")
    assert f"crossed 0.9·2/η = 45 at step {T_STAR}" in markdown(at)
    at.switch_page("app_pages/groups.py").run()
    assert "behind on inliers (−0.02), boundary points (−0.01) and input-outliers (−0.2)" in markdown(at)


# -- First launch: the live run on top ---------------------------------------------------------


def test_live_run_is_first_on_the_experiment_page(tmp_path, monkeypatch):
    cfg = preset("teach-selective")
    queue = Queue(tmp_path / "live")
    queue.submit(cfg)
    queue.update_job(
        cfg.config_hash(),
        state="running",
        started=time.time(),
        step=56,
        phase="eos",
        branch="baseline",
        heartbeat=time.time(),
    )
    partial = synthetic_result(upto=8)  # baseline steps 0…56: forked at 48
    clock = [
        ["baseline", int(s), "eos" if s >= T_STAR else "sharpening", time.time() - 60 + s / 8]
        for s in partial.trace.step
    ]
    queue.put_live(
        cfg.config_hash(),
        {"trace": partial.trace.to_dict("records"), "groups": partial.groups.to_dict("records"), "clock": clock},
    )
    queue.close()
    at = app_test(tmp_path / "live", monkeypatch)
    at.run()
    assert not at.exception, at.exception
    assert at.subheader[0].value == "Runs in progress"
    sharp = charts(at)[0]
    assert sharp["layout"]["xaxis"]["range"] == [0, cfg.steps]
    top = sharp["layout"]["yaxis"]["range"][1]
    assert 50 < top < 200  # above 2/η = 50, not squashed by 2/(c·η) = 200
    levels = [s["y0"] for s in sharp["layout"]["shapes"] if s.get("y0") == s.get("y1")]
    assert levels == [pytest.approx(50)]
    assert [s["x0"] for s in sharp["layout"]["shapes"] if s.get("x0") == s.get("x1")] == [T_STAR]
    progress = at.get("progress")[0].proto.text
    assert "left (baseline 424 + exit 432 steps" in progress
    assert "crossed 0.9·2/η = 45 at step 48" in markdown(at)


def test_every_form_control_has_help(cache, monkeypatch):
    at = app_test(cache, monkeypatch)
    at.run()
    controls = [
        w
        for kind in ("selectbox", "number_input", "slider", "radio", "text_input")
        for w in at.get(kind)
        if str(getattr(w, "key", "")).startswith("form_")
    ]
    assert len(controls) >= 19
    assert all(w.help and len(w.help) > 10 for w in controls), [w.key for w in controls if not w.help]
