"""Named configurations. The CLI, the dashboard and the checks refer to them by these names.

Torch-free (the dashboard imports it).
"""
from __future__ import annotations

from .config import RunConfig

_PAPER = dict(dataset="cifar10", classes=("automobile", "truck"), n_per_class=5000, image_size=32,
              alpha=3.0, displacement="coherent", m=25, k=50, loss="mse", lr=0.01, c=0.5,
              steps=10_000, log_every=32, example_every=32, onset_fraction=0.9)

PRESETS: dict[str, tuple[str, dict]] = {
    "teach-digits": (
        "scikit-learn digits, even vs odd, on a laptop CPU: progressive sharpening, EoS, the fork "
        "and the exit branch in under a minute",
        # Measured: λ1 sharpens 7 → 45 over ~15 logged steps, t* ≈ 240, then holds at ~0.97·2/η
        # with |∇L·v1|/‖∇L‖ ≈ 0.99; the exit branch reaches 0.9·2/(cη) near the end (t** ≈ 800).
        dict(dataset="digits", classes=("even", "odd"), n_per_class=300, image_size=8, m=20, k=20,
             lr=0.04, steps=960, log_every=16, example_every=16, onset_fraction=0.9)),
    "synthetic-mini": (
        "CIFAR-shaped synthetic data, n = 1000: a CPU run of about two minutes",
        # Measured: at η = 0.01 λ1 only reaches 0.86·2/η in 1,200 steps; at η = 0.02 t* ≈ 320 and
        # the baseline holds at 0.95–1.02·2/η.
        dict(dataset="synthetic", classes=("0", "1"), n_per_class=500, image_size=32, m=25, k=50,
             lr=0.02, steps=1024, log_every=32, example_every=32, onset_fraction=0.9)),
    "paper-mlp-mse": ("Fig. 4: automobile vs truck, α = 3, coherent, MSE, c = 0.5 (GPU)", _PAPER),
    "paper-random": ("Fig. 6: as paper-mlp-mse with random-direction input-outliers (GPU)",
                     {**_PAPER, "displacement": "random"}),
    "paper-ce": ("Fig. 7: as paper-mlp-mse under cross-entropy (GPU)", {**_PAPER, "loss": "ce"}),
    "paper-catdog-a3": ("Figs. 9, 15, 16: cat vs dog, α = 3 (GPU)", {**_PAPER, "classes": ("cat", "dog")}),
    "paper-catdog-a10": ("Figs. 9, 17: cat vs dog, α = 10 (GPU)",
                         {**_PAPER, "classes": ("cat", "dog"), "alpha": 10.0}),
    "paper-synthetic": ("the shapes and step counts of paper-mlp-mse on synthetic data (GPU benchmark)",
                        {**_PAPER, "dataset": "synthetic", "classes": ("0", "1")}),
}


def preset(name: str, **overrides) -> RunConfig:
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; presets are {', '.join(PRESETS)}")
    return RunConfig(**{**PRESETS[name][1], **overrides})
