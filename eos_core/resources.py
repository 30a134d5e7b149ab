"""Will a run fit in memory? An estimate from the config alone, checked against what the device has free.

Torch-free at import (the estimate is arithmetic on the config); torch is imported only to ask a
CUDA device for its free memory. The estimate counts what grows with the config (data, network,
activations of full-batch Hessian-vector products, the logged trace), not the interpreter and
libraries already loaded. Against the peak memory measured on CPU (run with steps = 1, peak RSS
minus the RSS before): MLP n = 2000, 16×16, width 1024: 1.39 GB measured; CNN n = 500, 24×24,
width 64: 1.61 GB; ResNet-14 n = 500, 16×16: 0.98 GB; estimated 1.30, 1.85 and 1.00 GB
(scripts/measure_memory.py).
"""

from __future__ import annotations

import os
import pathlib

from eos_core.config import ConfigError, RunConfig
from eos_core.datasets import REGISTRY, digits

_KNN_CHUNK = 512  # rows of the k-NN distance blocks (prototypes.KNN_CHUNK)
# Copies of the inputs alive at the peak: the loader's tensor, the standardised one, the
# taxonomy's displaced copy, the cast to the training dtype.
_DATA_COPIES = 4
# Parameter-sized vectors alive at once: θ, the gradient, the momentum buffer, the fork's copy,
# the eigen-solver's basis and warm start, autograd's double-backward buffers.
_PARAM_COPIES = 12
# Activation-sized tensors per layer output in a Hessian-vector product (forward, backward, and
# the backward of the backward), with the per-example pass.
_ACTIVATION_COPIES = 6
_ROW_BYTES = 8_000  # one logged step of one branch: trace row, group rows, probes
# Per-example alignment may take explicit per-example gradients, 64 examples at a time
# (per_example.generic_terms): 64 parameter-sized rows, and their product with v1.
_PER_EXAMPLE_ROWS = 64 * 2


class ResourceError(ValueError):
    """The run would not fit: the message names the estimate, what drives it and what is free."""


def estimate_bytes(cfg: RunConfig) -> dict[str, int]:
    """Bytes the run needs beyond a loaded interpreter, by what drives them."""
    b = 8 if cfg.dtype == "float64" else 4
    pixels = 3 * cfg.image_size**2
    examples = cfg.n + REGISTRY[cfg.dataset].test_examples  # the test pair is loaded beside the training set
    loader = digits.IMAGES * pixels * 8 * 2 if cfg.dataset == "digits" else 0
    logged = cfg.steps // cfg.log_every + 1
    stored = cfg.steps // cfg.example_every + 1
    return {
        "data": examples * pixels * b * _DATA_COPIES + loader + _KNN_CHUNK * examples * 8 * 3,
        "network": parameter_count(cfg) * b * (_PARAM_COPIES + _PER_EXAMPLE_ROWS),
        "activations": cfg.n * activation_count(cfg) * b * _ACTIVATION_COPIES,
        "trace": 2 * (logged * _ROW_BYTES + stored * cfg.n * 4 * 2 * 2),
    }


# What drives each part, named in a refusal.
_DRIVERS = {
    "data": "n_per_class, image_size",
    "network": "width, image_size, model",
    "activations": "n_per_class, width, image_size, model",
    "trace": "steps, log_every, example_every",
}


def parameter_count(cfg: RunConfig) -> int:
    """Weights and biases of models.ARCHITECTURES[cfg.model] on 3-channel S×S inputs."""
    w, s = cfg.width, cfg.image_size
    if cfg.model == "mlp":
        return (3 * s * s + 1) * w + (w + 1) * w + (w + 1) * 2
    if cfg.model == "cnn":
        side = (((s - 4) // 2) - 2) // 2
        convs = (3 * 9 + 1) * 64 + (64 * 9 + 1) * 64 + (64 * 9 + 1) * 128
        return convs + (128 * side * side + 1) * w + (w + 1) * 2
    count, c_in = (3 * 9 + 1) * 16, 16  # ResNet-14: stem, then [2, 2, 2] blocks
    for c_out in (16, 32, 64):
        for _ in range(2):
            count += (c_in * 9 + 1) * c_out + (c_out * 9 + 1) * c_out
            count += (c_in + 1) * c_out if c_in != c_out else 0  # 1×1 shortcut projection
            c_in = c_out
    return count + (64 + 1) * 2


def activation_count(cfg: RunConfig) -> int:
    """Floats of every layer's output for one example (a ReLU's output counted as its own)."""
    w, s = cfg.width, cfg.image_size
    if cfg.model == "mlp":
        return 4 * w + 2
    if cfg.model == "cnn":
        a, b = s - 2, s - 4
        c = b // 2 - 2
        return 2 * (64 * a * a + 64 * b * b + 128 * c * c) + 64 * (b // 2) ** 2 + 128 * (c // 2) ** 2 + 2 * w + 2
    # ResNet-14: convolution outputs (stem + stage 1 at S×S, 5 convolutions per later stage at
    # half the side), each followed by a ReLU of the same size
    s2, s4 = (s + 1) // 2, (s + 3) // 4
    return 2 * (16 * s * s + 4 * 16 * s * s + 5 * 32 * s2 * s2 + 5 * 64 * s4 * s4) + 2


def resolve_device(name: str) -> str:
    """auto → cuda when a GPU is present; cuda without one is a configuration error."""
    if name == "cpu":
        return name
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if name == "cuda":
        raise ConfigError("device", name, "no CUDA device is available on this machine; use device=cpu or auto")
    return "cpu"


def torch_free_device(name: str) -> str | None:
    """The device a run will use where that can be told without importing torch (the dashboard's
    process never does): cpu, or auto on a host without an NVIDIA driver. None when a GPU may
    decide; the worker checks those runs itself before it trains."""
    if name == "cpu" or (name == "auto" and not pathlib.Path("/proc/driver/nvidia").exists()):
        return "cpu"
    return None


def available_bytes(device: str) -> int | None:
    """Free memory on `device` (the host: the least of MemAvailable and the cgroup's headroom)."""
    if device == "cuda":
        import torch

        return torch.cuda.mem_get_info()[0]
    figures = [f for f in (_meminfo_available(), _cgroup_headroom()) if f is not None]
    return min(figures) if figures else None


def check_fits(cfg: RunConfig, device: str | None = None, available: int | None = None) -> None:
    """Raise ConfigError (no GPU) or ResourceError (too big) before anything is allocated."""
    device = device or resolve_device(cfg.device)
    parts = {k: int(v) for k, v in estimate_bytes(cfg).items()}
    need = sum(parts.values())
    available = available_bytes(device) if available is None else available
    if available is None or need <= available:
        return
    part = max(parts, key=parts.get)
    raise ResourceError(
        f"this run needs an estimated {size(need)} of memory ({part} {size(parts[part])}, driven by "
        f"{_DRIVERS[part]}), but {device} has {size(available)} available; lower those values"
    )


def size(n: float) -> str:
    """1.23 GB: decimal units, three significant figures."""
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000:
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} PB"


def _meminfo_available() -> int | None:
    try:
        for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def _cgroup_headroom() -> int | None:
    """A container's memory limit minus its usage (cgroup v2, then v1); None without a limit."""
    for limit, usage in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            cap = pathlib.Path(limit).read_text().strip()
            used = int(pathlib.Path(usage).read_text().strip())
        except (OSError, ValueError):
            continue
        if cap.isdigit() and int(cap) < 2**60:  # v1 writes a huge number for "no limit"
            return max(0, int(cap) - used)
    return None
