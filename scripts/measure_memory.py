"""Peak memory of a run against resources.estimate_bytes, one config per process.

    python scripts/measure_memory.py '{"model": "cnn", "n_per_class": 250, "image_size": 24, "width": 64}'

Trains teach-selective with the given overrides for one step and prints one JSON line: the peak
RSS minus the RSS before the run (the interpreter and libraries excluded, as in the estimate),
and the estimate by part. Run each config in its own process: peak RSS never goes down.
"""

import json
import resource
import sys

import torch

from eos_core.presets import preset
from eos_core.resources import estimate_bytes
from eos_core.science.experiment import run_experiment


def rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main(overrides: dict) -> None:
    torch.set_num_threads(1)
    cfg = preset("teach-selective", **{"steps": 1, "log_every": 1, "example_every": 1, **overrides})
    before = rss()
    run_experiment(cfg)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    parts = estimate_bytes(cfg)
    print(
        json.dumps(
            {
                "overrides": overrides,
                "measured_mb": round((peak - before) / 1e6),
                "estimate_mb": round(sum(parts.values()) / 1e6),
                "parts_mb": {k: round(v / 1e6) for k, v in parts.items()},
            }
        )
    )


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
