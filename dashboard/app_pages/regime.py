import streamlit as st

from dashboard import links
from dashboard.content import plots, tradeoff_plots
from dashboard.pages import heading, page
from dashboard.state import families, regime_table
from dashboard.teach import explainer
from dashboard.widgets import figure, table_downloads
from eos_core.analysis.regime import AXES, FILTERS, grid, markdown, select
from eos_core.groups import GROUPS

st.title(heading("regime"))
st.caption(
    "Where does EoS help which group? Each cell is one configuration of the stored runs: a group's Δℓ_k "
    "(> 0: EoS ahead) at its **peak trade-off window** or at the end, and how many seeds agree in sign. "
    "The text gives every group (io input-outliers, in inliers, bd boundary, oo output-outliers) and "
    '"pattern k/n": the seeds showing the paper\'s pattern (input-outliers ahead, inliers and boundary behind) '
    "in the peak window, with ✓ where the cell's means show it. "
    "Click a cell to compare its runs. Sweeps fill it: `scripts/survey_fashion.sh`, or "
    "`python -m eos_core sweep`."
)
explainer(
    "regime",
    [
        "Read a row across: does the same pair behave differently with random displacement, another "
        "loss or α? Red cells: EoS ahead on the coloured group; blue: behind. A cell says how many "
        "seeds agree, so one lucky seed cannot pass for a regime."
    ],
)
metas = [m for group in families().values() for m in group]
if not metas:
    st.info("No finished runs yet.")
    st.stop()
axes = list(AXES)
left, middle, right, far = st.columns(4)
rows = left.selectbox("rows", axes, index=links.position("rows", "pair", axes), format_func=AXES.get)
cols_choices = [a for a in axes if a != rows]
cols = middle.selectbox(
    "columns",
    cols_choices,
    format_func=AXES.get,
    index=links.position("cols", "displacement" if rows != "displacement" else "loss", cols_choices),
)
at = right.radio(
    "Δℓ_k at",
    ["peak", "end"],
    horizontal=True,
    format_func={"peak": "peak window", "end": "the end"}.get,
    index=links.position("at", "peak", ("peak", "end")),
)
group = far.selectbox(
    "colour by",
    GROUPS,
    format_func=plots.GROUP_LABELS.get,
    index=links.position("group", "input_outlier", GROUPS),
)
frame = regime_table(tuple(sorted(m["config_hash"] for m in metas)), at)
where = {}
fixed = [a for a in FILTERS if a not in (rows, cols) and frame[a].astype(str).nunique() > 1]
for column, axis in zip(st.columns(max(len(fixed), 1)), fixed):
    values = sorted(frame[axis].astype(str).unique())
    where[axis] = column.selectbox(
        AXES.get(axis, axis),
        values,
        key=f"where-{axis}",
        index=links.position(f"w_{axis}", values[0], values),
    )
st.query_params.update(rows=rows, cols=cols, at=at, group=group, **{f"w_{a}": v for a, v in where.items()})
chosen = select(frame, rows, cols, where)
if not len(chosen):
    st.info("No stored runs for this choice.")
    st.stop()
texts = grid(chosen, rows, cols)
event = figure(
    tradeoff_plots.regime_figure(chosen, rows, cols, group, texts, (AXES[rows], AXES[cols])), "regime", selectable=True
)
points = (event or {}).get("selection", {}).get("points", [])
if points:
    cell = chosen[(chosen[cols].astype(str) == str(points[0]["x"])) & (chosen[rows].astype(str) == str(points[0]["y"]))]
    runs = cell.runs.iloc[0].split(",")[: plots.MAX_COMPARED]
    st.page_link(
        page("compare").file,
        label=f"Compare this cell's {len(runs)} runs",
        icon=":material/compare_arrows:",
        query_params={"runs": ",".join(runs), "q": "delta_loss", "group": group},
    )
st.dataframe(texts)
st.download_button("regime map (Markdown)", markdown(texts), file_name="regime.md", mime="text/markdown")
table_downloads(chosen.drop(columns=["runs"]), "regime")
