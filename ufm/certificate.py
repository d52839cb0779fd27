"""Global-optimality certificate: a duality-gap lower bound on the UFM minimum (theory.md h).

For losses that are convex in the logits (CE, LS, MSE; MaxSup through the LS bound) the UFM has
an exact convex reformulation. With Z = W H (K×N) and μ := sqrt(λ_W λ_H),

    min over factorisations of inner dimension d ≥ rank Z of (λ_W/2)‖W‖² + (λ_H/2)‖H‖² = μ‖Z‖_*,

    f* = min_{rank Z ≤ d, b} g(Z, b),   g(Z, b) = L(Z + b1ᵀ) + μ‖Z‖_* + (λ_b/2)‖b‖²,
    L(U) = (1/N) Σ_i ℓ(u_i, y_i).

Dropping the rank bound gives a convex problem with value P* ≤ f*. Fenchel–Young gives, for every
Λ ∈ R^{K×N} with ‖Λ‖₂ ≤ μ,

    f* ≥ P* ≥ D(Λ) = −L*(Λ) − ‖Λ1‖²/(2λ_b)       (bias, λ_b > 0)
                D(Λ) = −L*(Λ)                      (no bias; or bias with λ_b = 0, needs Λ1 = 0)

with L*(Λ) = (1/N) Σ_i ℓ*(N λ_i) and the conjugates

* CE / LS, target q_i = (1−α) e_{y_i} + (α/K) 1:  ℓ*(v) = Σ_j r_j log r_j, r = q_i + v, finite only
  for r in the probability simplex (entropy terms r log r with r = 0 are 0,
  ``scipy.special.xlogy``);
* MSE, ℓ = ½‖u − s e_y‖²:  ℓ*(v) = ½‖v‖² + s v_y;
* MaxSup: ℓ_MS ≥ ℓ_LS pointwise, so the LS bound D_LS is a lower bound for MaxSup too (b.4, h).

**Natural dual point** at a candidate (W, H, b) with logits U = W H + b1ᵀ (theory.md h):
G = ∇L(U) = (1/N)[∇ℓ(u_i, y_i)]_i (CE/LS/MaxSup: (1/N)[softmax(u_i) − q_i], the LS gradient for
MaxSup; MSE: (1/N)[u_i − s e_{y_i}]), Λ = t·G with t = min(1, μ/‖G‖₂). With a bias and λ_b = 0
each row of G is first centred over the samples (G ← G − G 1 1ᵀ/N, so Λ1 = 0); t is then computed
from the centred G, whose spectral norm is at most that of G (centring is a right projection), so
Λ stays feasible. After centring, r = q_i + N λ_i can leave the simplex: the bound is then
reported as unavailable (``status="unavailable"``, reason "dual point outside the domain").

**Certificate.** gap = f(W, H, b) − D(Λ) ≥ f − f* ≥ 0. It closes at a global minimiser (strong
duality; there ‖G‖₂ = μ when Z* ≠ 0) whenever the relaxation is exact.

**When the relaxation is exact** (d ≥ rank of a convex solution; else P* < f* and the gap cannot
close). Rules used here, each proved:

* d ≥ K: rank Z ≤ K ≤ d always (theory.md h).
* CE / LS / MaxSup, d ≥ K−1, any labels or class counts: these losses are invariant under
  u_i → u_i + c·1, so replacing Z by C Z (C = I − J/K) leaves L unchanged and does not increase
  ‖Z‖_* (‖CZ‖_* ≤ ‖C‖₂‖Z‖_*), and rank CZ ≤ K−1. [DERIVED here; it generalises the balanced
  "rank K−1" statement of theory.md h to imbalanced classes and label noise.]
* MSE with a bias and λ_b = 0, d ≥ K−1: minimising over b leaves min_Z (1/2N)‖Z − sY P‖² + μ‖Z‖_*
  with P = I − J/N; its solution soft-thresholds the singular values of sYP, which has rank K−1
  (1 is a left and a right null vector). [DERIVED here.]
* MSE without bias: the solution soft-thresholds sY, whose singular values are s·sqrt(n_k)
  (rows of Y are orthogonal), at Nμ, so rank = #{k : s·sqrt(n_k) > Nμ}. [DERIVED here.]
* balanced classes with the problem's own labels (all remaining cases): the rank of the
  closed-form class-logit matrix M of theory.md b (computed at dimension max(d, K), where the
  closed form is the convex solution).
* otherwise unknown (``relaxation_exact=None``).

**Status** (the threshold ``rtol`` is a parameter, default 1e-8):

* ``"unavailable"``: focal loss (not convex in the logits, theory.md h); nonnegative features
  (H ≥ 0 breaks the nuclear-norm reformulation: the free-feature bound stays valid but is
  below the b.7 minimum whenever the features collapse, β₊ > β, so it cannot certify); or a dual point outside the conjugate's
  domain. ``lower_bound`` and ``gap`` are then None.
* ``"certified"``: gap ≤ rtol (absolute). Then f − f* ≤ gap: the point is a global minimiser to
  that accuracy, whatever d (the bound is valid for every d).
* ``"not-tight"``: the gap is larger. ``relaxation_exact`` says why it may be: False when d is
  below the rank of the convex solution (the gap cannot close; not evidence of a bad solution),
  None when that rank is unknown, True when the relaxation is exact (then the point itself is not
  certified: not converged, or not a global minimiser).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import softmax, xlogy

from ufm.closed_form import closed_form
from ufm.objective import Params, value_and_stationarity_f64
from ufm.spec import Problem

STATUSES = ("certified", "not-tight", "unavailable")
DEFAULT_RTOL = 1e-8


def _check_labels(problem: Problem, labels: Any) -> np.ndarray:
    if labels is None:
        return problem.labels().astype(np.int64)
    y = np.asarray(labels)
    N, K = problem.N, problem.K
    if y.shape != (N,) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"labels shape={y.shape} dtype={y.dtype}: expected integers of shape ({N},)"
        )
    if y.size and (y.min() < 0 or y.max() >= K):
        raise ValueError(f"labels range [{y.min()}, {y.max()}]: expected values in [0, {K - 1}]")
    return y.astype(np.int64)


def _check_params(problem: Problem, params: Params) -> Params:
    W, H, b = (np.asarray(a, dtype=np.float64) for a in params)
    K, d, N = problem.K, problem.d, problem.N
    if W.shape != (K, d) or H.shape != (d, N) or b.shape != (problem.bias_dim,):
        raise ValueError(
            f"params shapes W{W.shape} H{H.shape} b{b.shape}: expected W({K}, {d}) H({d}, {N}) "
            f"b({problem.bias_dim},)"
        )
    return Params(W, H, b)


def objective_value(problem: Problem, params: Params, labels: Any = None) -> float:
    """f(W, H, b) of theory.md a.1 in float64, with ``labels`` (default ``problem.labels()``).

    Evaluates :func:`ufm.objective.value_and_stationarity_f64` (the single definition of the
    objective, compiled once per shape).
    """
    y = _check_labels(problem, labels)
    p = _check_params(problem, params)
    return value_and_stationarity_f64(problem, p, y)[0]


def convex_rank(problem: Problem, labels: Any = None) -> tuple[int | None, bool | None, str]:
    """Rank of a solution of the convex relaxation, and whether the relaxation is exact at d.

    Returns ``(rank_bound, exact, reason)``: ``rank_bound`` is an upper bound on the minimal rank
    of a convex solution (exact for the closed-form and MSE-without-bias cases; None if unknown),
    ``exact`` is True when d ≥ that rank (f* = P*), False when d is below it, None when unknown.
    The rules and their proofs are in the module docstring.
    """
    y = _check_labels(problem, labels)
    K, d, loss = problem.K, problem.d, problem.loss
    own_labels = labels is None or np.array_equal(y, problem.labels())
    if loss in ("ce", "ls", "maxsup"):
        if d >= K - 1:
            return K - 1, True, "softmax loss: shift invariance gives a solution of rank <= K-1"
    elif loss == "mse":
        if not problem.bias:
            counts = np.bincount(y, minlength=K)
            mu = math.sqrt(problem.lambda_w * problem.lambda_h)
            r = int(np.sum(problem.target_scale * np.sqrt(counts) > problem.N * mu))
            return r, d >= r, f"MSE without bias: rank = #{{k: s sqrt(n_k) > N mu}} = {r}"
        if problem.lambda_b == 0 and d >= K - 1:
            return K - 1, True, "MSE with free bias: the solution has rank <= K-1"
    if d >= K:
        return K, True, "d >= K: every K x N matrix has rank <= d"
    if problem.balanced and own_labels and problem.loss != "fl":
        cf = closed_form(problem.replace(dim=max(d, K), features="free"))
        if cf.available and cf.class_logits is not None:
            r = int(np.linalg.matrix_rank(cf.class_logits))
            return r, d >= r, f"balanced closed form ({cf.reason}): rank {r}"
    return None, None, f"d={d} < K={K} and the rank of the convex solution is not known here"


def logit_gradient(problem: Problem, U: Any, labels: Any = None) -> np.ndarray:
    """G = ∇L(U) = (1/N)[∇ℓ(u_i, y_i)]_i, the natural dual direction of theory.md h, [K, N].

    CE / LS / MaxSup: (1/N)[softmax(u_i) − q_i], q_i = (1−α)e_{y_i} + (α/K)1 (for MaxSup the LS
    gradient, since the LS bound is used). MSE: (1/N)[u_i − s e_{y_i}]. FL is not supported.
    """
    y = _check_labels(problem, labels)
    U = np.asarray(U, dtype=np.float64)
    K, N = problem.K, problem.N
    if U.shape != (K, N):
        raise ValueError(f"U shape {U.shape}: expected ({K}, {N})")
    onehot = np.zeros((K, N))
    onehot[y, np.arange(N)] = 1.0
    if problem.loss == "mse":
        return (U - problem.target_scale * onehot) / N
    if problem.loss == "fl":
        raise ValueError("loss='fl': expected ce, ls, maxsup or mse (no certificate for FL)")
    alpha = problem.alpha if problem.loss in ("ls", "maxsup") else 0.0
    return (softmax(U, axis=0) - ((1.0 - alpha) * onehot + alpha / K)) / N


def _dual_bound(problem: Problem, U: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """D(Λ) at the natural dual point for the logits U [K, N] (module docstring)."""
    K, N = U.shape
    mu = math.sqrt(problem.lambda_w * problem.lambda_h)
    bias, lam_b = problem.bias, problem.lambda_b if problem.bias else 0.0
    G = logit_gradient(problem, U, y)
    if problem.loss != "mse":
        alpha = problem.alpha if problem.loss in ("ls", "maxsup") else 0.0
        q = np.full((K, N), alpha / K)
        q[y, np.arange(N)] += 1.0 - alpha
        p = softmax(U, axis=0)
    centre = bias and lam_b == 0
    if centre:
        m = G.mean(axis=1, keepdims=True)  # row means over samples
        G = G - m
    g_norm = float(np.linalg.norm(G, 2))
    t = 1.0 if g_norm <= mu else mu / g_norm
    Lam = t * G
    out: dict[str, Any] = {"dual_norm": g_norm, "mu": mu, "dual_scale": t}
    if problem.loss == "mse":
        V = N * Lam
        s = problem.target_scale
        conj = float(np.sum(0.5 * np.sum(V * V, axis=0) + s * V[y, np.arange(N)]) / N)
    else:
        # r_i = q_i + N λ_i, written as a convex combination so that r ≥ 0 holds exactly without
        # centring: r = (1−t) q + t p  (− t N m with centring).
        r = (1.0 - t) * q + t * p
        if centre:
            r = r - t * N * m
        if not np.all(r >= 0.0):
            out.update(lower_bound=None, reason="dual point outside the domain: r = q + N·Λ has a "
                       f"negative entry ({float(r.min()):.3g}) after centring for λ_b = 0")
            return out
        conj = float(np.sum(xlogy(r, r)) / N)
    D = -conj
    if bias and lam_b > 0:
        v = Lam.sum(axis=1)
        D -= float(v @ v) / (2.0 * lam_b)
    out.update(lower_bound=D, reason=None)
    return out


def certificate(problem: Problem, params: Params, labels: Any = None, *,
                rtol: float = DEFAULT_RTOL, objective: float | None = None) -> dict[str, Any]:
    """Duality-gap certificate of global optimality at ``params`` (theory.md h).

    Args:
        problem: the problem (loss, λ's, bias, d).
        params: a point (W [K,d], H [d,N], b [K] or [0]); any dtype, evaluated in float64.
        labels: the labels that define the loss, [N] integers (for label noise: the observed
            noisy labels); default ``problem.labels()``.
        rtol: certification threshold: ``"certified"`` iff gap ≤ rtol (absolute, issue 6).
        objective: f at ``params`` in float64 if the caller has it already (else evaluated).

    Returns:
        dict with ``lower_bound`` (D(Λ), a lower bound on the global minimum f*, or None),
        ``gap`` (f − D, or None), ``status`` (one of :data:`STATUSES`), ``reason``,
        ``objective`` (f in float64), ``dual_norm`` (‖G‖₂ of the (centred) gradient matrix),
        ``mu`` (sqrt(λ_Wλ_H)), ``dual_scale`` (t), ``convex_rank`` and ``relaxation_exact``
        (see :func:`convex_rank`), ``threshold`` (rtol), ``bound_loss`` ("ls" for
        MaxSup, else the loss).
    """
    if not (isinstance(rtol, (int, float)) and math.isfinite(rtol) and rtol >= 0):
        raise ValueError(f"rtol={rtol!r}: expected a finite number >= 0")
    y = _check_labels(problem, labels)
    p = _check_params(problem, params)
    f = objective_value(problem, p, y) if objective is None else float(objective)
    out: dict[str, Any] = {
        "lower_bound": None, "gap": None, "status": "unavailable", "reason": None,
        "objective": f, "dual_norm": None, "mu": math.sqrt(problem.lambda_w * problem.lambda_h),
        "dual_scale": None, "convex_rank": None, "relaxation_exact": None,
        "threshold": rtol,
        "bound_loss": "ls" if problem.loss == "maxsup" else problem.loss,
    }
    if not all(np.all(np.isfinite(a)) for a in p):
        out["reason"] = "the point is not finite: no certificate"
        return out
    if problem.loss == "fl":
        out["reason"] = "focal loss is not convex in the logits: no certificate (theory.md h)"
        return out
    if problem.features == "nonnegative":
        out["reason"] = ("nonnegative features: H >= 0 breaks the nuclear-norm reformulation of "
                         "theory.md h; the free-feature bound stays valid but is below the b.7 "
                         "minimum whenever the features collapse (β₊ > β), so it cannot certify")
        return out
    U = p.W @ p.H + (p.b[:, None] if problem.bias else 0.0)
    dual = _dual_bound(problem, U, y)
    rank, exact, rank_reason = convex_rank(problem, y)
    out.update(dual_norm=dual["dual_norm"], dual_scale=dual["dual_scale"], convex_rank=rank,
               relaxation_exact=exact)
    if dual["lower_bound"] is None:
        out["reason"] = dual["reason"]
        return out
    D = dual["lower_bound"]
    gap = f - D
    out.update(lower_bound=D, gap=gap)
    if gap <= out["threshold"]:
        out["status"] = "certified"
        out["reason"] = f"duality gap {gap:.3g} <= {out['threshold']:.3g}"
    else:
        out["status"] = "not-tight"
        if exact is False:
            why = (f"d={problem.d} is below the rank of the convex solution ({rank_reason}): "
                   "the relaxation is strict")
        elif exact is None:
            why = f"the relaxation may be strict ({rank_reason})"
        else:
            why = f"the relaxation is exact ({rank_reason}): the point is not certified optimal"
        out["reason"] = f"duality gap {gap:.3g} > {out['threshold']:.3g}; {why}"
    return out
