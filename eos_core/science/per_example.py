"""Per-example gradient quantities for all n examples, without a Python loop over examples.

Every parametrised layer of the paper's networks is affine in its parameters: z = W ⊛ a + b,
with ⊛ a matrix product (Linear) or a convolution (Conv2d). Example i's loss depends only on its
own z_i, so with δ = ∂(Σ_j ℓ_j)/∂z from ONE forward and ONE backward pass:
    ∇ℓ_i · v  = Σ_layers ⟨δ_i, V ⊛ a_i + v_b⟩          (v split into the layers' (V, v_b))
    ‖∇ℓ_i‖²   = Σ_layers ‖δ_i ⊗ a_i‖² + ‖Σ_positions δ_i‖²
For a Linear layer ‖δ_i a_iᵀ‖² = ‖δ_i‖²‖a_i‖². For a convolution the weight gradient is the
(C_out × C_in·k²) matrix δ_i U_iᵀ with U_i = unfold(a_i) (one column per output position), built
in chunks of examples so memory stays bounded. (The Gram form Σ (δ_iᵀδ_i) ⊙ (U_iᵀU_i) only pays
when positions·(C_out + C_in·k²) < C_out·C_in·k², which no layer of the paper's nets meets at 32×32.)

Where the unfolded activations outweigh a whole per-example gradient (the ResNet-14: 174k
parameters, large 32×32 activations), and for networks with any other parametrised layer, the
generic path (`generic_terms`) materialises per-example gradients with `vmap(grad)` instead.

The same δ and a also give each prototype group's mean gradient, ∇ℓ_k = (1/|P|) Σ_{i∈P} δ_i ⊗ a_i
per layer (δ_Pᵀ A_P for a Linear layer), so the groups need no backward pass of their own. During
training none of this needs a pass of its own either: the logged step's gradient graph records the
layers on a `Tape` and yields δ from its own backward (see `Problem.graph`).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.func import grad, grad_and_value, vmap
from torch.nn import functional as F

from eos_core.science.models import FlatModel

CHUNK_FLOATS = 2**25  # per-chunk working set of the convolution norms (128 MB in float32)


@dataclass
class Tape:
    """One forward pass's record of the parametrised layers: each call's (module, input a, output z).
    `deltas` (δ = ∂(Σ_i ℓ_i)/∂z per call) is filled in by whoever runs the backward."""

    layers: dict  # module → parameter-name prefix
    records: list
    deltas: list = field(default_factory=list)

    @property
    def outputs(self) -> list[torch.Tensor]:
        return [z for _, _, z in self.records]


def record(model: FlatModel, theta, x) -> tuple[torch.Tensor, Tape | None]:
    """The model's outputs at θ, with a `Tape` of its layers where the per-layer identity applies
    and pays (`_identity_pays`); None means the generic path."""
    layers = affine_layers(model)
    if layers is None or not _identity_pays(model, layers, theta, x[:1]):
        return model(theta, x), None
    out, captured = _forward_capturing(model, layers, theta, x)
    return out, Tape(layers, captured)


@dataclass
class ExampleTerms:
    losses: torch.Tensor  # (n,) ℓ_i
    dots: torch.Tensor  # (n,) float64 ∇ℓ_i·v
    norms2: torch.Tensor  # (n,) float64 ‖∇ℓ_i‖²
    group_grads: torch.Tensor  # (K, d) ∇ℓ_k, the mean gradient over each group's examples


def example_terms(
    model: FlatModel,
    loss_fn,
    theta,
    x,
    y,
    v,
    groups: list[torch.Tensor],
    tape: Tape | None = None,
    losses: torch.Tensor | None = None,
) -> ExampleTerms:
    """`ExampleTerms` for all n examples and the index sets `groups`. With a tape whose deltas are
    filled (and the losses of that pass) no further forward or backward pass runs."""
    if tape is None:
        out, tape = record(model, theta.detach().requires_grad_(True), x)
        if tape is None:
            return _generic(model, loss_fn, theta, x, y, v, group_weights(groups, len(x), theta))
        losses = loss_fn(out, y)
        tape.deltas = list(torch.autograd.grad(losses.sum(), tape.outputs))
        losses = losses.detach()
    dots, norms2 = tape_dots_norms(model, tape, v)
    return ExampleTerms(losses, dots, norms2, tape_group_gradients(model, tape, groups))


def alignment_terms(model: FlatModel, loss_fn, theta, x, y, v) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(ℓ_i, ∇ℓ_i·v, ‖∇ℓ_i‖²) for all i; `loss_fn(outputs, y)` returns per-example losses."""
    layers = affine_layers(model)
    if layers is not None and _identity_pays(model, layers, theta, x[:1]):
        terms = example_terms(model, loss_fn, theta, x, y, v, [])
        return terms.losses, terms.dots, terms.norms2
    return generic_terms(model, loss_fn, theta, x, y, v)


def group_weights(groups: list[torch.Tensor], n: int, like: torch.Tensor) -> torch.Tensor:
    """(K, n) averaging weights: row k holds 1/|P_k| on group k's examples."""
    weights = torch.zeros(len(groups), n, dtype=like.dtype, device=like.device)
    for k, members in enumerate(groups):
        weights[k, members] = 1.0 / max(len(members), 1)
    return weights


def generic_terms(model, loss_fn, theta, x, y, v, chunk: int = 64):
    """The same three quantities for any network, from explicit per-example gradients
    (`vmap(grad)`) in chunks of examples: each chunk's (b, d) gradients give both dots and norms."""
    terms = _generic(model, loss_fn, theta, x, y, v, None, chunk)
    return terms.losses, terms.dots, terms.norms2


def _generic(model, loss_fn, theta, x, y, v, weights, chunk: int = 64) -> ExampleTerms:
    """`ExampleTerms` from explicit per-example gradients in chunks; the group gradients accumulate
    as weights[:, chunk] @ gradients, so the (n, d) matrix never exists."""
    v = v.to(theta.dtype)
    group_grads = torch.zeros(
        0 if weights is None else len(weights), len(theta), dtype=theta.dtype, device=theta.device
    )
    parts = []
    for i in range(0, len(x), chunk):
        grads, losses = _explicit_grads(model, loss_fn, theta, x[i : i + chunk], y[i : i + chunk])
        parts.append((losses, (grads @ v).double(), torch.linalg.vector_norm(grads, dim=1).double().pow(2)))
        if weights is not None:
            group_grads += weights[:, i : i + chunk] @ grads
    losses, dots, norms2 = (torch.cat(column) for column in zip(*parts))
    return ExampleTerms(losses, dots, norms2, group_grads)


def _explicit_grads(model, loss_fn, theta, x, y):
    def one(xi, yi):
        return grad_and_value(lambda t: loss_fn(model(t, xi[None]), yi[None])[0])(theta.detach())

    grads, losses = vmap(one)(x, y)
    return grads, losses.detach()


def _is_plain_conv(m: nn.Module) -> bool:
    return isinstance(m, nn.Conv2d) and m.groups == 1 and m.padding_mode == "zeros" and not isinstance(m.padding, str)


def affine_layers(model: FlatModel) -> dict | None:
    """{module: parameter-name prefix} when every parametrised module is a Linear or plain Conv2d."""
    layers = {m: name for name, m in model.module.named_modules() if any(True for _ in m.parameters(recurse=False))}
    return layers if all(isinstance(m, nn.Linear) or _is_plain_conv(m) for m in layers) else None


def _forward_capturing(model, layers, theta, x) -> tuple[torch.Tensor, list]:
    """The model's output and (module, input, output) for every call of a parametrised layer."""
    captured = []
    hooks = [m.register_forward_hook(lambda m, inputs, z: captured.append((m, inputs[0].detach(), z))) for m in layers]
    try:
        out = model(theta, x)
    finally:
        for h in hooks:
            h.remove()
    if len(captured) != len(layers):  # a module applied twice would share its weights across calls
        raise ValueError("the per-layer identity needs every parametrised layer applied exactly once")
    return out, captured


_PATH_CHOICE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model → {input shape: bool}


def _identity_pays(model, layers, theta, x_one) -> bool:
    """`_unfold_fits` for this model and input shape, decided once (it runs at every logged step)."""
    choices = _PATH_CHOICE.setdefault(model, {})
    shape = tuple(x_one.shape[1:])
    if shape not in choices:
        choices[shape] = _unfold_fits(model, layers, theta, x_one)
    return choices[shape]


def _unfold_fits(model, layers, theta, x_one) -> bool:
    """Whether the convolutions' unfolded activations (Σ C_in·k²·positions floats per example)
    stay within one whole gradient (d floats, what `vmap(grad)` writes per example). Measured on a
    CPU (n = 256, 32×32): the CNN (0.56M against 2.47M) takes 2.1 gradients with the identity, 3.4
    with `vmap`; the ResNet-14 (the reverse) 4.0 with the identity, 1.4 with `vmap`."""
    with torch.no_grad():
        _, captured = _forward_capturing(model, layers, theta, x_one)
    unfolded = sum(
        m.in_channels * m.kernel_size[0] * m.kernel_size[1] * z[0, 0].numel()
        for m, _, z in captured
        if isinstance(m, nn.Conv2d)
    )
    return unfolded <= model.dim


def tape_dots_norms(model: FlatModel, tape: Tape, v) -> tuple[torch.Tensor, torch.Tensor]:
    """(∇ℓ_i·v, ‖∇ℓ_i‖²) for all i from a tape with its deltas, layer by layer."""
    parts = model.unflatten(v.to(tape.deltas[0].dtype))
    n = len(tape.deltas[0])
    dots = torch.zeros(n, dtype=torch.float64, device=tape.deltas[0].device)
    norms2 = torch.zeros_like(dots)
    for (module, a, _), d in zip(tape.records, tape.deltas):
        weight, bias = parts[f"{tape.layers[module]}.weight"], parts.get(f"{tape.layers[module]}.bias")
        if isinstance(module, nn.Linear):
            dots += _linear_dots(a, d, weight, bias)
            norms2 += _linear_sq_norms(a, d, bias is not None)
        else:
            dots += _conv_dots(module, a, d, weight, bias)
            norms2 += _conv_sq_norms(module, a, d, bias is not None)
    return dots, norms2


def tape_group_gradients(model: FlatModel, tape: Tape, groups: list[torch.Tensor]) -> torch.Tensor:
    """(K, d): group k's mean gradient, per layer the weight gradient of its examples alone —
    δ_Pᵀ A_P / |P| for a Linear layer, the convolution's weight gradient on P for a Conv2d."""
    rows = []
    for members in groups:
        scale = 1.0 / max(len(members), 1)
        parts = {}
        for (module, a, _), d in zip(tape.records, tape.deltas):
            prefix = tape.layers[module]
            a_p, d_p = a[members], d[members] * scale
            if isinstance(module, nn.Linear):
                parts[f"{prefix}.weight"] = d_p.reshape(len(d_p), -1).T @ a_p.reshape(len(a_p), -1)
                reduce = (0,)
            else:
                parts[f"{prefix}.weight"] = torch.nn.grad.conv2d_weight(
                    a_p, module.weight.shape, d_p, module.stride, module.padding, module.dilation
                )
                reduce = (0, 2, 3)
            if module.bias is not None:
                parts[f"{prefix}.bias"] = d_p.sum(reduce)
        rows.append(torch.cat([parts[name].reshape(-1) for name in model.names]))
    dtype, device = tape.deltas[0].dtype, tape.deltas[0].device
    return torch.stack(rows) if rows else torch.zeros(0, model.dim, dtype=dtype, device=device)


def _linear_dots(a, d, weight, bias):
    a = a.reshape(len(a), -1)
    direction = a @ weight.T if bias is None else torch.addmm(bias, a, weight.T)
    return (d * direction).double().sum(1)


def _linear_sq_norms(a, d, has_bias):
    return (a.reshape(len(a), -1).double().pow(2).sum(1) + has_bias) * d.double().pow(2).sum(1)


def _conv_dots(module, a, d, weight, bias):
    direction = F.conv2d(a, weight, bias, module.stride, module.padding, module.dilation)
    return (d * direction).flatten(1).double().sum(1)


def _conv_sq_norms(module, a, d, has_bias):
    """‖δ_i U_iᵀ‖²_F (+ the bias part) per example, U_i = unfold(a_i), in chunks of examples."""
    bias_part = d.flatten(2).sum(2).double().pow(2).sum(1) if has_bias else 0.0
    d = d.flatten(2)  # (n, C_out, positions)
    kernel = module.in_channels * module.kernel_size[0] * module.kernel_size[1]
    chunk = max(1, CHUNK_FLOATS // (kernel * (d.shape[2] + d.shape[1])))
    weight_part = torch.cat(
        [
            torch.bmm(
                d[i : i + chunk],
                F.unfold(
                    a[i : i + chunk], module.kernel_size, module.dilation, module.padding, module.stride
                ).transpose(1, 2),
            )
            .double()
            .pow(2)
            .sum((1, 2))
            for i in range(0, len(a), chunk)
        ]
    )
    return weight_part + bias_part


def per_example_grads(model, loss_fn, theta, x, y) -> torch.Tensor:
    """(b, d) matrix of per-example gradients."""

    def one(xi, yi):
        return grad(lambda t: loss_fn(model(t, xi[None]), yi[None])[0])(theta)

    return vmap(one)(x, y)
