"""Is a dataset on disk? A file check without reading or importing torch, so the dashboard can
refuse a run that would fail minutes later in the worker. Where the data loader looks is set by
$EOS_DATA_DIR (default cache/data)."""
from __future__ import annotations

import os
import pathlib

CIFAR10_BIN = "cifar-10-batches-bin"
CIFAR10_PY = "cifar-10-batches-py"
CIFAR10_BIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6)) + ("test_batch.bin",)
CIFAR10_PY_FILES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)
CIFAR10_BATCH_BYTES = 10_000 * (1 + 3 * 32 * 32)


def data_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("EOS_DATA_DIR") or "cache/data")


def availability(dataset: str) -> str | None:
    """None when `dataset` can be loaded from disk (or needs no files); otherwise what is missing,
    where (an absolute folder) and the command that fetches it."""
    if dataset != "cifar10":
        return None
    root = data_dir().resolve()
    binary, python = root / CIFAR10_BIN, root / CIFAR10_PY
    if python.is_dir() and all((python / name).is_file() for name in CIFAR10_PY_FILES):
        return None
    missing = [name for name in CIFAR10_BIN_FILES if not (binary / name).is_file()]
    short = [name for name in CIFAR10_BIN_FILES if name not in missing
             and (binary / name).stat().st_size != CIFAR10_BATCH_BYTES]
    if not missing and not short:
        return None
    what = (f"missing {', '.join(missing)}" if missing else "") + ("; " if missing and short else "") + (
        f"wrong size: {', '.join(short)}" if short else "")
    return (f"CIFAR-10 is not on disk: `{binary}` is {what if binary.is_dir() else 'absent'}. "
            f"Fetch it with `python -m eos_core data --download cifar10` (about 170 MB), or set "
            f"EOS_DATA_DIR to a folder that has {CIFAR10_BIN}.")
