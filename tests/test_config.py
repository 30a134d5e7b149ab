"""RunConfig: canonical JSON, stable hashes, and a clear message for every invalid field."""

import pytest

from eos_core.config import ConfigError, RunConfig, coerce
from eos_core.presets import PRESETS, preset


def test_json_round_trip_and_hash_stability():
    cfg = RunConfig(dataset="cifar10", classes=("cat", "dog"), n_per_class=5000, image_size=32)
    again = RunConfig.from_json(cfg.to_json())
    assert again == cfg and again.config_hash() == cfg.config_hash()
    assert cfg.to_json() == again.to_json()
    assert cfg.replace(seed=1).config_hash() != cfg.config_hash()


def test_baseline_hash_ignores_only_c():
    cfg = RunConfig()
    assert cfg.replace(c=0.25).baseline_hash() == cfg.baseline_hash()
    assert cfg.replace(c=0.25).config_hash() != cfg.config_hash()
    assert cfg.replace(lr=0.03).baseline_hash() != cfg.baseline_hash()


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_is_valid(name):
    assert isinstance(preset(name), RunConfig)


def test_paper_preset_matches_the_paper():
    cfg = preset("paper-mlp-mse")
    assert (
        cfg.classes,
        cfg.alpha,
        cfg.displacement,
        cfg.loss,
        cfg.c,
        cfg.lr,
        cfg.steps,
        cfg.log_every,
        cfg.n,
        cfg.m,
        cfg.k,
        cfg.width,
        cfg.init_scale,
    ) == (("automobile", "truck"), 3.0, "coherent", "mse", 0.5, 0.01, 10_000, 32, 10_000, 25, 50, 512, 0.2)


INVALID = [
    ("c", 0.0, "(0, 1]"),
    ("c", 1.5, "(0, 1]"),
    ("alpha", -1.0, "≥ 0"),
    ("lr", 0.0, "> 0"),
    ("lr", float("nan"), "finite"),
    ("dataset", "imagenet", "cifar10, mnist, fashion_mnist, digits, synthetic"),
    ("loss", "hinge", "mse, ce"),
    ("displacement", "sideways", "coherent, random"),
    ("model", "transformer", "mlp"),
    ("optimizer", "adam", "gd"),
    ("device", "tpu", "auto, cpu, cuda"),
    ("dtype", "float16", "float32, float64"),
    ("steps", 0, "positive integer"),
    ("steps", 2.5, "positive integer"),
    ("width", -3, "positive integer"),
    ("seed", -1, "non-negative"),
    ("onset_fraction", 0.0, "(0, 1.5]"),
    ("example_every", 30, "multiple of log_every"),
    ("m", 100, "4m ≤ n_per_class"),
    ("k", 600, "k < n"),
    ("n_per_class", 1000, "training examples per class"),
    ("classes", ("3", "3"), "must differ"),
    ("classes", ("3", "cat"), "digits classes are"),
    ("classes", ("even", "3"), "'even' pairs only with 'odd'"),
    ("classes", ("3",), "exactly two"),
    ("image_size", 0, "positive integer"),
]


@pytest.mark.parametrize("field,value,allowed", INVALID, ids=[f"{f}={v}" for f, v, _ in INVALID])
def test_invalid_field_names_field_value_and_what_is_allowed(field, value, allowed):
    with pytest.raises(ConfigError) as info:
        RunConfig(**{field: value})
    assert info.value.field == field
    assert field in str(info.value) and repr(value if field != "classes" else tuple(value)) in str(info.value)
    assert allowed in str(info.value)


def test_cifar_needs_32_pixels_and_unknown_fields_are_named():
    with pytest.raises(ConfigError, match="image_size=8 is invalid: CIFAR-10 images are 32×32"):
        RunConfig(dataset="cifar10", classes=("cat", "dog"), image_size=8)
    with pytest.raises(ConfigError, match="colour"):
        RunConfig.from_dict({"colour": "red"})


def test_coerce_parses_command_line_values():
    assert coerce("lr", "0.02") == 0.02 and coerce("steps", "10") == 10
    assert coerce("classes", "cat, dog") == ("cat", "dog")
    with pytest.raises(ConfigError, match="steps='ten' is invalid: expected an integer"):
        coerce("steps", "ten")


def test_every_preset_is_offered_under_a_figure():
    from eos_core.presets import FIGURES

    offered = {name for names in FIGURES.values() for name in names}
    assert offered == set(PRESETS)


# --- bad input at the edges: each value is refused by validation with one clear message -------

EDGE_INVALID = [
    # c·η must be a normal number of the training dtype, so that the step and 2/(c·η) stay finite
    ("lr", 5e-324, "too small"),
    ("c", 5e-324, "too small"),
    ("lr", 1e-39, "too small"),
    # the seed must fit every generator it seeds (torch takes 64 bits; seed·1,000,003 must too)
    ("seed", 2**32, "0 ≤ seed < 4294967296"),
    ("seed", 18446744073709551616, "0 ≤ seed < 4294967296"),
    ("steps", 10_000_001, "at most 10000000"),
    ("batch_size", 2**63, "at most 9223372036854775807"),
    ("width", 2**64, "at most 9223372036854775807"),
]


@pytest.mark.parametrize("field,value,allowed", EDGE_INVALID, ids=[f"{f}={v}" for f, v, _ in EDGE_INVALID])
def test_edge_values_are_refused_by_name(field, value, allowed):
    with pytest.raises(ConfigError) as info:
        RunConfig(**{field: value})
    assert info.value.field == field and allowed in str(info.value)


def test_the_smallest_learning_rates_that_validate_keep_the_thresholds_finite():
    import math

    from eos_core.config import stability_threshold

    for dtype, tiny in (("float32", 2.0**-126), ("float64", 2.0**-1022)):
        cfg = RunConfig(dtype=dtype, lr=tiny, c=1.0, optimizer="momentum", momentum=0.999)
        assert math.isfinite(stability_threshold(cfg, cfg.c * cfg.lr)[0])
        with pytest.raises(ConfigError, match="too small"):
            RunConfig(dtype=dtype, lr=tiny, c=0.5)
    assert RunConfig(dtype="float64", lr=1e-300).lr == 1e-300  # a normal float64, refused in float32
    with pytest.raises(ConfigError, match="lr=1e-300"):
        RunConfig(lr=1e-300)


def test_largest_seed_is_accepted():
    assert RunConfig(seed=2**32 - 1).seed == 2**32 - 1


def test_cnn_needs_twelve_pixels():
    with pytest.raises(ConfigError, match=r"image_size=1 is invalid: the CNN needs inputs of at least 12×12"):
        RunConfig(model="cnn", image_size=1)
    assert RunConfig(model="cnn", image_size=12).image_size == 12


def test_a_long_value_is_echoed_shortened_on_one_line():
    with pytest.raises(ConfigError) as info:
        RunConfig(dataset="x" * 10_000 + "\n" + "y" * 10)
    text = str(info.value)
    assert len(text) < 400 and "\n" not in text and "10011 characters" in text
    with pytest.raises(ConfigError) as info:
        coerce("z" * 5000, "1")
    assert len(str(info.value)) < 700 and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "field,text",
    [
        ("steps", "１６０"),
        ("steps", "٣"),
        ("steps", "1_000"),
        ("steps", "1e3"),
        ("steps", "0x10"),
        ("steps", "9" * 5000),
        ("seed", "²"),
        ("lr", "０.０２"),
        ("lr", "1_0.0"),
        ("lr", "0x1p-3"),
        ("ood_alphas", "0,１"),
        ("ood_alphas", "1,,2"),
    ],
)
def test_numbers_are_plain_ascii_decimals(field, text):
    """Python's int() and float() accept any Unicode digits and underscores; the command line
    and the URL take ASCII decimals only, so what is typed is what runs."""
    with pytest.raises(ConfigError) as info:
        coerce(field, text)
    assert info.value.field == field and "ASCII" in str(info.value)


def test_plain_numbers_still_parse():
    assert coerce("steps", "+160") == 160 and coerce("seed", "-1") == -1
    assert coerce("lr", "2e-2") == 0.02 and coerce("lr", ".5") == 0.5 and coerce("lr", "1.") == 1.0
    assert coerce("lr", "1E+3") == 1000.0
    assert coerce("ood_alphas", "0, 1.5,3") == (0.0, 1.5, 3.0)
    import math

    assert math.isnan(coerce("alpha", "nan")) and coerce("alpha", "-inf") == float("-inf")


def test_unknown_field_suggests_the_nearest():
    with pytest.raises(ConfigError, match="did you mean 'width'"):
        coerce("widht", "3")
