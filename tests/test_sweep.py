"""ufm.sweep: grid files, vmapped solves equal to single solves, resume without loss or
duplicates, one-line errors with exit status 2 on bad input, and the Ray example."""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import types

import numpy as np
import pytest

from ufm.solvers import minimize
from ufm.spec import Problem
from ufm.sweep import Config, GridError, OutputError, loads_grid, main, parse_grid, run_sweep

EPS64 = np.finfo(np.float64).eps
ROOT = pathlib.Path(__file__).resolve().parents[1]

# 2 shapes (d = 3, 4) x 2 lambdas x 2 seeds = 8 configurations, 4 per compiled group
GRID = """
[grid]
loss = "ce"
classes = 3
per_class = 2
dim = [3, 4]
lambda = [5e-3, 2e-2]
lambda_b = 1e-3
seed = [0, 1]
"""


def _write(path, text):
    path.write_text(text)
    return str(path)


def _rows(path):
    return [json.loads(line) for line in pathlib.Path(path).read_text().splitlines()]


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """The tiny grid, swept once (compiles the two shape groups for the whole module)."""
    tmp = tmp_path_factory.mktemp("sweep")
    grid = _write(tmp / "grid.toml", GRID)
    out = str(tmp / "results.jsonl")
    status = main(["--grid", grid, "--out", out, "--quiet"])
    return grid, out, status


def test_grid_runs_and_every_row_is_verified(done):
    grid_path, out, status = done
    assert status == 0
    rows = _rows(out)
    grid = loads_grid(pathlib.Path(grid_path).read_text())
    assert len(rows) == 8 and {r["id"] for r in rows} == grid.ids
    assert {r["grid_hash"] for r in rows} == {grid.grid_hash}
    assert all(r["verdict"] == "verified" and r["solution"]["converged"] for r in rows)
    assert sorted({r["problem"]["dim"] for r in rows}) == [3, 4]
    for r in rows:  # each row carries its problem and seed; the id is recomputable from them
        problem = Problem.from_dict(r["problem"])
        assert Config(problem, r["seed"]).id == r["id"]
        assert r["problem"]["lambda_w"] == r["problem"]["lambda_h"]


def test_vmapped_rows_equal_single_minimize(done):
    """The vmapped solve from seed s reaches what minimize(seed=s) reaches."""
    _, out, _ = done
    for row in _rows(out)[:2]:
        problem = Problem.from_dict(row["problem"])
        single = minimize(problem, seed=row["seed"])
        f = row["solution"]["objective"]
        assert abs(f - single.objective) <= 1e3 * EPS64 * abs(single.objective)


def test_rerun_skips_everything(done, tmp_path, capsys):
    grid, out, _ = done
    copy = tmp_path / "r.jsonl"
    copy.write_bytes(pathlib.Path(out).read_bytes())
    assert main(["--grid", grid, "--out", str(copy), "--quiet"]) == 0
    assert copy.read_bytes() == pathlib.Path(out).read_bytes()
    assert "0 solved now, 8 already done" in capsys.readouterr().out


def test_interrupted_sweep_resumes_without_loss_or_duplicates(done, tmp_path):
    grid, out, _ = done
    lines = pathlib.Path(out).read_bytes().splitlines(keepends=True)
    partial = tmp_path / "r.jsonl"
    partial.write_bytes(b"".join(lines[:5]) + lines[5][: len(lines[5]) // 2])  # torn last line
    assert main(["--grid", grid, "--out", str(partial), "--quiet"]) == 0
    new = partial.read_bytes().splitlines(keepends=True)
    assert new[:5] == lines[:5]  # finished rows kept as they were
    rows = [json.loads(line) for line in new]
    assert len(rows) == 8 and len({r["id"] for r in rows}) == 8
    assert {r["id"] for r in rows} == {json.loads(line)["id"] for line in lines}
    assert all(r["verdict"] == "verified" for r in rows)


def test_output_of_another_grid_is_refused(done, tmp_path, capsys):
    grid, out, _ = done
    copy = tmp_path / "r.jsonl"
    copy.write_bytes(pathlib.Path(out).read_bytes())
    other = _write(tmp_path / "other.toml", GRID.replace("seed = [0, 1]", "seed = [0, 1, 2]"))
    assert main(["--grid", other, "--out", str(copy), "--quiet"]) == 2
    line = _one_line(capsys.readouterr().err)
    old, new = loads_grid(GRID).grid_hash, loads_grid(pathlib.Path(other).read_text()).grid_hash
    assert line.startswith(f"error: --out {copy}: was written by another grid (hash {old}), "
                           f"expected {new}")
    assert copy.read_bytes() == pathlib.Path(out).read_bytes()


def test_tolerance_out_of_reach_exits_1(done, tmp_path, capsys):
    """A gtol no solver can reach: every row is reported not converged, exit status 1."""
    grid = _write(tmp_path / "g.toml", GRID + "\n[solver]\ngtol = 1e-300\n")
    out = tmp_path / "r.jsonl"
    assert main(["--grid", grid, "--out", str(out), "--quiet"]) == 1
    assert {r["verdict"] for r in _rows(out)} == {"not-converged"}
    assert "not-converged 8" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[grid]\ndim = [3,\n", "not valid TOML"),
        ("[grid]\nlamda_w = 1e-3\n", "[grid] unknown key 'lamda_w': expected one of"),
        ("[grid]\nlambda_w = -1\n", "[grid] lambda_w = -1: expected a finite number > 0"),
        ("[grid]\nlambda = [1e-3, -1.0]\n", "[grid] lambda = -1.0: expected a finite number > 0"),
        ("[grid]\ndim = [8, 0]\n", "[grid] dim = 0: expected an integer d >= 1"),
        ("[grid]\nloss = \"hinge\"\n", "[grid] loss = \"hinge\": expected one of"),
        ("[grid]\nseed = [-1]\n", "[grid] seed = -1: expected an integer in [0, 2^31)"),
        ("[grid]\nalpha = 0.1\n", "[grid] alpha = 0.1: applies only to loss ls or maxsup"),
        ("[grid]\nbias = false\nlambda_b = 0.1\n", "lambda_b = 0.1: applies only with bias"),
        ("[grid]\nclasses = 3\nper_class = [[1, 2]]\n", "[grid] per_class = [1, 2]: expected"),
        ("[grid]\nlambda = 1e-3\nlambda_w = 1e-3\n", "lambda and lambda_w"),
        ("[grid]\n[solver]\ndtype = \"float16\"\n", "[solver] dtype = \"float16\""),
        ("[grid]\n[solver]\nmax_iters = 0\n", "[solver] max_iters = 0: expected an integer >= 1"),
        ("[grid]\nseed = {start = 0}\n", "seed = {start = 0}: expected"),
        ("[solver]\nmax_iters = 10\n", "no [grid] table"),
        ("[grids]\ndim = 3\n", "unknown table or key 'grids'"),
    ],
)
def test_bad_grid_exits_2_with_one_line(tmp_path, capsys, text, expected):
    grid = _write(tmp_path / "bad.toml", text)
    out = tmp_path / "r.jsonl"
    assert main(["--grid", grid, "--out", str(out), "--quiet"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"error: --grid {grid}: ") and expected in line, line
    assert not out.exists()  # rejected before anything is solved or written


def test_bad_output_and_flags_exit_2(tmp_path, capsys):
    grid = _write(tmp_path / "g.toml", GRID)
    cases = [
        (["--out", str(tmp_path / "missing" / "r.jsonl")], "does not exist"),
        (["--out", str(tmp_path)], "is a directory"),
        (["--out", _write(tmp_path / "junk.jsonl", "hello\n")], "line 1 is not a ufm.sweep row"),
        (["--out", str(tmp_path / "r.jsonl"), "--batch-size", "0"], "expected an integer >= 1"),
        (["--out", str(tmp_path / "r.jsonl"), "--shard", "2/2"], "expected I/M"),
    ]
    for extra, expected in cases:
        assert main(["--grid", grid, "--quiet", *extra]) == 2
        line = _one_line(capsys.readouterr().err)
        assert line.startswith("error: ") and expected in line, line
    assert main(["--grid", str(tmp_path / "nope.toml"), "--out", "x.jsonl"]) == 2
    assert "cannot be read" in _one_line(capsys.readouterr().err)


def test_grid_format_ranges_shorthand_union_and_stable_ids():
    text = """
[[grid]]
loss = "ls"
classes = 3
per_class = [2, [1, 2, 3]]
dim = 4
alpha = {start = 0.0, stop = 0.2, num = 3}
lambda = {start = 1e-4, stop = 1e-2, num = 3, spacing = "log"}
seed = {start = 5, count = 2}

[[grid]]
dim = 4
per_class = 2
classes = 3
loss = "ls"
lambda = 1e-3
alpha = 0.1
seed = 5

[solver]
dtype = "float32"
"""
    grid = loads_grid(text)
    assert len(grid.configs) == 2 * 3 * 3 * 2  # the second table repeats one configuration
    lams = sorted({c.problem.lambda_w for c in grid.configs})
    np.testing.assert_allclose(lams, [1e-4, 1e-3, 1e-2], rtol=4 * EPS64)
    assert {c.problem.alpha for c in grid.configs} == {0.0, 0.1, 0.2}
    assert {c.seed for c in grid.configs} == {5, 6}
    assert {c.dtype for c in grid.configs} == {"float32"}
    assert {c.problem.counts for c in grid.configs} == {(2, 2, 2), (1, 2, 3)}
    assert all(c.problem.lambda_w == c.problem.lambda_h for c in grid.configs)
    # ids and the grid hash depend on the configurations only, not on how the file lists them
    data = {"grid": {"seed": [1, 0], "dim": 3, "classes": 3, "per_class": 2}}
    swapped = {"grid": {"per_class": 2, "classes": 3, "dim": 3, "seed": [0, 1]}}
    a, b = parse_grid(data), parse_grid(swapped)
    assert a.grid_hash == b.grid_hash and a.ids == b.ids
    assert parse_grid(data, dtype="float32").grid_hash != a.grid_hash
    # shards partition the grid, keeping shape groups contiguous
    shards = [grid.shard(i, 4) for i in range(4)]
    assert [c.id for s in shards for c in s] == [c.id for c in grid.configs]
    with pytest.raises(GridError, match="per_class"):
        parse_grid({"grid": {"per_class": [[1, 2]], "classes": 3}})


def test_locked_or_foreign_output_raises(done, tmp_path):
    grid_path, out, _ = done
    grid = loads_grid(pathlib.Path(grid_path).read_text())
    other = loads_grid(GRID.replace("dim = [3, 4]", "dim = 3"))
    with pytest.raises(OutputError, match="was written by another grid"):
        run_sweep(other, out, progress=False)
    import fcntl

    fd = os.open(out, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(OutputError, match="locked"):
            run_sweep(grid, out, progress=False)
    finally:
        os.close(fd)


def _load_example():
    spec = importlib.util.spec_from_file_location("ray_sweep", ROOT / "examples" / "ray_sweep.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ray_example_without_ray_exits_0(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    example = _load_example()
    assert example.main(["--grid", "g.toml", "--out-dir", str(tmp_path)]) == 0
    assert "pip install ray" in capsys.readouterr().out


def test_ray_example_runs_shards_and_merges(done, monkeypatch, tmp_path, capsys):
    """The example's task/merge logic, with a stand-in for Ray that runs tasks in-process."""
    grid, out, _ = done

    class _Remote:
        def __init__(self, fn):
            self.fn = fn

        def remote(self, *args):
            return self.fn(*args)

    fake = types.SimpleNamespace(
        is_initialized=lambda: False, init=lambda address=None: None, shutdown=lambda: None,
        remote=lambda **opts: _Remote, get=lambda refs: list(refs))
    monkeypatch.setitem(sys.modules, "ray", fake)
    example = _load_example()
    assert example.main(["--grid", grid, "--out-dir", str(tmp_path), "--shards", "2"]) == 0
    merged = _rows(tmp_path / "results.jsonl")
    assert sorted(r["id"] for r in merged) == sorted(r["id"] for r in _rows(out))
    for i in range(2):
        assert len(_rows(tmp_path / f"shard-{i}-of-2.jsonl")) == 4
    assert "0 solved now, 8 already done" in capsys.readouterr().out


@pytest.mark.slow
def test_sharded_over_two_devices(tmp_path):
    """With two (forced host) devices the batch axis is sharded and the rows are the same."""
    grid = _write(tmp_path / "g.toml", GRID.replace("dim = [3, 4]", "dim = 3"))
    out = tmp_path / "r.jsonl"
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    code = ("import jax, sys; from ufm.sweep import main; assert len(jax.devices()) == 2; "
            f"sys.exit(main(['--grid', {grid!r}, '--out', {str(out)!r}, '--quiet']))")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    rows = _rows(out)
    assert len(rows) == 4 and all(r["verdict"] == "verified" for r in rows)
    for row in rows[:1]:
        single = minimize(Problem.from_dict(row["problem"]), seed=row["seed"])
        f = row["solution"]["objective"]
        assert abs(f - single.objective) <= 1e3 * EPS64 * single.objective


def test_nonfinite_lanes_give_json_rows_without_nan():
    """A lane that blew up is reported not converged, with null where a number is undefined."""
    from ufm.objective import Params
    from ufm.solvers import ArraysResult, Status
    from ufm.sweep import _rows

    config = Config(Problem(3, 2, 3, lambda_w=5e-3, lambda_h=5e-3), seed=0)
    nan = np.full((1,), np.nan)
    out = ArraysResult(
        params=Params(np.full((1, 3, 3), np.nan), np.ones((1, 3, 6)), np.zeros((1, 3))),
        objective=nan, grad_norm=nan, status=np.array([int(Status.NONFINITE)]),
        first_order_iterations=np.array([7]), newton_iterations=np.array([0]),
        grad_evals=np.array([8]), func_evals=np.array([8]), hvp_evals=np.array([0]))
    (row,) = _rows([config], out, 1e-10, "h")
    json.dumps(row, allow_nan=False)
    assert row["verdict"] == "not-converged" and row["solution"]["status"] == "nonfinite"
    assert row["nc"] is None and row["solution"]["objective"] is None
    assert row["comparison"]["objective_gap"] is None


def test_foreign_file_is_never_modified(tmp_path, capsys):
    grid = _write(tmp_path / "g.toml", GRID)
    for text in ("notes without a newline", '{"a": 1}\nhalf a line'):
        out = _write(tmp_path / "notes.txt", text)
        assert main(["--grid", grid, "--out", out, "--quiet"]) == 2
        assert "error: --out" in _one_line(capsys.readouterr().err)
        assert pathlib.Path(out).read_text() == text
