"""Every symbol and term the dashboard shows, in one or two plain sentences: the concepts here, the
quantities from eos_core.quantities, the form fields' help from RunConfig's own (config.KNOBS).
The Glossary page, the explainers, the `help=` texts and the Story page read it.

Torch-free (the dashboard imports it).
"""

from __future__ import annotations

from dataclasses import dataclass

from eos_core.config import KNOBS
from eos_core.quantities import ALIGNMENT, DATA, GROUPS_LOSSES, QUANTITIES, SHARPNESS


@dataclass(frozen=True)
class Term:
    symbol: str  # as drawn on screen
    name: str  # in words
    text: str  # one or two plain sentences
    section: str  # where it belongs on the Glossary page


_ENTRIES = {
    SHARPNESS: {
        "v1": (
            "v1",
            "top eigenvector",
            "The direction in weight space along which the loss curves most (the eigenvector of λ1). At the "
            "edge of stability the weights oscillate along it.",
        ),
        "threshold": (
            "2/η",
            "stability threshold",
            "Gradient descent with learning rate η is stable along v1 only while λ1 < 2/η. With "
            "heavy-ball momentum β the threshold is (2+2β)/η.",
        ),
        "exit_threshold": (
            "2/(c·η)",
            "exit branch's threshold",
            "The stability threshold of the exit branch, which trains at the smaller rate c·η; "
            "it lies 1/c times higher than 2/η.",
        ),
        "eos": (
            "EoS",
            "edge of stability",
            "The regime where λ1 has risen to about 2/η and stays there: the loss oscillates along v1 "
            "from step to step yet keeps falling over longer times.",
        ),
        "progressive_sharpening": (
            "sharpening",
            "progressive sharpening",
            "Before EoS, λ1 grows steadily during training until it meets 2/η.",
        ),
        "onset_fraction": (
            "f",
            "onset fraction",
            "EoS is declared when λ1 ≥ f·2/η. The paper's literal rule is f = 1; logged λ1 often "
            "settles just below 2/η while oscillating, so the presets use f = 0.9.",
        ),
        "t_star": (
            "t*",
            "EoS onset (the fork)",
            "The first logged step with λ1 ≥ f·2/η. There the run forks into two branches from the same weights.",
        ),
        "t_star_star": (
            "t**",
            "exit branch's own onset",
            "The first logged step where the exit branch's λ1 reaches f·2/(c·η): from there the exit "
            "branch is at its own edge of stability and the clean comparison ends.",
        ),
        "c": (
            "c",
            "exit factor",
            "The exit branch trains at c·η (0 < c ≤ 1), which lifts its threshold to 2/(c·η) so it leaves EoS.",
        ),
        "eos_branch": (
            "EoS branch",
            "EoS branch (solid lines)",
            "After t* the baseline run keeps its learning rate η and stays at the edge of stability.",
        ),
        "exit_branch": (
            "exit branch",
            "exit branch (dashed lines)",
            "From t* a copy of the run continues at c·η; it is the control that is not at EoS.",
        ),
        "effective_time": (
            "t_eff",
            "effective time",
            "The sum of the learning rates of all steps so far, Σ η_s. Branches with different "
            "learning rates are compared at equal effective time: after the same distance "
            "travelled along the gradient flow.",
        ),
    },
    GROUPS_LOSSES: {
        "groups": (
            "groups",
            "prototype groups",
            "Four tracked sets of m examples per class: inliers (nearest their class centre), boundary "
            "points (ambiguous neighbourhoods), input-outliers (moved by α) and output-outliers "
            "(labels flipped).",
        ),
        "alpha_displacement": (
            "α",
            "input-outlier displacement",
            "How far input-outliers are pushed: x ± α·(μ1 − μ0), away from the other class "
            "(coherent) or the same distance in a random orthogonal direction (random).",
        ),
        "coherent_random": (
            "coherent / random",
            "displacement direction",
            "Coherent: all input-outliers move along the class-centre difference, so they share "
            "one direction. Random: each moves the same distance in its own random direction, "
            "the paper's control.",
        ),
        "delta_same_step": (
            "Δ̄ℓ_k (same step)",
            "branch differential at the same step",
            "ℓ̄_k(exit) − ℓ̄_k(EoS) with both branches read at the same step t, as Proposition 2 "
            "predicts it (Report page). It mixes the learning-rate difference with EoS's effect.",
        ),
        "selective_tradeoff": (
            "trade-off",
            "selective trade-off",
            "Δℓ_k with opposite signs across groups: EoS helps some groups and hurts others "
            "rather than helping or hurting all alike.",
        ),
        "peak_window": (
            "[u1, u2]",
            "peak trade-off window",
            "The exit-branch steps u after the fork where the trade-off T(u) = min(largest gain, "
            "largest loss) is at least half its maximum. A trade-off can live there and close "
            "before the run ends, so Δℓ_k is shown over time, not only at the end.",
        ),
        "paper_pattern": (
            "pattern k/n",
            "the paper's pattern",
            "Input-outliers ahead under EoS (Δℓ > 0) while inliers and boundary points fall behind "
            "(Δℓ < 0); k of n seeds show it in the peak window. Its random-displacement control "
            "should lose it.",
        ),
        "tau": (
            "τ",
            "time since the fork",
            "τ = η·(t − t*), baseline effective time since the fork, the clock of Proposition 2.",
        ),
        "seeds_iqr": (
            "median · IQR",
            "seed aggregation",
            "With several seeds, curves show the median across seeds and a band from the 25th to the "
            "75th percentile, aligned on time since each seed's fork.",
        ),
    },
    ALIGNMENT: {
        "proposition2": (
            "Prop. 2",
            "branch decomposition",
            "Shortly after the fork, Δ̄ℓ_k ≈ (1 − c)·R_k·τ + (a_S/b_S)·Q_k·τ: a learning-rate term plus "
            "the EoS selector term.",
        ),
        "single_mode": (
            "Q_k² ∝ C_k",
            "single-mode proxy",
            "When one direction dominates the Hessian, Q_k² is proportional to the curvature "
            "influence, so alignment with v1 predicts who EoS selects (Fig. 22).",
        ),
    },
    DATA: {
        "centroid_distance": (
            "‖x_i − μ_c‖",
            "centroid distance",
            "The distance of an example from the mean of its class in input space; large means atypical.",
        ),
        "knn_ambiguity": (
            "k-NN ambiguity",
            "k-nearest-neighbour ambiguity",
            "How mixed the labels of an example's k nearest neighbours are. Boundary points are "
            "those whose neighbourhood is closest to half-and-half.",
        ),
        "natural_outliers": (
            "natural outliers",
            "natural outliers",
            "Ordinary training examples far from their class centre, not constructed ones.",
        ),
        "pgd_eps": (
            "PGD ε",
            "adversarial budget",
            "Projected gradient descent attack: each input may move at most ε = 0.03 per pixel (L∞) to "
            "flip the prediction; PGD accuracy is the share still classified correctly.",
        ),
        "alpha_test": (
            "α_test",
            "test displacement",
            "The displacement applied to test-set inliers to build out-of-distribution inputs; the OOD "
            "probe reports the loss at each α_test.",
        ),
    },
    "The paper's claims (Report page)": {
        "C1": (
            "C1",
            "mixed signs",
            "After t*, Δℓ_k has both signs across groups: EoS helps some groups and hurts others.",
        ),
        "C2": (
            "C2",
            "alignment resolves",
            "Input-outliers' cos² rises towards 1 before t*, falls under EoS, and stays high on the exit "
            "branch until t**.",
        ),
        "C3": (
            "C3",
            "random displacement control",
            "Moving input-outliers in random directions cuts their curvature influence at least tenfold.",
        ),
        "C4": (
            "C4",
            "cross-entropy",
            "Under cross-entropy the largest curvature influence and the EoS advantage move to the output-outliers.",
        ),
        "C5": (
            "C5",
            "natural outliers",
            "Spearman ρ(centroid distance, cos²) is about −0.1 during sharpening and about +0.4 at EoS.",
        ),
        "C6": (
            "C6",
            "the farthest group gains",
            "The group farthest from its class centre is the one EoS helps, and changing α changes which "
            "group that is.",
        ),
        "C7": (
            "C7",
            "single-mode proxy",
            "Q_k² is proportional to the curvature influence C_k (log-log slope near 1).",
        ),
        "C8": (
            "C8",
            "adversarial robustness",
            "EoS improves PGD accuracy on boundary points only when boundary points dominate v1.",
        ),
    },
}
# The concepts above, then every quantity from the one table of quantities, in its section.
TERMS: dict[str, Term] = {
    **{key: Term(*entry, section) for section, entries in _ENTRIES.items() for key, entry in entries.items()},
    **{q.key: Term(q.symbol, q.name, q.text, q.section) for q in QUANTITIES.values()},
}


# Tooltips of the experiment form: each RunConfig field's own help (config.KNOBS).
FIELD_HELP: dict[str, str] = {name: knob.help for name, knob in KNOBS.items()}

# Controls that are not RunConfig fields.
CONTROL_HELP = {
    "seeds": "One run per seed: 0, or 0-4, or 0,3,7. Pages can then show the median over seeds.",
    "projector": "Large fonts and thick lines on every figure, for a room with a projector.",
    "x_axis": "step: gradient steps; effective time: Σ η_s, which compares branches after equal progress.",
}


def term(key: str) -> Term:
    return TERMS[key]


def explain(key: str) -> str:
    """'symbol (name): text' — a tooltip or a Glossary line."""
    t = TERMS[key]
    return f"{t.symbol} ({t.name}): {t.text}" if t.symbol != t.name else f"{t.name}: {t.text}"


def by_section() -> dict[str, list[tuple[str, Term]]]:
    sections: dict[str, list[tuple[str, Term]]] = {section: [] for section in _ENTRIES}
    for key, t in TERMS.items():
        sections[t.section].append((key, t))
    return sections
