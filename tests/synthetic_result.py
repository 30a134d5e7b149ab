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


def synthetic_result(name="teach-selective", delta=None, upto=None, forked=True) -> Result:
    cfg = preset(name)
    delta = DELTA if delta is None else delta
    steps = range(0, cfg.steps + 1, cfg.log_every)
    base_time = {s: cfg.lr * s for s in steps}

    def base_lambda(s):
        if s < T_STAR or not forked:
            return 5 + (0.85 if forked else 0.5) * s
        return 45.0 if (s // cfg.log_every) % 2 == 0 else 49.0

    def group_loss(k, t_eff):
        return START_LOSS[k] - 0.02 * t_eff

    trace, groups = [], []
    for s in steps:
        t = base_time[s]
        trace.append(
            dict(
                branch="baseline",
                step=s,
                t_eff=t,
                lr=cfg.lr,
                loss=1 - s / 1000,
                loss_avg2=1 - s / 1000,
                lambda1=base_lambda(s),
                spearman_rho=-0.1 if s < T_STAR else 0.4,
            )
        )
        for k in GROUPS:
            groups.append(
                dict(
                    branch="baseline",
                    step=s,
                    t_eff=t,
                    group=k,
                    loss=group_loss(k, t),
                    loss_avg2=group_loss(k, t),
                    grad_norm=1.0,
                    cos2=COS2_AT_FORK[k] if s == T_STAR else 0.2,
                    curvature_influence=INFLUENCE[k],
                    Q=0.0,
                    R=0.0,
                )
            )
    if forked:
        for s in range(T_STAR, cfg.steps + 1, cfg.log_every):
            t = base_time[T_STAR] + cfg.c * cfg.lr * (s - T_STAR)
            trace.append(
                dict(
                    branch="exit",
                    step=s,
                    t_eff=t,
                    lr=cfg.c * cfg.lr,
                    loss=1 - s / 1000,
                    loss_avg2=1 - s / 1000,
                    lambda1=45.8 + 0.6 * (s - T_STAR),
                    spearman_rho=0.3,
                )
            )
            for k in GROUPS:
                loss = group_loss(k, t) + (delta[k] if s > T_STAR else 0.0)
                groups.append(
                    dict(
                        branch="exit",
                        step=s,
                        t_eff=t,
                        group=k,
                        loss=loss,
                        loss_avg2=loss,
                        grad_norm=1.0,
                        cos2=0.5,
                        curvature_influence=INFLUENCE[k],
                        Q=0.0,
                        R=0.0,
                    )
                )
    trace, groups = pd.DataFrame(trace), pd.DataFrame(groups)
    examples = pd.DataFrame(
        [
            dict(index=i, label=i % 2, original_label=i % 2, group=k, centroid_distance=DISTANCE[k])
            for i, k in enumerate(GROUPS * 5)
        ]
    )
    status = "done"
    if upto is not None:  # a running job's partial view: rows logged up to wall-clock order `upto`
        order = list(trace.itertuples())
        keep = order[:upto]
        trace = pd.DataFrame([r._asdict() for r in keep]).drop(columns="Index")
        groups = groups.merge(trace[["branch", "step"]], on=["branch", "step"])
        status = "running"
    has_exit = forked and (trace.branch == "exit").any()
    meta = {
        "config": cfg.to_dict(),
        "config_hash": cfg.config_hash(),
        "status": status if forked else "no_onset",
        "t_star": T_STAR if forked and trace.step.max() >= T_STAR else None,
        "t_star_star": T_STAR_STAR if has_exit and (trace[trace.branch == "exit"].step.max() >= T_STAR_STAR) else None,
        "onset_rule": {"rule": "t* = first logged step with λ1 ≥ 0.9·2/η"},
        "message": "",
    }
    return Result(meta, trace, groups, examples, {"baseline_steps": np.array([0])})
