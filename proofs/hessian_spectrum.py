"""The exact Hessian spectrum of the UFM at the ETF minimiser (theory.md c.2), CE, LS and FL.

Statement. At the b.1 minimiser, with p = p*, q = (1−p)/(K−1), ρ_W = Δ sqrt(λ_W/(nλ_H)),
ρ_H = Δ sqrt(λ_H/(nλ_W)), s = sqrt(λ_Wλ_H), and σ_t, σ_o the eigenvalues of the per-sample logit
Hessian on 1^⊥ (direction e_y − 1/K·1, and its K−2-dimensional complement), the Hessian of f in
θ = (vec W, vec H, b) has the eigenvalues of the table of c.2 written with K p q → σ_t,
q → σ_o (the form ufm.spectrum uses; for CE/LS σ_t = Kpq, σ_o = q, which gives theory.md's table
verbatim, Γ included, see (3)): 13 families, with the 2×2 blocks of the [K−2,2] and trivial irreps
and the 4×4 matrix M₄ of the standard irrep, multiplicities summing to P = Kd + dN + K; the
eigenvalue 0 has multiplicity (K−1)d − K(K−1)/2 (+1 if λ_b = 0), the dimension of the O(d)-orbit
of the minimiser (+ the bias shift). Special case K = 2: the [K−2,2] and Λ² families are empty
(K(K−3)/2 → 0) and M₄ reduces to its (y₁, z) block (D_v = 0), so κ_logit = 1 (the logit Hessian
has the single eigenvalue σ_t on 1^⊥). FL: σ_t = (h''p² + h'p)q²K(K−1) − h'p·Kpq and
σ_o = −h'p·q for h(p) = −(1−p)^γ log p, and M₄ with Γ written in σ_t, σ_o,
Γ = [[σ_t(K−1)/K, σ_t/K], [σ_t/K, σ_t/(K(K−1)) + σ_o K(K−2)/(K−1)]], is exact for FL too
(proved at the FL cases of (2); theory.md c.2 leaves the FL block to numerics).

Source: theory.md c.2 ("Families", "The 4×4 matrix M₄", "Checks", "Worked example"), c.3 (κ_logit).

Proof.
(1) Symbolic K, d, n: the multiplicities sum to P (and, for K = 2, with symbolic d, n), and the
    zero count equals dim O(d) − dim O(d−K+1) = (K−1)d − K(K−1)/2.
(2) Exact characteristic polynomials, at rational parameters. ∇²f = (1/N)Σ_i J_iᵀS_iJ_i +
    (1/N)Σ_{i,k} g_ik∇²z_ik + diag(λ), with J_i = ∂z_i/∂θ and ∇²z_ik from sympy on the bilinear map
    z = Wh + b, and g_i = ∇ℓ, S_i = ∇²ℓ from sympy on the per-sample loss at the NC logits, where
    they depend on p only (e^{−Δ} = q/p; for FL also on L := log p, which enters affinely and is
    kept as a formal variable). β is read off the gradient (g_y = −Kβ c_y, the stationarity of
    b.1), so λ_W = β/κ², λ_H = κ²β/n realise a critical point. With W = κ√Δ R, H = κ⁻¹√Δ RᵀY
    (RRᵀ = C, κR and R/κ rational; K = 2, d = 1: R = (1, −1)ᵀ/√2 with κ ∈ √2·Q) and the bias
    coordinates scaled by √Δ (a similarity), the Hessian is A + Δ·B (+ L·(A′ + Δ·B′) for FL) with
    rational matrices. The full characteristic polynomial and the product of the family
    polynomials (whose radicals cancel) are then polynomials in Δ and L, of degree in Δ at most
    rank(B + L·B′) over Q(L) and in L at most rank(A′ + Δ·B′) over Q(Δ) (det(X − tM) has degree
    ≤ rank M in t), or the family product's degree if larger. They are compared by exact rational
    arithmetic on a grid of degree + 1 values per variable, which proves them equal for every Δ
    and L, in particular at Δ* = log((K−1)p/(1−p)) and L = log p.
    Cases, at rational p, κ, α, λ_b (λ_W ≠ λ_H), Δ (and L) free:
      CE, LS: K = 4, d = 4, n = 2 (LS, λ_b > 0; P = 52: every family, the [K−2,2] blocks at
      n = 2 included); K = 4, d = 3, n = 1 (LS with λ_b = 0; CE without a bias: b ≡ 0, no bias
      family, M₄ without z); K = 3, d = 4, n = 2 (CE with λ_b = 0, LS with λ_b > 0); K = 2
      (the special case): d = 1, n = 2 (CE with a bias, LS without) and d = 2, n = 2 (CE);
      FL (γ = 2): K = 3, d = 3, n = 1 and K = 2, d = 1, n = 2 (λ_b > 0).
    Symbolic parameters: for K = 2, d = 1, n = 2 (P = 8), LS, the comparison is done over the
    field QQ(p, κ, λ_b, α) for every Δ, i.e. for all parameter values at once (α = 0 is CE: the
    entries are polynomial in α). Larger K are checked only at the rational parameters above.
(3) Γ of theory.md, [[p(1−p), pq], [pq, q(K−1−q)]], equals Γ in σ_t = Kpq, σ_o = q (symbolic K).
(4) For any loss ℓ = h(p_y) (CE: h = −log p; FL: h = −(1−p)^γ log p), K = 3, 4:
    S_y(e_y − 1/K·1) = σ_t(e_y − 1/K·1), S_y v = σ_o v on the complement, S_y1 = 0, with the σ_t,
    σ_o above and h′, h″ free symbols; FL's h′, h″ (as ufm.spectrum writes them) with symbolic γ.
    K = 2: S_y has rank 1 (κ_logit = σ_t/σ_t = 1).
(5) The c.2 worked example (K = 4, d = 5, n = 3, λ = 5e-3, λ_b = 0): the family formulas reproduce
    every listed value and multiplicity.
"""

from __future__ import annotations

import itertools

import mpmath
import sympy as sp
from sympy import QQ
from sympy.polys.matrices import DomainMatrix

from proofs._common import etf_factor, labels, matches_printed, one_hot, per_sample_loss, require

x, Delta, L = sp.symbols("x Delta L")  # L stands for log p (FL)
DeltaP = sp.Symbol("Delta", positive=True)


# ------------------------------------------------------------------------------ the c.2 table
def families_sigma(K, d, n, sigma_t, sigma_o, lam_w, lam_h, lam_b, Delta=DeltaP, bias=True,
                   s=None):
    """The c.2 table in σ_t, σ_o as a list of (name, square block, multiplicity).

    Scalar families are 1×1 blocks; the block's eigenvalues each occur ``multiplicity`` times.
    ``bias=False`` (no b): no bias family, and M₄ loses its z row and column. K = 2 (integer):
    the [K−2,2] family is empty and M₄ is its (y₁, z) block. ``s`` = sqrt(λ_Wλ_H) may be given
    (= β/sqrt(n)) when the λ's are expressions whose square root sympy cannot take.
    """
    K, d, n = sp.sympify(K), sp.sympify(d), sp.sympify(n)
    st, so = sigma_t, sigma_o
    s = sp.sqrt(lam_w * lam_h) if s is None else s
    rW = Delta * sp.sqrt(sp.cancel(lam_w / (n * lam_h)))
    rH = Delta * sp.sqrt(sp.cancel(lam_h / (n * lam_w)))
    rWH = Delta / sp.sqrt(n)  # sqrt(ρ_W ρ_H)
    one = lambda v: sp.Matrix([[v]])
    two = lambda a, b, c: sp.Matrix([[a, b], [b, c]])
    pairs = K * (K - 3) / 2 if not (K.is_number and K < 3) else 0
    return [
        ("within-class σ_t", one(lam_h + st * rH / K), K * (n - 1)),
        ("within-class σ_o", one(lam_h + so * rH / K), K * (n - 1) * (K - 2)),
        ("within-class 0", one(lam_h), K * (n - 1) * (d - K + 1)),
        ("perp-ETF rotations", one(0), (K - 1) * (d - K + 1)),
        ("perp-ETF", one(lam_w + lam_h), (K - 1) * (d - K + 1)),
        ("perp-ETF W", one(lam_w), d - K + 1),
        ("perp-ETF H", one(lam_h), d - K + 1),
        ("antisymmetric rotations", one(0), (K - 1) * (K - 2) / 2),
        ("antisymmetric", one(lam_w + lam_h + so * (rW + rH) / K), (K - 1) * (K - 2) / 2),
        ("[K-2,2]", two(so * rW / K + lam_w, so * rWH / K - s, so * rH / K + lam_h), pairs),
        ("trivial bias", one(lam_b), 1 if bias else 0),
        ("trivial", two(st * rW / K + lam_w, st * rWH / K - s, st * rH / K + lam_h), 1),
        ("standard W", one(lam_w), K - 1),
        ("standard M4", m4(K, gamma_matrix(K, st, so), rW, rH, s, lam_w, lam_h, lam_b, bias),
         K - 1),
    ]


def families(K, d, n, p, lam_w, lam_h, lam_b, Delta=DeltaP, bias=True):
    """theory.md's c.2 table for CE/LS (in p): families_sigma at σ_t = Kpq, σ_o = q."""
    q = (1 - p) / (sp.sympify(K) - 1)
    return families_sigma(K, d, n, K * p * q, q, lam_w, lam_h, lam_b, Delta, bias)


def gamma_matrix(K, sigma_t, sigma_o):
    """Γ = [[σ_t(K−1)/K, σ_t/K], [σ_t/K, σ_t/(K(K−1)) + σ_o K(K−2)/(K−1)]]."""
    st, so = sigma_t, sigma_o
    return sp.Matrix([[st * (K - 1) / K, st / K],
                      [st / K, st / (K * (K - 1)) + so * K * (K - 2) / (K - 1)]])


def m4(K, Gamma, rW, rH, s, lam_w, lam_h, lam_b, bias=True):
    """M₄ of theory.md c.2 in the coordinates (x₂, y₁, y₂, z); K = 2: (y₁, z); no bias: no z."""
    small = K.is_number and K == 2  # D_v = 0: x₂ and y₂ do not exist
    sigma = sp.sqrt(1 - 2 / sp.sympify(K))
    a_A = sp.zeros(1, 4) if small else sp.Matrix([[sp.sqrt(rW) / sigma, 0, sp.sqrt(rH) / sigma, 0]])
    a_B = -a_A / K + sp.Matrix([[0, sp.sqrt(rH) / sp.sqrt(K), 0, 1]])
    a_t = a_A + a_B
    A = sp.Matrix.hstack(a_t.T, a_B.T)
    M = A * Gamma * A.T / K + sp.diag(lam_w, lam_h, lam_h, lam_b)
    M[0, 2] -= s
    M[2, 0] -= s
    keep = [i for i in range(4) if (not small or i in (1, 3)) and (bias or i != 3)]
    return M.extract(keep, keep)


def predicted_charpoly(fam, gens, domain=QQ):
    """Π over families of det(x − block)^multiplicity as a Poly over QQ in ``gens`` (x, Δ[, L]).

    Each block's characteristic polynomial must itself lie in QQ[gens] (its radicals cancel);
    sympy raises otherwise.
    """
    total = sp.Poly(1, *gens, domain=domain)
    for _, block, mult in fam:
        if int(mult) == 0:
            continue
        cp = sp.expand(block.charpoly(x, simplify=sp.expand).as_expr()).subs(DeltaP, Delta)
        total *= sp.Poly(cp, *gens, domain=domain) ** int(mult)
    return total


# ------------------------------------------------------------------------ the exact Hessian
def loss_derivatives(loss, K, p, alpha=0, gamma=0):
    """For each label y: (g_y, S_y), gradient and Hessian of ℓ(·, y) at the NC logits, in p
    (and in L = log p for FL, computed with a symbolic p and substituted afterwards)."""
    z = sp.symbols(f"z0:{K}", real=True)
    P = sp.Symbol("P", positive=True) if loss == "fl" else p
    q = (1 - P) / (K - 1)
    out = []
    for y in range(K):
        ell = per_sample_loss(loss, list(z), y, alpha=alpha, gamma=gamma)
        at = {zk: DeltaP * (int(k == y) - sp.Rational(1, K)) for k, zk in enumerate(z)}

        def ev(e, at=at):
            e = e.xreplace(at).subs(sp.exp(-DeltaP), q / P)
            if loss == "fl":
                e = e.replace(sp.log, lambda a: L if sp.cancel(a - P) == 0 else sp.log(a))
                e = sp.expand(e.subs(P, p))
            return sp.cancel(e)

        g = sp.Matrix([ev(sp.diff(ell, zk)) for zk in z])
        S = sp.Matrix([[ev(sp.diff(ell, z[i], z[j])) for j in range(K)] for i in range(K)])
        allowed = {L} | sp.sympify(p).free_symbols | sp.sympify(alpha).free_symbols
        require((g.free_symbols | S.free_symbols) <= allowed, "derivatives depend on p only")
        out.append((g, S))
    return out


def logit_eigenvalues(S, K, y=0):
    """(σ_t, σ_o) of S on 1^⊥, checking S c = σ_t c, S v = σ_o v (v ⊥ 1, c) and S1 = 0."""
    e = lambda k: sp.Matrix([int(j == k) for j in range(K)])
    c = e(y) - sp.ones(K, 1) / K
    st = sp.cancel((c.T * S * c)[0] / (c.T * c)[0])
    zero = lambda M: all(sp.expand(v) == 0 for v in M)
    require(zero(S * c - st * c) and zero(S * sp.ones(K, 1)), "S c = σ_t c, S1 = 0")
    others = [k for k in range(K) if k != y]
    so = sp.Integer(0)  # K = 2: no complement; σ_o only enters with the factor K − 2 = 0
    for j, k in itertools.pairwise(others):
        v = e(j) - e(k)
        so = sp.cancel((v.T * S * v)[0] / 2)
        require(zero(S * v - so * v), "S v = σ_o v on the complement")
    return st, so


def _split(M):
    """(M|_{L=0}, ∂M/∂L) for a matrix affine in L."""
    require(all(sp.diff(v, L, 2) == 0 for v in M), "affine in L")
    return M.subs(L, 0), M.diff(L)


def hessian_pieces(loss, K, d, n, p, kappa, lam_b, alpha=0, gamma=0, domain=QQ):
    """Rational (A, B, A′, B′): after the √Δ similarity on b the Hessian at the minimiser is
    A + ΔB + L(A′ + ΔB′) (A′ = B′ = 0 unless FL), and the ingredients (σ_t, σ_o, λ_W, λ_H, β)."""
    N = K * n
    derivs = loss_derivatives(loss, K, p, alpha, gamma)
    beta = sp.cancel(-derivs[0][0][0] / (K - 1))  # g_y = −Kβ(e_y − 1/K) at a critical point
    for y, (g, _) in enumerate(derivs):
        c = sp.Matrix([int(k == y) - sp.Rational(1, K) for k in range(K)])
        require(all(sp.expand(v) == 0 for v in g + K * beta * c), "g_y = −Kβ c_y (b.1)", y)
    if loss in ("ce", "ls"):
        q = (1 - p) / (K - 1)
        require(sp.cancel(beta - q + (alpha / K if loss == "ls" else 0)) == 0, "β = q − α/K")
    st, so = logit_eigenvalues(derivs[0][1], K)
    lam_h, lam_w = kappa**2 * beta / n, beta / kappa**2
    W = sp.Matrix(K, d, lambda i, j: sp.Symbol(f"W_{i}_{j}"))
    H = sp.Matrix(d, N, lambda i, j: sp.Symbol(f"H_{i}_{j}"))
    b = sp.Matrix(K, 1, lambda i, _: sp.Symbol(f"b_{i}"))
    theta = list(W) + list(H) + list(b)
    P, nb = len(theta), K
    Z = W * H + b * sp.ones(1, N)
    R = etf_factor(K, d)
    H1 = R.T * one_hot(K, n) / kappa
    at_one = {**dict(zip(W, kappa * R, strict=True)), **dict(zip(H, H1, strict=True))}  # √Δ = 1
    at_zero = {v: 0 for v in list(W) + list(H)}
    dm = lambda M: DomainMatrix.from_Matrix(M).convert_to(domain)
    one_over_N = domain.convert(sp.Rational(1, N)) if domain != QQ else QQ(1, N)
    jac = []  # (A_i, B_i): J_i(θ) = √Δ·A_i + B_i at the minimiser
    for i in range(N):
        Ji = Z[:, i].jacobian(theta)
        Bi = dm(Ji.xreplace(at_zero))
        jac.append((dm(Ji.xreplace(at_one)) - Bi, Bi))

    def pencil(parts, lams):
        """A, B for per-sample (g_y, S_y) = parts[y] and regulariser weights lams (linear)."""
        GN2 = DomainMatrix.zeros((P, P), domain)  # Σ AᵢᵀSᵢAᵢ        (∝ Δ)
        GN1 = DomainMatrix.zeros((P, P), domain)  # Σ AᵢᵀSᵢBᵢ + BᵢᵀSᵢAᵢ (∝ √Δ)
        GN0 = DomainMatrix.zeros((P, P), domain)  # Σ BᵢᵀSᵢBᵢ
        curvature = sp.Integer(0)
        for i, y in enumerate(labels(K, n)):
            g, S = parts[y]
            Ai, Bi = jac[i]
            Si = dm(S)
            GN2 += Ai.transpose() * Si * Ai
            GN1 += Ai.transpose() * Si * Bi + Bi.transpose() * Si * Ai
            GN0 += Bi.transpose() * Si * Bi
            curvature += (g.T * Z[:, i])[0]  # Σ_k g_ik z_ik: its Hessian is Σ_k g_ik ∇²z_ik
        C = sp.zeros(P, P)
        for monom, coeff in sp.Poly(sp.expand(curvature), *theta).terms():
            idx = [j for j, e in enumerate(monom) for _ in range(e)]
            if len(idx) == 2:
                C[idx[0], idx[1]] += coeff
                C[idx[1], idx[0]] += coeff
        lw, lh, lb = lams
        reg = sp.diag(*([lw] * (K * d) + [lh] * (d * N) + [lb] * nb))
        A = (GN0 + dm(C)) * one_over_N + dm(reg)
        B = GN2 * one_over_N
        # similarity D⁻¹(·)D, D = diag(1, …, 1, √Δ on b): √Δ-terms become Δ·(θ, b) and 1·(b, θ)
        G1 = (GN1 * one_over_N).to_Matrix()
        upper, lower = sp.zeros(P, P), sp.zeros(P, P)
        upper[: P - nb, P - nb :] = G1[: P - nb, P - nb :]
        lower[P - nb :, : P - nb] = G1[P - nb :, : P - nb]
        return A + dm(lower), B + dm(upper)

    split = [(_split(g), _split(S)) for g, S in derivs]
    (lw0, lw1), (lh0, lh1) = [(v.subs(L, 0), sp.diff(v, L)) for v in (lam_w, lam_h)]
    A0, B0 = pencil([(g0, S0) for (g0, _), (S0, _) in split], (lw0, lh0, lam_b))
    if loss != "fl":
        return (A0, B0, None, None), (st, so, lam_w, lam_h, beta)
    A1, B1 = pencil([(g1, S1) for (_, g1), (_, S1) in split], (lw1, lh1, 0))
    return (A0, B0, A1, B1), (st, so, lam_w, lam_h, beta)


def check_charpoly(loss, K, d, n, p, kappa, lam_b, alpha=0, gamma=0, bias=True, domain=QQ):
    (A0, B0, A1, B1), (st, so, lam_w, lam_h, beta) = hessian_pieces(loss, K, d, n, p, kappa, lam_b,
                                                                   alpha, gamma, domain)
    P = K * d + d * K * n + (K if bias else 0)
    if not bias:  # b ≡ 0 (b* = 0 anyway): the Hessian in (W, H) is the leading principal block
        A0, B0 = A0[:P, :P], B0[:P, :P]
        A1, B1 = (A1[:P, :P], B1[:P, :P]) if A1 is not None else (None, None)
    fam = families_sigma(K, d, n, st, so, lam_w, lam_h, lam_b, bias=bias, s=beta / sp.sqrt(n))
    require(sum(m * block.shape[0] for _, block, m in fam) == P, "multiplicities sum to P")
    gens = (x, Delta, L) if A1 is not None else (x, Delta)
    predicted = predicted_charpoly(fam, gens, domain)
    require(predicted.degree(x) == P, "degree P")
    zeros = (K - 1) * d - K * (K - 1) // 2 + (1 if bias and lam_b == 0 else 0)
    powers = {monom[0] for monom, _ in predicted.terms()}  # powers of x present
    require(min(powers) == zeros, "zero count", zeros)
    # degree bounds (see (2)): in Δ the rank of B + L·B′ over QQ(L), in L that of A′ + Δ·B′
    if A1 is None:
        deg_delta, deg_L = max(B0.rank(), predicted.degree(Delta)), 0
    else:
        ring_L, ring_D = QQ[L], QQ[Delta]
        BL = B0.convert_to(ring_L) + B1.convert_to(ring_L) * ring_L.from_sympy(L)
        AD = A1.convert_to(ring_D) + B1.convert_to(ring_D) * ring_D.from_sympy(Delta)
        deg_delta = max(BL.rank(), predicted.degree(Delta))
        deg_L = max(AD.rank(), predicted.degree(L))
    for ell in range(deg_L + 1):  # a full grid of (degree + 1) values per variable
        A = A0 if A1 is None else A0 + A1 * QQ(ell)
        B = B0 if A1 is None else B0 + B1 * QQ(ell)
        at_L = predicted if A1 is None else predicted.eval(L, ell)
        for j in range(deg_delta + 1):
            full = (A + B * domain.convert(j)).charpoly()  # coefficients, highest degree first
            expected = at_L.eval(Delta, j).rep.to_list()  # the same, in the same domain
            require(full == expected, "charpoly", loss, K, d, n, j, ell)


def check_symbolic_k2():
    """K = 2, d = 1, n = 2, LS with p, κ, λ_b and α symbolic, for every Δ.

    The entries are polynomial in α, so the identity also holds at α = 0 (CE)."""
    P_, k, lb, a = sp.symbols("p k lambda_b alpha", positive=True)
    field = QQ.frac_field(P_, k, lb, a)
    kappa = sp.sqrt(2) * k  # R = (1, −1)ᵀ/√2: κR = k(1, −1)ᵀ and κ² = 2k² are rational in k
    check_charpoly("ls", 2, 1, 2, p=P_, kappa=kappa, lam_b=lb, alpha=a, domain=field)


# ----------------------------------------------------------------------- the other checks
WORKED_EXAMPLE = {  # theory.md c.2: K = 4, d = 5, n = 3, λ_W = λ_H = 5e-3, λ_b = 0
    "ce": [("0", 10), ("0.0026381895", 3), ("0.005", 23), ("0.01", 12), ("0.0109033587", 16),
           ("0.0118067175", 2), ("0.0148937378", 3), ("0.0218067175", 3), ("0.0279999400", 8),
           ("0.0459998799", 1), ("0.0506929590", 3)],
    "ls": [("0", 10), ("0.0033046225", 3), ("0.005", 23), ("0.01", 12), ("0.0209599081", 16),
           ("0.0319198162", 2), ("0.0419011194", 3), ("0.0419198162", 3), ("0.0623930576", 8),
           ("0.1147861152", 1), ("0.1395176889", 3)],
}


def check_worked_example():
    K, d, n, lam = 4, 5, 3, sp.Rational(5, 1000)
    beta = sp.sqrt(n * lam * lam)
    for loss, listed in WORKED_EXAMPLE.items():
        b_eff = beta + (sp.Rational(1, 10) / K if loss == "ls" else 0)
        p = 1 - (K - 1) * b_eff
        D = sp.log(1 / b_eff - (K - 1))
        values = []
        for _, block, mult in families(K, d, n, p, lam, lam, 0, Delta=D):
            with mpmath.workdps(40):
                M = mpmath.matrix([[sp.N(v, 40) for v in row] for row in block.tolist()])
                eigs = mpmath.eigsy(M, eigvals_only=True)
                values += [sp.Float(ev, 30) for ev in eigs] * int(mult)
        require(len(values) == K * d + d * K * n + K, "P values")
        for text, mult in listed:
            if len(text.split(".")[-1]) < 10:  # "0", "0.005", "0.01": exact values (0, λ, 2λ)
                hits = [v for v in values if abs(v - sp.Rational(text)) < 1e-25]
            else:
                hits = [v for v in values if matches_printed(v, text)]
            require(len(hits) == mult, "worked example value", loss, text, mult, len(hits))
        require(sum(m for _, m in listed) == len(values), "worked example count", loss)


def check_symbolic_counts():
    K, d, n = sp.symbols("K d n", positive=True, integer=True)
    lams = sp.symbols("l_W l_H l_b", positive=True)
    fam = families(K, d, n, sp.Symbol("p"), *lams)
    total = sum(m * block.shape[0] for _, block, m in fam)
    require(sp.expand(total - (K * d + d * n * K + K)) == 0, "multiplicities sum to P")
    fam2 = families(2, d, n, sp.Symbol("p"), *lams)  # the K = 2 special case
    total2 = sum(m * block.shape[0] for _, block, m in fam2)
    require(sp.expand(total2 - (2 * d + d * n * 2 + 2)) == 0, "K = 2: multiplicities sum to P")
    zero_count = (K - 1) * (d - K + 1) + (K - 1) * (K - 2) / 2
    require(sp.expand(zero_count - ((K - 1) * d - K * (K - 1) / 2)) == 0, "zero count")
    orbit = d * (d - 1) / 2 - (d - K + 1) * (d - K) / 2  # dim O(d) − dim O(d − K + 1)
    require(sp.expand(zero_count - orbit) == 0, "zero count = orbit dimension")


def check_gamma_rewriting():
    """theory.md's Γ = [[p(1−p), pq], [pq, q(K−1−q)]] is Γ(σ_t = Kpq, σ_o = q), p + (K−1)q = 1."""
    K, q = sp.symbols("K q", positive=True)
    p = 1 - (K - 1) * q
    theory = sp.Matrix([[p * (1 - p), p * q], [p * q, q * (K - 1 - q)]])
    require(all(sp.simplify(v) == 0 for v in theory - gamma_matrix(K, K * p * q, q)), "Γ")


def fl_logit_eigenvalues(K, p, gamma):
    """(σ_t, σ_o) of the FL logit Hessian at p_y = p: (h''p² + h'p)q²K(K−1) − h'p·Kpq and −h'p·q,
    h(p) = −(1−p)^γ log p (checked in check_fl_logit_hessian)."""
    P = sp.Symbol("p", positive=True)
    h = -((1 - P) ** gamma) * sp.log(P)
    h1, h2 = sp.diff(h, P).subs(P, p), sp.diff(h, P, 2).subs(P, p)
    q = (1 - p) / (K - 1)
    return (h2 * p**2 + h1 * p) * q**2 * K * (K - 1) - h1 * p * K * p * q, -h1 * p * q


def check_fl_logit_hessian():
    """ufm.spectrum's σ_t, σ_o for ℓ = h(p_y): eigenpairs of S_y at the NC logits (K = 3, 4).

    By the chain rule S = h''(p)·∇p_y∇p_yᵀ + h'(p)·∇²p_y; ∇p_y and ∇²p_y come from sympy on the
    softmax, h' and h'' are free symbols, so the check holds for every h, FL included
    (h = −(1−p)^γ log p; CE is h = −log p, which gives back σ_t = Kpq, σ_o = q)."""
    P, h1, h2 = sp.symbols("p h1 h2")
    for K in (3, 4):
        z = sp.symbols(f"z0:{K}", real=True)
        py = 1 / sum(sp.exp(zj - z[0]) for zj in z)
        at = {zk: DeltaP * (int(k == 0) - sp.Rational(1, K)) for k, zk in enumerate(z)}
        q = (1 - P) / (K - 1)
        ev = lambda e: sp.cancel(e.xreplace(at).subs(sp.exp(-DeltaP), q / P))  # noqa: B023
        grad = sp.Matrix([ev(sp.diff(py, zk)) for zk in z])
        hess = sp.Matrix([[ev(sp.diff(py, z[i], z[j])) for j in range(K)] for i in range(K)])
        S = h2 * grad * grad.T + h1 * hess
        st = (h2 * P**2 + h1 * P) * q**2 * K * (K - 1) - h1 * P * K * P * q
        so = -h1 * P * q
        c = sp.Matrix([int(k == 0) - sp.Rational(1, K) for k in range(K)])
        v = sp.Matrix([0, 1, -1] + [0] * (K - 3))
        zero = lambda M: all(sp.cancel(sp.expand(e)) == 0 for e in M)
        require(zero(S * c - st * c), "σ_t for ℓ = h(p_y)", K)
        require(zero(S * v - so * v), "σ_o for ℓ = h(p_y)", K)
        require(zero(S * sp.ones(K, 1)), "S1 = 0", K)
        ce = {h1: -1 / P, h2: 1 / P**2}  # h = −log p
        require(sp.cancel(st.subs(ce) - K * P * q) == 0 and sp.cancel(so.subs(ce) - q) == 0, "CE")
    gam = sp.Symbol("gamma", positive=True)
    u, lp = 1 - P, sp.log(P)  # FL: h', h'' as ufm.spectrum._fl_derivatives writes them
    h = -(u**gam) * lp
    fl1 = gam * u ** (gam - 1) * lp - u**gam / P
    fl2 = u**gam / P**2 + 2 * gam * u ** (gam - 1) / P - gam * (gam - 1) * u ** (gam - 2) * lp
    same_power = lambda e: sp.cancel(sp.expand(sp.powsimp(sp.expand(e / u ** (gam - 2))))) == 0
    require(same_power(sp.diff(h, P) - fl1) and same_power(sp.diff(h, P, 2) - fl2), "FL h', h''")
    # K = 2: S_y is rank one on R², so on 1^⊥ it has the single eigenvalue σ_t: κ_logit = 1
    p = sp.Symbol("p", positive=True)
    for loss in ("ce", "ls"):
        (_, S), _ = loss_derivatives(loss, 2, p, sp.Symbol("alpha", positive=True))
        require(S.rank() == 1 and S * sp.ones(2, 1) == sp.zeros(2, 1), "K = 2 logit Hessian", loss)


def check():
    check_symbolic_counts()
    check_gamma_rewriting()
    check_fl_logit_hessian()
    R = sp.Rational
    check_charpoly("ls", 4, 3, 1, p=R(7, 10), kappa=R(1, 2), lam_b=0, alpha=R(1, 10))
    check_charpoly("ce", 3, 4, 2, p=R(9, 10), kappa=R(3, 2), lam_b=0)
    check_charpoly("ls", 3, 4, 2, p=R(4, 5), kappa=R(1), lam_b=R(1, 10), alpha=R(3, 20))
    check_charpoly("ls", 4, 4, 2, p=R(5, 6), kappa=R(3, 2), lam_b=R(1, 30), alpha=R(1, 20))
    check_charpoly("ce", 4, 3, 1, p=R(3, 5), kappa=R(2, 3), lam_b=0, bias=False)
    k2 = sp.sqrt(2) * R(2, 3)  # K = 2, d = 1: R = (1, −1)ᵀ/√2, and κR is rational for κ ∈ √2·Q
    check_charpoly("ce", 2, 1, 2, p=R(3, 4), kappa=k2, lam_b=R(1, 10))
    check_charpoly("ls", 2, 1, 2, p=R(4, 5), kappa=k2, lam_b=0, alpha=R(1, 5), bias=False)
    check_charpoly("ce", 2, 2, 2, p=R(2, 3), kappa=R(3, 2), lam_b=0)
    check_charpoly("fl", 3, 3, 1, p=R(3, 4), kappa=R(3, 2), lam_b=R(1, 10), gamma=2)
    check_charpoly("fl", 2, 1, 2, p=R(4, 5), kappa=k2, lam_b=R(1, 20), gamma=2)
    check_symbolic_k2()
    check_worked_example()


if __name__ == "__main__":
    check()
    print("hessian_spectrum: ok")
