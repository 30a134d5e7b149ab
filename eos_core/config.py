"""Run configuration: one frozen, validated record of every knob (the named presets are in presets.py).

This module is imported by the dashboard process, so it must never import torch.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import NamedTuple

from eos_core.datasets import REGISTRY

SCHEMA_VERSION = 1

# Each dataset's classes, counts and checks are in its module of `datasets` (torch-free).
DATASETS = tuple(REGISTRY)

CHOICES = {
    "dataset": DATASETS,
    "displacement": ("coherent", "random"),
    "loss": ("mse", "ce"),
    "model": ("mlp", "cnn", "resnet14"),
    "optimizer": ("gd", "momentum", "sgd"),
    "device": ("auto", "cpu", "cuda"),
    "dtype": ("float32", "float64"),
}
FLOWS = ("gradient", "central")  # reference branches integrated from the fork (science.flows)
MAX_TRACKED = 8  # eigenpairs tracked above track_fraction·threshold: the Lanczos cost grows with each


# Bounds that keep every value representable wherever it goes (torch generators, int64 columns,
# SQLite) and every run finite: 10 million steps is 1,000× the paper's longest run.
MAX_SEED = 2**32 - 1  # seeds are also multiplied by 1,000,003 (SGD batches); 64 bits must hold that
MAX_INT = 2**63 - 1
MAX_STEPS = 10_000_000
# c·η must be a normal number of the training dtype: smaller, the update underflows to zero and
# the thresholds 2/(c·η), (2 + 2β)/(c·η) overflow to infinity.
SMALLEST_NORMAL = {"float32": 2.0**-126, "float64": 2.0**-1022}
ECHO_LIMIT = 200  # characters of a value an error message repeats


def shown(value) -> str:
    """repr(value) on one line, cut to ECHO_LIMIT characters (an error must stay readable)."""
    text = repr(value)
    if len(text) <= ECHO_LIMIT:
        return text
    return f"{text[:ECHO_LIMIT]}… ({len(value) if isinstance(value, str) else len(text)} characters)"


# What a fork (science.fork) may change: the exit branch's optimisation. Anything else (data,
# groups, model, seed, precision, schedule) would make the replayed baseline another run's.
FORKABLE = ("c", "lr", "loss", "optimizer", "momentum", "batch_size", "flows")


class ForkError(ValueError):
    """A fork that cannot be made: a step outside the stored range or a change that is not allowed."""


class ConfigError(ValueError):
    """An invalid configuration value; `field` names the offending field."""

    def __init__(self, field_name: str, value, allowed: str):
        self.field = field_name
        name = field_name if field_name.isidentifier() and len(field_name) <= 40 else shown(field_name)
        super().__init__(f"{name}={shown(value)} is invalid: {allowed}")


@dataclass(frozen=True)
class Knob:
    """What every part of the product says about one RunConfig field: the form's label and tooltip,
    the Glossary's text, the symbol in run names, and the bounds validation enforces."""

    help: str
    label: str = ""  # on the form; "" → the field's name
    symbol: str = ""  # in run names (α=5); "" → the field's name
    low: float | None = None  # validation: the value must lie between low and high …
    high: float | None = None
    low_open: bool = False  # … excluding low (or high) itself when open
    high_open: bool = False
    rule: str = ""  # what a refusal says when the value is outside the bounds

    def contains(self, value) -> bool:
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below


def knob(default, help: str, **facts):
    return dataclasses.field(default=default, metadata={"knob": Knob(help, **facts)})


@dataclass(frozen=True)
class RunConfig:
    dataset: str = knob(
        "digits",
        "Where the two classes come from: digits (scikit-learn, offline), synthetic "
        "(generated, any size), cifar10, mnist or fashion_mnist (files on disk).",
        label="Dataset",
    )
    classes: tuple = knob(
        ("even", "odd"), "The binary task: class 0 and class 1. Digits also offers even vs odd.", label="Classes"
    )
    n_per_class: int = knob(
        300, "Training examples taken from each class; n = 2 × this.", label="examples per class", symbol="n/class"
    )
    image_size: int = knob(
        8, "Side of the square images in pixels (digits upsample from 8 to S×S×3; CIFAR-10 is 32).", label="image size"
    )
    alpha: float = knob(
        3.0,
        "How far input-outliers are pushed from their class: x ± α·(μ1 − μ0). 0 leaves them as inliers.",
        label="α (input-outlier displacement)",
        symbol="α",
        low=0,
        rule="must be ≥ 0",
    )
    displacement: str = knob(
        "coherent",
        "coherent: input-outliers all move along the class-centre difference; "
        "random: each moves the same distance in its own direction orthogonal to it (the "
        "control).",
        label="Input-outlier displacement",
    )
    m: int = knob(
        25,
        "Examples per class in each tracked group (inliers, boundary points, input- and output-outliers).",
        label="m (prototypes per class and group)",
    )
    k: int = knob(
        50,
        "Neighbours used to score how ambiguous an example's neighbourhood is (picks boundary points).",
        label="k (k-NN for boundary points)",
    )
    loss: str = knob(
        "mse",
        "mse: squared error on one-hot targets (the paper's main setting); ce: softmax cross-entropy.",
        label="Loss",
    )
    model: str = knob(
        "mlp",
        "mlp: 2 hidden layers of `width` ReLU units (the paper's model); cnn; resnet14 without batch norm.",
        label="model",
    )
    width: int = knob(512, "Hidden units per layer of the MLP.")
    init_scale: float = knob(
        0.2,
        "Multiplies the initial weights; smaller values sharpen more slowly.",
        low=0,
        low_open=True,
        rule="must be > 0",
    )
    optimizer: str = knob(
        "gd",
        "gd: full-batch gradient descent; momentum: heavy ball, threshold (2+2β)/η; sgd: minibatches.",
        label="optimiser",
    )
    momentum: float = knob(
        0.9,
        "Heavy-ball β (optimiser momentum only); raises the threshold to (2+2β)/η.",
        label="momentum β",
        symbol="β",
        low=0,
        high=1,
        high_open=True,
        rule="heavy-ball β must lie in [0, 1)",
    )
    batch_size: int = knob(128, "Minibatch size (optimiser sgd only).", label="SGD batch size")
    lr: float = knob(
        0.01,
        "The learning rate η of the EoS branch; the stability threshold is 2/η.",
        label="η (learning rate)",
        symbol="η",
        low=0,
        low_open=True,
        rule="the learning rate η must be > 0",
    )
    c: float = knob(
        0.5,
        "The exit branch continues from t* at c·η, which lifts its threshold to 2/(c·η) and "
        "takes it off the edge of stability.",
        label="c (exit branch learning-rate factor)",
        low=0,
        high=1,
        low_open=True,
        rule="the exit factor must lie in (0, 1]",
    )
    steps: int = knob(2000, "Gradient steps for each branch, counted from step 0.", label="steps")
    log_every: int = knob(
        32, "Diagnostics (λ1, group losses, alignment) are computed every this many steps.", label="log every (steps)"
    )
    onset_fraction: float = knob(
        0.9,
        "EoS onset t* is the first logged step with λ1 ≥ f·2/η; 1 is the paper's "
        "literal rule, 0.9 catches runs whose logged λ1 oscillates just below 2/η.",
        label="onset fraction f",
        symbol="f",
        low=0,
        high=1.5,
        low_open=True,
        rule="must lie in (0, 1.5]; 1 is the paper's literal rule λ1 ≥ 2/η",
    )
    mechanism_every: int = knob(
        2,
        "The mechanism terms (∇S: a_S, b_S, Q_k) are computed at every this many logged steps; λ1, "
        "the group and per-example terms at every one. ∇S costs about three gradients.",
        label="mechanism terms every (logged steps)",
    )
    track_fraction: float = knob(
        0.0,
        f"Track every Hessian eigenvalue above this fraction of the threshold (at most {MAX_TRACKED}), "
        "with each group's cos² and curvature influence along its eigenvector; 0 tracks the top two only.",
        label="track eigenvalues above (fraction of threshold)",
        low=0,
        high=1,
        rule="must lie in [0, 1]; 0 tracks the top two only",
    )
    flows: tuple = knob(
        (),
        "Reference branches from t*: gradient (gradient flow to the same effective time, what a "
        "vanishing step does) and central (the central flow's prediction of the time-averaged EoS path).",
        label="reference flows",
    )
    valley_every: int = knob(
        0,
        "The loss is sliced along the top eigenvector v1 (and the v1 × v2 surface) about every this many "
        "steps (at the nearest logged step), at t* and, on the exit branch, at the same effective times; "
        "0 leaves it off. Forward passes only.",
        label="valley slices every (steps)",
    )
    example_every: int = knob(
        32,
        "Per-example losses and alignments are stored every this many steps (a multiple of log every).",
        label="per-example storage",
    )
    ood_alphas: tuple = knob(
        (0.0, 1.0, 3.0, 5.0, 10.0),
        "α_test values of the out-of-distribution probe (§5.2): test inliers displaced by each α_test.",
    )
    seed: int = knob(0, "Random seed of data sampling and initialisation; several seeds aggregate as median and IQR.")
    device: str = knob("auto", "auto picks the GPU when there is one.")
    dtype: str = knob("float32", "float32 is the paper's precision; float64 for exact checks.")

    def __post_init__(self):
        spec = REGISTRY.get(self.dataset)  # a user's spelling of a class ("6", "Shirt") → its name
        object.__setattr__(self, "classes", tuple(spec.canonical(c) if spec else str(c) for c in self.classes))
        try:
            object.__setattr__(self, "ood_alphas", tuple(float(a) for a in self.ood_alphas))
        except (TypeError, ValueError):
            raise ConfigError("ood_alphas", self.ood_alphas, "a list of numbers, e.g. 0,1,3,10") from None
        flows = self.flows.split(",") if isinstance(self.flows, str) else self.flows  # "gradient,central"
        object.__setattr__(self, "flows", tuple(str(f).strip() for f in flows if str(f).strip()))
        validate(self)

    @property
    def n(self) -> int:
        return 2 * self.n_per_class

    def replace(self, **changes) -> RunConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["classes"] = list(self.classes)
        d["ood_alphas"] = list(self.ood_alphas)
        d["flows"] = list(self.flows)
        return d

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no whitespace, so equal configs give equal bytes."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            name = sorted(unknown)[0]
            raise ConfigError(name, d[name], "unknown field")
        return cls(
            **{
                **{k: v for k, v in LEGACY.items() if k not in d},
                **d,
                "classes": tuple(d.get("classes", cls.classes)),
                "ood_alphas": tuple(d.get("ood_alphas", cls.ood_alphas)),
                "flows": tuple(d.get("flows", LEGACY["flows"])),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        return cls.from_dict(json.loads(text))

    def config_hash(self) -> str:
        return _hash(self.to_dict())

    def baseline_hash(self) -> str:
        """Hash of everything the baseline branch depends on: all but the exit factor c and the
        reference flows (both start at the fork). Without flows it is the hash it always was."""
        d = self.to_dict()
        d.pop("c")
        d.pop("flows")
        return _hash(d)


# Each field's facts (RunConfig's metadata), by name: the form, the glossary, naming and validation read them.
KNOBS: dict[str, Knob] = {f.name: f.metadata["knob"] for f in dataclasses.fields(RunConfig)}


def label(name: str) -> str:
    return KNOBS[name].label or name


def symbol(name: str) -> str:
    return KNOBS[name].symbol or name


# Fields added after results were first stored, with the value every run stored before them had.
# A stored config without the field means this value, and at this value the field is left out of
# the hash, so results and jobs stored before keep their keys.
LEGACY = {"mechanism_every": 1, "track_fraction": 0.0, "flows": (), "valley_every": 0}


class Threshold(NamedTuple):
    value: float  # λ1 above this is linearly unstable along v1
    why: str  # which optimiser's rule, in words
    symbol: str  # e.g. "2/η", "(2+2β)/(c·η)"


def stability_threshold(config: RunConfig | dict, lr: float, rate: str = "η") -> Threshold:
    """The optimiser's stability threshold at learning rate `lr` — the one definition every module
    uses. `config` is a RunConfig or a result's config dict; `rate` names `lr` in the symbol
    ("η" for the baseline, "c·η" for the exit branch)."""
    optimizer, beta = _field(config, "optimizer"), _field(config, "momentum")
    denominator = rate if rate.isalnum() else f"({rate})"
    if optimizer == "momentum":
        return Threshold(
            (2 + 2 * beta) / lr,
            f"heavy-ball momentum β = {beta:g} is linearly stable along v1 while λ1 < (2 + 2β)/η",
            f"(2+2β)/{denominator}",
        )
    if optimizer == "sgd":
        return Threshold(
            2 / lr,
            "SGD: the paper states no threshold; the full-batch λ1 is compared with 2/η, "
            "the stability threshold of the mean (full-batch) step; minibatch noise tends to hold "
            "SGD's sharpness below it, so a lower onset fraction may be needed",
            f"2/{denominator}",
        )
    return Threshold(2 / lr, "full-batch GD is linearly stable along v1 while λ1 < 2/η", f"2/{denominator}")


def branch_thresholds(config: RunConfig | dict) -> dict[str, Threshold]:
    """The threshold of each branch: the baseline at η, the exit branch at c·η."""
    lr, c = _field(config, "lr"), _field(config, "c")
    return {"baseline": stability_threshold(config, lr), "exit": stability_threshold(config, c * lr, "c·η")}


def _field(config, name: str):
    if isinstance(config, dict):
        return config.get(name, LEGACY.get(name, getattr(RunConfig, name)))  # stored before the field existed
    return getattr(config, name)


def family_key(config: dict) -> str:
    """Hash of a config without its seed: the runs that aggregate as seeds of one experiment."""
    return _hash({k: v for k, v in config.items() if k != "seed"})


def _hash(d: dict) -> str:
    d = {k: v for k, v in d.items() if not (k in LEGACY and _same(v, LEGACY[k]))}
    payload = json.dumps({"schema": SCHEMA_VERSION, **d}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def _same(value, legacy) -> bool:
    return list(value) == list(legacy) if isinstance(legacy, tuple) else value == legacy


# What the command line and the URL accept as numbers: ASCII decimals only. Python's int() and
# float() also take any Unicode digits (`１６０`, `٣`), underscores and hex floats; refusing them
# keeps what runs equal to what was typed.
_INT = re.compile(r"[+-]?[0-9]{1,30}", re.ASCII)
_FLOAT = re.compile(
    r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|nan|inf|infinity)", re.ASCII | re.IGNORECASE
)
_NUMBER_TUPLES = {"ood_alphas"}


def coerce(field_name: str, text: str):
    """Parse a command-line or URL string into the type of a RunConfig field."""
    types = {f.name: f.type for f in dataclasses.fields(RunConfig)}
    if field_name not in types:
        near = difflib.get_close_matches(field_name, types, n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise ConfigError(field_name, text, f"unknown field; {hint}fields are {', '.join(types)}")
    kind = types[field_name]
    if kind == "tuple":
        items = tuple(s.strip() for s in text.split(","))
        if field_name in _NUMBER_TUPLES:
            if not all(_FLOAT.fullmatch(s) for s in items):
                raise ConfigError(field_name, text, "expected numbers written in ASCII decimals, e.g. 0,1,3,10")
            return tuple(float(s) for s in items)
        return items
    if kind == "int":
        if not _INT.fullmatch(text):
            raise ConfigError(field_name, text, "expected an integer written in ASCII digits, e.g. 160")
        return int(text)
    if kind == "float":
        if not _FLOAT.fullmatch(text):
            raise ConfigError(field_name, text, "expected a number written in ASCII decimals, e.g. 0.02 or 2e-2")
        return float(text)
    return text


def _require(ok: bool, name: str, value, allowed: str):
    if not ok:
        raise ConfigError(name, value, allowed)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    # any int, however large, is finite; math.isfinite would overflow converting a huge one
    return not isinstance(v, bool) and (isinstance(v, int) or (isinstance(v, float) and math.isfinite(v)))


def class_label(dataset: str, cls: str) -> str:
    """How a class picker shows a class: digits with their names ("4 · four"), Fashion-MNIST's
    with torchvision's ("shirt · Shirt"), others as they are."""
    return REGISTRY[dataset].label(cls) if dataset in REGISTRY else cls


def available_per_class(dataset: str, cls: str) -> int:
    return REGISTRY[dataset].available(cls)


def validate(cfg: RunConfig) -> None:
    """Raise ConfigError naming the field, the value and what is allowed."""
    for name, allowed in CHOICES.items():
        value = getattr(cfg, name)
        _require(value in allowed, name, value, f"must be one of {', '.join(allowed)}")
    _validate_counts(cfg)
    _require(cfg.steps <= MAX_STEPS, "steps", cfg.steps, f"must be at most {MAX_STEPS}")
    _require(_is_int(cfg.seed) and cfg.seed >= 0, "seed", cfg.seed, "must be a non-negative integer")
    _require(cfg.seed <= MAX_SEED, "seed", cfg.seed, f"must satisfy 0 ≤ seed < {MAX_SEED + 1}")
    bounded = [name for name, k in KNOBS.items() if k.rule]
    for name in bounded:
        value = getattr(cfg, name)
        _require(_is_number(value), name, value, "must be a finite number")
    for name in bounded:
        value = getattr(cfg, name)
        _require(KNOBS[name].contains(value), name, value, KNOBS[name].rule)
    _validate_step_size(cfg)
    _require(
        all(a >= 0 and _is_number(a) for a in cfg.ood_alphas),
        "ood_alphas",
        cfg.ood_alphas,
        "every α_test must be a finite number ≥ 0",
    )
    if cfg.optimizer == "sgd":
        _require(cfg.batch_size <= cfg.n, "batch_size", cfg.batch_size, f"must be ≤ n = {cfg.n}")
    _validate_classes(cfg)
    _validate_flows(cfg)
    _require(
        4 * cfg.m <= cfg.n_per_class,
        "m",
        cfg.m,
        f"group sizes must fit the data: 3m inlier candidates + m boundary points per class "
        f"need 4m ≤ n_per_class = {cfg.n_per_class}",
    )
    _require(cfg.k < cfg.n, "k", cfg.k, f"k-NN needs k < n = {cfg.n}")
    _require(
        cfg.example_every % cfg.log_every == 0,
        "example_every",
        cfg.example_every,
        f"must be a multiple of log_every = {cfg.log_every}",
    )
    _require(cfg.log_every <= cfg.steps, "log_every", cfg.log_every, f"must be ≤ steps = {cfg.steps}")
    fixed = REGISTRY[cfg.dataset].image_size
    if fixed is not None:
        _require(
            cfg.image_size == fixed,
            "image_size",
            cfg.image_size,
            f"{REGISTRY[cfg.dataset].title} images are {fixed}×{fixed}",
        )
    if cfg.model == "cnn":
        _require(
            cfg.image_size >= 12,
            "image_size",
            cfg.image_size,
            "the CNN needs inputs of at least 12×12 pixels (three unpadded 3×3 convolutions and two 2×2 poolings)",
        )


_COUNTS = ("n_per_class", "image_size", "m", "k", "width", "steps", "log_every", "example_every", "batch_size")


def _validate_flows(cfg: RunConfig) -> None:
    """Each reference flow is a known one, asked for at most once."""
    unknown = [f for f in cfg.flows if f not in FLOWS]
    _require(
        not unknown and len(set(cfg.flows)) == len(cfg.flows),
        "flows",
        cfg.flows,
        f"each at most once of {', '.join(FLOWS)}",
    )


def _validate_counts(cfg: RunConfig) -> None:
    """Every count is a positive integer that fits the int64 columns it is stored in."""
    for name in (*_COUNTS, "mechanism_every"):
        value = getattr(cfg, name)
        _require(_is_int(value) and value >= 1, name, value, "must be a positive integer")
        _require(value <= MAX_INT, name, value, f"must be at most {MAX_INT} (a 64-bit integer)")
    value = cfg.valley_every  # 0 is off
    _require(_is_int(value) and 0 <= value <= MAX_INT, "valley_every", value, "must be 0 (off) or a positive integer")


def _validate_step_size(cfg: RunConfig) -> None:
    """The exit branch steps with c·η: it must be a normal number of the training dtype."""
    tiny = SMALLEST_NORMAL.get(cfg.dtype, SMALLEST_NORMAL["float32"])
    why = (
        f"too small: c·η must be at least {tiny:.4g} (the smallest normal {cfg.dtype}), or the "
        "step underflows and the threshold 2/(c·η) overflows"
    )
    _require(cfg.lr >= tiny, "lr", cfg.lr, why)
    _require(cfg.c * cfg.lr >= tiny, "c", cfg.c, f"c·η = {cfg.c * cfg.lr:.4g} is {why}")


def _validate_classes(cfg: RunConfig) -> None:
    spec = REGISTRY[cfg.dataset]
    pair = cfg.classes
    _require(len(pair) == 2, "classes", pair, "exactly two classes are needed")
    for c in pair:
        _require(c in spec.classes, "classes", pair, f"{cfg.dataset} classes are {', '.join(spec.classes)}")
    _require(pair[0] != pair[1], "classes", pair, "the two classes must differ")
    rule = spec.pair_rule(pair)
    _require(rule is None, "classes", pair, rule or "")
    available = min(spec.available(c) for c in pair)
    _require(
        cfg.n_per_class <= available,
        "n_per_class",
        cfg.n_per_class,
        f"{cfg.dataset} {pair[0]}/{pair[1]} has {available} training examples per class",
    )
