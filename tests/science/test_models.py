"""The CNN and BN-free ResNet-14 of App. C.1: shapes, parameter counts, initialisation, and the
generic per-example path (forward-mode JVP + vmap(grad)) against explicit per-example autograd."""

import math

import numpy as np
import pytest
import torch
from tiny import explicit_per_example
from torch import nn

from eos_core.config import RunConfig
from eos_core.science import models, per_example
from eos_core.science.diagnostics import diagnose
from eos_core.science.per_example import affine_layers, alignment_terms, generic_terms
from eos_core.science.problem import Problem, ce_per_example, mse_per_example


def config(model: str, size: int, **changes) -> RunConfig:
    return RunConfig(
        dataset="synthetic", classes=("0", "1"), n_per_class=40, image_size=size, m=2, k=3, model=model, **changes
    )


def build(model: str, shape: tuple, **changes):
    return models.build_model(config(model, shape[-1], **changes), shape, "cpu", torch.float64)


def shapes(module: nn.Module) -> dict:
    return {name: tuple(p.shape) for name, p in module.named_parameters()}


def conv_params(c_in, c_out, k):
    return c_in * c_out * k * k + c_out


def linear_params(f_in, f_out):
    return f_in * f_out + f_out


# ---------------------------------------------------------------- architecture and parameter counts


def test_cnn_layers_and_parameter_count_for_cifar_shape():
    model, theta = build("cnn", (3, 32, 32))
    # 32 → conv 30 → conv 28 → pool 14 → conv 12 → pool 6: 128·6·6 = 4608 features.
    assert shapes(model.module) == {
        "0.weight": (64, 3, 3, 3),
        "0.bias": (64,),
        "2.weight": (64, 64, 3, 3),
        "2.bias": (64,),
        "5.weight": (128, 64, 3, 3),
        "5.bias": (128,),
        "9.weight": (512, 4608),
        "9.bias": (512,),
        "11.weight": (2, 512),
        "11.bias": (2,),
    }
    conv1 = 3 * 64 * 9 + 64  # 1 792
    conv2 = 64 * 64 * 9 + 64  # 36 928
    conv3 = 64 * 128 * 9 + 128  # 73 856
    fc = 4608 * 512 + 512  # 2 359 808
    out = 512 * 2 + 2  # 1 026
    assert conv1 + conv2 + conv3 + fc + out == 2_473_410
    assert model.dim == theta.numel() == 2_473_410
    x = torch.randn(5, 3, 32, 32, dtype=torch.float64)
    assert model(theta, x).shape == (5, 2)


def test_cnn_hidden_width_follows_config():
    model, _ = build("cnn", (3, 12, 12), width=16)
    # 12 → 10 → 8 → 4 → 2 → 1: 128 features.
    assert shapes(model.module)["9.weight"] == (16, 128)
    assert model.dim == conv_params(3, 64, 3) + conv_params(64, 64, 3) + conv_params(64, 128, 3) + linear_params(
        128, 16
    ) + linear_params(16, 2)


@pytest.mark.parametrize("size", [8, 10, 11])
def test_cnn_rejects_inputs_that_collapse(size):
    with pytest.raises(ValueError, match="at least 12×12"):
        build("cnn", (1, size, size))


def test_resnet14_layers_and_parameter_count_for_cifar_shape():
    model, theta = build("resnet14", (3, 32, 32))
    module = model.module
    convs = [(n, m) for n, m in module.named_modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
    shortcuts = [n for n, m in convs if n.endswith("shortcut")]
    assert len(convs) == 13 + 2 and len(linears) == 1
    assert shortcuts == ["blocks.2.shortcut", "blocks.4.shortcut"]
    assert all(m.kernel_size == (1, 1) and m.stride == (2, 2) for n, m in convs if n in shortcuts)
    assert sum(m.stride == (2, 2) for n, m in convs if n not in shortcuts) == 2  # first conv of stages 2, 3
    assert 13 + 1 == 14  # weight layers (no shortcuts)

    stem = 3 * 16 * 9 + 16  # 448
    stage1 = 4 * (16 * 16 * 9 + 16)  # 4 × 2 320 = 9 280
    stage2 = (16 * 32 * 9 + 32) + (16 * 32 + 32) + 3 * (32 * 32 * 9 + 32)  # 4 640 + 544 + 3 × 9 248 = 32 928
    stage3 = (32 * 64 * 9 + 64) + (32 * 64 + 64) + 3 * (64 * 64 * 9 + 64)  # 18 496 + 2 112 + 3 × 36 928 = 131 392
    fc = 64 * 2 + 2  # 130
    assert (stem, stage1, stage2, stage3, fc) == (448, 9_280, 32_928, 131_392, 130)
    assert model.dim == theta.numel() == stem + stage1 + stage2 + stage3 + fc == 174_178

    # Spatial sizes: 32 (stem, stage 1) → 16 (stage 2) → 8 (stage 3) → pooled to 64 features.
    seen = {}
    hooks = [
        m.register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, tuple(o.shape)))
        for name, m in module.named_modules()
        if name in ("stem", "blocks.1", "blocks.3", "blocks.5")
    ]
    x = torch.randn(3, 3, 32, 32, dtype=torch.float64)
    assert model(theta, x).shape == (3, 2)
    for h in hooks:
        h.remove()
    assert seen == {
        "stem": (3, 16, 32, 32),
        "blocks.1": (3, 16, 32, 32),
        "blocks.3": (3, 32, 16, 16),
        "blocks.5": (3, 64, 8, 8),
    }


def test_resnet14_handles_small_and_odd_inputs():
    model, theta = build("resnet14", (1, 7, 7))
    assert model(theta, torch.randn(2, 1, 7, 7, dtype=torch.float64)).shape == (2, 2)


# ---------------------------------------------------------------- initialisation


@pytest.mark.parametrize("arch", ["cnn", "resnet14"])
def test_init_is_scaled_kaiming_with_zero_biases(arch):
    scale = 0.2
    model, theta = build(arch, (3, 16, 16), init_scale=scale)
    params = model.unflatten(theta)
    for name, module in model.module.named_modules():
        if not isinstance(module, (nn.Linear, nn.Conv2d)):
            continue
        w, b = params[f"{name}.weight"], params[f"{name}.bias"]
        assert torch.all(b == 0)
        fan_in = math.prod(w.shape[1:])
        expected = math.sqrt(2.0 / fan_in) * scale
        # The sample std of N i.i.d. normals has relative standard error ≈ 1/√(2N), the sample mean
        # a standard error of σ/√N; allow 5 standard errors (the seed is fixed, so no flakiness).
        n = w.numel()
        assert abs(w.std().item() / expected - 1) < 5 / math.sqrt(2 * n), name
        assert abs(w.mean().item()) < 5 * expected / math.sqrt(n), name


@pytest.mark.parametrize("arch", ["cnn", "resnet14"])
def test_same_seed_same_theta0(arch):
    _, a = build(arch, (3, 12, 12), seed=3)
    _, b = build(arch, (3, 12, 12), seed=3)
    _, c = build(arch, (3, 12, 12), seed=4)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


# ---------------------------------------------------------------- per-example quantities


@pytest.mark.parametrize(
    "arch,shape", [("cnn", (3, 12, 12)), ("resnet14", (3, 8, 8)), ("resnet14", (3, 7, 9)), ("resnet14", (3, 32, 32))]
)
@pytest.mark.parametrize("loss_fn", [mse_per_example, ce_per_example])
@pytest.mark.parametrize("path", ["as chosen", "generic"])
def test_conv_per_example_terms_match_explicit_autograd(arch, shape, loss_fn, path):
    """The path each net is given (the layer identity, or vmap for the 32×32 ResNet) and the
    generic path, on conv nets (strided, padded, 1×1 shortcut and unpadded convs), in float64."""
    model, theta = build(arch, shape, init_scale=1.0, width=64)
    assert affine_layers(model) is not None  # every layer is Linear or a plain Conv2d
    terms = alignment_terms if path == "as chosen" else generic_terms
    g = torch.Generator().manual_seed(1)
    n = 6
    x = torch.randn(n, *shape, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 1, 0, 1, 0])
    v = torch.randn(model.dim, generator=g, dtype=torch.float64)
    v /= v.norm()

    losses, dots, norms2 = terms(model, loss_fn, theta, x, y, v)
    ref_losses, G = explicit_per_example(model, loss_fn, theta, x, y)
    ref_dots, ref_norms2 = G @ v, (G * G).sum(1)

    assert losses.shape == dots.shape == norms2.shape == (n,)
    assert torch.all(norms2 > 0)
    # float64 sums over ≤ 10⁵ terms of like sign: 1e-10 relative leaves ample room.
    torch.testing.assert_close(losses, ref_losses, rtol=1e-10, atol=0)
    torch.testing.assert_close(norms2, ref_norms2, rtol=1e-10, atol=0)
    # A dot can be small by cancellation; scale the absolute floor by ‖∇ℓ_i‖·‖v‖.
    torch.testing.assert_close(dots, ref_dots, rtol=1e-10, atol=1e-12 * ref_norms2.sqrt().max().item())


@pytest.mark.parametrize(
    "arch,shape,generic", [("cnn", (3, 32, 32), False), ("resnet14", (3, 32, 32), True), ("resnet14", (3, 8, 8), False)]
)
def test_generic_path_only_where_unfolding_costs_more(arch, shape, generic, monkeypatch):
    """CNN at 32×32: 0.56M unfolded floats per example < 2.47M parameters; ResNet-14: the reverse."""
    model, theta = build(arch, shape, init_scale=1.0, width=512)
    calls = []
    monkeypatch.setattr(per_example, "generic_terms", lambda *args: calls.append(1))
    x = torch.randn(2, *shape, dtype=torch.float64)
    alignment_terms(model, mse_per_example, theta, x, torch.tensor([0, 1]), torch.ones(model.dim, dtype=torch.float64))
    assert bool(calls) == generic


def test_conv_norms_are_chunked_without_changing_them(monkeypatch):
    model, theta = build("cnn", (3, 12, 12), init_scale=1.0, width=32)
    x = torch.randn(5, 3, 12, 12, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    y = torch.tensor([0, 1, 0, 1, 1])
    v = torch.ones(model.dim, dtype=torch.float64) / model.dim**0.5
    whole = alignment_terms(model, mse_per_example, theta, x, y, v)[2]
    monkeypatch.setattr(per_example, "CHUNK_FLOATS", 1)  # one example per chunk
    torch.testing.assert_close(alignment_terms(model, mse_per_example, theta, x, y, v)[2], whole, rtol=1e-12, atol=0)


# ---------------------------------------------------------------- full diagnostics


@pytest.mark.parametrize("arch,shape", [("cnn", (3, 12, 12)), ("resnet14", (3, 8, 8))])
def test_diagnose_runs_on_tiny_conv_problem(arch, shape):
    model, theta = build(arch, shape, init_scale=1.0, width=32)
    g = torch.Generator().manual_seed(0)
    n = 16
    x = torch.randn(n, *shape, generator=g, dtype=torch.float64)
    y = (torch.arange(n) % 2).long()
    groups = [torch.arange(4 * i, 4 * i + 4) for i in range(4)]
    problem = Problem(model, x, y, "mse", groups)
    d = diagnose(problem, theta, np.linspace(0.0, 1.0, n), None, torch.Generator().manual_seed(0))
    lam1 = d.row["lambda1"]
    assert math.isfinite(lam1) and lam1 > 0
    assert lam1 >= d.row["lambda2"]
    assert all(math.isfinite(d.row[key]) for key in ("loss", "grad_norm", "a_S", "b_S"))
    assert np.all(np.isfinite(d.example_cos2)) and np.all((d.example_cos2 >= 0) & (d.example_cos2 <= 1 + 1e-5))
    assert len(d.group_rows) == 4
