"""The reference flows a run may add from the fork (`--set flows=gradient`): each flow's branch
name and the function that integrates it from the state at t*. A new flow is one entry in FLOWS.

Every flow function has the signature (setup, cfg, fork, progress, measure) → Branch: it logs on
the exit branch's grid (its step s stands for the exit branch's effective time at s), runs the
diagnostics at logged steps, passes `measure` (the distance to the EoS branch) its θ there, and
fills `Branch.info` (status, method, error) for the result's meta.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from eos_core.config import RunConfig
from eos_core.science.branching import Branch, ForkState, Setup
from eos_core.science.central_flow import run_central_flow
from eos_core.science.gradient_flow import run_gradient_flow


@dataclass(frozen=True)
class Flow:
    branch: str  # the branch name in the result's tables
    run: Callable[..., Branch]


FLOWS = {
    "gradient": Flow("gradient_flow", run_gradient_flow),
    "central": Flow("central_flow", run_central_flow),
}


def run_flows(setup: Setup, cfg: RunConfig, fork: ForkState, progress=None, new_measure=None) -> list[Branch]:
    """The branches of the flows `cfg.flows` asks for, in that order. `new_measure()` gives each
    flow its own measuring function (a fresh shadow of the EoS branch from the fork)."""
    missing = [name for name in cfg.flows if name not in FLOWS]
    if missing:
        raise ValueError(f"flows {', '.join(missing)} are not built into this version (it has {', '.join(FLOWS)})")
    return [FLOWS[name].run(setup, cfg, fork, progress, new_measure and new_measure()) for name in cfg.flows]
