"""The session's one clock: a time slider with Play/Pause over a run's logged effective times
(`content.timeline` says why effective time). The position lives in `st.session_state`, so every
page opens at the time the last one showed, and in the URL (?t=), so a copied link opens there.

While playing, only a fragment reruns — the slider, the button and what the page draws at the
time — every TICK_S seconds; the page builds its figures once per run and the fragment only moves
the line or swaps the checkpoint. Play stops at the last time, on Pause, when the slider is moved
and when the user leaves the page (`stop_elsewhere`, called by app.py on every run).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

import plotly.graph_objects as go
import streamlit as st

from dashboard import links
from dashboard.content import plots, timeline
from dashboard.content.timeline import label, nearest, snap
from dashboard.widgets import figure, prototype_gallery

CLOCK = "clock_t"  # session: the clock's effective time, one for every page
PLAYING = "clock_playing"  # session: the page whose Play is on (absent when paused)
TICK_S = 0.7  # seconds between two frames of Play
FRAMES = 60  # Play crosses a run in at most this many frames (about 40 s), however many times it logged


def stop_elsewhere(page: str) -> None:
    """Play belongs to the page it was pressed on: any run of another page stops it."""
    if st.session_state.get(PLAYING) not in (None, page):
        stop()


def stop() -> None:
    """Pause (the Story calls it on a change of step: Play belongs to the figure it was pressed on)."""
    st.session_state.pop(PLAYING, None)


def show(positions: list[float], page: str, draw: Callable[[float], None], linked: float | None = None) -> None:
    """The clock over `positions` (see `timeline.ticks`) on the page `page` (its URL path), and
    `draw(t)` at its time; `linked` is a time an older link asked for (when it has no ?t=)."""
    if not positions:  # a run that logged nothing
        st.info("This run logged no step, so it has no time to show.")
        return
    set_time(snap(positions, _wanted(positions, linked)))
    registered = _playing(page)

    @st.fragment(run_every=TICK_S if registered else None)
    def frame():
        if _playing(page) != registered:  # Play or Pause was pressed: the timer starts or stops with a whole run
            st.rerun(scope="app")
        if registered:
            _advance(positions)
        _controls(positions, page)
        draw(st.session_state[CLOCK])

    frame()


def _wanted(positions: list[float], linked: float | None) -> float:
    """The link's ?t=, else the older link's time, else the session's, else the first position. A ?t=
    the clock wrote itself is the session's time: another run, picked since, may end sooner, and
    `snap` takes it to that run's nearest time without calling the URL malformed."""
    own = CLOCK in st.session_state and st.query_params.get("t") == _written(st.session_state[CLOCK])
    if "t" in st.query_params and not own:
        first, last = positions[0], positions[-1]  # as the URL writes them too, so either is in range
        low, high = min(first, float(_written(first))), max(last, float(_written(last)))
        return links.number("t", first, low, high)
    if linked is not None:
        return linked
    return st.session_state.get(CLOCK, positions[0])


def time() -> float | None:
    """The session's time, or None before any page set it (the Valley opens near it)."""
    return st.session_state.get(CLOCK)


def set_time(t: float) -> None:
    """The clock's one writer: the session's time and the URL's ?t= move together (a callback that
    left the URL behind would be undone by the next run, which reads the URL first)."""
    st.session_state[CLOCK] = t
    st.query_params["t"] = _written(t)


def _written(t: float) -> str:
    return f"{t:.10g}"


def _playing(page: str) -> bool:
    return st.session_state.get(PLAYING) == page


def _advance(positions: list[float]) -> None:
    """One frame of Play: 1/FRAMES of the run's span in effective time, at least one position (the
    positions are denser where the exit branch logs), so the pace is steady; the last one stops it."""
    now = nearest(positions, st.session_state[CLOCK])
    target = positions[now] + (positions[-1] - positions[0]) / FRAMES
    at = max(now + 1, bisect.bisect_left(positions, target - 1e-9 * max(abs(target), 1.0)))
    at = min(at, len(positions) - 1)
    set_time(positions[at])
    if at == len(positions) - 1:
        st.session_state.pop(PLAYING, None)


def _controls(positions: list[float], page: str) -> None:
    slider = f"clock_slider_{page}"
    st.session_state[slider] = st.session_state[CLOCK]  # the slider shows the clock, Play's frames included
    left, right = st.columns([8, 1], vertical_alignment="bottom")
    left.select_slider(
        "Time (effective time t = Σ η_s)",
        positions,
        key=slider,
        format_func=label,
        on_change=_moved,
        args=(slider,),
        help="One clock for every page: the line on λ1 and the group losses, the natural-outliers scatter "
        "and the prototypes' values follow it. Play runs it to the end; moving the slider pauses it.",
    )
    playing = _playing(page)
    right.button(
        "Pause" if playing else "Play",
        icon=":material/pause:" if playing else ":material/play_arrow:",
        key=f"clock_play_{page}",
        on_click=_toggle,
        args=(positions, page),
        width="stretch",
    )


def _moved(slider: str) -> None:
    set_time(st.session_state[slider])
    st.session_state.pop(PLAYING, None)  # a hand on the slider takes the clock from Play


def _toggle(positions: list[float], page: str) -> None:
    if st.session_state.pop(PLAYING, None) is not None:
        return
    if st.session_state[CLOCK] == positions[-1]:  # Play at the end starts again from the beginning
        set_time(positions[0])
    st.session_state[PLAYING] = page


def line_figure(base, positions: list[tuple[float, str]], key: str) -> None:
    """`base` (built once per run of the page) drawn with the clock's lines at `positions` (see
    `timeline.lines`); a copy takes the lines, so every frame starts from the same figure."""
    figure(plots.add_clock(go.Figure(base), positions), key)


# What the pages draw at the clock's time, shared by the result pages and the Story.


def sharpness_at(lambda1, result, t: float, x: str, key: str, start: tuple[float, float] = (0.0, 0.0)) -> None:
    """The λ1 figure `lambda1` with the clock's line at `t`, and λ1 there in words."""
    line_figure(lambda1, timeline.lines(result.trace, t, x, start), key)
    st.caption(timeline.describe_sharpness(result.trace, t))


def gallery_at(result, branch: str, t: float, per_row: int, mark: bool = True) -> None:
    """The tracked images captioned with their loss and cos² at the checkpoint nearest `t`."""
    point = timeline.nearest_checkpoint(result, branch, t)
    st.caption(
        timeline.describe_checkpoint(point, t) + " Under each image: its loss ℓ_i and the alignment "
        "cos²(∇ℓ_i, v1) of its gradient with the top Hessian eigenvector there."
    )
    prototype_gallery(result, per_row, mark, timeline.prototype_captions(timeline.prototype_values(result, point)))
