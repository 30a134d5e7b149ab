"""A trained baseline branch as bytes — its tables, per-example arrays and the exact fork state
(weights, momentum buffer, eigen-solver warm start) —
so every further c forks from it without retraining. NPZ + JSON only: nothing executable."""
from __future__ import annotations

import io
import json

import numpy as np
import torch

from .branching import Branch, ForkState
from .curvature import Eigenpairs


def pack_baseline(branch: Branch) -> bytes:
    header = {"name": branch.name, "rows": branch.rows, "group_rows": branch.group_rows,
              "example_steps": branch.example_steps, "diverged_at": branch.diverged_at,
              "crossing": branch.crossing, "fork": None}
    arrays = {"example_loss": np.asarray(branch.example_loss, np.float32),
              "example_cos2": np.asarray(branch.example_cos2, np.float32)}
    fork = branch.fork
    if fork is not None:
        header["fork"] = {"step": fork.step, "t_eff": fork.t_eff, "has_warm": fork.warm is not None,
                          "dtype": str(fork.theta.dtype).removeprefix("torch.")}
        arrays["theta"] = fork.theta.detach().cpu().numpy()
        if fork.buffer is not None:
            arrays["buffer"] = fork.buffer.detach().cpu().numpy()
        if fork.warm is not None:
            arrays["warm_values"] = fork.warm.values.cpu().numpy()
            arrays["warm_vectors"] = fork.warm.vectors.cpu().numpy()
            arrays["warm_residuals"] = fork.warm.residuals.cpu().numpy()
            header["fork"]["warm_hvps"] = fork.warm.hvps
    buffer = io.BytesIO()
    np.savez(buffer, header=np.frombuffer(json.dumps(header).encode(), np.uint8), **arrays)
    return buffer.getvalue()


def unpack_baseline(blob: bytes, device: str) -> Branch:
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(arrays.pop("header").tobytes())
    branch = Branch(header["name"], header["rows"], header["group_rows"], header["example_steps"],
                    list(arrays["example_loss"]), list(arrays["example_cos2"]),
                    header["diverged_at"], header["crossing"])
    fork = header["fork"]
    if fork is not None:
        warm = None
        if fork["has_warm"]:
            warm = Eigenpairs(*(torch.from_numpy(arrays[f"warm_{k}"]).to(device)
                                for k in ("values", "vectors", "residuals")), hvps=fork["warm_hvps"])
        buffer = torch.from_numpy(arrays["buffer"]).to(device) if "buffer" in arrays else None
        branch.fork = ForkState(fork["step"], fork["t_eff"], torch.from_numpy(arrays["theta"]).to(device), warm, buffer)
    return branch
