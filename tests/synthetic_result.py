"""A hand-made Result whose every number is known by construction (no training): the narrative,
the story and the pages can be checked against exact values.

teach-selective's settings: η = 0.04 so 2/η = 50, f = 0.9, c = 0.25 so 2/(c·η) = 200.
Baseline λ1 = 5 + 0.85·step crosses 45 at step 48 (t*), then alternates 45 / 49 (0.90 / 0.98 of
2/η); the exit branch's λ1 = 45.8 + 0.6·(step − 48) crosses 180 at step 272 (t**). Exit losses
are the baseline's at equal effective time plus DELTA (so Δℓ_k is exactly DELTA after the fork).
"""

import numpy as np
import pandas as pd

from eos_core.analysis.results import Result
from eos_core.groups import GROUPS
from eos_core.presets import preset

T_STAR, T_STAR_STAR = 48, 272
DELTA = {"inlier": -0.02, "boundary": -0.01, "input_outlier": -0.2, "output_outlier": 0.03}
COS2_AT_FORK = {"inlier": 0.12, "boundary": 0.3, "input_outlier": 0.93, "output_outlier": 0.5}
INFLUENCE = {"inlier": 1e-4, "boundary": 1e-3, "input_outlier": 1e-2, "output_outlier": 3e-2}
DISTANCE = {"inlier": 2.0, "boundary": 3.0, "input_outlier": 12.0, "output_outlier": 2.1}
START_LOSS = {"inlier": 0.5, "boundary": 0.7, "input_outlier": 0.9, "output_outlier": 1.4}


def _start_loss(group: str, t_eff: float) -> float:
    return START_LOSS[group] - 0.02 * t_eff


def _trace_row(branch: str, step: int, t_eff: float, lr: float, lambda1: float, rho: float) -> dict:
    loss = 1 - step / 1000
    return dict(
        branch=branch, step=step, t_eff=t_eff, lr=lr, loss=loss, loss_avg2=loss, lambda1=lambda1, spearman_rho=rho
    )


def _group_rows(branch: str, step: int, t_eff: float, loss_of, cos2_of) -> list[dict]:
    return [
        dict(
            branch=branch,
            step=step,
            t_eff=t_eff,
            group=k,
            loss=loss_of(k),
            loss_avg2=loss_of(k),
            grad_norm=1.0,
            cos2=cos2_of(k),
            curvature_influence=INFLUENCE[k],
            Q=0.0,
            R=0.0,
        )
        for k in GROUPS
    ]


def _baseline(cfg, forked: bool) -> tuple[list, list]:
    trace, groups = [], []
    for s in range(0, cfg.steps + 1, cfg.log_every):
        t = cfg.lr * s
        if s < T_STAR or not forked:
            lambda1 = 5 + (0.85 if forked else 0.5) * s  # sharpening
        else:
            lambda1 = 45.0 if (s // cfg.log_every) % 2 == 0 else 49.0  # oscillating about 2/η
        trace.append(_trace_row("baseline", s, t, cfg.lr, lambda1, -0.1 if s < T_STAR else 0.4))
        cos2 = (lambda k: COS2_AT_FORK[k]) if s == T_STAR else (lambda k: 0.2)
        groups += _group_rows("baseline", s, t, lambda k, t=t: _start_loss(k, t), cos2)
    return trace, groups


def _exit(cfg, delta: dict) -> tuple[list, list]:
    trace, groups = [], []
    for s in range(T_STAR, cfg.steps + 1, cfg.log_every):
        t = cfg.lr * T_STAR + cfg.c * cfg.lr * (s - T_STAR)
        trace.append(_trace_row("exit", s, t, cfg.c * cfg.lr, 45.8 + 0.6 * (s - T_STAR), 0.3))
        shift = delta if s > T_STAR else dict.fromkeys(GROUPS, 0.0)
        groups += _group_rows("exit", s, t, lambda k, t=t, shift=shift: _start_loss(k, t) + shift[k], lambda k: 0.5)
    return trace, groups


def _meta(cfg, trace: pd.DataFrame, status: str, forked: bool) -> dict:
    exit_steps = trace[trace.branch == "exit"].step
    return {
        "config": cfg.to_dict(),
        "config_hash": cfg.config_hash(),
        "status": status if forked else "no_onset",
        "t_star": T_STAR if forked and trace.step.max() >= T_STAR else None,
        "t_star_star": T_STAR_STAR if forked and len(exit_steps) and exit_steps.max() >= T_STAR_STAR else None,
        "onset_rule": {"rule": "t* = first logged step with λ1 ≥ 0.9·2/η"},
        "message": "",
    }


def synthetic_result(name="teach-selective", delta=None, upto=None, forked=True, per_group=5) -> Result:
    cfg = preset(name)
    trace, groups = _baseline(cfg, forked)
    if forked:
        exit_trace, exit_groups = _exit(cfg, DELTA if delta is None else delta)
        trace, groups = trace + exit_trace, groups + exit_groups
    trace, groups = pd.DataFrame(trace), pd.DataFrame(groups)
    examples = pd.DataFrame(
        [
            dict(index=i, label=i % 2, original_label=i % 2, group=k, centroid_distance=DISTANCE[k])
            for i, k in enumerate(GROUPS * per_group)
        ]
    )
    status = "done"
    if upto is not None:  # a running job's partial view: rows logged up to wall-clock order `upto`
        trace = pd.DataFrame([r._asdict() for r in list(trace.itertuples())[:upto]]).drop(columns="Index")
        groups = groups.merge(trace[["branch", "step"]], on=["branch", "step"])
        status = "running"
    return Result(_meta(cfg, trace, status, forked), trace, groups, examples, {"baseline_steps": np.array([0])})


def with_prototypes(result: Result, seed: int = 0) -> Result:
    """`result` with images of all its examples as tracked prototypes: 3×6×5 pixels drawn uniformly on
    [−7, 7], so some fall outside the synthetic display range [−5, 5] (the gallery paints them magenta)."""
    index = result.examples["index"].to_numpy()
    result.per_example["prototype_index"] = index
    result.per_example["prototype_pixels"] = np.random.default_rng(seed).uniform(-7, 7, (len(index), 3, 6, 5))
    return result


def with_checkpoints(result: Result, every: int = 24) -> Result:
    """`result` with per-example checkpoints every `every` steps on each branch (the exit branch's
    from t*), its first four examples tracked: at checkpoint step s, example i has loss
    s/1000 + i/100 and cos² s/10000 + i/1000, so any value shown names its step and example."""
    n = len(result.examples)
    arrays = {}
    for branch, rows in result.trace.groupby("branch"):
        steps = np.array([s for s in sorted(rows.step) if s % every == 0], dtype=np.int64)
        arrays[f"{branch}_steps"] = steps
        arrays[f"{branch}_loss"] = (steps[:, None] / 1000 + np.arange(n) / 100).astype(np.float32)
        arrays[f"{branch}_cos2"] = (steps[:, None] / 10000 + np.arange(n) / 1000).astype(np.float32)
    arrays["prototype_index"] = np.arange(4, dtype=np.int64)
    arrays["prototype_pixels"] = np.zeros((4, 1, 2, 2), dtype=np.float32)
    result.per_example = arrays
    return result
