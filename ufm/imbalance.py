"""Imbalanced classes and minority collapse (theory.md g, "Minority collapse", Fang et al. 2021).

With class counts n_1, …, n_K (N = Σ n_k) the UFM of theory.md a.1 has no closed form
(theory.md b assumes balanced classes), but it is still certified by the duality gap of
:mod:`ufm.certificate` (for CE/LS/MaxSup the relaxation is exact for every d ≥ K−1).

**Minority collapse.** When some classes (the *minority*) have far fewer samples than the others,
their classifier rows w_k move together: the angle between minority classifiers shrinks as the
imbalance ratio R = n_major / n_minor grows and, with weight decay, becomes exactly 0 beyond a
finite ratio (the minority-difference directions enter a "zero regime", like the Kβ < 1 threshold
of theory.md b.2). This module measures it.

**Class-level reduction** (used for the curve, so that R can be any real number ≥ 1). For CE, LS,
MaxSup and MSE the per-sample problem in h_i given (W, b), ℓ(W h + b, y_i) + (Nλ_H/2)‖h‖², is
strictly convex, so at every global minimiser all samples of a class share one feature h_k
(exact NC1). Substituting, the UFM minimum equals the minimum of

    F(W, h_1..h_K, b) = Σ_k π_k ℓ(W h_k + b, k) + (λ_W/2)‖W‖² + (Nλ_H/2) Σ_k π_k ‖h_k‖²
                        + (λ_b/2)‖b‖²,

π_k = n_k / N, and the classifier W is the same. F extends to real counts n_k. For integer
counts it is checked against the full UFM solver in tests. (FL is excluded: ℓ_FL is not convex
in the logits, so the reduction is not proved.)
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ufm.losses import per_sample_loss
from ufm.objective import Params
from ufm.precision import x64
from ufm.spec import Hyper, Problem

REDUCIBLE_LOSSES = ("ce", "ls", "maxsup", "mse")


# ---------------------------------------------------------------------------- angle metrics
_ZERO_RTOL = float(np.finfo(np.float64).eps) ** (1 / 3)  # a row is 0 below this fraction of max‖w‖


def _rows_angle_norm(W: np.ndarray, rows: np.ndarray, floor: float) -> tuple[float, float, float]:
    """Mean pairwise angle (degrees), mean norm and mean pairwise distance of rows ``rows`` of W.

    The angle is NaN with fewer than two rows or when a row norm is ≤ ``floor`` (direction
    undefined).
    """
    V = W[rows]
    norms = np.linalg.norm(V, axis=1)
    mean_norm = float(norms.mean()) if rows.size else math.nan
    if rows.size < 2:
        return math.nan, mean_norm, math.nan
    iu = np.triu_indices(rows.size, 1)
    dist = np.linalg.norm(V[:, None, :] - V[None, :, :], axis=2)[iu]
    if not np.all(norms > floor):
        return math.nan, mean_norm, float(dist.mean())
    U = V / norms[:, None]
    cos = np.clip((U @ U.T)[iu], -1.0, 1.0)
    return float(np.degrees(np.arccos(cos)).mean()), mean_norm, float(dist.mean())


def classifier_angles(W: Any, counts: Any) -> dict[str, Any]:
    """Minority/majority classifier geometry for classifier rows W [K, d] and class counts [K].

    Minority classes are those with the smallest count, majority those with the largest (for
    balanced counts both are all classes). Angles are between the raw rows w_k (no centring: at
    every stationary point of a softmax loss with a bias, Σ_k w_k = 0 anyway).

    A row with ‖w_k‖ ≤ eps^(1/3)·max_j ‖w_j‖ counts as 0 (the solver's accuracy: verify.py's Gram
    tolerance); its direction is undefined, so the angle is NaN and ``minority_zero`` is True.
    Beyond the collapse threshold the minority classifiers first coincide (angle 0) and, at a
    larger ratio, vanish together (w_k = 0).

    Returns:
        dict with ``minority_classes``, ``majority_classes`` (lists of ints),
        ``minority_angle_deg``/``majority_angle_deg`` (mean pairwise angle in degrees; NaN with
        fewer than two classes or a zero row), ``minority_norm``/``majority_norm`` (mean ‖w_k‖),
        ``minority_spread`` (mean pairwise ‖w_k − w_k'‖ / max_j ‖w_j‖ over minority classes),
        ``minority_zero`` (every minority row is 0), ``norm_ratio`` (minority_norm /
        majority_norm), ``imbalance_ratio`` (max/min count).
    """
    W = np.asarray(W, dtype=np.float64)
    c = np.asarray(counts, dtype=np.float64)
    if W.ndim != 2 or c.shape != (W.shape[0],) or not np.all(c > 0):
        raise ValueError(
            f"W shape {W.shape}, counts shape {c.shape}: expected W [K, d] and K counts > 0"
        )
    scale = float(np.linalg.norm(W, axis=1).max())
    floor = _ZERO_RTOL * scale
    minority = np.flatnonzero(c == c.min())
    majority = np.flatnonzero(c == c.max())
    a_min, n_min, s_min = _rows_angle_norm(W, minority, floor)
    a_maj, n_maj, _ = _rows_angle_norm(W, majority, floor)
    return {
        "minority_classes": minority.tolist(),
        "majority_classes": majority.tolist(),
        "minority_angle_deg": a_min,
        "majority_angle_deg": a_maj,
        "minority_norm": n_min,
        "majority_norm": n_maj,
        "minority_spread": s_min / scale if scale > 0 else math.nan,
        "minority_zero": bool(scale > 0 and np.all(np.linalg.norm(W[minority], axis=1) <= floor)),
        "norm_ratio": n_min / n_maj if n_maj > 0 else math.nan,
        "imbalance_ratio": float(c.max() / c.min()),
    }


def minority_report(problem: Problem, params: Params) -> dict[str, Any]:
    """:func:`classifier_angles` for a solution of ``problem`` (counts = ``problem.counts``)."""
    W = np.asarray(params.W, dtype=np.float64)
    if W.shape != (problem.K, problem.d):
        raise ValueError(f"W shape {W.shape}: expected ({problem.K}, {problem.d})")
    return classifier_angles(W, problem.counts)


# ----------------------------------------------------------------- class-level reduced model
def reduced_objective(theta: jax.Array, weights: jax.Array, nu: jax.Array, hyper: Hyper, *,
                      K: int, d: int, bias: bool, loss: str) -> jax.Array:
    """F of the module docstring, θ = (vec W [K,d], vec H_c [d,K], b [K] if bias).

    Args:
        theta: flat parameters. weights: π [K] (Σ π = 1). nu: Nλ_H.
        hyper: the :class:`~ufm.spec.Hyper` (λ_W, λ_b, α, s are used; λ_H enters through ν).
    """
    W = theta[: K * d].reshape(K, d)
    Hc = theta[K * d : 2 * K * d].reshape(d, K)
    Z = W @ Hc
    if bias:
        b = theta[2 * K * d :]
        Z = Z + b[:, None]
        reg_b = 0.5 * hyper.lambda_b * jnp.sum(b * b)
    else:
        reg_b = 0.0
    data = jnp.sum(weights * per_sample_loss(loss, Z, jnp.arange(K), hyper))
    return (data + 0.5 * hyper.lambda_w * jnp.sum(W * W)
            + 0.5 * nu * jnp.sum(weights * jnp.sum(Hc * Hc, axis=0)) + reg_b)


@functools.lru_cache(maxsize=32)
def _reduced_fns(K: int, d: int, bias: bool, loss: str):
    f = functools.partial(reduced_objective, K=K, d=d, bias=bias, loss=loss)
    return jax.jit(jax.value_and_grad(f)), jax.jit(jax.hessian(f))


def solve_reduced(counts: Any, dim: int, *, loss: str = "ce", lambda_w: float, lambda_h: float,
                  lambda_b: float = 0.0, bias: bool = True, alpha: float = 0.0,
                  target_scale: float = 1.0, seed: int = 0, init: np.ndarray | None = None,
                  gtol: float | None = None, max_iters: int = 500) -> dict[str, Any]:
    """Minimise the class-level reduced UFM F for real class counts (saddle-free Newton, float64).

    F has K(2d+1) unknowns, so each step uses the exact JAX Hessian and its eigendecomposition:
    p = −Σ_i (u_iᵀg / max(|λ_i|, floor)) u_i with floor = 1e-10·max|λ| (|λ|: negative curvature is
    followed downhill; the O(d) rotation null space carries no gradient). Backtracking halves
    the step until f decreases by the Armijo amount or, once f changes at round-off level only,
    ‖∇F‖ decreases (a value-only test cannot resolve ‖∇F‖ below sqrt(eps·|F|·λ)).
    Stops at ‖∇F‖ ≤ gtol·(1 + |F|), gtol = eps^(2/3) by default (the solver's rule of
    :mod:`ufm.solvers`).

    Returns:
        dict with ``W`` [K,d], ``H`` (class features [d,K]), ``b`` [K] or [0], ``objective``,
        ``grad_norm``, ``converged``, ``iterations``, ``theta`` (flat, for warm starts).
    """
    c = np.asarray(counts, dtype=np.float64)
    K = c.size
    if K < 2 or not np.all(np.isfinite(c) & (c > 0)):
        raise ValueError(f"counts={counts!r}: expected at least 2 finite counts > 0")
    if loss not in REDUCIBLE_LOSSES:
        raise ValueError(f"loss={loss!r}: expected one of {', '.join(REDUCIBLE_LOSSES)}")
    d = int(dim)
    N = float(c.sum())
    eps = float(np.finfo(np.float64).eps)
    gtol = eps ** (2 / 3) if gtol is None else float(gtol)
    P = 2 * K * d + (K if bias else 0)
    with x64():
        vg, hess = _reduced_fns(K, d, bool(bias), loss)
        hyper = Hyper(*(jnp.asarray(v, jnp.float64) for v in (
            lambda_w, lambda_h, lambda_b if bias else 0.0,
            alpha if loss in ("ls", "maxsup") else 0.0, 0.0, target_scale)))
        w = jnp.asarray(c / N)
        nu = jnp.asarray(N * lambda_h)
        if init is None:
            rng = np.random.default_rng(seed)
            x = rng.normal(scale=1.0 / math.sqrt(d), size=P)
            if bias:
                x[2 * K * d :] = 0.0
        else:
            x = np.array(init, dtype=np.float64)
            if x.shape != (P,):
                raise ValueError(f"init shape {x.shape}: expected ({P},)")

        def fun(z):
            v, g = vg(jnp.asarray(z), w, nu, hyper)
            return float(v), np.asarray(g)

        f, g = fun(x)
        gnorm = float(np.linalg.norm(g))
        it = 0
        while it < max_iters and np.isfinite(f) and gnorm > gtol * (1 + abs(f)):
            it += 1
            lam, U = np.linalg.eigh(np.asarray(hess(jnp.asarray(x), w, nu, hyper)))
            a = np.abs(lam)
            a = np.maximum(a, 1e-10 * max(a.max(), eps))
            p = -U @ ((U.T @ g) / a)
            slope = float(g @ p)
            slack = 16 * eps * (1 + abs(f))
            step, accepted = 1.0, False
            for _ in range(60):
                f_new, g_new = fun(x + step * p)
                if np.isfinite(f_new) and (f_new <= f + 1e-4 * step * slope or (
                        f_new <= f + slack and np.linalg.norm(g_new) < gnorm)):
                    accepted = True
                    break
                step *= 0.5
            if not accepted:
                break
            x, f, g = x + step * p, f_new, g_new
            gnorm = float(np.linalg.norm(g))
    return {
        "W": x[: K * d].reshape(K, d),
        "H": x[K * d : 2 * K * d].reshape(d, K),
        "b": x[2 * K * d :],
        "objective": f,
        "grad_norm": gnorm,
        "converged": bool(np.isfinite(f) and gnorm <= gtol * (1 + abs(f))),
        "iterations": it,
        "theta": x,
    }


def _counts(K: int, n_major: float, ratio: float, n_minority: int) -> np.ndarray:
    return np.array([float(n_major)] * (K - n_minority) + [n_major / ratio] * n_minority)


def _check_curve_args(K, n_major, dim, n_minority, lambdas):
    if not (isinstance(K, int) and K >= 3):
        raise ValueError(f"K={K!r}: expected an integer >= 3 (two minority classes need K >= 3)")
    if not (isinstance(n_minority, int) and 2 <= n_minority < K):
        raise ValueError(f"n_minority={n_minority!r}: expected an integer in [2, {K - 1}]")
    if not (n_major > 0 and isinstance(dim, int) and dim >= 1):
        raise ValueError(f"n_major={n_major!r}, dim={dim!r}: expected n_major > 0, dim >= 1")
    if len(lambdas) != 3:
        raise ValueError(f"lambdas={lambdas!r}: expected (lambda_w, lambda_h, lambda_b)")


def minority_collapse_curve(K: int = 4, n_major: float = 20.0, ratios: Any = (1, 2, 5, 10, 20),
                            dim: int = 4, lambdas: tuple[float, float, float] = (1e-2, 1e-2, 1e-2),
                            loss: str = "ce", seed: int = 0, *, n_minority: int = 2,
                            alpha: float = 0.0, bias: bool = True) -> dict[str, Any]:
    """Minority angle and norm against the imbalance ratio R = n_major / n_minor.

    The first K − ``n_minority`` classes have ``n_major`` samples, the last ``n_minority`` have
    n_major / R (a real number: the class-level reduction of the module docstring). Each ratio is
    solved from a seeded random start and from the previous ratio's solution (continuation); the
    lower objective wins.

    Args:
        K: classes (≥ 3). n_major: majority count. ratios: imbalance ratios R ≥ 1.
        dim: feature dimension d. lambdas: (λ_W, λ_H, λ_b). loss: ce, ls, maxsup or mse.
        seed: seed of the random starts. n_minority: number of minority classes (≥ 2).
        alpha: LS/MaxSup α. bias: classifier bias.

    Returns:
        dict of lists, one entry per ratio: ``ratios``, ``minority_angle_deg`` (NaN where the
        minority classifiers are 0), ``majority_angle_deg``, ``minority_norm``, ``majority_norm``,
        ``minority_spread``, ``minority_zero``, ``objective``, ``grad_norm``, ``converged``; and
        ``settings`` (the arguments).
    """
    _check_curve_args(K, n_major, dim, n_minority, lambdas)
    lw, lh, lb = (float(v) for v in lambdas)
    geo_keys = ("minority_angle_deg", "majority_angle_deg", "minority_norm", "majority_norm",
                "minority_spread", "minority_zero")
    out: dict[str, Any] = {
        k: [] for k in ("ratios", *geo_keys, "objective", "grad_norm", "converged")
    }
    kw = dict(loss=loss, lambda_w=lw, lambda_h=lh, lambda_b=lb, bias=bias, alpha=alpha)
    prev = None
    for i, R in enumerate(ratios):
        R = float(R)
        if not R >= 1:
            raise ValueError(f"ratio={R!r}: expected a number >= 1")
        counts = _counts(K, n_major, R, n_minority)
        best = solve_reduced(counts, dim, seed=seed + i, **kw)
        if prev is not None:
            warm = solve_reduced(counts, dim, init=prev, **kw)
            if warm["objective"] < best["objective"]:
                best = warm
        prev = best["theta"]
        geo = classifier_angles(best["W"], counts)
        out["ratios"].append(R)
        for key in geo_keys:
            out[key].append(geo[key])
        out["objective"].append(best["objective"])
        out["grad_norm"].append(best["grad_norm"])
        out["converged"].append(best["converged"])
    out["settings"] = {"K": K, "n_major": n_major, "dim": dim, "lambdas": [lw, lh, lb],
                       "loss": loss, "seed": seed, "n_minority": n_minority, "alpha": alpha,
                       "bias": bias}
    return out


def collapse_threshold(K: int = 4, n_major: float = 20.0, dim: int = 4,
                       lambdas: tuple[float, float, float] = (1e-2, 1e-2, 1e-2), loss: str = "ce",
                       seed: int = 0, *, n_minority: int = 2, alpha: float = 0.0, bias: bool = True,
                       angle_tol_deg: float = 0.1, ratio_max: float = 1e4,
                       rtol: float = 1e-3) -> dict[str, Any]:
    """The imbalance ratio R* beyond which the minority classifiers collapse.

    Criterion ("collapsed at R"): the mean pairwise minority-classifier angle is ≤
    ``angle_tol_deg``, or the minority classifiers are all 0 (see :func:`classifier_angles`).
    Near the bifurcation the angle vanishes like sqrt(R* − R) (a pitchfork), and a solve
    converged to ‖∇F‖ ≈ eps^(2/3) leaves an angle of ~1e-6° past it, so the located ratio lies
    below the exact bifurcation point by a relative O((angle_tol/angle scale)²).

    Search: R doubles from 1 until the criterion holds (up to ``ratio_max``), then bisection on
    log R until the bracket's relative width hi/lo − 1 is ≤ ``rtol``. The criterion is assumed
    monotone in R (it is checked only at the evaluated ratios).

    Returns:
        dict with ``threshold`` (the upper end of the final bracket; None if nothing collapses up
        to ``ratio_max``), ``bracket`` [lo, hi], ``angle_at_bracket`` (degrees; NaN for zero
        classifiers), ``evaluations``, ``converged`` (every solve reached the tolerance),
        ``criterion`` (text) and ``settings``.
    """
    _check_curve_args(K, n_major, dim, n_minority, lambdas)
    if not (angle_tol_deg > 0 and ratio_max > 2 and rtol > 0):
        raise ValueError(
            f"angle_tol_deg={angle_tol_deg!r}, ratio_max={ratio_max!r}, rtol={rtol!r}: "
            "expected angle_tol_deg > 0, ratio_max > 2, rtol > 0"
        )
    lw, lh, lb = (float(v) for v in lambdas)
    kw = dict(loss=loss, lambda_w=lw, lambda_h=lh, lambda_b=lb, bias=bias, alpha=alpha, seed=seed)
    cache: dict[float, dict[str, Any]] = {}
    all_converged = True

    def evaluate(R: float) -> dict[str, Any]:
        nonlocal all_converged
        if R not in cache:
            counts = _counts(K, n_major, R, n_minority)
            sol = solve_reduced(counts, dim, **kw)
            all_converged &= sol["converged"]
            cache[R] = classifier_angles(sol["W"], counts)
        return cache[R]

    def collapsed(R: float) -> bool:
        g = evaluate(R)
        return g["minority_zero"] or g["minority_angle_deg"] <= angle_tol_deg

    def result(threshold, lo, hi):
        angles = [None if r is None else evaluate(r)["minority_angle_deg"] for r in (lo, hi)]
        return {"threshold": threshold, "bracket": [lo, hi], "angle_at_bracket": angles,
                "evaluations": len(cache), "converged": all_converged,
                "criterion": f"minority angle <= {angle_tol_deg} deg or minority classifiers = 0",
                "settings": {"K": K, "n_major": n_major, "dim": dim, "lambdas": [lw, lh, lb],
                             "loss": loss, "seed": seed, "n_minority": n_minority, "alpha": alpha,
                             "bias": bias, "angle_tol_deg": angle_tol_deg, "rtol": rtol}}

    lo, hi = 1.0, 2.0
    if collapsed(lo):
        return result(1.0, 1.0, 1.0)
    while not collapsed(hi):
        lo, hi = hi, 2.0 * hi
        if hi > ratio_max:
            return result(None, lo, None)
    while hi / lo - 1.0 > rtol:
        mid = math.sqrt(lo * hi)
        if collapsed(mid):
            hi = mid
        else:
            lo = mid
    return result(hi, lo, hi)
