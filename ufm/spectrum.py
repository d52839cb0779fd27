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

Matrix-free (:func:`extreme_eigenvalues`). λ_max by Lanczos (:func:`lanczos_extreme`, JAX, full
reorthogonalisation; or scipy ``eigsh``) on the reverse-over-forward HVP. λ_min⁺ by Lanczos on
the *deflated* operator ∇²f + σ·P_T, with P_T the implicit projector onto the symmetry-orbit
tangent space (:mod:`ufm.hessian`) and σ = λ_max: the symmetry zeros move to ≈ σ, inside the
spectrum, so the spread Lanczos sees is unchanged (a larger σ would stretch it and cost more
iterations). Without deflation an approximate
minimiser's zeros split into ±O(‖∇f‖) values and 'SA' returns those (perf-notes §4b).
"""

from __future__ import annotations

import functools
import math
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse.linalg as spla

from ufm.hessian import (
    dense_hessian,
    hessian_vector_product,
    join_flat,
    orbit_tangent,
    project_tangent,
    split_flat,
    tangent_projector,
    zero_mode_count,
)
from ufm.losses import per_sample_loss
from ufm.objective import Params, flatten
from ufm.precision import x64
from ufm.spec import Problem


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
    """(value, total multiplicity) with values equal to ``rtol``·max|λ| merged, ascending."""
    ev = expand(families)
    if ev.size == 0:
        return []
    scale = max(float(np.max(np.abs(ev))), np.finfo(np.float64).tiny)
    out: list[tuple[float, int]] = []
    for x in ev:
        if out and abs(x - out[-1][0]) <= rtol * scale:
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((float(x), 1))
    return out


def closed_form_extremes(problem: Problem) -> dict[str, Any]:
    """λ_max, λ_min⁺ and the number of zeros of :func:`closed_form_spectrum`.

    Zero modes are the families whose eigenvalue is exactly 0 by structure (rotations, and the
    bias shift when λ_b = 0); λ_min⁺ is the smallest of the rest.
    """
    fams = closed_form_spectrum(problem)
    nonzero = [f.eigenvalue for f in fams if f.eigenvalue != 0.0]
    return {
        "lambda_max": max(f.eigenvalue for f in fams),
        "lambda_min_nonzero": min(nonzero),
        "zero_modes": sum(f.multiplicity for f in fams if f.eigenvalue == 0.0),
    }


# ---------------------------------------------------------------------------- dense
def dense_spectrum(problem: Problem, params: Params) -> np.ndarray:
    """All eigenvalues of the dense Hessian (``numpy.linalg.eigvalsh``), ascending. Small P only."""
    return np.linalg.eigvalsh(dense_hessian(problem, params))


class Extremes(NamedTuple):
    """Extreme eigenvalues of ∇²f at a point.

    Attributes:
        lambda_max: largest eigenvalue.
        lambda_min_nonzero: smallest eigenvalue of ∇²f + σP_T (the Hessian with the symmetry
            tangent space deflated); λ_min⁺ at a minimiser.
        zero_modes: dense: the number of eigenvalues with |λ| ≤ √eps·λ_max; matrix-free: dim T_θ
            (the deflated space).
        method: ``"dense"``, ``"lanczos"`` or ``"eigsh"``.
        sigma: the deflation shift σ.
        matvecs_max, matvecs_min: HVPs used for each (0 for dense).
        seconds_max, seconds_min: wall time of each, after compilation (dense: the total in
            ``seconds_max``).
    """

    lambda_max: float
    lambda_min_nonzero: float
    zero_modes: int
    method: str
    sigma: float
    matvecs_max: int = 0
    matvecs_min: int = 0
    seconds_max: float = 0.0
    seconds_min: float = 0.0


def _projector_matrix(problem: Problem, tp) -> np.ndarray:
    """The P×P matrix of :func:`ufm.hessian.project_tangent` (small problems only)."""
    K, d, N, P = problem.K, problem.d, problem.N, problem.num_params

    def column(e: jax.Array) -> jax.Array:
        W, H, b = e[: K * d], e[K * d : K * d + d * N], e[K * d + d * N :]
        return flatten(project_tangent(tp, Params(W.reshape(K, d), H.reshape(d, N), b)))

    return np.asarray(jax.vmap(column)(jnp.eye(P, dtype=tp.U.dtype))).T


def _dense_extremes(problem: Problem, params: Params, rank: int | None) -> Extremes:
    t0 = time.perf_counter()
    Hd = dense_hessian(problem, params)
    ev = np.linalg.eigvalsh(Hd)
    lmax = float(ev[-1])
    if rank is None:
        T = orbit_tangent(params, problem)
    else:  # the tangent space of the nearby orbit (rank-r truncation), via the implicit projector
        tp = tangent_projector(params, problem, rank=rank)
        P_T = _projector_matrix(problem, tp)
        w, V = np.linalg.eigh(P_T)
        T = V[:, w > 0.5]
    sigma = max(lmax, np.finfo(np.float64).tiny)
    lmin = float(np.linalg.eigvalsh(Hd + sigma * (T @ T.T))[0])
    secs = time.perf_counter() - t0
    return Extremes(lmax, lmin, zero_mode_count(ev), "dense", sigma, 0, 0, secs, 0.0)


# ------------------------------------------------------------------- JAX Lanczos
_CHUNK = 4


def _tree_dot(a: Params, b: Params) -> jax.Array:
    return sum(jnp.vdot(x.ravel(), y.ravel()) for x, y in zip(a, b))


@jax.jit
def _reorth_chunk(chunk: Params, w: Params) -> Params:
    """w − Cᵀ(C w) for a chunk C of basis vectors (leading axis; unused rows are zero)."""
    c = sum(cl.reshape(cl.shape[0], -1) @ wl.ravel() for cl, wl in zip(chunk, w))
    return Params(*(wl - jnp.tensordot(c, cl, axes=1) for cl, wl in zip(chunk, w)))


@functools.partial(jax.jit, donate_argnums=0)
def _chunk_set(chunk: Params, i: jax.Array, v: Params) -> Params:
    return Params(*(cl.at[i].set(vl) for cl, vl in zip(chunk, v)))


@jax.jit
def _lanczos_step(w: Params, v: Params, v_prev: Params, beta_prev: jax.Array):
    alpha = _tree_dot(w, v)
    w = Params(*(a - alpha * b - beta_prev * c for a, b, c in zip(w, v, v_prev)))
    return w, alpha


@jax.jit
def _normalise(w: Params):
    beta = jnp.sqrt(_tree_dot(w, w))
    return Params(*(a / beta for a in w)), beta


class LanczosResult(NamedTuple):
    """An extreme Ritz value of a symmetric operator.

    Attributes:
        value: the extreme Ritz value θ.
        residual: ‖A y − θ y‖ = β_m |s_m| (exact with full reorthogonalisation).
        matvecs: operator applications.
        converged: residual ≤ tol·|θ|.
    """

    value: float
    residual: float
    matvecs: int
    converged: bool


@jax.jit
def _combine_chunk(chunk: Params, coef: jax.Array, acc: Params) -> Params:
    return Params(*(al + jnp.tensordot(coef, cl, axes=1) for cl, al in zip(chunk, acc)))


def lanczos_extreme(
    op,
    v0: Params,
    *,
    which: str = "largest",
    tol: float = 1e-10,
    max_iters: int = 400,
    restart: int = 48,
    check_every: int = 4,
) -> LanczosResult:
    """The largest or smallest eigenvalue of a symmetric operator on ``Params`` pytrees.

    Lanczos with full reorthogonalisation (classical Gram–Schmidt, twice, against every previous
    vector of the current cycle), explicitly restarted from the extreme Ritz vector every
    ``restart`` steps so that at most ``restart`` vectors are stored (20 MB each in float64 at
    the paper scale). The basis lives on the device in chunks of 4 vectors: step j reads
    ≈ 4·(j+4) vectors besides the operator, with no host round-trip and no flat reshapes. Stops
    when the Ritz residual β_j|s_j| ≤ tol·|θ| (checked every ``check_every`` steps), or on
    breakdown (an invariant subspace: exact).

    Args:
        op: ``Params -> Params``, symmetric (e.g. a jitted HVP).
        v0: start vector (normalised here).
        which: ``"largest"`` or ``"smallest"``.
        tol: relative residual tolerance; the eigenvalue error is ≤ tol·|θ| and typically
            ≈ (tol·θ)²/gap.
        max_iters: maximum operator applications in total.
        restart: steps per cycle (memory bound).
        check_every: steps between convergence checks.

    Returns:
        :class:`LanczosResult`.
    """
    if which not in ("largest", "smallest"):
        raise ValueError(f"which={which!r}: expected 'largest' or 'smallest'")
    pick = -1 if which == "largest" else 0
    v, _ = _normalise(v0)
    used = 0
    theta = res = float("nan")
    while used < max_iters:
        v_prev = Params(*(jnp.zeros_like(a) for a in v))
        chunks: list[Params] = []
        alphas: list[float] = []
        betas: list[float] = []
        beta_prev = jnp.zeros((), v.W.dtype)
        steps = min(restart, max_iters - used)
        evecs = None
        for j in range(steps):
            if j % _CHUNK == 0:
                chunks.append(Params(*(jnp.zeros((_CHUNK, *a.shape), a.dtype) for a in v)))
            chunks[-1] = _chunk_set(chunks[-1], jnp.asarray(j % _CHUNK), v)
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
            breakdown = not beta_f > 1e-14 * max(abs(a) for a in alphas)
            if m % check_every == 0 or m == steps or breakdown:
                T = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)
                evals, evecs = np.linalg.eigh(T)
                theta = float(evals[pick])
                res = 0.0 if breakdown else abs(beta_f * evecs[-1, pick])
                if res <= tol * abs(theta):
                    return LanczosResult(theta, res, used, True)
            betas.append(beta_f)
            v_prev, v, beta_prev = v, v_next, beta
        # restart from the extreme Ritz vector y = V s
        s = np.zeros(len(chunks) * _CHUNK)
        s[: len(alphas)] = evecs[:, pick]
        y = Params(*(jnp.zeros_like(a) for a in v))
        for c, chunk in enumerate(chunks):
            y = _combine_chunk(chunk, jnp.asarray(s[c * _CHUNK : (c + 1) * _CHUNK], v.W.dtype), y)
        v, _ = _normalise(y)
    return LanczosResult(theta, res, used, res <= tol * abs(theta))


def _make_ops(problem: Problem, params: Params, tp: Any, dtype: Any):
    """Jitted pytree operators: plain HVP v ↦ ∇²f v and deflated v ↦ ∇²f v + σ P_T v."""
    hyper = problem.hyper(dtype)
    labels = jnp.asarray(problem.labels())
    point = Params(*(jnp.asarray(a, dtype) for a in params))
    loss = problem.loss

    @jax.jit
    def deflated(pt, v, tp_, sigma):
        hv = hessian_vector_product(pt, v, hyper, labels, loss)
        pv = project_tangent(tp_, v)
        return Params(*(a + sigma * b for a, b in zip(hv, pv)))

    def plain(v: Params) -> Params:
        return hessian_vector_product(point, v, hyper, labels, loss)

    def defl(v: Params, sigma: float) -> Params:
        return deflated(point, v, tp, jnp.asarray(sigma, dtype))

    return plain, defl


METHODS = ("auto", "dense", "lanczos", "eigsh")


def extreme_eigenvalues(
    problem: Problem,
    params: Params,
    *,
    method: str = "auto",
    rank: int | None = None,
    tol: float = 1e-10,
    sigma: float | None = None,
    seed: int = 0,
    max_iters: int = 400,
    dense_max_params: int = 3000,
) -> Extremes:
    """λ_max and λ_min⁺ of ∇²f at ``params``, with the symmetry null space deflated.

    Args:
        problem: the UFM instance.
        params: the point (ideally a minimiser).
        method: ``"dense"`` (eigvalsh of the full Hessian; P ≤ a few thousand),
            ``"lanczos"`` (:func:`lanczos_extreme`, JAX, full reorthogonalisation, on the pytree;
            the default for large P: it measured fastest, ``benchmarks/hessian_paper_scale.py``),
            ``"eigsh"`` (scipy ARPACK on a ``LinearOperator``; the flat vector is split into the
            pytree on the host) or ``"auto"`` (dense when P ≤ ``dense_max_params``, else lanczos).
        rank: dim S for the tangent projector (:mod:`ufm.hessian`); pass K−1 at an approximate
            collapse minimiser. None: the numerical rank (dense: the explicit so(d) basis).
        tol: relative residual tolerance (Lanczos: β|s| ≤ tol·|θ|; ARPACK: its ``tol``).
        sigma: deflation shift (default λ_max, see the module docstring).
        seed: seed of the start vectors.
        max_iters: Lanczos step limit (per eigenvalue).
        dense_max_params: the ``auto`` threshold.

    Returns:
        :class:`Extremes` (times exclude compilation).

    Raises:
        RuntimeError: if Lanczos does not reach ``tol`` within ``max_iters`` steps.
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r}: expected one of {', '.join(METHODS)}")
    if method == "auto":
        method = "dense" if problem.num_params <= dense_max_params else "lanczos"
    if method == "dense":
        return _dense_extremes(problem, params, rank)
    dtype = np.float64
    tp = tangent_projector(params, problem, rank=rank)
    plain, defl = _make_ops(problem, params, tp, dtype)
    P = problem.num_params
    rng = np.random.default_rng(seed)
    x0, x1 = rng.standard_normal(P), rng.standard_normal(P)
    v0 = Params(*(jnp.asarray(a) for a in split_flat(x0, problem)))
    v1 = Params(*(jnp.asarray(a) for a in split_flat(x1, problem)))
    jax.block_until_ready(plain(v0))  # compile outside the timings
    jax.block_until_ready(defl(v0, 1.0))
    if method == "lanczos":  # compile the Lanczos kernels for these shapes
        lanczos_extreme(plain, v0, max_iters=2, restart=1, check_every=1)

    if method == "lanczos":
        t0 = time.perf_counter()
        top = lanczos_extreme(plain, v0, which="largest", tol=tol, max_iters=max_iters)
        t_max = time.perf_counter() - t0
        shift = top.value if sigma is None else float(sigma)
        t0 = time.perf_counter()
        bottom = lanczos_extreme(
            lambda v: defl(v, shift), v1, which="smallest", tol=tol, max_iters=max_iters
        )
        t_min = time.perf_counter() - t0
        for name, r in (("lambda_max", top), ("lambda_min_nonzero", bottom)):
            if not r.converged:
                raise RuntimeError(
                    f"Lanczos for {name} did not converge in {max_iters} steps "
                    f"(residual {r.residual:.3g} > tol·|θ| = {tol * abs(r.value):.3g})"
                )
        return Extremes(
            top.value, bottom.value, tp.dim, "lanczos", shift,
            top.matvecs, bottom.matvecs, t_max, t_min,
        )

    counter = {"n": 0}
    shift_box = {"s": 0.0}

    def matvec_plain(x: np.ndarray) -> np.ndarray:
        counter["n"] += 1
        return join_flat(plain(split_flat(np.asarray(x, dtype), problem)))

    def matvec_defl(x: np.ndarray) -> np.ndarray:
        counter["n"] += 1
        return join_flat(defl(split_flat(np.asarray(x, dtype), problem), shift_box["s"]))

    kw = {"k": 1, "tol": tol, "return_eigenvectors": False}
    t0 = time.perf_counter()
    op = spla.LinearOperator((P, P), matvec=matvec_plain, dtype=dtype)
    lmax = float(spla.eigsh(op, which="LA", v0=x0, **kw)[0])
    t_max, n_max = time.perf_counter() - t0, counter["n"]
    shift_box["s"] = lmax if sigma is None else float(sigma)
    counter["n"] = 0
    t0 = time.perf_counter()
    op = spla.LinearOperator((P, P), matvec=matvec_defl, dtype=dtype)
    lmin = float(spla.eigsh(op, which="SA", v0=x1, **kw)[0])
    t_min, n_min = time.perf_counter() - t0, counter["n"]
    return Extremes(lmax, lmin, tp.dim, "eigsh", shift_box["s"], n_max, n_min, t_max, t_min)
