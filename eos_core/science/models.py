"""Networks, as plain nn.Modules built from a RunConfig.

Training works on one flat parameter vector θ (see `FlatModel`), so Hessian-vector products,
eigenvectors, forks and checkpoints are all simple 1-D tensors.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F


def mlp(in_features: int, width: int, n_out: int = 2) -> nn.Sequential:
    """The paper's MLP: flatten → width → width → 2, ReLU (App. A.1)."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(in_features, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, n_out),
    )


def _conv_out(size: int, kernel: int = 3, stride: int = 1, padding: int = 0) -> int:
    return (size + 2 * padding - kernel) // stride + 1


def cnn(input_shape: tuple, width: int, n_out: int = 2) -> nn.Sequential:
    """The paper's CNN (App. C.1): conv 64 → conv 64 → pool → conv 128 → pool → fc width → n_out.

    All convolutions are 3×3, stride 1, no padding, each followed by ReLU; 2×2 max-pooling after
    the second and third. The hidden fully connected layer uses `cfg.width`, whose default 512 is
    the paper's value. For 3×32×32 inputs: 32 → 30 → 28 → 14 → 12 → 6, i.e. 128·6·6 = 4608 features.
    """
    channels, height, width_in = input_shape
    sizes = []
    for size in (height, width_in):
        size = _conv_out(_conv_out(size)) // 2  # conv1, conv2, pool
        size = _conv_out(size) // 2  # conv3, pool
        sizes.append(size)
    if min(sizes) < 1:
        raise ValueError(
            f"the CNN needs inputs of at least 12×12 pixels (three unpadded 3×3 "
            f"convolutions and two 2×2 poolings); got {height}×{width_in}"
        )
    return nn.Sequential(
        nn.Conv2d(channels, 64, 3),
        nn.ReLU(),
        nn.Conv2d(64, 64, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(128 * sizes[0] * sizes[1], width),
        nn.ReLU(),
        nn.Linear(width, n_out),
    )


class BasicBlock(nn.Module):
    """relu(conv2(relu(conv1(x))) + shortcut(x)), 3×3 convolutions with padding 1.

    BatchNorm is replaced by the identity (the paper's BN-free variant), so nothing depends on
    batch statistics and per-example gradients are well defined. The shortcut is a 1×1 convolution
    with the block's stride when the shape changes, the identity otherwise.
    """

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        changes_shape = stride != 1 or c_in != c_out
        self.shortcut = nn.Conv2d(c_in, c_out, 1, stride=stride) if changes_shape else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.conv1(x))
        out = self.conv2(out)
        return F.relu(out + self.shortcut(x))  # out-of-place: safe under functional_call/jvp/vmap


class ResNet14(nn.Module):
    """BN-free ResNet-14 (App. C.1): 3×3 stem of width 16, stages of widths 16/32/64 with [2, 2, 2]
    basic blocks (stride 2 in the first block of stages 2 and 3), global average pooling, linear.

    14 weight layers = stem + 3 stages × 2 blocks × 2 convolutions + the linear layer; the two 1×1
    shortcut projections (entering stages 2 and 3) are extra and not counted, as usual.
    """

    def __init__(self, in_channels: int, n_out: int = 2, widths=(16, 32, 64), blocks=(2, 2, 2)):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, widths[0], 3, padding=1)
        layers, c_in = [], widths[0]
        for stage, (c_out, n_blocks) in enumerate(zip(widths, blocks)):
            for b in range(n_blocks):
                stride = 2 if stage > 0 and b == 0 else 1
                layers.append(BasicBlock(c_in, c_out, stride))
                c_in = c_out
        self.blocks = nn.Sequential(*layers)
        self.fc = nn.Linear(c_in, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.blocks(F.relu(self.stem(x)))
        return self.fc(out.mean(dim=(2, 3)))  # global average pooling


# Every architecture maps (cfg, input_shape=(C, H, W)) to a module with 2 outputs.
# The ResNet has fixed widths (16/32/64) and ignores cfg.width.
ARCHITECTURES = {
    "mlp": lambda cfg, shape: mlp(math.prod(shape), cfg.width),
    "cnn": lambda cfg, shape: cnn(shape, cfg.width),
    "resnet14": lambda cfg, shape: ResNet14(shape[0]),
}


def init_paper(model: nn.Module, scale: float, generator: torch.Generator) -> None:
    """Kaiming-normal (fan_in) weights times `scale`, zero biases (App. A.2)."""
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            fan_in = module.weight[0].numel()
            std = math.sqrt(2.0 / fan_in) * scale
            with torch.no_grad():
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * std)
                module.bias.zero_()


class FlatModel:
    """A network evaluated at a flat parameter vector θ: `f(θ, x)`."""

    def __init__(self, module: nn.Module):
        self.module = module
        self.names = [n for n, _ in module.named_parameters()]
        self.shapes = [p.shape for _, p in module.named_parameters()]
        self.sizes = [p.numel() for _, p in module.named_parameters()]

    @property
    def dim(self) -> int:
        return sum(self.sizes)

    def unflatten(self, theta: torch.Tensor) -> dict:
        views = torch.split(theta, self.sizes)
        return {n: v.view(s) for n, v, s in zip(self.names, views, self.shapes)}

    def initial_theta(self) -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self.module.parameters()])

    def __call__(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.module, self.unflatten(theta), (x,))


def build_model(cfg, input_shape: tuple, device, dtype) -> tuple[FlatModel, torch.Tensor]:
    """The configured network and its seeded initial parameters θ0."""
    generator = torch.Generator().manual_seed(cfg.seed)
    module = ARCHITECTURES[cfg.model](cfg, tuple(input_shape))
    init_paper(module, cfg.init_scale, generator)
    module = module.to(device=device, dtype=dtype)
    flat = FlatModel(module)
    return flat, flat.initial_theta()
