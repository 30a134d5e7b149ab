"""A branch as bytes — its tables, per-example arrays, the exact fork state (weights, momentum
buffer, eigen-solver warm starts, the tracked pairs' too) and, for a branch still training, where it stands — so a finished
baseline serves every further c without retraining and an interrupted branch resumes bit-identical.

NPZ (read with allow_pickle=False) + a JSON header only: nothing executable. Every field of
`Branch` is written generically — lists of arrays or tensors as stacked arrays, everything else
as JSON — so a field added to `Branch` is kept without a change here.
"""

from __future__ import annotations

import dataclasses
import io
import json

import numpy as np
import torch

from eos_core.science.branching import Branch, ForkState, InFlight
from eos_core.science.curvature import Eigenpairs


def pack_baseline(branch: Branch) -> bytes:
    return pack_branch(branch)


def unpack_baseline(blob: bytes, device: str) -> Branch:
    return unpack_branch(blob, device)[0]


def pack_in_flight(flight: InFlight) -> bytes:
    return pack_branch(flight.branch, flight)


def pack_branch(branch: Branch, flight: InFlight | None = None) -> bytes:
    header, arrays = {"fields": {}, "fork": None, "flight": None}, {}
    for f in dataclasses.fields(branch):
        if f.name != "fork":
            header["fields"][f.name] = _pack_field(f.name, getattr(branch, f.name), arrays)
    if branch.fork is not None:
        fork = branch.fork
        header["fork"] = {"step": fork.step, "t_eff": fork.t_eff}
        _put_state(arrays, "fork", fork.theta, fork.buffer, fork.warm, header["fork"])
    if flight is not None:
        header["flight"] = {"step": flight.step, "t_eff": flight.t_eff}
        _put_state(arrays, "flight", flight.theta, flight.buffer, flight.warm, header["flight"])
        arrays["flight_generator"] = flight.generator.numpy()
    buffer = io.BytesIO()
    np.savez(buffer, header=np.frombuffer(json.dumps(header).encode(), np.uint8), **arrays)
    return buffer.getvalue()


def unpack_branch(blob: bytes, device: str) -> tuple[Branch, InFlight | None]:
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(arrays.pop("header").tobytes())
    fields = {name: _unpack_field(name, spec, arrays, device) for name, spec in header["fields"].items()}
    branch = Branch(**fields)
    if header["fork"] is not None:
        fork = header["fork"]
        branch.fork = ForkState(fork["step"], fork["t_eff"], *_get_state(arrays, "fork", fork, device))
    flight = None
    if header["flight"] is not None:
        spec = header["flight"]
        theta, warm, buffer = _get_state(arrays, "flight", spec, device)
        flight = InFlight(
            branch, spec["step"], spec["t_eff"], theta, buffer, warm, torch.from_numpy(arrays["flight_generator"])
        )
    return branch, flight


def _pack_field(name: str, value, arrays: dict) -> dict:
    if isinstance(value, list) and value and all(isinstance(v, (np.ndarray, torch.Tensor)) for v in value):
        kind = "tensors" if isinstance(value[0], torch.Tensor) else "arrays"
        for i, item in enumerate(value):  # one array per item: items may differ in shape
            arrays[f"field.{name}.{i}"] = item.detach().cpu().numpy() if kind == "tensors" else item
        return {"kind": kind, "count": len(value)}
    try:
        json.dumps(value)
    except TypeError:  # e.g. numpy scalars: kept as one array, read back as a list of them
        arrays[f"field.{name}"] = np.asarray(value)
        return {"kind": "array-list"}
    return {"kind": "json", "value": value}


def _unpack_field(name: str, spec: dict, arrays: dict, device: str):
    kind = spec["kind"]
    if kind == "json":
        return spec["value"]
    if kind == "array-list":
        return list(arrays[f"field.{name}"])
    items = [arrays[f"field.{name}.{i}"] for i in range(spec["count"])]
    return [torch.from_numpy(a).to(device) for a in items] if kind == "tensors" else items


def _put_state(arrays: dict, prefix: str, theta, buffer, warm, header: dict) -> None:
    header["dtype"] = str(theta.dtype).removeprefix("torch.")
    arrays[f"{prefix}_theta"] = theta.detach().cpu().numpy()
    if buffer is not None:
        arrays[f"{prefix}_buffer"] = buffer.detach().cpu().numpy()
    _put_pairs(arrays, header, prefix, "warm", warm)
    if warm is not None:  # the tracked pairs warm-start the next tracked solve (track_fraction > 0)
        _put_pairs(arrays, header, prefix, "tracked", warm.tracked)


def _put_pairs(arrays: dict, header: dict, prefix: str, name: str, pairs) -> None:
    header[f"{name}_hvps"] = None if pairs is None else pairs.hvps
    if pairs is not None:
        for k in ("values", "vectors", "residuals"):
            arrays[f"{prefix}_{name}_{k}"] = getattr(pairs, k).detach().cpu().numpy()


def _get_state(arrays: dict, prefix: str, header: dict, device: str):
    """(theta, warm, buffer) on `device`."""

    def tensor(name):
        return torch.from_numpy(arrays[f"{prefix}_{name}"]).to(device) if f"{prefix}_{name}" in arrays else None

    def pairs(name):  # snapshots written before tracking existed have no "tracked_hvps"
        if header.get(f"{name}_hvps") is None:
            return None
        return Eigenpairs(
            tensor(f"{name}_values"),
            tensor(f"{name}_vectors"),
            tensor(f"{name}_residuals"),
            hvps=header[f"{name}_hvps"],
        )

    warm = pairs("warm")
    if warm is not None:
        warm.tracked = pairs("tracked")
    return tensor("theta"), warm, tensor("buffer")
