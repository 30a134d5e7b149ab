import streamlit as st

from dashboard import access, clock
from dashboard.content import story, timeline, toy, toy_plots
from dashboard.pages import heading, page
from dashboard.state import families, get_queue, label, load_result, remember_run, remember_story_run
from dashboard.status import story_in_progress
from dashboard.teach import plain
from dashboard.widgets import figure, story_download
from eos_core.presets import first_launch, preset
from eos_core.runs import shipped
from eos_core.runs.queue import NotYours, QueueFull
from eos_core.runs.worker import ensure_worker

st.title(heading("story"))
st.caption("Two toys to touch, then the paper's argument in five steps, told on the runs in this cache.")

# The toys come first and need no run: numpy in this process, redrawn as the sliders move.
st.markdown("#### A toy to touch: gradient descent on a bowl")
st.caption(toy_plots.QUADRATIC_INTRO)
bowl_lr = st.slider("Learning rate η on the bowl", *toy.BOWL_LR, 0.01, format="%.2f", key="toy_lr")
bowl = toy.quadratic_path(*toy.BOWL, bowl_lr, toy.BOWL_START)
st.markdown(
    f"**The iterates {toy.regime(toy.BOWL[0], bowl_lr)}.** "
    + plain(toy_plots.describe_quadratic(bowl, *toy.BOWL, bowl_lr))
)
figure(toy_plots.quadratic_figure(bowl, *toy.BOWL, bowl_lr), "toy-bowl")

st.markdown("#### A toy that sharpens: the edge of stability")
st.caption(toy_plots.SHARPENING_INTRO)
sharp_lr = st.slider(
    "Learning rate η on the sharpening toy", *toy.SHARPENING_LR, 0.01, format="%.2f", key="toy_sharp_lr"
)
sharpening = toy.sharpening_run(sharp_lr)
st.markdown(plain(toy_plots.describe_sharpening(sharpening)))
figure(toy_plots.sharpening_figure(sharpening), "toy-sharpening")
st.divider()

metas = [m for group in families().values() for m in group]
launch = first_launch()
choices = story.candidates(metas)
queue = get_queue()
pending = shipped.training(queue)
for job in pending:
    if job.get("notice"):
        st.warning(f"A shipped run could not be used: {job['notice']}.", icon=":material/build:")
if not choices:
    if pending:
        names = ", ".join(label({"config": j["config"]}) for j in pending)
        st.info(
            f"The story's runs are training ({names}); their progress is on the Experiment page. This page "
            "fills in as soon as the first has forked and finished."
        )
    else:
        st.info(
            "The story needs a finished run that reached the edge of stability: the teaching runs shipped "
            "with EoS Explorer, or the presets " + " and ".join(launch) + " trained here (a few minutes each)."
        )
        refused = access.locked()
        restore, train = st.columns(2)
        if restore.button(
            "Restore the shipped runs", type="primary", icon=":material/restore:", disabled=bool(refused), help=refused
        ):
            shipped.install(queue)
            ensure_worker(queue)
            st.rerun()
        if train.button("Run " + " and ".join(launch), disabled=bool(refused), help=refused):
            try:
                for name in launch:
                    queue.submit(preset(name), owner=access.owner())
            except QueueFull as error:
                st.error(str(error), icon=":material/block:")
                st.stop()
            ensure_worker(queue)
            st.switch_page(page("experiment").file)
    st.stop()

by_hash = {m["config_hash"]: m for m in choices}
wanted = st.query_params.get("story_run", choices[0]["config_hash"])
hashes = list(by_hash)
chosen = st.selectbox(
    "Run",
    hashes,
    index=hashes.index(wanted) if wanted in hashes else 0,
    format_func=lambda h: label(by_hash[h]),
    key="story_run",
    on_change=lambda: remember_run(st.session_state["story_run"]),  # a run picked here is the user's choice
)
remember_story_run(chosen)
pair = shipped.pair_of(chosen)
refused = access.locked()
if pair and st.button(
    "Run it live",
    icon=":material/play_circle:",
    disabled=bool(refused),
    help=refused
    or "Train a fresh copy of this run and its random control here, and watch them grow on the Experiment "
    "page (a few minutes on a laptop CPU); the Story is told on the fresh copies when they finish.",
):
    try:
        shipped.live(queue, pair, owner=access.owner())
    except (ValueError, QueueFull, NotYours) as error:
        st.error(str(error), icon=":material/error:")
    else:
        ensure_worker(queue)
        st.switch_page(page("experiment").file)
control = story.twin(by_hash[chosen]["config"], metas)
steps = story.steps(load_result(chosen), load_result(control["config_hash"]) if control else None)

raw = st.query_params.get("step", "1")
index = int(raw) - 1 if raw.isdigit() and 1 <= int(raw) <= len(steps) else 0
if "story_step" not in st.session_state:
    st.session_state["story_step"] = index
index = st.session_state["story_step"]
st.query_params.update(story_run=chosen, step=str(index + 1))

step = steps[index]
st.progress((index + 1) / len(steps), text=f"Step {index + 1} of {len(steps)}")
st.subheader(f"{index + 1}. {step.title}")
for sentence in step.sentences:
    st.markdown(plain(sentence))
result = load_result(chosen)
times = timeline.ticks(result.trace)
if step.title in story.TIMED:  # a figure of λ1 over steps: the clock's line moves on it
    clock.show(
        story.clock_times(step, result),
        "story",
        lambda t: clock.sharpness_at(step.figure, result, t, "step", f"story-{index + 1}"),
    )
elif step.figure is not None:
    figure(step.figure, f"story-{index + 1}")
if step.title == story.TITLES[3] and result.meta["config"]["dataset"] != "synthetic":
    with st.expander("Who are the groups? The tracked images of this run", expanded=True):
        clock.show(times, "story", lambda t: clock.gallery_at(result, "baseline", t, per_row=8))
if index == len(steps) - 1:
    st.info(story.REAL_IMAGES, icon=":material/image:")

back, _, forward = st.columns([1, 4, 1])
if back.button("← back", disabled=index == 0, width="stretch"):
    st.session_state["story_step"] = index - 1
    clock.stop()
    st.rerun()
if forward.button("next →", type="primary", disabled=index == len(steps) - 1, width="stretch"):
    st.session_state["story_step"] = index + 1
    clock.stop()
    st.rerun()
shown = page(story.STEP_PAGES[index])
st.page_link(shown.file, label=f"This run on the {shown.title} page", icon=shown.icon, query_params={"run": chosen})

# The whole Story as one file to hand out (built only when clicked), saying what was still training.
control_result = load_result(control["config_hash"]) if control else None
story_download(result, control_result, label(by_hash[chosen]), story_in_progress(by_hash[chosen]))
