"""Plain gradient descent on the UFM with NC metrics logged along the way (theory.md b.9, c.4).

Guo et al. argue that LS converges faster *because* of a lower condition number. This module
measures the speed directly: full-batch GD θ ← θ − η∇f(θ) from one random start, the same η and
λ's for every loss, logging at fixed iterations

* the objective gap f(θ_t) − f* and the relative gap (f − f*)/|f*| (f* from theory.md b),
* NC1, NC2_W, NC2_H (theory.md d; :func:`ufm.metrics.nc_metrics`), and ‖∇f‖,

and reports the first logged iteration at which each falls below a threshold (by default
NC1 < 1e-3, NC2_W < 1e-2, NC2_H < 1e-2, relative gap < 1e-6, theory.md c.4). Iteration counts are
therefore exact to within ``log_every``.

The steps run inside ``lax.scan`` in jitted chunks of ``log_every`` steps; metrics are computed on
the host at the chunk boundaries (they cost O(dNK), negligible at the b.9 sizes).

Reference (theory.md c.4, K = 10, d = 20, n = 10, λ = 5e-4, η = 1, init N(0, 0.1²)): CE reaches
NC1 < 1e-3 at ≈2000 iterations and LS (α = 0.1) at ≈1000; NC2_W < 1e-2 at ≈6200 vs ≈2400;
relative gap < 1e-6 at ≈10,400 vs ≈8,600.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ufm.objective import Params, init_params, objective
from ufm.spec import Hyper, Problem

DEFAULT_THRESHOLDS = {"nc1": 1e-3, "nc2_w": 1e-2, "nc2_h": 1e-2, "rel_gap": 1e-6}


class Trajectory(NamedTuple):
    """A logged GD run.

    Attributes:
        loss: the loss name.
        lr: the step size η.
        iteration: logged iterations [T] (0 = the random start).
        objective: f(θ_t) [T].
        gap: f(θ_t) − f* [T] (NaN without a closed form).
        rel_gap: (f(θ_t) − f*)/|f*| [T].
        grad_norm: ‖∇f(θ_t)‖ [T].
        nc1, nc2_w, nc2_h: NC metrics [T] (theory.md d, Zhu et al. variants for NC2).
        iterations_to: first logged iteration where each metric is below its threshold
            (None if never), keyed like ``thresholds``.
        thresholds: the thresholds used.
        f_star: the reference minimum value f*.
        params: the final point.
    """

    loss: str
    lr: float
    iteration: np.ndarray
    objective: np.ndarray
    gap: np.ndarray
    rel_gap: np.ndarray
    grad_norm: np.ndarray
    nc1: np.ndarray
    nc2_w: np.ndarray
    nc2_h: np.ndarray
    iterations_to: dict[str, int | None]
    thresholds: dict[str, float]
    f_star: float
    params: Params

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: arrays as lists, the final point left out."""
        out: dict[str, Any] = {}
        for name, value in self._asdict().items():
            if name == "params":
                continue
            out[name] = value.tolist() if isinstance(value, np.ndarray) else value
        return out


@functools.partial(jax.jit, static_argnames=("loss", "steps"))
def _gd_chunk(
    params: Params, hyper: Hyper, labels: jax.Array, lr: jax.Array, *, loss: str, steps: int
):
    """``steps`` GD steps in one ``lax.scan``; returns the new point, f and ‖∇f‖ at it."""
    vg = jax.value_and_grad(objective)

    def step(p: Params, _: None):
        _, g = vg(p, hyper, labels, loss)
        return Params(*(a - lr * b for a, b in zip(p, g))), None

    params, _ = jax.lax.scan(step, params, None, length=steps)
    f, g = vg(params, hyper, labels, loss)
    gnorm = jnp.sqrt(sum(jnp.sum(x * x) for x in g))
    return params, f, gnorm


def iterations_to(iteration: np.ndarray, values: np.ndarray, threshold: float) -> int | None:
    """The first ``iteration[t]`` with ``values[t] < threshold`` (None if none)."""
    hit = np.flatnonzero(np.asarray(values) < threshold)
    return int(iteration[hit[0]]) if hit.size else None


def gradient_descent(
    problem: Problem,
    *,
    lr: float = 1.0,
    steps: int = 20_000,
    log_every: int = 100,
    seed: int = 0,
    init_scale: float = 0.1,
    init: Params | None = None,
    thresholds: dict[str, float] | None = None,
    f_star: float | None = None,
    dtype: Any = np.float64,
) -> Trajectory:
    """Full-batch GD from a random start, logging the objective gap and NC metrics.

    Call inside ``ufm.precision.x64()`` for float64 (the default ``dtype``).

    Args:
        problem: the UFM instance (its loss is the one descended).
        lr: step size η.
        steps: total GD steps (rounded up to a multiple of ``log_every``).
        log_every: steps between logs (one jitted ``lax.scan`` chunk).
        seed: PRNG seed of the start (``init_params`` with ``scale=init_scale``); use the same
            seed to give every loss the same start.
        init_scale: standard deviation of the N(0, s²) entries of W and H (b starts at 0).
        init: an explicit start instead (overrides ``seed``).
        thresholds: metric → threshold for :attr:`Trajectory.iterations_to`
            (default :data:`DEFAULT_THRESHOLDS`).
        f_star: reference minimum value; default the closed form (theory.md b), NaN if none.
        dtype: float64 or float32.

    Returns:
        A :class:`Trajectory`.
    """
    from ufm.closed_form import closed_form
    from ufm.metrics import nc_metrics

    if not (isinstance(log_every, int) and log_every >= 1):
        raise ValueError(f"log_every={log_every!r}: expected an integer >= 1")
    if not (isinstance(steps, int) and steps >= 0):
        raise ValueError(f"steps={steps!r}: expected an integer >= 0")
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr={lr!r}: expected a finite number > 0")
    thresholds = dict(DEFAULT_THRESHOLDS if thresholds is None else thresholds)
    if f_star is None:
        cf = closed_form(problem)
        f_star = float(cf.objective) if cf.available else float("nan")
    if init is None:
        params = init_params(problem, jax.random.key(seed), dtype=dtype, scale=init_scale)
    else:
        params = Params(*(jnp.asarray(a, dtype) for a in init))
    hyper = Hyper(*(jnp.asarray(h, dtype) for h in problem.hyper(dtype)))
    labels_np = problem.labels()
    labels = jnp.asarray(labels_np)
    lr_arr = jnp.asarray(lr, dtype)

    rows: list[tuple[float, ...]] = []

    def log(p: Params, it: int, f: float, gnorm: float) -> None:
        nc = nc_metrics(*(np.asarray(a) for a in p), labels_np, problem.K)
        gap = f - f_star
        rows.append((it, f, gap, gap / abs(f_star) if f_star else np.nan, gnorm,
                     nc["nc1"], nc["nc2_w"], nc["nc2_h"]))

    f0, g0 = jax.value_and_grad(objective)(params, hyper, labels, problem.loss)
    log(params, 0, float(f0), float(jnp.sqrt(sum(jnp.sum(x * x) for x in g0))))
    chunks = -(-steps // log_every)
    for c in range(chunks):
        params, f, gnorm = _gd_chunk(
            params, hyper, labels, lr_arr, loss=problem.loss, steps=log_every
        )
        log(params, (c + 1) * log_every, float(f), float(gnorm))
    cols = [np.array(col) for col in zip(*rows)]
    it = cols[0].astype(np.int64)
    keys = ("objective", "gap", "rel_gap", "grad_norm", "nc1", "nc2_w", "nc2_h")
    named = dict(zip(keys, cols[1:]))
    reached = {k: iterations_to(it, named[k], v) for k, v in thresholds.items()}
    return Trajectory(
        loss=problem.loss, lr=float(lr), iteration=it, **named, iterations_to=reached,
        thresholds=thresholds, f_star=f_star, params=Params(*(np.asarray(a) for a in params)),
    )


def compare_losses(
    problem: Problem,
    losses: tuple[str, ...] = ("ce", "ls", "maxsup"),
    *,
    alpha: float = 0.1,
    **kwargs: Any,
) -> dict[str, Trajectory]:
    """GD for several losses at equal step size, weight decay and start (theory.md c.4).

    ``problem`` gives the sizes and λ's; each loss gets ``problem.replace(loss=..., alpha=...)``
    (α for LS and MaxSup, 0 for CE). ``kwargs`` go to :func:`gradient_descent` (same ``seed``
    ⇒ same start).
    """
    out = {}
    for loss in losses:
        a = alpha if loss in ("ls", "maxsup") else 0.0
        out[loss] = gradient_descent(problem.replace(loss=loss, alpha=a), **kwargs)
    return out
