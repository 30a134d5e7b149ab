"""Bad input on the command line: every `--set` either is refused with exit code 2 and one line on
stderr (no traceback), or runs; a run that blows up ends as `diverged` with its partial trace.

Most cases call the CLI's `main` in-process (validation is fast); the values that pass validation
are then trained for one step on a tiny problem, and a handful of cases run as real subprocesses.
"""

from __future__ import annotations

import dataclasses

import pytest
from harness import eos

from eos_core import cli
from eos_core.analysis.results import Result
from eos_core.config import CHOICES, RunConfig

# A problem small enough that one step takes well under a second.
TINY = dict(
    dataset="synthetic",
    classes="0,1",
    n_per_class="8",
    image_size="4",
    m="1",
    k="2",
    width="8",
    steps="1",
    log_every="1",
    example_every="1",
)

INTS = [
    "0",
    "1",
    "-1",
    "2",
    "2147483647",
    "4294967295",
    "4294967296",
    "9007199254740993",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551616",
    "-9223372036854775809",
    "1" + "0" * 400,
    "9" * 5000,
    "1e3",
    "1.5",
    "0x10",
    "1_0",
    "１６０",
    "٣",
    "²",
    "",
    " ",
    "nan",
    "inf",
]
FLOATS = [
    "0",
    "-0.0",
    "5e-324",
    "2.2250738585072014e-308",
    "1.1754943508222875e-38",
    "1e-300",
    "1e308",
    "1.7976931348623157e308",
    "1e309",
    "-1e308",
    "nan",
    "-nan",
    "inf",
    "-inf",
    "Infinity",
    "１",
    "0x1p-1074",
    "1_0.0",
    "1e-3",
    "",
    "abc",
    "1" * 5000,
    "0." + "0" * 400 + "1",
]
STRINGS = ["", " ", "x" * 5000, "é", "mlp\nmlp", "None", "1", "\x00", "\u202ecuda"]
TUPLES = ["", ",", "0", "0,1,2", "1,0", "0,0", "x" * 5000 + ",1", "nan,1", "1e308", "１,2", "0,,1"]


def cases():
    for f in dataclasses.fields(RunConfig):
        if f.name in CHOICES:
            values = STRINGS + list(CHOICES[f.name])
        elif f.type == "int":
            values = INTS
        elif f.type == "float":
            values = FLOATS
        else:
            values = TUPLES
        for value in values:
            yield f.name, value


CASES = list(cases())
FIELD_TYPES = {f.name: f.type for f in dataclasses.fields(RunConfig)}


def call_main(capsys, args: list[str]) -> tuple[int, str]:
    """Run the CLI in-process; an exception escaping main is a failure (it would be a traceback)."""
    try:
        code = cli.main(args)
    except SystemExit as stop:  # argparse's own usage errors
        code = stop.code
    out = capsys.readouterr()
    return code, out.err


def tiny_args(field: str, value: str, out) -> list[str]:
    sets = [f"{k}={v}" for k, v in TINY.items() if k != field] + [f"{field}={value}"]
    return [
        "run",
        "--preset",
        "teach-selective",
        "--quiet",
        "--out",
        str(out),
        *[a for s in sets for a in ("--set", s)],
    ]


def assert_one_clear_line(code: int, err: str, what: str) -> None:
    lines = err.strip("\n").split("\n")
    assert code == 2, f"{what}: exit code {code}, stderr {err[-2000:]!r}"
    assert len(lines) == 1 and lines[0].startswith("error: "), f"{what}: {err[-2000:]!r}"
    assert "Traceback" not in err and len(lines[0]) < 700, f"{what}: {lines[0][:800]!r}"


def test_every_field_is_fuzzed():
    assert {name for name, _ in CASES} == {f.name for f in dataclasses.fields(RunConfig)}


@pytest.mark.training
def test_fuzzed_sets_are_refused_in_one_line_or_run(capsys, tmp_path, monkeypatch):
    """Pass 1 validates every case (training replaced by a recorder); pass 2 trains the accepted
    values at the edges for one step: each must end done, no_onset or diverged, never raise."""
    from eos_core.science import experiment

    accepted = {}

    def record(cfg, progress=None):
        accepted.setdefault(cfg.config_hash(), (field, value))
        raise _Accepted

    monkeypatch.setattr(experiment, "run_experiment", record)
    for field, value in CASES:
        what = f"{field}={value[:40]!r}"
        try:
            code, err = call_main(capsys, tiny_args(field, value, tmp_path / "unused"))
        except _Accepted:
            continue
        assert_one_clear_line(code, err, what)
    monkeypatch.undo()

    to_train = edges(accepted.values())
    assert 10 <= len(to_train) <= 40, to_train  # keeps this test short
    for i, (field, value) in enumerate(to_train):
        what, out = f"{field}={value[:40]!r}", tmp_path / f"run{i}"
        try:
            code, err = call_main(capsys, tiny_args(field, value, out))
        except Exception as error:  # noqa: BLE001 — name the case, not just the exception
            pytest.fail(f"{what} raised {type(error).__name__}: {error}")
        if code == 2:  # valid, but refused when run: a dataset whose files are not on this machine
            assert_one_clear_line(code, err, what)
            assert "not found" in err and "--download" in err, f"{what}: {err[-2000:]!r}"
            continue
        status = Result.load(out).meta["status"]
        assert (code, status) in {(0, "done"), (0, "no_onset"), (3, "diverged")}, f"{what}: {code} {status}"


class _Accepted(Exception):
    pass


def edges(accepted) -> list[tuple[str, str]]:
    """Every accepted choice; per number field the accepted value of largest magnitude, and for
    floats also the smallest (where overflow, underflow and divergence live)."""
    by_field = {}
    for field, value in accepted:
        by_field.setdefault(field, []).append(value)
    chosen = []
    for field, values in by_field.items():
        if field in CHOICES:
            chosen += [(field, v) for v in values if v != TINY.get(field)]
            continue

        def magnitude(v):
            return max((abs(float(x)) for x in v.split(",") if x), default=0.0)

        values = sorted(values, key=magnitude)
        ends = {values[-1]: 0} if FIELD_TYPES[field] == "int" else {values[0]: 0, values[-1]: 0}
        chosen += [(field, v) for v in ends if v != TINY.get(field)]
    return chosen


# --- the reported repros, each named -----------------------------------------------------------

REFUSED = [
    (["lr=5e-324"], "lr=5e-324 is invalid"),
    (["c=5e-324"], "c=5e-324 is invalid"),
    (["seed=18446744073709551616"], "0 ≤ seed < 4294967296"),
    (["width=1000000000000"], "memory"),
    (["image_size=100000"], "memory"),
    (["model=cnn", "image_size=1"], "the CNN needs inputs of at least 12×12"),
    (["steps=１６０"], "ASCII"),
    (["lr=nan"], "finite"),
    (["alpha=inf"], "finite"),
    (["colour=red"], "unknown field"),
    (["steps=ten"], "steps='ten'"),
    (["lr"], "key=value"),
    (["dataset=" + "x" * 100_000], "characters"),
]


@pytest.mark.parametrize("sets,message", REFUSED, ids=[" ".join(s)[:40] for s, _ in REFUSED])
def test_reported_bad_inputs_are_one_line(capsys, tmp_path, sets, message):
    code, err = call_main(
        capsys, ["run", "--quiet", "--out", str(tmp_path / "r"), *[a for s in sets for a in ("--set", s)]]
    )
    assert_one_clear_line(code, err, " ".join(sets)[:60])
    assert message in err


def test_memory_refusal_names_the_estimate_and_what_is_available(capsys, tmp_path):
    code, err = call_main(capsys, ["run", "--quiet", "--out", str(tmp_path / "r"), "--set", "width=1000000000000"])
    assert code == 2
    assert "needs an estimated" in err and "available" in err and "width" in err


@pytest.mark.parametrize("setting", ["alpha=1e308", "init_scale=1e308"])
def test_divergence_at_step_zero_is_a_diverged_result(capsys, tmp_path, setting):
    out = tmp_path / "r"
    code = cli.main(tiny_args(setting.split("=")[0], setting.split("=")[1], out))
    text = capsys.readouterr().out
    assert code == 3 and "status: diverged" in text
    result = Result.load(out)
    assert result.meta["status"] == "diverged" and "step 0" in result.meta["message"]
    assert len(result.trace) == 0 and result.meta["t_star"] is None


# --- a handful as a user runs them ---------------------------------------------------------------


@pytest.mark.parametrize(
    "setting", ["seed=18446744073709551616", "width=1000000000000", "steps=１６０", "model=cnn --set image_size=1"]
)
@pytest.mark.process
def test_refusals_as_a_process(tmp_path, setting):
    done = eos("run", "--quiet", "--out", str(tmp_path / "r"), *("--set " + setting).split())
    assert_one_clear_line(done.returncode, done.stderr, setting)


@pytest.mark.process
def test_cuda_without_a_gpu_is_one_line(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    done = eos("run", "--quiet", "--out", str(tmp_path / "r"), "--set", "device=cuda")
    assert_one_clear_line(done.returncode, done.stderr, "device=cuda")
    assert "no CUDA device" in done.stderr


@pytest.mark.process
def test_divergence_at_step_zero_as_a_process(tmp_path):
    out = tmp_path / "r"
    done = eos(*tiny_args("alpha", "1e308", out))
    assert done.returncode == 3 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "status: diverged" in done.stdout


@pytest.mark.parametrize(
    "args,message",
    [
        (["run", "--bogus"], "unrecognized arguments: --bogus"),
        (["nosuch"], "invalid choice: 'nosuch'"),
        (["run", "--preset", "nope"], "invalid choice: 'nope'"),
        (["chaos", "--jobs", "many"], "invalid int value: 'many'"),
    ],
)
def test_usage_errors_are_one_line_naming_the_help(capsys, args, message):
    with pytest.raises(SystemExit) as stop:
        cli.main(args)
    err = capsys.readouterr().err
    assert_one_clear_line(stop.value.code, err, " ".join(args))
    assert message in err and "--help" in err


@pytest.mark.parametrize(
    "seeds,message",
    [
        ("0-99999999999", "at most 1000 seeds"),
        ("5-3", "empty range"),
        ("4294967296", "0 ≤ seed < 4294967296"),
        ("1-" + "9" * 5000, "is invalid"),
    ],
)
def test_sweep_seeds_are_checked_before_any_list_is_built(capsys, seeds, message):
    code, err = call_main(capsys, ["sweep", "--seeds", seeds])
    assert_one_clear_line(code, err, seeds[:60])
    assert message in err
