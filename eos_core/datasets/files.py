"""Dataset files on disk: where they live, and the errors that say what is wrong with them.

Torch-free. Each dataset's own files (formats, folders, checks) are in its module of `datasets`.
Nothing here touches the network.
"""

from __future__ import annotations

import os
import pathlib


class DatasetError(Exception):
    """A dataset cannot be used; the message says which file or folder and what to do."""


class DatasetMissing(DatasetError, FileNotFoundError):
    """A dataset's files are not on disk; the message names the folders searched and how to fill them."""


class DatasetCorrupt(DatasetError, ValueError):
    """A dataset file is on disk but is not what its format promises (truncated, wrong content)."""


def data_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("EOS_DATA_DIR") or "cache/data")


def corrupt(path, problem: str, expected_bytes: int | None = None, dataset: str = "mnist") -> DatasetCorrupt:
    expected = f" (expected {expected_bytes:,} bytes)" if expected_bytes is not None else ""
    return DatasetCorrupt(
        f"corrupt dataset file {path}{expected}: {problem}. Delete it and fetch a "
        f"fresh copy with `python -m eos_core data --download {dataset}`."
    )
