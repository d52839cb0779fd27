"""Solve many UFM instances of one shape at once: one compiled, vmapped solver call per batch.

Instances that share the static key (loss, K, per-class counts, d, bias, features) differ only
in their hyper-parameters (a :class:`~ufm.spec.Hyper` pytree), the seeds of their random starts
and their labels (e.g. noisy labels), so one compiled function serves all of them. Lane i runs

    params0_i = init_params(shape, jax.random.key(seed_i))           (ufm.objective)
    solve_arrays(params0_i, hyper_i, labels_i, gtol, loss, cfg)      (ufm.solvers)

which is the starting point and the solver of :func:`ufm.solvers.minimize` with the same seed,
dtype, budget and tolerance, so a lane reaches what a single solve reaches. Seeds, hyper-parameters
and labels are batched arguments (``in_axes=0``); gtol is shared.

* **Lanes.** A call of n instances runs ``lanes`` ≥ n lanes, padded by repeating the last instance
  (its results are dropped). :func:`bucket` chooses ``batch_size``, or for a remainder the next
  power of two, so a group of any size compiles at most ⌈log₂ batch_size⌉ + 1 shapes;
  ``fixed_lanes=True`` pads every call to ``batch_size`` (one shape per static key).
* **Devices.** With several JAX devices the batch axis is sharded over all of them
  (``jax.sharding.NamedSharding`` over a 1-D mesh ``("batch",)``, gtol replicated); ``lanes`` is
  then a multiple of the device count. With one device the arrays are left where they are.
* **Compile cache.** Compiled calls are kept for the life of the process, keyed by (static key,
  dtype, :class:`~ufm.solvers.SolverConfig`, lanes, device count): a shape compiles once, and
  :class:`Timing` counts the compiles (``compiles``) and the calls (``calls``).
* **Stopping.** Every lane keeps its own result and status; the call returns when its slowest
  lane has stopped (a lane that converged no longer changes).

Python API: :func:`solve_batch` (one call, one static key) and :func:`solve_many` (any mix of
static keys, in order, with an optional per-call callback for progress).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ufm.spec import Problem, _is_int

SEED_LIMIT = 2**31  # seeds are int32 lanes: jax.random.key(seed) has key data [0, seed]
_COMPILED: dict[tuple, Any] = {}


@dataclasses.dataclass
class Timing:
    """Seconds spent compiling and in compiled calls, and how many of each (accumulated)."""

    compile_seconds: float = 0.0
    solve_seconds: float = 0.0
    compiles: int = 0
    calls: int = 0


def static_key(problem: Problem) -> tuple:
    """What must be equal for problems to share one compiled solve (shapes and static flags)."""
    return (problem.loss, problem.K, problem.counts, problem.d, problem.bias, problem.features)


def bucket(remaining: int, batch_size: int, devices: int = 1) -> int:
    """Lanes of the next call: ``batch_size``, or the next power of two ≥ ``remaining`` if that is
    smaller; rounded up to a multiple of ``devices``."""
    lanes = min(batch_size, 1 << max(remaining - 1, 0).bit_length())
    return -(-lanes // devices) * devices


def clear_cache() -> None:
    """Forget every compiled call (the next call of each shape compiles again)."""
    _COMPILED.clear()


def _from_seed(seed, hyper, labels, gtol, *, shape: Problem, dtype: Any, loss: str,
               nonnegative: bool, cfg: Any):
    """:func:`ufm.solvers.solve_arrays` from ``init_params(shape, jax.random.key(seed))``.

    Under ``vmap`` a seed is an int32 lane; ``jax.random.key`` gives the key data [0, seed] for
    0 ≤ seed < 2³¹ whether the seed is an int32 lane or the Python int of
    :func:`ufm.solvers.minimize`, so both start from the same point.
    """
    import jax

    from ufm.objective import init_params
    from ufm.solvers import solve_arrays

    params0 = init_params(shape, jax.random.key(seed), dtype=dtype)
    return solve_arrays(params0, hyper, labels, gtol, loss=loss, nonnegative=nonnegative, cfg=cfg)


def _check_labels(labels: Any, problem: Problem) -> np.ndarray:
    """``labels`` as int32 [N] in [0, K), or ``problem.labels()`` when None."""
    if labels is None:
        return problem.labels()
    given = np.asarray(labels)
    if (given.shape != (problem.N,) or not np.issubdtype(given.dtype, np.integer)
            or (given.size and (given.min() < 0 or given.max() >= problem.K))):
        # JAX indexing would clamp an out-of-range label silently: refuse it here
        raise ValueError(f"labels of shape {given.shape} and dtype {given.dtype}: expected "
                         f"({problem.N},) integers in [0, {problem.K - 1}]")
    return given.astype(np.int32)


def solve_batch(problems: Sequence[Problem], seeds: Sequence[int],
                labels: Sequence[Any] | None = None, *, dtype: str = "float64",
                max_iters: int = 20_000, gtol: float | None = None, polish: bool = True,
                lanes: int | None = None, timing: Timing | None = None) -> list:
    """Solve problems of one static key in one compiled, vmapped call (module docstring).

    Args:
        problems: the instances; all must have the same :func:`static_key`.
        seeds: one seed per problem, integers in [0, 2³¹) (the random start of
            :func:`ufm.solvers.minimize`).
        labels: None, or one entry per problem: None (``problem.labels()``) or [N] integer labels
            (e.g. from :func:`ufm.noise.flip_labels`).
        dtype, max_iters, gtol, polish: as for :func:`ufm.solvers.minimize`.
        lanes: lanes of the call (≥ len(problems), a multiple of the device count); default
            len(problems) rounded up to a multiple of the device count.
        timing: accumulates compile and solve seconds and counts.

    Returns:
        One :class:`ufm.solvers.SolveResult` per problem, in order. ``seconds`` and
        ``compile_seconds`` are those of the whole call (shared by its lanes).

    Raises:
        ValueError: mixed static keys, bad seeds, labels, dtype, budget, tolerance or lanes.
    """
    import jax
    import jax.numpy as jnp
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    from ufm.objective import Params
    from ufm.precision import dtype_of, x64
    from ufm.solvers import SolveResult, SolverConfig, Status, default_gtol
    from ufm.spec import Hyper

    problems = list(problems)
    if not problems:
        raise ValueError("problems=[]: expected at least one problem")
    key = static_key(problems[0])
    if any(static_key(p) != key for p in problems):
        raise ValueError("problems of different shapes or static settings: expected one "
                         "static key (loss, K, per-class counts, d, bias, features) per call")
    seeds = list(seeds)
    if len(seeds) != len(problems):
        raise ValueError(f"{len(seeds)} seeds for {len(problems)} problems: expected one each")
    bad = [s for s in seeds if not (_is_int(s) and 0 <= s < SEED_LIMIT)]
    if bad:
        raise ValueError(f"seed={bad[0]!r}: expected an integer in [0, 2^31)")
    labels = [None] * len(problems) if labels is None else list(labels)
    if len(labels) != len(problems):
        raise ValueError(f"{len(labels)} label arrays for {len(problems)} problems: expected one "
                         "each (or labels=None)")
    np_dtype = dtype_of(dtype)
    if not (_is_int(max_iters) and max_iters >= 1):
        raise ValueError(f"max_iters={max_iters!r}: expected an integer >= 1")
    tol = default_gtol(np_dtype) if gtol is None else float(gtol)
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"gtol={gtol!r}: expected a finite number > 0")
    devices = jax.devices()
    if lanes is None:
        lanes = -(-len(problems) // len(devices)) * len(devices)
    if not (_is_int(lanes) and lanes >= len(problems) and lanes % len(devices) == 0):
        raise ValueError(f"lanes={lanes!r}: expected an integer >= {len(problems)} and a "
                         f"multiple of the device count {len(devices)}")
    timing = Timing() if timing is None else timing
    first = problems[0]
    cfg = SolverConfig(max_iters=int(max_iters), polish=polish)
    nonnegative = first.features == "nonnegative"
    shape = Problem(first.K, first.counts, first.d, bias=first.bias, features=first.features)
    pad = lanes - len(problems)
    lane_problems = problems + [problems[-1]] * pad
    lane_labels = [_check_labels(y, p) for y, p in zip(labels, problems, strict=True)]
    lane_labels += [lane_labels[-1]] * pad
    with x64(np_dtype == np.float64):
        seed_arr = jnp.asarray(seeds + [seeds[-1]] * pad, dtype=jnp.int32)
        columns = zip(*(p.hyper(np_dtype) for p in lane_problems))
        hyper = Hyper(*(jnp.asarray(np.asarray(col, dtype=np_dtype)) for col in columns))
        label_arr = jnp.asarray(np.stack(lane_labels), dtype=jnp.int32)
        tol_arr = jnp.asarray(tol, dtype=np_dtype)
        if len(devices) > 1:
            mesh = Mesh(np.asarray(devices), ("batch",))
            batched = NamedSharding(mesh, PartitionSpec("batch"))
            seed_arr, hyper, label_arr = jax.device_put((seed_arr, hyper, label_arr), batched)
            tol_arr = jax.device_put(tol_arr, NamedSharding(mesh, PartitionSpec()))
        cache_key = (key, np_dtype.name, cfg, lanes, len(devices))
        compiled = _COMPILED.get(cache_key)
        compile_seconds = 0.0
        if compiled is None:
            start = time.perf_counter()
            solve = functools.partial(_from_seed, shape=shape, dtype=np_dtype, loss=first.loss,
                                      nonnegative=nonnegative, cfg=cfg)
            fn = jax.jit(jax.vmap(solve, in_axes=(0, 0, 0, None)))
            compiled = fn.lower(seed_arr, hyper, label_arr, tol_arr).compile()
            _COMPILED[cache_key] = compiled
            compile_seconds = time.perf_counter() - start
            timing.compile_seconds += compile_seconds
            timing.compiles += 1
        start = time.perf_counter()
        out = jax.block_until_ready(compiled(seed_arr, hyper, label_arr, tol_arr))
        seconds = time.perf_counter() - start
        timing.solve_seconds += seconds
        timing.calls += 1
        out = jax.tree.map(np.asarray, out)
    results = []
    for i, seed in enumerate(seeds):
        status = Status(int(out.status[i]))
        it1, it2 = int(out.first_order_iterations[i]), int(out.newton_iterations[i])
        results.append(SolveResult(
            params=Params(*(a[i] for a in out.params)), objective=float(out.objective[i]),
            grad_norm=float(out.grad_norm[i]), converged=status == Status.CONVERGED,
            status=status.name.lower().replace("_", "-"), message=status.message,
            iterations=it1 + it2, first_order_iterations=it1, newton_iterations=it2,
            grad_evals=int(out.grad_evals[i]), func_evals=int(out.func_evals[i]),
            hvp_evals=int(out.hvp_evals[i]), seconds=seconds, compile_seconds=compile_seconds,
            dtype=np_dtype.name, gtol=tol, seed=int(seed)))
    return results


def solve_many(problems: Sequence[Problem], seeds: Sequence[int],
               labels: Sequence[Any] | None = None, *, batch_size: int = 256,
               fixed_lanes: bool = False, dtype: str = "float64", max_iters: int = 20_000,
               gtol: float | None = None, polish: bool = True, timing: Timing | None = None,
               on_batch: Callable[[int, int], None] | None = None) -> list:
    """:func:`solve_batch` over any mix of static keys, ``batch_size`` lanes per call at most.

    Problems are grouped by :func:`static_key` (groups in order of first appearance) and each
    group is cut into calls of :func:`bucket` lanes (``fixed_lanes``: always ``batch_size``).

    Args:
        problems, seeds, labels, dtype, max_iters, gtol, polish, timing: as for
            :func:`solve_batch` (``labels`` one entry per problem, or None).
        batch_size: lanes per call at most (≥ 1).
        on_batch: called as ``on_batch(done, total)`` after each call (e.g. a progress bar).

    Returns:
        One :class:`ufm.solvers.SolveResult` per problem, in the order given.
    """
    import jax

    if not (_is_int(batch_size) and batch_size >= 1):
        raise ValueError(f"batch_size={batch_size!r}: expected an integer >= 1")
    problems = list(problems)
    seeds = list(seeds)
    labels = [None] * len(problems) if labels is None else list(labels)
    if not (len(seeds) == len(labels) == len(problems)):
        raise ValueError(f"{len(problems)} problems, {len(seeds)} seeds, {len(labels)} label "
                         "entries: expected one of each per problem")
    devices = len(jax.devices())
    groups: dict[tuple, list[int]] = {}
    for i, p in enumerate(problems):
        groups.setdefault(static_key(p), []).append(i)
    out: list[Any] = [None] * len(problems)
    done = 0
    for idx in groups.values():
        start = 0
        while start < len(idx):
            lanes = (-(-batch_size // devices) * devices if fixed_lanes
                     else bucket(len(idx) - start, batch_size, devices))
            chunk = idx[start : start + lanes]
            results = solve_batch([problems[i] for i in chunk], [seeds[i] for i in chunk],
                                  [labels[i] for i in chunk], dtype=dtype, max_iters=max_iters,
                                  gtol=gtol, polish=polish, lanes=lanes, timing=timing)
            for i, result in zip(chunk, results, strict=True):
                out[i] = result
            start += len(chunk)
            done += len(chunk)
            if on_batch is not None:
                on_batch(done, len(problems))
    return out
