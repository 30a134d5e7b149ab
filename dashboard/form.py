"""The experiment form: presets fill it, the config's own validation checks it, submitting
queues one job per seed and makes sure a worker is running."""
from __future__ import annotations

import streamlit as st

from eos_core.config import CHOICES, CLASSES, ConfigError, RunConfig
from eos_core.glossary import CONTROL_HELP, FIELD_HELP
from eos_core.presets import PRESETS
from eos_core.sweep import parse_seeds
from eos_core.worker import ensure_worker

from .state import get_store

FIELDS = ("dataset", "class_a", "class_b", "alpha", "loss", "displacement", "c", "seeds", "lr", "steps",
          "n_per_class", "m", "k", "onset_fraction", "log_every", "image_size", "model", "optimizer",
          "momentum", "batch_size")


def fill_from(cfg: RunConfig, seeds: str = "0") -> None:
    """Copy a config into the form's widget state (preset buttons, retries)."""
    values = cfg.to_dict()
    values.update(class_a=cfg.classes[0], class_b=cfg.classes[1], seeds=seeds)
    for name in FIELDS:
        if name in values:
            st.session_state[f"form_{name}"] = values[name]
    st.session_state["form_base"] = cfg


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
        from eos_core.presets import FIRST_LAUNCH, preset
        fill_from(preset(FIRST_LAUNCH[0]))
    base: RunConfig = st.session_state["form_base"]
    dataset = st.selectbox("Dataset", list(CLASSES), key="form_dataset",
                           help=FIELD_HELP["dataset"] + " cifar10 needs the files on disk "
                                "(python -m eos_core data --download cifar10).")
    with st.form("experiment"):
        names = CLASSES[dataset]
        left, right = st.columns(2)
        for col, field, default in ((left, "class_a", 0), (right, "class_b", 1)):
            if st.session_state.get(f"form_{field}") not in names:
                st.session_state[f"form_{field}"] = names[default]
            col.selectbox("Class 0" if field == "class_a" else "Class 1", names, key=f"form_{field}",
                          help=FIELD_HELP["classes"])
        _error_below("classes")
        left, right = st.columns(2)
        left.number_input("α (input-outlier displacement)", min_value=0.0, step=0.5, key="form_alpha", help=FIELD_HELP["alpha"])
        _error_below("alpha")
        right.slider("c (exit branch learning-rate factor)", 0.05, 1.0, step=0.05, key="form_c", help=FIELD_HELP["c"])
        _error_below("c")
        left.radio("Loss", ["mse", "ce"], horizontal=True, key="form_loss", help=FIELD_HELP["loss"])
        right.radio("Input-outlier displacement", ["coherent", "random"], horizontal=True, key="form_displacement",
                    help=FIELD_HELP["displacement"])
        st.text_input("Seeds", key="form_seeds", help=CONTROL_HELP["seeds"])
        _error_below("seeds")
        with st.expander("Advanced"):
            a, b, c = st.columns(3)
            a.number_input("η (learning rate)", min_value=0.0, format="%.4f", key="form_lr", help=FIELD_HELP["lr"])
            b.number_input("steps", min_value=1, step=32, key="form_steps", help=FIELD_HELP["steps"])
            c.number_input("examples per class", min_value=1, key="form_n_per_class", help=FIELD_HELP["n_per_class"])
            a.number_input("m (prototypes per class and group)", min_value=1, key="form_m", help=FIELD_HELP["m"])
            b.number_input("k (k-NN for boundary points)", min_value=1, key="form_k", help=FIELD_HELP["k"])
            c.number_input("onset fraction f", min_value=0.05, max_value=1.5, step=0.05, key="form_onset_fraction",
                            help=FIELD_HELP["onset_fraction"])
            a.number_input("log every (steps)", min_value=1, key="form_log_every", help=FIELD_HELP["log_every"])
            b.number_input("image size", min_value=1, key="form_image_size", help=FIELD_HELP["image_size"])
            c.selectbox("model", CHOICES["model"], key="form_model", help=FIELD_HELP["model"])
            a.selectbox("optimiser", CHOICES["optimizer"], key="form_optimizer",
                        help=FIELD_HELP["optimizer"])
            b.number_input("momentum β", min_value=0.0, max_value=0.99, step=0.05, key="form_momentum", help=FIELD_HELP["momentum"])
            c.number_input("SGD batch size", min_value=1, key="form_batch_size", help=FIELD_HELP["batch_size"])
            for field in ("lr", "steps", "n_per_class", "m", "k", "onset_fraction", "log_every", "image_size",
                          "model", "optimizer", "momentum", "batch_size"):
                _error_below(field)
        submitted = st.form_submit_button("Run experiment", type="primary")
    if not submitted:
        return None
    return _submit(base)


def _submit(base: RunConfig) -> list[str] | None:
    s = st.session_state
    changes = dict(dataset=s.form_dataset, classes=(s.form_class_a, s.form_class_b), alpha=float(s.form_alpha),
                   loss=s.form_loss, displacement=s.form_displacement, c=float(s.form_c), lr=float(s.form_lr),
                   steps=int(s.form_steps), n_per_class=int(s.form_n_per_class), m=int(s.form_m), k=int(s.form_k),
                   onset_fraction=float(s.form_onset_fraction), log_every=int(s.form_log_every),
                   image_size=int(s.form_image_size), model=s.form_model, optimizer=s.form_optimizer,
                   momentum=float(s.form_momentum), batch_size=int(s.form_batch_size))
    # keep per-example storage on the logging grid unless the preset asked for a coarser multiple
    every = base.example_every if base.example_every % changes["log_every"] == 0 else changes["log_every"]
    try:
        seeds = parse_seeds(s.form_seeds)
        configs = [base.replace(**changes, example_every=every, seed=seed) for seed in seeds]
    except ConfigError as error:
        s["form_error"] = (error.field, str(error))
        st.rerun()
    s["form_error"] = None
    store = get_store()
    jobs = [store.submit(cfg)["id"] for cfg in configs]
    ensure_worker(store)
    return jobs
