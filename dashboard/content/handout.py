"""The Story as one self-contained HTML file a teacher can hand out: the run's settings, the toys at
their first-shown learning rates, the five steps with their figures, the tracked examples as images
and the closing note on real images. plotly.js is embedded once and the images are data URIs, so
the file opens with no server and no network. Every figure carries its text alternative (the
numbers it shows, in words) as a visible caption and an aria-label, for screen readers.

Torch-free and Streamlit-free: the page passes plain values (the results, the run's name, which
runs were still training), and the lookups stay in the page.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import re
from dataclasses import dataclass

import numpy as np
import plotly
import plotly.graph_objects as go
from PIL import Image
from plotly.offline import get_plotlyjs

from dashboard.content import plots, story, toy, toy_plots
from dashboard.content.figure_text import describe_figure
from eos_core import __version__
from eos_core.analysis.results import Result
from eos_core.config import KNOBS, label
from eos_core.groups import GROUPS

# The figures' own toolbar without the logo (a link to plotly's site) and sized by the page.
PLOT_CONFIG = {"displaylogo": False, "responsive": True}
IMAGES_PER_GROUP = 16  # enough to see what a group looks like; the file stays small
IMAGE_SIZE_PX = 64  # each image drawn this wide, pixelated: the images are 8–32 pixels


@dataclass(frozen=True)
class Training:
    """A run still training when the file was made: its role in the Story ("run" or "control"), its
    name and where its job stood."""

    role: str
    name: str
    step: int
    total: int
    branch: str = "baseline"


def story_html(
    result: Result,
    control: Result | None,
    name: str,
    training: tuple[Training, ...] | list[Training] = (),
    exported: datetime.datetime | None = None,
) -> str:
    """The whole file: `result` is the Story's run, `control` its random-displacement twin (None if
    not stored), `name` the run's readable name, `training` the runs whose jobs are still active."""
    exported = exported or datetime.datetime.now()
    body = [
        f"<h1>The edge of stability, step by step: {_text(name)}</h1>",
        *_notices(training, control),
        _settings(result),
        _toys(),
        *(_step(i, s) for i, s in enumerate(_steps(result, control, training), start=1)),
        _gallery(result),
        f"<h2>On real images</h2><p>{_text(story.REAL_IMAGES)}</p>",
        _footer(exported),
    ]
    return _page(f"EoS Explorer — the Story of {name}", "\n".join(body))


def file_name(name: str) -> str:
    """The handout's file name: the run's name (letters such as η kept) with what a file system or a
    mail client mangles (spaces, ·, slashes) turned into dashes."""
    return "story-" + (re.sub(r"[^\w.=+-]+", "-", name).strip("-.") or "run") + ".html"


# -- the parts of the page ------------------------------------------------------------------------


def _notices(training, control: Result | None) -> list[str]:
    """What the file does not hold yet, said first: runs still training, a control not yet stored."""
    notes = [
        f"{t.name} was still in progress at step {t.step} of {t.total} ({t.branch} branch) when this file was "
        "exported; this file shows what existed then."
        for t in training
    ]
    if control is None and not any(t.role == "control" for t in training):
        notes.append("The random-displacement control was not in the cache when this file was exported (see step 5).")
    return [f'<p class="notice" role="status"><strong>Note:</strong> {_text(n)}</p>' for n in notes]


def _settings(result: Result) -> str:
    meta, config = result.meta, result.meta["config"]
    rows = "".join(
        f"<tr><th scope='row'>{_text(label(key) if key in KNOBS else key)}</th><td><code>{_text(key)}</code></td>"
        f"<td>{_text(_value(value))}</td></tr>"
        for key, value in config.items()
    )
    facts = ", ".join(
        f"{symbol} = {meta.get(key) if meta.get(key) is not None else 'not reached'}"
        for key, symbol in (("t_star", "t*"), ("t_star_star", "t**"))
    )
    return (
        "<h2>The run and its settings</h2>"
        f"<p>Status: {_text(str(meta.get('status', 'unknown')))}; {_text(facts)}; "
        f"configuration hash <code>{_text(str(meta.get('config_hash', '')))}</code>.</p>"
        f"<table><thead><tr><th>setting</th><th>field</th><th>value</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _value(value) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(map(_value, value)) or "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _toys() -> str:
    """Both toys at the learning rates the page first shows (their sliders' third value)."""
    bowl_lr, sharp_lr = toy.BOWL_LR[2], toy.SHARPENING_LR[2]
    bowl = toy.quadratic_path(*toy.BOWL, bowl_lr, toy.BOWL_START)
    sharpening = toy.sharpening_run(sharp_lr)
    return "\n".join(
        [
            "<h2>A toy to touch: gradient descent on a bowl</h2>",
            f"<p>{_text(toy_plots.QUADRATIC_INTRO)}</p>",
            _figure(
                toy_plots.quadratic_figure(bowl, *toy.BOWL, bowl_lr),
                toy_plots.describe_quadratic(bowl, *toy.BOWL, bowl_lr),
                "toy-bowl",
            ),
            "<h2>A toy that sharpens: the edge of stability</h2>",
            f"<p>{_text(toy_plots.SHARPENING_INTRO)}</p>",
            _figure(
                toy_plots.sharpening_figure(sharpening), toy_plots.describe_sharpening(sharpening), "toy-sharpening"
            ),
        ]
    )


def _steps(result: Result, control: Result | None, training) -> list[story.Step]:
    """The Story's five steps; a control still training says so instead of asking to be run."""
    steps = story.steps(result, control)
    pending = next((t for t in training if t.role == "control"), None)
    if control is None and pending is not None:
        steps[-1] = story.Step(
            story.TITLES[4],
            None,
            [
                f"The control run, {pending.name}, was still training (step {pending.step} of {pending.total}) "
                "when this file was exported, so its comparison is not in this file.",
                "It tests whether the trade-off comes from the input-outliers sharing one direction.",
            ],
        )
    return steps


def _step(index: int, step: story.Step) -> str:
    sentences = "".join(f"<p>{_text(s)}</p>" for s in step.sentences)
    shown = "" if step.figure is None else _figure(step.figure, describe_figure(step.figure), f"story-{index}")
    return f'<section class="step"><h2>{index}. {_text(step.title)}</h2>{sentences}{shown}</section>'


def _gallery(result: Result) -> str:
    """The tracked examples of each group as PNG data URIs, on the dataset's display range with
    out-of-range values painted magenta (as the Prototypes page draws them)."""
    index, pixels = result.per_example.get("prototype_index"), result.per_example.get("prototype_pixels")
    if index is None or pixels is None:
        return "<h2>Who are the groups?</h2><p>This result stored no images of its tracked examples.</p>"
    dataset = result.meta["config"]["dataset"]
    low, high = plots.display_range(dataset)
    unit = "generator units (synthetic data has no pixels)" if dataset == "synthetic" else "pixel values"
    groups = result.examples.set_index("index").group
    parts = [
        "<h2>Who are the groups?</h2>",
        f"<p>The tracked examples as the network sees them, on the range [{low:g}, {high:g}] of {_text(unit)}; "
        "values outside it are painted magenta.</p>",
    ]
    for group in GROUPS:
        members = [i for i, k in enumerate(index) if groups.get(int(k)) == group][:IMAGES_PER_GROUP]
        if members:
            images = "".join(
                _image(pixels[i], (low, high), f"{plots.GROUP_LABELS[group]} #{int(index[i])}") for i in members
            )
            parts.append(f"<h3>{_text(plots.GROUP_LABELS[group])}</h3><div class='gallery'>{images}</div>")
    return "\n".join(parts)


def _image(pixels: np.ndarray, value_range: tuple[float, float], alt: str) -> str:
    shown, _ = plots.display_image(pixels, value_range)
    return f'<img src="{png_data_uri(shown)}" alt="{_text(alt)}" title="{_text(alt)}" width="{IMAGE_SIZE_PX}">'


def png_data_uri(image: np.ndarray) -> str:
    """An (H, W, 3) uint8 image as a data: URI of its PNG."""
    buffer = io.BytesIO()
    Image.fromarray(image, mode="RGB").save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _footer(exported: datetime.datetime) -> str:
    return (
        f"<footer>Exported {exported:%Y-%m-%d %H:%M} by EoS Explorer {_text(__version__)} "
        f"(plotly {_text(plotly.__version__)}). The figures are interactive: hover for values, drag to zoom.</footer>"
    )


# -- figures and their words -----------------------------------------------------------------------


def _figure(fig: go.Figure, alt: str, div_id: str) -> str:
    """A figure without plotly.js (the page holds it once), its words as caption and aria-label."""
    div = fig.to_html(include_plotlyjs=False, include_mathjax=False, full_html=False, div_id=div_id, config=PLOT_CONFIG)
    return (
        f'<figure><div class="plot" role="img" aria-label="{_text(alt)}">{div}</div>'
        f"<figcaption>{_text(alt)}</figcaption></figure>"
    )


# -- the page around it -----------------------------------------------------------------------------

# Print- and projector-friendly: large type, figures kept whole on a printed page, no web fonts.
_CSS = """
body { font-family: system-ui, sans-serif; font-size: 18px; line-height: 1.5; max-width: 1100px;
       margin: 0 auto; padding: 1em 2em; color: #111; }
h1 { font-size: 1.9em; } h2 { margin-top: 1.6em; border-bottom: 1px solid #ccc; }
.notice { background: #fff4d6; border-left: 6px solid #e0a100; padding: 0.6em 1em; }
table { border-collapse: collapse; font-size: 0.85em; } th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; }
th { text-align: left; } figure { margin: 1em 0; break-inside: avoid; }
figcaption { font-size: 0.85em; color: #333; margin-top: 0.3em; }
.gallery img { image-rendering: pixelated; margin: 2px; border: 1px solid #ddd; }
footer { margin-top: 3em; font-size: 0.8em; color: #555; border-top: 1px solid #ccc; padding-top: 0.5em; }
@media print { body { font-size: 12pt; max-width: none; } .step { break-before: page; } }
"""


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_text(title)}</title><style>{_CSS}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head>'
        f"<body>\n{body}\n</body></html>\n"
    )


def _text(value: str) -> str:
    return html.escape(value, quote=True)
