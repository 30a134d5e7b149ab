"""Every quantity a run records or the analysis derives, in one table: its column, symbol, label,
unit, glossary text and the function that computes it. The result schema, the plot labels,
Compare's choices, the Glossary, each page's terms and README's table are all read from here, so a
new diagnostic is one row below plus its function.

Torch-free: the dashboard reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

TRACE, GROUP, EVERY_STEP = "trace", "groups", "losses"  # the result tables (see analysis.results)
TRACKED, TRACKED_GROUP = "tracked", "tracked_groups"  # the eigenpairs above f·threshold (track_fraction > 0)
VALLEY, VALLEY_ITERATES = "valley", "valley_iterates"  # the loss along v1 and v2 (valley_every > 0)


@dataclass(frozen=True)
class Quantity:
    key: str  # glossary key; unique
    column: str  # column name in the tables it is stored in
    tables: tuple  # TRACE (per branch and logged step), GROUP (also per group), EVERY_STEP, TRACKED (per
    # branch, logged step and tracked eigenpair), TRACKED_GROUP (also per group); () if derived
    symbol: str  # as drawn on screen
    name: str  # in words
    unit: str  # what it is measured in
    text: str  # the glossary's one or two plain sentences
    computed_by: str  # the function that computes it, as module:function
    section: str  # the Glossary section it belongs to
    label: str = ""  # axis label when it differs from the symbol
    pages: tuple = ()  # the pages whose figures draw it (their "What am I looking at?" lists it)
    compare: str = ""  # Compare's name for it; "" keeps it off Compare's choices
    optional: bool = False  # stored only by some runs (the probes)

    @property
    def axis(self) -> str:
        return self.label or self.symbol


SHARPNESS, GROUPS_LOSSES, ALIGNMENT, DATA = (
    "Sharpness and the fork",
    "Groups and losses",
    "Alignment and mechanism",
    "Data and probes",
)
_DIAGNOSE = "eos_core.science.diagnostics:diagnose"
_GROUP_TERMS = "eos_core.science.diagnostics:group_quantities"
_EIGEN = "eos_core.science.curvature:top_eigenpairs"
_LOOP = "eos_core.science.branching:run_branch"
_PROBES = "eos_core.science.probes:evaluate"
_DISTANCE = "eos_core.science.distance:Shadow"
_FLOW = "eos_core.science.gradient_flow:run_gradient_flow"
_TRACKED = "eos_core.science.curvature:eigenpairs_above"
_TRACKED_TERMS = "eos_core.science.diagnostics:tracked_quantities"
_CENTRAL = "eos_core.science.central_flow:window_sigma_squared"
_VALLEY = "eos_core.science.valley:valley_rows"
_CENTRAL_ROWS = "eos_core.science.central_flow:complete"

_ROWS = (
    # the trace, in its stored column order
    Quantity(
        "lr",
        "lr",
        (TRACE,),
        "η_t",
        "learning rate",
        "θ²/loss",
        "The learning rate of the step: η on the EoS branch, c·η on the exit branch from t*.",
        _LOOP,
        SHARPNESS,
    ),
    Quantity(
        "loss",
        "loss",
        (TRACE,),
        "L",
        "training loss",
        "loss",
        "The mean loss over all n training examples.",
        _DIAGNOSE,
        GROUPS_LOSSES,
        label="loss",
    ),
    Quantity(
        "loss_avg2",
        "loss_avg2",
        (TRACE,),
        "L̄",
        "two-step average loss",
        "loss",
        "The mean of the training loss at steps t and t+1, which removes EoS's step-to-step flicker.",
        _LOOP,
        GROUPS_LOSSES,
    ),
    Quantity(
        "accuracy",
        "accuracy",
        (TRACE,),
        "acc",
        "training accuracy",
        "share (0–1)",
        "The share of training examples classified correctly.",
        _DIAGNOSE,
        GROUPS_LOSSES,
    ),
    Quantity(
        "lambda1",
        "lambda1",
        (TRACE,),
        "λ1",
        "sharpness",
        "loss/θ²",
        "The largest eigenvalue of the Hessian of the training loss: how sharply the loss curves "
        "along its steepest direction. It is computed on all n training examples at every logged step.",
        _EIGEN,
        SHARPNESS,
        pages=("experiment", "sharpness"),
        compare="λ1",
    ),
    Quantity(
        "lambda2",
        "lambda2",
        (TRACE,),
        "λ2",
        "second eigenvalue",
        "loss/θ²",
        "The second-largest Hessian eigenvalue; a gap between λ1 and λ2 means one direction dominates.",
        _EIGEN,
        SHARPNESS,
        pages=("sharpness",),
    ),
    Quantity(
        "eig_residual",
        "eig_residual",
        (TRACE,),
        "residual",
        "eigen-residual",
        "relative (‖Hv − λv‖/λ)",
        "‖Hv − λv‖/λ of the computed eigenpair: how converged λ1 and v1 are (small is good).",
        _EIGEN,
        ALIGNMENT,
    ),
    Quantity(
        "lambda2_residual",
        "lambda2_residual",
        (TRACE,),
        "residual₂",
        "λ2's eigen-residual",
        "relative (‖Hv − λv‖/λ)",
        "The same convergence check for λ2 and its eigenvector.",
        _EIGEN,
        ALIGNMENT,
    ),
    Quantity(
        "hvps",
        "hvps",
        (TRACE,),
        "HVPs",
        "Hessian-vector products",
        "count",
        "How many Hessian-vector products the eigensolver needed at this step (its cost).",
        _EIGEN,
        SHARPNESS,
    ),
    Quantity(
        "grad_norm",
        "grad_norm",
        (TRACE,),
        "‖∇L‖",
        "gradient norm",
        "loss/θ",
        "The length of the gradient of the training loss.",
        _DIAGNOSE,
        ALIGNMENT,
    ),
    Quantity(
        "oscillation",
        "grad_v1_fraction",
        (TRACE,),
        "|∇L·v1|/‖∇L‖",
        "oscillation signal",
        "share (0–1)",
        "The share of the gradient that points along v1; near 1 the step is dominated by the "
        "period-2 oscillation of EoS.",
        _DIAGNOSE,
        SHARPNESS,
        label="|∇L·v1| / ‖∇L‖",
        pages=("sharpness",),
    ),
    Quantity(
        "a_S",
        "a_S",
        (TRACE,),
        "a_S",
        "sharpness drift",
        "loss²/θ⁴",
        "−⟨∇L, ∇S⟩: how fast a plain gradient step would raise the sharpness (called α in Appendix F, "
        "renamed so it does not clash with the displacement α).",
        _DIAGNOSE,
        ALIGNMENT,
        pages=("report",),
    ),
    Quantity(
        "b_S",
        "b_S",
        (TRACE,),
        "b_S",
        "sharpness-gradient size",
        "loss²/θ⁶",
        "‖∇S‖², the squared length of the sharpness gradient. a_S/b_S sets how strongly EoS's "
        "self-stabilisation acts (called β in Appendix F).",
        _DIAGNOSE,
        ALIGNMENT,
        pages=("report",),
    ),
    Quantity(
        "spearman_rho",
        "spearman_rho",
        (TRACE,),
        "ρ",
        "Spearman ρ",
        "rank correlation (−1 to 1)",
        "The rank correlation between centroid distance and per-example cos² over all examples, "
        "from −1 to +1. Positive: atypical examples align more with v1.",
        "eos_core.science.diagnostics:spearman",
        DATA,
        label="Spearman ρ",
        pages=("outliers",),
    ),
    # the distance to the EoS branch at equal effective time (exit and flow branches)
    Quantity(
        "branch_distance",
        "branch_distance",
        (TRACE,),
        "‖θ − θ_EoS‖",
        "distance to the EoS branch",
        "θ",
        "How far this branch's weights are from the EoS branch's at the same effective time "
        "(Euclidean norm of the difference).",
        _DISTANCE,
        GROUPS_LOSSES,
        pages=("groups",),
        optional=True,
    ),
    Quantity(
        "output_rms",
        "output_rms",
        (TRACE,),
        "RMS ‖f − f_EoS‖",
        "output distance",
        "output units",
        "How far this branch's predictions are from the EoS branch's at the same effective time: the "
        "root mean square over training examples of the length of the difference of the network outputs.",
        _DISTANCE,
        GROUPS_LOSSES,
        pages=("groups",),
        optional=True,
    ),
    Quantity(
        "distance_time_gap",
        "distance_time_gap",
        (TRACE,),
        "Δt_EoS",
        "distance time gap",
        "effective time",
        "The EoS branch is read at its step nearest this branch's effective time; this is the EoS "
        "time minus this branch's (0 when c·log every is a whole number, at most η/2 otherwise).",
        _DISTANCE,
        GROUPS_LOSSES,
        optional=True,
    ),
    Quantity(
        "flow_error",
        "flow_error",
        (TRACE,),
        "ε_flow",
        "flow integration error",
        "θ",
        "The gradient-flow branch's estimated integration error in the weights so far: the sum of its "
        "step-doubling estimates of each interval's local error.",
        _FLOW,
        GROUPS_LOSSES,
        optional=True,
    ),
    Quantity(
        "flow_substeps",
        "flow_substeps",
        (TRACE,),
        "n_flow",
        "flow substeps",
        "count",
        "RK4 substeps per exit-branch step the gradient flow needed at this time to meet its tolerance "
        "(its cost; it grows as the flow sharpens).",
        _FLOW,
        SHARPNESS,
        optional=True,
    ),
    # per group (the groups table after branch, step, t_eff, group; its loss and loss_avg2 also every step)
    Quantity(
        "group_loss",
        "loss",
        (GROUP, EVERY_STEP),
        "ℓ_k",
        "group loss",
        "loss",
        "The mean training loss over the examples of group k.",
        _GROUP_TERMS,
        GROUPS_LOSSES,
        label="loss",
        pages=("groups",),
    ),
    Quantity(
        "two_step_average",
        "loss_avg2",
        (GROUP, EVERY_STEP),
        "ℓ̄_k",
        "two-step average",
        "loss",
        "The mean of a loss at steps t and t+1. At EoS the loss alternates from step to step, "
        "so averaging a cycle removes that flicker before branches are compared.",
        _LOOP,
        GROUPS_LOSSES,
        label="ℓ̄ (two-step average)",
        pages=("groups",),
        compare="group loss ℓ̄_k",
    ),
    Quantity(
        "group_grad_norm",
        "grad_norm",
        (GROUP,),
        "‖∇ℓ_k‖",
        "group gradient norm",
        "loss/θ",
        "The length of the gradient of group k's mean loss.",
        _GROUP_TERMS,
        ALIGNMENT,
    ),
    Quantity(
        "cos2",
        "cos2",
        (GROUP,),
        "cos²θ_k",
        "directional alignment",
        "share (0–1)",
        "(∇ℓ_k·v1)² / ‖∇ℓ_k‖²: the share of group k's gradient that points along v1, from 0 (orthogonal) "
        "to 1 (parallel).",
        _GROUP_TERMS,
        ALIGNMENT,
        pages=("alignment", "outliers"),
        compare="cos²θ_k",
    ),
    Quantity(
        "curvature_influence",
        "curvature_influence",
        (GROUP,),
        "(∇ℓ_k·v1)²",
        "curvature influence",
        "loss²/θ²",
        "Alignment times gradient size: how hard group k pushes along the unstable direction. Also written C_k.",
        _GROUP_TERMS,
        ALIGNMENT,
        pages=("alignment",),
        compare="curvature influence",
    ),
    Quantity(
        "Q",
        "Q",
        (GROUP,),
        "Q_k",
        "EoS selector",
        "loss²/θ³",
        "⟨∇ℓ_k, ∇S⟩ with S = λ1: how much lowering the sharpness also lowers group k's loss. EoS keeps "
        "pushing sharpness down, so groups with large Q_k gain.",
        _GROUP_TERMS,
        ALIGNMENT,
        label="Q_k = ⟨∇ℓ_k, ∇S⟩",
        pages=("alignment",),
    ),
    Quantity(
        "R",
        "R",
        (GROUP,),
        "R_k",
        "learning-rate confounder",
        "loss²/θ²",
        "⟨∇ℓ_k, ∇L⟩: how much an ordinary gradient step lowers group k's loss. It separates the branches "
        "only because they use different learning rates.",
        _GROUP_TERMS,
        ALIGNMENT,
        label="R_k = ⟨∇ℓ_k, ∇L⟩",
        pages=("alignment",),
    ),
    Quantity(
        "group_output_rms",
        "output_rms",
        (GROUP,),
        "RMS_k ‖f − f_EoS‖",
        "group output distance",
        "output units",
        "The output distance to the EoS branch over the examples of group k only: how far the two "
        "branches' predictions on inliers, boundary points or outliers have moved apart.",
        _DISTANCE,
        GROUPS_LOSSES,
        pages=("groups",),
        optional=True,
    ),
    # the tracked eigenpairs (runs with track_fraction > 0; rank 1 is the largest)
    Quantity(
        "tracked_eigenvalue",
        "eigenvalue",
        (TRACKED,),
        "λ_i",
        "tracked eigenvalue",
        "loss/θ²",
        "Every Hessian eigenvalue above track_fraction × the threshold (at most 8), largest first: how "
        "many directions are near the edge, not only the top one.",
        _TRACKED,
        SHARPNESS,
        pages=("sharpness",),
    ),
    Quantity(
        "tracked_residual",
        "residual",
        (TRACKED,),
        "residual_i",
        "tracked eigen-residual",
        "relative (‖Hv − λv‖/λ1)",
        "‖Hv_i − λ_i·v_i‖/λ1 of each tracked eigenpair: every λ_i is within this × λ1 of a true eigenvalue.",
        _TRACKED,
        SHARPNESS,
    ),
    Quantity(
        "tracked_cos2",
        "cos2",
        (TRACKED_GROUP,),
        "cos²(∇ℓ_k, v_i)",
        "alignment with each tracked direction",
        "share (0–1)",
        "(∇ℓ_k·v_i)²/‖∇ℓ_k‖² for each tracked eigenvector v_i. Where eigenvalues nearly coincide their "
        "vectors mix, so read such ranks together: their sum is well defined.",
        _TRACKED_TERMS,
        ALIGNMENT,
        pages=("alignment",),
    ),
    Quantity(
        "tracked_curvature_influence",
        "curvature_influence",
        (TRACKED_GROUP,),
        "(∇ℓ_k·v_i)²",
        "curvature influence on each tracked direction",
        "loss²/θ²",
        "The curvature influence of group k along each tracked eigenvector v_i: alignment times gradient size.",
        _TRACKED_TERMS,
        ALIGNMENT,
    ),
    # the valley (runs with valley_every > 0): grid points along v1 and v2, and the last iterates
    Quantity(
        "valley_loss",
        "loss",
        (VALLEY,),
        "L(θ + s₁v₁ + s₂v₂)",
        "loss along the top eigenvectors",
        "loss",
        "The full-batch loss at the current weights moved by s₁ along v1 and s₂ along v2 (kind slice: "
        "s₂ = 0; kind surface: a grid over both). Its curvature at 0 is λ1 along v1.",
        _VALLEY,
        SHARPNESS,
        pages=("valley",),
    ),
    Quantity(
        "iterate_s1",
        "s1",
        (VALLEY_ITERATES,),
        "(θ_{t−j} − θ_t)·v₁",
        "previous iterate's offset along v1",
        "θ units",
        "Where the weights j steps earlier lie along v1, measured from the current weights: at the edge of "
        "stability they alternate sides of the valley from step to step.",
        _VALLEY,
        SHARPNESS,
        pages=("valley",),
    ),
    Quantity(
        "iterate_s2",
        "s2",
        (VALLEY_ITERATES,),
        "(θ_{t−j} − θ_t)·v₂",
        "previous iterate's offset along v2",
        "θ units",
        "Where the weights j steps earlier lie along the second eigenvector v2, from the current weights.",
        _VALLEY,
        SHARPNESS,
    ),
    Quantity(
        "iterate_loss",
        "loss",
        (VALLEY_ITERATES,),
        "L(θ_{t−j})",
        "previous iterate's loss",
        "loss",
        "The full-batch loss at the weights j steps earlier (j = 1…4).",
        _VALLEY,
        SHARPNESS,
    ),
    # the central flow's branch only (runs with flows=central; see science.central_flow)
    Quantity(
        "sigma2",
        "sigma2",
        (TRACE,),
        "σ²",
        "central-flow oscillation variance",
        "θ²",
        "The variance of GD's oscillation along v1 that the central flow solves for so that λ1 stays at "
        "2/η (2·a_S/b_S on a smooth loss, 0 below the threshold), averaged over the 16 steps around it.",
        _CENTRAL,
        GROUPS_LOSSES,
        optional=True,
    ),
    Quantity(
        "sigma2_step",
        "sigma2_step",
        (TRACE,),
        "σ²_h",
        "central-flow step variance",
        "θ²",
        "The σ² one integration step used: σ² plus the pull-back that returns a λ1 drifted above 2/η to "
        "it. Far above σ², the flow is correcting drift rather than following the threshold.",
        "eos_core.science.central_flow:sigma_squared",
        GROUPS_LOSSES,
        optional=True,
    ),
    Quantity(
        "central_predicted_loss",
        "predicted_loss",
        (TRACE,),
        "L + ½σ²λ1",
        "predicted time-averaged loss",
        "loss",
        "The central flow's prediction of the EoS branch's time-averaged loss L̄, without running GD at η.",
        _CENTRAL_ROWS,
        GROUPS_LOSSES,
        optional=True,
    ),
    Quantity(
        "u_curvature",
        "u_curvature",
        (GROUP,),
        "v1ᵀH_k v1",
        "group curvature along v1",
        "loss/θ²",
        "The curvature of group k's mean loss along the top eigenvector, on the central flow's path.",
        _CENTRAL_ROWS,
        GROUPS_LOSSES,
        optional=True,
    ),
    Quantity(
        "central_group_prediction",
        "predicted_loss",
        (GROUP,),
        "ℓ_k + ½σ²v1ᵀH_k v1",
        "predicted time-averaged group loss",
        "loss",
        "The central flow's prediction of group k's two-step average ℓ̄_k on the EoS branch (Group "
        "losses page, dotted, against the measured ℓ̄_k).",
        _CENTRAL_ROWS,
        GROUPS_LOSSES,
        label="predicted ℓ̄_k (central flow)",
        pages=("groups",),
        optional=True,
    ),
    # derived by the analysis from the stored tables
    Quantity(
        "delta_equal_time",
        "delta_loss",
        (),
        "Δℓ_k (equal effective time)",
        "intervention effect",
        "loss",
        "ℓ̄_k(exit) − ℓ̄_k(EoS) (with the gradient flow also ℓ̄_k(flow) − ℓ̄_k(EoS), EoS against a vanishing "
        "step), with the EoS branch read at the same effective time (Group losses page). Positive: EoS is "
        "ahead on group k; negative: EoS is behind.",
        "eos_core.analysis.results:delta_loss",
        GROUPS_LOSSES,
        label="Δℓ_k (equal time) = ℓ_k(exit) − ℓ_k(EoS)",
        pages=("groups", "regime", "compare"),
        compare="Δℓ_k (equal time)",
    ),
    # the probes (runs with a test set only)
    Quantity(
        "pgd_accuracy",
        "pgd_accuracy",
        (TRACE,),
        "PGD acc",
        "PGD accuracy",
        "share (0–1)",
        "The share of 50 test boundary points still classified correctly after a projected-gradient "
        "attack of L∞ budget ε = 0.03.",
        _PROBES,
        DATA,
        label="PGD accuracy (ε = 0.03)",
        optional=True,
    ),
    Quantity(
        "boundary_accuracy",
        "boundary_accuracy",
        (TRACE,),
        "clean acc",
        "clean accuracy",
        "share (0–1)",
        "The share of the same test boundary points classified correctly without an attack.",
        _PROBES,
        DATA,
        label="clean accuracy",
        optional=True,
    ),
)
QUANTITIES: dict[str, Quantity] = {q.key: q for q in _ROWS}

_INDEX = {
    TRACE: ["branch", "step", "t_eff"],
    GROUP: ["branch", "step", "t_eff", "group"],
    EVERY_STEP: ["branch", "step", "t_eff", "group"],
    TRACKED: ["branch", "step", "t_eff", "rank"],
    TRACKED_GROUP: ["branch", "step", "t_eff", "rank", "group"],
    VALLEY: ["branch", "step", "t_eff", "kind", "s1", "s2"],
    VALLEY_ITERATES: ["branch", "step", "t_eff", "lag"],
}


def columns(table: str) -> list[str]:
    """A result table's schema: its index columns, then every stored (non-optional) quantity's column."""
    return _INDEX[table] + [q.column for q in _ROWS if table in q.tables and not q.optional]


def by_column(table: str) -> dict[str, Quantity]:
    """The quantities stored in `table` (or derived, for table ""), by column name."""
    return {q.column: q for q in _ROWS if (table in q.tables if table else not q.tables)}


def axis_labels() -> dict[str, str]:
    """Column → axis label for figures; a group quantity wins over a trace one of the same column."""
    labels = {q.column: q.axis for q in _ROWS if TRACE in q.tables or not q.tables}
    labels.update({q.column: q.axis for q in _ROWS if GROUP in q.tables})
    return labels


def compare_choices() -> dict[str, str]:
    """Column → name, for the quantities Compare offers."""
    return {q.column: q.compare for q in _ROWS if q.compare}


def on_page(page: str) -> list[str]:
    """The glossary keys of the quantities drawn on `page`."""
    return [q.key for q in _ROWS if page in q.pages]


def markdown_table() -> str:
    """README's table of quantities."""
    lines = ["| column | table | symbol | name | unit | computed by |", "|---|---|---|---|---|---|"]
    for q in _ROWS:
        where = ", ".join(q.tables) or "derived"
        lines.append(f"| `{q.column}` | {where} | {q.symbol} | {q.name} | {q.unit} | `{q.computed_by}` |")
    return "\n".join(lines)
