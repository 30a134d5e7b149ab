"""Prototype taxonomy (paper §2.3, Appendix D) checked against explicit numpy / sklearn."""

import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

from eos_core.groups import GROUPS
from eos_core.science.prototypes import (
    _orthogonal_directions,
    boundary_points,
    build_taxonomy,
    displace,
    displacement_geometry,
    knn_label_ambiguity,
    knn_label_one_counts,
    principal_subspace,
)

N, SHAPE, M, K, ALPHA = 400, (4, 5), 10, 15, 3.0
INLIER, BOUNDARY, INPUT_OUT, OUTPUT_OUT = (
    GROUPS.index(g) for g in ("inlier", "boundary", "input_outlier", "output_outlier")
)


def blobs(n=N, dtype=torch.float64, seed=0):
    """Two overlapping Gaussian blobs with shuffled labels, inputs shaped (n, 4, 5)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randperm(n, generator=g) % 2
    x = torch.randn(n, 20, generator=g, dtype=dtype)
    x[:, 0] += 1.5 * y  # centroids 1.5 apart: separable on average, with a real boundary
    return x.reshape(n, *SHAPE), y


def build(x, y, displacement="coherent", seed=1, alpha=ALPHA):
    return build_taxonomy(x, y, M, K, alpha, displacement, torch.Generator().manual_seed(seed))


def members(tax, group):
    return torch.nonzero(tax.group == group).flatten()


def numpy_ambiguity(x, y, k):
    """Brute-force sklearn k-NN (kneighbors() without X excludes each point itself)."""
    flat = x.reshape(len(x), -1).numpy()
    _, idx = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(flat).kneighbors()
    return np.abs(y.numpy()[idx].mean(axis=1) - 0.5)


def numpy_inlier_pool(x, y, c, size):
    flat, y = x.reshape(len(x), -1).numpy(), y.numpy()
    mu = flat[y == c].mean(axis=0)
    dist = np.where(y == c, np.linalg.norm(flat - mu, axis=1), np.inf)
    return np.argsort(dist, kind="stable")[:size]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_groups_sizes_disjoint_and_untracked_untouched(dtype):
    x, y = blobs(dtype=dtype)
    tax = build(x, y)
    assert tax.x.shape == x.shape and tax.x.dtype == dtype
    assert tax.y.shape == tax.group.shape == tax.centroid_distance.shape == (N,)
    assert tax.y.dtype == tax.group.dtype == torch.int64
    assert tax.centroids.shape == (2, 20) and tax.v_diff.shape == (20,)
    # One group id per example makes groups disjoint; 2m each then means nothing was overwritten.
    for g in range(len(GROUPS)):
        idx = members(tax, g)
        assert len(idx) == 2 * M
        assert torch.bincount(tax.original_y[idx], minlength=2).tolist() == [M, M]
    assert int((tax.group == -1).sum()) == N - 4 * 2 * M
    untracked = tax.group == -1
    assert torch.equal(tax.x[untracked], x[untracked])
    assert torch.equal(tax.y[untracked], y[untracked])
    inliers = members(tax, INLIER)
    assert torch.equal(tax.x[inliers], x[inliers]) and torch.equal(tax.y[inliers], y[inliers])


def test_output_outliers_flip_labels_only():
    x, y = blobs()
    tax = build(x, y)
    out = members(tax, OUTPUT_OUT)
    assert torch.equal(tax.original_y, y)
    assert torch.equal(tax.y[out], 1 - y[out])
    assert torch.equal(tax.x[out], x[out])
    # Every other label is untouched.
    kept = tax.group != OUTPUT_OUT
    assert torch.equal(tax.y[kept], y[kept])
    assert int((tax.y != y).sum()) == 2 * M


def test_coherent_displacement_is_plus_minus_alpha_v_diff():
    x, y = blobs()
    tax = build(x, y)
    idx = members(tax, INPUT_OUT)
    step = (tax.x[idx] - x[idx]).reshape(len(idx), -1)
    sign = 2.0 * y[idx].double().unsqueeze(1) - 1.0
    # float64 add-then-subtract of values of size ≲ 10 is exact to a few ulp (~1e-15);
    # 1e-6 is far below any wrong sign or scale, whose error is O(α‖v_diff‖) ≈ 4.5.
    assert (step - ALPHA * sign * tax.v_diff).abs().max().item() <= 1e-6
    # Pushed away from the other class: class 1 moves along +v_diff, class 0 along −v_diff.
    along = (step @ tax.v_diff) * sign.squeeze(1)
    assert along.min().item() > 0
    # v_diff is μ1 − μ0 of the original data, unnormalised.
    flat, yn = x.reshape(N, -1).numpy(), y.numpy()
    expected = flat[yn == 1].mean(0) - flat[yn == 0].mean(0)
    np.testing.assert_allclose(tax.v_diff.numpy(), expected, rtol=0, atol=1e-12)


def test_random_displacement_is_orthogonal_with_the_same_distance():
    x, y = blobs()
    coherent, rand = build(x, y, "coherent"), build(x, y, "random")
    # Appendix D: same seed points, labels and groups across the two conditions.
    assert torch.equal(coherent.group, rand.group) and torch.equal(coherent.y, rand.y)
    idx = members(rand, INPUT_OUT)
    step = (rand.x[idx] - x[idx]).reshape(len(idx), -1)
    v = rand.v_diff
    cos = (step @ v) / (step.norm(dim=1) * v.norm())
    assert cos.abs().max().item() <= 1e-6
    np.testing.assert_allclose(step.norm(dim=1).numpy(), ALPHA * v.norm().item(), rtol=1e-6)
    # Each input-outlier has its own direction: unit directions are far from parallel.
    unit = step / step.norm(dim=1, keepdim=True)
    off_diagonal = (unit @ unit.T - torch.eye(len(idx), dtype=unit.dtype)).abs()
    assert off_diagonal.max().item() < 0.95


def test_alpha_zero_leaves_input_outliers_in_place():
    x, y = blobs()
    tax = build(x, y, alpha=0.0)
    idx = members(tax, INPUT_OUT)
    assert len(idx) == 2 * M
    assert torch.equal(tax.x, x)


def test_inlier_pool_is_the_3m_nearest_to_their_centroid():
    x, y = blobs()
    tax = build(x, y)
    drawn = (tax.group == INLIER) | (tax.group == INPUT_OUT) | (tax.group == OUTPUT_OUT)
    for c in (0, 1):
        got = torch.nonzero(drawn & (y == c)).flatten().numpy()
        assert set(got) == set(numpy_inlier_pool(x, y, c, 3 * M))
        mu = x.reshape(N, -1).numpy()[y.numpy() == c].mean(0)
        np.testing.assert_allclose(tax.centroids[c].numpy(), mu, rtol=0, atol=1e-12)


def test_boundary_points_match_sklearn_ambiguity_ranking():
    x, y = blobs()
    expected_ambiguity = numpy_ambiguity(x, y, K)
    ambiguity = knn_label_ambiguity(x, y, K)
    np.testing.assert_allclose(ambiguity.numpy(), expected_ambiguity, rtol=0, atol=1e-12)
    tax = build(x, y)
    for c in (0, 1):
        pool = numpy_inlier_pool(x, y, c, 3 * M)
        eligible = y.numpy() == c
        eligible[pool] = False  # boundary points are never drawn from the inlier pool
        score = np.where(eligible, expected_ambiguity, np.inf)
        expected = np.argsort(score, kind="stable")[:M]
        got = torch.nonzero((tax.group == BOUNDARY) & (y == c)).flatten().numpy()
        assert set(got) == set(expected)
    # Boundary points really are more ambiguous than the inlier pool, on average.
    bnd = members(tax, BOUNDARY)
    assert ambiguity[bnd].mean() < ambiguity[members(tax, INLIER)].mean()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_chunked_knn_equals_unchunked(dtype):
    x, y = blobs(dtype=dtype)
    whole = knn_label_one_counts(x, y, K, chunk_size=N)
    for chunk in (1, 7, 64, 399):
        assert torch.equal(knn_label_one_counts(x, y, K, chunk_size=chunk), whole)


def test_knn_distance_ties_go_to_the_lower_index():
    # Points on a small integer grid: squared distances are exact integers, so ties are real.
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, 3, (60, 3), generator=g).double()
    y = torch.randint(0, 2, (60,), generator=g)
    k = 7
    flat = x.numpy()
    dist = ((flat[:, None, :] - flat[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(dist, np.inf)
    index = np.broadcast_to(np.arange(60), dist.shape)
    order = np.lexsort((index, dist), axis=1)[:, :k]  # by distance, then by index
    expected = y.numpy()[order].sum(axis=1)
    for chunk in (1, 7, 60):
        assert knn_label_one_counts(x, y, k, chunk_size=chunk).numpy().tolist() == expected.tolist()


def test_same_seed_same_taxonomy_different_seed_different_draw():
    x, y = blobs()
    a, b, c = build(x, y, "random", seed=5), build(x, y, "random", seed=5), build(x, y, "random", seed=6)
    for field in ("x", "y", "original_y", "group", "centroid_distance", "centroids", "v_diff"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field
    assert not torch.equal(a.group, c.group)
    assert not torch.equal(a.x, c.x)
    # The inlier pool and the boundary group are seed-free geometry.
    assert torch.equal(members(a, BOUNDARY), members(c, BOUNDARY))
    assert torch.equal(a.group == -1, c.group == -1)


def test_centroid_distance_matches_numpy():
    x, y = blobs()
    tax = build(x, y)
    flat, final, yn = x.reshape(N, -1).numpy(), tax.x.reshape(N, -1).numpy(), y.numpy()
    mu = np.stack([flat[yn == c].mean(0) for c in (0, 1)])
    expected = np.linalg.norm(final - mu[yn], axis=1)  # original class, final inputs
    np.testing.assert_allclose(tax.centroid_distance.numpy(), expected, rtol=1e-12)
    # α = 3 puts input-outliers farthest from their centroid, the inlier pool nearest.
    mean = {g: tax.centroid_distance[members(tax, g)].mean().item() for g in range(4)}
    assert mean[INPUT_OUT] > mean[BOUNDARY] > mean[INLIER]
    assert mean[INPUT_OUT] > 2 * ALPHA * tax.v_diff.norm().item() / 3


def test_test_split_boundary_points_and_displacement():
    train_x, train_y = blobs()
    x, y = blobs(n=200, seed=9)  # a "test split": other points, the training v_diff
    v_diff = build(train_x, train_y).v_diff
    expected = np.argsort(numpy_ambiguity(x, y, K), kind="stable")[:20]
    assert boundary_points(x, y, K, 20).numpy().tolist() == expected.tolist()
    assert boundary_points(x, y, K, 20, chunk_size=13).numpy().tolist() == expected.tolist()
    sign = 2.0 * y.double().unsqueeze(1) - 1.0
    for alpha in (0.0, 1.0, 10.0):
        step = (displace(x, y, v_diff, alpha, "coherent", None) - x).reshape(200, -1)
        assert (step - alpha * sign * v_diff).abs().max().item() <= 1e-6
        probe = displace(x, y, v_diff, alpha, "random", torch.Generator().manual_seed(0))
        assert probe.shape == x.shape
        step = (probe - x).reshape(200, -1)
        np.testing.assert_allclose(step.norm(dim=1).numpy(), alpha * v_diff.norm().item(), rtol=1e-6, atol=1e-12)
        assert (step @ v_diff).abs().max().item() <= 1e-6 * max(alpha, 1.0) * v_diff.norm().item() ** 2


def test_invalid_inputs_are_refused():
    x, y = blobs()
    with pytest.raises(ValueError, match="4m"):
        build_taxonomy(x, y, 60, K, ALPHA, "coherent", torch.Generator())
    with pytest.raises(ValueError, match="labels"):
        build_taxonomy(x, y + 1, M, K, ALPHA, "coherent", torch.Generator())
    with pytest.raises(ValueError, match="displacement"):
        build_taxonomy(x, y, M, K, ALPHA, "sideways", torch.Generator())
    with pytest.raises(ValueError, match="k="):
        knn_label_ambiguity(x, y, N)
    with pytest.raises(ValueError, match="generator"):
        displace(x, y, torch.ones(20, dtype=x.dtype), 1.0, "random", None)


def low_rank_blobs(n=300, dim=40, rank=6, seed=0):
    """Two classes in a rank-`rank` affine subspace of R^dim plus faint full-rank noise, so the
    99 %-variance subspace has a known size and a random direction mostly leaves it."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randperm(n, generator=g) % 2
    scales = torch.linspace(3.0, 1.0, rank, dtype=torch.float64)
    basis = torch.linalg.qr(torch.randn(dim, rank, generator=g, dtype=torch.float64))[0]
    x = (torch.randn(n, rank, generator=g, dtype=torch.float64) * scales + 2.0 * y[:, None]) @ basis.T
    x += 1e-3 * torch.randn(n, dim, generator=g, dtype=torch.float64)
    return x.reshape(n, 4, 10), y


def numpy_principal_subspace(flat, variance):
    centred = flat - flat.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    r = int(np.argmax(np.cumsum(s**2) / np.sum(s**2) >= variance)) + 1
    return vt[:r].T


@pytest.mark.parametrize("displacement", ["coherent", "random"])
def test_displacement_geometry_against_numpy(displacement):
    x, y = low_rank_blobs()
    tax = build(x, y, displacement)
    geometry = displacement_geometry(x, tax)
    flat = x.reshape(len(x), -1).numpy()
    basis = numpy_principal_subspace(flat, 0.99)
    assert geometry["rank"] == basis.shape[1] == 6 and geometry["dim"] == 40
    projector = basis @ basis.T  # independent of the basis' signs and order
    mine = principal_subspace(torch.from_numpy(flat)).numpy()
    np.testing.assert_allclose(mine @ mine.T, projector, atol=1e-10)
    v = tax.v_diff.numpy() / np.linalg.norm(tax.v_diff.numpy())
    assert geometry["v_diff_energy"] == pytest.approx(v @ projector @ v, abs=1e-12)
    # a uniformly random unit direction orthogonal to v: E‖Pu‖² = tr(P(I − vvᵀ))/(D − 1)
    expected = np.trace(projector @ (np.eye(40) - np.outer(v, v))) / 39
    assert geometry["random_direction_energy"] == pytest.approx(expected, abs=1e-12)
    idx = members(tax, INPUT_OUT).numpy()
    steps = tax.x.reshape(len(x), -1).numpy()[idx] - flat[idx]
    actual = np.mean(np.einsum("nd,de,ne->n", steps, projector, steps) / np.sum(steps**2, axis=1))
    assert geometry["displacement_energy"] == pytest.approx(actual, abs=1e-10)
    if displacement == "coherent":
        assert geometry["displacement_energy"] == pytest.approx(geometry["v_diff_energy"], abs=1e-10)


def test_random_control_directions_carry_the_expected_subspace_energy():
    """The control's own direction sampler, 20,000 draws: the mean energy inside a rank-6
    subspace of R^40 is (6 − ‖Pv̂‖²)/39 to within 4 standard errors."""
    x, y = low_rank_blobs()
    tax = build(x, y, "random")
    basis = principal_subspace(x.reshape(len(x), -1))
    u = _orthogonal_directions(20_000, tax.v_diff, torch.Generator().manual_seed(5))
    energy = (u @ basis).pow(2).sum(1)
    expected = displacement_geometry(x, tax)["random_direction_energy"]
    assert abs(energy.mean().item() - expected) < 4 * energy.std().item() / 20_000**0.5
    assert expected < 0.2  # most of a random direction leaves this data's span
