"""Dataset files on disk: where they live, whether they are there and sound, and MNIST's IDX format.

Torch-free: the dashboard's form calls `availability` before it offers a run, and the loaders in
`data` build tensors from what this module reads. Nothing here touches the network.
"""
from __future__ import annotations

import gzip
import os
import pathlib
import zlib

import numpy as np


class DatasetError(Exception):
    """A dataset cannot be used; the message says which file or folder and what to do."""


class DatasetMissing(DatasetError, FileNotFoundError):
    """A dataset's files are not on disk; the message names the folder expected and how to fill it."""


class DatasetCorrupt(DatasetError, ValueError):
    """A dataset file is on disk but is not what its format promises (truncated, wrong content)."""


def data_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("EOS_DATA_DIR") or "cache/data")


def corrupt(path, problem: str, expected_bytes: int | None = None, dataset: str = "mnist") -> DatasetCorrupt:
    expected = f" (expected {expected_bytes:,} bytes)" if expected_bytes is not None else ""
    return DatasetCorrupt(f"corrupt dataset file {path}{expected}: {problem}. Delete it and fetch a "
                          f"fresh copy with `python -m eos_core data --download {dataset}`.")


# ------------------------------------------------------------------------------------------- MNIST
# torchvision's layout: <data dir>/MNIST/raw/, each file plain or gzipped (torchvision keeps both).
MNIST_SUBDIR = ("MNIST", "raw")
MNIST_FILES = {   # split → (images file, labels file)
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
MNIST_SIDE = 28
_IMAGES_MAGIC, _LABELS_MAGIC = 2051, 2049   # 0x0000_08_03: unsigned bytes, 3 dimensions; …_08_01: 1
_GZIP_MAGIC = b"\x1f\x8b"


def mnist_dir() -> pathlib.Path:
    return data_dir().joinpath(*MNIST_SUBDIR)


def mnist_missing_message(folder: pathlib.Path, absent) -> str:
    return (f"MNIST not found: {', '.join(absent)} missing from {folder.absolute()} (the four IDX files, "
            f"plain or .gz). Fill it with `python -m eos_core data --download mnist`, or set EOS_DATA_DIR "
            f"to a folder that has MNIST/raw/.")


def mnist_file(folder: pathlib.Path, stem: str) -> pathlib.Path | None:
    """The file holding `stem`: the plain one if present (faster to read), else the .gz, else None."""
    for path in (folder / stem, folder / f"{stem}.gz"):
        if path.is_file():
            return path
    return None


def mnist_paths(folder: pathlib.Path) -> dict[str, pathlib.Path]:
    """stem → file for all four IDX files, or DatasetMissing naming every one that is absent."""
    stems = [stem for pair in MNIST_FILES.values() for stem in pair]
    paths = {stem: mnist_file(folder, stem) for stem in stems}
    absent = [stem for stem, path in paths.items() if path is None]
    if absent:
        raise DatasetMissing(mnist_missing_message(folder, absent))
    return paths


def read_idx(path: pathlib.Path, magic: int) -> np.ndarray:
    """An IDX file of unsigned bytes (plain or gzip) as a read-only uint8 array shaped by its header.

    The magic number, the header and the byte count are checked; anything else is DatasetCorrupt.
    """
    try:
        raw = path.read_bytes()
        if raw[:2] == _GZIP_MAGIC:
            raw = gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as error:   # truncated or damaged gzip stream
        if isinstance(error, FileNotFoundError):
            raise
        raise corrupt(path, f"cannot be decompressed ({error})") from None
    dims = _idx_dims(path, raw[:4 + 4 * (magic & 0xFF)], magic)
    expected = 4 + 4 * len(dims) + int(np.prod(dims))
    if len(raw) != expected:
        raise corrupt(path, f"it holds {len(raw):,} bytes", expected)
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def _idx_dims(path, header: bytes, magic: int) -> tuple[int, ...]:
    ndim = magic & 0xFF
    if len(header) < 4:
        raise corrupt(path, f"only {len(header)} bytes, too short for an IDX header", 4 + 4 * ndim)
    found = int.from_bytes(header[:4], "big")
    if found != magic:
        raise corrupt(path, f"magic number {found} where an IDX {'image' if ndim == 3 else 'label'} "
                            f"file has {magic}")
    if len(header) < 4 + 4 * ndim:
        raise corrupt(path, f"its {ndim}-dimension IDX header is cut short", 4 + 4 * ndim)
    return tuple(int.from_bytes(header[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))


def read_mnist_split(folder: pathlib.Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, 28, 28) uint8, labels (N,) uint8) of one split, checked against each other."""
    every = mnist_paths(folder)
    paths = [every[stem] for stem in MNIST_FILES[split]]
    images, labels = read_idx(paths[0], _IMAGES_MAGIC), read_idx(paths[1], _LABELS_MAGIC)
    if images.shape[1:] != (MNIST_SIDE, MNIST_SIDE):
        raise corrupt(paths[0], f"images are {images.shape[1]}×{images.shape[2]}, MNIST's are 28×28")
    if len(images) != len(labels):
        raise corrupt(paths[1], f"{len(labels):,} labels for {len(images):,} images in {paths[0].name}",
                      8 + len(images))
    if labels.size and labels.max() > 9:
        raise corrupt(paths[1], f"label {labels.max()} is not a digit")
    return images, labels


def _idx_header_ok(path: pathlib.Path, magic: int) -> str | None:
    """None if the header and the file size agree (a cheap check: no decompression of the body;
    a gzip file's size is read from its trailer), else what is wrong."""
    ndim = magic & 0xFF
    try:
        with path.open("rb") as f:
            gz = f.read(2) == _GZIP_MAGIC
        if gz:
            with gzip.open(path, "rb") as f:
                header = f.read(4 + 4 * ndim)
            with path.open("rb") as f:
                f.seek(-4, os.SEEK_END)
                size = int.from_bytes(f.read(4), "little")   # ISIZE: uncompressed size mod 2^32
        else:
            with path.open("rb") as f:
                header = f.read(4 + 4 * ndim)
            size = path.stat().st_size
        dims = _idx_dims(path, header, magic)
    except DatasetCorrupt as error:
        return str(error)
    except (EOFError, OSError, zlib.error) as error:
        return str(corrupt(path, f"cannot be read ({error})"))
    expected = 4 + 4 * ndim + int(np.prod(dims))
    if size != expected % (2**32 if gz else 2**64):
        return str(corrupt(path, f"it holds {size:,} bytes", expected))
    return None


def mnist_availability(folder: pathlib.Path | None = None) -> tuple[bool, str]:
    folder = folder if folder is not None else mnist_dir()
    try:
        paths = mnist_paths(folder)
    except DatasetMissing as missing:
        return False, str(missing)
    for stem, path in paths.items():
        problem = _idx_header_ok(path, _IMAGES_MAGIC if "images" in stem else _LABELS_MAGIC)
        if problem:
            return False, problem
    return True, f"MNIST is ready in {folder.absolute()}"


# ---------------------------------------------------------------------------------------- CIFAR-10
CIFAR10_BIN = "cifar-10-batches-bin"
CIFAR10_PY = "cifar-10-batches-py"
CIFAR10_BIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6)) + ("test_batch.bin",)
CIFAR10_RECORD = 1 + 3 * 32 * 32     # one label byte, then the R, G and B planes (32×32 each)
CIFAR10_RECORDS_PER_FILE = 10_000


def cifar10_missing_message(folder: pathlib.Path) -> str:
    return (f"CIFAR-10 not found: expected its binary distribution in {folder.absolute()} "
            f"(data_batch_1.bin … data_batch_5.bin, test_batch.bin). Fill it with "
            f"`python -m eos_core data --download cifar10`, or set EOS_DATA_DIR to a folder that has it.")


def cifar10_availability(root: pathlib.Path | None = None) -> tuple[bool, str]:
    root = root if root is not None else data_dir()
    bin_dir, py_dir = root / CIFAR10_BIN, root / CIFAR10_PY
    if bin_dir.is_dir():
        expected = CIFAR10_RECORDS_PER_FILE * CIFAR10_RECORD
        for name in CIFAR10_BIN_FILES:
            path = bin_dir / name
            if not path.is_file():
                return False, (f"{path.absolute()} is missing from the CIFAR-10 binary distribution; refill "
                               f"{bin_dir.absolute()} with `python -m eos_core data --download cifar10`.")
            if path.stat().st_size != expected:
                return False, str(corrupt(path.absolute(), f"it holds {path.stat().st_size:,} bytes", expected,
                                          "cifar10"))
        return True, f"CIFAR-10 is ready in {bin_dir.absolute()}"
    if py_dir.is_dir():
        return True, f"CIFAR-10 (torchvision's folder, checked against its checksums when read) in {py_dir.absolute()}"
    return False, cifar10_missing_message(bin_dir)


def availability(dataset: str) -> tuple[bool, str]:
    """(ok, one line for the user): whether `dataset`'s files are on disk and look sound.

    Cheap enough for every rerun of a form: headers and sizes only, bodies are checked when loaded.
    scikit-learn's digits ship with scikit-learn and synthetic data is generated, so both are ready.
    """
    if dataset == "mnist":
        return mnist_availability()
    if dataset == "cifar10":
        return cifar10_availability()
    if dataset in ("digits", "synthetic"):
        return True, f"{dataset} needs no files"
    return False, f"unknown dataset {dataset!r}"
