"""The global minimum of the UFM is min_{Δ≥0} φ(Δ), for every K (theory.md b.1, b.2–b.5, b.7).

Statement. Balanced classes (n per class), K ≥ 2, any d, with or without a bias, any λ_b ≥ 0.
Let a := (K−1)β for free features and a := (K−1)β₊, β₊ = β·sqrt(K/(K−1)), under H ≥ 0 (b.7),
φ(Δ) := ℓ̄(Δ) + aΔ and m := min_{Δ≥0} φ(Δ). Then f(W, H, b) ≥ m for every (W, H, b), for
  * CE and LS: all β > 0, α ∈ [0, 1); MaxSup: as LS (ℓ_MS ≥ ℓ_LS, equal at the minimisers);
  * FL, if either (i) a ≤ min(1, g_γ(1/K)) (the collapse regime with a ≤ 1), or (ii) ℓ̄_FL is
    convex on Δ ≥ 0 (proofs.focal's criterion) and g_γ(1/K) ≤ min(1, a) (the zero regime).
The ansatz attains φ(Δ) for every Δ ≥ 0 (proofs.reduction: d ≥ K−1; proofs.nonnegative: d ≥ K),
so m is the global minimum value of the UFM: φ(Δ*) in the collapse regime, ℓ̄(0) (W = H = 0) in
the zero regime. It is not proved here that every global minimiser has the NC structure.

Proof. For a sample with logits z and label y let t := z_y − (1/(K−1))Σ_{j≠y} z_j (its margin;
t = Δ at the NC logits).
(1) p_y ≤ p(t) := 1/(1 + (K−1)e^{−t}): with x_j = z_j − z_y and x̄ their mean (= −t),
    Σ_{j≠y} e^{x_j} ≥ e^{x̄}Σ_{j≠y}(1 + x_j − x̄) = (K−1)e^{−t}, by e^u ≥ 1 + u.
(2) ℓ(z, y) ≥ ℓ̄(t): CE = −log p_y and FL = −(1−p_y)^γ log p_y are nonincreasing in p_y, and equal
    ℓ̄(t) at p_y = p(t); LS = CE + α(z_y − mean z) = CE + α((K−1)/K)t exactly; MaxSup ≥ LS.
(3) t_i = (K/(K−1))·c_iᵀz_i with c_i = e_{y_i} − 1/K·1 (column i of CY), so the mean margin is
    t̄ = (K/((K−1)N))⟨CY, WH⟩: the bias drops out because CY1_N = nC1_K = 0.
(4) The regulariser R = (λ_W/2)‖W‖² + (λ_H/2)‖H‖² ≥ μ‖W‖‖H‖, μ = sqrt(λ_Wλ_H) (AM–GM).
    Free features: ⟨CY, WH⟩ = ⟨WᵀCY, H⟩ ≤ ‖WᵀCY‖‖H‖ and ‖WᵀCY‖² = n‖CW‖² ≤ n‖W‖² (YYᵀ = nI,
    C² = C, Pythagoras), so R ≥ (μ/sqrt n)⟨CY, WH⟩ = a t̄.
    H ≥ 0: with M = HYᵀ ≥ 0 (class sums), ⟨CY, WH⟩ = ⟨CW, CMᵀ⟩ ≤ ‖W‖‖CMᵀ‖,
    ‖CMᵀ‖² = ‖M‖² − ‖M1‖²/K ≤ ((K−1)/K)‖M‖² (‖M1‖² − ‖M‖² = Σ_{k≠l} m_kᵀm_l ≥ 0) and
    ‖M‖² ≤ n‖H‖² (per class, n Σ‖h_i‖² − ‖Σh_i‖² = ½Σ_{i,j}‖h_i − h_j‖²), so
    R ≥ (μ/sqrt n)·sqrt(K/(K−1))·⟨CY, WH⟩ = a t̄ with a = (K−1)β₊.
    Since also R ≥ 0: R ≥ a·max(t̄, 0).
(5) If ℓ̄(t) ≥ m − a′t for all real t, for some a′ ∈ [0, a], then
    f ≥ (1/N)Σ_i ℓ̄(t_i) + R ≥ m − a′t̄ + a·max(t̄, 0) ≥ m   ((λ_b/2)‖b‖² ≥ 0 is dropped).
(6) Such an affine minorant exists.
    CE, LS: ℓ̄ is convex on all of R (ℓ̄'' = p(1−p)), so it lies above its tangent at the
    minimiser of φ on [0, ∞): at Δ* > 0, ℓ̄'(Δ*) = −a (a′ = a, m = φ(Δ*)); in the zero regime
    (Kβ + α ≥ 1, resp. Kβ₊ + α ≥ 1) at 0, with a′ = −ℓ̄'(0) = (1−α)(K−1)/K ≤ a and m = ℓ̄(0).
    FL (i): for t < 0, p(t) < 1/K and φ'(t) = a − g_γ(p(t)) ≤ a − min(1, g_γ(1/K)) ≤ 0
    (proofs.focal (ii)), so ℓ̄(t) + at ≥ φ(0) ≥ m; for t ≥ 0 by definition of m (a′ = a).
    FL (ii): for t ≥ 0 convexity gives ℓ̄(t) ≥ ℓ̄(0) − g_γ(1/K)t; for t < 0,
    ℓ̄(t) − ℓ̄(0) = ∫_t^0 g_γ(p(s)) ds ≥ |t|·min(1, g_γ(1/K)) = g_γ(1/K)|t|; so a′ = g_γ(1/K) ≤ a,
    m = ℓ̄(0) = φ(0).
sympy checks every identity above with symbolic K, n, β, α, γ where they are scalar, and the
matrix identities entrywise for generic symbolic matrices (K = 3, d = 2, n = 2 or 3); the sign
facts are read off factored forms. It also checks that theory.md's FL rows of b.8 satisfy (i).
"""

from __future__ import annotations

import sympy as sp

from proofs import ce, focal, ls, reduction
from proofs._common import centering, labels, one_hot, per_sample_loss, require

K, n = sp.symbols("K n", positive=True, integer=True)
lam_w, lam_h = sp.symbols("lambda_W lambda_H", positive=True)
alpha, gamma, Delta = sp.symbols("alpha gamma Delta", positive=True)
mu = sp.sqrt(lam_w * lam_h)
beta = sp.sqrt(n * lam_w * lam_h)


def margin_of_logits(z, y):
    """t = z_y − mean_{j≠y} z_j."""
    others = [zj for j, zj in enumerate(z) if j != y]
    return z[y] - sum(others) / len(others)


def frob2(M):
    return sum(x**2 for x in M)


def inner(A, B):
    return sum(a * b for a, b in zip(A, B, strict=True))


def check_per_sample():
    """(1)–(2): p_y ≤ p(t) and ℓ ≥ ℓ̄(t)."""
    u = sp.Symbol("u", real=True)
    tangent = sp.exp(u) - 1 - u  # ≥ 0: zero with zero slope at 0, second derivative e^u > 0
    require(tangent.subs(u, 0) == 0 and sp.diff(tangent, u).subs(u, 0) == 0, "e^u − 1 − u at 0")
    require(sp.diff(tangent, u, 2) == sp.exp(u), "e^u − 1 − u is convex")
    for Kv in (2, 3, 4, 5):
        z = list(sp.symbols(f"z0:{Kv}", real=True))
        x = [zj - z[0] for zj in z[1:]]  # y = 0
        xbar = sum(x) / (Kv - 1)
        require(sp.expand(sum(1 + xj - xbar for xj in x) - (Kv - 1)) == 0, "Σ(1 + x_j − x̄)", Kv)
        require(sp.expand(xbar + margin_of_logits(z, 0)) == 0, "x̄ = −t", Kv)
    # symbolic K: with S = Σ_{j≠y} z_j, t = z_y − S/(K−1) = (K/(K−1)) c_yᵀz and
    # z_y − mean z = ((K−1)/K)·t (the LS term)
    zy, S = sp.symbols("z_y S", real=True)
    t = zy - S / (K - 1)
    require(sp.simplify(K / (K - 1) * (zy - (zy + S) / K) - t) == 0, "t = (K/(K−1)) cᵀz")
    require(sp.simplify((zy - (zy + S) / K) - (K - 1) * t / K) == 0, "z_y − mean z = (K−1)t/K")
    # CE and FL are nonincreasing functions of p_y ∈ (0, 1): write p = 1/(1 + w), w > 0
    p = sp.Symbol("p", positive=True)
    w = sp.Symbol("w", positive=True)
    require(sp.diff(-sp.log(p), p) == -1 / p, "CE: d(−log p)/dp = −1/p < 0")
    h_fl = -((1 - p) ** gamma) * sp.log(p)
    dh = gamma * (1 - p) ** (gamma - 1) * sp.log(p) - (1 - p) ** gamma / p
    require(sp.simplify(sp.diff(h_fl, p) - dh) == 0, "FL: dh/dp")
    at_w = dh.subs(p, 1 / (1 + w))
    terms = sp.Add.make_args(sp.expand(sp.expand_log(at_w, force=True)))
    require(all(term.is_nonpositive for term in terms), "FL: dh/dp ≤ 0 termwise")
    # ℓ̄ is h at p(t): −log p(t) = log(1 + (K−1)e^{−t})
    tt = sp.Symbol("t", real=True)
    gap = sp.expand_log(-sp.log(ce.p_of(tt, K)) - reduction.ce_bar(tt, K), force=True)
    require(sp.simplify(gap) == 0, "ℓ̄_CE = h(p(t))")
    # LS: ℓ̄_CE(t) + α(K−1)t/K is ℓ̄_LS(t)
    lbar_ls = reduction.loss_bar("ls", tt, K, alpha=alpha)
    require(sp.simplify(lbar_ls - reduction.ce_bar(tt, K) - alpha * (K - 1) * tt / K) == 0, "ℓ̄_LS")
    # the LS identity with the margin, explicitly for K = 3, 4
    for Kv in (3, 4):
        z = list(sp.symbols(f"z0:{Kv}", real=True))
        gap = per_sample_loss("ls", z, 0, alpha=alpha) - per_sample_loss("ce", z, 0)
        require(sp.simplify(gap - alpha * (Kv - 1) * margin_of_logits(z, 0) / Kv) == 0, "LS", Kv)


def check_averages():
    """(3): Σ_i t_i = (K/(K−1))⟨CY, Z⟩ whatever the bias (balanced classes)."""
    for Kv, nv in ((3, 2), (4, 1)):
        N = Kv * nv
        Z = sp.Matrix(Kv, N, lambda i, j: sp.Symbol(f"Z_{i}_{j}", real=True))
        b = sp.Matrix(Kv, 1, lambda i, _: sp.Symbol(f"b_{i}", real=True))
        U = Z + b * sp.ones(1, N)
        total = sum(margin_of_logits(list(U[:, i]), y) for i, y in enumerate(labels(Kv, nv)))
        CY = centering(Kv) * one_hot(Kv, nv)
        require(sp.expand(total - sp.Rational(Kv, Kv - 1) * inner(CY, Z)) == 0, "Σt_i", Kv, nv)


def check_regulariser():
    """(4): R ≥ a·t̄ for free and for nonnegative features."""
    Kv, d, nv = 3, 2, 2
    C, Y = centering(Kv), one_hot(Kv, nv)
    W = sp.Matrix(Kv, d, lambda i, j: sp.Symbol(f"W_{i}_{j}", real=True))
    H = sp.Matrix(d, Kv * nv, lambda i, j: sp.Symbol(f"H_{i}_{j}", nonnegative=True))
    CY = C * Y
    require((Y * Y.T - nv * sp.eye(Kv)).is_zero_matrix and (C * C - C).is_zero_matrix, "YYᵀ, C²")
    require(sp.expand(inner(CY, W * H) - inner(W.T * CY, H)) == 0, "⟨CY, WH⟩ = ⟨WᵀCY, H⟩")
    require(sp.expand(frob2(W.T * CY) - nv * frob2(C * W)) == 0, "‖WᵀCY‖² = n‖CW‖²")
    require(sp.expand(frob2(W) - frob2(C * W) - frob2((sp.eye(Kv) - C) * W)) == 0, "Pythagoras")
    # the constant: (μ/sqrt n)·⟨CY, WH⟩ with ⟨CY, WH⟩ = ((K−1)N/K)·t̄ is (K−1)β·t̄
    tbar = sp.Symbol("tbar", real=True)
    N = n * K
    free = mu / sp.sqrt(n) * (K - 1) * N / K * tbar
    require(sp.simplify(free - (K - 1) * beta * tbar) == 0, "free: R ≥ (K−1)βt̄")
    # H ≥ 0
    M = H * Y.T  # d×K, column k = Σ_{i in class k} h_i
    require(sp.expand(inner(CY, W * H) - inner(C * W, C * M.T)) == 0, "⟨CY, WH⟩ = ⟨CW, CMᵀ⟩")
    ones = sp.ones(Kv, 1)
    require(sp.expand(frob2(C * M.T) - frob2(M) + frob2(M * ones) / Kv) == 0, "‖CMᵀ‖²")
    cross = sp.expand(frob2(M * ones) - frob2(M))
    require(cross.is_nonnegative, "‖M1‖² ≥ ‖M‖² for M ≥ 0")
    h = [sp.Matrix(2, 1, lambda i, _, j=j: sp.Symbol(f"h{j}_{i}", real=True)) for j in range(3)]
    spread = 3 * sum(frob2(x) for x in h) - frob2(h[0] + h[1] + h[2])
    pairs = sum(frob2(h[i] - h[j]) for i in range(3) for j in range(3)) / 2
    require(sp.expand(spread - pairs) == 0, "n Σ‖h_i‖² − ‖Σ h_i‖² = ½ Σ‖h_i − h_j‖²")
    plus = mu / sp.sqrt(n) * sp.sqrt(K / (K - 1)) * (K - 1) * N / K * tbar
    require(sp.simplify(plus - (K - 1) * beta * sp.sqrt(K / (K - 1)) * tbar) == 0,
            "H ≥ 0: R ≥ (K−1)β₊t̄")


def check_conclusion():
    """(5)–(6): the affine minorants and the final inequality."""
    m, a, a1, tau = sp.symbols("m a a1 tau", nonnegative=True)  # a1 = a′ ≤ a; tau = |t̄|
    # t̄ = tau ≥ 0: −a′τ + aτ = (a − a′)τ;  t̄ = −tau < 0: a′τ + 0 ≥ 0
    a_minus = sp.Symbol("a_minus_a1", nonnegative=True)  # a − a′
    pos = (m - a1 * tau + a * tau - m).subs(a, a1 + a_minus)
    neg = m + a1 * tau + 0 - m
    require(sp.expand(pos).is_nonnegative and neg.is_nonnegative, "m − a′t̄ + a·max(t̄, 0) ≥ m")
    # CE/LS (free features; with β₊ the same algebra): tangent of the convex ℓ̄_LS
    b = sp.Symbol("beta", positive=True)
    tt = sp.Symbol("t", real=True)
    lbar = reduction.loss_bar("ls", tt, K, alpha=alpha)
    require(sp.simplify(sp.diff(lbar, tt, 2) - ce.p_of(tt, K) * (1 - ce.p_of(tt, K))) == 0,
            "ℓ̄_LS'' = p(1 − p)")
    slope_star = sp.diff(lbar, tt).subs(tt, ls.margin(K, b, alpha))
    require(sp.simplify(slope_star + (K - 1) * b) == 0, "collapse: ℓ̄'(Δ*) = −a, a′ = a")
    a_zero = -sp.diff(lbar, tt).subs(tt, 0)
    require(sp.simplify(a_zero - (1 - alpha) * (K - 1) / K) == 0, "zero regime: a′ = −ℓ̄'(0)")
    require(sp.simplify((K - 1) * b - a_zero - (K - 1) * (K * b + alpha - 1) / K) == 0,
            "a − a′ = (K−1)(Kβ + α − 1)/K ≥ 0 in the zero regime")
    # FL (i): φ'(t) = a − g_γ(p(t)) and p(t) < 1/K for t < 0 (p(0) = 1/K, p increasing)
    phi_fl = focal.phi(tt, K, b, gamma)
    require(sp.simplify(sp.diff(phi_fl, tt) - ((K - 1) * b - focal.g(ce.p_of(tt, K)))) == 0,
            "FL: φ'(t) = a − g_γ(p(t))")
    require(sp.simplify(ce.p_of(0, K) - 1 / K) == 0, "p(0) = 1/K")
    # FL (ii): ℓ̄_FL'(0) = −g_γ(1/K)
    lbar_fl = focal.phi(tt, K, 0, gamma)
    require(sp.simplify(sp.diff(lbar_fl, tt).subs(tt, 0) + focal.g(1 / K)) == 0, "ℓ̄_FL'(0)")
    # theory.md's FL rows (K = 4, n = 3, λ = 5e-3) satisfy (i): a = 3β ≤ min(1, g_γ(1/4))
    b8 = sp.sqrt(3 * sp.Rational(5, 1000) ** 2)
    for gv in (1, 3):
        require(focal.certain_sign(sp.Min(1, focal.g(sp.Rational(1, 4), gv)) - 3 * b8) > 0,
                "b.8 FL rows satisfy (i)", gv)


def check():
    check_per_sample()
    check_averages()
    check_regulariser()
    check_conclusion()


if __name__ == "__main__":
    check()
    print("global_min: ok")
