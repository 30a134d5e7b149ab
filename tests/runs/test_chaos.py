"""The fault-injection check itself (`python -m eos_core chaos`), small: two jobs, real worker
processes killed and paused at random, every result compared bit for bit with an uninterrupted run."""

import pytest

from eos_core.tools.chaos import default_steps, run_chaos


def test_jobs_outlast_the_injection_schedule():
    assert default_steps(8, 100) == 13 * default_steps(8, 1) and default_steps(2, 4) == 2 * default_steps(2, 1)


@pytest.mark.process
@pytest.mark.training
def test_kills_and_pauses_leave_every_job_finished_once_and_identical():
    report = run_chaos(jobs=2, injections=4, pause=True, seed=1)
    assert report["injections"] >= 1, report
    assert report["finished"] == report["identical"] == 2, report
    assert report["trained_twice"] == 0 and report["lost"] == 0, report
    assert "store" not in report  # the evidence folder is kept only when something went wrong
