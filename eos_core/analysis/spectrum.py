"""The Hessian's spectral density at one checkpoint, as stochastic Lanczos quadrature (SLQ) left it:
per probe, the Ritz values (nodes) and the squared first components of their eigenvectors
(weights, summing to 1). Torch-free, so the dashboard draws stored spectra without torch; the
computation is science/spectrum.py.

The measure is μ = (1/P) Σ_p Σ_j w_pj δ(node_pj): an estimate of the eigenvalue distribution
(1/d) Σ_i δ(λ_i). Drawn, it is smoothed by a Gaussian (`smoothed`).

Kept as JSON: in a result folder as `spectra.json` (a list, one entry per branch, step and
settings; results without the file simply have none) and in the store under Keys.spectra.
"""

from __future__ import annotations

import json
import math
import pathlib
from dataclasses import asdict, dataclass, fields

import numpy as np

FILE = "spectra.json"


class SpectrumError(ValueError):
    """A spectrum that cannot be computed or read: a step outside the stored range, an unreadable file."""


@dataclass
class Spectrum:
    config_hash: str
    branch: str
    step: int
    t_eff: float
    nodes: list[list[float]]  # per probe: the Lanczos tridiagonal's eigenvalues, ascending
    weights: list[list[float]]  # per probe: their squared first eigenvector components (sum 1)
    lambda1: float  # the logged λ1 at this step (the eigen-solver's), for marking
    threshold: float  # the branch's stability threshold (2/η, 2/(c·η), or its momentum form)
    threshold_symbol: str
    dim: int  # parameters: the Hessian is dim × dim
    probes: int
    steps: int  # Lanczos steps per probe (fewer nodes where the Krylov space closed early)
    seed: int
    hvps: int
    wall_s: float  # the quadrature's own time, without the replay to the step

    @property
    def key(self) -> tuple:
        """What makes two spectra the same computation: a new one replaces a stored one."""
        return (self.branch, self.step, self.probes, self.steps, self.seed)

    def measure(self) -> tuple[np.ndarray, np.ndarray]:
        """(nodes, weights) of μ, sorted by node; the weights sum to 1."""
        nodes = np.concatenate([np.asarray(n, dtype=float) for n in self.nodes])
        weights = np.concatenate([np.asarray(w, dtype=float) for w in self.weights]) / len(self.weights)
        order = np.argsort(nodes, kind="stable")
        return nodes[order], weights[order]

    @property
    def top_node(self) -> float:
        """The largest node: Lanczos' extreme Ritz values converge first, so this estimates λ1."""
        return float(max(max(n) for n in self.nodes))

    def default_sigma(self) -> float:
        """Papyan (2020, App. D.2): a Gaussian whose width at 1/κ of its peak (κ = 3) is the nodes'
        mean spacing over the spectrum's range, so neighbouring nodes merge into one curve."""
        nodes, _ = self.measure()
        span = max(float(nodes[-1] - nodes[0]), 1e-12 * max(1.0, abs(float(nodes[-1]))))
        return span / (max(self.steps, 2) - 1) / math.sqrt(8 * math.log(3))

    def grid(self, points: int = 801, sigma: float | None = None) -> np.ndarray:
        """λ from the smallest node to the largest, with 4σ either side so every bump is whole."""
        sigma = self.default_sigma() if sigma is None else sigma
        nodes, _ = self.measure()
        return np.linspace(nodes[0] - 4 * sigma, nodes[-1] + 4 * sigma, points)

    def smoothed(self, grid: np.ndarray, sigma: float | None = None) -> np.ndarray:
        """φ(λ) = Σ w·N(λ; node, σ²) on `grid`: a density (integrates to 1 over a wide grid)."""
        sigma = self.default_sigma() if sigma is None else sigma
        nodes, weights = self.measure()
        z = (np.asarray(grid, dtype=float)[:, None] - nodes[None, :]) / sigma
        return (weights[None, :] * np.exp(-0.5 * z**2)).sum(1) / (sigma * math.sqrt(2 * math.pi))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict) -> Spectrum:
        names = [f.name for f in fields(cls)]
        if not isinstance(record, dict) or set(names) - set(record):
            raise SpectrumError(f"not a spectrum record: missing {sorted(set(names) - set(record or {}))}")
        spectrum = cls(**{name: record[name] for name in names})
        if len(spectrum.nodes) != len(spectrum.weights) or not spectrum.nodes:
            raise SpectrumError("a spectrum record needs one list of nodes and weights per probe")
        if any(len(n) != len(w) or not n for n, w in zip(spectrum.nodes, spectrum.weights)):
            raise SpectrumError("a probe's nodes and weights differ in length")
        return spectrum


def wasserstein1(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    """W1 between two discrete probability measures given as (points, weights): ∫|F_a − F_b| dλ,
    exact for step CDFs (the integrand is constant between consecutive points)."""
    points = np.union1d(a[0], b[0])
    cdf_a = _cdf(a, points)
    cdf_b = _cdf(b, points)
    return float(np.sum(np.abs(cdf_a - cdf_b)[:-1] * np.diff(points)))


def _cdf(measure: tuple[np.ndarray, np.ndarray], points: np.ndarray) -> np.ndarray:
    order = np.argsort(measure[0], kind="stable")
    nodes, weights = np.asarray(measure[0])[order], np.asarray(measure[1])[order]
    cumulative = np.concatenate([[0.0], np.cumsum(weights)])
    return cumulative[np.searchsorted(nodes, points, side="right")] / weights.sum()


def merged(spectra: list[Spectrum], new: Spectrum) -> list[Spectrum]:
    """`spectra` with `new` in place of any with the same key, ordered by branch and step."""
    kept = [s for s in spectra if s.key != new.key] + [new]
    return sorted(kept, key=lambda s: (s.branch != "baseline", s.step, s.probes, s.steps, s.seed))


def dumps(spectra: list[Spectrum]) -> str:
    return json.dumps([s.to_dict() for s in spectra])


def loads(text: str | bytes) -> list[Spectrum]:
    try:
        records = json.loads(text)
    except ValueError as error:
        raise SpectrumError(f"spectra are unreadable: {error}") from error
    if not isinstance(records, list):
        raise SpectrumError("spectra are unreadable: not a list")
    return [Spectrum.from_dict(r) for r in records]


def read_folder(folder) -> list[Spectrum]:
    """The spectra kept in a result folder (none where it has no spectra.json)."""
    path = pathlib.Path(folder) / FILE
    return loads(path.read_bytes()) if path.is_file() else []


def write_folder(folder, spectrum: Spectrum) -> pathlib.Path:
    """Add `spectrum` to the folder's spectra.json, written whole to a temporary file then renamed
    (a reader never sees half a file)."""
    path = pathlib.Path(folder) / FILE
    text = dumps(merged(read_folder(folder), spectrum))
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(text)
    temporary.replace(path)
    return path


def check_step(trace, meta: dict, step: int, branch: str) -> None:
    """Refuse, before anything is computed, a step where `branch` logged nothing: a spectrum is
    taken where the diagnostics ran, so λ1 is there to compare its top node with."""
    if branch not in ("baseline", "exit"):
        raise SpectrumError(f"unknown branch {branch!r}: baseline or exit")
    steps = sorted(int(s) for s in trace.step[trace.branch == branch])
    if not steps:
        raise SpectrumError(f"the run has no logged {branch} steps")
    if step not in steps:
        every = meta["config"]["log_every"]
        raise SpectrumError(
            f"step {step} is not a logged {branch} step: spectra are taken where the diagnostics ran, "
            f"{steps[0]}–{steps[-1]} every {every} steps"
        )
