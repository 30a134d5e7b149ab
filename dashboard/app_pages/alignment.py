import streamlit as st

from dashboard.content import plots, spectrum_plots
from dashboard.pages import heading
from dashboard.state import families, load_result, require_series
from dashboard.teach import explain_run
from dashboard.widgets import figure
from eos_core.analysis.claims import c3, is_twin
from eos_core.analysis.mechanism import group_evidence

st.title(heading("alignment"))
s, metas, x, log_y = require_series()
explain_run("alignment", metas)
st.caption(
    "How strongly each group's gradient couples to the unstable direction v1: cos²θ_k (direction) "
    "and the curvature influence (∇ℓ_k·v1)² (direction × magnitude), per branch (Figs. 5–7). "
    "Q_k and R_k are the two terms of the branch decomposition (App. F)."
)
figure(plots.group_figure(s, "cos2", x, log_y, "Directional alignment cos²θ_k"), "cos2")
log_influence = st.toggle("log scale for curvature influence", value=st.query_params.get("logci", "1") == "1")
st.query_params["logci"] = "1" if log_influence else "0"
figure(
    plots.group_figure(s, "curvature_influence", x, log_influence, "Curvature influence (∇ℓ_k·v1)²"),
    "curvature-influence",
)
if st.toggle("show Q_k and R_k", value=st.query_params.get("qr") == "1"):
    st.query_params["qr"] = "1"
    figure(plots.group_figure(s, "Q", x, False, "Q_k = ⟨∇ℓ_k, ∇S⟩ (EoS selector)"), "Q")
    figure(plots.group_figure(s, "R", x, False, "R_k = ⟨∇ℓ_k, ∇L⟩ (learning-rate confounder)"), "R")
else:
    st.query_params["qr"] = "0"

st.subheader("Alignment with every tracked eigenvector")
result = load_result(metas[0]["config_hash"])
if len(result.tracked_groups):
    st.caption(
        "cos²(∇ℓ_k, v_i) of each group's gradient with each eigenvector above the tracking cut (rank 1 = v1). "
        "Where two eigenvalues nearly coincide their eigenvectors mix from step to step: read such ranks "
        "together, as their sum is what the data defines." + (" First seed shown." if len(metas) > 1 else "")
    )
    log_tracked = st.toggle("log scale for the tracked alignments", value=st.query_params.get("logtr") == "1")
    st.query_params["logtr"] = "1" if log_tracked else "0"
    figure(spectrum_plots.tracked_alignment_figure(result.tracked_groups, x, log_tracked), "tracked-alignment")
    st.markdown(spectrum_plots.describe_tracked_alignment(result.tracked_groups))
else:
    st.caption(
        "This run tracked v1 and v2 only. To see each group's alignment with every eigenvector above half "
        "the threshold, run it with `--set track_fraction=0.5`."
    )

st.subheader("Why a claim holds or fails")
st.caption(
    "Shares across the four groups on the EoS branch: the curvature influence before and after t* (which "
    "group dominates v1) and the oscillation's loss spikes Σ|ℓ_k − ℓ̄_k| after t* (which group the period-2 "
    "swing lands on), at every step. Below: C3's coherent/random comparison when the twin run is stored."
)
evidence = group_evidence(result)
figure(plots.evidence_figure(evidence), "group-evidence")
st.dataframe(evidence, column_config={c: st.column_config.NumberColumn(format="%.3g") for c in evidence.columns})
config = metas[0]["config"]
other = "random" if config["displacement"] == "coherent" else "coherent"
twin = next(
    (m for group in families().values() for m in group if is_twin(config, m["config"], displacement=other)), None
)
if twin is not None:
    verdict = c3([result, load_result(twin["config_hash"])])
    st.markdown(f"**C3 ({verdict.verdict})** — {verdict.text}")
    st.text(verdict.evidence)
else:
    st.info(
        f"C3 compares this run with its {other}-displacement twin, which is not stored; run it from the Experiment page."
    )
