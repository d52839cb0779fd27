"""The duality certificate: conjugates, weak duality, and a zero gap at the ETF (theory.md h).

Statement.
(i) Conjugates. For ℓ(u) = logsumexp(u) − qᵀu with a target q in the simplex (CE: q = e_y;
    LS: q = (1−α)e_y + (α/K)1, and this ℓ is exactly ℓ_LS), ℓ*(v) = Σ_j r_j log r_j with
    r = q + v in the simplex. For ℓ(u) = ½‖u − s e_y‖², ℓ*(v) = ½‖v‖² + s·v_y. For the mean
    L(U) = (1/N)Σ_i ℓ(u_i, y_i), L*(Λ) = (1/N)Σ_i ℓ*(Nλ_i).
(ii) Weak duality. For every Z, b and every Λ with ‖Λ‖₂ ≤ μ = sqrt(λ_Wλ_H),
    g(Z, b) = L(Z + b1ᵀ) + μ‖Z‖_* + (λ_b/2)‖b‖² ≥ D(Λ) = −L*(Λ) − ‖Λ1‖²/(2λ_b):
    Fenchel–Young gives L(U) ≥ ⟨Λ, U⟩ − L*(Λ); Hölder gives ⟨Λ, Z⟩ + μ‖Z‖_* ≥ 0; and
    min_b bᵀΛ1 + (λ_b/2)‖b‖² = −‖Λ1‖²/(2λ_b) (completing the square).
(iii) Zero gap. At the closed-form minimiser the natural dual point Λ = G = ∇L(U*) has
    ‖G‖₂ = μ exactly and G1 = 0, and D(G) = f*: for CE and LS (both equal −p log p − (K−1)q log q,
    q = (1−p)/(K−1)), and for MSE cases 1 and 2.

Source: theory.md h ("Reformulation", "Dual bound", "Conjugates", "The natural dual point").

Proof. (i) stationarity and value of the concave sup for K = 3, 4 with symbolic r, v, s; the
concavity of u ↦ rᵀu − logsumexp(u) is the variance identity uᵀ(diag p − ppᵀ)u = Σ p_k(u_k − pᵀu)².
(ii) the square completion exactly; Fenchel–Young is the definition of ℓ*, Hölder (|⟨Λ,Z⟩| ≤
‖Λ‖₂‖Z‖_*) is the duality of the spectral and nuclear norms (not re-proved here).
(iii) G from sympy derivatives of the per-sample losses at the NC logits (K = 3, n = 2), exact.
"""

from __future__ import annotations

import sympy as sp

from proofs import mse
from proofs._common import centering, labels, one_hot, per_sample_loss

alpha, s = sp.symbols("alpha s", positive=True)
p, beta, Delta = sp.symbols("p beta Delta", positive=True)
K = sp.Symbol("K", positive=True, integer=True)


def lse(u):
    return sp.log(sum(sp.exp(uk) for uk in u))


def softmax_conjugate(r):
    """ℓ*(v) = Σ r_j log r_j, r = q + v (in the simplex)."""
    return sum(rj * sp.log(rj) for rj in r)


def mse_conjugate(v, y, s=s):
    """ℓ*(v) = ½‖v‖² + s·v_y for ℓ(u) = ½‖u − s e_y‖²."""
    return sum(vj**2 for vj in v) / 2 + s * v[y]


def check_conjugates(Kv):
    u = sp.symbols(f"u0:{Kv}", real=True)
    r = list(sp.symbols(f"r0:{Kv - 1}", positive=True))
    r.append(1 - sum(r))  # a point of the simplex
    # sup_u rᵀu − lse(u): gradient r − softmax(u) vanishes at u = log r, value Σ r log r
    obj = sum(rj * uj for rj, uj in zip(r, u, strict=True)) - lse(u)
    at = dict(zip(u, [sp.log(rj) for rj in r]))
    assert all(sp.simplify(sp.diff(obj, uk).xreplace(at)) == 0 for uk in u)
    assert sp.simplify(sp.expand_log(obj.xreplace(at) - softmax_conjugate(r), force=True)) == 0
    # concavity: uᵀ(diag p − ppᵀ)u = Σ p_k (u_k − pᵀu)² ≥ 0, p = softmax
    pk = list(r)
    mean = sum(pj * uj for pj, uj in zip(pk, u, strict=True))
    quad = sum(pj * uj**2 for pj, uj in zip(pk, u, strict=True)) - mean**2
    assert sp.expand(quad - sum(pj * (uj - mean) ** 2 for pj, uj in zip(pk, u, strict=True))) == 0
    # LS is lse(u) − qᵀu with the smoothed target
    y = 0
    q = [(1 - alpha) * int(k == y) + alpha / Kv for k in range(Kv)]
    lin = sum(qk * uk for qk, uk in zip(q, u, strict=True))
    ls_gap = per_sample_loss("ls", list(u), y, alpha=alpha) - (lse(u) - lin)
    assert sp.simplify(sp.expand_log(ls_gap, force=True)) == 0
    # Fenchel–Young with equality at v = ∇ℓ(u): ℓ(u) + ℓ*(∇ℓ(u)) = uᵀ∇ℓ(u)
    ell = lse(u) - lin
    grad = [sp.diff(ell, uk) for uk in u]
    r_u = [qk + gk for qk, gk in zip(q, grad, strict=True)]  # = softmax(u)
    fy = ell + softmax_conjugate(r_u) - sum(uk * gk for uk, gk in zip(u, grad, strict=True))
    assert sp.simplify(sp.expand_log(sp.expand(fy), force=True)) == 0
    # MSE: the sup of vᵀu − ½‖u − s e_y‖² is at u = v + s e_y
    v = sp.symbols(f"v0:{Kv}", real=True)
    obj = sum(vk * uk for vk, uk in zip(v, u, strict=True))
    obj -= sum((uk - s * int(k == y)) ** 2 for k, uk in enumerate(u)) / 2
    at = {uk: vk + s * int(k == y) for k, (uk, vk) in enumerate(zip(u, v, strict=True))}
    assert all(sp.expand(sp.diff(obj, uk).xreplace(at)) == 0 for uk in u)
    assert sp.expand(obj.xreplace(at) - mse_conjugate(v, y)) == 0


def check_weak_duality():
    lam_b = sp.Symbol("lambda_b", positive=True)
    b, c = sp.symbols("b0:3", real=True), sp.symbols("c0:3", real=True)  # c = Λ1
    lhs = sum(bk * ck for bk, ck in zip(b, c, strict=True)) + lam_b / 2 * sum(bk**2 for bk in b)
    square = lam_b / 2 * sum((bk + ck / lam_b) ** 2 for bk, ck in zip(b, c, strict=True))
    assert sp.expand(lhs - (square - sum(ck**2 for ck in c) / (2 * lam_b))) == 0
    # L*(Λ) = (1/N)Σ ℓ*(Nλ_i): ⟨Λ, U⟩ − (1/N)Σℓ(u_i) = (1/N)Σ[(Nλ_i)ᵀu_i − ℓ(u_i)], sample by sample
    N = sp.Symbol("N", positive=True)
    lam_i, u_i, ell_i = sp.symbols("lambda_i u_i ell_i")
    assert sp.expand(lam_i * u_i - ell_i / N - ((N * lam_i) * u_i - ell_i) / N) == 0


def natural_dual_point(loss, Kv=3, nv=2):
    """G = ∇L(U*) = (1/N)[∇ℓ(z_i)]_i at the closed-form minimiser (K×N, exact)."""
    N, C, Y = Kv * nv, centering(Kv), one_hot(Kv, nv)
    z = sp.symbols(f"z0:{Kv}", real=True)
    if loss in ("ce", "ls"):
        Zs = Delta * C * Y  # b* = 0 (λ_b > 0) or b₀1 (softmax is shift invariant)
        after = {sp.exp(-Delta): (1 - p) / ((Kv - 1) * p)}
        params = {"alpha": alpha} if loss == "ls" else {}
    else:
        D = s - Kv * beta
        Zs = D * C * Y + s / Kv * sp.ones(Kv, N) if loss == "mse1" else D * Y
        after, params = {}, {"s": s}
    G = sp.zeros(Kv, N)
    for i, y in enumerate(labels(Kv, nv)):
        ell = per_sample_loss("mse" if loss.startswith("mse") else loss, list(z), y, **params)
        for k in range(Kv):
            G[k, i] = sp.cancel(sp.diff(ell, z[k]).xreplace(dict(zip(z, Zs[:, i]))).subs(after)) / N
    return G


def check_zero_gap():
    Kv, nv = 3, 2
    N, C, Y = Kv * nv, centering(Kv), one_hot(Kv, nv)
    q = (1 - p) / (Kv - 1)
    for loss, b in (("ce", q), ("ls", q - alpha / Kv)):
        G = natural_dual_point(loss, Kv, nv)
        mu = b / sp.sqrt(nv)  # sqrt(λ_Wλ_H) = β/sqrt(n)
        assert (G + Kv * b / N * C * Y).applyfunc(sp.simplify) == sp.zeros(Kv, N)  # G = −(Kβ/N)CY
        assert (G * G.T - mu**2 * C).applyfunc(sp.simplify) == sp.zeros(Kv, Kv)  # ‖G‖₂ = μ
        assert (G * sp.ones(N, 1)).applyfunc(sp.simplify) == sp.zeros(Kv, 1)
        D_value = 0
        for i, y in enumerate(labels(Kv, nv)):
            smooth = alpha if loss == "ls" else 0
            target = [(1 - smooth) * int(k == y) + smooth / Kv for k in range(Kv)]
            r = [sp.simplify(target[k] + N * G[k, i]) for k in range(Kv)]
            assert r == [p if k == y else sp.simplify(q) for k in range(Kv)]  # r_i = softmax(z_i*)
            D_value -= softmax_conjugate(r) / N
        f_star = -sp.log(p) + (Kv - 1) * (b + (alpha / Kv if loss == "ls" else 0)) * sp.log(p / q)
        assert sp.simplify(sp.expand_log(f_star - D_value, force=True)) == 0
    # symbolic K: −log p + (K−1)q log(p/q) = −p log p − (K−1) q log q when p + (K−1)q = 1
    qK = (1 - p) / (K - 1)
    f_K = -sp.log(p) + (K - 1) * qK * (sp.log(p) - sp.log(qK))
    gap = f_K + p * sp.log(p) + (K - 1) * qK * sp.log(qK)
    assert sp.simplify(gap) == 0
    # MSE, c_m = 1: case 1 (bias, λ_b = 0; G1 = 0 needed) and case 2 (no bias)
    for case in ("mse1", "mse2"):
        f_star = mse.objective(int(case[-1]), Kv, beta, s, 1)
        G = natural_dual_point(case, Kv, nv)
        mu = beta / sp.sqrt(nv)
        frame = C if case == "mse1" else sp.eye(Kv)
        assert (G * G.T - mu**2 * frame).applyfunc(sp.expand) == sp.zeros(Kv, Kv)
        if case == "mse1":
            assert (G * sp.ones(N, 1)).applyfunc(sp.expand) == sp.zeros(Kv, 1)
        conj = [mse_conjugate(list(N * G[:, i]), y) for i, y in enumerate(labels(Kv, nv))]
        D_value = -sum(conj) / N
        assert sp.expand(D_value - f_star) == 0


def check():
    for Kv in (3, 4):
        check_conjugates(Kv)
    check_weak_duality()
    check_zero_gap()


if __name__ == "__main__":
    check()
    print("certificate: ok")
