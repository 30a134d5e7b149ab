"""Command line: `eos VERB ...` (or `python -m eos_core VERB ...`; `--help` on each).

Running here and now (running.py):
  run        train both branches and write a result folder
  fork       a new exit branch from a stored run's baseline at any logged step
  spectrum   the Hessian's spectral density at a logged step (stochastic Lanczos quadrature)
  presets    list the named configurations
  data       download a dataset's files
The job system (jobs.py):
  submit     queue a run
  status     list jobs, or show one
  cancel     cancel a queued or running job
  worker     run queued jobs from the store
  store      check the store and repair what is inconsistent
  sweep      run a preset over seeds and a grid
Reading results (analysis.py):
  report     which of the paper's claims C1–C8 result folders support
  regime     map stored runs over two axes
  valley     the loss along the top eigenvector at a valley checkpoint
Measuring the product (tools.py):
  bench      speed, memory and result size
  chaos      the job system under fault injection
The app (ui.py):
  dashboard  start the Streamlit dashboard

Each module contributes `add_<verb>(subparsers)` and the verb's handler; `parser()` puts them together.
"""

from __future__ import annotations

import argparse
import os
import sys

from eos_core.analysis.spectrum import SpectrumError
from eos_core.analysis.valley import ValleyError
from eos_core.cli import analysis, jobs, running, tools, ui
from eos_core.cli.common import Parser
from eos_core.config import ConfigError, ForkError
from eos_core.datasets.files import DatasetError
from eos_core.resources import ResourceError

# The verbs, in the order `--help` lists them.
VERBS = (
    running.add_run,
    running.add_fork,
    running.add_spectrum,
    tools.add_bench,
    jobs.add_worker,
    jobs.add_store,
    tools.add_chaos,
    jobs.add_submit,
    jobs.add_status,
    jobs.add_cancel,
    jobs.add_sweep,
    analysis.add_report,
    analysis.add_regime,
    analysis.add_valley,
    running.add_presets,
    running.add_data,
    ui.add_dashboard,
)


def parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="python -m eos_core",
        description=(
            "EoS Explorer: run the branching experiment of 'Edge of Stability Selectively Shapes "
            "Learning Across the Data Distribution' and measure its cost."
        ),
    )
    sub = p.add_subparsers(dest="command", required=True)
    for add in VERBS:
        add(sub)
    return p


# A user's mistake, reported as one line and exit code 2; anything else is a bug and keeps its traceback.
USER_ERRORS = (
    ConfigError,
    ForkError,
    SpectrumError,
    ValleyError,
    ResourceError,
    DatasetError,
    KeyError,
    FileNotFoundError,
)


def main(argv=None) -> int:
    p = parser()
    args, passed = p.parse_known_args(argv)  # only a verb that passes arguments on accepts unknown ones
    if passed and not getattr(args, "pass_through", False):
        p.error(f"unrecognized arguments: {' '.join(passed)}")
    args.passed = passed
    try:
        code = args.func(args)
        sys.stdout.flush()  # inside the try: a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:  # `eos presets | head` closed the pipe: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's advice: exit quietly
        return 0
    except USER_ERRORS as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 2
    except Exception as error:  # a damaged store index: one line on every verb, never a traceback
        from eos_core.runs.store import StoreDamaged, cache_dir, is_damage

        if is_damage(error):
            error = StoreDamaged(cache_dir(), str(error))
        if not isinstance(error, StoreDamaged):
            raise
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 2


def one_line(error: BaseException) -> str:
    text = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
    return " ".join(str(text).splitlines())
