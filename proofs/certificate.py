"""The duality certificate: conjugates, weak duality, zero gap at the ETF for every K (theory.md h).

Statement.
(i) Conjugates. For ℓ(u) = logsumexp(u) − qᵀu with a target q in the simplex (CE: q = e_y;
    LS: q = (1−α)e_y + (α/K)1, and this ℓ is exactly ℓ_LS), ℓ*(v) = Σ_j r_j log r_j with
    r = q + v in the simplex. For ℓ(u) = (c_m/2)‖u − s e_y‖², ℓ*(v) = ‖v‖²/(2c_m) + s·v_y. For
    the mean L(U) = (1/N)Σ_i ℓ(u_i, y_i), L*(Λ) = (1/N)Σ_i ℓ*(Nλ_i).
(ii) Weak duality. For every W, H, b and every Λ with ‖Λ‖₂ ≤ μ = sqrt(λ_Wλ_H),
    f(W, H, b) ≥ g(WH, b) ≥ D(Λ) := −L*(Λ) − ‖Λ1‖²/(2λ_b)   (λ_b > 0; −L*(Λ) if Λ1 = 0 or no
    bias), where g(Z, b) = L(Z + b1ᵀ) + μ‖Z‖_* + (λ_b/2)‖b‖².
(iii) Zero gap, symbolic K (balanced classes, d ≥ K−1, any bias setting). CE and LS, collapse
    regime: at the ETF minimiser G = ∇L(U*) = −(Kβ/N)·CY, GGᵀ = (β²/n)·C, so ‖G‖₂ = μ, G1 = 0,
    and D(G) = −p log p − (K−1)q log q = φ(Δ*) = f(W*, H*, b*). Zero regime (Kβ + α ≥ 1): at
    W = H = 0, G₀ = −((1−α)/N)·CY, ‖G₀‖₂ = (1−α)/(K sqrt n) ≤ μ and D(G₀) = log K = f(0).
    MSE cases 1 and 2 (b.6, general c_m): G = −(Kβ/N)·CY resp. −(Kβ/N)·Y and D(G) = f*.
    With (ii) this proves that the closed form is a global minimiser of the UFM, and its value
    the global minimum, for CE, LS and (ℓ_MS ≥ ℓ_LS, equal there) MaxSup, for every K ≥ 2.
(iv) The relaxation is exact for d ≥ K − 1 for CE, LS and MaxSup, for any labels, class counts
    and bias setting: these losses are invariant under z ↦ z + c1, so replacing W by CW (and Z by
    CZ) changes no logit difference, does not increase ‖W‖ (resp. ‖Z‖_*), and gives rank ≤ K−1.

Source: theory.md h ("Reformulation", "Dual bound", "Conjugates", "The natural dual point").

Proof. (i) The sup of vᵀu − ℓ(u) is attained where its gradient r − softmax(u) vanishes, at
u = log r (concave: uᵀ(diag p − ppᵀ)u = Σ p_k(u_k − pᵀu)² ≥ 0); sympy checks stationarity and
value for K = 3, 4 and computes L* of a K = 2, N = 2 problem by the same route, sample by sample.
(ii) Fenchel–Young: vᵀu − ℓ(u) − ℓ*(v) = −KL(r ‖ softmax u) ≤ 0 (Gibbs: log x ≤ x − 1), resp.
−(c_m/2)‖u − s e_y − v/c_m‖², checked for K = 2, 3, 4; the factorisation lemma
(proofs.factorisation) gives f ≥ g; Hölder: ⟨Λ, Z⟩ = Σ_j σ_j u_jᵀΛv_j ≥ −‖Λ‖₂‖Z‖_* for an SVD
Z = Σ σ_j u_j v_jᵀ; and b ↦ bᵀΛ1 + (λ_b/2)‖b‖² is minimised by completing the square.
(iii) Symbolic K: the per-sample gradients at the NC logits are computed from p(Δ) with
e^{−Δ} = q/p; products of matrices in span{I, J} (J = 11ᵀ, J² = KJ) give GGᵀ and its two
eigenvalues (on 1^⊥ and on 1); the dual value is compared with φ(Δ*) of proofs.ls / proofs.mse.
(iv) Shift invariance for K = 2, …, 5 (MaxSup on each argmax chart), and CW·h = Wh − (1ᵀWh/K)1.
"""

from __future__ import annotations

import sympy as sp

from proofs import ls, mse
from proofs._common import centering, per_sample_loss, require
from proofs.maxsup import argmax_chart

alpha, s, c_m = sp.symbols("alpha s c_m", positive=True)
p, q, beta, Delta = sp.symbols("p q beta Delta", positive=True)
K, n = sp.symbols("K n", positive=True, integer=True)


def lse(u):
    return sp.log(sum(sp.exp(uk) for uk in u))


def softmax_conjugate(r):
    """ℓ*(v) = Σ r_j log r_j, r = q + v (in the simplex)."""
    return sum(rj * sp.log(rj) for rj in r)


def mse_conjugate(v, y, s=s, c_m=1):
    """ℓ*(v) = ‖v‖²/(2c_m) + s·v_y for ℓ(u) = (c_m/2)‖u − s e_y‖²."""
    return sum(vj**2 for vj in v) / (2 * c_m) + s * v[y]


# ------------------------------------------------------------------ span{I, J}, symbolic K
def mul(x, y):
    """(aI + bJ)(cI + dJ) = acI + (ad + bc + Kbd)J, for x = (a, b), y = (c, d)."""
    (a, b), (c, d) = x, y
    return (a * c, a * d + b * c + K * b * d)


def eigenvalues(x):
    """(on 1^⊥, on 1) for aI + bJ."""
    a, b = x
    return a, a + K * b


C_SYM = (sp.Integer(1), -1 / K)  # C = I − J/K


# ------------------------------------------------------------------------------- (i), (ii)
def check_conjugates(Kv):
    u = sp.symbols(f"u0:{Kv}", real=True)
    r = list(sp.symbols(f"r0:{Kv - 1}", positive=True))
    r.append(1 - sum(r))  # a point of the simplex
    # sup_u rᵀu − lse(u): gradient r − softmax(u) vanishes at u = log r, value Σ r log r
    obj = sum(rj * uj for rj, uj in zip(r, u, strict=True)) - lse(u)
    at = dict(zip(u, [sp.log(rj) for rj in r], strict=True))
    require(all(sp.simplify(sp.diff(obj, uk).xreplace(at)) == 0 for uk in u), "sup at u = log r")
    require(sp.simplify(sp.expand_log(obj.xreplace(at) - softmax_conjugate(r), force=True)) == 0,
            "softmax conjugate value", Kv)
    # concavity: uᵀ(diag p − ppᵀ)u = Σ p_k (u_k − pᵀu)² ≥ 0, p = softmax
    mean = sum(pj * uj for pj, uj in zip(r, u, strict=True))
    quad = sum(pj * uj**2 for pj, uj in zip(r, u, strict=True)) - mean**2
    var = sum(pj * (uj - mean) ** 2 for pj, uj in zip(r, u, strict=True))
    require(sp.expand(quad - var) == 0, "variance identity", Kv)
    # LS is lse(u) − qᵀu with the smoothed target
    y = 0
    qt = [(1 - alpha) * int(k == y) + alpha / Kv for k in range(Kv)]
    lin = sum(qk * uk for qk, uk in zip(qt, u, strict=True))
    ls_gap = per_sample_loss("ls", list(u), y, alpha=alpha) - (lse(u) - lin)
    require(sp.simplify(sp.expand_log(ls_gap, force=True)) == 0, "ℓ_LS = lse − qᵀu", Kv)
    # MSE with c_m: the sup of vᵀu − (c_m/2)‖u − s e_y‖² is at u = s e_y + v/c_m
    v = sp.symbols(f"v0:{Kv}", real=True)
    obj = sum(vk * uk for vk, uk in zip(v, u, strict=True))
    obj -= c_m * sum((uk - s * int(k == y)) ** 2 for k, uk in enumerate(u)) / 2
    at = {uk: vk / c_m + s * int(k == y) for k, (uk, vk) in enumerate(zip(u, v, strict=True))}
    require(all(sp.expand(sp.diff(obj, uk).xreplace(at)) == 0 for uk in u), "MSE sup point")
    require(sp.simplify(obj.xreplace(at) - mse_conjugate(v, y, s, c_m)) == 0, "MSE conjugate")


def check_fenchel_young(Kv):
    """vᵀu − ℓ(u) − ℓ*(v) = −KL(r ‖ softmax u) ≤ 0, and the MSE analogue (a negative square)."""
    u = sp.symbols(f"u0:{Kv}", real=True)
    r = list(sp.symbols(f"r0:{Kv - 1}", positive=True))
    r.append(1 - sum(r))
    y = 0
    qt = [(1 - alpha) * int(k == y) + alpha / Kv for k in range(Kv)]
    v = [rk - qk for rk, qk in zip(r, qt, strict=True)]
    ell = lse(u) - sum(qk * uk for qk, uk in zip(qt, u, strict=True))
    lhs = sum(vk * uk for vk, uk in zip(v, u, strict=True)) - ell - softmax_conjugate(r)
    sm = [sp.exp(uk) / sum(sp.exp(uj) for uj in u) for uk in u]
    kl = sum(rk * sp.log(rk / sk) for rk, sk in zip(r, sm, strict=True))
    require(sp.simplify(sp.expand_log(lhs + kl, force=True)) == 0, "F–Y gap = −KL", Kv)
    x = sp.Symbol("x", positive=True)  # KL ≥ 0 from log x ≤ x − 1: x − 1 − log x ≥ 0
    h = x - 1 - sp.log(x)
    require(h.subs(x, 1) == 0 and sp.diff(h, x).subs(x, 1) == 0 and sp.diff(h, x, 2) == 1 / x**2,
            "x − 1 − log x ≥ 0")
    w = sp.symbols(f"w0:{Kv}", real=True)
    ell = c_m * sum((uk - s * int(k == y)) ** 2 for k, uk in enumerate(u)) / 2
    lhs = sum(wk * uk for wk, uk in zip(w, u, strict=True)) - ell - mse_conjugate(w, y, s, c_m)
    square = c_m * sum((uk - s * int(k == y) - wk / c_m) ** 2
                       for k, (uk, wk) in enumerate(zip(u, w, strict=True))) / 2
    require(sp.simplify(lhs + square) == 0, "MSE F–Y gap = −square", Kv)


def check_separable_conjugate():
    """L*(Λ) = (1/N)Σℓ*(Nλ_i), computed for K = 2, N = 2 (CE with labels 0, 1; MSE)."""
    Kv, ys = 2, [0, 1]
    N = len(ys)
    lam = sp.Matrix(Kv, N, lambda i, j: sp.Symbol(f"L_{i}_{j}", real=True))
    U = sp.Matrix(Kv, N, lambda i, j: sp.Symbol(f"U_{i}_{j}", real=True))
    for loss in ("ce", "mse"):
        L = sum(per_sample_loss(loss, list(U[:, i]), y, s=s) for i, y in enumerate(ys)) / N
        obj = sum(a * b for a, b in zip(lam, U, strict=True)) - L
        if loss == "mse":  # u_i = s e_{y_i} + Nλ_i
            at = {U[k, i]: s * int(k == y) + N * lam[k, i] for i, y in enumerate(ys)
                  for k in range(Kv)}
            conj = sum(mse_conjugate(list(N * lam[:, i]), y) for i, y in enumerate(ys)) / N
        else:  # softmax(u_i) = r_i = e_{y_i} + Nλ_i, r_i = (1, w_i)/(1 + w_i): u_i = log r_i
            w = sp.symbols(f"w0:{N}", positive=True)
            r = sp.Matrix([[(1 if k == 0 else w[i]) / (1 + w[i]) for i in range(N)]
                           for k in range(Kv)])
            lam = sp.Matrix([[(r[k, i] - int(k == ys[i])) / N for i in range(N)]
                             for k in range(Kv)])
            obj = sum(a * b for a, b in zip(lam, U, strict=True)) - L
            at = {U[k, i]: sp.log(r[k, i]) for i in range(N) for k in range(Kv)}
            conj = sum(softmax_conjugate(list(r[:, i])) for i in range(N)) / N
        grads = [sp.simplify(sp.diff(obj, x).xreplace(at)) for x in U]
        require(all(g == 0 for g in grads), "stationary point of ⟨Λ, U⟩ − L(U)", loss)
        gap = sp.expand_log(obj.xreplace(at) - conj, force=True)
        require(sp.simplify(gap) == 0, "sup = (1/N)Σℓ*(Nλ_i)", loss)


def check_bias_square():
    lam_b = sp.Symbol("lambda_b", positive=True)
    b, c = sp.symbols("b0:3", real=True), sp.symbols("c0:3", real=True)  # c = Λ1
    lhs = sum(bk * ck for bk, ck in zip(b, c, strict=True)) + lam_b / 2 * sum(bk**2 for bk in b)
    square = lam_b / 2 * sum((bk + ck / lam_b) ** 2 for bk, ck in zip(b, c, strict=True))
    require(sp.expand(lhs - (square - sum(ck**2 for ck in c) / (2 * lam_b))) == 0, "square")


# ------------------------------------------------------------------------ (iii) symbolic K
def check_spectral_norm(coef, frame):
    """For G = coef·F Y (F = C or I): GGᵀ = coef²·n·F² = (β²/n)·F, so ‖G‖₂ = β/sqrt(n) = μ.

    Returns the eigenvalues of GGᵀ (on 1^⊥, on 1)."""
    F = C_SYM if frame == "C" else (sp.Integer(1), sp.Integer(0))
    GG = mul(mul(F, (n, sp.Integer(0))), F)  # F (YYᵀ) Fᵀ with YYᵀ = nI, F symmetric
    return [sp.simplify(coef**2 * e) for e in eigenvalues(GG)]


def check_zero_gap():
    N = n * K
    qs = (1 - p) / (K - 1)
    # softmax at the NC logits Δ(e_y − 1/K) with e^{−Δ} = q/p: (p on y, q elsewhere)
    E = sp.Symbol("E", positive=True)  # e^{−Δ}
    s_y, s_o = 1 / (1 + (K - 1) * E), E / (1 + (K - 1) * E)
    require(sp.simplify(s_y.subs(E, qs / p) - p) == 0, "softmax_y = p")
    require(sp.simplify(s_o.subs(E, qs / p) - qs) == 0, "softmax_other = q")
    c_y, c_o = 1 - 1 / K, -1 / K  # entries of c_y = e_y − 1/K·1
    require(sp.simplify(c_y**2 + (K - 1) * c_o**2 - (K - 1) / K) == 0, "‖c_y‖² = (K−1)/K")
    # CE/LS collapse: N g_i = softmax − target = −Kβ₀ c_y with β₀ = q − α/K (= β by b.3)
    b0 = qs - alpha / K
    require(sp.simplify(p - (1 - alpha + alpha / K) + K * b0 * c_y) == 0, "N g_i on y")
    require(sp.simplify(qs - alpha / K + K * b0 * c_o) == 0, "N g_i off y")
    on_perp, on_one = check_spectral_norm(-K * b0 / N, "C")
    require(sp.simplify(on_perp - b0**2 / n) == 0 and on_one == 0, "GGᵀ = (β²/n)C")
    require(sp.simplify(C_SYM[0] + K * C_SYM[1]) == 0, "C1 = 0, so G1 = −(Kβ/N)·n·C1 = 0")
    # r_i = target + N g_i = softmax(z_i*) ∈ simplex, D(G) = −Σ_k r_k log r_k; compare with
    # f* = φ_LS(Δ*) = ls.objective(K, β, α) at β = q − α/K, eliminating K = 1 + (1 − p)/q
    D_value = -(p * sp.log(p) + (K - 1) * q * sp.log(q))
    Kq = 1 + (1 - p) / q
    f_star = ls.objective(Kq, q - alpha / Kq, alpha)
    gap = sp.expand_log(sp.simplify(f_star - D_value.subs(K, Kq)), force=True)
    require(sp.simplify(gap) == 0, "D(G) = f* (CE, LS)")
    # CE/LS zero regime: at z = 0 softmax = 1/K, N g_i = 1/K − target = −(1−α)c_y
    require(sp.simplify(1 / K - (1 - alpha + alpha / K) + (1 - alpha) * c_y) == 0, "G₀ on y")
    require(sp.simplify(1 / K - alpha / K + (1 - alpha) * c_o) == 0, "G₀ off y")
    on_perp, on_one = check_spectral_norm(-(1 - alpha) / N, "C")
    bz = sp.Symbol("beta", positive=True)
    require(sp.simplify(on_perp - ((1 - alpha) / (K * sp.sqrt(n))) ** 2) == 0 and on_one == 0,
            "‖G₀‖₂ = (1−α)/(K sqrt n)")
    # feasibility ‖G₀‖₂ ≤ μ = β/sqrt n  ⇔  Kβ + α ≥ 1
    require(sp.simplify((bz / sp.sqrt(n)) - (1 - alpha) / (K * sp.sqrt(n))
                        - (K * bz + alpha - 1) / (K * sp.sqrt(n))) == 0, "μ − ‖G₀‖₂ ∝ Kβ + α − 1")
    D0 = -K * (1 / K) * sp.log(1 / K)
    require(sp.simplify(sp.expand_log(D0 - sp.log(K), force=True)) == 0, "D(G₀) = log K = f(0)")
    # MSE (general c_m): case 1, Z = Δ*CY, b = s/K: N g_i = c_m(Δ* c_y + (s/K)1 − s e_y)
    #   = c_m(Δ* − s)c_y = −Kβ c_y;  case 2, Z = Δ*Y, no bias: N g_i = c_m(Δ* − s)e_y = −Kβ e_y
    D_star = mse.margin(K, beta, s, c_m)
    require(sp.simplify(c_m * (D_star - s) + K * beta) == 0, "c_m(Δ* − s) = −Kβ")
    on_perp, on_one = check_spectral_norm(-K * beta / N, "C")
    require(sp.simplify(on_perp - beta**2 / n) == 0 and on_one == 0, "MSE 1: GGᵀ = (β²/n)C")
    on_perp, on_one = check_spectral_norm(-K * beta / N, "I")
    require(sp.simplify(on_perp - beta**2 / n) == 0 and sp.simplify(on_one - beta**2 / n) == 0,
            "MSE 2: GGᵀ = (β²/n)I")
    sq_c, y_c = (K - 1) / K, c_y  # ‖c_y‖², (c_y)_y
    conj1 = (K * beta) ** 2 * sq_c / (2 * c_m) + s * (-K * beta) * y_c  # ℓ*(−Kβ c_y)
    require(sp.simplify(-conj1 - mse.objective(1, K, beta, s, c_m)) == 0, "MSE 1: D(G) = f*")
    conj2 = (K * beta) ** 2 / (2 * c_m) - s * K * beta  # ℓ*(−Kβ e_y)
    require(sp.simplify(-conj2 - mse.objective(2, K, beta, s, c_m)) == 0, "MSE 2: D(G) = f*")


# -------------------------------------------------------------------------------------- (iv)
def check_relaxation_exact():
    c = sp.Symbol("c", real=True)
    for Kv in range(2, 6):
        z = list(sp.symbols(f"z0:{Kv}", real=True))
        for loss in ("ce", "ls"):
            shifted = per_sample_loss(loss, [zk + c for zk in z], 0, alpha=alpha)
            require(sp.simplify(shifted - per_sample_loss(loss, z, 0, alpha=alpha)) == 0,
                    "shift invariance", loss, Kv)
        for j in range(Kv):  # MaxSup, on the chart where j is the argmax
            zc, _ = argmax_chart(Kv, j)
            shifted = per_sample_loss("maxsup", [zk + c for zk in zc], 0, alpha=alpha)
            require(sp.simplify(shifted - per_sample_loss("maxsup", zc, 0, alpha=alpha)) == 0,
                    "MaxSup shift invariance", Kv, j)
    # (CW)h = Wh − (1ᵀWh/K)·1: centring the classifier shifts each sample's logits by a constant
    Kv, d = 3, 2
    W = sp.Matrix(Kv, d, lambda i, j: sp.Symbol(f"W_{i}_{j}", real=True))
    h = sp.Matrix(d, 1, lambda i, _: sp.Symbol(f"h_{i}", real=True))
    one = sp.ones(Kv, 1)
    shift = (one.T * W * h)[0] / Kv
    require(sp.expand(centering(Kv) * W * h - (W * h - shift * one)) == sp.zeros(Kv, 1), "CWh")
    require(one.T * centering(Kv) == sp.zeros(1, Kv), "1ᵀC = 0: rank CW ≤ K − 1")


def check():
    for Kv in (3, 4):
        check_conjugates(Kv)
    for Kv in (2, 3, 4):
        check_fenchel_young(Kv)
    check_separable_conjugate()
    check_bias_square()
    check_zero_gap()
    check_relaxation_exact()


if __name__ == "__main__":
    check()
    print("certificate: ok")
