"""The dataset registry: one module per dataset, each exporting a `DatasetSpec` named SPEC.

A new dataset is one module here plus its row below; the form, validation, the loaders, the
prototype gallery and the CLI read everything else from its spec. Torch-free.
"""

from __future__ import annotations

from eos_core.datasets import cifar10, digits, fashion_mnist, mnist, synthetic
from eos_core.datasets.spec import DatasetSpec

REGISTRY: dict[str, DatasetSpec] = {m.SPEC.name: m.SPEC for m in (cifar10, mnist, fashion_mnist, digits, synthetic)}


def spec(name: str) -> DatasetSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; choose from {', '.join(REGISTRY)}") from None


def availability(name: str) -> tuple[bool, str]:
    """(ready, one line for the user): whether `name`'s files are on disk and look sound. Cheap
    enough for every rerun of a form: headers and sizes only; bodies are checked when loaded."""
    if name not in REGISTRY:
        return False, f"unknown dataset {name!r}"
    return REGISTRY[name].availability()
