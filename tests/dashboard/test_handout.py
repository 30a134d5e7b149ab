"""The Story to hand out (dashboard/content/handout.py): one HTML file holding every step's text and
figure, the run's settings, the tracked examples as PNG data URIs, each figure's words, plotly.js
once and nothing that reaches the network; a run still training is said so at the top. Checked on
hand-made results whose numbers are known (synthetic_result), without training."""

import base64
import datetime
import html
import io
import re

import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image
from plotly.offline import get_plotlyjs
from synthetic_result import synthetic_result, with_prototypes

from dashboard.content import figure_text, handout, story, toy, toy_plots
from eos_core.groups import GROUPS
from eos_core.presets import preset

NAME = "teach-selective"
EXPORTED = datetime.datetime(2025, 3, 14, 9, 26)
IMAGES = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)"')


@pytest.fixture(scope="module")
def pair():
    return with_prototypes(synthetic_result(NAME, per_group=20)), synthetic_result("teach-selective-random")


@pytest.fixture(scope="module")
def page(pair):
    return handout.story_html(*pair, NAME, exported=EXPORTED)


def outside_plotlyjs(page: str) -> str:
    """The file without its embedded plotly.js bundle (which names URLs it never fetches here)."""
    bundle = get_plotlyjs()
    assert page.count(bundle) == 1
    return page.replace(bundle, "")


def test_the_file_holds_every_steps_title_and_sentences(pair, page):
    steps = story.steps(*pair)
    for i, step in enumerate(steps, start=1):
        assert f"<h2>{i}. {html.escape(step.title)}</h2>" in page
        for sentence in step.sentences:
            assert html.escape(sentence) in page, sentence
    assert html.escape(story.REAL_IMAGES) in page
    assert f"<h1>The edge of stability, step by step: {NAME}</h1>" in page
    assert "Exported 2025-03-14 09:26 by EoS Explorer 0.1.0" in page


def test_the_file_holds_the_runs_settings(pair, page):
    config = pair[0].meta["config"]
    rows = dict(re.findall(r"<td><code>(\w+)</code></td><td>([^<]*)</td>", page))
    assert set(rows) == set(config)
    assert rows["lr"] == "0.04" and rows["c"] == "0.25" and rows["displacement"] == "coherent"
    assert rows["classes"] == ", ".join(config["classes"])
    assert "t* = 48, t** = 272" in page  # synthetic_result's T_STAR and T_STAR_STAR


def test_plotly_js_is_embedded_once_and_every_figure_drawn_from_it(page):
    rest = outside_plotlyjs(page)
    assert rest.count("<script") == 1 + 7  # the bundle's own tag, then one per figure
    assert rest.count("Plotly.newPlot(") == 7  # two toys and the five steps' figures
    assert "<script src" not in rest and "mathjax" not in rest.lower()


def test_nothing_in_the_file_points_outside_it(page):
    rest = outside_plotlyjs(page)
    assert "http://" not in rest and "https://" not in rest and "//cdn" not in rest
    sources = re.findall(r'(?:src|href)="([^"]*)"', rest)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)


def expected_image(pixels: np.ndarray, low: float = -5.0, high: float = 5.0) -> np.ndarray:
    """The image as the Prototypes page shows it, computed here on its own: values mapped linearly from
    [low, high] to 0–255, a pixel with any channel outside painted magenta (255, 0, 255)."""
    image = pixels.transpose(1, 2, 0)
    shown = np.round(np.clip((image - low) / (high - low), 0, 1) * 255)
    shown[((image < low) | (image > high)).any(axis=2)] = (255, 0, 255)
    return shown.astype(np.uint8)


def test_the_tracked_examples_are_png_data_uris_of_their_pixels(pair, page):
    result = pair[0]
    index, pixels = result.per_example["prototype_index"], result.per_example["prototype_pixels"]
    found, magenta = IMAGES.findall(page), []
    assert len(found) == len(GROUPS) * handout.IMAGES_PER_GROUP  # 20 per group stored, 16 shown
    for encoded, alt in (found[0], found[-1]):
        number = int(alt.rsplit("#", 1)[1])
        decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(encoded))))
        expected = expected_image(pixels[list(index).index(number)])
        assert decoded.shape == (6, 5, 3)
        np.testing.assert_array_equal(decoded, expected)  # PNG is lossless: every pixel exact
        magenta += list((decoded == (255, 0, 255)).all(axis=2).ravel())
    assert any(magenta) and not all(magenta)  # both cases exercised: values inside and outside the range
    assert found[0][1].startswith("inliers #") and found[-1][1].startswith("output-outliers #")


def test_a_result_without_images_says_so(pair):
    page = handout.story_html(synthetic_result(), pair[1], NAME, exported=EXPORTED)
    assert "This result stored no images of its tracked examples." in page and "<img" not in page


def test_every_figure_carries_its_words_as_caption_and_aria_label(pair, page):
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", page)
    labels = re.findall(r'<div class="plot" role="img" aria-label="([^"]*)">', page)
    assert len(captions) == len(labels) == 7 and captions == labels
    lr = toy.BOWL_LR[2]
    bowl = toy.quadratic_path(*toy.BOWL, lr, toy.BOWL_START)
    assert captions[0] == html.escape(toy_plots.describe_quadratic(bowl, *toy.BOWL, lr))
    sharpening = toy.sharpening_run(toy.SHARPENING_LR[2])
    assert captions[1] == html.escape(toy_plots.describe_sharpening(sharpening))
    # step 3's figure, from synthetic_result's construction: the baseline's λ1 = 5 + 0.85·step to 45 at
    # t* = 48, then 45/49 to step 480; the exit's 45.8 + 0.6·(step − 48) from 45.8 to 305 at step 480
    assert captions[4] == html.escape(
        "At t* the run forks: EoS keeps η, the exit branch takes c·η. "
        "Against step: λ1 EoS (η): 61 points from 5 to 49, last 45 at 480; "
        "λ1 exit (c·η): 55 points from 45.8 to 305, last 305 at 480. "
        "Marked: 2/η at sharpness 50, 2/(c·η) at sharpness 200, t* at step 48, t** at step 272."
    )


def test_the_generic_description_quotes_each_curves_numbers():
    fig = go.Figure(
        [
            go.Scatter(x=[0, 1, 2, 3], y=[2.0, -1.5, np.nan, 0.25], name="loss"),
            go.Scatter(x=[0, 1, 1, 0], y=[0, 0, 1, 1], fill="toself", name="band"),  # a band: its curve speaks
            go.Scatter(x=[0, 1], y=[None, None], name="empty"),
        ]
    )
    fig.add_hline(y=1.5, annotation_text="limit")
    fig.add_vline(x=2, annotation_text="t*")
    fig.update_layout(title="A test", xaxis_title="step", yaxis_title="value")
    assert figure_text.describe_figure(fig) == (
        "A test. Against step: loss: 3 points from -1.5 to 2, last 0.25 at 3. Marked: limit at value 1.5, t* at step 2."
    )
    assert figure_text.describe_figure(go.Figure()) == "A figure. No curve has data."


def in_progress(*training, control=None):
    return handout.story_html(synthetic_result(), control, NAME, list(training), exported=EXPORTED)


def test_a_run_still_training_is_said_at_the_top_and_what_exists_is_exported():
    running = handout.Training("run", NAME, 320, 480, "exit")
    page = in_progress(running, control=synthetic_result("teach-selective-random"))
    notice = (
        f"{NAME} was still in progress at step 320 of 480 (exit branch) when this file was exported; "
        "this file shows what existed then."
    )
    assert html.escape(notice) in page
    assert page.index('class="notice"') < page.index("<h2>The run and its settings</h2>")
    assert all(f"{i}. {html.escape(t)}</h2>" in page for i, t in enumerate(story.TITLES, start=1))


def test_a_control_still_training_is_said_at_the_top_and_in_its_step():
    page = in_progress(handout.Training("control", "teach-selective-random", 96, 480))
    assert html.escape("teach-selective-random was still in progress at step 96 of 480 (baseline branch)") in page
    step5 = page[page.index("5. The random control") :]
    assert "The control run, teach-selective-random, was still training (step 96 of 480)" in step5
    assert "The control run is missing" not in page
    assert page.count("Plotly.newPlot(") == 6  # the toys and four steps: the control has no figure yet


def test_a_control_not_stored_is_said_at_the_top(pair):
    page = in_progress()
    assert "The random-displacement control was not in the cache when this file was exported" in page
    assert "The control run is missing: run teach-selective-random" in page  # step 5 says how to make it
    finished = handout.story_html(*pair, NAME, exported=EXPORTED)
    assert 'class="notice"' not in finished


def test_the_file_name_keeps_the_runs_name_readable():
    assert handout.file_name("teach-selective · c=0.5 · seed 2") == "story-teach-selective-c=0.5-seed-2.html"
    assert handout.file_name("synthetic-mini · η=0.05") == "story-synthetic-mini-η=0.05.html"
    assert handout.file_name("../../etc/passwd") == "story-etc-passwd.html"
    assert handout.file_name("···") == "story-run.html"


def test_the_page_finds_the_story_runs_still_training(queue, monkeypatch):
    """The page's lookup (dashboard.status): the control's job queued, the run's job finished."""
    from dashboard import status

    monkeypatch.setattr(status, "get_queue", lambda: queue)
    coherent, random = preset("teach-selective"), preset("teach-selective-random")
    meta = {"config": coherent.to_dict(), "config_hash": coherent.config_hash()}
    assert status.story_in_progress(meta) == []
    queue.submit(random)
    assert status.story_in_progress(meta) == [handout.Training("control", "teach-selective-random", 0, random.steps)]
    queue.submit(coherent)
    assert [t.role for t in status.story_in_progress(meta)] == ["run", "control"]


def test_a_note_placed_on_the_paper_is_told_by_its_text_alone():
    fig = go.Figure(go.Scatter(x=[0, 1], y=[2, 3], name="loss"))
    fig.add_annotation(text="a note", x=0.5, y=1.05, xref="paper", yref="paper")
    assert figure_text.describe_figure(fig).endswith("Marked: a note.")
