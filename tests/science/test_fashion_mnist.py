"""Fashion-MNIST through the dataset registry: small generated IDX files in torchvision's layout
(plain and .gz), Debian's folder found by asking the package manager, clear refusals, and the
real files where they are."""

import gzip
import pathlib

import numpy as np
import pytest
import torch
from harness import eos
from test_data import MNIST_TRAIN_LABELS, idx_bytes, real_data_root, write_mnist

from eos_core.config import ConfigError, RunConfig, class_label
from eos_core.datasets import REGISTRY, availability, fashion_mnist, idx
from eos_core.datasets.files import DatasetCorrupt, DatasetMissing
from eos_core.science.data import load_dataset

STEMS = idx.STEMS


@pytest.fixture
def fashion_root(tmp_path, monkeypatch):
    """Miniature Fashion-MNIST (10 train, 4 test images; train labels 4 9 1 4 4 9 7 9 4 0 =
    coat boot trouser coat coat boot sneaker boot coat tshirt) under $EOS_DATA_DIR/FashionMNIST/raw."""
    arrays = write_mnist(tmp_path / "FashionMNIST" / "raw", np.random.default_rng(1), gz=STEMS)
    monkeypatch.setenv("EOS_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(idx, "package_folders", lambda package: ())  # this machine's Debian copy stays out
    return arrays


def test_the_registry_names_fashion_classes_with_short_forms_digits_and_torchvision_names():
    spec = REGISTRY["fashion_mnist"]
    assert spec.classes == (
        "tshirt",
        "trouser",
        "pullover",
        "dress",
        "coat",
        "sandal",
        "shirt",
        "sneaker",
        "bag",
        "boot",
    )
    assert [spec.canonical(s) for s in ("6", "Shirt", "T-shirt/top", "Ankle boot", "ankle-boot", "coat")] == [
        "shirt",
        "shirt",
        "tshirt",
        "boot",
        "boot",
        "coat",
    ]
    assert class_label("fashion_mnist", "tshirt") == "tshirt · T-shirt/top"
    assert spec.available("shirt") == 6000 and spec.display_range == (0.0, 1.0)
    # a run names its classes canonically, so every spelling is the same run
    assert RunConfig(dataset="fashion_mnist", classes=("6", "T-shirt/top"), image_size=28).classes == (
        "shirt",
        "tshirt",
    )
    assert (
        RunConfig(dataset="fashion_mnist", classes=("6", "0"), image_size=28).config_hash()
        == RunConfig(dataset="fashion_mnist", classes=("shirt", "tshirt"), image_size=28).config_hash()
    )


def test_unknown_and_repeated_classes_are_refused_with_the_valid_names():
    with pytest.raises(ConfigError, match="fashion_mnist classes are tshirt, trouser, pullover"):
        RunConfig(dataset="fashion_mnist", classes=("shirt", "hat"), image_size=28)
    with pytest.raises(ConfigError, match="the two classes must differ"):
        RunConfig(dataset="fashion_mnist", classes=("shirt", "6"), image_size=28)
    with pytest.raises(ConfigError, match="has 6000 training examples per class"):
        RunConfig(dataset="fashion_mnist", classes=("shirt", "coat"), image_size=28, n_per_class=6001)


@pytest.mark.parametrize("gz", [STEMS, ()], ids=["gz", "plain"])
def test_a_pair_loads_in_label_order_standardised_from_gz_or_plain_files(tmp_path, monkeypatch, gz):
    arrays = write_mnist(tmp_path / "FashionMNIST" / "raw", np.random.default_rng(1), gz=gz)
    monkeypatch.setenv("EOS_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(idx, "package_folders", lambda package: ())
    ds = load_dataset("fashion_mnist", ("coat", "boot"), 2, 28, dtype=torch.float64)
    train = arrays["train-images-idx3-ubyte"]
    assert ds.class_names == ("coat", "boot") and ds.y_train.tolist() == [0, 0, 1, 1]
    pixels = train / 255
    expected = (train[[0, 3, 1, 5]] / 255 - pixels.mean()) / pixels.std()  # first two coats, first two boots
    assert torch.allclose(ds.x_train[:, 0], torch.from_numpy(expected), atol=1e-12)
    assert ds.y_test.tolist() == [0, 1, 1]  # test labels 9 4 3 9
    assert availability("fashion_mnist") == (True, f"Fashion-MNIST is ready in {tmp_path / 'FashionMNIST' / 'raw'}")


def test_debians_folder_is_found_by_asking_the_package_for_its_files(tmp_path, monkeypatch):
    debian = tmp_path / "usr" / "share" / "fashion-mnist"
    write_mnist(debian, np.random.default_rng(2), gz=STEMS)
    listing = ["/.", "/usr/share/doc/dataset-fashion-mnist/copyright", *[str(debian / f"{stem}.gz") for stem in STEMS]]
    assert idx.folders_holding(listing) == (debian,)
    monkeypatch.setenv("EOS_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setattr(
        idx,
        "package_folders",
        lambda package: idx.folders_holding(listing) if package == "dataset-fashion-mnist" else (),
    )
    assert availability("fashion_mnist") == (True, f"Fashion-MNIST is ready in {debian}")
    assert load_dataset("fashion_mnist", ("coat", "boot"), 2, 28).x_train.shape == (4, 1, 28, 28)


def test_the_package_manager_is_asked_and_an_absent_package_gives_no_folder(monkeypatch):
    monkeypatch.undo()  # the real lookup, which conftest hides from other tests
    idx.package_folders.cache_clear()
    assert idx.package_folders("no-such-package-eos-explorer") == ()
    installed = idx.package_folders("dataset-fashion-mnist")
    if installed:  # where Debian's package is installed: its folder holds the four files
        assert all(idx.file_of(installed[0], stem) for stem in STEMS)


def test_missing_files_name_every_folder_searched_and_both_ways_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("EOS_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(idx, "package_folders", lambda package: (tmp_path / "debian-folder",))
    with pytest.raises(DatasetMissing) as err:
        load_dataset("fashion_mnist", ("shirt", "tshirt"), 2, 28)
    ok, message = availability("fashion_mnist")
    assert not ok and message == str(err.value)
    for text in (
        str(tmp_path / "FashionMNIST" / "raw"),
        str(tmp_path / "debian-folder"),
        "python -m eos_core data --download fashion_mnist",
        "apt-get install dataset-fashion-mnist",
    ):
        assert text in message, text


def test_corrupt_files_are_named_and_nothing_is_cached(fashion_root, tmp_path):
    folder = tmp_path / "FashionMNIST" / "raw"
    labels = folder / "train-labels-idx1-ubyte.gz"
    good = labels.read_bytes()
    plain = gzip.decompress(good)
    cases = [
        ("truncated", good[:30], "cannot be"),
        ("wrong magic", gzip.compress((2051).to_bytes(4, "big") + plain[4:]), "magic number 2051"),
        ("wrong count", gzip.compress(idx_bytes(MNIST_TRAIN_LABELS[:9])), "9 labels for 10 images"),
        ("label out of range", gzip.compress(plain[:-1] + bytes([10])), "label 10 is out of range"),
    ]
    for what, blob, text in cases:
        labels.write_bytes(blob)
        with pytest.raises(DatasetCorrupt) as err:
            load_dataset("fashion_mnist", ("coat", "boot"), 2, 28)
        assert str(labels) in str(err.value) and text in str(err.value), (what, str(err.value))
        assert "--download fashion_mnist" in str(err.value), what
    labels.write_bytes(good)  # repaired: loads again, nothing of the bad reads was kept
    assert load_dataset("fashion_mnist", ("coat", "boot"), 2, 28).y_train.tolist() == [0, 0, 1, 1]


@pytest.mark.process
def test_the_cli_refuses_a_repeated_class_and_downloads_with_torchvision(tmp_path, monkeypatch):
    done = eos(
        "run",
        "--set",
        "dataset=fashion_mnist",
        "--set",
        "image_size=28",
        "--set",
        "classes=shirt,Shirt",
        "--out",
        str(tmp_path / "o"),
        timeout=120,
    )
    assert done.returncode == 2 and "the two classes must differ" in done.stderr and "Traceback" not in done.stderr
    import torchvision.datasets

    from eos_core import cli

    monkeypatch.setenv("EOS_DATA_DIR", str(tmp_path))
    calls = []

    def fake(root, train, download):  # stands in for the network
        calls.append((root, train, download))
        write_mnist(pathlib.Path(root) / "FashionMNIST" / "raw", np.random.default_rng(4))

    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", fake)
    assert cli.main(["data", "--download", "fashion_mnist"]) == 0
    assert calls == [(str(tmp_path), True, True)]


# ------------------------------------------------------------------------------- real Fashion-MNIST

REAL = real_data_root("FashionMNIST")


@pytest.mark.slow
@pytest.mark.skipif(
    REAL is None, reason="real Fashion-MNIST not found: set EOS_DATA_DIR to a folder with FashionMNIST/raw/"
)
def test_real_fashion_mnist_counts_and_pixels(monkeypatch):
    monkeypatch.setenv("EOS_DATA_DIR", str(REAL))
    assert availability("fashion_mnist")[0]
    folder = fashion_mnist.FILES.folder()
    images, labels = fashion_mnist.FILES.read_split(folder, "train")
    assert images.shape == (60_000, 28, 28) and np.bincount(labels).tolist() == [6000] * 10
    _, test_labels = fashion_mnist.FILES.read_split(folder, "test")
    assert np.bincount(test_labels).tolist() == [1000] * 10
    ds = load_dataset("fashion_mnist", ("shirt", "tshirt"), 6000, 28)
    # Fashion-MNIST's well-known training statistics: mean 0.2860, std 0.3530
    assert ds.pixel_mean[0] == pytest.approx(0.2860, abs=1e-4) and ds.pixel_std[0] == pytest.approx(0.3530, abs=1e-4)
    assert ds.x_train.shape == (12_000, 1, 28, 28) and ds.y_test.tolist() == [0] * 1000 + [1] * 1000


def test_with_fashion_mnist_on_disk_a_fresh_dashboard_trains_the_real_image_story(fashion_root, tmp_path, monkeypatch):
    from harness import first_launch_of

    from eos_core.presets import OFFLINE_LAUNCH, REAL_LAUNCH, first_launch, preset
    from eos_core.runs import shipped

    assert first_launch() == REAL_LAUNCH == ("teach-fashion", "teach-fashion-random") == shipped.SHIPPED
    at, queued = first_launch_of(tmp_path / "empty", monkeypatch)
    assert not at.exception
    assert queued == []  # shipped: nothing to train
    assert at.session_state["form_base"] == preset("teach-fashion")
    assert preset("teach-fashion").classes == ("pullover", "coat")
    monkeypatch.setenv("EOS_DATA_DIR", str(tmp_path / "nothing-here"))
    assert first_launch() == OFFLINE_LAUNCH
