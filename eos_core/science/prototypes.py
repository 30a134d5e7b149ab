"""Prototype taxonomy of paper §2.3 (and the random-direction control of Appendix D).

Four tracked groups of m examples per class are carved out of a binary training set:
inliers, boundary points, input-outliers and output-outliers. Prototypes replace their
source examples in place, so n is unchanged and every untracked example stays bit for bit
what the loader produced. Geometry is computed on inputs flattened to (n, D).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from eos_core.groups import GROUPS

# The principal subspace is estimated from at most this many evenly spaced training rows: a
# 2048 × D SVD costs seconds on a CPU even at D = 3072, and the answer is a summary, not an input.
SUBSPACE_ROWS = 2048

# Rows per k-NN block: the block's distance matrix is KNN_CHUNK × n (20 MB at n = 10,000 in
# float32), so the full n × n matrix (400 MB) is never held at once.
KNN_CHUNK = 512


@dataclass(frozen=True)
class Taxonomy:
    x: torch.Tensor  # (n, *shape) inputs, prototypes replacing their sources in place
    y: torch.Tensor  # (n,) int64 labels after the flips
    original_y: torch.Tensor  # (n,) int64 labels before the flips
    group: torch.Tensor  # (n,) int64 index into groups.GROUPS, -1 for untracked examples
    centroid_distance: torch.Tensor  # (n,) ‖x_i − μ_{original_y_i}‖ of the final inputs
    centroids: torch.Tensor  # (2, D) class centroids of the original flattened data
    v_diff: torch.Tensor  # (D,) μ1 − μ0, unnormalised


def build_taxonomy(
    x: torch.Tensor, y: torch.Tensor, m: int, k: int, alpha: float, displacement: str, generator: torch.Generator
) -> Taxonomy:
    """Mark 2m examples (m per class) per group and build the synthetic outliers in place."""
    _check_inputs(x, y, m, k)
    n = x.shape[0]
    y = y.to(device=x.device, dtype=torch.long).clone()
    flat = x.reshape(n, -1)
    centroids = torch.stack([flat[y == c].mean(dim=0) for c in (0, 1)])
    v_diff = centroids[1] - centroids[0]

    pool = _inlier_pools(flat, y, centroids, 3 * m)  # (2, 3m)
    boundary = _boundary_pools(flat, y, k, m, exclude=pool.flatten())  # (2, m)
    inlier, output_outlier, input_outlier = _split_pools(pool, m, generator)
    members = {"inlier": inlier, "boundary": boundary, "input_outlier": input_outlier, "output_outlier": output_outlier}

    group = torch.full((n,), -1, dtype=torch.long, device=x.device)
    for name, idx in members.items():
        group[idx.flatten()] = GROUPS.index(name)

    new_y = y.clone()
    flipped = output_outlier.flatten()
    new_y[flipped] = 1 - y[flipped]

    new_flat = flat.clone()
    moved = input_outlier.flatten()
    new_flat[moved] = displace(flat[moved], y[moved], v_diff, alpha, displacement, generator)

    # Distance to the centroid of the *original* class: input-outliers end up far from it,
    # output-outliers stay near it even though their label now names the other class.
    distance = _centroid_distance(new_flat, y, centroids)
    return Taxonomy(
        x=new_flat.reshape(x.shape),
        y=new_y,
        original_y=y,
        group=group,
        centroid_distance=distance,
        centroids=centroids,
        v_diff=v_diff,
    )


def displace(
    x: torch.Tensor,
    y: torch.Tensor,
    v_diff: torch.Tensor,
    alpha: float,
    displacement: str,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Input-outliers at any α; also builds the test-split OOD probes of §5.2.

    "coherent": x ± α·v_diff, + for class 1 and − for class 0 (away from the other class).
    "random": per example, a Gaussian direction orthogonal to v_diff at the same distance
    α‖v_diff‖ (Appendix D control). Not clipped: the displacement magnitude is the point.
    """
    n = x.shape[0]
    flat = x.reshape(n, -1)
    v = v_diff.reshape(-1).to(flat)
    if displacement == "coherent":
        sign = (2 * y.to(flat.device, torch.long) - 1).to(flat.dtype).unsqueeze(1)
        step = alpha * sign * v
    elif displacement == "random":
        if generator is None:
            raise ValueError("random displacement needs a generator, so it is reproducible")
        step = _orthogonal_directions(n, v, generator) * (alpha * torch.linalg.vector_norm(v))
    else:
        raise ValueError(f"displacement={displacement!r}: must be 'coherent' or 'random'")
    return (flat + step).reshape(x.shape)


def principal_subspace(flat: torch.Tensor, variance: float = 0.99, max_rows: int = SUBSPACE_ROWS) -> torch.Tensor:
    """(D, r) orthonormal basis of the fewest principal directions of the centred rows of `flat`
    that hold `variance` of their total variance (float64; evenly spaced rows beyond max_rows)."""
    rows = _evenly_spaced(flat, max_rows).to(torch.float64)
    rows = rows - rows.mean(dim=0)
    _, singular, vh = torch.linalg.svd(rows, full_matrices=False)
    share = torch.cumsum(singular**2, 0) / (singular**2).sum()
    r = int(torch.searchsorted(share, torch.tensor(variance, dtype=torch.float64, device=share.device))) + 1
    return vh[: min(r, len(singular))].T


def _evenly_spaced(flat: torch.Tensor, max_rows: int) -> torch.Tensor:
    return flat[:: -(-flat.shape[0] // max_rows)]


def subspace_energy(basis: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """(n,) fraction ‖Bᵀu‖²/‖u‖² of each direction's energy inside the subspace spanned by B."""
    u = directions.reshape(directions.shape[0], -1).to(torch.float64)
    return (u @ basis).pow(2).sum(1) / u.pow(2).sum(1)


def displacement_geometry(x: torch.Tensor, tax: Taxonomy, variance: float = 0.99) -> dict:
    """Where the input-outliers' displacements lie relative to the training data's span (App. D).

    A random direction only decouples from v1 if it leaves the directions the network's
    gradients live in; on data of low rank (upsampled digits, MNIST's constant borders) most of a
    random direction's energy falls outside the data's principal subspace, on full-rank data it
    does not. Reported: the subspace's rank r of D; the expected energy fraction of a uniformly
    random unit direction orthogonal to v_diff, E‖P u‖² = (r − ‖P v̂‖²)/(D − 1) (what the random
    control draws, exactly); v_diff's own fraction; and the mean fraction of this run's actual
    displacements."""
    flat = x.reshape(x.shape[0], -1)
    basis = principal_subspace(flat, variance)
    rank, dim = basis.shape[1], basis.shape[0]
    along_v = float(subspace_energy(basis, tax.v_diff[None])[0]) if bool(tax.v_diff.any()) else 0.0
    moved = tax.group == GROUPS.index("input_outlier")
    displacement = tax.x.reshape(flat.shape)[moved] - flat[moved]
    actual = subspace_energy(basis, displacement) if bool(displacement.any()) else torch.zeros(1)
    return {
        "variance": variance,
        "rank": rank,
        "dim": dim,
        "rows_used": len(_evenly_spaced(flat, SUBSPACE_ROWS)),
        "random_direction_energy": (rank - along_v) / (dim - 1) if dim > 1 else 1.0,
        "v_diff_energy": along_v,
        "displacement_energy": float(actual.mean()),
    }


def knn_label_ambiguity(x: torch.Tensor, y: torch.Tensor, k: int, chunk_size: int = KNN_CHUNK) -> torch.Tensor:
    """(n,) |fraction of label 1 among the k nearest neighbours (self excluded) − 0.5|.

    0 means a perfectly mixed neighbourhood. Euclidean on flattened inputs; distance ties
    at the k-th neighbour go to the lower index, so the answer never depends on chunking
    or on the backend's selection algorithm.
    """
    counts = knn_label_one_counts(x, y, k, chunk_size)
    # Rank on the integer |2·count − k| so equal compositions give bit-equal scores.
    return (2 * counts - k).abs().to(_float_dtype(x)) / (2 * k)


def knn_label_one_counts(x: torch.Tensor, y: torch.Tensor, k: int, chunk_size: int = KNN_CHUNK) -> torch.Tensor:
    """(n,) int64 number of label-1 examples among each example's k nearest neighbours."""
    n = x.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k={k}: k-NN needs 1 ≤ k < n = {n}")
    flat = x.reshape(n, -1).to(_float_dtype(x))
    is_one = y.to(flat.device) == 1
    sq_norm = (flat * flat).sum(dim=1)
    blocks = [
        _block_label_one_counts(flat, sq_norm, start, min(start + chunk_size, n), is_one, k)
        for start in range(0, n, chunk_size)
    ]
    return torch.cat(blocks)


def boundary_points(x: torch.Tensor, y: torch.Tensor, k: int, count: int, chunk_size: int = KNN_CHUNK) -> torch.Tensor:
    """Indices of the `count` most ambiguous points of a split (§5.2's test-set boundary
    points), ordered most ambiguous first; ties go to the lower index."""
    ambiguity = knn_label_ambiguity(x, y, k, chunk_size)
    return _smallest(ambiguity, torch.ones_like(ambiguity, dtype=torch.bool), count)


def _block_label_one_counts(flat, sq_norm, start, stop, is_one, k):
    # Squared distances ‖a‖² + ‖b‖² − 2a·b: one matmul per block, which is what makes
    # n = 10,000 × D = 3072 affordable (cdist's mm path would also copy all of x per block).
    # Squaring is monotone, so neighbour ranks are those of the Euclidean distance.
    dist = torch.addmm(sq_norm, flat[start:stop], flat.T, alpha=-2)
    dist += sq_norm[start:stop, None]
    rows = torch.arange(stop - start, device=flat.device)
    dist[rows, rows + start] = torch.inf  # an example is not its own neighbour
    kth = dist.topk(k, dim=1, largest=False).values[:, -1:]
    closer = dist < kth
    tied = dist == kth
    # Fill the remaining places from the tied neighbours in index order.
    tied &= tied.cumsum(dim=1) <= k - closer.sum(dim=1, keepdim=True)
    return ((closer | tied) & is_one).sum(dim=1)


def _inlier_pools(flat, y, centroids, size):
    """(2, size) per class, the examples nearest their own class centroid, nearest first."""
    distance = _centroid_distance(flat, y, centroids)
    return torch.stack([_smallest(distance, y == c, size) for c in (0, 1)])


def _boundary_pools(flat, y, k, size, exclude):
    """(2, size) per class, the most ambiguous examples outside `exclude`, so that the
    boundary group never overlaps the groups drawn from the inlier pool."""
    ambiguity = knn_label_ambiguity(flat, y, k)
    free = torch.ones_like(y, dtype=torch.bool)
    free[exclude] = False
    return torch.stack([_smallest(ambiguity, free & (y == c), size) for c in (0, 1)])


def _split_pools(pool, m, generator):
    """Three disjoint random draws of m per class: inliers, output- and input-outliers."""
    perms = torch.stack([torch.randperm(pool.shape[1], generator=generator, device=generator.device) for _ in (0, 1)])
    drawn = pool.gather(1, perms.to(pool.device))
    return drawn.split(m, dim=1)


def _orthogonal_directions(n, v, generator):
    """(n, D) unit Gaussian directions with their component along v removed."""
    # Drawn and projected in float64 so orthogonality and unit norm hold to float64
    # precision before the final cast; drawn on the generator's device for reproducibility.
    g = torch.randn(n, v.numel(), generator=generator, device=generator.device, dtype=torch.float64).to(v.device)
    v64 = v.to(torch.float64)
    norm = torch.linalg.vector_norm(v64)
    if norm > 0:  # v_diff = 0 has no direction to avoid (and the scale α‖v_diff‖ is 0 anyway)
        u = v64 / norm
        g = g - (g @ u).unsqueeze(1) * u
    return (g / torch.linalg.vector_norm(g, dim=1, keepdim=True)).to(v.dtype)


def _centroid_distance(flat, y, centroids):
    """(n,) ‖x_i − μ_{y_i}‖, computed as a difference (not via ‖x‖² − 2x·μ + ‖μ‖²) to
    avoid cancellation for points close to their centroid."""
    return torch.linalg.vector_norm(flat - centroids[y], dim=1)


def _smallest(score, mask, count):
    """Indices of the `count` smallest scores where mask holds; ties go to the lower index."""
    available = int(mask.sum())
    if available < count:
        raise ValueError(f"asked for {count} points but only {available} are eligible")
    order = torch.argsort(torch.where(mask, score, torch.inf), stable=True)
    return order[:count]


def _float_dtype(x):
    return x.dtype if x.is_floating_point() else torch.get_default_dtype()


def _check_inputs(x, y, m, k):
    n = x.shape[0]
    if not x.is_floating_point():
        raise TypeError(f"x must be floating point, got {x.dtype}")
    if y.shape != (n,):
        raise ValueError(f"y has shape {tuple(y.shape)}, expected ({n},)")
    if not bool(((y == 0) | (y == 1)).all()):
        raise ValueError("labels must be 0 or 1")
    if m < 1:
        raise ValueError(f"m={m}: must be ≥ 1")
    smallest = int(torch.bincount(y.long(), minlength=2).min())
    if 4 * m > smallest:
        raise ValueError(
            f"m={m}: 3m inlier candidates + m boundary points per class need 4m ≤ {smallest} (the smaller class)"
        )
    if not 1 <= k < n:
        raise ValueError(f"k={k}: k-NN needs 1 ≤ k < n = {n}")
