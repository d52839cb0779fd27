"""``python -m ufm.sweep``: solve and verify a grid of UFM configurations, resumably.

Usage::

    python -m ufm.sweep --grid examples/grid.toml --out results.jsonl [--batch-size 256]
        [--dtype float64|float32] [--shard I/M] [--quiet]

Exit status: 0 when every configuration of the grid (or of the shard) is ``verified``,
``no-closed-form`` or ``certified``; 1 when any is ``mismatch`` or ``not-converged`` (a count per
verdict is printed); 2 on bad input, with one line on stderr: a grid file that does not parse, an
unknown key, an invalid value (named, before anything is solved), an output file written by
another grid or another row schema, an output file that cannot be written.

Grid file (TOML; reading it needs Python ≥ 3.11's ``tomllib``, or the ``tomli`` package)
-----------------------------------------------------------------------------------------
::

    [grid]                      # the cartesian product of every list below
    loss = "ce"                 # a scalar is a single value
    classes = 4
    per_class = [5, 10]         # a list is an axis: here two balanced sizes n = 5 and n = 10
    dim = 8
    lambda = [1e-3, 5e-3]       # shorthand: lambda_w = lambda_h = each value
    lambda_b = 0.0
    label_noise = [0.0, 0.1]    # fraction of labels flipped (ufm.noise.flip_labels)
    noise_seed = 0
    seed = {start = 0, count = 10}   # seeds 0..9 (a list of seeds works too)

    [solver]                    # optional; applies to every configuration
    dtype = "float64"           # or "float32"
    max_iters = 20000           # iteration budget (accelerated gradient plus Newton)
    # gtol = 1e-10              # relative stationarity tolerance; default eps^(2/3) of dtype

Keys of ``[grid]`` are the :class:`~ufm.spec.Problem` fields ``loss, classes, per_class, dim,
lambda_w, lambda_h, lambda_b, bias, alpha, gamma, target_scale, features``, plus ``lambda`` (sets
``lambda_w`` and ``lambda_h`` to the same value; not together with either), ``seed`` (the seed
of the random start, an integer in [0, 2³¹)), ``label_noise`` (η ∈ [0, 1), as
``--label-noise``) and ``noise_seed`` (an integer ≥ 0, as ``--noise-seed``). Each value is

* a scalar: one value;
* a list: one axis of the product. For ``per_class`` an element is an integer n (balanced) or a
  list of K counts, so imbalanced classes are written ``per_class = [[3, 4, 5, 6]]``;
* a range table: ``{start = a, stop = b, num = m, spacing = "log"}`` (``"log"`` or ``"linear"``,
  both ends included) for the real-valued keys, ``{start = 0, count = m}`` for ``seed`` and
  ``noise_seed``.

Each point of the product is turned into a problem by :func:`ufm.solve.problem_from_args`, the
function behind ``python -m ufm.solve``, so unset keys take the defaults of that CLI (loss ce,
classes 10 or the length of a ``per_class`` count list, per_class 20, dim 32,
λ_W = λ_H = λ_b = 5e-4, bias true, features free, α = 0.1 for ls/maxsup, γ = 3 for fl,
target_scale 1, seed 0, no label noise), and a setting that a configuration does not use is an
error rather than silently ignored: ``alpha`` with a loss other than ls/maxsup, ``gamma`` without
fl, ``target_scale`` without mse, ``lambda_b`` with ``bias = false``, ``noise_seed`` without
``label_noise``. A configuration with η = 0 has clean labels, so its noise seed is recorded as 0
(an η axis that includes 0 does not repeat the clean run once per noise seed). To sweep several
losses with their own settings, write several ``[[grid]]`` tables: the configurations of all of
them are concatenated (a configuration that appears twice is run once). A grid holds at most
1,000,000 configurations.

Identity, output and resume
---------------------------
Each configuration (problem, seed, label noise, dtype, max_iters, gtol) has a stable ``id``: the
first 16 hex digits of the SHA-256 of its canonical JSON (which includes the row ``schema``), so it
does not depend on the order of keys or lists in the file. The grid's ``grid_hash`` is the SHA-256
of its sorted ids. The output is JSON lines, one row per configuration, holding what the report
of ``python -m ufm.solve --json`` holds for the same settings (NaN written as null)::

    {"id", "grid_hash", "schema",
     "problem": Problem.to_dict() + {label_noise, noise_seed}, "seed",
     "solver": {dtype, max_iters, gtol},
     "solution": SolveResult.to_dict() without seconds and compile_seconds (timings of the
                 whole batched call, reported once in the summary),
     ...ufm.verify.verify(problem, result, labels): "closed_form", "comparison", "certificate",
        "objective_f64", "nc", "tolerances", "optimality_basis", "verdict",
     "label_noise": ufm.noise.noise_report(...)        (only when label_noise > 0),
     "imbalance": ufm.imbalance.minority_report(...)   (only for imbalanced classes)}

The checks and the verdict are those of :func:`ufm.verify.verify` called on each lane's
:class:`~ufm.solvers.SolveResult`, so a row and ``python -m ufm.solve`` with the same settings
give the same verdict. A lane whose point is not finite (the solver blew up) gets the verdict
``not-converged``, null checks and an ``unverified`` reason (there is nothing to verify).

Rows are appended a batch at a time with ``os.write`` on a file opened ``O_APPEND``: whole lines
only, then ``fsync``. A crash can therefore leave at most one truncated line, at the very end of
the file. On a rerun the file is read first (:func:`parse_rows`): rows of this grid are skipped,
and a last line without its newline is cut off the file and its configuration solved again, so an
interrupted sweep resumes without loss or duplicates. A row with another ``grid_hash`` or
``schema``, or any complete line that is not a row, stops the run with exit status 2 before the
file is touched. The file is locked (``flock``) while a sweep writes it. The exit status and the
printed counts cover every configuration of the grid (or shard), whether solved now or earlier.

Batching
--------
Configurations with the same signature (:func:`ufm.batch.static_key`: K, per-class counts, d,
bias, loss, features; plus dtype, max_iters, gtol) are solved together by
:func:`ufm.batch.solve_batch`: their hyper-parameters, seeds and labels (which differ between
lanes under label noise) are stacked and passed to one compiled ``jax.vmap`` of
``init_params(key(seed))`` followed by :func:`ufm.solvers.solve_arrays`, the starting point and
solver of :func:`ufm.solvers.minimize` with the same seed. The batch size is ``--batch-size``
(default 256) or, for the remainder, the next power of two (:func:`ufm.batch.bucket`), padded by
repeating a configuration, so a group compiles at most ⌈log₂ batch⌉ + 1 shapes, each once per
process. With several JAX devices the batch axis is sharded over all of them
(``jax.sharding.NamedSharding`` over a 1-D mesh ``("batch",)``). The vmapped solve runs every lane
until the slowest lane of the batch stops; each lane keeps its own result and status. The solve
of the next batch runs in a worker thread while the current batch is verified (one batch ahead).

Many machines
-------------
No scheduler of our own: shards of one grid are independent runs. ``--shard I/M`` (0 ≤ I < M)
selects the I-th of M contiguous, nearly equal slices of the grid (in the grouped order, so a
shard compiles few shapes). Run the M shards anywhere (a job array of any batch system, or Ray
tasks: ``examples/ray_sweep.py``, which runs them on a local Ray instance or on a cluster given
``--address``), each into its own file, then merge complete lines (``examples/ray_sweep.py``
does this with :func:`parse_rows`, dropping duplicates) and check completeness with one more run
on the merged file: ``python -m ufm.sweep --grid g.toml --out merged.jsonl`` solves whatever is
missing and prints the counts of the whole grid. Rows carry the hash of the whole grid, so shard
files and merged files stay checkable against it.

Python API
----------
:func:`load_grid` / :func:`loads_grid` / :func:`parse_grid` → :class:`Grid` (``configs``,
``grid_hash``, ``shard(I, M)``); :func:`run_sweep` (files, resume, progress) →
:class:`SweepSummary`; :func:`solve_configurations` yields the rows of each batch without touching
any file; :func:`parse_rows` reads an output file's bytes.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import itertools
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TextIO

import numpy as np

from ufm import batch
from ufm.progress import Progress
from ufm.solve import EXIT_FAIL, EXIT_OK, EXIT_USAGE, FLAG_OF, UsageError, _Parser
from ufm.spec import LOSSES, Problem, ProblemError, _finite_real, _is_int

SCHEMA = "ufm.sweep/2"
OK_VERDICTS = ("verified", "no-closed-form", "certified")
MAX_CONFIGS = 1_000_000
SEED_LIMIT = batch.SEED_LIMIT

PROBLEM_KEYS = ("loss", "classes", "per_class", "dim", "lambda_w", "lambda_h", "lambda_b", "bias",
                "alpha", "gamma", "target_scale", "features")
NOISE_KEYS = ("label_noise", "noise_seed")
GRID_KEYS = (*PROBLEM_KEYS, "lambda", *NOISE_KEYS, "seed")
SOLVER_KEYS = ("dtype", "max_iters", "gtol")
REAL_KEYS = ("lambda", "lambda_w", "lambda_h", "lambda_b", "alpha", "gamma", "target_scale",
             "label_noise")
SEED_KEYS = ("seed", "noise_seed")
# the keys of ufm.verify.verify's result, null in the row of a lane that is not finite
CHECK_KEYS = ("closed_form", "comparison", "certificate", "objective_f64", "nc", "tolerances",
              "optimality_basis")


class SweepError(ValueError):
    """Bad sweep input; ``str(error)`` is the one line the CLI prints after ``error: ``."""


class GridError(SweepError):
    """The grid file does not parse or holds an invalid setting (message starts with its path)."""


class OutputError(SweepError):
    """The output file cannot be used: unwritable, locked, corrupt or from another grid."""

    def __init__(self, path: str, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")


@functools.lru_cache(maxsize=1)
def _cli_defaults() -> dict[str, Any]:
    """Every default of ``python -m ufm.solve`` (its parser with no arguments)."""
    from ufm.solve import build_parser

    return dict(vars(build_parser().parse_args([])))


# ------------------------------------------------------------------------------- configurations
def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class Config:
    """One configuration of a sweep: a problem, the seed of its random start, label noise, solver
    settings. ``label_noise`` = η ∈ [0, 1) and ``noise_seed`` are those of
    :func:`ufm.noise.flip_labels` (``noise_seed`` is 0 when η = 0)."""

    problem: Problem
    seed: int = 0
    dtype: str = "float64"
    max_iters: int = 20_000
    gtol: float | None = None
    label_noise: float = 0.0
    noise_seed: int = 0

    def solver_dict(self) -> dict[str, Any]:
        """The solver settings, JSON-ready (``gtol`` None means eps^(2/3) of ``dtype``)."""
        return {"dtype": self.dtype, "max_iters": self.max_iters, "gtol": self.gtol}

    def canonical(self) -> dict[str, Any]:
        """The fields that define the configuration (and its id)."""
        problem = dataclasses.asdict(self.problem)
        problem["per_class"] = list(self.problem.counts)
        return {"schema": SCHEMA, "problem": problem, "seed": self.seed,
                "label_noise": self.label_noise, "noise_seed": self.noise_seed,
                "solver": self.solver_dict()}

    @functools.cached_property
    def id(self) -> str:
        """16 hex digits of SHA-256 of the canonical JSON: stable across runs and key orders."""
        return _digest(_canonical(self.canonical()))

    @property
    def signature(self) -> tuple:
        """What must be equal for configurations to share one compiled, vmapped solve."""
        return (*batch.static_key(self.problem), self.dtype, self.max_iters, self.gtol)

    def labels(self) -> np.ndarray | None:
        """The labels the objective uses, as ``python -m ufm.solve`` builds them: for η > 0
        ``flip_labels(problem.labels(), K, η, noise_seed)``, else None (the problem's own)."""
        if self.label_noise <= 0:
            return None
        from ufm.noise import flip_labels

        return flip_labels(self.problem.labels(), self.problem.K, self.label_noise,
                           self.noise_seed)

    def problem_dict(self) -> dict[str, Any]:
        """``Problem.to_dict()`` with the label noise, as in the ufm.solve report."""
        return {**self.problem.to_dict(), "label_noise": self.label_noise,
                "noise_seed": self.noise_seed}


def grid_hash(configs: Iterable[Config]) -> str:
    """16 hex digits of SHA-256 of the sorted configuration ids."""
    return _digest(SCHEMA + "\n" + "\n".join(sorted({c.id for c in configs})))


def group_configs(configs: Sequence[Config]) -> list[list[Config]]:
    """Configurations grouped by :attr:`Config.signature`, groups in order of first appearance."""
    groups: dict[tuple, list[Config]] = {}
    for config in configs:
        groups.setdefault(config.signature, []).append(config)
    return list(groups.values())


@dataclasses.dataclass(frozen=True)
class Grid:
    """The configurations of a grid file, grouped by signature, and the grid's hash."""

    configs: tuple[Config, ...]
    source: str = "grid"

    @functools.cached_property
    def grid_hash(self) -> str:
        """See :func:`grid_hash`."""
        return grid_hash(self.configs)

    @functools.cached_property
    def ids(self) -> frozenset[str]:
        """The ids of every configuration."""
        return frozenset(c.id for c in self.configs)

    def shard(self, index: int, count: int) -> tuple[Config, ...]:
        """The ``index``-th of ``count`` contiguous, nearly equal slices (0 ≤ index < count)."""
        if not (_is_int(count) and count >= 1 and _is_int(index) and 0 <= index < count):
            raise SweepError(f"shard {index}/{count}: expected I/M with 0 <= I < M")
        bounds = np.linspace(0, len(self.configs), count + 1).round().astype(int)
        return self.configs[bounds[index] : bounds[index + 1]]


# ------------------------------------------------------------------------------------ grid file
def _show(value: Any) -> str:
    """A value as it would be written in TOML (for error messages)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple):
        return _show(list(value))
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_show(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _range_values(key: str, table: dict[str, Any], where: str) -> list[Any]:
    """Expand a range table: ``{start, count}`` for the seeds, ``{start, stop, num, spacing}``
    (both ends included) for the real-valued keys."""
    text = f"{where} {key} = {_show(table)}"
    if key in SEED_KEYS:
        if set(table) - {"start", "count"} or "count" not in table:
            raise GridError(f"{text}: expected a list of seeds or {{start = 0, count = m}}")
        start, count = table.get("start", 0), table["count"]
        if not (_is_int(start) and start >= 0 and _is_int(count)
                and 1 <= count <= MAX_CONFIGS):
            raise GridError(f"{text}: expected integers start >= 0 and 1 <= count <= "
                            f"{MAX_CONFIGS}")
        return list(range(start, start + count))
    if key not in REAL_KEYS:
        raise GridError(f"{text}: expected a value or a list (range tables are for real-valued "
                        "keys, seed and noise_seed)")
    keys = set(table)
    if keys - {"start", "stop", "num", "spacing"} or not {"start", "stop", "num"} <= keys:
        raise GridError(f"{text}: expected {{start = a, stop = b, num = m, spacing = \"log\"}}")
    start, stop, num = table["start"], table["stop"], table["num"]
    spacing = table.get("spacing", "linear")
    if not (_finite_real(start) and _finite_real(stop) and _is_int(num)
            and 1 <= num <= MAX_CONFIGS):
        raise GridError(f"{text}: expected real start, stop and an integer 1 <= num <= "
                        f"{MAX_CONFIGS}")
    if spacing == "log":
        if not (start > 0 and stop > 0):
            raise GridError(f"{text}: expected start > 0 and stop > 0 for log spacing")
        return [float(v) for v in np.geomspace(start, stop, num)]
    if spacing == "linear":
        return [float(v) for v in np.linspace(start, stop, num)]
    raise GridError(f"{text}: expected spacing \"log\" or \"linear\"")


def _axis(key: str, raw: Any, where: str) -> list[Any]:
    """The values of one key: a scalar, a list, or a range table."""
    if isinstance(raw, dict):
        return _range_values(key, raw, where)
    if not isinstance(raw, list):
        return [raw]
    if not raw:
        raise GridError(f"{where} {key} = []: expected a value or a non-empty list")
    values = []
    for value in raw:
        if key == "per_class" and isinstance(value, list):
            values.append(tuple(value))
        elif isinstance(value, (list, dict)):
            raise GridError(f"{where} {key} = {_show(raw)}: expected a list of values, "
                            f"got the element {_show(value)}")
        else:
            values.append(value)
    return values


_FIELD_OF = {flag: field for field, flag in FLAG_OF.items()}


def _grid_words(text: str) -> str:
    """A ufm.solve message in grid terms: ``--lambda-w`` → ``lambda_w``, ``--no-bias`` →
    ``bias = false``; a flag in parentheses (a pointer to the CLI option) is dropped."""
    text = re.sub(r" \(--[a-z][a-z-]*\)", "", text)
    text = text.replace("--no-bias", "bias = false")
    return re.sub(r"--([a-z][a-z-]*)", lambda m: _FIELD_OF.get(m.group(0), m.group(1)), text)


def _grid_key(field: str, settings: dict[str, Any]) -> str:
    """The grid key that set ``field`` (``lambda`` sets ``lambda_w`` and ``lambda_h``)."""
    return "lambda" if field in ("lambda_w", "lambda_h") and "lambda" in settings else field


def _problem_error(err: ProblemError, settings: dict[str, Any], where: str) -> GridError:
    """A :class:`~ufm.spec.ProblemError` as a grid error naming the key and the value written."""
    key = _grid_key(err.field, settings)
    value = settings.get(key, err.value)
    return GridError(f"{where} {key} = {_show(value)}: expected {_grid_words(err.expected)}")


def _problem(settings: dict[str, Any], where: str) -> Problem:
    """The validated Problem of one point of the product, built by
    :func:`ufm.solve.problem_from_args` from the CLI defaults overridden by the grid's values;
    its errors are reworded to name the grid key and the value as written in the file."""
    from ufm.solve import problem_from_args

    args = argparse.Namespace(**_cli_defaults())
    loss = settings.get("loss", args.loss)
    if loss not in LOSSES:  # named first: the only-for-loss rules below mention the loss
        raise GridError(f"{where} loss = {_show(loss)}: expected one of " + ", ".join(LOSSES))
    bias = settings.get("bias", not args.no_bias)
    if not isinstance(bias, bool):
        raise GridError(f"{where} bias = {_show(bias)}: expected true or false")
    per_class = settings.get("per_class")
    if per_class is not None:
        counts = per_class if isinstance(per_class, tuple) else (per_class,)
        if not (counts and all(_is_int(c) for c in counts)):
            raise GridError(f"{where} per_class = {_show(per_class)}: expected an integer n >= 1 "
                            "or a list of integers >= 1")
        args.per_class = ",".join(str(c) for c in counts)  # the CLI's text form
    for key in ("loss", "classes", "dim", "lambda_w", "lambda_h", "lambda_b", "alpha", "gamma",
                "target_scale", "features"):
        if key in settings:
            setattr(args, key, settings[key])
    if "lambda" in settings:
        args.lambda_w = args.lambda_h = settings["lambda"]
    args.no_bias = not bias
    try:
        return problem_from_args(args)
    except UsageError as err:
        cause = err.__context__
        if isinstance(cause, ProblemError):  # raised "from None": the original is the context
            raise _problem_error(cause, settings, where) from None
        # an only-for rule of ufm.solve: "--FLAG VALUE: applies only to ..."
        message = str(err)
        field = _FIELD_OF.get(message.split(" ", 1)[0])
        prefix = f"{message.split(' ', 1)[0]} {getattr(args, field, None)}: " if field else ""
        if not (field and message.startswith(prefix)):
            raise GridError(f"{where} {_grid_words(message)}") from None
        key = _grid_key(field, settings)
        hint = " (use one [[grid]] table per loss)" if "applies only to" in message else ""
        raise GridError(f"{where} {key} = {_show(settings.get(key, getattr(args, field)))}: "
                        f"{_grid_words(message[len(prefix):])}{hint}") from None


def _noise(settings: dict[str, Any], given: set[str], where: str) -> tuple[float, int]:
    """(η, noise seed) of one point, validated as ``--label-noise`` / ``--noise-seed``
    (η by :func:`ufm.noise.check_eta`); the seed is 0 when η = 0 (clean labels)."""
    from ufm.noise import check_eta

    if "noise_seed" in given and "label_noise" not in given:
        raise GridError(f"{where} noise_seed = {_show(settings['noise_seed'])}: applies only with "
                        "label_noise > 0")
    defaults = _cli_defaults()
    try:
        eta = check_eta(settings.get("label_noise", defaults["label_noise"]))
    except ProblemError as err:
        raise _problem_error(err, settings, where) from None
    seed = settings.get("noise_seed", defaults["noise_seed"])
    if not (_is_int(seed) and seed >= 0):
        raise GridError(f"{where} noise_seed = {_show(seed)}: expected an integer >= 0")
    return eta, int(seed) if eta > 0 else 0


def _check_flips(problem: Problem, eta: float, noise_seed: int, settings: dict[str, Any],
                 where: str) -> None:
    """Refuse, before anything is solved, label noise that :func:`ufm.noise.flip_labels` refuses
    (e.g. flips that leave a class without samples), as ``python -m ufm.solve`` does."""
    from ufm.noise import flip_labels

    try:
        flip_labels(problem.labels(), problem.K, eta, noise_seed)
    except ProblemError as err:
        raise _problem_error(err, settings, where) from None


def _solver_settings(table: Any, where: str, dtype: str | None) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise GridError(f"{where}: expected a [solver] table")
    unknown = [k for k in table if k not in SOLVER_KEYS]
    if unknown:
        raise GridError(f"{where} unknown key {unknown[0]!r}: expected one of "
                        + ", ".join(SOLVER_KEYS))
    defaults = _cli_defaults()
    out = {"dtype": table.get("dtype", defaults["dtype"]),
           "max_iters": table.get("max_iters", defaults["max_iters"]), "gtol": table.get("gtol")}
    if out["dtype"] not in ("float64", "float32"):
        raise GridError(f"{where} dtype = {_show(out['dtype'])}: expected \"float64\" or "
                        "\"float32\"")
    if dtype is not None:
        out["dtype"] = dtype
    if not (_is_int(out["max_iters"]) and out["max_iters"] >= 1):
        raise GridError(f"{where} max_iters = {_show(out['max_iters'])}: expected an integer >= 1")
    if out["gtol"] is not None:
        if not (_finite_real(out["gtol"]) and out["gtol"] > 0):
            raise GridError(f"{where} gtol = {_show(out['gtol'])}: expected a finite number > 0")
        out["gtol"] = float(out["gtol"])
    return out


def _expand(table: Any, where: str, solver: dict[str, Any]) -> Iterator[Config]:
    if not isinstance(table, dict):
        raise GridError(f"{where}: expected a table of keys (e.g. dim = 8)")
    for key in table:
        if key not in GRID_KEYS:
            raise GridError(f"{where} unknown key {key!r}: expected one of " + ", ".join(GRID_KEYS))
    if "lambda" in table:
        both = [k for k in ("lambda_w", "lambda_h") if k in table]
        if both:
            raise GridError(f"{where} lambda and {both[0]}: expected lambda (sets lambda_w = "
                            "lambda_h) or lambda_w/lambda_h, not both")
    keys = [k for k in table if k != "seed"] + ["seed"]  # the seed varies fastest
    seed_axis = _axis("seed", table["seed"], where) if "seed" in table else [
        _cli_defaults()["seed"]]
    axes = [_axis(k, table[k], where) for k in keys[:-1]] + [seed_axis]
    for seed in seed_axis:
        if not (_is_int(seed) and 0 <= seed < SEED_LIMIT):
            raise GridError(f"{where} seed = {_show(seed)}: expected an integer in [0, 2^31)")
    size = math.prod(len(a) for a in axes)
    if size > MAX_CONFIGS:
        raise GridError(f"{where}: {size} configurations: expected at most {MAX_CONFIGS} "
                        "(split the grid)")
    given = set(table)
    problems: dict[tuple, Problem] = {}
    flips: set[tuple] = set()
    for combo in itertools.product(*axes[:-1]):
        settings = dict(zip(keys[:-1], combo, strict=True))
        point = tuple(settings.get(k) for k in PROBLEM_KEYS + ("lambda",))
        if point not in problems:
            problems[point] = _problem({k: v for k, v in settings.items() if k not in NOISE_KEYS},
                                       where)
        eta, noise_seed = _noise(settings, given, where)
        if eta > 0 and (problems[point].counts, eta, noise_seed) not in flips:
            flips.add((problems[point].counts, eta, noise_seed))
            _check_flips(problems[point], eta, noise_seed, settings, where)
        for seed in seed_axis:
            yield Config(problems[point], seed, **solver, label_noise=eta, noise_seed=noise_seed)


def parse_grid(data: dict[str, Any], source: str = "grid", *, dtype: str | None = None) -> Grid:
    """The :class:`Grid` of a parsed grid document (the dict ``tomllib`` returns).

    Args:
        data: ``{"grid": table or [tables], "solver": table}`` (see the module docstring).
        source: name used in error messages (the file path).
        dtype: override of ``[solver] dtype``.

    Raises:
        GridError: naming the key and the value, on any invalid setting.
    """
    if dtype is not None and dtype not in ("float64", "float32"):
        raise GridError(f"dtype {dtype!r}: expected float64 or float32")
    unknown = [k for k in data if k not in ("grid", "solver")]
    if unknown:
        raise GridError(f"{source}: unknown table or key {unknown[0]!r}: expected [grid] "
                        "(or [[grid]]) and an optional [solver]")
    if "grid" not in data:
        raise GridError(f"{source}: no [grid] table")
    solver = _solver_settings(data.get("solver", {}), f"{source}: [solver]", dtype)
    tables = data["grid"] if isinstance(data["grid"], list) else [data["grid"]]
    configs: dict[str, Config] = {}
    for i, table in enumerate(tables):
        where = f"{source}: [grid]" if len(tables) == 1 else f"{source}: [[grid]] #{i + 1}"
        for config in _expand(table, where, solver):
            configs.setdefault(config.id, config)
            if len(configs) > MAX_CONFIGS:
                raise GridError(f"{source}: expected at most {MAX_CONFIGS} configurations")
    ordered = tuple(c for group in group_configs(list(configs.values())) for c in group)
    return Grid(ordered, source)


def _toml(source: str) -> Any:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ModuleNotFoundError:
            raise GridError(
                f"{source}: reading a TOML grid needs Python >= 3.11 (tomllib) or the tomli "
                f"package; this is Python {sys.version.split()[0]}"
            ) from None
    return tomllib


def loads_grid(text: str, source: str = "grid", *, dtype: str | None = None) -> Grid:
    """:func:`parse_grid` of a TOML document given as text."""
    tomllib = _toml(source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise GridError(f"{source}: not valid TOML: {' '.join(str(err).split())}") from None
    return parse_grid(data, source, dtype=dtype)


def load_grid(path: str, *, dtype: str | None = None) -> Grid:
    """:func:`parse_grid` of the TOML file at ``path``."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as err:
        raise GridError(f"{path}: cannot be read ({err.strerror or err})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise GridError(f"{path}: not valid TOML: expected UTF-8 text") from None
    return loads_grid(text, path, dtype=dtype)


# ------------------------------------------------------------------------------- batched solving
@dataclasses.dataclass
class Timing(batch.Timing):
    """:class:`ufm.batch.Timing` (compiles, calls and their seconds) plus the seconds spent
    verifying and assembling rows (``post_seconds``)."""

    post_seconds: float = 0.0


def _finite(params: Any) -> bool:
    return all(bool(np.isfinite(a).all()) for a in params)


def config_row(config: Config, result: Any, grid_hash_: str) -> dict[str, Any]:
    """The JSON-ready row of one solved configuration (module docstring: output).

    The checks are :func:`ufm.verify.verify` of ``result`` with the configuration's labels, and
    the imbalance / label-noise sections are those of ``python -m ufm.solve`` (``ufm.solve.run``):
    :func:`ufm.imbalance.minority_report` for imbalanced classes and
    :func:`ufm.noise.noise_report` for η > 0.

    Args:
        config: the configuration.
        result: its :class:`~ufm.solvers.SolveResult` (e.g. one lane of
            :func:`ufm.batch.solve_batch`).
        grid_hash_: the ``grid_hash`` written into the row.
    """
    from ufm.report import to_jsonable
    from ufm.verify import verify

    problem = config.problem
    labels = config.labels()
    solution = result.to_dict()
    for key in ("seconds", "compile_seconds"):  # of the whole batched call, not of this lane
        solution.pop(key)
    row: dict[str, Any] = {
        "id": config.id, "grid_hash": grid_hash_, "schema": SCHEMA,
        "problem": config.problem_dict(), "seed": config.seed,
        "solver": {**config.solver_dict(), "gtol": result.gtol}, "solution": solution,
    }
    if _finite(result.params):
        row.update(verify(problem, result, labels))
        if labels is not None:
            from ufm.noise import noise_report

            row["label_noise"] = noise_report(problem, result.params, problem.labels(), labels)
        if not problem.balanced:
            from ufm.imbalance import minority_report

            row["imbalance"] = minority_report(problem, result.params)
    else:  # the solver blew up: verify() has nothing to work on, and no verdict is given
        row.update(dict.fromkeys(CHECK_KEYS), verdict="not-converged",
                   unverified=f"the solver's point is not finite ({result.status}): not verified")
    return to_jsonable(row)


def solve_configurations(
    configs: Sequence[Config], grid_hash_: str, *, batch_size: int = 256,
    timing: Timing | None = None, on_compile: Callable[[Config, int], None] | None = None,
) -> Iterator[list[dict]]:
    """Solve and verify ``configs``, yielding the JSON-ready rows of each batch as it finishes.

    Configurations with equal signatures run in one compiled ``vmap`` call per batch
    (:func:`ufm.batch.solve_batch`), sharded over the JAX devices when there are several; each
    row is then :func:`config_row`. The next batch is solved in a worker thread while the rows of
    the current one are verified (so ``timing.solve_seconds`` and ``timing.post_seconds`` overlap
    in wall time). No files are touched.

    Args:
        configs: the configurations (any order; grouped here).
        grid_hash_: the ``grid_hash`` written into each row.
        batch_size: lanes per compiled call at most (≥ 1).
        timing: accumulates compile/solve/post-processing seconds and counts.
        on_compile: called as ``on_compile(config, lanes)`` before the first call of each shape
            group and batch size (a call that may compile).
    """
    import jax

    if not (_is_int(batch_size) and batch_size >= 1):
        raise SweepError(f"batch_size={batch_size!r}: expected an integer >= 1")
    timing = Timing() if timing is None else timing
    devices = len(jax.devices())
    calls: list[tuple[list[Config], int, bool]] = []  # (configurations, lanes, may compile)
    seen: set[tuple] = set()
    for group in group_configs(list(configs)):
        start = 0
        while start < len(group):
            lanes = batch.bucket(len(group) - start, batch_size, devices)
            chunk = group[start : start + lanes]
            calls.append((chunk, lanes, (chunk[0].signature, lanes) not in seen))
            seen.add((chunk[0].signature, lanes))
            start += len(chunk)

    def solve(chunk: list[Config], lanes: int) -> list:
        first = chunk[0]
        return batch.solve_batch(
            [c.problem for c in chunk], [c.seed for c in chunk], [c.labels() for c in chunk],
            dtype=first.dtype, max_iters=first.max_iters, gtol=first.gtol, lanes=lanes,
            timing=timing)

    # one call ahead: the worker thread solves batch i+1 (compiled JAX calls release the GIL)
    # while this thread verifies batch i
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ufm-sweep-solve")
    try:
        futures = [pool.submit(solve, *calls[0][:2])] if calls else []
        for i, (chunk, lanes, may_compile) in enumerate(calls):
            if i + 1 < len(calls):
                futures.append(pool.submit(solve, *calls[i + 1][:2]))
            if may_compile and on_compile is not None:
                on_compile(chunk[0], lanes)
            results = futures[i].result()
            futures[i] = None  # release the arrays of finished batches
            t0 = time.perf_counter()
            rows = [config_row(c, r, grid_hash_) for c, r in zip(chunk, results, strict=True)]
            timing.post_seconds += time.perf_counter() - t0
            yield rows
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


# ------------------------------------------------------------------------------ output and resume
_ROW_START = b'{"id": "'


def parse_rows(data: bytes, path: str, grid: Grid) -> tuple[dict[str, tuple[str, bytes]], int]:
    """The rows of a sweep output file's bytes, checked against ``grid``.

    Every complete line must be a row of this grid and of :data:`SCHEMA` (blank lines are
    skipped). A last line without its newline (a write cut short) must start the way every row
    does; it is not a row (its configuration has to be solved again).

    Returns:
        ``(rows, end)``: ``rows`` maps each id to ``(verdict, line)`` of its first row (the line
        with its newline), ``end`` is the number of bytes up to the last complete line.

    Raises:
        OutputError: a complete line that is not such a row, or a tail that cannot be one.
    """
    rows: dict[str, tuple[str, bytes]] = {}
    end = data.rfind(b"\n") + 1  # bytes up to the last complete line
    for number, line in enumerate(data[:end].split(b"\n")[:-1], start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            row_id, row_hash, schema, verdict = (row["id"], row["grid_hash"], row["schema"],
                                                 row["verdict"])
        except (ValueError, TypeError, KeyError):
            raise OutputError(path, f"line {number} is not a ufm.sweep row (another file?)") \
                from None
        if schema != SCHEMA:
            raise OutputError(path, f"line {number} is a {schema} row; this ufm writes {SCHEMA} "
                              "rows (use a new output file)")
        if row_hash != grid.grid_hash:
            raise OutputError(path, f"was written by another grid (hash {row_hash}), expected "
                              f"{grid.grid_hash} for {grid.source}")
        if row_id not in grid.ids:
            raise OutputError(path, f"line {number}: configuration {row_id} is not in this grid")
        rows.setdefault(row_id, (verdict, line + b"\n"))
    tail = data[end:]
    if tail and not tail.startswith(_ROW_START[: len(tail)]):
        raise OutputError(path, "the last line is neither a ufm.sweep row nor the start of one")
    return rows, end


def _read_rows(fd: int, path: str, grid: Grid) -> dict[str, str]:
    """Verdicts of the rows already in the output, by id (:func:`parse_rows`); a torn last line
    is then cut off the file, once the rest has been checked."""
    size = os.fstat(fd).st_size
    data = os.pread(fd, size, 0) if size else b""
    rows, end = parse_rows(data, path, grid)
    if end < len(data):
        os.ftruncate(fd, end)
    return {row_id: verdict for row_id, (verdict, _) in rows.items()}


def _append(fd: int, rows: Sequence[dict]) -> None:
    """Append whole lines with O_APPEND writes, then fsync (a crash tears at most the last line)."""
    data = "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in rows).encode()
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
    os.fsync(fd)


def _open_output(path: str) -> int:
    from ufm.report import check_writable

    if path == "-":
        raise OutputError(path, "expected a file path (a sweep output must be resumable)")
    reason = check_writable(path)
    if reason:
        raise OutputError(path, f"expected a writable file path ({reason})")
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as err:
        raise OutputError(path, f"cannot be opened ({err.strerror or err})") from None
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise OutputError(path, "is being written by another sweep (locked)") from None
    return fd


@dataclasses.dataclass
class SweepSummary:
    """What a sweep did: counts per verdict over the selected configurations, and timings."""

    grid_hash: str
    total: int
    resumed: int
    new: int
    counts: dict[str, int]
    groups: int
    seconds: float
    timing: Timing

    @property
    def ok(self) -> bool:
        """True when every selected configuration has a verdict of :data:`OK_VERDICTS`."""
        done = sum(self.counts.values())
        return done == self.total and all(
            v in OK_VERDICTS for v, c in self.counts.items() if c
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        out = dataclasses.asdict(self)
        out["ok"] = self.ok
        return out


def run_sweep(grid: Grid, out: str, *, batch_size: int = 256,
              shard: tuple[int, int] | None = None, progress: bool = True,
              stream: TextIO | None = None) -> SweepSummary:
    """Solve and verify the configurations of ``grid`` (or of one shard) not yet in ``out``.

    Rows already in ``out`` are kept and skipped; new rows are appended a batch at a time
    (module docstring: identity, output and resume).

    Args:
        grid: from :func:`load_grid` / :func:`parse_grid`.
        out: the JSON-lines output path.
        batch_size: lanes per compiled call at most.
        shard: ``(I, M)``: only the I-th of M slices of the grid (:meth:`Grid.shard`).
        progress: draw a progress bar on ``stream`` (default stderr).

    Raises:
        OutputError: ``out`` is unwritable, locked, corrupt or was written by another grid.
        SweepError: bad ``batch_size`` or ``shard``.
    """
    if not (_is_int(batch_size) and batch_size >= 1):
        raise SweepError(f"batch_size={batch_size!r}: expected an integer >= 1")
    selected = grid.configs if shard is None else grid.shard(*shard)
    started = time.perf_counter()
    fd = _open_output(out)
    try:
        done = _read_rows(fd, out, grid)
        selected_ids = {c.id for c in selected}
        counts: dict[str, int] = {}
        resumed = 0
        for row_id, verdict in done.items():
            if row_id in selected_ids:
                counts[verdict] = counts.get(verdict, 0) + 1
                resumed += 1
        todo = [c for c in selected if c.id not in done]
        bar = Progress(len(selected), resumed, label="sweep", stream=stream, enabled=progress)
        bar.show(force=True)
        timing = Timing()

        def on_compile(config: Config, lanes: int) -> None:
            p = config.problem
            bar.set_note(f"K={p.K} d={p.d} n={p.n or list(p.counts)} {p.loss} ×{lanes}")

        new = 0
        try:
            for rows in solve_configurations(todo, grid.grid_hash, batch_size=batch_size,
                                             timing=timing, on_compile=on_compile):
                _append(fd, rows)
                for row in rows:
                    counts[row["verdict"]] = counts.get(row["verdict"], 0) + 1
                new += len(rows)
                bar.advance(len(rows))
        finally:
            bar.close()
    finally:
        os.close(fd)
    return SweepSummary(grid.grid_hash, len(selected), resumed, new, counts,
                        len(group_configs(list(selected))), time.perf_counter() - started, timing)


# ------------------------------------------------------------------------------------------- CLI
def _shard(text: str) -> tuple[int, int]:
    try:
        i, m = (int(s) for s in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected I/M, e.g. 0/4") from None
    if not (m >= 1 and 0 <= i < m):
        raise argparse.ArgumentTypeError(f"{text!r}: expected I/M with 0 <= I < M")
    return i, m


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an integer >= 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m ufm.sweep`` argument parser (errors raise :class:`UsageError`)."""
    p = _Parser(prog="python -m ufm.sweep", description=__doc__.split("\n\n")[0],
                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--grid", required=True, metavar="GRID.toml", help="the grid file (TOML)")
    p.add_argument("--out", required=True, metavar="RESULTS.jsonl",
                   help="JSON-lines output; rerunning resumes it")
    p.add_argument("--batch-size", type=_positive, default=256,
                   help="configurations per compiled, vmapped call at most")
    p.add_argument("--dtype", choices=("float64", "float32"), default=None,
                   help="override [solver] dtype of the grid (changes the configuration ids)")
    p.add_argument("--shard", type=_shard, default=None, metavar="I/M",
                   help="run only the I-th of M slices of the grid (0 <= I < M)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def format_summary(summary: SweepSummary, grid: Grid, out: str) -> str:
    """The lines printed at the end of a sweep."""
    t = summary.timing
    rate = 60 * summary.new / summary.seconds if summary.seconds > 0 and summary.new else 0.0
    verdicts = ("verified", "certified", "no-closed-form", "mismatch", "not-converged")
    extra = sorted(set(summary.counts) - set(verdicts))
    counts = "   ".join(f"{v} {summary.counts.get(v, 0)}" for v in (*verdicts, *extra))
    missing = summary.total - sum(summary.counts.values())
    return "\n".join([
        f"ufm.sweep  {grid.source} (grid {summary.grid_hash}): {summary.total} configurations in "
        f"{summary.groups} shape group(s) -> {out}",
        f"run        {summary.new} solved now, {summary.resumed} already done; "
        f"{summary.seconds:.1f} s"
        f" (compile {t.compile_seconds:.1f} s for {t.compiles} shape(s), solve "
        f"{t.solve_seconds:.1f} s in {t.calls} call(s), verify {t.post_seconds:.1f} s), "
        f"{rate:,.0f} configurations/min",
        f"verdicts   {counts}" + (f"   missing {missing}" if missing else ""),
    ])


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m ufm.sweep``; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        grid = load_grid(args.grid, dtype=args.dtype)
        from ufm.precision import enable_compilation_cache

        enable_compilation_cache()  # as python -m ufm.solve: a resumed sweep need not recompile
        summary = run_sweep(grid, args.out, batch_size=args.batch_size, shard=args.shard,
                            progress=not args.quiet)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except OutputError as err:
        print(f"error: --out {err}", file=sys.stderr)
        return EXIT_USAGE
    except GridError as err:
        print(f"error: --grid {err}", file=sys.stderr)
        return EXIT_USAGE
    except SweepError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted: finished batches are saved; rerun the same command to resume",
              file=sys.stderr)
        return 130
    print(format_summary(summary, grid, args.out))
    return EXIT_OK if summary.ok else EXIT_FAIL


if __name__ == "__main__":
    raise SystemExit(main())
