"""Print how close a run's central flow came: per group, the median relative error of the predicted
ℓ̂_k against the EoS branch's ℓ̄_k over [t*, end], and the Δℓ_k it implies beside the measured one.

    python scripts/central_flow_report.py RUN_FOLDER [RUN_FOLDER ...]
"""

import sys

from eos_core.analysis import central
from eos_core.analysis.results import Result

for folder in sys.argv[1:]:
    result = Result.load(folder)
    status = central.flow_status(result)
    print(f"{folder}: t* = {result.meta['t_star']}, flow {status.get('status', 'absent')} {status.get('message', '')}")
    print(central.summary(result).to_string(index=False, float_format=lambda v: f"{v:.4g}"))
