"""Two-class image datasets: CIFAR-10 (binary distribution), MNIST (IDX files), scikit-learn digits,
procedural synthetic.

Every loader returns a `Dataset` whose training set is the class-0 block followed by the class-1
block (the first n_per_class examples of each class, in dataset order); the test set is ordered
the same way and holds every test example of the two classes. Tensors are built on the CPU and
moved to the requested device/dtype once, at the end.
"""
from __future__ import annotations

import functools
import pathlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from . import datafiles
from .config import CIFAR10_CLASSES, CLASSES, available_per_class
from .datafiles import (CIFAR10_BIN, CIFAR10_PY, CIFAR10_RECORD, DatasetCorrupt, DatasetError,  # noqa: F401
                        DatasetMissing, data_dir)

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
CIFAR10_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.2010)

SYNTHETIC_TEST_PER_CLASS = 500


@dataclass(frozen=True, eq=False)   # eq=False: tensor fields make field-wise == meaningless
class Dataset:
    x_train: torch.Tensor           # (n, C, H, W), normalised, on the requested device/dtype
    y_train: torch.Tensor           # (n,) int64 in {0, 1}; label 0 = classes[0], 1 = classes[1]
    x_test: torch.Tensor
    y_test: torch.Tensor
    class_names: tuple[str, str]
    pixel_mean: tuple[float, ...]   # per-channel, in [0,1] pixel units: x_pixel = x * std + mean
                                    # (synthetic has no pixels: the generator's raw units)
    pixel_std: tuple[float, ...]


def load_dataset(name: str, classes: tuple[str, str], n_per_class: int, image_size: int,
                 device="cpu", dtype=torch.float32, download: bool = False, seed: int = 0) -> Dataset:
    """Load a two-class dataset; `download` applies to CIFAR-10 only (MNIST is fetched only by
    `python -m eos_core data --download mnist`), `seed` to synthetic only."""
    classes = tuple(str(c) for c in classes)
    _check_args(name, classes, n_per_class, image_size)
    if name == "cifar10":
        parts = _cifar10(classes, n_per_class, download)
    elif name == "mnist":
        parts = _mnist(classes, n_per_class, image_size)
    elif name == "digits":
        parts = _digits(classes, n_per_class, image_size)
    else:
        parts = _synthetic(n_per_class, image_size, seed)
    x_train, y_train, x_test, y_test, mean, std = parts
    return Dataset(x_train.to(device=device, dtype=dtype), y_train.to(device),
                   x_test.to(device=device, dtype=dtype), y_test.to(device),
                   classes, tuple(mean), tuple(std))


def download_cifar10(root=None) -> pathlib.Path:
    """Fetch and unpack CIFAR-10's binary distribution under root (default data_dir()); the only
    function here that touches the network. Returns the batches folder."""
    from torchvision.datasets.utils import download_and_extract_archive
    root = pathlib.Path(root) if root is not None else data_dir()
    download_and_extract_archive(CIFAR10_URL, download_root=str(root), md5=CIFAR10_MD5)
    return root / CIFAR10_BIN


def download_mnist(root=None) -> pathlib.Path:
    """Fetch MNIST's four IDX files with torchvision into root/MNIST/raw (default data_dir());
    touches the network. Returns the folder once `datafiles.mnist_availability` accepts it."""
    from torchvision.datasets import MNIST
    root = pathlib.Path(root) if root is not None else data_dir()
    MNIST(str(root), train=True, download=True)      # fetches and checks both splits' files
    ok, message = datafiles.mnist_availability(root.joinpath(*datafiles.MNIST_SUBDIR))
    if not ok:
        raise DatasetCorrupt(message)
    return root.joinpath(*datafiles.MNIST_SUBDIR)


def _check_args(name, classes, n_per_class, image_size):
    if name not in CLASSES:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(CLASSES)}")
    allowed = CLASSES[name]
    if len(classes) != 2 or classes[0] == classes[1] or not set(classes) <= set(allowed):
        raise ValueError(f"classes={classes!r}: need two different {name} classes from {', '.join(allowed)}")
    if name == "digits" and {"even", "odd"} & set(classes) and set(classes) != {"even", "odd"}:
        raise ValueError(f"classes={classes!r}: 'even' pairs only with 'odd'")
    if n_per_class < 1 or image_size < 1:
        raise ValueError(f"n_per_class={n_per_class} and image_size={image_size} must be positive")
    if name == "cifar10" and image_size != 32:
        raise ValueError(f"image_size={image_size}: CIFAR-10 images are 32×32")
    available = min(available_per_class(name, c) for c in classes)
    if n_per_class > available:
        raise ValueError(f"n_per_class={n_per_class} is too many: {name} {classes[0]}/{classes[1]} "
                         f"has {available} training examples per class")


def _class_of(in0: np.ndarray, in1: np.ndarray) -> np.ndarray:
    """0 / 1 for members of classes[0] / classes[1], -1 for examples of neither."""
    return np.where(in0, 0, np.where(in1, 1, -1))


def _order(cls_of: np.ndarray, n: int | None, names, where: str) -> np.ndarray:
    """Indices of class 0's examples then class 1's, in dataset order: the first n of each, or all."""
    blocks = []
    for c in (0, 1):
        found = np.flatnonzero(cls_of == c)
        if n is not None and len(found) < n:
            raise ValueError(f"n_per_class={n} is too many: {where} has only {len(found)} "
                             f"training examples of class {names[c]!r}")
        blocks.append(found if n is None else found[:n])
    return np.concatenate(blocks)


def _standardise(x_train, x_test):
    """Per-channel standardisation with training-set statistics (population std), in place: the
    callers pass freshly built tensors, and at n = 10,000 × 3×32×32 each avoided copy saves ~0.1 s."""
    dims = (0, 2, 3)
    mean = x_train.mean(dim=dims, keepdim=True)
    x_train -= mean
    # not linalg.vector_norm: in float32 it accumulates naively and is off by ~1% at this size
    std = x_train.square().mean(dim=dims, keepdim=True).sqrt()
    x_train /= std
    x_test -= mean
    x_test /= std
    return x_train, x_test, mean.flatten().tolist(), std.flatten().tolist()


# ---------------------------------------------------------------------------------------- CIFAR-10

def _cifar10(classes, n, download):
    root = data_dir()
    bin_dir, py_dir = root / CIFAR10_BIN, root / CIFAR10_PY
    if not bin_dir.is_dir() and not py_dir.is_dir():
        if not download:
            raise DatasetMissing(datafiles.cifar10_missing_message(bin_dir))
        download_cifar10(root)
    if bin_dir.is_dir():
        train = [_read_bin(bin_dir / f"data_batch_{i}.bin") for i in range(1, 6)]
        x_tr, t_tr = (np.concatenate(a) for a in zip(*train))
        x_te, t_te = _read_bin(bin_dir / "test_batch.bin")
        where = str(bin_dir)
    else:
        (x_tr, t_tr), (x_te, t_te) = _read_torchvision(root, True), _read_torchvision(root, False)
        where = str(py_dir)
    ia, ib = (CIFAR10_CLASSES.index(c) for c in classes)
    i_tr = _order(_class_of(t_tr == ia, t_tr == ib), n, classes, f"CIFAR-10 in {where}")
    i_te = _order(_class_of(t_te == ia, t_te == ib), None, classes, where)
    mean = torch.tensor(CIFAR10_MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD, dtype=torch.float64).view(1, 3, 1, 1)

    def normalise(u8):   # float64 so the result is exact to the last bit of the requested dtype
        return (torch.from_numpy(u8).double() / 255 - mean) / std

    return (normalise(x_tr[i_tr]), torch.from_numpy((t_tr[i_tr] == ib).astype(np.int64)),
            normalise(x_te[i_te]), torch.from_numpy((t_te[i_te] == ib).astype(np.int64)),
            CIFAR10_MEAN, CIFAR10_STD)


def _read_bin(path: pathlib.Path):
    """One binary batch file → (uint8 images (N, 3, 32, 32), int64 labels (N,)); raw bytes, no pickle.
    Every official batch holds exactly 10,000 records whose label bytes are 0–9."""
    if not path.is_file():
        raise DatasetMissing(f"{path.absolute()} is missing from the CIFAR-10 binary distribution; refill "
                             f"{path.parent.absolute()} with `python -m eos_core data --download cifar10`.")
    raw = np.fromfile(path, dtype=np.uint8)
    expected = datafiles.CIFAR10_RECORDS_PER_FILE * CIFAR10_RECORD
    if raw.size != expected:
        raise datafiles.corrupt(path.absolute(), f"it holds {raw.size:,} bytes, not "
                                f"{datafiles.CIFAR10_RECORDS_PER_FILE:,} records of {CIFAR10_RECORD:,} bytes",
                                expected, "cifar10")
    records = raw.reshape(-1, CIFAR10_RECORD)
    labels = records[:, 0].astype(np.int64)
    bad = np.flatnonzero(labels > 9)
    if bad.size:
        raise datafiles.corrupt(path.absolute(), f"record {bad[0]} has label byte {labels[bad[0]]} (CIFAR-10 "
                                f"labels are 0–9): this is not a CIFAR-10 batch", expected, "cifar10")
    return records[:, 1:].reshape(-1, 3, 32, 32), labels


def _read_torchvision(root: pathlib.Path, train: bool):
    """torchvision's python-format folder. CIFAR10 checks every file against the official md5
    checksums before it unpickles anything, so only the official files are ever unpickled."""
    from torchvision.datasets import CIFAR10
    try:
        ds = CIFAR10(str(root), train=train, download=False)
    except RuntimeError as e:
        raise DatasetMissing(
            f"{root / CIFAR10_PY} failed torchvision's checksum check ({e}). Remove it and fill "
            f"{root / CIFAR10_BIN} with `python -m eos_core data --download cifar10`.") from None
    return ds.data.transpose(0, 3, 1, 2), np.asarray(ds.targets, dtype=np.int64)   # HWC → CHW


# ------------------------------------------------------------------------------------------- MNIST

@functools.lru_cache(maxsize=2)
def _mnist_arrays(folder: str, stamp: tuple):
    """Both splits' images and labels plus the training set's pixel mean and std (in [0, 1] units,
    over all 60,000 images), parsed once per folder and file version (`stamp`): ~0.3 s from gzip."""
    folder = pathlib.Path(folder)
    (x_tr, t_tr), (x_te, t_te) = (datafiles.read_mnist_split(folder, s) for s in ("train", "test"))
    counts = np.bincount(x_tr.reshape(-1), minlength=256).astype(np.float64)   # exact, no float64 copy
    values = np.arange(256) / 255
    mean = float(counts @ values / counts.sum())
    std = float(np.sqrt(counts @ (values - mean) ** 2 / counts.sum()))
    return x_tr, t_tr.astype(np.int64), x_te, t_te.astype(np.int64), mean, std


def _mnist_stamp(folder: pathlib.Path) -> tuple:
    paths = [datafiles.mnist_file(folder, stem) for pair in datafiles.MNIST_FILES.values() for stem in pair]
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) if p else None for p in paths)


def _mnist(classes, n, image_size):
    """Grey 1×S×S images (S = 28 native; other sizes are a bilinear resize), standardised with the
    mean and std of MNIST's whole training set, like CIFAR-10's fixed per-channel constants: a given
    image has the same input whatever the pair or n."""
    folder = datafiles.mnist_dir()
    x_tr, t_tr, x_te, t_te, mean, std = _mnist_arrays(str(folder), _mnist_stamp(folder))
    ia, ib = (int(c) for c in classes)
    i_tr = _order(_class_of(t_tr == ia, t_tr == ib), n, classes, f"MNIST in {folder.absolute()}")
    i_te = _order(_class_of(t_te == ia, t_te == ib), None, classes, str(folder))

    def normalise(u8):    # float64 so the result is exact to the last bit of the requested dtype
        x = torch.from_numpy(u8).double().unsqueeze(1) / 255
        if image_size != datafiles.MNIST_SIDE:
            x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False,
                              antialias=image_size < datafiles.MNIST_SIDE)
        return (x - mean) / std

    return (normalise(x_tr[i_tr]), torch.from_numpy((t_tr[i_tr] == ib).astype(np.int64)),
            normalise(x_te[i_te]), torch.from_numpy((t_te[i_te] == ib).astype(np.int64)), (mean,), (std,))


# ------------------------------------------------------------------------------------------ digits

@functools.lru_cache(maxsize=1)
def _digits_arrays():
    """sklearn's digits (images (N, 8, 8) in 0..16, targets), parsed once: parsing takes ~0.1 s."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    for a in (digits.images, digits.target):
        a.flags.writeable = False        # shared by every later call
    return digits.images, digits.target


def _digits(classes, n, image_size):
    images, t = _digits_arrays()
    x = torch.tensor(images, dtype=torch.float64).unsqueeze(1) / 16        # (N, 1, 8, 8) in [0, 1]
    if image_size != 8:   # grey → RGB at S×S, so the same CIFAR-shaped MLP applies unchanged
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear",
                          align_corners=False).repeat(1, 3, 1, 1)

    def member(name):
        return t % 2 == 0 if name == "even" else t % 2 == 1 if name == "odd" else t == int(name)

    cls_of = _class_of(member(classes[0]), member(classes[1]))
    is_test = np.arange(len(t)) % 5 == 0        # the fixed split config.py's counts rely on
    train, test = np.flatnonzero(~is_test), np.flatnonzero(is_test)
    i_tr = train[_order(cls_of[train], n, classes, "digits")]
    i_te = test[_order(cls_of[test], None, classes, "digits")]
    x_tr, x_te, mean, std = _standardise(x[i_tr], x[i_te])
    return x_tr, torch.from_numpy(cls_of[i_tr]), x_te, torch.from_numpy(cls_of[i_te]), mean, std


# --------------------------------------------------------------------------------------- synthetic
# Each example is a·t·T_c + F + σ·ε: a smooth class template T_c scaled by a log-normal amplitude a,
# a smooth per-example field F and white noise ε. Templates and fields share the same low-frequency
# subspace, so F can mimic the other class: a linear model reaches ~93% test accuracy, and about a
# sixth of the training points have a 50-NN neighbourhood with 30–70% of the other class. Small a
# puts an example near the origin, between the classes; large a puts it far out (an input outlier).
_TEMPLATE_SCALE, _NOISE = 0.4, 0.5
_AMPLITUDE_SPREAD = 0.5   # σ of log a


def _upsampler(size: int) -> torch.Tensor:
    """(16, size²) matrix of bilinear 4×4 → size×size upsampling, scaled so that a field built from
    a standard-normal grid has unit mean square. A matmul is much faster than F.interpolate here."""
    basis = torch.eye(16).view(16, 1, 4, 4)
    u = F.interpolate(basis, size=(size, size), mode="bilinear", align_corners=False).view(16, -1)
    return u / u.square().sum(dim=0).mean().sqrt()


def _synthetic_draw(n: int, templates: torch.Tensor, up: torch.Tensor, g: torch.Generator):
    """n examples per class, class 0 block first; built in place, as fresh allocations dominate."""
    shape = templates.shape[1:]
    a = torch.exp(_AMPLITUDE_SPREAD * torch.randn(2, n, 1, 1, 1, generator=g))
    x = torch.randn(2 * n, *shape, generator=g).mul_(_NOISE)
    x.view(2 * n * 3, -1).addmm_(torch.randn(2 * n * 3, 16, generator=g), up)   # + smooth field
    x.view(2, n, *shape).add_(_TEMPLATE_SCALE * a * templates.unsqueeze(1))
    return x, torch.arange(2).repeat_interleave(n)


def _synthetic(n, image_size, seed):
    g = torch.Generator().manual_seed(seed)
    up = _upsampler(image_size)
    templates = (torch.randn(2 * 3, 16, generator=g) @ up).view(2, 3, image_size, image_size)
    templates /= templates.square().mean(dim=(1, 2, 3), keepdim=True).sqrt()   # exactly unit RMS
    # Train and test get their own streams, so the test set does not depend on n_per_class.
    train_seed, test_seed = torch.randint(2**62, (2,), generator=g).tolist()
    x_tr, y_tr = _synthetic_draw(n, templates, up, torch.Generator().manual_seed(train_seed))
    x_te, y_te = _synthetic_draw(SYNTHETIC_TEST_PER_CLASS, templates, up,
                                 torch.Generator().manual_seed(test_seed))
    x_tr, x_te, mean, std = _standardise(x_tr, x_te)
    return x_tr, y_tr, x_te, y_te, mean, std
