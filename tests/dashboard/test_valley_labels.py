"""The Valley's iterate labels: iterates that land in one place (every other one, at EoS) share a label."""

import numpy as np

from dashboard.content.valley_plots import lag_labels


def test_iterates_landing_together_share_one_label_and_apart_keep_their_own():
    offsets = np.array([-0.0155, 0.0001, -0.0154, 0.0])  # t−1 … t−4: a period-2 bounce
    assert lag_labels(offsets, np.arange(1, 5), width=0.14) == ["t−1, t−3", "t−2, t−4", "", ""]
    assert lag_labels(np.array([-0.05, 0.05]), np.array([1, 2]), width=0.14) == ["t−1", "t−2"]
