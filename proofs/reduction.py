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
scalars: the logits, the loss at them, R(c) and its minimiser, the norms. (2) K = 3 (d = 2 with
radicals, d = 3) and K = 4 (d = 3, the rational tetrahedron, n = 1): the full UFM objective,
written out entry by entry, equals φ(Δ) + (λ_b/2)K b₀² for each loss, with symbolic Δ, α, γ, λ_H,
λ_b, b₀, and the row norms of W and column norms of H at that point are the norms above.
(3) The stationarity consequence: the data term depends on W, H only through WH, so
Wᵀ∇_W L = (∇_H L)Hᵀ identically; at a critical point ∇_W f = ∇_H f = 0 then gives
λ_W WᵀW = λ_H HHᵀ (and, taking traces, λ_W‖W‖² = λ_H‖H‖²). sympy differentiates the CE objective
for generic symbolic W, H, b (K = 2, d = 2, N = 2 and K = 3, d = 2, N = 3) to check the identity.

The value of the ansatz is an upper bound on the global minimum; that it is the global minimum
(for every K) is proofs.global_min.
"""

from __future__ import annotations

import sympy as sp

from proofs._common import (
    balanced_point,
    etf_factor,
    labels,
    parameter_symbols,
    require,
    same,
    ufm_objective,
)

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


def norms(Delta=Delta, K=K, n=n, lam_w=lam_w, lam_h=lam_h):
    """(‖w_k‖², ‖h_{k,i}‖²) of theory.md b.1 at margin Δ (with the optimal split)."""
    frac = (K - 1) / sp.sympify(K)
    w2 = frac * sp.sqrt(n * lam_h / lam_w) * Delta
    h2 = frac * sp.sqrt(lam_w / (n * lam_h)) * Delta
    return w2, h2


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
    require(sp.simplify(own - (K - 1) * margin / K) == 0, "own logit (K−1)Δ/K")
    require(sp.simplify(other + margin / K) == 0, "other logits −Δ/K")
    require(sp.simplify(own + (K - 1) * other) == 0, "logits have mean 0")
    # CE at these logits: logsumexp − own = log(1 + (K−1)e^{−Δ}); compare the arguments of log
    lse_minus_own = (sp.exp(own) + (K - 1) * sp.exp(other)) / sp.exp(own)
    require(sp.simplify(lse_minus_own - (1 + (K - 1) * sp.exp(-margin))) == 0, "ℓ̄_CE")
    # the norm split
    c_star, R_star, curvature = optimal_split()
    require(sp.simplify(c_star - sp.sqrt(lam_w / (n * lam_h))) == 0, "c* = sqrt(λ_W/(nλ_H))")
    require(sp.simplify(R_star - (K - 1) * beta * Delta) == 0, "R(c*) = (K−1)βΔ")
    require(sp.simplify(curvature / (K - 1)).is_positive, "R''(c*) > 0")  # K ≥ 2: strict minimum
    a_star = Delta * (K - 1) / (c_star * K)
    w2, h2 = a_star, c_star**2 * a_star
    nw2, nh2 = norms()
    require(sp.simplify(w2 - nw2) == 0, "‖w_k‖²")
    require(sp.simplify(h2 - nh2) == 0, "‖h_{k,i}‖²")
    require(sp.simplify(sp.sqrt(w2 * h2) - (K - 1) * Delta / K) == 0, "‖w‖‖h‖ = (K−1)Δ/K")
    require(sp.simplify(lam_w * K * w2 - lam_h * n * K * h2) == 0, "λ_W‖W‖² = λ_H‖H‖²")


def check_stationarity_consequence(Kv: int, d: int, nv: int):
    """Wᵀ∇_W f − (∇_H f)Hᵀ = λ_W WᵀW − λ_H HHᵀ for generic W, H, b (CE), exactly."""
    W, H, b = parameter_symbols(Kv, d, Kv * nv)
    f = ufm_objective(W, H, b, labels(Kv, nv), "ce", lam_w=lam_w, lam_h=lam_h, lam_b=lam_b)
    gW = sp.Matrix(Kv, d, lambda i, j: sp.diff(f, W[i, j]))
    gH = sp.Matrix(d, Kv * nv, lambda i, j: sp.diff(f, H[i, j]))
    gap = W.T * gW - gH * H.T - (lam_w * W.T * W - lam_h * H * H.T)
    require(all(sp.expand(x) == 0 for x in gap), "Wᵀ∇_W L = (∇_H L)Hᵀ", Kv, d, nv)


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
        require(sp.simplify(sp.expand_log(f - target)) == 0, "f(ansatz) = φ(Δ)", loss, Kv, d)
    # the norms of b.1 at this point
    w2, h2 = norms(Delta, Kv, nv, lw, lam_h)
    for k in range(Kv):
        require(same(sum(x**2 for x in W[k, :]), w2), "‖w_k‖² at the point", Kv, d, k)
    for i in range(Kv * nv):
        require(same(sum(x**2 for x in H[:, i]), h2), "‖h_i‖² at the point", Kv, d, i)


def check():
    check_symbolic_K()
    check_stationarity_consequence(2, 2, 1)
    check_stationarity_consequence(3, 2, 1)
    check_explicit(3, 3)
    check_explicit(3, 2)
    check_explicit(4, 3, nv=1)


if __name__ == "__main__":
    check()
    print("reduction: ok")
