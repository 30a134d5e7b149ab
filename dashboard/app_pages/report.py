import pandas as pd
import streamlit as st

from dashboard import links
from dashboard.content import narrative, plots
from dashboard.pages import heading
from dashboard.state import families, label, load_result, readable_results
from dashboard.teach import explainer
from dashboard.widgets import figure, table_downloads
from eos_core.analysis.claims import report
from eos_core.analysis.mechanism import decomposition, single_mode_fit

st.title(heading("report"))
st.caption(
    "Which of the paper's claims the stored runs support, with the number behind each verdict. "
    "A claim the runs cannot test names the preset that would."
)
metas = {m["config_hash"]: m for group in families().values() for m in group}
if not metas:
    st.info("No finished runs yet.")
    st.stop()
hashes = list(metas)
chosen = st.multiselect(
    "Runs to judge", hashes, default=links.subset("runs", hashes[:6], hashes), format_func=lambda h: label(metas[h])
)
st.query_params["runs"] = ",".join(chosen)
runs = readable_results(chosen)
if runs:
    judged = report(runs)
    explainer("report", narrative.report(judged))
    verdicts = pd.DataFrame(
        [
            {
                "claim": v.claim,
                "verdict": v.verdict,
                "statement": v.text,
                "evidence": v.evidence,
                "runs": ", ".join(h[:8] for h in v.runs),
            }
            for v in judged
        ]
    )
    st.dataframe(verdicts, hide_index=True)
    table_downloads(verdicts, "report")

    st.subheader("Mechanism (App. F)")
    readable = [r.meta["config_hash"] for r in runs]
    focus = st.selectbox(
        "Run",
        readable,
        format_func=lambda h: label(metas[h]),
        index=links.position("focus", readable[0], readable),
    )
    st.query_params["focus"] = focus
    result = load_result(focus)
    fit = single_mode_fit(result)
    st.markdown(
        f"Q_k² against C_k over {fit['points']} points: log-log slope **{fit['slope']:.2f}**, "
        f"r = **{fit['r']:.2f}** (Fig. 22; proportionality means slope 1)."
    )
    figure(plots.mechanism_scatter(result.groups), "q2-vs-c")
    table = decomposition(result)
    if len(table):
        st.caption(
            "Δℓ_k (same step) compares the branches at the same step t, as Proposition 2 does; the Group "
            "losses page's Δℓ_k (equal time) compares them at the same effective time Σ η_s instead."
        )
        figure(plots.decomposition_figure(table), "decomposition")

    st.subheader("Probes (§5.2)")
    if "pgd_accuracy" in result.trace.columns:
        from dashboard.content.series import series

        figure(
            plots.trace_figure(series([result]), "pgd_accuracy", title="PGD accuracy on 50 test boundary points"), "pgd"
        )
        t_ss = result.meta.get("t_star_star")
        exit_steps = result.trace[result.trace.branch == "exit"].step
        after = exit_steps[exit_steps >= t_ss] if t_ss is not None else exit_steps.iloc[-1:]
        if len(after):
            figure(plots.ood_figure(result.trace, int(after.iloc[0])), "ood")
    else:
        st.info("This run has no probe columns (computed by newer versions).")
