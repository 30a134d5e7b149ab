"""What the verbs share: the parser class, the config options and building a config from them."""

from __future__ import annotations

import argparse

from eos_core.config import ConfigError, RunConfig, coerce
from eos_core.presets import OFFLINE_LAUNCH, PRESETS, preset
from eos_core.resources import check_fits


class Parser(argparse.ArgumentParser):
    """Usage mistakes in one line, like every other refusal, pointing at the help (its verbs'
    parsers are of this class too)."""

    def error(self, message):
        self.exit(2, f"error: {message} (see `{self.prog} --help`)\n")


def config_options(sp: argparse.ArgumentParser) -> None:
    """--preset and --set: the run configuration of `run`, `bench`, `submit` and `sweep`."""
    sp.add_argument(
        "--preset",
        default=OFFLINE_LAUNCH[0],
        choices=list(PRESETS),
        help="named configuration to start from (see `presets`); default %(default)s",
    )
    sp.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override one RunConfig field, e.g. --set lr=0.02 --set classes=cat,dog; repeatable",
    )


def parse_assignments(assignments: list[str] | None):
    """Each `key=value` of --set as (field, value of the field's type)."""
    for item in assignments or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError("--set", item, "overrides are written key=value, e.g. --set lr=0.02")
        yield key.strip(), coerce(key.strip(), value.strip())


def build_config(preset_name: str, assignments: list[str]) -> RunConfig:
    """A preset with `key=value` overrides, validated."""
    return preset(preset_name, **dict(parse_assignments(assignments)))


def runnable_config(preset_name: str, assignments: list[str]) -> RunConfig:
    """build_config, and refuse here what this machine cannot run (no GPU, not enough memory)."""
    cfg = build_config(preset_name, assignments)
    check_fits(cfg)
    return cfg
