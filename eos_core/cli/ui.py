"""`eos dashboard`: start the Streamlit app, as `tensorboard` or `mlflow ui` start theirs.

The app and its Streamlit settings are found in the installed `dashboard` package (without
importing it, Streamlit or torch here): dashboard/app.py, and dashboard/streamlit.toml, the one
file of settings (the repository's .streamlit/config.toml links to it for a plain `streamlit run`
from the checkout). They are passed as `--section.key=value` flags, so the command behaves the same
from any folder; arguments after `dashboard` go on to `streamlit run` and win over the file.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import sys
import tomllib


def add_dashboard(sub) -> None:
    dashboard = sub.add_parser(
        "dashboard",
        help="start the dashboard (http://localhost:8501); further arguments go to `streamlit run`, "
        "e.g. --server.port 8502",
        description="Start the Streamlit dashboard with the project's settings (dashboard/streamlit.toml). "
        "Arguments after `dashboard` are passed on to `streamlit run`, e.g. --server.port 8502.",
    )
    dashboard.set_defaults(func=cmd_dashboard, pass_through=True)


def cmd_dashboard(args) -> int:
    command = streamlit_command(args.passed)
    sys.stdout.flush()
    os.execv(command[0], command)
    return 0  # not reached: the process is Streamlit's now


def dashboard_folder() -> pathlib.Path:
    """The installed `dashboard` package's folder, found without importing the package."""
    spec = importlib.util.find_spec("dashboard")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("the dashboard package is not installed beside eos_core")
    return pathlib.Path(spec.origin).resolve().parent


def config_flags(path: pathlib.Path) -> list[str]:
    """A Streamlit config file's settings as `streamlit run` flags (`--server.headless=true`)."""
    with open(path, "rb") as handle:
        settings = tomllib.load(handle)
    return [
        f"--{section}.{key}={flag_value(value)}"
        for section, options in settings.items()
        for key, value in options.items()
    ]


def flag_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def streamlit_command(passed: list[str]) -> list[str]:
    """`python -m streamlit run dashboard/app.py` with the project's settings, then `passed`."""
    folder = dashboard_folder()
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(folder / "app.py"),
        *config_flags(folder / "streamlit.toml"),
        *passed,
    ]
