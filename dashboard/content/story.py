"""The paper's argument in five steps, told on the runs at hand (the Story page): progressive
sharpening → the edge of stability → the fork → the selective trade-off → the random control.

Each step is a figure from `plots` and two sentences from `narrative`, computed from results.
Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go

from dashboard.content import narrative, plots, timeline, tradeoff_plots
from dashboard.content.series import series
from eos_core.analysis.results import Result
from eos_core.analysis.tradeoff import tradeoff
from eos_core.config import RunConfig, stability_threshold
from eos_core.presets import preset
from eos_core.runs import shipped

# What the survey of real images found (scripts/survey_fashion.sh; docs/fashion_survey.md), told at
# the Story's end so a class knows how far the runs on screen generalise.
REAL_IMAGES = (
    "On real images the pattern depends on the pair, and it is transient. In a survey of five Fashion-MNIST "
    "pairs (n = 2,000, 28×28, α = 3, MSE, c = 0.5), pullover vs coat shows the paper's pattern: "
    "input-outliers ahead under EoS while inliers and boundary points fall behind, in 5 of 5 seeds, for "
    "about 300 steps after t*, gone under random displacement (0 of 5), and closed again by the end of the "
    "run. Shirt vs T-shirt shows output-outliers ahead instead, as real MNIST and this app's synthetic "
    "data do; sneaker vs sandal barely moves; trouser vs dress and bag vs boot are learnt without ever "
    "reaching the edge of stability in 600 steps. teach-fashion is the pullover-vs-coat run; the Regime "
    "map page shows where the effect lives."
)

TITLES = (
    "Progressive sharpening",
    "The edge of stability",
    "The fork",
    "The selective trade-off",
    "The random control",
)

# The result page that explores each step further (the Story links to it, on the Story's run).
STEP_PAGES = ("sharpness", "sharpness", "sharpness", "groups", "groups")
# The steps whose figure is λ1 over steps: the session's clock draws its line on them.
TIMED = TITLES[:3]


@dataclass
class Step:
    title: str
    figure: go.Figure | None
    sentences: list[str]


def clock_times(step: Step, result: Result) -> list[float]:
    """The clock's positions on a step's figure of λ1 over baseline steps: those its x axis shows (the
    first step shows the sharpening, up to 2·t*, only)."""
    times = timeline.ticks(result.trace)
    shown = step.figure.layout.xaxis.range if step.figure is not None else None
    if not shown:
        return times
    last = shown[1] * result.meta["config"]["lr"]  # a baseline step s is at effective time s·η
    return [t for t in times if t <= last * (1 + 1e-9)]


def twin(config: dict, metas: list[dict]) -> dict | None:
    """The stored run whose configuration is `config` with random displacement."""
    wanted = {**config, "displacement": "random"}
    return next((m for m in metas if m["config"] == wanted), None)


def candidates(metas: list[dict]) -> list[dict]:
    """Forked coherent runs a story can be told on: the teaching runs first (the shipped real-image
    one before the synthetic one), then the others."""
    order = [preset(pair[0]).config_hash() for pair in shipped.PAIRS]
    found = [m for m in metas if m.get("t_star") is not None and m["config"]["displacement"] == "coherent"]
    return sorted(found, key=lambda m: order.index(m["config_hash"]) if m["config_hash"] in order else len(order))


def _baseline(result: Result):
    t = result.trace
    return t[t.branch == "baseline"].sort_values("step")


def sharpening(result: Result) -> Step:
    cfg, base, t_star = RunConfig.from_dict(result.meta["config"]), _baseline(result), result.meta["t_star"]
    before = base[base.step <= t_star]
    first, at = before.iloc[0], before.iloc[-1]
    threshold = stability_threshold(cfg, cfg.lr)
    fig = plots.sharpness_figure(series([result]), exit_threshold=False)
    fig.update_xaxes(range=[0, max(2 * t_star, 1)])
    fig.update_layout(title="λ1 grows until it meets the stability threshold")
    return Step(
        TITLES[0],
        fig,
        [
            narrative.sharpness(result)[0],
            f"Nothing forces this: training itself made the loss {at.lambda1 / first.lambda1:.1f}× sharper in {t_star} "
            f"steps while the loss fell from {narrative.number(first.loss)} to {narrative.number(at.loss)} — progressive "
            f"sharpening, which stops at {threshold.symbol} = {narrative.number(threshold.value)}.",
        ],
    )


def edge(result: Result) -> Step:
    base, t_star = _baseline(result), result.meta["t_star"]
    s = series([result])
    fig = plots.sharpness_figure(s, exit_threshold=False, show_oscillation="grad_v1_fraction" in result.trace)
    fig.data = tuple(t for t in fig.data if "exit" not in (t.name or ""))
    fig.update_layout(title="The EoS branch holds λ1 at the threshold")
    sentences = narrative.sharpness(result)[1:2]
    after = base[base.step >= t_star]
    if "grad_v1_fraction" in after and after.grad_v1_fraction.notna().any():
        sentences.append(
            f"The loss keeps falling although each step overshoots along v1: from t* on, a median "
            f"{after.grad_v1_fraction.median():.0%} of the gradient's length points along v1 (the "
            f"grey curve), the period-2 oscillation that self-stabilises the sharpness."
        )
    else:
        sentences.append(
            "The loss keeps falling although each step overshoots along v1: the oscillation "
            "itself pushes the sharpness back down (self-stabilisation)."
        )
    return Step(TITLES[1], fig, sentences)


def fork(result: Result) -> Step:
    cfg, t_star = RunConfig.from_dict(result.meta["config"]), result.meta["t_star"]
    fig = plots.sharpness_figure(series([result]))
    fig.update_layout(title="At t* the run forks: EoS keeps η, the exit branch takes c·η")
    exit_sentence = narrative.sharpness(result)[2:3] or ["The exit branch has no logged step after the fork."]
    return Step(
        TITLES[2],
        fig,
        [
            f"At t* = {t_star} a copy of the run continues from the very same weights at c·η = "
            f"{narrative.number(cfg.c * cfg.lr)} (c = {cfg.c:g}) and is compared with the EoS branch at equal "
            f"effective time Σ η_s, so its smaller steps are not held against it.",
            *exit_sentence,
        ],
    )


def trade_off(result: Result) -> Step:
    """Δℓ_k over time with its peak window where the run kept every step's losses (a trade-off can
    live for a few hundred steps and close before the end), else on the logged grid."""
    if len(result.losses):
        fig = tradeoff_plots.tradeoff_figure(tradeoff([result]))
    else:
        fig = plots.delta_figure(series([result]))
    return Step(TITLES[3], fig, narrative.groups(result))


def control(coherent: Result, random: Result | None) -> Step:
    if random is None:
        cfg = coherent.meta["config"]
        pair = shipped.pair_of(coherent.meta["config_hash"])
        name = pair[1] if pair else "this configuration with displacement = random"
        return Step(
            TITLES[4],
            None,
            [
                f"The control run is missing: run {name} (the same settings with input-outliers displaced "
                f"α = {cfg['alpha']:g} in random directions) and come back to this step.",
                "It tests whether the trade-off comes from the input-outliers sharing one direction.",
            ],
        )
    fig = plots.delta_figure(series([random]))
    fig.update_layout(title="The control: input-outliers displaced in random directions")
    first = narrative.groups(random)[0]
    if random.meta.get("t_star") is None:
        return Step(TITLES[4], None, [first, "Without a fork there is no trade-off to compare."])
    a, b = narrative.tradeoff(coherent), narrative.tradeoff(random)
    if a["mixed"] and not b["mixed"]:
        verdict = (
            "The trade-off disappears: displaced the same distance but in random directions, the "
            "input-outliers no longer share one direction for v1 to align with (the paper's reading of "
            "its Fig. 6)."
        )
    elif a["mixed"] and b["mixed"]:
        verdict = "Here the signs are still mixed: the control does not remove the trade-off in this run."
    else:
        verdict = "The coherent run showed no trade-off either, so the control has nothing to remove here."
    return Step(TITLES[4], fig, [first, verdict])


def steps(coherent: Result, random: Result | None) -> list[Step]:
    return [sharpening(coherent), edge(coherent), fork(coherent), trade_off(coherent), control(coherent, random)]
