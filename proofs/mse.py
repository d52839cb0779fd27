"""MSE: singular-value thresholding in each bias case (theory.md b.6).

Statement. For ℓ = (c_m/2)‖z − s e_y‖², d ≥ rank Z* (K, or K − 1 where noted below) and
μ := sqrt(λ_Wλ_H) = β/sqrt(n), the minimum of the UFM equals that of the convex problem (the
factorisation lemma: min over W H = Z of (λ_W/2)‖W‖² + (λ_H/2)‖H‖² is μ‖Z‖_*)

    F(Z, b) = (c_m/2N)‖Z + b1ᵀ − sY‖² + μ‖Z‖_* + (λ_b/2)‖b‖²,

whose global minimisers (with Δ* := s − Kβ/c_m > 0) are
  case 1 (bias, λ_b = 0): Z = Δ*·CY, b = (s/K)1;
  case 2 (no bias):       Z = Δ*·Y (orthogonal frame);
  case 3 (bias, λ_b > 0): Z = Δ*·CY + μ*·1_K 1_Nᵀ, b = b*·1 with
      μ* = max(0, s/K − β/c_m − β/λ_b),   b* = c_m(s/K − μ*)/(c_m + λ_b),
      so the mean part is on iff Kβ < c_m s λ_b/(c_m + λ_b).
Values: f*₁ = c_m(K−1)(Δ*−s)²/(2K) + (K−1)βΔ*, f*₂ = c_m(Δ*−s)²/2 + KβΔ*,
f*₃ = f*₁ + K[c_m(μ*+b*−s/K)²/2 + βμ* + λ_b b*²/2] = f*₁ + K[c_mλ_b(s/K − μ*)²/(2(c_m+λ_b)) + βμ*].
Norms: W Wᵀ = sqrt(nλ_H/λ_W)·M for the class-logit matrix M (Z = M Y), e.g. case 2:
‖w_k‖² = sqrt(nλ_H/λ_W)Δ*. Z has rank K − 1 in case 1 and in case 3 with μ* = 0, so there
d ≥ K − 1 suffices (the factorisation lemma is attained with inner dimension rank Z); cases 2 and
3 with μ* > 0 have rank K and need d ≥ K. Without a bias W is an orthogonal frame, so Zhu et al.'s
NC2_W = ‖WWᵀ/‖WWᵀ‖_F − C/sqrt(K−1)‖_F is sqrt(2 − 2 sqrt((K−1)/K)) ≠ 0 at the minimiser.

Source: theory.md b.6 (Tirer & Bruna 2022 for case 2; Zhou et al. 2022 for case 1), d (NC2).

Proof. Optimality of a convex function: 0 ∈ ∂F. Write Z = Σ_j σ_j P_j with σ_j > 0 and partial
isometries P_j (P_j P_jᵀ P_j = P_j) whose row and column spaces are mutually orthogonal (a
grouped SVD); then ‖Z‖_* = Σ σ_j rank P_j and, with P = Σ P_j,
∂‖Z‖_* = {P + W_⊥ : PᵀW_⊥ = 0, W_⊥Pᵀ = 0, ‖W_⊥‖₂ ≤ 1}. The check builds σ_j, P_j and W_⊥ exactly
for K = 3, 4, n = 1, 2, with symbolic s, β, c_m, λ_b, and verifies −∇_Z(smooth part) = μ(P + W_⊥),
∇_b = 0 and the value F(Z, b). (Case 3 with μ* > 0 and with μ* = 0 are both checked.) F is
convex, so these are global minimisers of F; with the factorisation lemma (proofs.factorisation:
the UFM is ≥ F, with equality at a balanced factorisation of inner dimension rank Z ≤ d) they are
global minimisers of the UFM: proved for K = 3, 4 and n = 1, 2 with symbolic s, β, c_m, λ_b (not
for symbolic K). The factorisation W = κR, H = κ⁻¹RᵀY (RRᵀ = M, κ⁴ = nλ_H/λ_W) is built for
d = K − 1 (cases 1, 3 with μ* = 0) and d = K, and its row and column norms are the norms above;
proofs.stationarity checks that it is a critical point of the full UFM. NC2_W: WWᵀ ∝ I with
symbolic K (‖I/sqrt K‖ = ‖C/sqrt(K−1)‖ = 1, ⟨I, C⟩ = K − 1).

Finding: theory.md b.6 case 3 writes μ* = max(0, s/K − (β/c_m)(1+λ_b)/λ_b) and
b* = (s/K − μ*)/(1+λ_b), "derived for c_m = 1". They are right for c_m = 1 only; for general c_m
the β/λ_b term carries no 1/c_m and b* = c_m(s/K − μ*)/(c_m + λ_b) (checked below). The b.6
numerical example also omits s; it is s = 1.
"""

from __future__ import annotations

import sympy as sp

from proofs._common import (
    balanced_point,
    centering,
    etf_factor,
    matches_printed,
    one_hot,
    require,
    vanishes,
)

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


def norms(case, K=K, n=None, lam_w=None, lam_h=None, beta=beta, s=s, c_m=c_m, lam_b=lam_b,
          mu=None):
    """(‖w_k‖², ‖h_{k,i}‖²) = (κ², κ⁻²)·M_kk, κ² = sqrt(nλ_H/λ_W), from W = κR, h_k = κ⁻¹Rᵀe_k.

    M_kk = Δ*(K−1)/K (case 1), Δ* (case 2), Δ*(K−1)/K + μ* (case 3, μ* = max(0, ·) unless given).
    """
    D = margin(K, beta, s, c_m)
    mu = sp.Max(0, mean_part(K, beta, s, c_m, lam_b)) if mu is None else mu
    diag = {1: D * (K - 1) / K, 2: D, 3: D * (K - 1) / K + mu}[case]
    k2 = sp.sqrt(n * lam_h / lam_w)
    return k2 * diag, diag / k2


def factor_point(case, Kv, d, nv, kappa, mean_on=True):
    """(W, H, b) = (κR, κ⁻¹RᵀY, b*) with RRᵀ = M, the class-logit matrix of the case (b = None
    without a bias). d ≥ K − 1 for case 1 and case 3 with μ* = 0, d ≥ K otherwise."""
    D = margin(Kv)
    if case == 2 or (case == 3 and mean_on):
        if d < Kv:
            raise ValueError(f"case {case} has rank K: needs d >= K = {Kv}")
        R = sp.zeros(Kv, d)
        if case == 2:
            R[:, :Kv] = sp.sqrt(D) * sp.eye(Kv)
        else:  # (sqrt Δ·C + sqrt(μ/K)·J)² = ΔC + μJ (CJ = 0, J² = KJ)
            R[:, :Kv] = sp.sqrt(D) * centering(Kv) + sp.sqrt(mean_part(Kv) / Kv) * sp.ones(Kv, Kv)
    else:
        R = sp.sqrt(D) * etf_factor(Kv, d)
    W, H = balanced_point(R, nv, kappa)
    b = {1: s / Kv, 2: None, 3: bias_value(mean_part(Kv) if mean_on else 0, Kv)}[case]
    return W, H, None if b is None else b * sp.ones(Kv, 1)


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


def rank_of(pieces):
    """rank Z = Σ_j rank P_j = Σ_j tr(P_jᵀP_j) for the orthogonal partial isometries P_j."""
    return sum((Pj.T * Pj).trace() for _, Pj in pieces)


def is_zero(M) -> bool:
    return all(vanishes(x) for x in M)


def check_case(case, Kv, nv, mean_on=True):
    b, pieces, W_perp = solution(case, Kv, nv, mean_on)
    Y, N = one_hot(Kv, nv), Kv * nv
    mu_n = beta / sp.sqrt(nv)
    Z = sum((sigma * Pj for sigma, Pj in pieces), sp.zeros(Kv, N))
    P = sum((Pj for _, Pj in pieces), sp.zeros(Kv, N))
    # the pieces are partial isometries with orthogonal row and column spaces
    for j, (_, Pj) in enumerate(pieces):
        require(is_zero(Pj * Pj.T * Pj - Pj), "P_j is a partial isometry", case, Kv, nv)
        for _, Pk in pieces[j + 1 :]:
            require(is_zero(Pj.T * Pk) and is_zero(Pj * Pk.T), "orthogonal pieces", case, Kv, nv)
    nuclear = sum(sigma * (Pj.T * Pj).trace() for sigma, Pj in pieces)  # Σ σ_j rank P_j
    # W_⊥ is orthogonal to P on both sides
    require(is_zero(P.T * W_perp) and is_zero(W_perp * P.T), "W_⊥ ⊥ P", case, Kv, nv)
    # stationarity: −∇_Z = μ(P + W_⊥) and ∇_b = 0
    R = Z + b * sp.ones(1, N) - s * Y
    require(is_zero(-c_m / N * R - mu_n * (P + W_perp)), "−∇_Z = μ(P + W_⊥)", case, Kv, nv)
    if case == 1:
        require(is_zero(R * sp.ones(N, 1)), "∇_b = 0", case, Kv, nv)
    if case == 3:
        require(is_zero(c_m / N * R * sp.ones(N, 1) + lam_b * b), "∇_b = 0", case, Kv, nv)
    # the value F(Z, b) matches the closed form
    F = c_m / (2 * N) * sum(x**2 for x in R) + mu_n * nuclear
    if case == 3:
        F += lam_b / 2 * sum(x**2 for x in b)
    require(sp.simplify(F - objective(case, Kv, mu=None if mean_on else 0)) == 0, "F(Z, b) = f*",
            case, Kv, nv)
    rank = rank_of(pieces)
    require(rank == (Kv if case == 2 or (case == 3 and mean_on) else Kv - 1), "rank Z", case, Kv)
    return W_perp


def check_norms(case, Kv, d, nv, mean_on=True):
    """mse.norms against the rows of W and columns of H of the factorisation, exactly."""
    kappa = sp.Symbol("kappa", positive=True)
    W, H, _ = factor_point(case, Kv, d, nv, kappa, mean_on)
    mu = None if case != 3 else (mean_part(Kv) if mean_on else 0)
    w2, h2 = norms(case, Kv, n=nv, lam_w=beta / kappa**2, lam_h=kappa**2 * beta / nv, mu=mu)
    require(all(vanishes(sum(x**2 for x in W[k, :]) - w2) for k in range(Kv)), "‖w_k‖²", case, Kv)
    require(all(vanishes(sum(x**2 for x in H[:, i]) - h2) for i in range(Kv * nv)), "‖h_i‖²", case)
    _, pieces, _ = solution(case, Kv, nv, mean_on)
    Z = sum((sigma * Pj for sigma, Pj in pieces), sp.zeros(Kv, Kv * nv))
    require(is_zero(W * H - Z), "WH is the convex problem's minimiser Z", case, Kv, d)


def check():
    e_abs = s * lam_b / (K * (c_m + lam_b))  # |b* − s/K| when μ* = 0
    switch = c_m * s * lam_b / (c_m + lam_b) - K * beta  # > 0 ⇔ mean part on
    for Kv, nv in ((3, 1), (3, 2), (4, 1), (4, 2)):
        for case in (1, 2, 3):
            check_case(case, Kv, nv)
        # μ* = 0: W_⊥ ∝ J has rank one, so ‖W_⊥‖₂² = ‖W_⊥‖_F² = (c_m|e|/β)²
        W_perp = check_case(3, Kv, nv, mean_on=False)
        norm2 = (W_perp * W_perp.T).trace()
        require(sp.simplify(norm2 - (c_m * e_abs.subs(K, Kv) / beta) ** 2) == 0, "‖W_⊥‖₂", Kv, nv)
    # ‖W_⊥‖₂ ≤ 1 ⇔ switch ≤ 0, and μ* > 0 ⇔ switch > 0: the two regimes are complementary
    require(sp.simplify(K * beta * (c_m * e_abs / beta - 1) - switch) == 0, "‖W_⊥‖₂ ≤ 1 ⇔ off")
    require(sp.simplify(K * lam_b * c_m / (c_m + lam_b) * mean_part() - switch) == 0, "μ* > 0 ⇔ on")
    # the simplified case-3 value (as in the top README, there with c_m = 1)
    mu = sp.Symbol("mu", nonnegative=True)
    f3 = objective(1) + K * (c_m * lam_b * (s / K - mu) ** 2 / (2 * (c_m + lam_b)) + beta * mu)
    require(sp.simplify(objective(3, mu=mu) - f3) == 0, "f*₃ simplified")
    # theory.md's case-3 formulas agree with the general ones exactly when c_m = 1
    require(sp.simplify((theory_mean_part() - mean_part()).subs(c_m, 1)) == 0, "μ* at c_m = 1")
    require(sp.simplify(theory_mean_part() - mean_part()) != 0, "μ* differs for c_m ≠ 1")
    th_b = (s / K - mean_part()) / (1 + lam_b)
    require(sp.simplify((th_b - bias_value(mean_part())).subs(c_m, 1)) == 0, "b* at c_m = 1")
    # the factorisation and its norms: d = K − 1 where Z has rank K − 1, and d = K
    for Kv, nv in ((3, 2), (4, 1)):
        check_norms(1, Kv, Kv - 1, nv)
        check_norms(3, Kv, Kv - 1, nv, mean_on=False)
        for case in (1, 2, 3):
            check_norms(case, Kv, Kv, nv)
    # NC2_W without a bias: WWᵀ ∝ I, ‖I/sqrt K − C/sqrt(K−1)‖² = 2 − 2 sqrt((K−1)/K)
    nc2_sq = 1 + 1 - 2 * (K - 1) / sp.sqrt(K * (K - 1))  # ‖I‖² = K, ‖C‖² = tr C = K − 1
    require(sp.simplify(nc2_sq - (2 - 2 * sp.sqrt((K - 1) / K))) == 0, "NC2_W, no bias")
    for Kv in (2, 3, 5):
        A = sp.eye(Kv) / sp.sqrt(Kv) - centering(Kv) / sp.sqrt(Kv - 1)
        require(sp.simplify(sum(x**2 for x in A) - nc2_sq.subs(K, Kv)) == 0, "NC2_W", Kv)
    # the b.6 example: K = 4, n = 3, λ_W = λ_H = 5e-3, c_m = 1, s = 1
    lam = sp.Rational(5, 1000)
    ex = {K: 4, beta: sp.sqrt(3 * lam * lam), c_m: 1, s: 1}
    mu = mean_part().subs(ex).subs(lam_b, sp.Rational(1, 2))
    require(matches_printed(mu, "0.22402"), "b.6 example μ*")
    require(matches_printed(bias_value(mu).subs(ex).subs(lam_b, sp.Rational(1, 2)), "0.017321"),
            "b.6 example b*")
    require(mean_part().subs(ex).subs(lam_b, sp.Rational(1, 100)) < 0, "b.6 example μ* = 0")
    require(matches_printed(bias_value(0).subs(ex).subs(lam_b, sp.Rational(1, 100)), "0.24752"),
            "b.6 example b*, λ_b = 0.01")


if __name__ == "__main__":
    check()
    print("mse: ok")
