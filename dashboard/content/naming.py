"""Readable run names: the nearest preset plus the settings that differ from it, e.g.
`teach-selective · c=0.5 · seed 2`. Torch-free (the dashboard names runs with it)."""

from __future__ import annotations

from eos_core.config import KNOBS, RunConfig, symbol
from eos_core.presets import PRESETS, preset

_HIDDEN = {"seed", "device", "example_every"}  # seed is named last; the rest do not change the science


def _value(v) -> str:
    if isinstance(v, (list, tuple)):
        return "/".join(map(_value, v))
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


_ORDER = {name: i for i, name in enumerate(KNOBS)}  # RunConfig's field order, whatever order a dict has


def differences(config: dict, base: dict) -> list[str]:
    keys = sorted(config, key=lambda k: _ORDER.get(k, len(_ORDER)))
    return [
        f"{symbol(k) if k in KNOBS else k}={_value(config[k])}"
        for k in keys
        if k not in _HIDDEN and base.get(k) != config[k]
    ]


def run_name(config: dict | RunConfig) -> str:
    """The preset with the fewest differing settings, those settings, and the seed (if not 0)."""
    config = config.to_dict() if isinstance(config, RunConfig) else dict(config)
    config["classes"] = list(config.get("classes", ()))
    config["ood_alphas"] = list(config.get("ood_alphas", ()))
    bases = {name: preset(name).to_dict() for name in PRESETS}
    nearest = min(bases, key=lambda name: len(differences(config, bases[name])))
    parts = [nearest, *differences(config, bases[nearest])]
    if config.get("seed"):
        parts.append(f"seed {config['seed']}")
    return " · ".join(parts)


def result_name(config: dict | RunConfig, fork: dict | None = None) -> str:
    """run_name, and for a fork (its meta's `fork` or its job's task) the step it forked at."""
    name = run_name(config)
    return f"{name} · fork@{fork['step']}" if isinstance(fork, dict) and "step" in fork else name
