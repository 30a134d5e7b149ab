"""Named configurations. The CLI, the dashboard and the checks refer to them by these names.

Torch-free (the dashboard imports it).
"""

from __future__ import annotations

from eos_core.config import RunConfig

_PAPER = dict(
    dataset="cifar10",
    classes=("automobile", "truck"),
    n_per_class=5000,
    image_size=32,
    alpha=3.0,
    displacement="coherent",
    m=25,
    k=50,
    loss="mse",
    lr=0.01,
    c=0.5,
    steps=10_000,
    log_every=32,
    example_every=32,
    onset_fraction=0.9,
)

# MNIST 4 vs 9: the pair among the hardest to tell apart (of the 45 pairs, nearest-centroid test error
# 12.0 %, 2nd; a linear least-squares classifier's 3.5 %, 4th; 3/5 and 3/8 rank as high on the two
# measures together), as automobile/truck is for CIFAR-10. 28×28 grey inputs.
_MNIST = dict(dataset="mnist", classes=("4", "9"), image_size=28)
_MNIST_PAPER = {**_PAPER, **_MNIST}
_MNIST_CPU = {
    **_MNIST,
    "n_per_class": 500,
    "alpha": 3.0,
    "displacement": "coherent",
    "m": 25,
    "k": 50,
    "loss": "mse",
    "lr": 0.03,
    "c": 0.5,
    "steps": 1024,
    "log_every": 16,
    "example_every": 16,
    "onset_fraction": 0.9,
}

# Fashion-MNIST at 28×28, n = 1,000 per class: the survey's cell (scripts/survey_fashion.sh). η = 0.02
# gives a clean progressive-sharpening phase (λ1 12 → 0.9·2/η by step ~270 on shirt/tshirt); logged
# λ1 then settles at 0.87–0.92·2/η, so f = 0.85 fires on every pair; 600 steps leave ~300 exit
# steps after t*, past the trade-off window a pilot saw (u ≈ 100–250).
_FASHION_CPU = dict(
    dataset="fashion_mnist",
    classes=("shirt", "tshirt"),
    n_per_class=1000,
    image_size=28,
    alpha=3.0,
    displacement="coherent",
    m=25,
    k=50,
    loss="mse",
    lr=0.02,
    c=0.5,
    steps=600,
    log_every=32,
    example_every=32,
    onset_fraction=0.85,
)
_FASHION_PAPER = {**_PAPER, "dataset": "fashion_mnist", "classes": ("pullover", "coat"), "image_size": 28}

_SELECTIVE = dict(
    dataset="synthetic",
    classes=("0", "1"),
    n_per_class=250,
    image_size=16,
    m=20,
    k=20,
    alpha=10.0,
    displacement="coherent",
    lr=0.04,
    c=0.25,
    steps=480,
    log_every=8,
    example_every=8,
    onset_fraction=0.9,
)

# The teaching presets slice the valley (the Valley page) about a dozen times on the baseline, from
# progressive sharpening through EoS, and at t* and the equal-effective-time partners on the exit
# branch; each checkpoint costs 70–90 gradients of forward passes, teach-selective's baseline
# 1.2–1.55× its time without (science.valley, `bench`).
_TEACH_FASHION = {**_FASHION_CPU, "classes": ("pullover", "coat"), "valley_every": 64}

PRESETS: dict[str, tuple[str, dict]] = {
    "teach-fashion": (
        "real Fashion-MNIST pullover vs coat, 28×28, n = 2000, α = 3, MSE, c = 0.5: the paper's trade-off on "
        "real images in about two minutes on a laptop CPU (input-outliers gain under EoS for a window of "
        "~300 steps after t*, inliers and boundary points lose)",
        # Measured (scripts/survey_fashion.sh, seeds 0-4): t* = 96-128, no t** in 600 steps; the paper's
        # pattern in 5/5 seeds (control 0/5), on the mean Δℓ_k(u) for u ∈ [59, 387] after t*, peak
        # window [86, 301]; gone by the end (every Δℓ_k < 0). 72 s and 1.6 GB on two idle cores.
        _TEACH_FASHION,
    ),
    "teach-fashion-random": (
        "teach-fashion's control: input-outliers displaced in random directions; the input-outliers' "
        "gain under EoS disappears",
        {**_TEACH_FASHION, "displacement": "random"},
    ),
    "teach-selective": (
        "synthetic 16×16 data, α = 10, c = 0.25: EoS's selective trade-off on a laptop CPU in ~40 s "
        "(output-outliers gain under EoS, the other groups lose)",
        # Measured (seeds 0, 1, 2, logged every 16): t* = 48, t** = 304–416; median Δℓ_k from t* to t**:
        # output-outliers +0.02 to +0.04, inliers and boundary about −0.02, input-outliers −0.15 to −0.28.
        {**_SELECTIVE, "valley_every": 48},
    ),
    "teach-selective-random": (
        "teach-selective's control: input-outliers displaced in random directions; every group then "
        "does better on the exit branch (no trade-off)",
        {**_SELECTIVE, "displacement": "random", "valley_every": 48},
    ),
    "teach-digits": (
        "scikit-learn digits, even vs odd, on a laptop CPU: progressive sharpening, EoS, the fork "
        "and the exit branch in under a minute",
        # Measured: λ1 sharpens 7 → 45 over ~15 logged steps, t* ≈ 240, then holds at ~0.97·2/η
        # with |∇L·v1|/‖∇L‖ ≈ 0.99; the exit branch reaches 0.9·2/(cη) near the end (t** ≈ 800).
        dict(
            dataset="digits",
            classes=("even", "odd"),
            n_per_class=300,
            image_size=8,
            m=20,
            k=20,
            lr=0.04,
            steps=960,
            log_every=16,
            example_every=16,
            onset_fraction=0.9,
            valley_every=96,
        ),
    ),
    "mnist-cpu": (
        "real MNIST 4 vs 9 at 28×28, n = 1000, α = 3, coherent, MSE, c = 0.5: progressive sharpening, "
        "EoS, the fork and t** on a CPU",
        # Measured by short probes (plain GD, λ1 every 16–32 steps): at η = 0.03 λ1 sharpens
        # 0.48 → 0.9·2/η between steps 32 and 224 and then holds at 0.90–0.91·2/η; the exit branch
        # (c = 0.5) starts at 0.46·2/(cη) and sharpens to 0.9 near step 800. η = 0.04 crosses at once;
        # η = 0.02 stalls at 0.50·2/η for 200+ steps.
        _MNIST_CPU,
    ),
    "mnist-cpu-random": (
        "mnist-cpu's control: input-outliers displaced in random directions",
        {**_MNIST_CPU, "displacement": "random"},
    ),
    "synthetic-mini": (
        "CIFAR-shaped synthetic data, n = 1000: a CPU run of about two minutes",
        # Measured: at η = 0.01 λ1 only reaches 0.86·2/η in 1,200 steps; at η = 0.02 t* ≈ 320 and
        # the baseline holds at 0.95–1.02·2/η.
        dict(
            dataset="synthetic",
            classes=("0", "1"),
            n_per_class=500,
            image_size=32,
            m=25,
            k=50,
            lr=0.02,
            steps=1024,
            log_every=32,
            example_every=32,
            onset_fraction=0.9,
        ),
    ),
    "fashion-cpu": (
        "real Fashion-MNIST shirt vs T-shirt at 28×28, n = 1000 per class, α = 3, coherent, MSE, c = 0.5: "
        "the survey's cell on a CPU",
        _FASHION_CPU,
    ),
    "fashion-cpu-random": (
        "fashion-cpu's control: input-outliers displaced in random directions",
        {**_FASHION_CPU, "displacement": "random"},
    ),
    "fashion-paper": (
        "Fig. 4 on real Fashion-MNIST, pullover vs coat (where the CPU survey finds the paper's "
        "pattern): n = 10,000, α = 3, coherent, MSE, c = 0.5, the paper's cadence (GPU)",
        _FASHION_PAPER,
    ),
    "fashion-paper-random": (
        "as fashion-paper with random-direction input-outliers (GPU)",
        {**_FASHION_PAPER, "displacement": "random"},
    ),
    "fashion-paper-shirt": (
        "as fashion-paper on shirt vs T-shirt, where the CPU survey finds output-outliers ahead instead (GPU)",
        {**_FASHION_PAPER, "classes": ("shirt", "tshirt")},
    ),
    "mnist-paper": (
        "Fig. 4 on real MNIST, 4 vs 9: n = 10,000, α = 3, coherent, MSE, c = 0.5, the paper's cadence (GPU)",
        _MNIST_PAPER,
    ),
    "mnist-paper-random": (
        "as mnist-paper with random-direction input-outliers (Fig. 6; GPU)",
        {**_MNIST_PAPER, "displacement": "random"},
    ),
    "mnist-paper-ce": ("as mnist-paper under cross-entropy (Fig. 7; GPU)", {**_MNIST_PAPER, "loss": "ce"}),
    "mnist-paper-a10": ("as mnist-paper with α = 10 (Fig. 9's far outliers; GPU)", {**_MNIST_PAPER, "alpha": 10.0}),
    "paper-mlp-mse": ("Fig. 4: automobile vs truck, α = 3, coherent, MSE, c = 0.5 (GPU)", _PAPER),
    "paper-random": (
        "Fig. 6: as paper-mlp-mse with random-direction input-outliers (GPU)",
        {**_PAPER, "displacement": "random"},
    ),
    "paper-ce": ("Fig. 7: as paper-mlp-mse under cross-entropy (GPU)", {**_PAPER, "loss": "ce"}),
    "paper-catdog-a3": ("Figs. 9, 15, 16: cat vs dog, α = 3 (GPU)", {**_PAPER, "classes": ("cat", "dog")}),
    "paper-catdog-a10": ("Figs. 9, 17: cat vs dog, α = 10 (GPU)", {**_PAPER, "classes": ("cat", "dog"), "alpha": 10.0}),
    "paper-synthetic": (
        "the shapes and step counts of paper-mlp-mse on synthetic data (GPU benchmark)",
        {**_PAPER, "dataset": "synthetic", "classes": ("0", "1")},
    ),
    "paper-cnn": ("Fig. 11: as paper-mlp-mse with the CNN (GPU)", {**_PAPER, "model": "cnn"}),
    "paper-resnet": ("Fig. 12: as paper-mlp-mse with the BN-free ResNet-14 (GPU)", {**_PAPER, "model": "resnet14"}),
    "paper-sgd": (
        "Fig. 13: as paper-mlp-mse with SGD, batch 128 (GPU)",
        {**_PAPER, "optimizer": "sgd", "batch_size": 128},
    ),
    "paper-momentum": (
        "Fig. 14: as paper-mlp-mse with heavy-ball momentum β = 0.9 (GPU)",
        {**_PAPER, "optimizer": "momentum", "momentum": 0.9},
    ),
}

# Which presets reproduce which of the paper's figures.
FIGURES: dict[str, tuple[str, ...]] = {
    "Fig. 4 — the selective trade-off": ("paper-mlp-mse",),
    "Fig. 5 — alignment resolves under EoS": ("paper-mlp-mse",),
    "Figs. 6, 18, 19 — coherent vs random displacement": ("paper-mlp-mse", "paper-random"),
    "Fig. 7 — cross-entropy and gradient persistence": ("paper-ce",),
    "Figs. 8, 20, 21 — natural outliers": ("paper-mlp-mse",),
    "Figs. 11–14 — CNN, ResNet, SGD, momentum": ("paper-cnn", "paper-resnet", "paper-sgd", "paper-momentum"),
    "Figs. 15–17 — cat vs dog, α = 3 and 10": ("paper-catdog-a3", "paper-catdog-a10"),
    "Fig. 22 — the single-mode proxy Q² ∝ C": ("paper-mlp-mse",),
    "Real Fashion-MNIST at the paper's size": ("fashion-paper", "fashion-paper-random", "fashion-paper-shirt"),
    "Real MNIST, 4 vs 9, at the paper's size": (
        "mnist-paper",
        "mnist-paper-random",
        "mnist-paper-ce",
        "mnist-paper-a10",
    ),
    "Offline (no CIFAR-10)": (
        "teach-fashion",
        "teach-fashion-random",
        "teach-selective",
        "teach-selective-random",
        "teach-digits",
        "mnist-cpu",
        "mnist-cpu-random",
        "fashion-cpu",
        "fashion-cpu-random",
        "synthetic-mini",
        "paper-synthetic",
    ),
}

# What a fresh dashboard starts and its form shows: the trade-off first, then its random control —
# on real images where Fashion-MNIST's files are on disk, else on synthetic data (no files needed).
REAL_LAUNCH = ("teach-fashion", "teach-fashion-random")
OFFLINE_LAUNCH = ("teach-selective", "teach-selective-random")


def first_launch() -> tuple[str, str]:
    from eos_core.datasets import availability

    return REAL_LAUNCH if availability("fashion_mnist")[0] else OFFLINE_LAUNCH


def preset(name: str, **overrides) -> RunConfig:
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; presets are {', '.join(PRESETS)}")
    return RunConfig(**{**PRESETS[name][1], **overrides})
