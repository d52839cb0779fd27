"""MSE: singular-value thresholding in each bias case (theory.md b.6).

Statement. For ℓ = (c_m/2)‖z − s e_y‖², d ≥ K, μ := sqrt(λ_Wλ_H) = β/sqrt(n), the UFM equals the
convex problem (the factorisation lemma: min over W H = Z of (λ_W/2)‖W‖² + (λ_H/2)‖H‖² is μ‖Z‖_*)

    F(Z, b) = (c_m/2N)‖Z + b1ᵀ − sY‖² + μ‖Z‖_* + (λ_b/2)‖b‖²,

whose global minimisers (with Δ* := s − Kβ/c_m > 0) are
  case 1 (bias, λ_b = 0): Z = Δ*·CY, b = (s/K)1;
  case 2 (no bias):       Z = Δ*·Y (orthogonal frame);
  case 3 (bias, λ_b > 0): Z = Δ*·CY + μ*·1_K 1_Nᵀ, b = b*·1 with
      μ* = max(0, s/K − β/c_m − β/λ_b),   b* = c_m(s/K − μ*)/(c_m + λ_b),
      so the mean part is on iff Kβ < c_m s λ_b/(c_m + λ_b).
Values: f*₁ = c_m(K−1)(Δ*−s)²/(2K) + (K−1)βΔ*, f*₂ = c_m(Δ*−s)²/2 + KβΔ*,
f*₃ = f*₁ + K[c_m(μ*+b*−s/K)²/2 + βμ* + λ_b b*²/2]. Norms: W Wᵀ = sqrt(nλ_H/λ_W)·M for the
class-logit matrix M (Z = M Y), e.g. case 2: ‖w_k‖² = sqrt(nλ_H/λ_W)Δ*.

Source: theory.md b.6 (Tirer & Bruna 2022 for case 2; Zhou et al. 2022 for case 1).

Proof. Optimality of a convex function: 0 ∈ ∂F. Write Z = Σ_j σ_j P_j with σ_j > 0 and partial
isometries P_j (P_j P_jᵀ P_j = P_j) whose row and column spaces are mutually orthogonal (a
grouped SVD); then ‖Z‖_* = Σ σ_j rank P_j and, with P = Σ P_j,
∂‖Z‖_* = {P + W_⊥ : PᵀW_⊥ = 0, W_⊥Pᵀ = 0, ‖W_⊥‖₂ ≤ 1}. The check builds σ_j, P_j and W_⊥ exactly
for K = 3, 4, n = 1, 2, with symbolic s, β, c_m, λ_b, and verifies −∇_Z(smooth part) = μ(P + W_⊥),
∇_b = 0 and the value F(Z, b). (Case 3 with μ* > 0 and with μ* = 0 are both checked.)

Finding: theory.md b.6 case 3 writes μ* = max(0, s/K − (β/c_m)(1+λ_b)/λ_b) and
b* = (s/K − μ*)/(1+λ_b), "derived for c_m = 1". They are right for c_m = 1 only; for general c_m
the β/λ_b term carries no 1/c_m and b* = c_m(s/K − μ*)/(c_m + λ_b) (checked below). The b.6
numerical example also omits s; it is s = 1.
"""

from __future__ import annotations

import sympy as sp

from proofs._common import centering, matches_printed, one_hot

s, beta, c_m, lam_b = sp.symbols("s beta c_m lambda_b", positive=True)
K = sp.Symbol("K", positive=True, integer=True)


def margin(K=K, beta=beta, s=s, c_m=c_m):
    """Δ* = s − Kβ/c_m."""
    return s - K * beta / c_m


def mean_part(K=K, beta=beta, s=s, c_m=c_m, lam_b=lam_b):
    """μ* before the max(0, ·): s/K − β/c_m − β/λ_b (case 3)."""
    return s / K - beta / c_m - beta / lam_b


def bias_value(mu, K=K, s=s, c_m=c_m, lam_b=lam_b):
    """b* = c_m(s/K − μ*)/(c_m + λ_b) (case 3)."""
    return c_m * (s / K - mu) / (c_m + lam_b)


def theory_mean_part(K=K, beta=beta, s=s, c_m=c_m, lam_b=lam_b):
    """μ* as written in theory.md b.6 case 3."""
    return s / K - (beta / c_m) * (1 + lam_b) / lam_b


def objective(case, K=K, beta=beta, s=s, c_m=c_m, lam_b=lam_b, mu=None):
    """f* of case 1, 2 or 3 (case 3 with μ* = ``mu``, default the switched-on value)."""
    D = margin(K, beta, s, c_m)
    if case == 2:
        return c_m * (D - s) ** 2 / 2 + K * beta * D
    f1 = c_m * (K - 1) * (D - s) ** 2 / (2 * K) + (K - 1) * beta * D
    if case == 1:
        return f1
    mu = mean_part(K, beta, s, c_m, lam_b) if mu is None else mu
    b = bias_value(mu, K, s, c_m, lam_b)
    return f1 + K * (c_m * (mu + b - s / K) ** 2 / 2 + beta * mu + lam_b * b**2 / 2)


def norms(case, K=K, n=None, lam_w=None, lam_h=None, beta=beta, s=s, c_m=c_m, lam_b=lam_b):
    """(‖w_k‖², ‖h_{k,i}‖²) = (κ², κ⁻²)·M_kk, κ² = sqrt(nλ_H/λ_W), from W = κR, h_k = κ⁻¹Rᵀe_k.

    M_kk = Δ*(K−1)/K (case 1), Δ* (case 2), Δ*(K−1)/K + μ* (case 3 with μ* = max(0, ·)).
    """
    D = margin(K, beta, s, c_m)
    mu = sp.Max(0, mean_part(K, beta, s, c_m, lam_b))
    diag = {1: D * (K - 1) / K, 2: D, 3: D * (K - 1) / K + mu}[case]
    k2 = sp.sqrt(n * lam_h / lam_w)
    return k2 * diag, diag / k2


def solution(case, Kv, nv, mean_on=True):
    """(b, pieces, W_⊥) of one case: the bias, Z = Σ σ_j P_j as [(σ_j, P_j)] with orthogonal
    partial isometries P_j (P = Σ P_j is the polar factor, ‖Z‖_* = Σ σ_j rank P_j), and the extra
    subgradient W_⊥."""
    Y, C = one_hot(Kv, nv), centering(Kv)
    N = Kv * nv
    J = sp.ones(Kv, N)
    D = margin(Kv)
    etf = (D * sp.sqrt(nv), C * Y / sp.sqrt(nv))  # CY has singular values sqrt(n), K−1 times
    if case == 1:
        return s / Kv * sp.ones(Kv, 1), [etf], sp.zeros(Kv, N)
    if case == 2:
        return sp.zeros(Kv, 1), [(D * sp.sqrt(nv), Y / sp.sqrt(nv))], sp.zeros(Kv, N)
    if mean_on:
        mu = mean_part(Kv)
        mean = (mu * sp.sqrt(Kv * N), J / sp.sqrt(Kv * N))  # μJ = μ sqrt(KN)·(J/sqrt(KN))
        return bias_value(mu, Kv) * sp.ones(Kv, 1), [etf, mean], sp.zeros(Kv, N)
    b = bias_value(0, Kv) * sp.ones(Kv, 1)
    e = b[0] - s / Kv  # residual along 1_K 1_Nᵀ
    return b, [etf], -c_m * e / (N * beta / sp.sqrt(nv)) * J


def is_zero(M) -> bool:
    return all(sp.simplify(x) == 0 for x in M)


def check_case(case, Kv, nv, mean_on=True):
    b, pieces, W_perp = solution(case, Kv, nv, mean_on)
    Y, N = one_hot(Kv, nv), Kv * nv
    mu_n = beta / sp.sqrt(nv)
    Z = sum((sigma * Pj for sigma, Pj in pieces), sp.zeros(Kv, N))
    P = sum((Pj for _, Pj in pieces), sp.zeros(Kv, N))
    # the pieces are partial isometries with orthogonal row and column spaces
    for j, (_, Pj) in enumerate(pieces):
        assert is_zero(Pj * Pj.T * Pj - Pj)
        for _, Pk in pieces[j + 1 :]:
            assert is_zero(Pj.T * Pk) and is_zero(Pj * Pk.T)
    nuclear = sum(sigma * (Pj.T * Pj).trace() for sigma, Pj in pieces)  # Σ σ_j rank P_j
    # W_⊥ is orthogonal to P on both sides
    assert is_zero(P.T * W_perp) and is_zero(W_perp * P.T)
    # stationarity: −∇_Z = μ(P + W_⊥) and ∇_b = 0
    R = Z + b * sp.ones(1, N) - s * Y
    assert is_zero(-c_m / N * R - mu_n * (P + W_perp))
    if case == 1:
        assert is_zero(R * sp.ones(N, 1))
    if case == 3:
        assert is_zero(c_m / N * R * sp.ones(N, 1) + lam_b * b)
    # the value F(Z, b) matches the closed form
    F = c_m / (2 * N) * sum(x**2 for x in R) + mu_n * nuclear
    if case == 3:
        F += lam_b / 2 * sum(x**2 for x in b)
    assert sp.simplify(F - objective(case, Kv, mu=None if mean_on else 0)) == 0
    return W_perp


def check():
    e_abs = s * lam_b / (K * (c_m + lam_b))  # |b* − s/K| when μ* = 0
    switch = c_m * s * lam_b / (c_m + lam_b) - K * beta  # > 0 ⇔ mean part on
    for Kv, nv in ((3, 1), (3, 2), (4, 1), (4, 2)):
        for case in (1, 2, 3):
            check_case(case, Kv, nv)
        # μ* = 0: W_⊥ ∝ J has rank one, so ‖W_⊥‖₂² = ‖W_⊥‖_F² = (c_m|e|/β)²
        W_perp = check_case(3, Kv, nv, mean_on=False)
        assert sp.simplify((W_perp * W_perp.T).trace() - (c_m * e_abs.subs(K, Kv) / beta) ** 2) == 0
    # ‖W_⊥‖₂ ≤ 1 ⇔ switch ≤ 0, and μ* > 0 ⇔ switch > 0: the two regimes are complementary
    assert sp.simplify(K * beta * (c_m * e_abs / beta - 1) - switch) == 0
    assert sp.simplify(K * lam_b * c_m / (c_m + lam_b) * mean_part() - switch) == 0
    # theory.md's case-3 formulas agree with the general ones exactly when c_m = 1
    assert sp.simplify((theory_mean_part() - mean_part()).subs(c_m, 1)) == 0
    assert sp.simplify(theory_mean_part() - mean_part()) != 0
    th_b = (s / K - mean_part()) / (1 + lam_b)
    assert sp.simplify((th_b - bias_value(mean_part())).subs(c_m, 1)) == 0
    # the b.6 example: K = 4, n = 3, λ_W = λ_H = 5e-3, c_m = 1, s = 1
    lam = sp.Rational(5, 1000)
    ex = {K: 4, beta: sp.sqrt(3 * lam * lam), c_m: 1, s: 1}
    mu = mean_part().subs(ex).subs(lam_b, sp.Rational(1, 2))
    assert matches_printed(mu, "0.22402")
    assert matches_printed(bias_value(mu).subs(ex).subs(lam_b, sp.Rational(1, 2)), "0.017321")
    assert mean_part().subs(ex).subs(lam_b, sp.Rational(1, 100)) < 0
    assert matches_printed(bias_value(0).subs(ex).subs(lam_b, sp.Rational(1, 100)), "0.24752")


if __name__ == "__main__":
    check()
    print("mse: ok")
