"""Tests for eos_core.data: a hand-written CIFAR-10 binary archive, sklearn digits, synthetic data."""
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from eos_core import config
from eos_core.data import DatasetMissing, data_dir, load_dataset

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)
AUTOMOBILE, CAT, TRUCK = 1, 3, 9

# Which (label, record-id) goes into which file; record-ids name images kept for the comparisons.
# automobile has 3 training images (a0 a1 a2), truck 4 (t0..t3), cat is a distractor.
LAYOUT = {
    "data_batch_1.bin": [(TRUCK, "t0"), (CAT, "c0"), (AUTOMOBILE, "a0"), (TRUCK, "t1")],
    "data_batch_2.bin": [(AUTOMOBILE, "a1"), (CAT, "c1")],
    "data_batch_3.bin": [(TRUCK, "t2")],
    "data_batch_4.bin": [(CAT, "c2")],
    "data_batch_5.bin": [(AUTOMOBILE, "a2"), (TRUCK, "t3")],
    "test_batch.bin": [(CAT, "xc"), (TRUCK, "xt0"), (AUTOMOBILE, "xa"), (TRUCK, "xt1")],
}


@pytest.fixture
def cifar_root(tmp_path, monkeypatch):
    """A miniature CIFAR-10 binary distribution in the true on-disk format; returns the images."""
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    rng = np.random.default_rng(0)
    images = {}
    for name, records in LAYOUT.items():
        blob = b""
        for label, rid in records:
            img = rng.integers(0, 256, size=(3, 32, 32), dtype=np.uint8)   # channel-major R, G, B
            images[rid] = img
            blob += bytes([label]) + img.tobytes()
        (folder / name).write_bytes(blob)
    (folder / "batches.meta.txt").write_text("\n".join(config.CIFAR10_CLASSES) + "\n")
    # A marker pixel in a1: R, G, B planes at row 5, column 7 — bytes 1 + c·1024 + 5·32 + 7.
    blob = bytearray((folder / "data_batch_2.bin").read_bytes())
    for c, value in enumerate((200, 10, 77)):
        blob[1 + c * 1024 + 5 * 32 + 7] = value
    (folder / "data_batch_2.bin").write_bytes(bytes(blob))
    images["a1"][:, 5, 7] = (200, 10, 77)
    monkeypatch.setenv("EOS_DATA_DIR", str(tmp_path))
    return images


def expected(img: np.ndarray) -> torch.Tensor:
    """(raw/255 − mean)/std in float64, then float32: what the loader must give bit for bit."""
    x = (img / 255 - np.array(MEAN)[:, None, None]) / np.array(STD)[:, None, None]
    return torch.from_numpy(x).float()


def test_cifar10_binary_archive(cifar_root):
    ds = load_dataset("cifar10", ("automobile", "truck"), 3, 32)
    assert ds.x_train.shape == (6, 3, 32, 32) and ds.x_train.dtype == torch.float32
    assert ds.y_train.tolist() == [0, 0, 0, 1, 1, 1] and ds.y_train.dtype == torch.int64
    assert ds.class_names == ("automobile", "truck")
    assert ds.pixel_mean == MEAN and ds.pixel_std == STD
    # First 3 of each class in batch order: automobile a0 a1 a2, then truck t0 t1 t2 (not t3).
    for row, rid in enumerate(["a0", "a1", "a2", "t0", "t1", "t2"]):
        assert torch.equal(ds.x_train[row], expected(cifar_root[rid])), rid
    # The marker pixel: R plane first, then G, then B.
    for c, value in enumerate((200, 10, 77)):
        assert ds.x_train[1, c, 5, 7].item() == pytest.approx((value / 255 - MEAN[c]) / STD[c], abs=1e-6)
    # Test split: every test image of the two classes, class 0 first, in file order within a class.
    assert ds.y_test.tolist() == [0, 1, 1]
    for row, rid in enumerate(["xa", "xt0", "xt1"]):
        assert torch.equal(ds.x_test[row], expected(cifar_root[rid])), rid
    # Reversing the pair swaps the labels: truck is now class 0.
    rev = load_dataset("cifar10", ("truck", "automobile"), 3, 32)
    assert rev.y_test.tolist() == [0, 0, 1]
    assert torch.equal(rev.x_train[0], expected(cifar_root["t0"]))


def test_cifar10_missing_names_folder_and_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("EOS_DATA_DIR", str(tmp_path / "empty"))
    assert data_dir() == tmp_path / "empty"
    with pytest.raises(DatasetMissing) as err:
        load_dataset("cifar10", ("automobile", "truck"), 3, 32)
    message = str(err.value)
    assert str(tmp_path / "empty" / "cifar-10-batches-bin") in message
    assert "python -m eos_core data --download cifar10" in message and "EOS_DATA_DIR" in message
    assert isinstance(err.value, FileNotFoundError)
    monkeypatch.delenv("EOS_DATA_DIR")
    assert str(data_dir()) == "cache/data"


def test_cifar10_download_flag_calls_downloader(tmp_path, monkeypatch):
    import eos_core.data as data
    monkeypatch.setenv("EOS_DATA_DIR", str(tmp_path))
    calls = []

    def fake_download(root=None):   # stands in for the network: writes a one-record-per-file archive
        calls.append(root)
        folder = root / "cifar-10-batches-bin"
        folder.mkdir()
        for name in LAYOUT:
            (folder / name).write_bytes(bytes([TRUCK]) + bytes(3072) + bytes([AUTOMOBILE]) + bytes(3072))
        return folder

    monkeypatch.setattr(data, "download_cifar10", fake_download)
    ds = load_dataset("cifar10", ("automobile", "truck"), 5, 32, download=True)
    assert calls == [tmp_path] and ds.x_train.shape == (10, 3, 32, 32)
    assert ds.x_train[0, 2, 0, 0].item() == pytest.approx(-MEAN[2] / STD[2], abs=1e-6)


def test_cifar10_too_few_examples(cifar_root):
    with pytest.raises(ValueError, match=r"n_per_class=4 is too many.*only 3 .*'automobile'"):
        load_dataset("cifar10", ("automobile", "truck"), 4, 32)
    with pytest.raises(ValueError, match="5000 training examples per class"):
        load_dataset("cifar10", ("automobile", "truck"), 5001, 32)
    with pytest.raises(ValueError, match="32×32"):
        load_dataset("cifar10", ("automobile", "truck"), 3, 16)


def test_cifar10_corrupt_python_folder_is_not_unpickled(tmp_path, monkeypatch):
    """Without the binary folder, torchvision's python folder is used only if its md5s match."""
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]:
        (folder / name).write_bytes(b"not the official file")
    monkeypatch.setenv("EOS_DATA_DIR", str(tmp_path))

    def refuse(*args, **kwargs):
        raise AssertionError("something was unpickled")

    monkeypatch.setattr(pickle, "load", refuse)
    with pytest.raises(DatasetMissing, match="checksum") as err:
        load_dataset("cifar10", ("automobile", "truck"), 3, 32)
    assert str(folder) in str(err.value) and "--download" in str(err.value)


def _digits():
    from sklearn.datasets import load_digits
    d = load_digits()
    return d.images / 16, d.target


def test_digits_split_matches_config_counts():
    _, target = _digits()
    for d in range(10):
        pair = (str(d), str((d + 1) % 10))
        ds = load_dataset("digits", pair, 1, 8)
        test_count = int((ds.y_test == 0).sum())
        assert int((target == d).sum()) - test_count == config.available_per_class("digits", str(d))
        assert test_count == int((target[::5] == d).sum())      # index i is test iff i % 5 == 0
    n = config.available_per_class("digits", "odd")                     # 718 (even has 719)
    ds = load_dataset("digits", ("even", "odd"), n, 8)
    assert ds.x_train.shape == (2 * n, 1, 8, 8)
    assert int((ds.y_test == 0).sum()) == int((target % 2 == 0).sum()) - 719
    with pytest.raises(ValueError, match="too many"):
        load_dataset("digits", ("even", "odd"), 719, 8)


def test_digits_even_odd_labels_order_and_standardisation():
    images, target = _digits()
    ds = load_dataset("digits", ("even", "odd"), 300, 8)
    train = np.flatnonzero(np.arange(len(target)) % 5 != 0)
    want = np.concatenate([train[target[train] % 2 == 0][:300], train[target[train] % 2 == 1][:300]])
    assert ds.y_train.tolist() == [0] * 300 + [1] * 300
    assert ds.x_train.shape == (600, 1, 8, 8) and ds.x_test.shape == (360, 1, 8, 8)
    assert len(ds.pixel_mean) == len(ds.pixel_std) == 1
    pixels = ds.x_train.double() * ds.pixel_std[0] + ds.pixel_mean[0]   # back to [0, 1] units
    assert torch.allclose(pixels, torch.from_numpy(images[want]).unsqueeze(1), atol=1e-6)
    test = np.flatnonzero(np.arange(len(target)) % 5 == 0)
    want = np.concatenate([test[target[test] % 2 == 0], test[target[test] % 2 == 1]])
    assert ds.y_test.tolist() == (target[want] % 2).tolist()
    pixels = ds.x_test.double() * ds.pixel_std[0] + ds.pixel_mean[0]
    assert torch.allclose(pixels, torch.from_numpy(images[want]).unsqueeze(1), atol=1e-6)
    x = ds.x_train.double()
    assert x.mean().item() == pytest.approx(0, abs=1e-5) and x.std(correction=0).item() == pytest.approx(1, abs=1e-5)


def test_digits_upsampled_to_rgb():
    images, _ = _digits()
    ds = load_dataset("digits", ("3", "8"), 100, 32)
    assert ds.x_train.shape == (200, 3, 32, 32) and ds.x_test.shape[1:] == (3, 32, 32)
    assert torch.equal(ds.x_train[:, 0], ds.x_train[:, 2])          # grey channel repeated
    assert len(ds.pixel_mean) == 3 and len(set(ds.pixel_mean)) == 1
    x = ds.x_train.double()
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(x.std(dim=(0, 2, 3), correction=0), torch.ones(3, dtype=torch.float64), atol=1e-5)
    mean = torch.tensor(ds.pixel_mean).view(1, 3, 1, 1).double()
    pixels = x * torch.tensor(ds.pixel_std).view(1, 3, 1, 1).double() + mean
    assert pixels.min().item() >= -1e-6 and pixels.max().item() <= 1 + 1e-6
    # Training example 0 is the first training 3: index 3 (index 0 is a test example).
    up = F.interpolate(torch.from_numpy(images[3]).view(1, 1, 8, 8), size=(32, 32),
                       mode="bilinear", align_corners=False)
    assert torch.allclose(pixels[0, 1], up[0, 0], atol=1e-6)


def test_synthetic_deterministic_balanced_standardised():
    a = load_dataset("synthetic", ("0", "1"), 400, 32)
    b = load_dataset("synthetic", ("0", "1"), 400, 32)
    for name in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert a.pixel_mean == b.pixel_mean and a.pixel_std == b.pixel_std
    other = load_dataset("synthetic", ("0", "1"), 400, 32, seed=1)
    assert not torch.equal(a.x_train, other.x_train)
    assert a.x_train.shape == (800, 3, 32, 32) and a.x_test.shape == (1000, 3, 32, 32)
    assert a.y_train.tolist() == [0] * 400 + [1] * 400 and a.y_test.tolist() == [0] * 500 + [1] * 500
    x = a.x_train.double()
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(x.std(dim=(0, 2, 3), correction=0), torch.ones(3, dtype=torch.float64), atol=1e-5)
    # The test set comes from its own stream: it does not depend on n_per_class.
    assert torch.equal(load_dataset("synthetic", ("0", "1"), 50, 32).y_test, a.y_test)
    assert load_dataset("synthetic", ("0", "1"), 10, 16).x_train.shape == (20, 3, 16, 16)


def test_synthetic_classes_overlap_but_are_learnable():
    from sklearn.neighbors import NearestNeighbors
    ds = load_dataset("synthetic", ("0", "1"), 500, 32)
    x, y = ds.x_train.flatten(1).numpy(), ds.y_train.numpy()
    centroids = np.stack([x[y == 0].mean(0), x[y == 1].mean(0)])
    xt, yt = ds.x_test.flatten(1).numpy(), ds.y_test.numpy()
    pred = ((xt[:, None] - centroids[None]) ** 2).sum(-1).argmin(1)
    assert 0.75 < (pred == yt).mean() < 0.99              # signal, but not a trivial separation
    neighbours = NearestNeighbors(n_neighbors=51).fit(x).kneighbors(x, return_distance=False)[:, 1:]
    same = (y[neighbours] == y[:, None]).mean(1)
    ambiguous = ((same > 0.3) & (same < 0.7)).mean()
    assert 0.03 < ambiguous < 0.5                          # some points sit in the overlap


def test_dtype_and_device_honoured(cifar_root):
    for name, pair, n, size in [("digits", ("even", "odd"), 50, 8), ("synthetic", ("0", "1"), 20, 8),
                                ("cifar10", ("automobile", "truck"), 3, 32)]:
        ds = load_dataset(name, pair, n, size, dtype=torch.float64)
        assert ds.x_train.dtype == ds.x_test.dtype == torch.float64, name
        assert ds.y_train.dtype == ds.y_test.dtype == torch.int64, name
    ds = load_dataset("cifar10", ("automobile", "truck"), 3, 32, dtype=torch.float64)
    want = (cifar_root["a0"] / 255 - np.array(MEAN)[:, None, None]) / np.array(STD)[:, None, None]
    assert torch.equal(ds.x_train[0], torch.from_numpy(want))   # float64 all the way through
    if torch.cuda.is_available():
        ds = load_dataset("synthetic", ("0", "1"), 20, 8, device="cuda")
        assert ds.x_train.device.type == ds.y_test.device.type == "cuda"


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("mnist", ("0", "1"), 10, 8)
    with pytest.raises(ValueError, match="'even' pairs only with 'odd'"):
        load_dataset("digits", ("even", "3"), 10, 8)
    with pytest.raises(ValueError, match="two different"):
        load_dataset("digits", ("3", "3"), 10, 8)
    with pytest.raises(ValueError, match="too many"):
        load_dataset("synthetic", ("0", "1"), config.SYNTHETIC_MAX_PER_CLASS + 1, 8)
