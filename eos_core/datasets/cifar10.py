"""CIFAR-10: 32×32 colour images, 5,000 training and 1,000 test per class; the paper's dataset.

Read from the binary distribution (<data dir>/cifar-10-batches-bin/, raw bytes, no pickle) or
torchvision's python folder (checked against the official checksums before anything is unpickled).
"""

from __future__ import annotations

import pathlib

import numpy as np

from eos_core.datasets.files import DatasetMissing, corrupt, data_dir
from eos_core.datasets.spec import DatasetSpec

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
BIN = "cifar-10-batches-bin"
PY = "cifar-10-batches-py"
BIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6)) + ("test_batch.bin",)
RECORD = 1 + 3 * 32 * 32  # one label byte, then the R, G and B planes (32×32 each)
RECORDS_PER_FILE = 10_000


def missing_message(folder: pathlib.Path) -> str:
    return (
        f"CIFAR-10 not found: expected its binary distribution in {folder.absolute()} "
        f"(data_batch_1.bin … data_batch_5.bin, test_batch.bin). Fill it with "
        f"`python -m eos_core data --download cifar10`, or set EOS_DATA_DIR to a folder that has it."
    )


def availability(root: pathlib.Path | None = None) -> tuple[bool, str]:
    root = root if root is not None else data_dir()
    bin_dir, py_dir = root / BIN, root / PY
    if bin_dir.is_dir():
        expected = RECORDS_PER_FILE * RECORD
        for name in BIN_FILES:
            path = bin_dir / name
            if not path.is_file():
                return False, (
                    f"{path.absolute()} is missing from the CIFAR-10 binary distribution; refill "
                    f"{bin_dir.absolute()} with `python -m eos_core data --download cifar10`."
                )
            if path.stat().st_size != expected:
                return False, str(
                    corrupt(path.absolute(), f"it holds {path.stat().st_size:,} bytes", expected, "cifar10")
                )
        return True, f"CIFAR-10 is ready in {bin_dir.absolute()}"
    if py_dir.is_dir():
        return True, f"CIFAR-10 (torchvision's folder, checked against its checksums when read) in {py_dir.absolute()}"
    return False, missing_message(bin_dir)


def download(root=None) -> pathlib.Path:
    """Fetch and unpack the binary distribution under root (default data_dir()); touches the
    network. Returns the batches folder."""
    from torchvision.datasets.utils import download_and_extract_archive

    root = pathlib.Path(root) if root is not None else data_dir()
    download_and_extract_archive(URL, download_root=str(root), md5=MD5)
    return root / BIN


def load(classes, n_per_class, image_size, download_missing=False, seed=0):
    import torch

    from eos_core.science.data import class_of, order

    root = data_dir()
    bin_dir, py_dir = root / BIN, root / PY
    if not bin_dir.is_dir() and not py_dir.is_dir():
        if not download_missing:
            raise DatasetMissing(missing_message(bin_dir))
        download(root)
    if bin_dir.is_dir():
        train = [read_bin(bin_dir / f"data_batch_{i}.bin") for i in range(1, 6)]
        x_tr, t_tr = (np.concatenate(a) for a in zip(*train))
        x_te, t_te = read_bin(bin_dir / "test_batch.bin")
        where = str(bin_dir)
    else:
        (x_tr, t_tr), (x_te, t_te) = _read_torchvision(root, True), _read_torchvision(root, False)
        where = str(py_dir)
    ia, ib = (CLASSES.index(c) for c in classes)
    i_tr = order(class_of(t_tr == ia, t_tr == ib), n_per_class, classes, f"CIFAR-10 in {where}")
    i_te = order(class_of(t_te == ia, t_te == ib), None, classes, where)
    mean = torch.tensor(MEAN, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float64).view(1, 3, 1, 1)

    def normalise(u8):  # float64 so the result is exact to the last bit of the requested dtype
        return (torch.from_numpy(u8).double() / 255 - mean) / std

    return (
        normalise(x_tr[i_tr]),
        torch.from_numpy((t_tr[i_tr] == ib).astype(np.int64)),
        normalise(x_te[i_te]),
        torch.from_numpy((t_te[i_te] == ib).astype(np.int64)),
        MEAN,
        STD,
    )


def read_bin(path: pathlib.Path):
    """One binary batch file → (uint8 images (N, 3, 32, 32), int64 labels (N,)); raw bytes, no pickle.
    Every official batch holds exactly 10,000 records whose label bytes are 0–9."""
    if not path.is_file():
        raise DatasetMissing(
            f"{path.absolute()} is missing from the CIFAR-10 binary distribution; refill "
            f"{path.parent.absolute()} with `python -m eos_core data --download cifar10`."
        )
    raw = np.fromfile(path, dtype=np.uint8)
    expected = RECORDS_PER_FILE * RECORD
    if raw.size != expected:
        raise corrupt(
            path.absolute(),
            f"it holds {raw.size:,} bytes, not {RECORDS_PER_FILE:,} records of {RECORD:,} bytes",
            expected,
            "cifar10",
        )
    records = raw.reshape(-1, RECORD)
    labels = records[:, 0].astype(np.int64)
    bad = np.flatnonzero(labels > 9)
    if bad.size:
        raise corrupt(
            path.absolute(),
            f"record {bad[0]} has label byte {labels[bad[0]]} (CIFAR-10 labels are 0–9): this is not a CIFAR-10 batch",
            expected,
            "cifar10",
        )
    return records[:, 1:].reshape(-1, 3, 32, 32), labels


def _read_torchvision(root: pathlib.Path, train: bool):
    """torchvision's python-format folder. CIFAR10 checks every file against the official md5
    checksums before it unpickles anything, so only the official files are ever unpickled."""
    from torchvision.datasets import CIFAR10

    try:
        ds = CIFAR10(str(root), train=train, download=False)
    except RuntimeError as e:
        raise DatasetMissing(
            f"{root / PY} failed torchvision's checksum check ({e}). Remove it and fill "
            f"{root / BIN} with `python -m eos_core data --download cifar10`."
        ) from None
    return ds.data.transpose(0, 3, 1, 2), np.asarray(ds.targets, dtype=np.int64)  # HWC → CHW


SPEC = DatasetSpec(
    name="cifar10",
    title="CIFAR-10",
    classes=CLASSES,
    train_counts=dict.fromkeys(CLASSES, 5000),
    test_examples=2000,
    availability=availability,
    load=load,
    download=download,
    image_size=32,
)
