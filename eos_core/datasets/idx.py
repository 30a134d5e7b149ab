"""MNIST-format datasets (MNIST, Fashion-MNIST): four IDX files in torchvision's layout,
`<root>/<Name>/raw/`, each plain or gzipped.

Files are checked by structure, not by a checksum list (copies repackaged elsewhere, e.g. by
Debian, differ in their gzip bytes while holding the standard data): the IDX magic, the image
shape, the item count of each header against the bytes and of the images against the labels, and
labels in range. The reading is torch-free; `load_pair` builds
tensors and imports torch inside the call.
"""

from __future__ import annotations

import functools
import gzip
import os
import pathlib
import shutil
import subprocess
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from eos_core.datasets.files import DatasetCorrupt, DatasetMissing, corrupt, data_dir

FILES = {  # split → (images file, labels file)
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
STEMS = tuple(stem for pair in FILES.values() for stem in pair)
SIDE = 28
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049  # 0x0000_08_03: unsigned bytes, 3 dimensions; …_08_01: 1
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class IdxSet:
    """One MNIST-format dataset's files: where they may be and what they must hold."""

    name: str  # registry name, e.g. "fashion_mnist"
    title: str  # e.g. "Fashion-MNIST"
    subdir: str  # torchvision's folder name under the data root, e.g. "FashionMNIST"
    extra_folders: Callable[[], list[pathlib.Path]] = list  # searched after $EOS_DATA_DIR

    def home(self) -> pathlib.Path:
        """Where `data --download` puts the files: <data dir>/<subdir>/raw."""
        return data_dir() / self.subdir / "raw"

    def folders(self) -> list[pathlib.Path]:
        return [self.home(), *self.extra_folders()]

    def folder(self) -> pathlib.Path:
        """The first searched folder that holds all four files, or DatasetMissing naming them all."""
        for folder in self.folders():
            if all(file_of(folder, stem) for stem in STEMS):
                return folder
        raise DatasetMissing(self.missing_message())

    def missing_message(self) -> str:
        searched = "; ".join(str(f.absolute()) for f in self.folders())
        debian = (
            " or install Debian's package (`apt-get install dataset-fashion-mnist`),"
            if self.name == "fashion_mnist"
            else ""
        )
        return (
            f"{self.title} not found: the four IDX files ({', '.join(STEMS)}, plain or .gz) are not in "
            f"any folder searched ({searched}). Get them with `python -m eos_core data --download "
            f"{self.name}`,{debian} or set EOS_DATA_DIR to a folder that has {self.subdir}/raw/."
        )

    def availability(self) -> tuple[bool, str]:
        try:
            folder = self.folder()
        except DatasetMissing as missing:
            return False, str(missing)
        for stem in STEMS:
            problem = header_problem(
                file_of(folder, stem), IMAGES_MAGIC if "images" in stem else LABELS_MAGIC, self.name
            )
            if problem:
                return False, problem
        return True, f"{self.title} is ready in {folder.absolute()}"

    def read_split(self, folder: pathlib.Path, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(images (N, 28, 28) uint8, labels (N,) uint8) of one split, checked against each other."""
        paths = [file_of(folder, stem) for stem in FILES[split]]
        if None in paths:
            raise DatasetMissing(self.missing_message())
        images, labels = read_idx(paths[0], IMAGES_MAGIC, self.name), read_idx(paths[1], LABELS_MAGIC, self.name)
        if images.shape[1:] != (SIDE, SIDE):
            raise corrupt(
                paths[0], f"images are {images.shape[1]}×{images.shape[2]}, {self.title}'s are 28×28", dataset=self.name
            )
        if len(images) != len(labels):
            raise corrupt(
                paths[1],
                f"{len(labels):,} labels for {len(images):,} images in {paths[0].name}",
                8 + len(images),
                self.name,
            )
        if labels.size and labels.max() > 9:
            raise corrupt(
                paths[1], f"label {labels.max()} is out of range: {self.title}'s classes are 0–9", dataset=self.name
            )
        return images, labels

    def download(self, root=None) -> pathlib.Path:
        """Fetch the four files with torchvision into <root>/<subdir>/raw (network); returns the
        folder once its files pass the structural check."""
        import torchvision.datasets as tv

        root = pathlib.Path(root) if root is not None else data_dir()
        getattr(tv, self.subdir)(str(root), train=True, download=True)  # fetches both splits' files
        folder = root / self.subdir / "raw"
        for split in FILES:
            self.read_split(folder, split)
        return folder


def file_of(folder: pathlib.Path, stem: str) -> pathlib.Path | None:
    """The file holding `stem`: the plain one if present (faster to read), else the .gz, else None."""
    for path in (folder / stem, folder / f"{stem}.gz"):
        if path.is_file():
            return path
    return None


def read_idx(path: pathlib.Path, magic: int, dataset: str = "mnist") -> np.ndarray:
    """An IDX file of unsigned bytes (plain or gzip) as a read-only uint8 array shaped by its header.
    The magic number, the header and the byte count are checked; anything else is DatasetCorrupt."""
    try:
        raw = path.read_bytes()
        if raw[:2] == _GZIP_MAGIC:
            raw = gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as error:  # truncated or damaged gzip stream
        if isinstance(error, FileNotFoundError):
            raise
        raise corrupt(path, f"cannot be decompressed ({error})", dataset=dataset) from None
    dims = _dims(path, raw[: 4 + 4 * (magic & 0xFF)], magic, dataset)
    expected = 4 + 4 * len(dims) + int(np.prod(dims))
    if len(raw) != expected:
        raise corrupt(path, f"it holds {len(raw):,} bytes", expected, dataset)
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def _dims(path, header: bytes, magic: int, dataset: str) -> tuple[int, ...]:
    ndim = magic & 0xFF
    if len(header) < 4:
        raise corrupt(path, f"only {len(header)} bytes, too short for an IDX header", 4 + 4 * ndim, dataset)
    found = int.from_bytes(header[:4], "big")
    if found != magic:
        raise corrupt(
            path,
            f"magic number {found} where an IDX {'image' if ndim == 3 else 'label'} file has {magic}",
            dataset=dataset,
        )
    if len(header) < 4 + 4 * ndim:
        raise corrupt(path, f"its {ndim}-dimension IDX header is cut short", 4 + 4 * ndim, dataset)
    return tuple(int.from_bytes(header[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))


def header_problem(path: pathlib.Path, magic: int, dataset: str) -> str | None:
    """None if the header's shape and the file size agree (cheap: the body is not decompressed; a
    gzip file's size is read from its trailer), else what is wrong."""
    ndim = magic & 0xFF
    try:
        with path.open("rb") as f:
            gz = f.read(2) == _GZIP_MAGIC
        if gz:
            with gzip.open(path, "rb") as f:
                header = f.read(4 + 4 * ndim)
            with path.open("rb") as f:
                f.seek(-4, os.SEEK_END)
                size = int.from_bytes(f.read(4), "little")  # ISIZE: uncompressed size mod 2^32
        else:
            with path.open("rb") as f:
                header = f.read(4 + 4 * ndim)
            size = path.stat().st_size
        dims = _dims(path, header, magic, dataset)
    except DatasetCorrupt as error:
        return str(error)
    except (EOFError, OSError, zlib.error) as error:
        return str(corrupt(path, f"cannot be read ({error})", dataset=dataset))
    expected = 4 + 4 * ndim + int(np.prod(dims))
    if size != expected % (2**32 if gz else 2**64):
        return str(corrupt(path, f"it holds {size:,} bytes", expected, dataset))
    return None


@functools.lru_cache(maxsize=8)
def package_folders(package: str) -> tuple[pathlib.Path, ...]:
    """The folders where an installed Debian package put IDX files, asked of the package manager
    (`dpkg -L`); none where there is no dpkg or the package is not installed."""
    dpkg = shutil.which("dpkg")
    if not dpkg:
        return ()
    try:
        listing = subprocess.run([dpkg, "-L", package], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ()
    if listing.returncode != 0:
        return ()
    return folders_holding(listing.stdout.splitlines())


def folders_holding(paths: list[str]) -> tuple[pathlib.Path, ...]:
    """The folders in a file listing that hold the training images file, in listing order."""
    found = []
    for line in paths:
        path = pathlib.Path(line.strip())
        if path.name.removesuffix(".gz") == FILES["train"][0] and path.parent not in found:
            found.append(path.parent)
    return tuple(found)


# ------------------------------------------------------------------------------------------- torch


@functools.lru_cache(maxsize=2)
def _arrays(idx: IdxSet, folder: str, stamp: tuple):
    """Both splits plus the training set's pixel mean and std (in [0, 1] units, over all its images),
    parsed once per folder and file version (`stamp`): ~0.3 s from gzip."""
    folder = pathlib.Path(folder)
    (x_tr, t_tr), (x_te, t_te) = (idx.read_split(folder, s) for s in ("train", "test"))
    counts = np.bincount(x_tr.reshape(-1), minlength=256).astype(np.float64)  # exact, no float64 copy
    values = np.arange(256) / 255
    mean = float(counts @ values / counts.sum())
    std = float(np.sqrt(counts @ (values - mean) ** 2 / counts.sum()))
    return x_tr, t_tr.astype(np.int64), x_te, t_te.astype(np.int64), mean, std


def _stamp(folder: pathlib.Path) -> tuple:
    paths = [file_of(folder, stem) for stem in STEMS]
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) if p else None for p in paths)


def load_pair(idx: IdxSet, labels: tuple[int, int], names, n: int, image_size: int):
    """Grey 1×S×S images (S = 28 native; other sizes are a bilinear resize), standardised with the
    mean and std of the whole training set, like CIFAR-10's fixed per-channel constants: a given
    image has the same input whatever the pair or n."""
    import torch
    import torch.nn.functional as F

    from eos_core.science.data import class_of, order

    folder = idx.folder()
    x_tr, t_tr, x_te, t_te, mean, std = _arrays(idx, str(folder), _stamp(folder))
    ia, ib = labels
    i_tr = order(class_of(t_tr == ia, t_tr == ib), n, names, f"{idx.title} in {folder.absolute()}")
    i_te = order(class_of(t_te == ia, t_te == ib), None, names, str(folder))

    def normalise(u8):  # float64 so the result is exact to the last bit of the requested dtype
        x = torch.from_numpy(u8).double().unsqueeze(1) / 255
        if image_size != SIDE:
            x = F.interpolate(
                x, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=image_size < SIDE
            )
        return (x - mean) / std

    return (
        normalise(x_tr[i_tr]),
        torch.from_numpy((t_tr[i_tr] == ib).astype(np.int64)),
        normalise(x_te[i_te]),
        torch.from_numpy((t_te[i_te] == ib).astype(np.int64)),
        (mean,),
        (std,),
    )
