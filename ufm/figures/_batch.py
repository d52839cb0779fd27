"""The figures' vmapped solves: :func:`ufm.batch.solve_many` with a fixed number of lanes.

Problems that share the static settings (loss, K, per-class counts, d, bias, features) differ
only in their hyper-parameters, so one compiled, vmapped solver serves all of them. Every call is
padded to ``chunk`` lanes (``fixed_lanes=True``), so a figure compiles once per static key,
whatever its number of configurations; :mod:`ufm.batch` keeps the compiled calls for the life of
the process, so figures with the same ``chunk`` (:data:`ufm.figures.LANES`) share them.

Every lane runs the solver of :func:`ufm.solvers.minimize` from the same random start (same
defaults, float64, gtol = eps^(2/3)).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ufm.spec import Problem

if TYPE_CHECKING:
    from ufm.solvers import SolveResult

CHUNK = 16


class Solution(NamedTuple):
    """One solved instance (numpy float64): the fields of ``result`` the figures read."""

    problem: Problem
    W: np.ndarray
    H: np.ndarray
    b: np.ndarray
    objective: float
    grad_norm: float
    converged: bool
    status: str
    iterations: int
    result: SolveResult  # the whole result of ufm.batch.solve_many (for ufm.verify)

    @classmethod
    def of(cls, problem: Problem, result: SolveResult) -> Solution:
        """The solution of ``problem`` that ``result`` holds."""
        W, H, b = result.params
        return cls(problem, W, H, b, result.objective, result.grad_norm, result.converged,
                   result.status, result.iterations, result)


def solve_many(problems: Sequence[Problem], seeds: Sequence[int], *, chunk: int = CHUNK,
               label: str = "solve") -> list[Solution]:
    """Minimise every problem from ``init_params(problem, jax.random.key(seed))``, vmapped.

    Args:
        problems: the instances (any mix of static settings; grouped internally).
        seeds: one PRNG seed per problem (the random start of :func:`ufm.solvers.minimize`).
        chunk: lanes per compiled call.
        label: progress-bar label (a :func:`ufm.progress.track_bar` over the problems).

    Returns:
        One :class:`Solution` per problem, in order.
    """
    from ufm import batch
    from ufm.progress import track_bar

    if len(problems) != len(seeds):
        raise ValueError(f"{len(problems)} problems but {len(seeds)} seeds: expected one seed each")
    progress = track_bar(len(problems), label)
    try:
        results = batch.solve_many(problems, seeds, batch_size=chunk, fixed_lanes=True,
                                   on_batch=lambda done, _: progress.advance(done - progress.done))
    finally:
        progress.close()
    return [Solution.of(p, r) for p, r in zip(problems, results, strict=True)]


def margin_of(sol: Solution) -> float:
    """Mean over samples of own logit minus the mean of the other logits (Δ for ETF logits)."""
    Z = sol.W @ sol.H
    K, N = Z.shape
    y = sol.problem.labels()
    own = Z[y, np.arange(N)]
    others = (Z.sum(axis=0) - own) / (K - 1)
    return float(np.mean(own - others))
