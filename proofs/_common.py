"""Shared sympy building blocks for the proofs (not a proof itself).

Conventions follow theory.md 0 and a.1: W is K×d, H is d×N with class-major columns
(column k·n + i is sample i of class k), b ∈ R^K, logits Z = W H + b 1ᵀ, and

    f(W, H, b) = (1/N) Σ_i ℓ(z_i, y_i) + (λ_W/2)‖W‖_F² + (λ_H/2)‖H‖_F² + (λ_b/2)‖b‖².

Everything here is exact sympy: matrices of Rationals, symbols and radicals, never floats.
"""

from __future__ import annotations

import sympy as sp

LOSSES = ("ce", "ls", "maxsup", "fl", "mse")


class ProofFailure(AssertionError):
    """A step of a proof did not hold (raised by :func:`require`, also under ``python -O``)."""


def require(condition, message: str, *context) -> None:
    """Raise :class:`ProofFailure` unless ``condition`` is true.

    Every check of proofs/ goes through here rather than ``assert``, which ``python -O`` removes.
    ``condition`` must be a Python or sympy boolean: ``None`` (sympy's "unknown", e.g. from
    ``expr.is_positive``) fails. ``context`` is formatted only on failure.
    """
    if condition is None or not bool(condition):
        detail = f" [{', '.join(map(str, context))}]" if context else ""
        raise ProofFailure(message + detail)


def centering(K: int) -> sp.Matrix:
    """C = I_K − J/K, the centring projector of theory.md 0."""
    return sp.eye(K) - sp.ones(K, K) / K


def labels(K: int, n: int) -> list[int]:
    """Class-major labels y_i = ⌊i/n⌋."""
    return [k for k in range(K) for _ in range(n)]


def one_hot(K: int, n: int) -> sp.Matrix:
    """Y ∈ {0,1}^{K×N}, the one-hot label matrix (class-major)."""
    Y = sp.zeros(K, K * n)
    for i, k in enumerate(labels(K, n)):
        Y[k, i] = 1
    return Y


def etf_factor(K: int, d: int) -> sp.Matrix:
    """An exact K×d matrix R with R Rᵀ = C (so its rows are a simplex ETF scaled to norm² (K−1)/K).

    d ≥ K: R = [C | 0] (rational). K = 4, d = 3: the regular tetrahedron (±1/2 entries, rational).
    d = K − 1 otherwise: the Helmert basis of 1^⊥ (radicals).
    """
    if d >= K:
        R = sp.zeros(K, d)
        R[:, :K] = centering(K)
        return R
    if d != K - 1:
        raise ValueError(f"d={d}: expected d >= K-1 = {K - 1}")
    if K == 4:
        return sp.Matrix([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / 2
    R = sp.zeros(K, K - 1)
    for j in range(1, K):  # column j−1: (1, …, 1, −j, 0, …)/sqrt(j(j+1)) with j ones
        for i in range(j):
            R[i, j - 1] = 1
        R[j, j - 1] = -j
        R[:, j - 1] /= sp.sqrt(j * (j + 1))
    return R


def per_sample_loss(loss: str, z, y: int, *, alpha=0, gamma=0, s=1, c_m=1) -> sp.Expr:
    """ℓ(z, y) of theory.md a.2 for a list z of K sympy expressions.

    Softmax losses are written through the differences z_j − z_y (log Σ_j e^{z_j − z_y} is the
    same function as logsumexp(z) − z_y); at the NC logits these differences are 0 and −Δ, so
    sympy evaluates the exponentials without radicals.
    """
    K = len(z)
    mean = sum(z) / K
    ce = sp.log(sum(sp.exp(zj - z[y]) for zj in z))
    if loss == "ce":
        return ce
    if loss == "ls":
        return ce + alpha * (z[y] - mean)
    if loss == "maxsup":
        return ce + alpha * (sp.Max(*z) - mean)
    if loss == "fl":
        p_y = 1 / sum(sp.exp(zj - z[y]) for zj in z)
        return -((1 - p_y) ** gamma) * sp.log(p_y)
    if loss == "mse":
        return c_m * sum((zj - (s if j == y else 0)) ** 2 for j, zj in enumerate(z)) / 2
    raise ValueError(f"loss={loss!r}: expected one of {', '.join(LOSSES)}")


def parameter_symbols(K: int, d: int, N: int, bias: bool = True):
    """Matrices of fresh symbols W [K,d], H [d,N], b [K] (b = 0 without bias)."""
    W = sp.Matrix(K, d, lambda i, j: sp.Symbol(f"W_{i}_{j}"))
    H = sp.Matrix(d, N, lambda i, j: sp.Symbol(f"H_{i}_{j}"))
    b = sp.Matrix(K, 1, lambda i, _: sp.Symbol(f"b_{i}")) if bias else sp.zeros(K, 1)
    return W, H, b


def ufm_objective(W, H, b, ys, loss, *, lam_w, lam_h, lam_b=0, **loss_params) -> sp.Expr:
    """The UFM objective (theory.md a.1) as one sympy expression."""
    N = H.shape[1]
    Z = W * H + b * sp.ones(1, N)
    data = sum(per_sample_loss(loss, list(Z[:, i]), ys[i], **loss_params) for i in range(N)) / N
    norm2 = lambda M: sum(x**2 for x in M)
    return data + lam_w * norm2(W) / 2 + lam_h * norm2(H) / 2 + lam_b * norm2(b) / 2


def balanced_point(R, n: int, kappa):
    """W = κ R and H = κ⁻¹ Rᵀ Y: the balanced factorisation of the class-logit matrix R Rᵀ.

    With κ⁴ = nλ_H/λ_W this is the split of theory.md b.1: h_{k,i} = κ⁻² w_k =
    sqrt(λ_W/(nλ_H)) w_k and λ_W‖W‖² = λ_H‖H‖².
    """
    K = R.shape[0]
    return kappa * R, R.T * one_hot(K, n) / kappa


def gradient_at(f, variables, point: dict, after: dict | None = None) -> list:
    """∂f/∂x for every x in ``variables``, evaluated at ``point`` and then ``after``, cancelled."""
    out = []
    for x in variables:
        g = sp.diff(f, x).xreplace(point)
        if after:
            g = g.subs(after)
        out.append(sp.cancel(sp.expand(g)))
    return out


def matches_printed(value, printed: str) -> bool:
    """True if the exact ``value`` agrees with a decimal quoted in theory.md to its last digit.

    The tolerance is one unit in the last printed place (rounding or truncation both pass).
    """
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    ulp = sp.Rational(1, 10**decimals)
    return abs(sp.N(value, 50) - sp.Rational(printed)) <= ulp


def vanishes(expr) -> bool:
    """Exact test expr == 0: expand, then cancel, then simplify (cheapest first)."""
    e = sp.expand(expr)
    if e == 0:
        return True
    e = sp.cancel(e)
    return e == 0 or sp.simplify(e) == 0


def same(a, b) -> bool:
    """Exact equality a = b: simplify(a − b) == 0, or (for b ≠ 0) simplify(a/b) == 1.

    The ratio form helps sympy with radicals such as sqrt(k² + 2k + 1) = k + 1 (k > 0).
    """
    if sp.simplify(a - b) == 0:
        return True
    return b != 0 and sp.simplify(a / b) == 1
