"""Tests for eos_core.science.data: a hand-written CIFAR-10 binary archive, sklearn digits, synthetic data."""

import pathlib
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from harness import ROOT, eos

from eos_core import config
from eos_core.datasets import cifar10, mnist, synthetic
from eos_core.science.data import DatasetMissing, data_dir, load_dataset

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2023, 0.1994, 0.2010)
AUTOMOBILE, CAT, TRUCK = 1, 3, 9

# Which (label, record-id) goes into which file; record-ids name images kept for the comparisons.
# automobile has 3 training images (a0 a1 a2), truck 4 (t0..t3), cat is a distractor. Every file is
# padded with cats to RECORDS records: real batches all hold the same number (10,000).
LAYOUT = {
    "data_batch_1.bin": [(TRUCK, "t0"), (CAT, "c0"), (AUTOMOBILE, "a0"), (TRUCK, "t1")],
    "data_batch_2.bin": [(AUTOMOBILE, "a1"), (CAT, "c1")],
    "data_batch_3.bin": [(TRUCK, "t2")],
    "data_batch_4.bin": [(CAT, "c2")],
    "data_batch_5.bin": [(AUTOMOBILE, "a2"), (TRUCK, "t3")],
    "test_batch.bin": [(CAT, "xc"), (TRUCK, "xt0"), (AUTOMOBILE, "xa"), (TRUCK, "xt1")],
}
RECORDS = 4


@pytest.fixture
def cifar_root(tmp_path, monkeypatch):
    """A miniature CIFAR-10 binary distribution in the true on-disk format; returns the images."""
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    rng = np.random.default_rng(0)
    images = {}
    for name, records in LAYOUT.items():
        blob = b""
        padding = [(CAT, f"{name}-pad{i}") for i in range(RECORDS - len(records))]
        for label, rid in records + padding:
            img = rng.integers(0, 256, size=(3, 32, 32), dtype=np.uint8)  # channel-major R, G, B
            images[rid] = img
            blob += bytes([label]) + img.tobytes()
        (folder / name).write_bytes(blob)
    (folder / "batches.meta.txt").write_text("\n".join(cifar10.CLASSES) + "\n")
    # A marker pixel in a1: R, G, B planes at row 5, column 7 — bytes 1 + c·1024 + 5·32 + 7.
    blob = bytearray((folder / "data_batch_2.bin").read_bytes())
    for c, value in enumerate((200, 10, 77)):
        blob[1 + c * 1024 + 5 * 32 + 7] = value
    (folder / "data_batch_2.bin").write_bytes(bytes(blob))
    images["a1"][:, 5, 7] = (200, 10, 77)
    monkeypatch.setenv("EOS_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(cifar10, "RECORDS_PER_FILE", RECORDS)
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
    monkeypatch.setenv("EOS_DATA_DIR", str(tmp_path))
    calls = []

    def fake_download(root=None):  # stands in for the network: writes a one-record-per-file archive
        calls.append(root)
        folder = root / "cifar-10-batches-bin"
        folder.mkdir()
        for name in LAYOUT:
            (folder / name).write_bytes(bytes([TRUCK]) + bytes(3072) + bytes([AUTOMOBILE]) + bytes(3072))
        return folder

    monkeypatch.setattr(cifar10, "download", fake_download)
    monkeypatch.setattr(cifar10, "RECORDS_PER_FILE", 2)
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


def test_cifar10_corrupt_files_name_the_file_and_expected_size(cifar_root, tmp_path):
    """A truncated batch, a batch with extra bytes and one of the right size but wrong content (a
    label byte that is not 0–9) each get one clear message, in the loader and in the cheap check."""
    from eos_core.datasets import availability
    from eos_core.datasets.files import DatasetCorrupt

    path = tmp_path / "cifar-10-batches-bin" / "data_batch_3.bin"
    good = path.read_bytes()
    expected = f"(expected {RECORDS * 3073:,} bytes)"
    assert availability("cifar10")[0]
    for what, blob, text in [
        ("truncated", good[:-100], "holds 12,192 bytes"),
        ("an extra record", good + good[:3073], "holds 15,365 bytes"),
        ("label byte 200", bytes([200]) + good[1:], "label byte 200"),
    ]:
        path.write_bytes(blob)
        with pytest.raises(DatasetCorrupt) as err:
            load_dataset("cifar10", ("automobile", "truck"), 3, 32)
        message = str(err.value)
        assert message.startswith(f"corrupt dataset file {path} {expected}"), (what, message)
        assert text in message and "--download cifar10" in message, (what, message)
        if what != "label byte 200":  # the cheap check reads sizes, not contents
            ok, cheap = availability("cifar10")
            assert not ok and cheap.startswith(f"corrupt dataset file {path} {expected}"), what
    path.write_bytes(good)
    (tmp_path / "cifar-10-batches-bin" / "test_batch.bin").unlink()
    ok, message = availability("cifar10")
    assert not ok and "test_batch.bin is missing" in message


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
        assert test_count == int((target[::5] == d).sum())  # index i is test iff i % 5 == 0
    n = config.available_per_class("digits", "odd")  # 718 (even has 719)
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
    pixels = ds.x_train.double() * ds.pixel_std[0] + ds.pixel_mean[0]  # back to [0, 1] units
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
    assert torch.equal(ds.x_train[:, 0], ds.x_train[:, 2])  # grey channel repeated
    assert len(ds.pixel_mean) == 3 and len(set(ds.pixel_mean)) == 1
    x = ds.x_train.double()
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3, dtype=torch.float64), atol=1e-5)
    assert torch.allclose(x.std(dim=(0, 2, 3), correction=0), torch.ones(3, dtype=torch.float64), atol=1e-5)
    mean = torch.tensor(ds.pixel_mean).view(1, 3, 1, 1).double()
    pixels = x * torch.tensor(ds.pixel_std).view(1, 3, 1, 1).double() + mean
    assert pixels.min().item() >= -1e-6 and pixels.max().item() <= 1 + 1e-6
    # Training example 0 is the first training 3: index 3 (index 0 is a test example).
    up = F.interpolate(
        torch.from_numpy(images[3]).view(1, 1, 8, 8), size=(32, 32), mode="bilinear", align_corners=False
    )
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
    assert 0.75 < (pred == yt).mean() < 0.99  # signal, but not a trivial separation
    neighbours = NearestNeighbors(n_neighbors=51).fit(x).kneighbors(x, return_distance=False)[:, 1:]
    same = (y[neighbours] == y[:, None]).mean(1)
    ambiguous = ((same > 0.3) & (same < 0.7)).mean()
    assert 0.03 < ambiguous < 0.5  # some points sit in the overlap


def test_dtype_and_device_honoured(cifar_root):
    for name, pair, n, size in [
        ("digits", ("even", "odd"), 50, 8),
        ("synthetic", ("0", "1"), 20, 8),
        ("cifar10", ("automobile", "truck"), 3, 32),
    ]:
        ds = load_dataset(name, pair, n, size, dtype=torch.float64)
        assert ds.x_train.dtype == ds.x_test.dtype == torch.float64, name
        assert ds.y_train.dtype == ds.y_test.dtype == torch.int64, name
    ds = load_dataset("cifar10", ("automobile", "truck"), 3, 32, dtype=torch.float64)
    want = (cifar_root["a0"] / 255 - np.array(MEAN)[:, None, None]) / np.array(STD)[:, None, None]
    assert torch.equal(ds.x_train[0], torch.from_numpy(want))  # float64 all the way through
    if torch.cuda.is_available():
        ds = load_dataset("synthetic", ("0", "1"), 20, 8, device="cuda")
        assert ds.x_train.device.type == ds.y_test.device.type == "cuda"


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown dataset"):
        load_dataset("imagenet", ("0", "1"), 10, 8)
    with pytest.raises(ValueError, match="'even' pairs only with 'odd'"):
        load_dataset("digits", ("even", "3"), 10, 8)
    with pytest.raises(ValueError, match="two different"):
        load_dataset("digits", ("3", "3"), 10, 8)
    with pytest.raises(ValueError, match="too many"):
        load_dataset("synthetic", ("0", "1"), synthetic.MAX_PER_CLASS + 1, 8)


# ------------------------------------------------------------------------------------------- MNIST
# Small IDX files in the true format (big-endian header, magic 2051 / 2049, then raw bytes), written
# by hand here so that the parser is checked against the format's definition, not against itself.


def idx_bytes(array: np.ndarray) -> bytes:
    magic = 0x0800 | array.ndim  # 0x08: unsigned byte, then the dimension count
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


MNIST_TRAIN_LABELS = np.array([4, 9, 1, 4, 4, 9, 7, 9, 4, 0], dtype=np.uint8)
MNIST_TEST_LABELS = np.array([9, 4, 3, 9], dtype=np.uint8)


def write_mnist(folder, rng, gz=("train-images-idx3-ubyte",)):
    """The four files of a miniature MNIST (10 train, 4 test images) under folder; `gz` are gzipped."""
    import gzip

    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, size=(10, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": MNIST_TRAIN_LABELS,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, size=(4, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": MNIST_TEST_LABELS,
    }
    for stem, array in arrays.items():
        blob = idx_bytes(array)
        if stem in gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(blob))
        else:
            (folder / stem).write_bytes(blob)
    return arrays


@pytest.fixture
def mnist_root(tmp_path, monkeypatch):
    arrays = write_mnist(tmp_path / "MNIST" / "raw", np.random.default_rng(1))
    monkeypatch.setenv("EOS_DATA_DIR", str(tmp_path))
    return arrays


def mnist_expected(images: np.ndarray, all_train: np.ndarray) -> torch.Tensor:
    """Standardised with the mean and population std of every training pixel, computed in float64."""
    pixels = all_train / 255
    return torch.from_numpy((images / 255 - pixels.mean()) / pixels.std())[:, None].float()


def test_mnist_idx_pair_order_labels_and_standardisation(mnist_root):
    train, test = mnist_root["train-images-idx3-ubyte"], mnist_root["t10k-images-idx3-ubyte"]
    ds = load_dataset("mnist", ("4", "9"), 2, 28)
    assert ds.x_train.shape == (4, 1, 28, 28) and ds.x_train.dtype == torch.float32
    # the first two 4s (indices 0, 3), then the first two 9s (1, 5); labels 0 = '4', 1 = '9'
    assert ds.y_train.tolist() == [0, 0, 1, 1] and ds.class_names == ("4", "9")
    assert torch.allclose(ds.x_train, mnist_expected(train[[0, 3, 1, 5]], train), atol=1e-6)
    # the test split: every test 4 then every test 9, in file order
    assert ds.y_test.tolist() == [0, 1, 1]
    assert torch.allclose(ds.x_test, mnist_expected(test[[1, 0, 3]], train), atol=1e-6)
    pixels = train / 255
    assert ds.pixel_mean == pytest.approx((pixels.mean(),), abs=1e-12)
    assert ds.pixel_std == pytest.approx((pixels.std(),), abs=1e-12)
    # a pixel back in [0, 1] units: x·std + mean
    assert ds.x_train[2, 0, 5, 7].item() * ds.pixel_std[0] + ds.pixel_mean[0] == pytest.approx(
        train[1, 5, 7] / 255, abs=1e-6
    )
    rev = load_dataset("mnist", ("9", "4"), 3, 28)
    assert rev.y_train.tolist() == [0, 0, 0, 1, 1, 1] and rev.y_test.tolist() == [0, 0, 1]


def test_mnist_plain_and_gzip_files_read_the_same(tmp_path, monkeypatch):
    stems = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    write_mnist(tmp_path / "a" / "MNIST" / "raw", np.random.default_rng(2), gz=())
    write_mnist(tmp_path / "b" / "MNIST" / "raw", np.random.default_rng(2), gz=stems)
    loaded = []
    for root in ("a", "b"):
        monkeypatch.setenv("EOS_DATA_DIR", str(tmp_path / root))
        loaded.append(load_dataset("mnist", ("4", "9"), 3, 28, dtype=torch.float64))
    for name in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(loaded[0], name), getattr(loaded[1], name)), name


def test_mnist_resize_and_every_model_takes_one_channel(mnist_root):
    from eos_core.config import RunConfig
    from eos_core.science.models import build_model

    train = mnist_root["train-images-idx3-ubyte"]
    small = load_dataset("mnist", ("4", "9"), 3, 14, dtype=torch.float64)
    assert small.x_train.shape == (6, 1, 14, 14) and small.x_test.shape == (3, 1, 14, 14)
    ref = F.interpolate(
        torch.from_numpy(train[[0]] / 255)[:, None], size=(14, 14), mode="bilinear", align_corners=False, antialias=True
    )
    assert torch.allclose(small.x_train[0] * small.pixel_std[0] + small.pixel_mean[0], ref[0], atol=1e-12)
    ds = load_dataset("mnist", ("4", "9"), 3, 28)
    for model in ("mlp", "cnn", "resnet14"):
        cfg = RunConfig(dataset="mnist", classes=("4", "9"), n_per_class=2000, image_size=28, model=model, width=16)
        net, theta = build_model(cfg, ds.x_train.shape[1:], "cpu", torch.float32)
        assert net(theta, ds.x_train).shape == (6, 2), model


def test_mnist_too_many_examples_and_config_counts(mnist_root):
    with pytest.raises(ValueError, match=r"n_per_class=4 is too many.*only 3 .*'9'"):
        load_dataset("mnist", ("4", "9"), 4, 28)
    from eos_core.config import ConfigError, RunConfig

    assert config.available_per_class("mnist", "4") == 5842 and config.available_per_class("mnist", "9") == 5949
    with pytest.raises(ConfigError, match="mnist 4/9 has 5842 training examples per class"):
        RunConfig(dataset="mnist", classes=("4", "9"), n_per_class=5843)
    with pytest.raises(ConfigError, match="mnist classes are 0, 1"):
        RunConfig(dataset="mnist", classes=("4", "even"))
    assert config.class_label("mnist", "4") == "4 · four" and config.class_label("cifar10", "cat") == "cat"


def test_mnist_missing_names_the_absolute_folder_and_the_command(tmp_path, monkeypatch):
    from eos_core.datasets import availability

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EOS_DATA_DIR", "relative-data")
    folder = tmp_path / "relative-data" / "MNIST" / "raw"
    with pytest.raises(DatasetMissing) as err:
        load_dataset("mnist", ("4", "9"), 2, 28)
    ok, cheap = availability("mnist")
    assert not ok and cheap == str(err.value)
    for message in (cheap, str(err.value)):
        assert str(folder) in message and "python -m eos_core data --download mnist" in message
        assert "train-images-idx3-ubyte" in message


def corrupt_cases(folder):
    """(what was done, file to damage, new bytes, text the message must have)."""
    import gzip

    images = folder / "train-images-idx3-ubyte.gz"  # gzipped by write_mnist
    labels = folder / "train-labels-idx1-ubyte"
    plain = labels.read_bytes()
    return [
        ("gzip stream cut short", images, images.read_bytes()[:200], "cannot be"),
        (
            "gzip body cut short",
            images,
            gzip.compress(gzip.decompress(images.read_bytes())[:5000]),
            "(expected 7,856 bytes)",
        ),
        ("plain file cut short", labels, plain[:-1], "(expected 18 bytes)"),
        ("wrong magic", labels, (2051).to_bytes(4, "big") + plain[4:], "magic number 2051"),
        ("empty file", labels, b"", "too short"),
        ("label 12", labels, plain[:-1] + bytes([12]), "label 12 is out of range"),
    ]


def test_mnist_corrupt_files_get_one_clear_message(tmp_path, monkeypatch):
    from eos_core.datasets import availability
    from eos_core.datasets.files import DatasetCorrupt

    monkeypatch.setenv("EOS_DATA_DIR", str(tmp_path))
    folder = tmp_path / "MNIST" / "raw"
    write_mnist(folder, np.random.default_rng(3))
    assert availability("mnist") == (True, f"MNIST is ready in {folder}")
    for what, path, blob, text in corrupt_cases(folder):
        good = path.read_bytes()
        path.write_bytes(blob)
        with pytest.raises(DatasetCorrupt) as err:
            load_dataset("mnist", ("4", "9"), 2, 28)
        message = str(err.value)
        assert message.startswith(f"corrupt dataset file {path}"), what
        assert text in message and "--download mnist" in message, (what, message)
        if what != "label 12":  # a label's value is only seen when the body is read
            ok, cheap = availability("mnist")
            assert not ok and cheap.startswith(f"corrupt dataset file {path}"), (what, cheap)
        path.write_bytes(good)
    # counts of images and labels disagree
    (folder / "train-labels-idx1-ubyte").write_bytes(idx_bytes(MNIST_TRAIN_LABELS[:9]))
    with pytest.raises(DatasetCorrupt, match="9 labels for 10 images"):
        load_dataset("mnist", ("4", "9"), 2, 28)


def test_cli_data_download_mnist_uses_torchvision_only_there(tmp_path, monkeypatch):
    """`data --download mnist` is the one path that downloads; torchvision's MNIST stands in here."""
    import torchvision.datasets

    from eos_core import cli

    monkeypatch.setenv("EOS_DATA_DIR", str(tmp_path))
    calls = []

    def fake_mnist(root, train, download):
        calls.append((root, train, download))
        write_mnist(pathlib.Path(root) / "MNIST" / "raw", np.random.default_rng(4))

    monkeypatch.setattr(torchvision.datasets, "MNIST", fake_mnist)
    assert cli.main(["data", "--download", "mnist"]) == 0
    assert calls == [(str(tmp_path), True, True)]
    assert load_dataset("mnist", ("4", "9"), 3, 28).x_train.shape == (6, 1, 28, 28)


# ---------------------------------------------------------------------------------- real MNIST
# The real files are found through EOS_DATA_DIR, or a shared/data folder beside the checkout or
# one level further up (the product itself reads only EOS_DATA_DIR).


def real_data_root(subdir: str):
    """The folder holding real `<subdir>/raw/` files, or None (the real-data tests then skip)."""
    import os

    candidates = [os.environ.get("EOS_DATA_DIR")] + [up / "shared" / "data" for up in ROOT.parents[:2]]
    for root in candidates:
        if root and (pathlib.Path(root) / subdir / "raw").is_dir():
            return pathlib.Path(root)
    return None


REAL_MNIST = real_data_root("MNIST")
needs_real_mnist = pytest.mark.skipif(
    REAL_MNIST is None, reason="real MNIST not found: set EOS_DATA_DIR to a folder with MNIST/raw/"
)


@pytest.mark.slow
@needs_real_mnist
def test_real_mnist_counts_and_pixels(monkeypatch):
    from eos_core.datasets import availability

    monkeypatch.setenv("EOS_DATA_DIR", str(REAL_MNIST))
    assert availability("mnist")[0]
    images, labels = mnist.FILES.read_split(mnist.FILES.folder(), "train")
    assert images.shape == (60_000, 28, 28)
    assert np.bincount(labels).tolist() == [config.available_per_class("mnist", str(d)) for d in range(10)]
    _test_images, test_labels = mnist.FILES.read_split(mnist.FILES.folder(), "test")
    assert np.bincount(test_labels).tolist() == list(mnist.TEST_COUNTS.values())
    # MNIST's well-known statistics: mean 0.1307, std 0.3081; digits sit in the centre, borders are 0
    ds = load_dataset("mnist", ("4", "9"), config.available_per_class("mnist", "4"), 28)
    assert ds.pixel_mean[0] == pytest.approx(0.1307, abs=1e-4) and ds.pixel_std[0] == pytest.approx(0.3081, abs=1e-4)
    assert ds.x_train.shape == (2 * 5842, 1, 28, 28)
    assert ds.y_test.tolist() == [0] * 982 + [1] * 1009
    border = ds.x_train[:, 0, 0, :] * ds.pixel_std[0] + ds.pixel_mean[0]
    assert border.abs().max().item() < 1e-6
    assert 0.99 < (images.astype(np.float64) / 255).mean() / 0.1307 < 1.01


@pytest.mark.process
def test_cli_reports_missing_and_corrupt_mnist_in_one_line(tmp_path):
    import os

    def run(root):
        env = {**os.environ, "EOS_DATA_DIR": str(root)}
        return eos("run", "--preset", "mnist-cpu", "--quiet", "--out", str(tmp_path / "out"), env=env, timeout=120)

    done = run(tmp_path / "none")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert str(tmp_path / "none" / "MNIST" / "raw") in done.stderr and "--download mnist" in done.stderr
    folder = tmp_path / "bad" / "MNIST" / "raw"
    write_mnist(folder, np.random.default_rng(5))
    labels = folder / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-2])
    done = run(tmp_path / "bad")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert (
        done.stderr.strip() == f"error: corrupt dataset file {labels} (expected 12 bytes): it holds 10 bytes. "
        f"Delete it and fetch a fresh copy with `python -m eos_core data --download mnist`."
    )
