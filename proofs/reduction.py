"""The 1-D reduction of the UFM at the neural-collapse ansatz (theory.md b.1).

Statement. Let {u_k} be a unit simplex ETF (u_jᵀu_k = 1 if j = k, else −1/(K−1)), and put
w_k = sqrt(a)·u_k, h_{k,i} = c·w_k, b = b₀·1. Then every sample has logits Δ(e_y − 1/K·1) + b₀1
with margin Δ = c·a·K/(K−1), and for every loss in {CE, LS, FL, MaxSup}

    f(W, H, b) = ℓ̄(Δ) + R(c) + (λ_b/2)K b₀²,   R(c) = (λ_W/2)‖W‖² + (λ_H/2)‖H‖²,

where, at fixed Δ, R(c) is minimised exactly at c* = sqrt(λ_W/(nλ_H)) with value (K−1)βΔ,
β = sqrt(nλ_Wλ_H). Hence on the ansatz (with b₀ = 0) the UFM is φ(Δ) = ℓ̄(Δ) + (K−1)βΔ, and

    ‖w_k‖² = ((K−1)/K) sqrt(nλ_H/λ_W) Δ,  ‖h_{k,i}‖² = ((K−1)/K) sqrt(λ_W/(nλ_H)) Δ,
    ‖w_k‖‖h_{k,i}‖ = (K−1)Δ/K,  λ_W‖W‖² = λ_H‖H‖².

Source: theory.md b.1 (Zhu et al. 2021 Thm 3.1; Zhou et al. 2022), "NC ansatz" and
"Minimizer structure". Also: the stationarity consequence λ_W WᵀW = λ_H HHᵀ of b.1.

Proof. (1) Symbolic K, n, λ_W, λ_H: only the ETF Gram matrix enters, so the algebra is done on
scalars. (2) K = 3, 4 with exact ETF coordinates (d = K − 1 and d = K): the full UFM objective,
written out entry by entry, equals φ(Δ) + (λ_b/2)K b₀² for each loss, with symbolic Δ, α, γ, λ_H,
λ_b, b₀.
"""

from __future__ import annotations

import sympy as sp

from proofs._common import balanced_point, etf_factor, labels, ufm_objective

K, n = sp.symbols("K n", positive=True, integer=True)
lam_w, lam_h, lam_b = sp.symbols("lambda_W lambda_H lambda_b", positive=True)
a, c, Delta = sp.symbols("a c Delta", positive=True)
alpha, gamma, b0 = sp.symbols("alpha gamma b_0", real=True)
beta = sp.sqrt(n * lam_w * lam_h)


def ce_bar(Delta, K):
    """ℓ̄_CE(Δ) = log(1 + (K−1)e^{−Δ})."""
    return sp.log(1 + (K - 1) * sp.exp(-Delta))


def loss_bar(loss, Delta, K, alpha=alpha, gamma=gamma):
    """ℓ̄(Δ): the per-sample loss at logits Δ(e_y − 1/K·1) (theory.md b.1)."""
    p = 1 / (1 + (K - 1) * sp.exp(-Delta))
    return {
        "ce": ce_bar(Delta, K),
        "ls": ce_bar(Delta, K) + alpha * (K - 1) * Delta / K,
        "maxsup": ce_bar(Delta, K) + alpha * (K - 1) * Delta / K,
        "fl": (1 - p) ** gamma * ce_bar(Delta, K),
    }[loss]


def phi(loss, Delta=Delta, K=K, beta=beta, **kw):
    """The reduced objective φ(Δ) = ℓ̄(Δ) + (K−1)βΔ."""
    return loss_bar(loss, Delta, K, **kw) + (K - 1) * beta * Delta


def ansatz_logits():
    """Own logit c·a and other logits −c·a/(K−1) (from the ETF Gram), and the margin Δ."""
    own, other = c * a, -c * a / (K - 1)
    return own, other, own - other


def regulariser(c=c, a=a):
    """(λ_W/2)‖W‖² + (λ_H/2)‖H‖² with ‖W‖² = K a and ‖H‖² = N c² a, N = nK."""
    return lam_w * K * a / 2 + lam_h * n * K * c**2 * a / 2


def optimal_split():
    """Minimise R(c) over c at fixed Δ (a = Δ(K−1)/(cK)): returns (c*, R(c*), R''(c*))."""
    R = regulariser(c, Delta * (K - 1) / (c * K))
    (c_star,) = sp.solve(sp.diff(R, c), c)
    return c_star, R.subs(c, c_star), sp.diff(R, c, 2).subs(c, c_star)


def check_symbolic_K():
    own, other, margin = ansatz_logits()
    # the logits are Δ(e_y − 1/K): own = (K−1)Δ/K, other = −Δ/K, mean = 0
    assert sp.simplify(own - (K - 1) * margin / K) == 0
    assert sp.simplify(other + margin / K) == 0
    assert sp.simplify(own + (K - 1) * other) == 0
    # CE at these logits: logsumexp − own = log(1 + (K−1)e^{−Δ}); compare the arguments of log
    lse_minus_own = (sp.exp(own) + (K - 1) * sp.exp(other)) / sp.exp(own)
    assert sp.simplify(lse_minus_own - (1 + (K - 1) * sp.exp(-margin))) == 0
    # the norm split
    c_star, R_star, curvature = optimal_split()
    assert sp.simplify(c_star - sp.sqrt(lam_w / (n * lam_h))) == 0
    assert sp.simplify(R_star - (K - 1) * beta * Delta) == 0
    assert sp.simplify(curvature / (K - 1)).is_positive  # K ≥ 2: a strict minimum
    a_star = Delta * (K - 1) / (c_star * K)
    w2, h2 = a_star, c_star**2 * a_star
    assert sp.simplify(w2 - (K - 1) / K * sp.sqrt(n * lam_h / lam_w) * Delta) == 0
    assert sp.simplify(h2 - (K - 1) / K * sp.sqrt(lam_w / (n * lam_h)) * Delta) == 0
    assert sp.simplify(sp.sqrt(w2 * h2) - (K - 1) * Delta / K) == 0
    assert sp.simplify(lam_w * K * w2 - lam_h * n * K * h2) == 0  # λ_W‖W‖² = λ_H‖H‖²
    # stationarity consequence: λ_W W = −GHᵀ/N and λ_H H = −WᵀG/N give λ_W WᵀW = λ_H HHᵀ
    Km, dm, Nm = sp.symbols("K_m d_m N_m", positive=True, integer=True)
    Wm, Hm = sp.MatrixSymbol("W", Km, dm), sp.MatrixSymbol("H", dm, Nm)
    G = sp.MatrixSymbol("G", Km, Nm)
    lhs = Wm.T * (-G * Hm.T / Nm)  # Wᵀ(λ_W W)
    rhs = (-Wm.T * G / Nm) * Hm.T  # (λ_H H)Hᵀ
    assert sp.simplify(lhs - rhs) == sp.ZeroMatrix(dm, dm)


def check_explicit(Kv: int, d: int, nv: int = 2):
    """Full UFM objective at the ansatz equals φ(Δ) + (λ_b/2)K b₀², exactly, for K = Kv."""
    kappa = sp.Symbol("kappa", positive=True)  # κ⁴ = nλ_H/λ_W, the split c* = κ⁻²
    lw = nv * lam_h / kappa**4
    W, H = balanced_point(sp.sqrt(Delta) * etf_factor(Kv, d), nv, kappa)
    b = b0 * sp.ones(Kv, 1)
    beta_v = sp.sqrt(nv * lw * lam_h)
    for loss in ("ce", "ls", "maxsup", "fl"):
        f = ufm_objective(W, H, b, labels(Kv, nv), loss, lam_w=lw, lam_h=lam_h, lam_b=lam_b,
                          alpha=alpha, gamma=gamma)
        target = phi(loss, Delta, Kv, beta_v) + lam_b * Kv * b0**2 / 2
        assert sp.simplify(sp.expand_log(f - target)) == 0, (loss, Kv, d)


def check():
    check_symbolic_K()
    check_explicit(3, 3)
    check_explicit(3, 2)
    check_explicit(4, 3, nv=1)


if __name__ == "__main__":
    check()
    print("reduction: ok")
