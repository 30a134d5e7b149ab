import streamlit as st

from dashboard import clock
from dashboard.content import plots, spectrum_plots, timeline
from dashboard.pages import heading
from dashboard.state import load_result, require_series, stored_spectra
from dashboard.teach import explain_run
from dashboard.widgets import figure

st.title(heading("sharpness"))
s, metas, x, log_y = require_series()
explain_run("sharpness", metas)
st.caption(
    "λ1 of the full-batch Hessian on all n examples, for both branches. The EoS branch holds near 2/η; "
    "the exit branch sharpens again until its own threshold 2/(c·η) at t**."
)
left, right = st.columns(2)
show_l2 = left.toggle("show λ2", value=st.query_params.get("l2") == "1")
show_osc = right.toggle("show the oscillation signal |∇L·v1|/‖∇L‖ (× 2/η)", value=st.query_params.get("osc") == "1")
st.query_params.update(l2="1" if show_l2 else "0", osc="1" if show_osc else "0")
meta = metas[0]
result = load_result(meta["config_hash"])
lambda1 = plots.sharpness_figure(s, x, log_y, show_l2, show_osc)
start = timeline.origin(result, s.aligned)


clock.show(
    timeline.ticks(result.trace), "sharpness", lambda t: clock.sharpness_at(lambda1, result, t, x, "sharpness", start)
)
rule = meta["onset_rule"]["rule"]
st.markdown(
    f"**Onset rule:** {rule}. "
    + (
        f"t* = {meta['t_star']}, t** = {meta['t_star_star']}."
        if len(metas) == 1
        else f"{len(metas)} seeds, aligned on the fork."
    )
)
if meta.get("message"):
    st.info(meta["message"])

st.subheader("Every eigenvalue above the cut")
if len(result.tracked):
    st.caption(
        "Each Hessian eigenvalue above track_fraction × the threshold (at most 8), ranked largest first at "
        "every logged step; the dotted lines are the cuts. Several ranks pinned near the threshold mean "
        "EoS holds more than one direction at the edge. Near-equal eigenvalues swap ranks freely."
        + (" First seed shown." if len(metas) > 1 else "")
    )
    figure(spectrum_plots.tracked_eigenvalue_figure(result.tracked, meta["config"], x), "tracked-eigenvalues")
    st.markdown(spectrum_plots.describe_tracked(result.tracked, meta["config"]))
else:
    st.caption(
        "This run tracked λ1 and λ2 only. To track every eigenvalue above half the threshold, run it with "
        "`--set track_fraction=0.5`."
    )

st.subheader("Hessian spectrum")
run = meta["config_hash"]
spectra = stored_spectra(run)
if not spectra:
    step = meta.get("t_star") or 0
    st.info(
        "No spectrum is stored for this run. The whole eigenvalue density at a logged step, by stochastic "
        f"Lanczos quadrature: `python -m eos_core spectrum {run} --step {step}` (add `--branch exit` "
        "for the exit branch); it replays the run to the step, so it takes a while."
    )
else:
    names = [f"{s.branch} · step {s.step} · {s.probes} probes × {s.steps} steps · seed {s.seed}" for s in spectra]
    chosen = spectra[names.index(st.selectbox("spectrum", names))] if len(spectra) > 1 else spectra[0]
    log_density = st.toggle("log density", value=True, help="the bulk near 0 dwarfs the outliers on a linear axis")
    figure(spectrum_plots.spectrum_figure(chosen, log_density), "spectrum")
    st.caption(
        f"{chosen.dim:,} parameters; top node {chosen.top_node:.4g} (the logged λ1 is {chosen.lambda1:.4g}, "
        f"{chosen.threshold_symbol} = {chosen.threshold:.4g}). Gaussian-smoothed quadrature nodes: the density's "
        "shape is resolved to about one node spacing; outliers are exact (Lanczos finds them first)."
    )
