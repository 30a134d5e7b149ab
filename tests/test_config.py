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
    assert (cfg.classes, cfg.alpha, cfg.displacement, cfg.loss, cfg.c, cfg.lr, cfg.steps, cfg.log_every,
            cfg.n, cfg.m, cfg.k, cfg.width, cfg.init_scale) == \
        (("automobile", "truck"), 3.0, "coherent", "mse", 0.5, 0.01, 10_000, 32, 10_000, 25, 50, 512, 0.2)


INVALID = [
    ("c", 0.0, "(0, 1]"), ("c", 1.5, "(0, 1]"), ("alpha", -1.0, "≥ 0"), ("lr", 0.0, "> 0"),
    ("lr", float("nan"), "finite"), ("dataset", "imagenet", "cifar10, mnist, digits, synthetic"),
    ("loss", "hinge", "mse, ce"), ("displacement", "sideways", "coherent, random"),
    ("model", "transformer", "mlp"), ("optimizer", "adam", "gd"), ("device", "tpu", "auto, cpu, cuda"),
    ("dtype", "float16", "float32, float64"), ("steps", 0, "positive integer"),
    ("steps", 2.5, "positive integer"), ("width", -3, "positive integer"), ("seed", -1, "non-negative"),
    ("onset_fraction", 0.0, "(0, 1.5]"), ("example_every", 30, "multiple of log_every"),
    ("m", 100, "4m ≤ n_per_class"), ("k", 600, "k < n"), ("n_per_class", 1000, "training examples per class"),
    ("classes", ("3", "3"), "must differ"), ("classes", ("3", "cat"), "digits classes are"),
    ("classes", ("even", "3"), "'even' pairs only with 'odd'"), ("classes", ("3",), "exactly two"),
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
    with pytest.raises(ConfigError, match="steps='ten' is invalid: expected int"):
        coerce("steps", "ten")


def test_every_preset_is_offered_under_a_figure():
    from eos_core.presets import FIGURES
    offered = {name for names in FIGURES.values() for name in names}
    assert offered == set(PRESETS)
