"""Hessian spectrum of the UFM: closed form at the minimiser, dense, and matrix-free extremes.

Closed form (theory.md c.2). At the ETF minimiser of a balanced problem with d ≥ K−1 and a softmax
loss, with Δ = Δ*, p = p*, q = (1−p)/(K−1), s = √(λ_Wλ_H), ρ_W = Δ√(λ_W/(nλ_H)),
ρ_H = Δ√(λ_H/(nλ_W)), √(ρ_Wρ_H) = Δ/√n, the Hessian block-diagonalises into the families of the
c.2 table. The per-sample logit Hessian S enters only through its two eigenvalues on 1^⊥:

    σ_t (direction e_y − 1/K·1) and σ_o (the other K−2 directions);   CE, LS: σ_t = Kpq, σ_o = q.

For FL, ℓ = g(p_y) with g(p) = −(1−p)^γ log p, so ∇²ℓ = (g''p² + g'p)uuᵀ − g'p S_CE with
u = e_y − softmax(z), which gives

    σ_t = (g''p² + g'p) q² K(K−1) + (−g'p) Kpq,      σ_o = (−g'p) q      (derived here),

and every family except the standard-irrep block M₄ follows by K p q → σ_t, q → σ_o
(theory.md c.2 "Checks"). theory.md gives M₄ for CE/LS only, so for FL it is computed
numerically: the Hessian of the reduced "class-mean" problem (perf-notes §4, block 3) is formed by
autodiff (size 2K(K−1)+K) and compressed onto the V-isotypic subspace of one v ∈ 1^⊥; those
families carry ``numerical=True``. (Finding: M₄ with Γ written in σ_t, σ_o, see :func:`m4_matrix`,
equals that compression for FL too; the tests check it. It is not used as the FL default until
theory.md adopts it.) K = 2: D_v = 0, so M₄ loses its x₂, y₂ rows (σ = √(1−2/K) = 0) and the
[K−2, 2] and Λ² families are empty.

In the zero regime (W = H = 0) and at the origin of any problem, :func:`origin_spectrum` gives the
exact spectrum: with g_i = −c(e_{y_i} − 1/K·1) the per-sample gradient at z = 0 and S̄ the mean
logit Hessian there,

    [[λ_W, σ], [σ, λ_H]] eigenvalues  ×(K−1)d each,  σ = c/(K√n);   λ_W ×d;   λ_H ×(dN − (K−1)d);
    bias: λ_b + s̄ ×(K−1), λ_b ×1,  s̄ = S̄ on 1^⊥.

(CE: c = 1, s̄ = 1/K; LS: c = 1−α, s̄ = 1/K; FL: c = −g'(1/K)/K, s̄ = g''(1/K)/K³.) The smallest
is negative iff σ > √(λ_Wλ_H), i.e. Kβ < c: the origin is then a strict saddle (theory.md b.2).

Numerical spectrum (:func:`extreme_eigenvalues`), always in float64: the point is cast to
float64 (exactly), so the Hessian is exact for that point. A float32 point is itself only
float32-accurate (``ufm.solvers`` stops at ‖∇f‖ ≤ eps32^(2/3)·(1 + |f|)), so its spectrum agrees
with the closed form only to first order in its distance from the minimiser (≈ ‖∇f‖/λ_min⁺):
``spectrum_rel_err`` = 1.3e-6 (K=4, d=5, n=3) and 1.2e-5 (K=10, d=32, n=20) for float32 solves,
bounded by √eps32 ≈ 3.5e-4 in the tests, against ≤ 1e-13 at a float64 point. √eps32 is also the
zero threshold used for a float32 point.

1. λ_max: dense ``eigvalsh``, or Lanczos (:func:`lanczos_extreme`, JAX, full
   reorthogonalisation; or scipy ``eigsh``) on the reverse-over-forward HVP.
2. **Zero-mode measurement.** T = the symmetry-orbit tangent space (:mod:`ufm.hessian`) at rank r
   (the minimiser's, K−1, when theory.md b gives it; else the point's numerical rank). It is in
   the null space exactly at critical points (∇²f·ξ_A(θ) = ξ_A(∇f(θ)), :mod:`ufm.hessian`), so
   it is *measured*: the tangent residual ‖∇²f·P_T‖₂/λ_max (dense: the largest singular value of
   ∇²f·T for an orthonormal basis T; matrix-free: √λ_max(P_T ∇²f² P_T) by Lanczos from a start in
   T, decided to 10 % of the threshold, or stopped as soon as it exceeds it). T is *null* when
   the residual is ≤ ``zero_rtol`` = √eps of the point's dtype (float64 1.5e-8, float32 3.5e-4).
   Then ``zero_modes`` = the number of eigenvalues with |λ| ≤ zero_rtol·λ_max (dense; ≥ dim T
   by the minimax theorem), or dim T (matrix-free, when in addition λ_min⁺ > zero_rtol·λ_max so
   that nothing outside T is null). Otherwise ``zero_modes`` is None, and the dense path says how
   many tangent directions are null.
3. λ_min⁺, only when T is null: dense, the smallest eigenvalue after removing the dim T of least
   |λ| (one ``eigvalsh`` serves everything); matrix-free, Lanczos on the *deflated* operator
   ∇²f + σ·P_T, σ = λ_max: the symmetry zeros move to ≈ σ, inside the spectrum, so the spread
   Lanczos sees is unchanged (a larger σ would stretch it and cost more iterations). Without
   deflation an approximate minimiser's zeros split into ±O(‖∇f‖) values and 'SA' returns those
   (perf-notes §4b). A negative λ_min⁺ means a saddle (status ``negative-curvature``).
4. When T is not null (a non-converged point, or a constrained one) deflation would hide
   curvature (it hid λ = −4.8e-4 at a nonnegative-features minimiser), so λ_min⁺ is None and
   λ_min, the undeflated smallest eigenvalue, is reported instead (status ``orbit-not-null``).

Convergence (Lanczos and ARPACK): the Ritz residual ‖Ay − θy‖ ≤ tol·λ_max, i.e. relative to the
spectrum's scale (:func:`lanczos_extreme`); tol = 1e-10 by default, so λ_min⁺ is accurate to
1e-10·λ_max absolute in the worst case (and to ≈ residual²/gap for an isolated eigenvalue). A run
that does not converge returns None for its value, with a status and a note: no unconverged
value is ever reported.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse.linalg as spla

from ufm.hessian import (
    TangentProjector,
    as_float64,
    dense_hessian,
    hessian_vector_product,
    project_tangent,
    resolve_labels,
    tangent_basis,
    tangent_projector,
    zero_mode_count,
)
from ufm.losses import per_sample_loss
from ufm.objective import Params, flatten, unflatten
from ufm.precision import x64
from ufm.spec import Hyper, Problem


class SpectralFamily(NamedTuple):
    """One family of the Hessian spectrum: ``multiplicity`` copies of ``eigenvalue``.

    Attributes:
        family: a short name (theory.md c.2 table).
        eigenvalue: the value (float64).
        multiplicity: how many times it occurs (> 0).
        numerical: True when the value is computed numerically rather than from a formula
            (the FL standard-irrep block).
    """

    family: str
    eigenvalue: float
    multiplicity: int
    numerical: bool = False


class ClosedFormUnavailable(ValueError):
    """The closed-form spectrum does not apply to this problem (the message says why)."""


# ------------------------------------------------------------------------- ingredients
class _Ingredients(NamedTuple):
    """The scalars of theory.md c.2 at the closed-form point (σ_t, σ_o: logit-Hessian eigvals)."""

    K: int
    d: int
    n: int
    lw: float
    lh: float
    lb: float
    bias: bool
    margin: float
    p: float
    q: float
    sigma_t: float
    sigma_o: float


def _fl_derivatives(p: float, gamma: float) -> tuple[float, float]:
    """g'(p), g''(p) for g(p) = −(1−p)^γ log p (focal loss as a function of p_y)."""
    u, lp = 1.0 - p, math.log(p)
    g1 = -(u**gamma) / p
    g2 = u**gamma / p**2
    if gamma != 0:
        g1 += gamma * u ** (gamma - 1) * lp
        g2 += 2 * gamma * u ** (gamma - 1) / p - gamma * (gamma - 1) * u ** (gamma - 2) * lp
    return g1, g2


def logit_hessian_eigenvalues(problem: Problem, p: float) -> tuple[float, float]:
    """(σ_t, σ_o): eigenvalues on 1^⊥ of the per-sample logit Hessian at logits with p_y = p.

    The logits are class-symmetric: p_y = p and every other class (1−p)/(K−1) (the ETF
    minimiser, or the origin with p = 1/K). CE/LS/MaxSup: σ_t = Kpq, σ_o = q. FL: module docstring.
    """
    K = problem.K
    q = (1.0 - p) / (K - 1)
    if problem.loss in ("ce", "ls", "maxsup") or problem.gamma == 0:
        return K * p * q, q
    if problem.loss != "fl":
        raise ClosedFormUnavailable(
            f"loss={problem.loss!r}: expected a softmax loss (ce, ls, maxsup, fl)"
        )
    g1, g2 = _fl_derivatives(p, problem.gamma)
    return (g2 * p * p + g1 * p) * q * q * K * (K - 1) - g1 * p * K * p * q, -g1 * p * q


def _ingredients(problem: Problem) -> tuple[_Ingredients, str]:
    """(ingredients, regime) of theory.md c.2 from :func:`ufm.closed_form.closed_form`.

    Raises:
        ClosedFormUnavailable: not a softmax loss, nonnegative features, or no closed form.
    """
    from ufm.closed_form import closed_form

    if problem.loss not in ("ce", "ls", "maxsup", "fl"):
        raise ClosedFormUnavailable(
            f"loss={problem.loss!r}: the closed-form spectrum (theory.md c.2) covers "
            "ce, ls, maxsup, fl"
        )
    if problem.features != "free":
        raise ClosedFormUnavailable(
            "features='nonnegative': theory.md c.2 covers free features only"
        )
    cf = closed_form(problem)
    if not cf.available:
        raise ClosedFormUnavailable(f"no closed-form minimiser: {cf.reason}")
    assert problem.n is not None and cf.margin is not None and cf.p_true is not None
    p = cf.p_true if cf.regime == "collapse" else 1.0 / problem.K
    st, so = logit_hessian_eigenvalues(problem, p)
    ing = _Ingredients(
        problem.K, problem.d, problem.n, problem.lambda_w, problem.lambda_h,
        problem.lambda_b if problem.bias else 0.0, problem.bias, cf.margin, p,
        (1.0 - p) / (problem.K - 1), st, so,
    )
    return ing, cf.regime


# ---------------------------------------------------------------------------- blocks
def _eig2(a: float, b: float, c: float) -> tuple[float, float]:
    """Eigenvalues (ascending) of [[a, b], [b, c]], computed without cancellation."""
    mean, half = 0.5 * (a + c), 0.5 * (a - c)
    rad = math.hypot(half, b)
    hi = mean + rad
    lo = (a * c - b * b) / hi if hi > 0 else mean - rad  # product of the roots, no cancellation
    return lo, hi


def m4_matrix(problem: Problem) -> np.ndarray:
    """The standard-irrep matrix M₄ of theory.md c.2 (coordinates x₂, y₁, y₂, z).

    M₄ = (1/K)[a_t a_B] Γ [a_t a_B]ᵀ + diag(λ_W, λ_H, λ_H, λ_b), (M₄)_{x₂y₂} −= s, with
    a_A = (√ρ_W/σ, 0, √ρ_H/σ, 0), a_B = −a_A/K + (0, √ρ_H/√K, 0, 1), a_t = a_A + a_B,
    σ = √(1−2/K) and Γ = [[p(1−p), pq], [pq, q(K−1−q)]]. In terms of the logit-Hessian
    eigenvalues Γ = [[σ_t(K−1)/K, σ_t/K], [σ_t/K, σ_t/(K(K−1)) + σ_o K(K−2)/(K−1)]] (the CE
    entries, rewritten; used by the tests as a conjecture for FL). Without a bias the z row and
    column are dropped; for K = 2, D_v = 0 and the x₂, y₂ rows and columns are dropped.
    """
    ing, regime = _ingredients(problem)
    if regime != "collapse":
        raise ClosedFormUnavailable("M₄ is defined at the collapse minimiser (Δ* > 0)")
    return _m4(ing)


def _m4(g: _Ingredients) -> np.ndarray:
    """M₄ of theory.md c.2 from the ingredients (see :func:`m4_matrix`)."""
    K = g.K
    rw = g.margin * math.sqrt(g.lw / (g.n * g.lh))
    rh = g.margin * math.sqrt(g.lh / (g.n * g.lw))
    s = math.sqrt(g.lw * g.lh)
    st, so = g.sigma_t, g.sigma_o
    Gamma = np.array(
        [[st * (K - 1) / K, st / K], [st / K, st / (K * (K - 1)) + so * K * (K - 2) / (K - 1)]]
    )
    sig = math.sqrt(1.0 - 2.0 / K)
    aA = np.array([math.sqrt(rw) / sig, 0.0, math.sqrt(rh) / sig, 0.0]) if K > 2 else np.zeros(4)
    aB = -aA / K + np.array([0.0, math.sqrt(rh / K), 0.0, 1.0])
    At = np.stack([aA + aB, aB], axis=1)  # [4, 2]
    M = At @ Gamma @ At.T / K + np.diag([g.lw, g.lh, g.lh, g.lb])
    M[0, 2] -= s
    M[2, 0] -= s
    keep = [i for i in range(4) if (K > 2 or i in (1, 3)) and (g.bias or i != 3)]
    return M[np.ix_(keep, keep)]


def _tiny_point(g: _Ingredients) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ETF coordinates: E [K, K−1] (orthonormal basis of 1^⊥), W_S [K, r], G_r [r, K].

    G_r = √n × the class means, so that the reduced coordinates are orthonormal.
    """
    from ufm.closed_form import _centred_basis

    E = _centred_basis(g.K)[:, :-1]
    ratio = math.sqrt(g.n * g.lh / g.lw)
    W_S = math.sqrt(ratio * g.margin) * E
    G_r = math.sqrt(g.n) * math.sqrt(g.margin / ratio) * E.T
    return E, W_S, G_r


def class_mean_block_hessian(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """Hessian of the reduced class-mean problem at the ETF (perf-notes §4 block 3), by autodiff.

    φ(W_r, G_r, b) = (1/K) Σ_k ℓ(W_r g_k/√n + b, k) + (λ_W/2)‖W_r‖² + (λ_H/2)‖G_r‖² + (λ_b/2)‖b‖²,
    W_r [K, K−1], G_r [K−1, K]: the restriction of (UFM) to class-constant perturbations inside
    the ETF subspace, in orthonormal coordinates. Its spectrum is the trivial, Λ², [K−2, 2] and
    V families of theory.md c.2.

    Returns:
        (the Hessian [P_r, P_r], E) with P_r = 2K(K−1) (+K with a bias), coordinates
        (vec W_r, vec G_r, b) row-major, and E the K×(K−1) basis of 1^⊥ used.
    """
    g, regime = _ingredients(problem)
    if regime != "collapse":
        raise ClosedFormUnavailable("the class-mean block is defined at the collapse minimiser")
    E, W_S, G_r = _tiny_point(g)
    theta = np.concatenate([W_S.ravel(), G_r.ravel(), np.zeros(g.K if g.bias else 0)])
    with x64():
        Hm = _class_mean_hessian(
            jnp.asarray(theta), problem.hyper(np.float64), jnp.asarray(math.sqrt(g.n)),
            loss=problem.loss, K=g.K, bias=g.bias,
        )
        Hm = np.asarray(Hm)
    return 0.5 * (Hm + Hm.T), E


@functools.partial(jax.jit, static_argnames=("loss", "K", "bias"))
def _class_mean_hessian(
    theta: jax.Array, hyper: Any, sq_n: jax.Array, *, loss: str, K: int, bias: bool
) -> jax.Array:
    """jax.hessian of the reduced class-mean objective φ (:func:`class_mean_block_hessian`)."""
    r = K - 1
    labels = jnp.arange(K)

    def phi(t: jax.Array) -> jax.Array:
        Wr = t[: K * r].reshape(K, r)
        Gr = t[K * r : 2 * K * r].reshape(r, K)
        b = t[2 * K * r :]
        Z = Wr @ Gr / sq_n
        if bias:
            Z = Z + b[:, None]
        data = jnp.mean(per_sample_loss(loss, Z, labels, hyper))
        reg = hyper.lambda_w * jnp.sum(Wr**2) + hyper.lambda_h * jnp.sum(Gr**2)
        return data + 0.5 * (reg + hyper.lambda_b * jnp.sum(b**2))

    return jax.hessian(phi)(theta)


def standard_block_numerical(problem: Problem) -> np.ndarray:
    """The M₄ eigenvalues by compressing :func:`class_mean_block_hessian` onto the V-isotypic space.

    For one v ∈ 1^⊥ the vectors δW_r = D_v E, δG_r = Eᵀv1ᵀ, δG_r = Eᵀ D_v and δb = v
    (D_v = diag(v) − (1vᵀ + v1ᵀ)/K) span an invariant subspace (Schur's lemma: the standard
    irrep occurs 5 times; the fifth copy, δW_r = 1vᵀE, is the exact λ_W eigenvector, left out).
    The eigenvalues of the compressed matrix are the M₄ eigenvalues. Works for every softmax loss.
    """
    Hm, E = class_mean_block_hessian(problem)
    K, r = problem.K, problem.K - 1
    v = E[:, 0]
    Dv = np.diag(v) - (np.outer(np.ones(K), v) + np.outer(v, np.ones(K))) / K
    nb = K if problem.bias else 0

    def vec(Wr=None, Gr=None, b=None):
        out = np.zeros(2 * K * r + nb)
        if Wr is not None:
            out[: K * r] = Wr.ravel()
        if Gr is not None:
            out[K * r : 2 * K * r] = Gr.ravel()
        if b is not None:
            out[2 * K * r :] = b
        return out

    cols = [vec(Wr=Dv @ E), vec(Gr=np.outer(E.T @ v, np.ones(K))), vec(Gr=E.T @ Dv)]
    if problem.bias:
        cols.append(vec(b=v))
    B = np.array(cols).T
    Ub, sb, _ = np.linalg.svd(B, full_matrices=False)
    Q = Ub[:, sb > 1e-12 * sb[0]]
    return np.linalg.eigvalsh(Q.T @ Hm @ Q)


# ----------------------------------------------------------------------- closed form
def origin_spectrum(problem: Problem) -> list[SpectralFamily]:
    """The exact spectrum at the critical point W = 0, H = 0, b = 0 (module docstring).

    Valid for every balanced problem with a smooth softmax loss (CE, LS, FL), whatever the
    regime: in the zero regime this is the minimiser's spectrum, and when Kβ < c the smallest
    eigenvalue is negative (a strict saddle).

    Raises:
        ClosedFormUnavailable: MaxSup (max is not differentiable at z = 0), MSE, imbalanced classes.
    """
    if problem.loss not in ("ce", "ls", "fl"):
        raise ClosedFormUnavailable(
            f"loss={problem.loss!r}: the origin spectrum needs a loss smooth at z = 0 (ce, ls, fl)"
        )
    if problem.n is None:
        raise ClosedFormUnavailable(
            "imbalanced classes: the origin spectrum assumes balanced classes"
        )
    K, d, n, N = problem.K, problem.d, problem.n, problem.N
    lw, lh = problem.lambda_w, problem.lambda_h
    if problem.loss == "fl" and problem.gamma != 0:
        g1, g2 = _fl_derivatives(1.0 / K, problem.gamma)
        c, sbar = -g1 / K, g2 / K**3
    else:
        c, sbar = (1.0 - problem.alpha if problem.loss == "ls" else 1.0), 1.0 / K
    sig = c / (K * math.sqrt(n))
    lo, hi = _eig2(lw, sig, lh)
    if lw * lh < sig * sig:  # the product of the roots is negative: keep the sign exactly
        lo = 0.5 * (lw + lh) - math.hypot(0.5 * (lw - lh), sig)
    fams = [
        SpectralFamily("W-H coupling (−)", lo, (K - 1) * d),
        SpectralFamily("W-H coupling (+)", hi, (K - 1) * d),
        SpectralFamily("W along 1", lw, d),
        SpectralFamily("H uncoupled", lh, d * N - (K - 1) * d),
    ]
    if problem.bias:
        lb = problem.lambda_b
        fams += [
            SpectralFamily("bias on 1^⊥", lb + sbar, K - 1),
            SpectralFamily("bias along 1", lb, 1),
        ]
    return [f for f in fams if f.multiplicity > 0]


def closed_form_spectrum(problem: Problem) -> list[SpectralFamily]:
    """Every eigenvalue family of ∇²f at the closed-form global minimiser (theory.md c.2).

    Families (with K−2, d−K+1 etc. multiplicities; empty families are dropped):

    * within-class: λ_H + σ_tρ_H/K ×K(n−1); λ_H + σ_oρ_H/K ×K(n−1)(K−2); λ_H ×K(n−1)(d−K+1);
    * ⊥ ETF subspace: 0 ×(K−1)(d−K+1); λ_W+λ_H ×(K−1)(d−K+1); λ_W, λ_H ×(d−K+1) each;
    * Λ²: 0 ×(K−1)(K−2)/2; λ_W+λ_H+σ_o(ρ_W+ρ_H)/K ×(K−1)(K−2)/2;
    * [K−2, 2]: eig [[σ_oρ_W/K+λ_W, σ_o√(ρ_Wρ_H)/K−s], [·, σ_oρ_H/K+λ_H]] ×K(K−3)/2 each;
    * trivial: λ_b ×1 (with a bias); eig [[σ_tρ_W/K+λ_W, σ_t√(ρ_Wρ_H)/K−s], [·, σ_tρ_H/K+λ_H]];
    * standard V: λ_W ×(K−1); eig M₄ ×(K−1) each (FL: numerical, flagged).

    CE/LS: σ_t = Kpq, σ_o = q; MaxSup equals LS at the minimiser (theory.md b.4). In the zero
    regime the minimiser is the origin and :func:`origin_spectrum` is returned.

    Raises:
        ClosedFormUnavailable: imbalanced classes, d < K−1, MSE, nonnegative features, MaxSup in
            the zero regime.
    """
    g, regime = _ingredients(problem)
    if regime == "zero":
        return origin_spectrum(problem)
    K, d, n = g.K, g.d, g.n
    lw, lh = g.lw, g.lh
    st, so = g.sigma_t, g.sigma_o
    rw = g.margin * math.sqrt(lw / (n * lh))
    rh = g.margin * math.sqrt(lh / (n * lw))
    rr = g.margin / math.sqrt(n)
    s = math.sqrt(lw * lh)
    dperp = d - K + 1
    F = SpectralFamily
    fams = [
        F("within-class, target direction", lh + st * rh / K, K * (n - 1)),
        F("within-class, other directions", lh + so * rh / K, K * (n - 1) * (K - 2)),
        F("within-class, ⊥ ETF", lh, K * (n - 1) * dperp),
        F("⊥ ETF, rotation (zero)", 0.0, (K - 1) * dperp),
        F("⊥ ETF, λ_W + λ_H", lw + lh, (K - 1) * dperp),
        F("⊥ ETF, λ_W", lw, dperp),
        F("⊥ ETF, λ_H", lh, dperp),
        F("Λ², rotation (zero)", 0.0, (K - 1) * (K - 2) // 2),
        F("Λ²", lw + lh + so * (rw + rh) / K, (K - 1) * (K - 2) // 2),
    ]
    lo, hi = _eig2(so * rw / K + lw, so * rr / K - s, so * rh / K + lh)
    mult = K * (K - 3) // 2 if K >= 3 else 0
    fams += [F("[K−2,2] (−)", lo, mult), F("[K−2,2] (+)", hi, mult)]
    if g.bias:
        fams.append(F("trivial, bias along 1", g.lb, 1))
    lo, hi = _eig2(st * rw / K + lw, st * rr / K - s, st * rh / K + lh)
    fams += [F("trivial, scale (−)", lo, 1), F("trivial, scale (+)", hi, 1)]
    fams.append(F("V, δW = 1vᵀ", lw, K - 1))
    if problem.loss == "fl" and problem.gamma != 0:
        vals, numerical = standard_block_numerical(problem), True
    else:
        vals, numerical = np.linalg.eigvalsh(_m4(g)), False
    for i, val in enumerate(vals):
        fams.append(F(f"V, M₄ eigenvalue {i + 1}", float(val), K - 1, numerical))
    return [f for f in fams if f.multiplicity > 0]


def expand(families: list[SpectralFamily]) -> np.ndarray:
    """All eigenvalues with multiplicity, sorted ascending (float64)."""
    if not families:
        return np.zeros(0)
    return np.sort(np.repeat([f.eigenvalue for f in families], [f.multiplicity for f in families]))


def distinct(families: list[SpectralFamily], *, rtol: float = 1e-12) -> list[tuple[float, int]]:
    """(value, total multiplicity), ascending; neighbours closer than ``rtol``·max|λ| are merged.

    Each merged cluster is reported with its smallest value.
    """
    ev = expand(families)
    if ev.size == 0:
        return []
    scale = max(float(np.max(np.abs(ev))), np.finfo(np.float64).tiny)
    starts = np.concatenate([[0], np.flatnonzero(np.diff(ev) > rtol * scale) + 1])
    counts = np.diff(np.append(starts, ev.size))
    return [(float(ev[s]), int(c)) for s, c in zip(starts, counts, strict=True)]


def closed_form_extremes(
    problem: Problem, families: list[SpectralFamily] | None = None
) -> dict[str, Any]:
    """λ_max, λ_min⁺ and the number of zeros of :func:`closed_form_spectrum`.

    Zero modes are the families whose eigenvalue is exactly 0 by structure (rotations, and the
    bias shift when λ_b = 0); λ_min⁺ is the smallest of the rest. ``families`` (from
    :func:`closed_form_spectrum`) avoids recomputing the spectrum.
    """
    fams = closed_form_spectrum(problem) if families is None else families
    nonzero = [f.eigenvalue for f in fams if f.eigenvalue != 0.0]
    return {
        "lambda_max": max(f.eigenvalue for f in fams),
        "lambda_min_nonzero": min(nonzero),
        "zero_modes": sum(f.multiplicity for f in fams if f.eigenvalue == 0.0),
    }


# ------------------------------------------------------------------------ numerical policy
def point_dtype(params: Params) -> np.dtype:
    """The floating dtype the point was computed in (float64 for non-float arrays)."""
    dt = np.asarray(params.W).dtype
    return dt if np.issubdtype(dt, np.floating) else np.dtype(np.float64)


def default_zero_rtol(params: Params) -> float:
    """√eps of the point's dtype: float64 1.5e-8, float32 3.5e-4 (module docstring)."""
    return float(np.sqrt(np.finfo(point_dtype(params)).eps))


def dense_spectrum(problem: Problem, params: Params, *, labels: Any = None) -> np.ndarray:
    """All eigenvalues of the dense float64 Hessian (``numpy.linalg.eigvalsh``), ascending.

    The point is cast to float64 first. Small P only (O(P³)).
    """
    with x64():
        return np.linalg.eigvalsh(dense_hessian(problem, as_float64(params), labels=labels))


class Extremes(NamedTuple):
    """Extreme eigenvalues of ∇²f at a point, with the zero-mode measurement (module docstring).

    Attributes:
        lambda_max: largest eigenvalue (None if it did not converge).
        lambda_min_nonzero: smallest eigenvalue of ∇²f on T⊥ (the orbit tangent space T
            deflated); None unless T was measured null and the value converged.
        lambda_min: smallest eigenvalue of ∇²f itself, no deflation (dense: always; matrix-free:
            computed only when T is not null, else None — it is then in the zero cluster).
        zero_modes: measured number of null eigenvalues (|λ| ≤ zero_rtol·λ_max); None when not
            established (``notes`` says why).
        tangent_dim: dim T of the deflated space.
        tangent_rank: r = dim S used for T.
        tangent_residual: ‖∇²f·P_T‖₂ / λ_max (dense: exact; matrix-free: Lanczos on P_T∇²f²P_T,
            a lower bound, converged to 10 % of the threshold or stopped once above it).
        tangent_null: tangent_residual ≤ zero_rtol.
        null_tangent_directions: dense: singular values of ∇²f·T ≤ zero_rtol·λ_max, i.e. how many
            directions of T are null; matrix-free: None.
        zero_rtol: the relative zero threshold used.
        status: "ok", "degenerate", "negative-curvature", "orbit-not-null" or "not-converged".
        notes: key → reason, for every None value and every non-"ok" status.
        method: "dense", "lanczos" or "eigsh".
        sigma: the deflation shift σ (matrix-free), else None.
        matvecs_max, matvecs_min, matvecs_check: HVPs for λ_max, for the smallest eigenvalue, and
            for the tangent check (0 for dense).
        seconds_max, seconds_min, seconds_check: wall times after compilation (dense: the total
            in ``seconds_max``).
        eigenvalues: dense: all P eigenvalues, ascending; matrix-free: None.
    """

    lambda_max: float | None
    lambda_min_nonzero: float | None
    lambda_min: float | None
    zero_modes: int | None
    tangent_dim: int
    tangent_rank: int
    tangent_residual: float | None
    tangent_null: bool | None
    null_tangent_directions: int | None
    zero_rtol: float
    status: str
    notes: dict[str, str]
    method: str
    sigma: float | None = None
    matvecs_max: int = 0
    matvecs_min: int = 0
    matvecs_check: int = 0
    seconds_max: float = 0.0
    seconds_min: float = 0.0
    seconds_check: float = 0.0
    eigenvalues: np.ndarray | None = None


def _orbit_not_null_note(residual: float, zero_rtol: float) -> str:
    """The note for λ_min⁺ when the tangent residual exceeds the zero threshold."""
    return (f"the symmetry-orbit tangent space is not null: ‖∇²f·P_T‖/λ_max = {residual:.2e} > "
            f"{zero_rtol:.1e} (the point is not a critical point: not converged, or a constrained "
            "one); deflating it would hide curvature, so λ_min⁺ is not reported, λ_min is the "
            "undeflated smallest eigenvalue")


def _classify(lmin_plus: float, scale: float, zero_rtol: float, notes: dict[str, str]) -> str:
    """Status after a null tangent check: ok, degenerate (extra null directions) or saddle."""
    if abs(lmin_plus) <= zero_rtol * scale:
        notes["lambda_min_nonzero"] = (
            f"λ on T⊥ is numerically zero ({lmin_plus:.2e}, |λ| ≤ {zero_rtol:.1e}·λ_max): null "
            "directions beyond the symmetry orbit (a degenerate point)")
        return "degenerate"
    if lmin_plus < 0:
        notes["lambda_min_nonzero"] = (
            f"negative curvature λ = {lmin_plus:.3e} outside the symmetry orbit: the point is "
            "not a local minimiser (a saddle)")
        return "negative-curvature"
    return "ok"


def _dense_extremes(
    problem: Problem, p64: Params, labels: Any, tp: TangentProjector, zero_rtol: float
) -> Extremes:
    """One dense Hessian, one ``eigvalsh``, one SVD of ∇²f·T (m columns): every dense quantity.

    With T null (‖∇²f T‖₂ ≤ zero_rtol·λ_max), ∇²f has ≥ m eigenvalues within ‖∇²f T‖₂ of 0
    (minimax for (∇²f)²), and the deflated spectrum is the rest: λ_min⁺ is the smallest
    eigenvalue after removing the m of least |λ| (equal to deflation up to ‖∇²f T‖₂).
    """
    t0 = time.perf_counter()
    Hd = dense_hessian(problem, p64, labels=labels)
    ev = np.linalg.eigvalsh(Hd)
    scale = max(float(np.max(np.abs(ev))), np.finfo(np.float64).tiny)
    lmax = float(ev[-1])
    T = tangent_basis(tp, problem)
    m = T.shape[1]
    sv = np.linalg.svd(Hd @ T, compute_uv=False) if m else np.zeros(0)
    residual = float(sv.max()) / scale if m else 0.0
    null_dirs = int(np.sum(sv <= zero_rtol * scale))
    notes: dict[str, str] = {}
    lmin_plus: float | None = None
    zeros: int | None = None
    if null_dirs == m:
        rest = np.delete(ev, np.argsort(np.abs(ev), kind="stable")[:m])
        if rest.size:
            lmin_plus = float(rest.min())
            status = _classify(lmin_plus, scale, zero_rtol, notes)
        else:
            status = "degenerate"
            notes["lambda_min_nonzero"] = "every eigenvalue is a symmetry zero"
        zeros = zero_mode_count(ev, rtol=zero_rtol)
    else:
        status = "orbit-not-null"
        notes["lambda_min_nonzero"] = _orbit_not_null_note(residual, zero_rtol)
        notes["zero_modes"] = (f"{null_dirs} of the {m} tangent directions are null "
                               f"(singular values of ∇²f·T ≤ {zero_rtol:.1e}·λ_max)")
    secs = time.perf_counter() - t0
    return Extremes(lmax, lmin_plus, float(ev[0]), zeros, m, tp.rank, residual, null_dirs == m,
                    null_dirs, zero_rtol, status, notes, "dense", seconds_max=secs,
                    eigenvalues=ev)


# ------------------------------------------------------------------- JAX Lanczos
_BASIS_BYTES = 1 << 30  # Krylov basis memory per restart cycle (1 GiB: 52 vectors at paper scale)


def _tree_dot(a: Params, b: Params) -> jax.Array:
    """⟨a, b⟩ summed over the pytree leaves."""
    return sum(jnp.vdot(x.ravel(), y.ravel()) for x, y in zip(a, b, strict=True))


@jax.jit
def _reorth_chunk(chunk: Params, w: Params) -> Params:
    """w − Cᵀ(C w) for a chunk C of basis vectors (leading axis; unused rows are zero)."""
    c = sum(cl.reshape(cl.shape[0], -1) @ wl.ravel() for cl, wl in zip(chunk, w, strict=True))
    return Params(*(wl - jnp.tensordot(c, cl, axes=1) for cl, wl in zip(chunk, w, strict=True)))


@functools.partial(jax.jit, donate_argnums=0)
def _chunk_set(chunk: Params, i: jax.Array, v: Params) -> Params:
    """Row i of a chunk set to v (in place: the chunk is donated)."""
    return Params(*(cl.at[i].set(vl) for cl, vl in zip(chunk, v, strict=True)))


@jax.jit
def _lanczos_step(w: Params, v: Params, v_prev: Params, beta_prev: jax.Array):
    """The three-term recurrence: α = ⟨w, v⟩, w ← w − α v − β_prev v_prev."""
    alpha = _tree_dot(w, v)
    w = Params(*(a - alpha * b - beta_prev * c for a, b, c in zip(w, v, v_prev, strict=True)))
    return w, alpha


@jax.jit
def _normalise(w: Params):
    """(w/‖w‖, ‖w‖)."""
    beta = jnp.sqrt(_tree_dot(w, w))
    return Params(*(a / beta for a in w)), beta


@jax.jit
def _combine_chunk(chunk: Params, coef: jax.Array, acc: Params) -> Params:
    """acc + Σ_i coef_i chunk_i (Ritz-vector assembly)."""
    pairs = zip(chunk, acc, strict=True)
    return Params(*(al + jnp.tensordot(coef, cl, axes=1) for cl, al in pairs))


class LanczosResult(NamedTuple):
    """An extreme Ritz value of a symmetric operator.

    Attributes:
        value: the extreme Ritz value θ (a lower bound of λ_max for "largest", an upper bound
            of λ_min for "smallest").
        residual: ‖A y − θ y‖ = β_m |s_m| (exact with full reorthogonalisation): some
            eigenvalue lies within it of θ.
        matvecs: operator applications.
        converged: residual ≤ tol·scale.
        stopped: True when ``stop_above`` ended the run before convergence.
    """

    value: float
    residual: float
    matvecs: int
    converged: bool
    stopped: bool = False


def _chunk_size(v: Params) -> int:
    """Basis vectors per device chunk: 4 at paper scale, up to 64 for small P (fewer dispatches)."""
    size = sum(int(np.prod(a.shape)) for a in v)
    return int(max(4, min(64, (1 << 19) // max(size, 1))))


def lanczos_extreme(
    op,
    v0: Params,
    *,
    which: str = "largest",
    tol: float = 1e-10,
    scale: float | None = None,
    max_iters: int = 500,
    restart: int | None = None,
    check_every: int = 4,
    stop_above: float | None = None,
) -> LanczosResult:
    """The largest or smallest eigenvalue of a symmetric operator on ``Params`` pytrees.

    Lanczos with full reorthogonalisation (classical Gram–Schmidt, twice, against every previous
    vector of the current cycle), explicitly restarted from the extreme Ritz vector every
    ``restart`` steps. The basis lives on the device in chunks (:func:`_chunk_size`): no
    host round-trip and no flat reshapes. Stops when the Ritz residual β_j|s_j| ≤ tol·scale
    (checked every ``check_every`` steps), on breakdown (an invariant subspace: exact), or, for
    ``which="largest"``, as soon as θ > ``stop_above`` (θ only grows with the Krylov space and is
    ≤ λ_max, so this is conclusive).

    Convergence test (Golub & Van Loan §10.1): some eigenvalue lies within the residual of θ, and
    for an isolated one the error is ≈ residual²/gap. The test is relative to ``scale``, the
    spectrum's scale (λ_max), not to |θ|: a relative-to-|θ| test asks the smallest eigenvalue for
    κ times more digits than the largest, which a near-degenerate cluster at the bottom of the
    spectrum (imbalanced classes, a float32 point) cannot deliver in a few hundred steps.

    Args:
        op: ``Params -> Params``, symmetric (e.g. a jitted HVP).
        v0: start vector (normalised here).
        which: ``"largest"`` or ``"smallest"``.
        tol: residual tolerance relative to ``scale``.
        scale: the spectral scale (default |θ|, the current Ritz value: right for λ_max).
        max_iters: maximum operator applications in total.
        restart: steps per cycle; default: as many as fit in 1 GiB (all of ``max_iters`` for P up
            to ~250k, 52 at the paper scale).
        check_every: steps between convergence checks.
        stop_above: see above (``which="largest"`` only).

    Returns:
        :class:`LanczosResult`.
    """
    if which not in ("largest", "smallest"):
        raise ValueError(f"which={which!r}: expected 'largest' or 'smallest'")
    pick = -1 if which == "largest" else 0
    v, _ = _normalise(v0)
    chunk_len = _chunk_size(v)
    if restart is None:
        vec_bytes = sum(a.size * a.dtype.itemsize for a in v)
        restart = int(max(8, min(max_iters, _BASIS_BYTES // max(vec_bytes, 1))))
    used = 0
    theta = res = float("nan")
    S = float("nan")
    while used < max_iters:
        v_prev = Params(*(jnp.zeros_like(a) for a in v))
        chunks: list[Params] = []
        alphas: list[float] = []
        betas: list[float] = []
        beta_prev = jnp.zeros((), v.W.dtype)
        steps = min(restart, max_iters - used)
        evecs = None
        for j in range(steps):
            if j % chunk_len == 0:
                chunks.append(Params(*(jnp.zeros((chunk_len, *a.shape), a.dtype) for a in v)))
            chunks[-1] = _chunk_set(chunks[-1], jnp.asarray(j % chunk_len), v)
            w = op(v)
            used += 1
            w, alpha = _lanczos_step(w, v, v_prev, beta_prev)
            for _ in range(2):
                for chunk in chunks:
                    w = _reorth_chunk(chunk, w)
            v_next, beta = _normalise(w)
            alphas.append(float(alpha))
            beta_f = float(beta)
            m = j + 1
            spread = max(max(abs(a) for a in alphas), max(betas, default=0.0))
            breakdown = not beta_f > 1e-14 * max(spread, abs(scale or 0.0))
            if m % check_every == 0 or m == steps or breakdown:
                T = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)
                evals, evecs = np.linalg.eigh(T)
                theta = float(evals[pick])
                res = 0.0 if breakdown else abs(beta_f * evecs[-1, pick])
                S = abs(theta) if scale is None else abs(scale)
                if res <= tol * S:
                    return LanczosResult(theta, res, used, True)
                if stop_above is not None and which == "largest" and theta > stop_above:
                    return LanczosResult(theta, res, used, False, True)
            betas.append(beta_f)
            v_prev, v, beta_prev = v, v_next, beta
        # restart from the extreme Ritz vector y = V s
        s = np.zeros(len(chunks) * chunk_len)
        s[: len(alphas)] = evecs[:, pick]
        y = Params(*(jnp.zeros_like(a) for a in v))
        for c, chunk in enumerate(chunks):
            coef = jnp.asarray(s[c * chunk_len : (c + 1) * chunk_len], v.W.dtype)
            y = _combine_chunk(chunk, coef, y)
        v, _ = _normalise(y)
    return LanczosResult(theta, res, used, bool(res <= tol * S))


# ------------------------------------------------------------------- operators
@functools.partial(jax.jit, static_argnames=("loss",))
def deflated_hvp(
    point: Params, v: Params, tp: TangentProjector, sigma: jax.Array, hyper: Hyper,
    labels: jax.Array, loss: str,
) -> Params:
    """(∇²f + σ P_T) v: the Hessian with the orbit tangent space T moved to σ (module docstring)."""
    hv = hessian_vector_product(point, v, hyper, labels, loss)
    pv = project_tangent(tp, v)
    return Params(*(a + sigma * b for a, b in zip(hv, pv, strict=True)))


@functools.partial(jax.jit, static_argnames=("loss",))
def tangent_gram_hvp(
    point: Params, v: Params, tp: TangentProjector, hyper: Hyper, labels: jax.Array, loss: str
) -> Params:
    """P_T ∇²f ∇²f P_T v: its largest eigenvalue is ‖∇²f·P_T‖₂² (two HVPs, two projections)."""
    w = hessian_vector_product(point, project_tangent(tp, v), hyper, labels, loss)
    return project_tangent(tp, hessian_vector_product(point, w, hyper, labels, loss))


class HessianOperators(NamedTuple):
    """Pytree operators at one point, calling the module-level jitted kernels (no recompiles).

    Attributes:
        plain: v ↦ ∇²f v.
        deflated: (v, σ) ↦ (∇²f + σP_T) v.
        tangent_gram: v ↦ P_T ∇²f² P_T v.
    """

    plain: Callable[[Params], Params]
    deflated: Callable[[Params, float], Params]
    tangent_gram: Callable[[Params], Params]


def hessian_operators(
    problem: Problem, params: Params, tp: TangentProjector, *, labels: Any = None
) -> HessianOperators:
    """:class:`HessianOperators` for ``problem`` at ``params`` (dtype of ``params``)."""
    point = Params(*(jnp.asarray(a) for a in params))
    dtype = point.W.dtype
    hyper = problem.hyper(dtype)
    y = jnp.asarray(resolve_labels(problem, labels))
    loss = problem.loss
    return HessianOperators(
        plain=lambda v: hessian_vector_product(point, v, hyper, y, loss),
        deflated=lambda v, s: deflated_hvp(point, v, tp, jnp.asarray(s, dtype), hyper, y, loss),
        tangent_gram=lambda v: tangent_gram_hvp(point, v, tp, hyper, y, loss),
    )


def _random_params(problem: Problem, rng: np.random.Generator) -> Params:
    """A standard-normal start vector as a Params pytree (flat draw split by ``unflatten``)."""
    return Params(*(jnp.asarray(a) for a in unflatten(rng.standard_normal(problem.num_params),
                                                      problem)))


def _eigsh_extreme(
    problem: Problem, op, which: str, x0: np.ndarray, tol: float, scale: float | None,
    max_iters: int,
) -> LanczosResult:
    """scipy ARPACK on a LinearOperator (flat vectors split on the host); residual re-checked.

    ARPACK's own test is relative to |θ|; the returned pair is then checked by one more HVP,
    ‖A y − θ y‖ ≤ tol·scale (scale = |θ| by default), as for :func:`lanczos_extreme`.
    """
    P = problem.num_params
    count = {"n": 0}

    def matvec(x: np.ndarray) -> np.ndarray:
        count["n"] += 1
        return np.asarray(flatten(op(unflatten(np.asarray(x, np.float64).reshape(-1), problem))))

    A = spla.LinearOperator((P, P), matvec=matvec, dtype=np.float64)
    try:
        vals, vecs = spla.eigsh(A, k=1, which="LA" if which == "largest" else "SA", v0=x0,
                                tol=tol, maxiter=max_iters)
    except spla.ArpackNoConvergence:
        return LanczosResult(float("nan"), float("inf"), count["n"], False)
    theta, y = float(vals[0]), vecs[:, 0]
    res = float(np.linalg.norm(matvec(y) - theta * y))
    S = abs(theta) if scale is None else abs(scale)
    return LanczosResult(theta, res, count["n"], res <= tol * S)


def _matrix_free_extremes(
    problem: Problem, p64: Params, labels: Any, tp: TangentProjector, *, method: str, tol: float,
    zero_rtol: float, sigma: float | None, seed: int, max_iters: int,
) -> Extremes:
    """λ_max, the tangent check, then λ_min⁺ (T null) or the raw λ_min (T not null)."""
    ops = hessian_operators(problem, p64, tp, labels=labels)
    rng = np.random.default_rng(seed)
    v0, v1, v2 = (_random_params(problem, rng) for _ in range(3))
    m = tp.dim
    jax.block_until_ready(ops.plain(v0))  # compile outside the timings
    jax.block_until_ready(ops.deflated(v0, 1.0))
    if m:
        jax.block_until_ready(ops.tangent_gram(v0))
    lanczos_extreme(ops.plain, v0, max_iters=2, restart=1, check_every=1)  # compile the kernels

    def run(op, v, which, scale):
        if method == "eigsh":
            return _eigsh_extreme(problem, op, which, np.asarray(flatten(v)), tol, scale,
                                  max_iters)
        return lanczos_extreme(op, v, which=which, tol=tol, scale=scale, max_iters=max_iters)

    notes: dict[str, str] = {}
    t0 = time.perf_counter()
    top = run(ops.plain, v0, "largest", None)
    t_max = time.perf_counter() - t0
    if not top.converged:
        note = (f"{method} did not converge for λ_max in {top.matvecs} HVPs (residual "
                f"{top.residual:.2e} > {tol:.0e}·|θ|); nothing that depends on it is reported")
        for key in ("lambda_max", "lambda_min_nonzero", "lambda_min", "zero_modes"):
            notes[key] = note
        return Extremes(None, None, None, None, m, tp.rank, None, None, None, zero_rtol,
                        "not-converged", notes, method, None, top.matvecs, 0, 0, t_max)
    lmax = top.value
    scale = max(abs(lmax), np.finfo(np.float64).tiny)
    thr = zero_rtol * scale
    # tangent check: ‖∇²f P_T‖² = λ_max(P_T ∇²f² P_T), decided to 10 % of thr² or stopped above it
    t0 = time.perf_counter()
    residual, null, n_check = 0.0, True, 0
    if m:
        start = project_tangent(tp, v2)
        chk = lanczos_extreme(ops.tangent_gram, start, which="largest", tol=0.1, scale=thr * thr,
                              max_iters=max_iters, stop_above=thr * thr)
        n_check = chk.matvecs * 2
        residual = math.sqrt(max(chk.value, 0.0)) / scale
        if chk.stopped or (chk.converged and chk.value > thr * thr):
            null = False
        elif not chk.converged:
            null = None
    t_check = time.perf_counter() - t0
    shift = lmax if sigma is None else float(sigma)
    lmin_plus = lmin = zeros = None
    t0 = time.perf_counter()
    if null:
        bottom = run(lambda v: ops.deflated(v, shift), v1, "smallest", scale)
        n_min = bottom.matvecs
        if bottom.converged:
            lmin_plus = bottom.value
            status = _classify(lmin_plus, scale, zero_rtol, notes)
            if status == "ok":
                zeros = m
            else:
                notes["zero_modes"] = ("not established: matrix-free extremes cannot count null "
                                       "directions outside T when λ_min⁺ ≤ tol·λ_max")
        else:
            status = "not-converged"
            notes["lambda_min_nonzero"] = (
                f"{method} did not converge in {n_min} HVPs (residual {bottom.residual:.2e} > "
                f"{tol:.0e}·λ_max)")
            notes["zero_modes"] = "not established: λ_min⁺ did not converge"
        notes["lambda_min"] = ("not computed: T is null, so the smallest eigenvalue is in its "
                               f"zero cluster (|λ| ≤ {zero_rtol:.1e}·λ_max)")
    else:
        raw = run(ops.plain, v1, "smallest", scale)
        n_min = raw.matvecs
        if null is None:
            status = "not-converged"
            notes["zero_modes"] = notes["lambda_min_nonzero"] = (
                f"the tangent check did not converge in {chk.matvecs} steps")
        else:
            status = "orbit-not-null"
            notes["lambda_min_nonzero"] = _orbit_not_null_note(residual, zero_rtol)
            notes["zero_modes"] = "not established: T is not null (matrix-free: no count)"
        if raw.converged:
            lmin = raw.value
        else:
            notes["lambda_min"] = (f"{method} did not converge in {n_min} HVPs (residual "
                                   f"{raw.residual:.2e} > {tol:.0e}·λ_max)")
    t_min = time.perf_counter() - t0
    return Extremes(lmax, lmin_plus, lmin, zeros, m, tp.rank, residual, null, None, zero_rtol,
                    status, notes, method, shift, top.matvecs, n_min, n_check, t_max, t_min,
                    t_check)


METHODS = ("auto", "dense", "lanczos", "eigsh")


def extreme_eigenvalues(
    problem: Problem,
    params: Params,
    *,
    labels: Any = None,
    method: str = "auto",
    rank: int | None = None,
    tol: float = 1e-10,
    zero_rtol: float | None = None,
    rank_rtol: float | None = None,
    sigma: float | None = None,
    seed: int = 0,
    max_iters: int = 500,
    dense_max_params: int = 3000,
) -> Extremes:
    """λ_max, λ_min⁺ and the measured zero modes of ∇²f at ``params`` (module docstring).

    Always in float64 (inside ``ufm.precision.x64``): a float32 point is cast up exactly, so the
    Hessian is exact *for that point*, which is itself only float32-accurate.

    Args:
        problem: the UFM instance.
        params: the point (ideally a minimiser).
        labels: [N] labels (default ``problem.labels()``).
        method: ``"dense"`` (one eigvalsh of the full Hessian; P ≤ a few thousand),
            ``"lanczos"`` (:func:`lanczos_extreme`, JAX, full reorthogonalisation, on the pytree;
            it measured fastest, ``benchmarks/hessian_paper_scale.py``), ``"eigsh"`` (scipy
            ARPACK for λ_max and the smallest eigenvalue; the tangent check stays Lanczos) or
            ``"auto"`` (dense when P ≤ ``dense_max_params``, else lanczos).
        rank: dim S for the tangent space (:mod:`ufm.hessian`); pass K−1 at an approximate
            collapse minimiser. None: the numerical rank (singular values > ``rank_rtol``·σ_max).
        tol: Lanczos/ARPACK residual tolerance relative to λ_max.
        zero_rtol: relative zero threshold (default √eps of the point's dtype).
        rank_rtol: numerical-rank threshold (default √eps of the point's dtype).
        sigma: deflation shift (default λ_max, see the module docstring).
        seed: seed of the start vectors.
        max_iters: Lanczos/ARPACK step limit (per run).
        dense_max_params: the ``auto`` threshold.

    Returns:
        :class:`Extremes` (times exclude compilation). Never raises on non-convergence: the value
        is None and ``status``/``notes`` say why.
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r}: expected one of {', '.join(METHODS)}")
    if method == "auto":
        method = "dense" if problem.num_params <= dense_max_params else "lanczos"
    zero_rtol = default_zero_rtol(params) if zero_rtol is None else float(zero_rtol)
    rank_rtol = default_zero_rtol(params) if rank_rtol is None else float(rank_rtol)
    y = resolve_labels(problem, labels)
    with x64():
        p64 = as_float64(params)
        tp = tangent_projector(p64, problem, rank=rank, rtol=rank_rtol)
        if method == "dense":
            return _dense_extremes(problem, p64, y, tp, zero_rtol)
        return _matrix_free_extremes(problem, p64, y, tp, method=method, tol=tol,
                                     zero_rtol=zero_rtol, sigma=sigma, seed=seed,
                                     max_iters=max_iters)
