"""The memory estimate: its counts against the real networks, and its refusals."""

import math

import pytest
import torch
from torch import nn

from eos_core.config import RunConfig
from eos_core.resources import ResourceError, activation_count, check_fits, estimate_bytes, parameter_count, size
from eos_core.science import models

SHAPES = [
    ("mlp", 4, 8),
    ("mlp", 32, 512),
    ("cnn", 12, 16),
    ("cnn", 32, 512),
    ("cnn", 17, 3),
    ("resnet14", 4, 8),
    ("resnet14", 32, 512),
    ("resnet14", 13, 8),
]


def measured_counts(model: str, image_size: int, width: int) -> tuple[int, int]:
    """Parameters, and floats of every layer output for one example, of the real module."""
    cfg = RunConfig(dataset="synthetic", classes=("0", "1"), model=model, image_size=image_size, width=width)
    module = models.ARCHITECTURES[model](cfg, (3, image_size, image_size))
    outputs = []
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ReLU, nn.MaxPool2d)):
            m.register_forward_hook(
                lambda m, i, o: outputs.append(
                    o.numel() * (2 if model == "resnet14" and isinstance(m, nn.Conv2d) else 1)
                )
            )
    module(torch.zeros(1, 3, image_size, image_size))
    return sum(p.numel() for p in module.parameters()), sum(outputs)


@pytest.mark.parametrize("model,image_size,width", SHAPES)
def test_counts_match_the_real_networks(model, image_size, width):
    """ResNet-14 applies its ReLUs functionally (no hooks): each convolution output counts twice."""
    cfg = RunConfig(dataset="synthetic", classes=("0", "1"), model=model, image_size=image_size, width=width)
    assert (parameter_count(cfg), activation_count(cfg)) == measured_counts(model, image_size, width)


def test_estimate_grows_with_what_drives_it():
    cfg = RunConfig(dataset="synthetic", classes=("0", "1"))
    base = estimate_bytes(cfg)
    assert estimate_bytes(cfg.replace(width=1024))["network"] > base["network"]
    assert estimate_bytes(cfg.replace(image_size=16))["data"] > base["data"]
    assert estimate_bytes(cfg.replace(n_per_class=600))["activations"] > base["activations"]
    assert estimate_bytes(cfg.replace(log_every=1, example_every=1))["trace"] > base["trace"]
    assert estimate_bytes(cfg.replace(dtype="float64"))["network"] == 2 * base["network"]


def test_a_run_too_big_is_refused_naming_estimate_driver_and_free_memory():
    cfg = RunConfig(dataset="synthetic", classes=("0", "1"), width=10**12)
    with pytest.raises(ResourceError) as info:
        check_fits(cfg, device="cpu", available=8 * 10**9)
    text = str(info.value)
    assert "needs an estimated" in text and "width" in text and "cpu has 8 GB available" in text
    assert size(sum(estimate_bytes(cfg).values())) in text
    check_fits(RunConfig(), device="cpu", available=8 * 10**9)  # the default fits in 8 GB


def test_no_shipped_preset_is_refused_where_it_is_meant_to_run():
    """Offline presets run on a laptop (8 GB); the paper-sized ones on an 80 GB GPU."""
    from eos_core.presets import FIGURES, PRESETS, preset

    offline = set(FIGURES["Offline (no CIFAR-10)"]) - {"paper-synthetic"}
    for name in PRESETS:
        need = sum(estimate_bytes(preset(name)).values())
        assert need < (2e9 if name in offline else 80e9), (name, size(need))


def test_size_reads_well():
    assert size(0) == "0 B" and size(1234) == "1.23 KB" and size(8e9) == "8 GB"
    assert size(4e24).endswith("PB") and math.isfinite(float(size(4e24).split()[0]))
