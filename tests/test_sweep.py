"""ufm.sweep: grid files, vmapped solves equal to single solves, rows whose verdicts are those of
``python -m ufm.solve``, one compile per shape group, resume without loss or duplicates (also
after a SIGKILL), one-line errors with exit status 2 on bad input, and the Ray example."""

import importlib.util
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import types

import numpy as np
import pytest

from ufm import batch
from ufm.solvers import minimize
from ufm.spec import Problem
from ufm.sweep import (
    SCHEMA,
    Config,
    GridError,
    OutputError,
    Timing,
    config_row,
    loads_grid,
    main,
    parse_grid,
    parse_rows,
    run_sweep,
    solve_configurations,
)

EPS64 = np.finfo(np.float64).eps
ROOT = pathlib.Path(__file__).resolve().parents[1]

# 2 shapes (d = 3, 4) x 2 lambdas x 2 seeds = 8 configurations, 4 per compiled group; with
# --batch-size 2 each group runs in 2 calls of 2 lanes (every test below uses 2 lanes, so the
# module compiles these two shapes once)
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
B2 = ["--batch-size", "2", "--quiet"]


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
    """The tiny grid, swept once from an empty compile cache (compiles the two shape groups for
    the whole module)."""
    tmp = tmp_path_factory.mktemp("sweep")
    grid = _write(tmp / "grid.toml", GRID)
    out = str(tmp / "results.jsonl")
    batch.clear_cache()
    summary = run_sweep(loads_grid(GRID, grid), out, batch_size=2, progress=False)
    return grid, out, summary


def test_grid_runs_and_every_row_is_verified(done):
    grid_path, out, summary = done
    assert summary.ok and summary.new == 8
    rows = _rows(out)
    grid = loads_grid(pathlib.Path(grid_path).read_text())
    assert len(rows) == 8 and {r["id"] for r in rows} == grid.ids
    assert {r["grid_hash"] for r in rows} == {grid.grid_hash}
    assert {r["schema"] for r in rows} == {SCHEMA}
    assert all(r["verdict"] == "verified" and r["solution"]["converged"] for r in rows)
    assert all(r["certificate"]["status"] == "certified" for r in rows)  # d >= K-1, CE
    assert all("imbalance" not in r and "label_noise" not in r for r in rows)
    assert sorted({r["problem"]["dim"] for r in rows}) == [3, 4]
    for r in rows:  # each row carries its problem and seed; the id is recomputable from them
        problem = Problem.from_dict(r["problem"])
        assert Config(problem, r["seed"]).id == r["id"]
        assert r["problem"]["lambda_w"] == r["problem"]["lambda_h"]


def test_one_compile_per_shape_group(done):
    """2 shape groups of 4 configurations at 2 lanes a call: 2 compiles, 4 calls."""
    *_, summary = done
    assert summary.groups == 2
    assert summary.timing.compiles == 2
    assert summary.timing.calls == 4
    # a second sweep of the same shapes (any hyper-parameters) compiles nothing
    timing = Timing()
    grid = loads_grid(GRID.replace("lambda = [5e-3, 2e-2]", "lambda = [7e-3, 3e-2]"))
    rows = [r for rows in solve_configurations(grid.configs, grid.grid_hash, batch_size=2,
                                               timing=timing) for r in rows]
    assert len(rows) == 8 and timing.compiles == 0 and timing.calls == 4


def test_batch_solve_many_keeps_order_and_validates(done):
    """ufm.batch.solve_many on interleaved shapes returns one result per problem, in order, equal
    to the sweep's lanes (same compiled calls: fixed 2-lane batches of the fixture's shapes)."""
    _, out, _ = done
    rows = _rows(out)
    rows = rows[::2] + rows[1::2]  # interleave the two shape groups
    problems = [Problem.from_dict(r["problem"]) for r in rows]
    timing = batch.Timing()
    results = batch.solve_many(problems, [r["seed"] for r in rows], batch_size=2,
                               fixed_lanes=True, timing=timing)
    assert timing.compiles == 0 and timing.calls == 4
    for row, problem, result in zip(rows, problems, results, strict=True):
        assert result.params.H.shape == (problem.d, problem.N) and result.converged
        f = row["solution"]["objective"]  # the same compiled call, another lane position
        assert abs(result.objective - f) <= 4 * EPS64 * abs(f)
    p = problems[0]
    with pytest.raises(ValueError, match="one static key"):
        batch.solve_batch([p, p.replace(dim=p.d + 1)], [0, 0])
    with pytest.raises(ValueError, match=r"seed=-1: expected an integer in \[0, 2\^31\)"):
        batch.solve_batch([p], [-1])
    with pytest.raises(ValueError, match="labels of shape"):
        batch.solve_batch([p], [0], [np.zeros(p.N + 1, dtype=np.int32)])
    with pytest.raises(ValueError, match="lanes=1"):
        batch.solve_batch([p, p], [0, 1], lanes=1)


def test_vmapped_rows_equal_single_minimize(done):
    """The vmapped solve from seed s reaches what minimize(seed=s) reaches."""
    _, out, _ = done
    for row in _rows(out)[:2]:
        problem = Problem.from_dict(row["problem"])
        single = minimize(problem, seed=row["seed"])
        f = row["solution"]["objective"]
        assert abs(f - single.objective) <= 1e3 * EPS64 * abs(single.objective)


# K = 4: imbalanced classes (clean, and label noise with two noise seeds: labels differ per lane
# of one call), d = 2 < K-1, and the MaxSup case of the audit (zero regime, ∇f at a kink)
AGREE = """
[[grid]]
loss = "ce"
per_class = [[50, 50, 5, 5]]
dim = 8
label_noise = [0.0, 0.1]
noise_seed = [3, 4]

[[grid]]
loss = "ce"
classes = 4
per_class = 3
dim = 2
lambda = 5e-3

[[grid]]
loss = "maxsup"
classes = 4
per_class = 3
dim = 4
lambda = 0.3
"""


def _solve_argv(config: Config) -> list[str]:
    """The python -m ufm.solve flags of a sweep configuration."""
    p = config.problem
    per_class = ",".join(map(str, p.counts)) if not p.balanced else str(p.n)
    argv = ["--loss", p.loss, "--classes", str(p.K), "--per-class", per_class, "--dim", str(p.d),
            "--lambda-w", repr(p.lambda_w), "--lambda-h", repr(p.lambda_h),
            "--seed", str(config.seed), "--dtype", config.dtype,
            "--max-iters", str(config.max_iters)]
    argv += ["--lambda-b", repr(p.lambda_b)] if p.bias else ["--no-bias"]
    if p.loss in ("ls", "maxsup"):
        argv += ["--alpha", repr(p.alpha)]
    if config.label_noise > 0:
        argv += ["--label-noise", repr(config.label_noise), "--noise-seed", str(config.noise_seed)]
    return argv


def test_rows_agree_with_ufm_solve():
    """Each row's checks are ufm.verify.verify's: the verdict, certificate, optimality basis and
    the imbalance / label-noise reports equal those of ufm.solve.run for the same settings."""
    from ufm.solve import build_parser, run

    grid = loads_grid(AGREE)
    assert len(grid.configs) == 5  # eta = 0 is one clean configuration, not one per noise seed
    timing = Timing()
    rows = [r for rows in solve_configurations(grid.configs, grid.grid_hash, timing=timing)
            for r in rows]
    assert timing.compiles == 3 and timing.calls == 3  # the 3 lanes of label noise: one call
    noisy = [c for c in grid.configs if c.label_noise > 0]
    assert len(noisy) == 2 and not np.array_equal(noisy[0].labels(), noisy[1].labels())
    by_id = {c.id: c for c in grid.configs}
    verdicts = {}
    for row in rows:
        config = by_id[row["id"]]
        report, status = run(build_parser().parse_args(_solve_argv(config)))
        assert row["verdict"] == report["verdict"], (row["problem"], row["verdict"])
        assert row["optimality_basis"] == report["optimality_basis"]
        assert row["certificate"]["status"] == report["certificate"]["status"]
        assert row["closed_form"]["available"] == report["closed_form"]["available"]
        assert row["solution"]["status"] == report["solution"]["status"]
        f, f_solve = row["objective_f64"], report["objective_f64"]
        assert abs(f - f_solve) <= row["tolerances"]["objective_rtol"] * abs(f_solve)
        assert ("imbalance" in row) == ("imbalance" in report) == (not config.problem.balanced)
        if "imbalance" in row:
            gram_rtol = row["tolerances"]["gram_rtol"]
            for key in ("minority_angle_deg", "majority_angle_deg", "norm_ratio"):
                assert row["imbalance"][key] == pytest.approx(report["imbalance"][key],
                                                              rel=gram_rtol)
        assert ("label_noise" in row) == ("label_noise" in report) == (config.label_noise > 0)
        if "label_noise" in row:
            assert row["label_noise"]["flipped"] == report["label_noise"]["flipped"] == round(
                0.1 * config.problem.N)
        assert row["problem"]["label_noise"] == config.label_noise
        verdicts[(config.problem.loss, config.problem.d, config.label_noise)] = row["verdict"]
        assert (status == 0) == (row["verdict"] in ("verified", "certified", "no-closed-form"))
    # no closed form for imbalanced classes: the duality gap certifies (d = 8 >= K-1) ...
    assert verdicts[("ce", 8, 0.0)] == verdicts[("ce", 8, 0.1)] == "certified"
    # ... but d = 2 < K-1 leaves it not tight: no closed form, and never a mismatch
    assert verdicts[("ce", 2, 0.0)] == "no-closed-form"


def test_rerun_skips_everything(done, tmp_path, capsys):
    grid, out, _ = done
    copy = tmp_path / "r.jsonl"
    copy.write_bytes(pathlib.Path(out).read_bytes())
    assert main(["--grid", grid, "--out", str(copy), *B2]) == 0
    assert copy.read_bytes() == pathlib.Path(out).read_bytes()
    assert "0 solved now, 8 already done" in capsys.readouterr().out


def test_interrupted_sweep_resumes_without_loss_or_duplicates(done, tmp_path):
    grid, out, _ = done
    lines = pathlib.Path(out).read_bytes().splitlines(keepends=True)
    partial = tmp_path / "r.jsonl"
    partial.write_bytes(b"".join(lines[:4]) + lines[4][: len(lines[4]) // 2])  # torn last line
    assert main(["--grid", grid, "--out", str(partial), *B2]) == 0
    new = partial.read_bytes().splitlines(keepends=True)
    assert new[:4] == lines[:4]  # finished rows kept as they were
    rows = [json.loads(line) for line in new]
    assert len(rows) == 8 and len({r["id"] for r in rows}) == 8
    assert {r["id"] for r in rows} == {json.loads(line)["id"] for line in lines}
    assert all(r["verdict"] == "verified" for r in rows)


def test_killed_sweep_resumes_without_loss_or_duplicates(done, tmp_path):
    """SIGKILL a real sweep process once its first rows are on disk (while the second shape group
    compiles), then rerun: the rows written before the kill are kept byte for byte, and every
    configuration ends up in the file exactly once."""
    grid, _, _ = done
    out = tmp_path / "r.jsonl"
    env = {**os.environ, "UFM_JAX_CACHE": "0"}  # no persistent cache: the second compile is real
    proc = subprocess.Popen([sys.executable, "-m", "ufm.sweep", "--grid", grid, "--out", str(out),
                             *B2], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while not (out.exists() and b"\n" in out.read_bytes()):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no row written within 300 s"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    before = out.read_bytes()
    kept = before[: before.rfind(b"\n") + 1]
    assert 1 <= kept.count(b"\n") < 8  # killed mid-way
    assert main(["--grid", grid, "--out", str(out), *B2]) == 0
    after = out.read_bytes()
    assert after.startswith(kept)
    rows = [json.loads(line) for line in after.splitlines()]
    ids = [r["id"] for r in rows]
    assert len(ids) == 8 and set(ids) == loads_grid(GRID).ids
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


def test_output_of_another_schema_is_refused(done, tmp_path, capsys):
    grid, out, _ = done
    text = pathlib.Path(out).read_text().replace(f'"schema": "{SCHEMA}"', '"schema": "ufm.sweep/1"')
    old = _write(tmp_path / "old.jsonl", text)
    assert main(["--grid", grid, "--out", old, "--quiet"]) == 2
    line = _one_line(capsys.readouterr().err)
    assert f"line 1 is a ufm.sweep/1 row; this ufm writes {SCHEMA} rows" in line, line
    assert pathlib.Path(old).read_text() == text


def test_tolerance_out_of_reach_exits_1(done, tmp_path, capsys):
    """A gtol no solver can reach: every row is reported not converged, exit status 1."""
    grid = _write(tmp_path / "g.toml", GRID + "\n[solver]\ngtol = 1e-300\n")
    out = tmp_path / "r.jsonl"
    assert main(["--grid", grid, "--out", str(out), *B2]) == 1
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
        ("[grid]\nbias = false\nlambda_b = 0.1\n", "lambda_b = 0.1: applies only with a bias"),
        ("[grid]\nbias = \"no\"\n", "[grid] bias = \"no\": expected true or false"),
        ("[grid]\nclasses = 3\nper_class = [[1, 2]]\n", "[grid] per_class = [1, 2]: expected"),
        ("[grid]\nper_class = [[5, 0, 5]]\n",
         "[grid] per_class = [5, 0, 5]: expected an integer n >= 1 or a list of 3 integers >= 1"),
        ("[grid]\nper_class = 2.5\n", "[grid] per_class = 2.5: expected an integer n >= 1"),
        ("[grid]\nlabel_noise = 1.0\n", "[grid] label_noise = 1.0: expected a noise level in [0, 1)"),
        ("[grid]\nlabel_noise = [0.1, -0.1]\n", "[grid] label_noise = -0.1: expected"),
        ("[grid]\nlabel_noise = 0.1\nnoise_seed = -1\n",
         "[grid] noise_seed = -1: expected an integer >= 0"),
        ("[grid]\nnoise_seed = 3\n", "[grid] noise_seed = 3: applies only with label_noise > 0"),
        ("[grid]\nclasses = 2\nper_class = 1\nlabel_noise = 0.5\n",
         "[grid] label_noise = 0.5: expected a noise level that leaves every class a sample"),
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
    assert "--" not in line[len(f"error: --grid {grid}: "):]  # grid keys, not CLI flags
    assert not out.exists()  # rejected before anything is solved or written


def test_bad_grid_values_in_a_real_process_exit_2(tmp_path):
    """python -m ufm.sweep itself: exit status 2, one line on stderr, no traceback."""
    for text in ("[grid]\nper_class = [[5, 0, 5]]\n", "[grid]\nlabel_noise = 1.0\n"):
        grid = _write(tmp_path / "bad.toml", text)
        proc = subprocess.run([sys.executable, "-m", "ufm.sweep", "--grid", grid, "--out",
                               str(tmp_path / "r.jsonl")], capture_output=True, text=True,
                              timeout=300)
        assert proc.returncode == 2, proc.stderr
        assert _one_line(proc.stderr).startswith(f"error: --grid {grid}: ")


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


def test_defaults_are_those_of_ufm_solve():
    """Unset keys take python -m ufm.solve's defaults (one source: its parser and
    problem_from_args)."""
    from ufm.solve import build_parser, problem_from_args

    (config,) = parse_grid({"grid": {}}).configs
    assert config.problem == problem_from_args(build_parser().parse_args([]))
    (ls,) = parse_grid({"grid": {"loss": "ls"}}).configs
    assert ls.problem == problem_from_args(build_parser().parse_args(["--loss", "ls"]))
    assert (config.seed, config.dtype, config.max_iters, config.label_noise) == (0, "float64",
                                                                               20_000, 0.0)


def test_label_noise_axis_and_ranges():
    grid = parse_grid({"grid": {"classes": 3, "per_class": 4, "dim": 2,
                                "label_noise": {"start": 0.0, "stop": 0.5, "num": 3},
                                "noise_seed": {"start": 7, "count": 2}}})
    pairs = sorted((c.label_noise, c.noise_seed) for c in grid.configs)
    assert pairs == [(0.0, 0), (0.25, 7), (0.25, 8), (0.5, 7), (0.5, 8)]
    for c in grid.configs:
        labels = c.labels()
        if c.label_noise == 0:
            assert labels is None
        else:  # exactly round(η N) flips (ufm.noise.flip_labels)
            assert int(np.sum(labels != c.problem.labels())) == round(c.label_noise * 12)


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


def test_ray_example_without_ray(done, monkeypatch, tmp_path, capsys):
    """Without Ray: a good grid exits 0 saying how to proceed; a bad grid or flag exits 2 with
    one line, checked before Ray is imported."""
    grid, _, _ = done
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    example = _load_example()
    assert example.main(["--grid", grid, "--out-dir", str(tmp_path)]) == 0
    assert "pip install ray" in capsys.readouterr().out
    bad = _write(tmp_path / "bad.toml", "[grid]\nlabel_noise = 1.0\n")
    for argv, expected in (
        (["--grid", bad, "--out-dir", str(tmp_path)], f"error: --grid {bad}: [grid] label_noise"),
        (["--grid", str(tmp_path / "nope.toml"), "--out-dir", str(tmp_path)], "cannot be read"),
        (["--grid", grid, "--out-dir", str(tmp_path), "--shards", "0"], "expected an integer >= 1"),
    ):
        assert example.main(argv) == 2
        captured = capsys.readouterr()
        assert expected in _one_line(captured.err) and captured.out == ""


def _fake_ray():
    """A stand-in for Ray that runs tasks in-process."""

    class _Remote:
        def __init__(self, fn):
            self.fn = fn

        def remote(self, *args):
            return self.fn(*args)

    return types.SimpleNamespace(
        is_initialized=lambda: False, init=lambda address=None: None, shutdown=lambda: None,
        remote=lambda **opts: _Remote, get=lambda refs: list(refs))


def test_ray_example_runs_shards_and_merges(done, monkeypatch, tmp_path, capsys):
    """The example's task/merge logic, with a stand-in for Ray."""
    grid, out, _ = done
    monkeypatch.setitem(sys.modules, "ray", _fake_ray())
    example = _load_example()
    argv = ["--grid", grid, "--out-dir", str(tmp_path), "--shards", "2", "--batch-size", "2"]
    assert example.main(argv) == 0
    merged = _rows(tmp_path / "results.jsonl")
    assert sorted(r["id"] for r in merged) == sorted(r["id"] for r in _rows(out))
    for i in range(2):
        assert len(_rows(tmp_path / f"shard-{i}-of-2.jsonl")) == 4
    assert "0 solved now, 8 already done" in capsys.readouterr().out


def test_ray_merge_skips_torn_lines_and_refuses_corrupt_ones(done, tmp_path, capsys, monkeypatch):
    """merge reads shard files by the resume rule: a torn last line is skipped (and solved again
    by the check run); a complete line that is not a row stops with exit 2 and one line."""
    grid_path, out, _ = done
    grid = loads_grid(pathlib.Path(grid_path).read_text(), grid_path)
    lines = pathlib.Path(out).read_bytes().splitlines(keepends=True)
    shard0, shard1 = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    shard0.write_bytes(b"".join(lines[:4]) + lines[4][:20])  # torn last line
    shard1.write_bytes(b"".join(lines[3:7]))  # overlaps shard 0 by one row
    merged = tmp_path / "m.jsonl"
    example = _load_example()
    assert example.merge([str(shard0), str(shard1), str(tmp_path / "none.jsonl")], str(merged),
                         grid) == 7
    assert merged.read_bytes() == b"".join(lines[:7])
    rows, end = parse_rows(shard0.read_bytes(), str(shard0), grid)
    assert len(rows) == 4 and end == len(b"".join(lines[:4]))
    shard1.write_bytes(lines[0] + b'{"id": "x"}\n')
    with pytest.raises(OutputError, match="line 2 is not a ufm.sweep row"):
        example.merge([str(shard0), str(shard1)], str(tmp_path / "m2.jsonl"), grid)
    # through main: the shard tasks themselves refuse the corrupt file (resume rule), exit 2
    monkeypatch.setitem(sys.modules, "ray", _fake_ray())
    outdir = tmp_path / "ray"
    outdir.mkdir()
    (outdir / "shard-1-of-2.jsonl").write_bytes(lines[4] + b"not json\n")
    assert example.main(["--grid", grid_path, "--out-dir", str(outdir), "--shards", "2",
                         "--batch-size", "2"]) == 2
    assert "line 2 is not a ufm.sweep row" in _one_line(capsys.readouterr().err)


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
    """A lane that blew up is reported not converged, with null checks (nothing to verify)."""
    from ufm.objective import Params
    from ufm.solvers import SolveResult

    config = Config(Problem(3, 2, 3, lambda_w=5e-3, lambda_h=5e-3), seed=0)
    nan = float("nan")
    result = SolveResult(
        params=Params(np.full((3, 3), np.nan), np.ones((3, 6)), np.zeros(3)), objective=nan,
        grad_norm=nan, converged=False, status="nonfinite", message="", iterations=7,
        first_order_iterations=7, newton_iterations=0, grad_evals=8, func_evals=8, hvp_evals=0,
        seconds=0.0, compile_seconds=0.0, dtype="float64", gtol=1e-10, seed=0)
    row = config_row(config, result, "h")
    json.dumps(row, allow_nan=False)
    assert row["verdict"] == "not-converged" and row["solution"]["status"] == "nonfinite"
    assert row["nc"] is None and row["certificate"] is None and row["comparison"] is None
    assert row["solution"]["objective"] is None and "not finite" in row["unverified"]


def test_foreign_file_is_never_modified(tmp_path, capsys):
    grid = _write(tmp_path / "g.toml", GRID)
    for text in ("notes without a newline", '{"a": 1}\nhalf a line'):
        out = _write(tmp_path / "notes.txt", text)
        assert main(["--grid", grid, "--out", out, "--quiet"]) == 2
        assert "error: --out" in _one_line(capsys.readouterr().err)
        assert pathlib.Path(out).read_text() == text
