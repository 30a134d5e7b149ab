"""Write the first-launch runs shipped with the package (eos_core/shipped/<preset>.zip): train each
teaching preset of `eos_core.runs.shipped.SHIPPED` with today's engine and store its result folder as
the store keeps it. Run it after a change to the engine or the presets moves their results; the slow
test tests/science/test_shipped.py says when that is needed.

    python scripts/ship_runs.py            # needs Fashion-MNIST on disk (see `eos data`)
"""

from __future__ import annotations

from eos_core.presets import preset
from eos_core.runs import shipped
from eos_core.science.experiment import run_experiment


def main() -> None:
    shipped.FOLDER.mkdir(exist_ok=True)
    total = 0
    for name in shipped.SHIPPED:
        blob = run_experiment(preset(name)).to_zip()
        shipped.path(name).write_bytes(blob)
        total += len(blob)
        print(f"{shipped.path(name)}: {len(blob) / 1e6:.2f} MB")
    print(f"shipped runs: {total / 1e6:.2f} MB in all")


if __name__ == "__main__":
    main()
