"""Every symbol and term the dashboard shows, in one or two plain sentences, and the tooltip of
every form control. One source: the Glossary page, the `help=` texts and the Story page read it.

Torch-free (the dashboard imports it).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    symbol: str      # as drawn on screen
    name: str        # in words
    text: str        # one or two plain sentences
    section: str     # where it belongs on the Glossary page


_ENTRIES = {
    "Sharpness and the fork": {
    "lambda1": ("λ1", "sharpness",
                "The largest eigenvalue of the Hessian of the training loss: how sharply the loss curves "
                "along its steepest direction. It is computed on all n training examples at every logged step."),
    "lambda2": ("λ2", "second eigenvalue",
                "The second-largest Hessian eigenvalue; a gap between λ1 and λ2 means one direction dominates."),
    "v1": ("v1", "top eigenvector",
           "The direction in weight space along which the loss curves most (the eigenvector of λ1). At the "
           "edge of stability the weights oscillate along it."),
    "threshold": ("2/η", "stability threshold",
                  "Gradient descent with learning rate η is stable along v1 only while λ1 < 2/η. With "
                  "heavy-ball momentum β the threshold is (2+2β)/η."),
    "exit_threshold": ("2/(c·η)", "exit branch's threshold",
                       "The stability threshold of the exit branch, which trains at the smaller rate c·η; "
                       "it lies 1/c times higher than 2/η."),
    "eos": ("EoS", "edge of stability",
            "The regime where λ1 has risen to about 2/η and stays there: the loss oscillates along v1 "
            "from step to step yet keeps falling over longer times."),
    "progressive_sharpening": ("sharpening", "progressive sharpening",
                               "Before EoS, λ1 grows steadily during training until it meets 2/η."),
    "onset_fraction": ("f", "onset fraction",
                       "EoS is declared when λ1 ≥ f·2/η. The paper's literal rule is f = 1; logged λ1 often "
                       "settles just below 2/η while oscillating, so the presets use f = 0.9."),
    "t_star": ("t*", "EoS onset (the fork)",
               "The first logged step with λ1 ≥ f·2/η. There the run forks into two branches from the same "
               "weights."),
    "t_star_star": ("t**", "exit branch's own onset",
                    "The first logged step where the exit branch's λ1 reaches f·2/(c·η): from there the exit "
                    "branch is at its own edge of stability and the clean comparison ends."),
    "c": ("c", "exit factor",
          "The exit branch trains at c·η (0 < c ≤ 1), which lifts its threshold to 2/(c·η) so it leaves EoS."),
    "eos_branch": ("EoS branch", "EoS branch (solid lines)",
                   "After t* the baseline run keeps its learning rate η and stays at the edge of stability."),
    "exit_branch": ("exit branch", "exit branch (dashed lines)",
                    "From t* a copy of the run continues at c·η; it is the control that is not at EoS."),
    "effective_time": ("t_eff", "effective time",
                       "The sum of the learning rates of all steps so far, Σ η_s. Branches with different "
                       "learning rates are compared at equal effective time: after the same distance "
                       "travelled along the gradient flow."),
    "oscillation": ("|∇L·v1|/‖∇L‖", "oscillation signal",
                    "The share of the gradient that points along v1; near 1 the step is dominated by the "
                    "period-2 oscillation of EoS."),
    },
    "Groups and losses": {
    "groups": ("groups", "prototype groups",
               "Four tracked sets of m examples per class: inliers (nearest their class centre), boundary "
               "points (ambiguous neighbourhoods), input-outliers (moved by α) and output-outliers "
               "(labels flipped)."),
    "alpha_displacement": ("α", "input-outlier displacement",
                           "How far input-outliers are pushed: x ± α·(μ1 − μ0), away from the other class "
                           "(coherent) or the same distance in a random orthogonal direction (random)."),
    "coherent_random": ("coherent / random", "displacement direction",
                        "Coherent: all input-outliers move along the class-centre difference, so they share "
                        "one direction. Random: each moves the same distance in its own random direction, "
                        "the paper's control."),
    "group_loss": ("ℓ_k", "group loss",
                   "The mean training loss over the examples of group k."),
    "two_step_average": ("ℓ̄_k", "two-step average",
                         "The mean of a loss at steps t and t+1. At EoS the loss alternates from step to step, "
                         "so averaging a cycle removes that flicker before branches are compared."),
    "delta_equal_time": ("Δℓ_k (equal effective time)", "intervention effect",
                         "ℓ̄_k(exit) − ℓ̄_k(EoS), with the EoS branch read at the exit branch's effective "
                         "time (Group losses page). Positive: EoS is ahead on group k; negative: EoS is behind."),
    "delta_same_step": ("Δ̄ℓ_k (same step)", "branch differential at the same step",
                        "ℓ̄_k(exit) − ℓ̄_k(EoS) with both branches read at the same step t, as Proposition 2 "
                        "predicts it (Report page). It mixes the learning-rate difference with EoS's effect."),
    "selective_tradeoff": ("trade-off", "selective trade-off",
                           "Δℓ_k with opposite signs across groups: EoS helps some groups and hurts others "
                           "rather than helping or hurting all alike."),
    "peak_window": ("[u1, u2]", "peak trade-off window",
                    "The exit-branch steps u after the fork where the trade-off T(u) = min(largest gain, "
                    "largest loss) is at least half its maximum. A trade-off can live there and close "
                    "before the run ends, so Δℓ_k is shown over time, not only at the end."),
    "paper_pattern": ("pattern k/n", "the paper's pattern",
                      "Input-outliers ahead under EoS (Δℓ > 0) while inliers and boundary points fall behind "
                      "(Δℓ < 0); k of n seeds show it in the peak window. Its random-displacement control "
                      "should lose it."),
    "tau": ("τ", "time since the fork",
            "τ = η·(t − t*), baseline effective time since the fork, the clock of Proposition 2."),
    "seeds_iqr": ("median · IQR", "seed aggregation",
                  "With several seeds, curves show the median across seeds and a band from the 25th to the "
                  "75th percentile, aligned on time since each seed's fork."),
    },
    "Alignment and mechanism": {
    "cos2": ("cos²θ_k", "directional alignment",
             "(∇ℓ_k·v1)² / ‖∇ℓ_k‖²: the share of group k's gradient that points along v1, from 0 (orthogonal) "
             "to 1 (parallel)."),
    "curvature_influence": ("(∇ℓ_k·v1)²", "curvature influence",
                            "Alignment times gradient size: how hard group k pushes along the unstable "
                            "direction. Also written C_k."),
    "Q": ("Q_k", "EoS selector",
          "⟨∇ℓ_k, ∇S⟩ with S = λ1: how much lowering the sharpness also lowers group k's loss. EoS keeps "
          "pushing sharpness down, so groups with large Q_k gain."),
    "R": ("R_k", "learning-rate confounder",
          "⟨∇ℓ_k, ∇L⟩: how much an ordinary gradient step lowers group k's loss. It separates the branches "
          "only because they use different learning rates."),
    "a_S": ("a_S", "sharpness drift",
            "−⟨∇L, ∇S⟩: how fast a plain gradient step would raise the sharpness (called α in Appendix F, "
            "renamed so it does not clash with the displacement α)."),
    "b_S": ("b_S", "sharpness-gradient size",
            "‖∇S‖², the squared length of the sharpness gradient. a_S/b_S sets how strongly EoS's "
            "self-stabilisation acts (called β in Appendix F)."),
    "proposition2": ("Prop. 2", "branch decomposition",
                     "Shortly after the fork, Δ̄ℓ_k ≈ (1 − c)·R_k·τ + (a_S/b_S)·Q_k·τ: a learning-rate term plus "
                     "the EoS selector term."),
    "single_mode": ("Q_k² ∝ C_k", "single-mode proxy",
                    "When one direction dominates the Hessian, Q_k² is proportional to the curvature "
                    "influence, so alignment with v1 predicts who EoS selects (Fig. 22)."),
    "eig_residual": ("residual", "eigen-residual",
                     "‖Hv − λv‖/λ of the computed eigenpair: how converged λ1 and v1 are (small is good)."),
    },
    "Data and probes": {
    "centroid_distance": ("‖x_i − μ_c‖", "centroid distance",
                          "The distance of an example from the mean of its class in input space; large means "
                          "atypical."),
    "knn_ambiguity": ("k-NN ambiguity", "k-nearest-neighbour ambiguity",
                      "How mixed the labels of an example's k nearest neighbours are. Boundary points are "
                      "those whose neighbourhood is closest to half-and-half."),
    "spearman_rho": ("ρ", "Spearman ρ",
                     "The rank correlation between centroid distance and per-example cos² over all examples, "
                     "from −1 to +1. Positive: atypical examples align more with v1."),
    "natural_outliers": ("natural outliers", "natural outliers",
                         "Ordinary training examples far from their class centre, not constructed ones."),
    "pgd_eps": ("PGD ε", "adversarial budget",
                "Projected gradient descent attack: each input may move at most ε = 0.03 per pixel (L∞) to "
                "flip the prediction; PGD accuracy is the share still classified correctly."),
    "alpha_test": ("α_test", "test displacement",
                   "The displacement applied to test-set inliers to build out-of-distribution inputs; the OOD "
                   "probe reports the loss at each α_test."),
    },
    "The paper's claims (Report page)": {
    "C1": ("C1", "mixed signs",
           "After t*, Δℓ_k has both signs across groups: EoS helps some groups and hurts others."),
    "C2": ("C2", "alignment resolves",
           "Input-outliers' cos² rises towards 1 before t*, falls under EoS, and stays high on the exit "
           "branch until t**."),
    "C3": ("C3", "random displacement control",
           "Moving input-outliers in random directions cuts their curvature influence at least tenfold."),
    "C4": ("C4", "cross-entropy",
           "Under cross-entropy the largest curvature influence and the EoS advantage move to the "
           "output-outliers."),
    "C5": ("C5", "natural outliers",
           "Spearman ρ(centroid distance, cos²) is about −0.1 during sharpening and about +0.4 at EoS."),
    "C6": ("C6", "the farthest group gains",
           "The group farthest from its class centre is the one EoS helps, and changing α changes which "
           "group that is."),
    "C7": ("C7", "single-mode proxy",
           "Q_k² is proportional to the curvature influence C_k (log-log slope near 1)."),
    "C8": ("C8", "adversarial robustness",
           "EoS improves PGD accuracy on boundary points only when boundary points dominate v1."),
    },
}
TERMS: dict[str, Term] = {key: Term(*entry, section) for section, entries in _ENTRIES.items()
                           for key, entry in entries.items()}


# Tooltips of the experiment form, keyed by RunConfig field name.
FIELD_HELP: dict[str, str] = {
    "dataset": "Where the two classes come from: digits (scikit-learn, offline), synthetic (generated, any "
               "size), cifar10 or mnist (files on disk).",
    "classes": "The binary task: class 0 and class 1. Digits also offers even vs odd.",
    "n_per_class": "Training examples taken from each class; n = 2 × this.",
    "image_size": "Side of the square images in pixels (digits upsample from 8; CIFAR-10 is 32).",
    "alpha": "How far input-outliers are pushed from their class: x ± α·(μ1 − μ0). 0 leaves them as inliers.",
    "displacement": "coherent: input-outliers all move along the class-centre difference; random: each moves "
                    "the same distance in its own direction orthogonal to it (the control).",
    "m": "Examples per class in each tracked group (inliers, boundary points, input- and output-outliers).",
    "k": "Neighbours used to score how ambiguous an example's neighbourhood is (picks boundary points).",
    "loss": "mse: squared error on one-hot targets (the paper's main setting); ce: softmax cross-entropy.",
    "model": "mlp: 2 hidden layers of `width` ReLU units (the paper's model); cnn; resnet14 without batch norm.",
    "width": "Hidden units per layer of the MLP.",
    "init_scale": "Multiplies the initial weights; smaller values sharpen more slowly.",
    "optimizer": "gd: full-batch gradient descent; momentum: heavy ball, threshold (2+2β)/η; sgd: minibatches.",
    "momentum": "Heavy-ball β (optimiser momentum only); raises the threshold to (2+2β)/η.",
    "batch_size": "Minibatch size (optimiser sgd only).",
    "lr": "The learning rate η of the EoS branch; the stability threshold is 2/η.",
    "c": "The exit branch continues from t* at c·η, which lifts its threshold to 2/(c·η) and takes it off "
         "the edge of stability.",
    "steps": "Gradient steps for each branch, counted from step 0.",
    "log_every": "Diagnostics (λ1, group losses, alignment) are computed every this many steps.",
    "onset_fraction": "EoS onset t* is the first logged step with λ1 ≥ f·2/η; 1 is the paper's literal rule, "
                      "0.9 catches runs whose logged λ1 oscillates just below 2/η.",
    "example_every": "Per-example losses and alignments are stored every this many steps (a multiple of log "
                     "every).",
    "ood_alphas": "α_test values of the out-of-distribution probe: test inliers displaced by each α_test.",
    "seed": "Random seed of data sampling and initialisation; several seeds aggregate as median and IQR.",
    "device": "auto picks the GPU when there is one.",
    "dtype": "float32 is the paper's precision; float64 for exact checks.",
}

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
    return {section: [(key, TERMS[key]) for key in entries] for section, entries in _ENTRIES.items()}
