"""Dashboard timings in a real browser: `streamlit run` to a healthy server, and opening each
results page until its charts are drawn, for a cached result with n = 10,000 per-example arrays —
from the sidebar (`*_page_s`, what a user waits for) and as a fresh page load (`*_reload_s`); also
Compare with 6 such runs and the Sharpness page in projector mode, from a fresh link.

    .venv/bin/python scripts/bench_ui.py          # all of it
    .venv/bin/python scripts/bench_ui.py clock    # only the server's work for one frame of the clock's Play
Prints a table and, last, one JSON line. Targets: startup ≤ 3 s, each page ≤ 1 s.
"""

import json
import pathlib
import statistics
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from harness import PAGES, RESULT_PAGES, browser, dashboard, navigate, open_page  # noqa: E402

from eos_core.config import RunConfig  # noqa: E402
from eos_core.runs.store import Store  # noqa: E402
from eos_core.tools.bench import paper_sized_result  # noqa: E402


def main(repeats: int = 3) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        result = paper_sized_result()
        store = Store(folder)
        store.put_result(result)
        compared = [run_as(result, seed) for seed in range(1, 6)]  # five more runs for a 6-run Compare
        for other in compared:
            store.put_result(other)
        store.close()
        run = result.meta["config_hash"]
        six = ",".join([run] + [r.meta["config_hash"] for r in compared])
        figures = {}
        with dashboard(folder, pathlib.Path(folder) / "streamlit.log", autostart_worker=False) as (url, startup):
            figures["startup_to_healthy_s"] = startup
            with browser() as page:
                open_page(page, url)  # the root first: a first request to a deep link gets Streamlit's legacy mode
                open_page(page, f"{url}/sharpness?run={run}")  # warm the server's result cache
                for path in RESULT_PAGES:
                    figures[f"{path}_reload_s"] = statistics.median(
                        open_page(page, f"{url}/{path}?run={run}") for _ in range(repeats)
                    )
                for path in RESULT_PAGES:  # in-app navigation, as a user clicks through
                    times = []
                    for _ in range(repeats):
                        open_page(page, f"{url}/{'runs' if path != 'runs' else 'sharpness'}?run={run}")
                        times.append(navigate(page, path, PAGES[path]))
                    figures[f"{path}_page_s"] = statistics.median(times)
                figures["compare_6_runs_reload_s"] = statistics.median(
                    open_page(page, f"{url}/compare?runs={six}&q=lambda1") for _ in range(repeats)
                )
                figures["sharpness_projector_reload_s"] = statistics.median(
                    open_page(page, f"{url}/sharpness?run={run}&projector=1") for _ in range(repeats)
                )
        figures.update(clock_frame_figures(result))
    print(f"dashboard timings, n = {result.examples.shape[0]} per-example values per logged step")
    for key, value in figures.items():
        print(f"  {key:28} {value:.2f}")
    print(json.dumps(figures))
    return figures


def clock_frame_figures(result, repeats: int = 20) -> dict:
    """Milliseconds of server work in one frame of the clock's Play, on the paper-sized result, without
    Streamlit: Sharpness (copy the page's λ1 figure, add the lines, the sentence, the JSON sent) and
    Natural outliers (the nearest checkpoint's n cos² values in a new WebGL scatter, its JSON)."""
    import time

    import plotly.graph_objects as go

    from dashboard.content import plots, timeline
    from dashboard.content.series import checkpoint, series

    lambda1 = plots.sharpness_figure(series([result]))
    times = timeline.ticks(result.trace)
    t = times[len(times) // 2]

    def sharpness():
        fig = plots.add_clock(go.Figure(lambda1), timeline.lines(result.trace, t, "step"))
        timeline.describe_sharpness(result.trace, t)
        fig.to_json()

    def outliers():
        point = timeline.nearest_checkpoint(result, "exit", t)
        cos2, rho = checkpoint(result, "exit", point.step)
        plots.scatter_figure(result.examples, cos2, point.step, rho).to_json()

    figures = {}
    for name, frame in (("sharpness", sharpness), ("outliers", outliers)):
        spent = []
        for _ in range(repeats):
            start = time.perf_counter()
            frame()
            spent.append(time.perf_counter() - start)
        figures[f"clock_frame_{name}_ms"] = 1000 * statistics.median(spent)
    return figures


def run_as(result, seed: int):
    """`result` stored under another seed's config: the same shapes, a distinct run."""
    import copy

    other = copy.copy(result)
    cfg = RunConfig.from_dict({**result.meta["config"], "seed": seed})
    other.meta = {**result.meta, "config": cfg.to_dict(), "config_hash": cfg.config_hash()}
    return other


if __name__ == "__main__":
    if sys.argv[1:] == ["clock"]:
        clocked = clock_frame_figures(paper_sized_result())
        for key, value in clocked.items():
            print(f"  {key:28} {value:.1f}")
        print(json.dumps(clocked))
    else:
        main()
