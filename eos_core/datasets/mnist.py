"""MNIST: handwritten digits, 28×28 grey, 60,000 training and 10,000 test images."""

from __future__ import annotations

from eos_core.datasets.idx import IdxSet, load_pair
from eos_core.datasets.spec import DatasetSpec

CLASSES = tuple(str(d) for d in range(10))
NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TRAIN_COUNTS = dict(zip(CLASSES, (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)))
TEST_COUNTS = dict(zip(CLASSES, (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)))
FILES = IdxSet("mnist", "MNIST", "MNIST")


def load(classes, n_per_class, image_size, download=False, seed=0):
    return load_pair(FILES, tuple(int(c) for c in classes), classes, n_per_class, image_size)


SPEC = DatasetSpec(
    name="mnist",
    title="MNIST",
    classes=CLASSES,
    train_counts=TRAIN_COUNTS,
    test_examples=2000,
    availability=FILES.availability,
    load=load,
    download=FILES.download,
    labels={c: f"{c} · {name}" for c, name in zip(CLASSES, NAMES)},
)
