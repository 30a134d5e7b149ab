"""Isolation for the whole test session (no test may touch ./cache or leave a worker running) and the
fixtures tests share. Plain helpers live in modules: harness (server, browser, AppTest), tiny (the tiny
problem and its reference computations), synthetic_result (a Result with known numbers)."""

import copy
import os
import signal
import sys

import pytest

# One OpenMP thread unless the caller chose: the tests' problems are tiny, so more threads only
# spin-wait, and on a small shared machine that tripled the quick tier's time (46 s → 162 s on 2
# cores). Set before anything imports torch; the processes tests start inherit it.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session", autouse=True)
def isolated_store(tmp_path_factory):
    saved = {k: os.environ.get(k) for k in ("EOS_CACHE_DIR", "EOS_AUTOSTART_WORKER")}
    os.environ["EOS_CACHE_DIR"] = str(tmp_path_factory.mktemp("session-cache"))
    os.environ["EOS_AUTOSTART_WORKER"] = "0"  # tests that want a worker start one themselves
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


@pytest.fixture
def store(tmp_path):
    """An empty Store in this test's own folder, closed afterwards."""
    from eos_core.runs.store import Store

    s = Store(tmp_path / "cache")
    yield s
    s.close()


@pytest.fixture
def queue(store):
    """The job queue over `store`."""
    from eos_core.runs.queue import Queue

    return Queue(store)


@pytest.fixture
def workers(store):
    """start(*args, **env) → a `python -m eos_core worker ARGS` process on `store`, with `env` added to
    its environment; every one still running at the end is killed (continued first, if paused)."""
    import subprocess

    from harness import ROOT

    started = []

    def start(*args, **env):
        env = {
            **os.environ,
            "EOS_CACHE_DIR": str(store.directory),
            "PYTHONPATH": str(ROOT),
            **{k: str(v) for k, v in env.items()},
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "eos_core", "worker", *args],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)
            process.kill()
        process.wait()


@pytest.fixture(scope="session")
def tiny_run():
    """tiny_run(cfg) → run_experiment(cfg), trained once a session for each config and handed out as
    a fresh copy (a test may change it). For tests that need a real result, not its training."""
    from eos_core.science.experiment import run_experiment

    done = {}

    def run(cfg):
        key = cfg.config_hash()
        if key not in done:
            done[key] = run_experiment(cfg)
        return copy.deepcopy(done[key])

    return run


@pytest.fixture(scope="session")
def make_cache(tmp_path_factory):
    """make_cache(*results) → a new cache folder holding those results, for a dashboard to open."""
    from eos_core.runs.store import Store

    def make(*results, name: str = "cache"):
        folder = tmp_path_factory.mktemp(name)
        store = Store(folder)
        for result in results:
            store.put_result(result)
        store.close()
        return folder

    return make
