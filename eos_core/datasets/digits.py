"""scikit-learn's handwritten digits: 1,797 8×8 grey images that ship with scikit-learn (offline).
A fixed split keeps every fifth image for testing; classes are the digits plus "even" and "odd"."""

from __future__ import annotations

import functools

import numpy as np

from eos_core.datasets.mnist import NAMES
from eos_core.datasets.spec import DatasetSpec

CLASSES = tuple(str(d) for d in range(10)) + ("even", "odd")
# Training examples per class under the fixed split (4 of every 5 images).
TRAIN_COUNTS = dict(zip("0123456789", (136, 154, 151, 135, 143, 143, 151, 153, 138, 133)), even=719, odd=718)
IMAGES = 1797  # upsampled all at once, in float64, before the split (memory estimates)


def pair_rule(pair) -> str | None:
    parity = {"even", "odd"}
    if parity & set(pair) and set(pair) != parity:
        return "'even' pairs only with 'odd'"
    return None


@functools.lru_cache(maxsize=1)
def _arrays():
    """sklearn's digits (images (N, 8, 8) in 0..16, targets), parsed once: parsing takes ~0.1 s."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    for a in (digits.images, digits.target):
        a.flags.writeable = False  # shared by every later call
    return digits.images, digits.target


def load(classes, n_per_class, image_size, download=False, seed=0):
    import torch
    import torch.nn.functional as F

    from eos_core.science.data import class_of, order, standardise

    images, t = _arrays()
    x = torch.tensor(images, dtype=torch.float64).unsqueeze(1) / 16  # (N, 1, 8, 8) in [0, 1]
    if image_size != 8:  # grey → RGB at S×S, so the same CIFAR-shaped MLP applies unchanged
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)

    def member(name):
        return t % 2 == 0 if name == "even" else t % 2 == 1 if name == "odd" else t == int(name)

    cls_of = class_of(member(classes[0]), member(classes[1]))
    is_test = np.arange(len(t)) % 5 == 0  # the fixed split TRAIN_COUNTS rely on
    train, test = np.flatnonzero(~is_test), np.flatnonzero(is_test)
    i_tr = train[order(cls_of[train], n_per_class, classes, "digits")]
    i_te = test[order(cls_of[test], None, classes, "digits")]
    x_tr, x_te, mean, std = standardise(x[i_tr], x[i_te])
    return x_tr, torch.from_numpy(cls_of[i_tr]), x_te, torch.from_numpy(cls_of[i_te]), mean, std


def availability() -> tuple[bool, str]:
    return True, "digits needs no files (it ships with scikit-learn)"


SPEC = DatasetSpec(
    name="digits",
    title="scikit-learn digits",
    classes=CLASSES,
    train_counts=TRAIN_COUNTS,
    test_examples=360,
    availability=availability,
    load=load,
    labels={str(d): f"{d} · {name}" for d, name in enumerate(NAMES)},
    pair_rule=pair_rule,
)
