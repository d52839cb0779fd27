"""Solve many small UFM instances of one shape at once: vmapped :func:`ufm.solvers.solve_arrays`.

Problems that share the static settings (loss, K, per-class counts, d, bias, features) differ
only in their hyper-parameters (a :class:`~ufm.spec.Hyper` pytree), so one compiled, vmapped
solver serves all of them. Batches are padded to a fixed ``chunk`` (repeating the last problem)
so a figure compiles once per static key, whatever its number of configurations; the compiled
functions are cached for the life of the process and shared between figures.

Every lane runs the same accelerated-gradient + Newton-CG solver as :func:`ufm.solvers.minimize`
(same defaults, float64, gtol = eps^(2/3)); a lane stops changing when it has converged, and the
batch returns when its slowest lane has.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from ufm.spec import Problem

CHUNK = 16
_COMPILED: dict[tuple, Any] = {}


class Solution(NamedTuple):
    """One solved instance (numpy float64)."""

    problem: Problem
    W: np.ndarray
    H: np.ndarray
    b: np.ndarray
    objective: float
    grad_norm: float
    converged: bool
    status: str
    iterations: int


def _static_key(problem: Problem) -> tuple:
    return (problem.loss, problem.K, problem.counts, problem.d, problem.bias, problem.features)


def _solver(key: tuple, chunk: int):
    if (key, chunk) in _COMPILED:
        return _COMPILED[(key, chunk)]
    import jax

    from ufm.solvers import SolverConfig, solve_arrays

    loss, nonnegative = key[0], key[5] == "nonnegative"
    fn = functools.partial(solve_arrays, loss=loss, nonnegative=nonnegative, cfg=SolverConfig())
    compiled = jax.jit(jax.vmap(fn, in_axes=(0, 0, None, None)))
    _COMPILED[(key, chunk)] = compiled
    return compiled


def solve_many(problems: Sequence[Problem], seeds: Sequence[int], *, chunk: int = CHUNK,
               label: str = "solve") -> list[Solution]:
    """Minimise every problem from ``init_params(problem, jax.random.key(seed))``, vmapped.

    Args:
        problems: the instances (any mix of static settings; grouped internally).
        seeds: one PRNG seed per problem (the random start of :func:`ufm.solvers.minimize`).
        chunk: lanes per compiled call.
        label: progress-bar label.

    Returns:
        One :class:`Solution` per problem, in order.
    """
    import jax
    import jax.numpy as jnp

    from ufm.figures._progress import track
    from ufm.objective import init_params
    from ufm.precision import x64
    from ufm.solvers import Status, default_gtol
    from ufm.spec import Hyper

    if len(problems) != len(seeds):
        raise ValueError(f"{len(problems)} problems but {len(seeds)} seeds: expected one seed each")
    groups: dict[tuple, list[int]] = {}
    for i, p in enumerate(problems):
        groups.setdefault(_static_key(p), []).append(i)
    batches = [(key, idx[s : s + chunk]) for key, idx in groups.items()
               for s in range(0, len(idx), chunk)]
    out: list[Solution | None] = [None] * len(problems)
    with x64():
        gtol = jnp.asarray(default_gtol("float64"))
        for key, idx in track(batches, label):
            padded = idx + [idx[-1]] * (chunk - len(idx))
            probs = [problems[i] for i in padded]
            hyper = Hyper(*(jnp.asarray(np.array(col, dtype=np.float64))
                            for col in zip(*(p.hyper(np.float64) for p in probs), strict=True)))
            template = probs[0]
            starts = jax.vmap(lambda s, t=template: init_params(t, jax.random.key(s)))(
                jnp.asarray([int(seeds[i]) for i in padded], dtype=jnp.uint32))
            labels = jnp.asarray(template.labels())
            res = _solver(key, chunk)(starts, hyper, labels, gtol)
            res = jax.tree.map(np.asarray, res)
            for lane, i in enumerate(idx):
                status = Status(int(res.status[lane]))
                out[i] = Solution(
                    problem=problems[i],
                    W=res.params.W[lane], H=res.params.H[lane], b=res.params.b[lane],
                    objective=float(res.objective[lane]), grad_norm=float(res.grad_norm[lane]),
                    converged=status == Status.CONVERGED,
                    status=status.name.lower().replace("_", "-"),
                    iterations=int(res.first_order_iterations[lane] + res.newton_iterations[lane]),
                )
    return [s for s in out if s is not None]


def margin_of(sol: Solution) -> float:
    """Mean over samples of own logit minus the mean of the other logits (Δ for ETF logits)."""
    Z = sol.W @ sol.H
    K, N = Z.shape
    y = sol.problem.labels()
    own = Z[y, np.arange(N)]
    others = (Z.sum(axis=0) - own) / (K - 1)
    return float(np.mean(own - others))
