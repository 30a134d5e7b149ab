"""Run configuration: one frozen, validated record of every knob, plus the named presets.

This module is imported by the dashboard process, so it must never import torch.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import NamedTuple

SCHEMA_VERSION = 1

GROUPS = ("inlier", "boundary", "input_outlier", "output_outlier")

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
DIGIT_CLASSES = tuple(str(d) for d in range(10)) + ("even", "odd")
MNIST_CLASSES = tuple(str(d) for d in range(10))
CLASSES = {"cifar10": CIFAR10_CLASSES, "mnist": MNIST_CLASSES, "digits": DIGIT_CLASSES, "synthetic": ("0", "1")}
_DIGIT_NAMES = dict(zip(MNIST_CLASSES, ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                                        "nine")))

# Training examples available per class (digits: the fixed split keeps 4 of every 5 examples).
_DIGIT_TRAIN_COUNTS = dict(zip("0123456789", (136, 154, 151, 135, 143, 143, 151, 153, 138, 133)))
_DIGIT_TRAIN_COUNTS.update(even=719, odd=718)
# MNIST's official training set (60,000 images): examples of each digit.
_MNIST_TRAIN_COUNTS = dict(zip(MNIST_CLASSES, (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)))
MNIST_TEST_COUNTS = dict(zip(MNIST_CLASSES, (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)))
SYNTHETIC_MAX_PER_CLASS = 50_000

CHOICES = {
    "dataset": tuple(CLASSES),
    "displacement": ("coherent", "random"),
    "loss": ("mse", "ce"),
    "model": ("mlp", "cnn", "resnet14"),
    "optimizer": ("gd", "momentum", "sgd"),
    "device": ("auto", "cpu", "cuda"),
    "dtype": ("float32", "float64"),
}


class ConfigError(ValueError):
    """An invalid configuration value; `field` names the offending field."""

    def __init__(self, field_name: str, value, allowed: str):
        self.field = field_name
        super().__init__(f"{field_name}={value!r} is invalid: {allowed}")


@dataclass(frozen=True)
class RunConfig:
    dataset: str = "digits"
    classes: tuple = ("even", "odd")
    n_per_class: int = 300
    image_size: int = 8            # digits: 8 is native, larger sizes upsample to S×S×3
    alpha: float = 3.0
    displacement: str = "coherent"
    m: int = 25
    k: int = 50
    loss: str = "mse"
    model: str = "mlp"
    width: int = 512
    init_scale: float = 0.2
    optimizer: str = "gd"
    momentum: float = 0.9          # heavy-ball β (optimizer = momentum)
    batch_size: int = 128          # minibatch size (optimizer = sgd)
    lr: float = 0.01
    c: float = 0.5
    steps: int = 2000
    log_every: int = 32
    onset_fraction: float = 0.9
    example_every: int = 32        # per-example arrays are stored every this many steps
    ood_alphas: tuple = (0.0, 1.0, 3.0, 5.0, 10.0)   # α_test of the out-of-distribution probe (§5.2)
    seed: int = 0
    device: str = "auto"
    dtype: str = "float32"

    def __post_init__(self):
        object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))
        try:
            object.__setattr__(self, "ood_alphas", tuple(float(a) for a in self.ood_alphas))
        except (TypeError, ValueError):
            raise ConfigError("ood_alphas", self.ood_alphas, "a list of numbers, e.g. 0,1,3,10") from None
        validate(self)

    @property
    def n(self) -> int:
        return 2 * self.n_per_class

    def replace(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["classes"] = list(self.classes)
        d["ood_alphas"] = list(self.ood_alphas)
        return d

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no whitespace, so equal configs give equal bytes."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            name = sorted(unknown)[0]
            raise ConfigError(name, d[name], "unknown field")
        return cls(**{**d, "classes": tuple(d.get("classes", cls.classes)),
                       "ood_alphas": tuple(d.get("ood_alphas", cls.ood_alphas))})

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        return cls.from_dict(json.loads(text))

    def config_hash(self) -> str:
        return _hash(self.to_dict())

    def baseline_hash(self) -> str:
        """Hash of everything the baseline branch depends on: all but the exit factor c."""
        d = self.to_dict()
        d.pop("c")
        return _hash(d)


class Threshold(NamedTuple):
    value: float    # λ1 above this is linearly unstable along v1
    why: str        # which optimiser's rule, in words
    symbol: str     # e.g. "2/η", "(2+2β)/(c·η)"


def stability_threshold(config: "RunConfig | dict", lr: float, rate: str = "η") -> Threshold:
    """The optimiser's stability threshold at learning rate `lr` — the one definition every module
    uses. `config` is a RunConfig or a result's config dict; `rate` names `lr` in the symbol
    ("η" for the baseline, "c·η" for the exit branch)."""
    optimizer, beta = _field(config, "optimizer"), _field(config, "momentum")
    denominator = rate if rate.isalnum() else f"({rate})"
    if optimizer == "momentum":
        return Threshold((2 + 2 * beta) / lr, f"heavy-ball momentum β = {beta:g} is linearly stable along v1 "
                         "while λ1 < (2 + 2β)/η", f"(2+2β)/{denominator}")
    if optimizer == "sgd":
        return Threshold(2 / lr, "SGD: the paper states no threshold; the full-batch λ1 is compared with 2/η, "
                         "the stability threshold of the mean (full-batch) step; minibatch noise tends to hold "
                         "SGD's sharpness below it, so a lower onset fraction may be needed", f"2/{denominator}")
    return Threshold(2 / lr, "full-batch GD is linearly stable along v1 while λ1 < 2/η", f"2/{denominator}")


def branch_thresholds(config: "RunConfig | dict") -> dict[str, Threshold]:
    """The threshold of each branch: the baseline at η, the exit branch at c·η."""
    lr, c = _field(config, "lr"), _field(config, "c")
    return {"baseline": stability_threshold(config, lr), "exit": stability_threshold(config, c * lr, "c·η")}


def _field(config, name: str):
    if isinstance(config, dict):
        return config.get(name, getattr(RunConfig, name))   # results stored before a field existed
    return getattr(config, name)


def family_key(config: dict) -> str:
    """Hash of a config without its seed: the runs that aggregate as seeds of one experiment."""
    return _hash({k: v for k, v in config.items() if k != "seed"})


def _hash(d: dict) -> str:
    payload = json.dumps({"schema": SCHEMA_VERSION, **d}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def coerce(field_name: str, text: str):
    """Parse a command-line or URL string into the type of a RunConfig field."""
    types = {f.name: f.type for f in dataclasses.fields(RunConfig)}
    if field_name not in types:
        raise ConfigError(field_name, text, f"unknown field; fields are {', '.join(types)}")
    kind = types[field_name]
    try:
        if kind == "tuple":
            return tuple(s.strip() for s in text.split(","))
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError:
        raise ConfigError(field_name, text, f"expected {kind}") from None
    return text


def _require(ok: bool, name: str, value, allowed: str):
    if not ok:
        raise ConfigError(name, value, allowed)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v and abs(v) != float("inf")


def class_label(dataset: str, cls: str) -> str:
    """How a class picker shows a class: digits with their names ("4 · four"), others as they are."""
    if dataset in ("mnist", "digits") and cls in _DIGIT_NAMES:
        return f"{cls} · {_DIGIT_NAMES[cls]}"
    return cls


def available_per_class(dataset: str, cls: str) -> int:
    if dataset == "cifar10":
        return 5000
    if dataset == "mnist":
        return _MNIST_TRAIN_COUNTS[cls]
    if dataset == "digits":
        return _DIGIT_TRAIN_COUNTS[cls]
    return SYNTHETIC_MAX_PER_CLASS


def validate(cfg: RunConfig) -> None:
    """Raise ConfigError naming the field, the value and what is allowed."""
    for name, allowed in CHOICES.items():
        value = getattr(cfg, name)
        _require(value in allowed, name, value, f"must be one of {', '.join(allowed)}")
    for name in ("n_per_class", "image_size", "m", "k", "width", "steps", "log_every", "example_every",
                 "batch_size"):
        value = getattr(cfg, name)
        _require(_is_int(value) and value >= 1, name, value, "must be a positive integer")
    _require(_is_int(cfg.seed) and cfg.seed >= 0, "seed", cfg.seed, "must be a non-negative integer")
    for name in ("alpha", "lr", "c", "init_scale", "onset_fraction", "momentum"):
        value = getattr(cfg, name)
        _require(_is_number(value), name, value, "must be a finite number")
    _require(cfg.alpha >= 0, "alpha", cfg.alpha, "must be ≥ 0")
    _require(cfg.lr > 0, "lr", cfg.lr, "the learning rate η must be > 0")
    _require(0 < cfg.c <= 1, "c", cfg.c, "the exit factor must lie in (0, 1]")
    _require(cfg.init_scale > 0, "init_scale", cfg.init_scale, "must be > 0")
    _require(0 <= cfg.momentum < 1, "momentum", cfg.momentum, "heavy-ball β must lie in [0, 1)")
    _require(all(a >= 0 and _is_number(a) for a in cfg.ood_alphas), "ood_alphas", cfg.ood_alphas,
             "every α_test must be a finite number ≥ 0")
    if cfg.optimizer == "sgd":
        _require(cfg.batch_size <= cfg.n, "batch_size", cfg.batch_size, f"must be ≤ n = {cfg.n}")
    _require(0 < cfg.onset_fraction <= 1.5, "onset_fraction", cfg.onset_fraction,
             "must lie in (0, 1.5]; 1 is the paper's literal rule λ1 ≥ 2/η")
    _validate_classes(cfg)
    _require(4 * cfg.m <= cfg.n_per_class, "m", cfg.m,
             f"group sizes must fit the data: 3m inlier candidates + m boundary points per class "
             f"need 4m ≤ n_per_class = {cfg.n_per_class}")
    _require(cfg.k < cfg.n, "k", cfg.k, f"k-NN needs k < n = {cfg.n}")
    _require(cfg.example_every % cfg.log_every == 0, "example_every", cfg.example_every,
             f"must be a multiple of log_every = {cfg.log_every}")
    _require(cfg.log_every <= cfg.steps, "log_every", cfg.log_every, f"must be ≤ steps = {cfg.steps}")
    if cfg.dataset == "cifar10":
        _require(cfg.image_size == 32, "image_size", cfg.image_size, "CIFAR-10 images are 32×32")


def _validate_classes(cfg: RunConfig) -> None:
    allowed = CLASSES[cfg.dataset]
    pair = cfg.classes
    _require(len(pair) == 2, "classes", pair, "exactly two classes are needed")
    for c in pair:
        _require(c in allowed, "classes", pair, f"{cfg.dataset} classes are {', '.join(allowed)}")
    _require(pair[0] != pair[1], "classes", pair, "the two classes must differ")
    parity = {"even", "odd"}
    if cfg.dataset == "digits" and parity & set(pair):
        _require(set(pair) == parity, "classes", pair, "'even' pairs only with 'odd'")
    available = min(available_per_class(cfg.dataset, c) for c in pair)
    _require(cfg.n_per_class <= available, "n_per_class", cfg.n_per_class,
             f"{cfg.dataset} {pair[0]}/{pair[1]} has {available} training examples per class")
