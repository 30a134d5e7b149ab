"""Fashion-MNIST (Zalando): clothing, 28×28 grey, 6,000 training and 1,000 test images per class;
MNIST's format and size, harder to tell apart. Found in $EOS_DATA_DIR/FashionMNIST/raw/ or where
Debian's `dataset-fashion-mnist` package put it."""

from __future__ import annotations

from eos_core.datasets import idx
from eos_core.datasets.idx import IdxSet, load_pair
from eos_core.datasets.spec import DatasetSpec

CLASSES = ("tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")
TORCHVISION_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
DEBIAN_PACKAGE = "dataset-fashion-mnist"
FILES = IdxSet(
    "fashion_mnist", "Fashion-MNIST", "FashionMNIST", extra_folders=lambda: list(idx.package_folders(DEBIAN_PACKAGE))
)

# Every spelling a user may reach for: the digit label, torchvision's name, and simple variants.
ALIASES = {}
for label, (short, name) in enumerate(zip(CLASSES, TORCHVISION_NAMES)):
    for spelling in (str(label), name, name.lower(), name.lower().replace(" ", "-"), name.lower().replace(" ", "_")):
        ALIASES[spelling] = short
ALIASES.update({"t-shirt": "tshirt", "top": "tshirt", "ankle_boot": "boot", "ankleboot": "boot"})


def load(classes, n_per_class, image_size, download=False, seed=0):
    return load_pair(FILES, tuple(CLASSES.index(c) for c in classes), classes, n_per_class, image_size)


SPEC = DatasetSpec(
    name="fashion_mnist",
    title="Fashion-MNIST",
    classes=CLASSES,
    train_counts=dict.fromkeys(CLASSES, 6000),
    test_examples=2000,
    availability=FILES.availability,
    load=load,
    download=FILES.download,
    labels={c: f"{c} · {name}" for c, name in zip(CLASSES, TORCHVISION_NAMES)},
    aliases=ALIASES,
)
