"""What the rest of the product knows about a dataset: one `DatasetSpec` per module of this package.

Torch-free: the form, validation and the CLI read these facts; only `load` (and `download`) import
torch, inside the call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DatasetSpec:
    name: str  # the config's `dataset` value
    title: str  # how pages and messages name it
    classes: tuple[str, ...]  # the config's class names, in label order
    train_counts: Mapping[str, int]  # training examples available per class
    test_examples: int  # test examples of a pair, for memory estimates
    availability: Callable[[], tuple[bool, str]]  # (ready, one line for the user); cheap: headers only
    load: Callable  # (classes, n_per_class, image_size, download, seed) → parts
    display_range: tuple[float, float] = (0.0, 1.0)  # value range images are shown in (pixels: [0, 1])
    labels: Mapping[str, str] = field(default_factory=dict)  # class → picker label, where it differs
    aliases: Mapping[str, str] = field(default_factory=dict)  # other spellings → class
    image_size: int | None = None  # the only size allowed, where resizing is not offered
    download: Callable | None = None  # fetches the files (network); None: nothing to fetch
    pair_rule: Callable[[tuple[str, str]], str | None] = lambda pair: None  # extra pair check → why not

    def canonical(self, cls: str) -> str:
        """The class a user's spelling names (e.g. Fashion-MNIST's "6" or "Shirt" → "shirt")."""
        return self.aliases.get(str(cls), self.aliases.get(str(cls).lower(), str(cls)))

    def label(self, cls: str) -> str:
        return self.labels.get(cls, cls)

    def available(self, cls: str) -> int:
        return self.train_counts[cls]
