"""``python -m ufm.sweep``: solve and verify a grid of UFM configurations, resumably.

Usage::

    python -m ufm.sweep --grid examples/grid.toml --out results.jsonl [--batch-size 256]
        [--dtype float64|float32] [--shard I/M] [--quiet]

Exit status: 0 when every configuration of the grid (or of the shard) is ``verified``,
``no-closed-form`` or ``certified``; 1 when any is ``mismatch`` or ``not-converged`` (a count per
verdict is printed); 2 on bad input, with one line on stderr: a grid file that does not parse, an
unknown key, an invalid value (named, before anything is solved), an output file written by
another grid, an output file that cannot be written.

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
    seed = {start = 0, count = 10}   # seeds 0..9 (a list of seeds works too)

    [solver]                    # optional; applies to every configuration
    dtype = "float64"           # or "float32"
    max_iters = 20000           # first-order iteration budget
    # gtol = 1e-10              # relative stationarity tolerance; default eps^(2/3) of dtype

Keys of ``[grid]`` are the :class:`~ufm.spec.Problem` fields ``loss, classes, per_class, dim,
lambda_w, lambda_h, lambda_b, bias, alpha, gamma, target_scale, features``, plus ``lambda`` (sets
``lambda_w`` and ``lambda_h`` to the same value; not together with either) and ``seed`` (the
seed of the random start, an integer in [0, 2³¹)). Each value is

* a scalar: one value;
* a list: one axis of the product. For ``per_class`` an element is an integer n (balanced) or a
  list of K counts, so imbalanced classes are written ``per_class = [[3, 4, 5, 6]]``;
* a range table: ``{start = a, stop = b, num = m, spacing = "log"}`` (``"log"`` or ``"linear"``,
  both ends included) for the real-valued keys, ``{start = 0, count = m}`` for ``seed``.

Unset keys take the defaults of ``python -m ufm.solve``: loss ce, classes 10 (or the length of a
``per_class`` count list), per_class 20, dim 32, λ_W = λ_H = λ_b = 5e-4, bias true, features
free, α = 0.1 for ls/maxsup, γ = 3 for fl, target_scale 1, seed 0. A setting that a
configuration does not use is an error rather than silently ignored: ``alpha`` with a loss other
than ls/maxsup, ``gamma`` without fl, ``target_scale`` without mse, ``lambda_b`` with
``bias = false``. To sweep several losses with their own settings, write several ``[[grid]]``
tables: the configurations of all of them are concatenated (a configuration that appears twice is
run once). A grid holds at most 1,000,000 configurations.

Identity, output and resume
---------------------------
Each configuration (problem, seed, dtype, max_iters, gtol) has a stable ``id``: the first 16 hex
digits of the SHA-256 of its canonical JSON, so it does not depend on the order of keys or lists
in the file. The grid's ``grid_hash`` is the SHA-256 of its sorted ids. The output is JSON lines,
one row per configuration::

    {"id", "grid_hash", "schema", "problem": Problem.to_dict(), "seed",
     "solver": {dtype, max_iters, gtol},
     "solution": {objective, objective_f64, grad_norm, converged, status, iterations,
                  first_order_iterations, newton_iterations},
     "closed_form": {available, reason, regime, margin, objective},
     "comparison": {objective_gap, objective_rel_err, gram_w_rel_err, gram_h_rel_err,
                    logits_rel_err} or null,
     "nc": {nc1, nc2_w, nc2_h, nc3, nc4} or null, "tolerances": {...}, "verdict"}

with the closed-form comparison, tolerances and verdict of :mod:`ufm.verify` (objective
re-evaluated in float64; NaN written as null).

Rows are appended a batch at a time with ``os.write`` on a file opened ``O_APPEND``: whole lines
only, then ``fsync``. A crash can therefore leave at most one truncated line, at the very end of
the file. On a rerun the file is read first: rows of this grid are skipped, and a last line
without its newline is cut off the file and its configuration solved again, so an interrupted
sweep resumes without loss or duplicates. A row with another ``grid_hash``, or any line that is
not a row, stops the run with exit status 2 before the file is touched.
The file is locked (``flock``) while a sweep writes it. The exit status and the printed counts
cover every configuration of the grid (or shard), whether solved now or earlier.

Batching
--------
Configurations with the same static signature (K, per-class counts, d, bias, loss, features,
dtype, max_iters, gtol) are solved together: their hyper-parameters and seeds are stacked and
passed to one compiled ``jax.vmap`` of ``init_params(key(seed))`` followed by
:func:`ufm.solvers.solve_arrays` (the starting point of :func:`ufm.solvers.minimize` with the
same seed, so a lane reaches what a single solve reaches). The batch size is ``--batch-size`` (default 256) or, for the remainder, the next power of two, padded by
repeating a configuration, so a group compiles at most ⌈log₂ batch⌉ + 1 shapes. With several JAX
devices the batch axis is sharded over all of them (``jax.sharding.NamedSharding`` over a 1-D
mesh ``("batch",)``; the batch is rounded up to a multiple of the device count); with one device
the arrays are left where they are. The vmapped solve runs every lane until the slowest lane of
the batch stops; each lane keeps its own result and status.

Many machines
-------------
No scheduler of our own: shards of one grid are independent runs. ``--shard I/M`` (0 ≤ I < M)
selects the I-th of M contiguous, nearly equal slices of the grid (in the grouped order, so a
shard compiles few shapes). Run the M shards anywhere (a job array of any batch system, or Ray
tasks: ``examples/ray_sweep.py``, which runs them on a local Ray instance or on a cluster given
``--address``), each into its own file, then merge complete lines (``examples/ray_sweep.py``
does this, dropping duplicates) and check completeness with one more run on the merged file:
``python -m ufm.sweep --grid g.toml --out merged.jsonl`` solves whatever is missing and prints the
counts of the whole grid. Rows carry the hash of the whole grid, so shard files and merged files
stay checkable against it.

Python API
----------
:func:`load_grid` / :func:`loads_grid` / :func:`parse_grid` → :class:`Grid` (``configs``,
``grid_hash``, ``shard(I, M)``); :func:`run_sweep` (files, resume, progress) →
:class:`SweepSummary`; :func:`solve_configurations` yields the rows of each batch without touching
any file.
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
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TextIO

import numpy as np

from ufm.spec import LOSSES, Problem, ProblemError

SCHEMA = "ufm.sweep/1"
EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
OK_VERDICTS = ("verified", "no-closed-form", "certified")
MAX_CONFIGS = 1_000_000
SEED_LIMIT = 2**31

PROBLEM_KEYS = ("loss", "classes", "per_class", "dim", "lambda_w", "lambda_h", "lambda_b", "bias",
                "alpha", "gamma", "target_scale", "features")
GRID_KEYS = (*PROBLEM_KEYS, "lambda", "seed")
SOLVER_KEYS = ("dtype", "max_iters", "gtol")
REAL_KEYS = ("lambda", "lambda_w", "lambda_h", "lambda_b", "alpha", "gamma", "target_scale")
# the defaults of python -m ufm.solve
DEFAULTS: dict[str, Any] = dict(loss="ce", classes=10, per_class=20, dim=32, lambda_w=5e-4,
                                lambda_h=5e-4, lambda_b=5e-4, bias=True, features="free", seed=0)
ONLY_FOR = {"alpha": (("ls", "maxsup"), 0.1), "gamma": (("fl",), 3.0),
            "target_scale": (("mse",), 1.0)}
NEUTRAL = {"alpha": 0.0, "gamma": 0.0, "target_scale": 1.0}


class SweepError(ValueError):
    """Bad sweep input; ``str(error)`` is the one line the CLI prints after ``error: ``."""


class GridError(SweepError):
    """The grid file does not parse or holds an invalid setting (message starts with its path)."""


class OutputError(SweepError):
    """The output file cannot be used: unwritable, locked, corrupt or from another grid."""

    def __init__(self, path: str, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")


# ------------------------------------------------------------------------------- configurations
def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class Config:
    """One configuration of a sweep: a problem, the seed of its random start, solver settings."""

    problem: Problem
    seed: int = 0
    dtype: str = "float64"
    max_iters: int = 20_000
    gtol: float | None = None

    def solver_dict(self) -> dict[str, Any]:
        """The solver settings, JSON-ready (``gtol`` None means eps^(2/3) of ``dtype``)."""
        return {"dtype": self.dtype, "max_iters": self.max_iters, "gtol": self.gtol}

    def canonical(self) -> dict[str, Any]:
        """The fields that define the configuration (and its id)."""
        problem = dataclasses.asdict(self.problem)
        problem["per_class"] = list(self.problem.counts)
        return {"schema": SCHEMA, "problem": problem, "seed": self.seed,
                "solver": self.solver_dict()}

    @functools.cached_property
    def id(self) -> str:
        """16 hex digits of SHA-256 of the canonical JSON: stable across runs and key orders."""
        return _digest(_canonical(self.canonical()))

    @property
    def signature(self) -> tuple:
        """What must be equal for configurations to share one compiled, vmapped solve."""
        p = self.problem
        return (p.K, p.counts, p.d, p.bias, p.loss, p.features, self.dtype, self.max_iters,
                self.gtol)


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
        if not (isinstance(count, int) and count >= 1 and isinstance(index, int)
                and 0 <= index < count):
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


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_real(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _range_values(key: str, table: dict[str, Any], where: str) -> list[Any]:
    """Expand a range table: ``{start, count}`` for seed, ``{start, stop, num, spacing}`` else."""
    text = f"{where} {key} = {_show(table)}"
    if key == "seed":
        if set(table) - {"start", "count"} or "count" not in table:
            raise GridError(f"{text}: expected a list of seeds or {{start = 0, count = m}}")
        start, count = table.get("start", 0), table["count"]
        if not (_is_int(start) and _is_int(count) and count >= 1):
            raise GridError(f"{text}: expected integers start >= 0 and count >= 1")
        return list(range(start, start + count))
    if key not in REAL_KEYS:
        raise GridError(f"{text}: expected a value or a list (range tables are for real-valued "
                        "keys and seed)")
    keys = set(table)
    if keys - {"start", "stop", "num", "spacing"} or not {"start", "stop", "num"} <= keys:
        raise GridError(f"{text}: expected {{start = a, stop = b, num = m, spacing = \"log\"}}")
    start, stop, num = table["start"], table["stop"], table["num"]
    spacing = table.get("spacing", "linear")
    if not (_is_real(start) and _is_real(stop) and _is_int(num) and num >= 1):
        raise GridError(f"{text}: expected real start, stop and an integer num >= 1")
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


def _problem(settings: dict[str, Any], given: set[str], where: str) -> Problem:
    """Build and validate the Problem of one point of the product; errors name the grid key."""
    loss = settings.get("loss", DEFAULTS["loss"])
    if loss not in LOSSES:
        raise GridError(f"{where} loss = {_show(loss)}: expected one of " + ", ".join(LOSSES))
    bias = settings.get("bias", DEFAULTS["bias"])
    for key, (losses, default) in ONLY_FOR.items():
        if key in given and loss not in losses:
            raise GridError(f"{where} {key} = {_show(settings[key])}: applies only to loss "
                            + " or ".join(losses) + f", not {_show(loss)} (use one [[grid]] "
                            "table per loss)")
    if "lambda_b" in given and bias is False:
        raise GridError(f"{where} lambda_b = {_show(settings['lambda_b'])}: applies only with "
                        "bias = true")
    kwargs = {k: settings.get(k, DEFAULTS.get(k)) for k in PROBLEM_KEYS if k not in ONLY_FOR}
    if "lambda" in settings:
        kwargs["lambda_w"] = kwargs["lambda_h"] = settings["lambda"]
    if isinstance(kwargs["per_class"], tuple) and "classes" not in given:
        kwargs["classes"] = len(kwargs["per_class"])
    if bias is False:
        kwargs["lambda_b"] = 0.0
    for key, (losses, default) in ONLY_FOR.items():
        kwargs[key] = settings.get(key, default) if loss in losses else NEUTRAL[key]
    try:
        return Problem(**kwargs)
    except ProblemError as err:
        key = err.field
        if key in ("lambda_w", "lambda_h") and "lambda" in given:
            key = "lambda"
        value = settings.get(key, err.value)
        raise GridError(f"{where} {key} = {_show(value)}: expected {err.expected}") from None


def _solver_settings(table: Any, where: str, dtype: str | None) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise GridError(f"{where}: expected a [solver] table")
    unknown = [k for k in table if k not in SOLVER_KEYS]
    if unknown:
        raise GridError(f"{where} unknown key {unknown[0]!r}: expected one of "
                        + ", ".join(SOLVER_KEYS))
    out = {"dtype": table.get("dtype", "float64"), "max_iters": table.get("max_iters", 20_000),
           "gtol": table.get("gtol")}
    if out["dtype"] not in ("float64", "float32"):
        raise GridError(f"{where} dtype = {_show(out['dtype'])}: expected \"float64\" or "
                        "\"float32\"")
    if dtype is not None:
        out["dtype"] = dtype
    if not (_is_int(out["max_iters"]) and out["max_iters"] >= 1):
        raise GridError(f"{where} max_iters = {_show(out['max_iters'])}: expected an integer >= 1")
    if out["gtol"] is not None:
        if not (_is_real(out["gtol"]) and out["gtol"] > 0):
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
    axes = [_axis(k, table[k], where) if k in table else [DEFAULTS["seed"]] for k in keys]
    for seed in axes[-1]:
        if not (_is_int(seed) and 0 <= seed < SEED_LIMIT):
            raise GridError(f"{where} seed = {_show(seed)}: expected an integer in [0, 2^31)")
    size = math.prod(len(a) for a in axes)
    if size > MAX_CONFIGS:
        raise GridError(f"{where}: {size} configurations: expected at most {MAX_CONFIGS} "
                        "(split the grid)")
    given = set(table)
    problems: dict[tuple, Problem] = {}
    for combo in itertools.product(*axes[:-1]):
        if combo not in problems:
            problems[combo] = _problem(dict(zip(keys[:-1], combo)), given, where)
        for seed in axes[-1]:
            yield Config(problems[combo], seed, **solver)


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
class Timing:
    """Seconds spent compiling, solving (compiled calls) and post-processing (verdicts)."""

    compile_seconds: float = 0.0
    solve_seconds: float = 0.0
    post_seconds: float = 0.0
    compiles: int = 0


_COMPILED: dict[tuple, Any] = {}


def _bucket(remaining: int, batch_size: int, devices: int) -> int:
    """Lanes of the next call: batch_size, or the next power of two ≥ remaining if smaller;
    a multiple of the device count."""
    lanes = min(batch_size, 1 << max(remaining - 1, 0).bit_length())
    return -(-lanes // devices) * devices


def _solve_from_seed(seed, hyper, labels, gtol, *, shape_problem: Problem, dtype: Any, loss: str,
                     nonnegative: bool, cfg: Any):
    """:func:`ufm.solvers.solve_arrays` from the seeded start ``init_params(key(seed))``.

    Under ``vmap`` the seeds are int32 lanes; ``jax.random.key`` gives the key data [0, seed]
    for 0 ≤ seed < 2³¹ whether the seed is an int32 lane or the Python int of
    :func:`ufm.solvers.minimize`, so both start from the same point.
    """
    import jax

    from ufm.objective import init_params
    from ufm.solvers import solve_arrays

    params0 = init_params(shape_problem, jax.random.key(seed), dtype=dtype)
    return solve_arrays(params0, hyper, labels, gtol, loss=loss, nonnegative=nonnegative, cfg=cfg)


@functools.lru_cache(maxsize=None)
def _objective_batch(loss: str):
    import jax

    from ufm.objective import objective

    return jax.jit(jax.vmap(functools.partial(objective, loss=loss), in_axes=(0, 0, None)))


def _stack_hyper(configs: Sequence[Config], dtype: Any):
    from ufm.spec import Hyper

    columns = zip(*(c.problem.hyper(dtype) for c in configs))
    return Hyper(*(np.asarray(col, dtype=dtype) for col in columns))


def _solve_lanes(configs: Sequence[Config], lanes: int, timing: Timing):
    """One compiled, vmapped solve of ``configs`` padded to ``lanes``; host (numpy) results."""
    import jax
    import jax.numpy as jnp
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    from ufm.precision import dtype_of, x64
    from ufm.solvers import SolverConfig, default_gtol

    first = configs[0]
    p0 = first.problem
    dtype = dtype_of(first.dtype)
    padded = list(configs) + [configs[-1]] * (lanes - len(configs))
    devices = jax.devices()
    cfg = SolverConfig(max_iters=first.max_iters)
    nonnegative = p0.features == "nonnegative"
    tol = default_gtol(dtype) if first.gtol is None else first.gtol
    shape_problem = Problem(p0.K, p0.counts, p0.d, bias=p0.bias, features=p0.features)
    with x64(dtype == np.float64):
        seeds = jnp.asarray([c.seed for c in padded], dtype=jnp.int32)
        hyper = jax.tree.map(jnp.asarray, _stack_hyper(padded, dtype))
        labels = jnp.asarray(p0.labels())
        gtol = jnp.asarray(tol, dtype=dtype)
        if len(devices) > 1:
            mesh = Mesh(np.asarray(devices), ("batch",))
            batched = NamedSharding(mesh, PartitionSpec("batch"))
            replicated = NamedSharding(mesh, PartitionSpec())
            seeds, hyper = jax.device_put((seeds, hyper), batched)
            labels, gtol = jax.device_put((labels, gtol), replicated)
        key = (p0.loss, nonnegative, cfg, dtype.name, p0.K, p0.d, p0.counts, p0.bias,
               p0.features, lanes, len(devices))
        compiled = _COMPILED.get(key)
        if compiled is None:
            start = time.perf_counter()
            solve = functools.partial(_solve_from_seed, shape_problem=shape_problem, dtype=dtype,
                                      loss=p0.loss, nonnegative=nonnegative, cfg=cfg)
            fn = jax.jit(jax.vmap(solve, in_axes=(0, 0, None, None)))
            compiled = _COMPILED[key] = fn.lower(seeds, hyper, labels, gtol).compile()
            timing.compile_seconds += time.perf_counter() - start
            timing.compiles += 1
        start = time.perf_counter()
        out = jax.block_until_ready(compiled(seeds, hyper, labels, gtol))
        timing.solve_seconds += time.perf_counter() - start
        return jax.tree.map(np.asarray, out), tol


def _rows(configs: Sequence[Config], out: Any, tol: float, grid_hash_: str) -> list[dict]:
    """Closed form, comparison, NC metrics and verdict of each solved lane (numpy, float64)."""
    import jax.numpy as jnp

    from ufm.closed_form import closed_form
    from ufm.metrics import nc_metrics
    from ufm.objective import Params
    from ufm.precision import x64
    from ufm.report import to_jsonable
    from ufm.solvers import Status
    from ufm.verify import Tolerances, compare, decide

    n = len(configs)
    p0 = configs[0].problem
    labels = p0.labels()
    W, H, b = (np.asarray(a[:n], dtype=np.float64) for a in out.params)
    with x64():  # f re-evaluated in float64 for every lane at once
        f64 = np.asarray(_objective_batch(p0.loss)(
            Params(jnp.asarray(W), jnp.asarray(H), jnp.asarray(b)),
            _as_jax(_stack_hyper(configs, np.float64)), jnp.asarray(labels)))
    tolerances = Tolerances.for_dtype(configs[0].dtype)
    tol_dict = _clean(dataclasses.asdict(tolerances))
    solver = {**configs[0].solver_dict(), "gtol": tol}
    rows = []
    cache: dict[Problem, tuple[Any, dict, dict]] = {}  # closed form and JSON parts per problem
    for i, config in enumerate(configs):
        problem = config.problem
        if problem not in cache:
            cf = closed_form(problem)
            cache[problem] = (cf, to_jsonable(problem.to_dict()), _clean({
                "available": cf.available, "reason": cf.reason, "regime": cf.regime,
                "margin": cf.margin, "objective": cf.objective}))
        cf, problem_dict, cf_dict = cache[problem]
        status = Status(int(out.status[i]))
        converged = status == Status.CONVERGED
        finite = all(np.isfinite(a[i]).all() for a in (W, H, b))
        comparison = (compare(problem, Params(W[i], H[i], b[i]), cf, float(f64[i]))
                      if cf.available else None)
        nc = nc_metrics(W[i], H[i], b[i], labels, problem.K) if finite else None
        it1, it2 = int(out.first_order_iterations[i]), int(out.newton_iterations[i])
        rows.append({
            "id": config.id, "grid_hash": grid_hash_, "schema": SCHEMA,
            "problem": problem_dict, "seed": config.seed, "solver": solver,
            "solution": _clean({
                "objective": float(out.objective[i]), "objective_f64": float(f64[i]),
                "grad_norm": float(out.grad_norm[i]), "converged": converged,
                "status": status.name.lower().replace("_", "-"), "iterations": it1 + it2,
                "first_order_iterations": it1, "newton_iterations": it2,
            }),
            "closed_form": cf_dict,
            "comparison": None if comparison is None else _clean(comparison),
            "nc": None if nc is None else _clean(nc),
            "tolerances": tol_dict,
            "verdict": decide(converged, cf, comparison, tolerances),
        })
    return rows


def _clean(flat: dict[str, Any]) -> dict[str, Any]:
    """A flat dict of JSON scalars with NaN/inf floats replaced by None (JSON null)."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in flat.items()}


def _as_jax(tree: Any) -> Any:
    """Every leaf as a JAX array (under the current precision setting)."""
    import jax
    import jax.numpy as jnp

    return jax.tree.map(jnp.asarray, tree)


def solve_configurations(
    configs: Sequence[Config], grid_hash_: str, *, batch_size: int = 256,
    timing: Timing | None = None, on_compile: Callable[[Config, int], None] | None = None,
) -> Iterator[list[dict]]:
    """Solve and verify ``configs``, yielding the JSON-ready rows of each batch as it finishes.

    Configurations with equal signatures run in one compiled ``vmap`` call per batch, sharded
    over the JAX devices when there are several (module docstring). No files are touched.

    Args:
        configs: the configurations (any order; grouped here).
        grid_hash_: the ``grid_hash`` written into each row.
        batch_size: lanes per compiled call at most (≥ 1).
        timing: accumulates compile/solve/post-processing seconds.
        on_compile: called as ``on_compile(config, lanes)`` before the first call of each shape
            group and batch size (a call that may compile).
    """
    import jax

    if not (_is_int(batch_size) and batch_size >= 1):
        raise SweepError(f"batch_size={batch_size!r}: expected an integer >= 1")
    timing = Timing() if timing is None else timing
    devices = len(jax.devices())
    seen: set[tuple] = set()
    for group in group_configs(list(configs)):
        start = 0
        while start < len(group):
            lanes = _bucket(len(group) - start, batch_size, devices)
            chunk = group[start : start + lanes]
            if on_compile is not None and (chunk[0].signature, lanes) not in seen:
                seen.add((chunk[0].signature, lanes))
                on_compile(chunk[0], lanes)
            out, tol = _solve_lanes(chunk, lanes, timing)
            t0 = time.perf_counter()
            rows = _rows(chunk, out, tol, grid_hash_)
            timing.post_seconds += time.perf_counter() - t0
            yield rows
            start += len(chunk)


# ------------------------------------------------------------------------------ output and resume
_ROW_START = b'{"id": "'


def _read_rows(fd: int, path: str, grid: Grid) -> dict[str, str]:
    """Verdicts of the rows already in the output, by id.

    Every complete line must be a row of this grid. A last line without its newline (a write
    cut short) is cut off the file, once the rest has been checked, provided it starts the way
    every row does; its configuration is then solved again.
    """
    size = os.fstat(fd).st_size
    data = os.pread(fd, size, 0) if size else b""
    done: dict[str, str] = {}
    end = data.rfind(b"\n") + 1  # bytes up to the last complete line
    for number, line in enumerate(data[:end].split(b"\n")[:-1], start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            row_id, row_hash, verdict = row["id"], row["grid_hash"], row["verdict"]
        except (ValueError, TypeError, KeyError):
            raise OutputError(path, f"line {number} is not a ufm.sweep row (another file?)") \
                from None
        if row_hash != grid.grid_hash:
            raise OutputError(path, f"was written by another grid (hash {row_hash}), expected "
                              f"{grid.grid_hash} for {grid.source}")
        if row_id not in grid.ids:
            raise OutputError(path, f"line {number}: configuration {row_id} is not in this grid")
        done.setdefault(row_id, verdict)
    tail = data[end:]
    if tail:
        if not tail.startswith(_ROW_START[: len(tail)]):
            raise OutputError(path, "the last line is neither a ufm.sweep row nor the start of one")
        os.ftruncate(fd, end)
    return done


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


class Progress:
    """A stdlib progress bar on a stream (``\\r`` updates on a terminal, throttled lines else)."""

    def __init__(self, total: int, done: int = 0, stream: TextIO | None = None,
                 enabled: bool = True, width: int = 30):
        self.total, self.done, self.width = total, done, width
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()
        self.new = 0
        self.note = ""
        self._last = 0.0

    def _line(self) -> str:
        frac = self.done / self.total if self.total else 1.0
        filled = int(round(frac * self.width))
        elapsed = time.perf_counter() - self.start
        rate = self.new / elapsed if elapsed > 0 and self.new else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else None
        eta_s = "--:--" if eta is None else time.strftime("%H:%M:%S", time.gmtime(eta))
        return (f"sweep [{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} "
                f"{100 * frac:5.1f}%  {60 * rate:,.0f}/min  ETA {eta_s}"
                + (f"  {self.note}" if self.note else ""))

    def show(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if self.tty:
            self.stream.write("\r\033[K" + self._line())
        elif force or now - self._last >= 5.0:
            self.stream.write(self._line() + "\n")
        else:
            return
        self._last = now
        self.stream.flush()

    def set_note(self, note: str) -> None:
        self.note = note
        self.show(force=bool(note))

    def advance(self, n: int) -> None:
        self.done += n
        self.new += n
        self.note = ""
        self.show(force=self.done >= self.total)

    def close(self) -> None:
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()


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
        bar = Progress(len(selected), resumed, stream, enabled=progress)
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
class UsageError(SweepError):
    """Bad command-line input."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2, no usage dump
        raise UsageError(message)


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
    """The ``python -m ufm.sweep`` argument parser."""
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
        f" (compile {t.compile_seconds:.1f} s, solve {t.solve_seconds:.1f} s, verify "
        f"{t.post_seconds:.1f} s), {rate:,.0f} configurations/min",
        f"verdicts   {counts}" + (f"   missing {missing}" if missing else ""),
    ])


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m ufm.sweep``; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        grid = load_grid(args.grid, dtype=args.dtype)
        from ufm.precision import x64

        float64 = any(c.dtype == "float64" for c in grid.configs)
        with x64(float64):
            summary = run_sweep(grid, args.out, batch_size=args.batch_size, shard=args.shard,
                                progress=not args.quiet)
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
