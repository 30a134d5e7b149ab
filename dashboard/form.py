"""The experiment form, drawn from one table of fields: presets fill it, the config's own validation
checks it, and a refusal is shown where the user looks (above the Run button, beside the field,
in the field's own words). Submitting queues one job per seed and makes sure a worker runs."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import streamlit as st

from dashboard import access
from dashboard.content.glossary import CONTROL_HELP
from dashboard.state import get_queue
from eos_core.config import CHOICES, KNOBS, MAX_STEPS, ConfigError, RunConfig, available_per_class, class_label, label
from eos_core.datasets import REGISTRY, availability
from eos_core.presets import PRESETS
from eos_core.resources import ResourceError, check_fits, torch_free_device
from eos_core.runs.queue import QueueFull
from eos_core.runs.sweep import parse_seeds
from eos_core.runs.worker import ensure_worker


@dataclass(frozen=True)
class Field:
    name: str  # RunConfig field, or a form-only one (class_a, class_b, seeds)
    widget: str  # number | integer | slider | radio | select | text
    bounds: tuple = ()  # the widget's range (min, max, step), within the field's own; radio/select: the choices
    advanced: bool = False
    label: str = ""  # form-only fields; a RunConfig field's label and help are its own (config.KNOBS)
    help: str = ""

    def __post_init__(self):
        if self.name in KNOBS:
            object.__setattr__(self, "label", label(self.name))
            object.__setattr__(self, "help", KNOBS[self.name].help)


FIELDS = (
    Field("dataset", "select", tuple(REGISTRY)),
    Field("class_a", "select", label="Class 0", help=KNOBS["classes"].help),
    Field("class_b", "select", label="Class 1", help=KNOBS["classes"].help),
    Field("alpha", "number", (0.0, 1e3, 0.5)),
    Field("c", "slider", (0.05, float(KNOBS["c"].high), 0.05)),
    Field("loss", "radio", CHOICES["loss"]),
    Field("displacement", "radio", CHOICES["displacement"]),
    Field("seeds", "text", label="Seeds", help=CONTROL_HELP["seeds"]),
    Field("lr", "number", (1e-6, 10.0, None), advanced=True),
    Field("steps", "integer", (1, MAX_STEPS, 32), advanced=True),
    Field("n_per_class", "integer", (1, 10**6, 1), advanced=True),
    Field("m", "integer", (1, 10**5, 1), advanced=True),
    Field("k", "integer", (1, 10**5, 1), advanced=True),
    Field("onset_fraction", "number", (0.05, KNOBS["onset_fraction"].high, 0.05), advanced=True),
    Field("log_every", "integer", (1, 10**6, 1), advanced=True),
    Field("image_size", "integer", (1, 512, 1), advanced=True),
    Field("model", "select", CHOICES["model"], advanced=True),
    Field("optimizer", "select", CHOICES["optimizer"], advanced=True),
    Field("momentum", "number", (0.0, 0.99, 0.05), advanced=True),
    Field("batch_size", "integer", (1, 10**6, 1), advanced=True),
    Field("valley_every", "integer", (0, MAX_STEPS, 16), advanced=True),
)
BY_NAME = {f.name: f for f in FIELDS}
CONFIG_FIELDS = [f.name for f in FIELDS if f.name not in ("dataset", "class_a", "class_b", "seeds")]


def fill_from(cfg: RunConfig, seeds: str = "0") -> None:
    """Copy a config into the form's widget state (preset buttons, retries)."""
    values = cfg.to_dict()
    values.update(class_a=cfg.classes[0], class_b=cfg.classes[1], seeds=seeds)
    for f in FIELDS:
        st.session_state[f"form_{f.name}"] = values[f.name]
    st.session_state["form_base"] = cfg
    st.session_state["form_error"] = None


def keep_values() -> None:
    """Keep the form's values while another page is shown. Streamlit forgets the state of widgets a
    run did not draw; a key set by the script itself it keeps, so each run sets them to themselves."""
    for f in FIELDS:
        key = f"form_{f.name}"
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


def in_words(error: ConfigError) -> str:
    """A validation error in the form's words: its label, not the config field's name."""
    reason = str(error).split(" is invalid: ", 1)[-1]
    value = st.session_state.get(f"form_{error.field}")
    if error.field == "classes":
        value = f"{st.session_state.get('form_class_a')} / {st.session_state.get('form_class_b')}"
    shown = f" = {value}" if value is not None else ""
    named = (
        BY_NAME[error.field].label
        if error.field in BY_NAME
        else label(error.field)
        if error.field in KNOBS
        else error.field
    )
    return f"{named}{shown}: {reason}"


def _valid_classes() -> None:
    s = st.session_state
    names = REGISTRY[s.form_dataset].classes
    for field, default in (("form_class_a", 0), ("form_class_b", 1)):
        if s.get(field) not in names:
            s[field] = names[default]


def _clamp_to_classes() -> None:
    """After a dataset or class change: valid classes, and no more examples than the pair has."""
    s = st.session_state
    _valid_classes()
    if s.form_class_a != s.form_class_b:
        available = min(available_per_class(s.form_dataset, c) for c in (s.form_class_a, s.form_class_b))
        s.form_n_per_class = min(int(s.form_n_per_class), available)
    s.form_error = None


def field_widget(container, f: Field, prefix: str = "form"):
    """`f`'s widget, its value in session_state[f"{prefix}_{name}"] (the Fork panel draws some too)."""
    key = f"{prefix}_{f.name}"
    kwargs = {"help": f.help, "key": key}
    if f.widget == "number":
        low, high, step = f.bounds
        fmt = "%.4f" if f.name == "lr" else None
        return container.number_input(f.label, min_value=low, max_value=high, step=step, format=fmt, **kwargs)
    if f.widget == "integer":
        low, high, step = f.bounds
        st.session_state[key] = int(st.session_state[key])
        return container.number_input(f.label, min_value=low, max_value=high, step=step, **kwargs)
    if f.widget == "slider":
        low, high, step = f.bounds
        return container.slider(f.label, low, high, step=step, **kwargs)
    if f.widget == "radio":
        return container.radio(f.label, f.bounds, horizontal=True, **kwargs)
    if f.widget == "select":
        return container.selectbox(f.label, f.bounds, **kwargs)
    return container.text_input(f.label, **kwargs)


def _error_below(field: str) -> None:
    error = st.session_state.get("form_error")
    if error and error[0] == field:
        st.error(error[1], icon=":material/error:")


def preset_buttons() -> None:
    """Presets grouped by the paper's figures; the offline ones first, open."""
    from eos_core.presets import FIGURES, preset

    st.caption("Presets fill the form")
    for title in sorted(FIGURES, key=lambda t: not t.startswith("Offline")):
        with st.expander(title, expanded=title.startswith("Offline")):
            cols = st.columns(4)
            for i, name in enumerate(FIGURES[title]):
                if cols[i % 4].button(name, help=PRESETS[name][0], key=f"preset-{title}-{name}", width="stretch"):
                    fill_from(preset(name))
                    st.rerun()


def experiment_form() -> list[str] | None:
    """Draws the form; on submit returns the queued job ids (or None)."""
    if "form_base" not in st.session_state:
        from eos_core.presets import first_launch, preset

        fill_from(preset(first_launch()[0]))
    s = st.session_state
    _valid_classes()
    # dataset and classes live outside the form: changing them re-clamps what depends on them
    dataset = BY_NAME["dataset"]
    st.selectbox(
        dataset.label,
        dataset.bounds,
        key="form_dataset",
        help=dataset.help,
        on_change=_clamp_to_classes,
        format_func=lambda name: REGISTRY[name].title,
    )
    left, right = st.columns(2)
    for col, name in ((left, "class_a"), (right, "class_b")):
        f = BY_NAME[name]
        col.selectbox(
            f.label,
            REGISTRY[s.form_dataset].classes,
            key=f"form_{name}",
            help=f.help,
            on_change=_clamp_to_classes,
            format_func=partial(class_label, s.form_dataset),
        )
    _error_below("classes")
    ready, why = availability(s.form_dataset)
    missing = None if ready else why
    if missing:
        st.error(missing, icon=":material/folder_off:")
    error = s.get("form_error")
    with st.form("experiment"):
        main = [f for f in FIELDS if not f.advanced and f.name not in ("dataset", "class_a", "class_b")]
        cols = st.columns(2)
        for i, f in enumerate(main):
            with cols[i % 2]:
                field_widget(st, f)
                _error_below(f.name)
        advanced_error = bool(error) and error[0] in BY_NAME and BY_NAME[error[0]].advanced
        with st.expander("Advanced", expanded=advanced_error):
            cols = st.columns(3)
            for i, f in enumerate(f for f in FIELDS if f.advanced):
                with cols[i % 3]:
                    field_widget(st, f)
                    _error_below(f.name)
        if error:  # the summary sits right above the button the user just pressed
            st.error(f"Not queued — {error[1]}", icon=":material/block:")
        refused = access.locked()
        if refused:
            st.info(refused, icon=":material/lock:")
        submitted = st.form_submit_button("Run experiment", type="primary", disabled=bool(missing or refused))
    if not submitted or missing or refused:
        return None
    return _submit(s["form_base"])


def fits_here(cfg: RunConfig) -> None:
    """Refuse on the form a run this machine's memory cannot hold (seeds share one size); where a
    GPU decides, the worker checks it before training."""
    device = torch_free_device(cfg.device)
    if device:
        check_fits(cfg, device)


def _submit(base: RunConfig) -> list[str] | None:
    s = st.session_state
    casts = {"number": float, "slider": float, "integer": int}
    changes = {name: casts.get(BY_NAME[name].widget, str)(s[f"form_{name}"]) for name in CONFIG_FIELDS}
    changes.update(dataset=s.form_dataset, classes=(s.form_class_a, s.form_class_b))
    # keep per-example storage on the logging grid unless the preset asked for a coarser multiple
    every = base.example_every if base.example_every % changes["log_every"] == 0 else changes["log_every"]
    try:
        seeds = parse_seeds(s.form_seeds)
        configs = [base.replace(**changes, example_every=every, seed=seed) for seed in seeds]
        fits_here(configs[0])
    except ConfigError as error:
        s["form_error"] = (error.field, in_words(error))
        st.rerun()
    except ResourceError as error:
        s["form_error"] = ("memory", str(error))
        st.rerun()
    queue, owner = get_queue(), access.owner()
    try:
        room = queue.room(owner)
        if len(configs) > 1 and room < len(configs):  # all the seeds or none (one alone: submit says why)
            raise QueueFull(f"{len(configs)} seeds asked for, but this session may queue only {room} more runs now")
        jobs = [queue.submit(cfg, owner=owner)["id"] for cfg in configs]
    except QueueFull as error:
        s["form_error"] = ("queue", str(error))
        st.rerun()
    s["form_error"] = None
    ensure_worker(queue)
    return jobs
