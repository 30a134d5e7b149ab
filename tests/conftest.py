"""Isolation for the whole test session: no test may touch ./cache or leave a worker running."""
import os
import signal
import sys

import pytest


@pytest.fixture(scope="session", autouse=True)
def isolated_store(tmp_path_factory):
    saved = {k: os.environ.get(k) for k in ("EOS_CACHE_DIR", "EOS_AUTOSTART_WORKER")}
    os.environ["EOS_CACHE_DIR"] = str(tmp_path_factory.mktemp("session-cache"))
    os.environ["EOS_AUTOSTART_WORKER"] = "0"      # tests that want a worker start one themselves
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(autouse=True)
def no_installed_datasets(monkeypatch):
    """Datasets a system package installed (Debian's Fashion-MNIST) stay out of tests, so what a
    test sees — the first-launch presets above all — does not depend on the machine; a test that
    wants them patches idx.package_folders itself, and real-data tests use EOS_DATA_DIR."""
    from eos_core.datasets import idx
    monkeypatch.setattr(idx, "package_folders", lambda package: ())


@pytest.fixture(autouse=True)
def keep_main_module(monkeypatch):
    """Streamlit's AppTest leaves its script as sys.modules["__main__"]; a spawned process (the
    sweep's pool) re-runs __main__'s file, so a test app that raises would kill the pool's workers."""
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])


def stop_worker(cache_dir) -> None:
    """Kill the worker a test's dashboard started in `cache_dir`, if any."""
    from eos_core.runs.queue import Queue

    queue = Queue(cache_dir)
    record = queue.worker()
    queue.close()
    if record and record.get("pid"):
        try:
            os.kill(record["pid"], signal.SIGKILL)
        except ProcessLookupError:
            pass
