"""The exact Hessian spectrum of the UFM at the ETF minimiser, CE and LS (theory.md c.2).

Statement. At the b.1 minimiser, with p = p*, q = (1−p)/(K−1), ρ_W = Δ sqrt(λ_W/(nλ_H)),
ρ_H = Δ sqrt(λ_H/(nλ_W)), s = sqrt(λ_Wλ_H), the Hessian of f in θ = (vec W, vec H, b) has the
eigenvalues of the table of c.2 (13 families, with the 2×2 blocks of the [K−2,2] and trivial
irreps and the 4×4 matrix M₄ of the standard irrep), with multiplicities summing to
P = Kd + dN + K; the eigenvalue 0 has multiplicity (K−1)d − K(K−1)/2 (+1 if λ_b = 0), the
dimension of the O(d)-orbit of the minimiser (+ the bias shift).

Source: theory.md c.2 ("Families", "The 4×4 matrix M₄", "Checks", "Worked example").

Proof.
(1) Symbolic K, d, n: the multiplicities sum to P, and the zero count equals
    dim O(d) − dim O(d−K+1) = (K−1)d − K(K−1)/2.
(2) Exact characteristic polynomials. The Hessian is ∇²f = (1/N)Σ_i J_iᵀ S_i J_i +
    (1/N)Σ_{i,k} g_{ik} ∇²z_{ik} + diag(λ), with J_i = ∂z_i/∂θ and ∇²z_{ik} from sympy on the
    bilinear map z = W h + b, and g_i = ∇ℓ, S_i = ∇²ℓ from sympy on the per-sample loss at the
    NC logits, where they depend on p only (e^{−Δ} = q/p). With W = κ√Δ R, H = κ⁻¹√Δ RᵀY
    (R exact and rational), scaling the bias coordinates by √Δ (a similarity) turns the Hessian
    into H'(Δ) = A + Δ·B with rational A, B. So det(x − H'(Δ)) is a polynomial in Δ of degree
    ≤ rank B; the product of the c.2 family polynomials is checked to be a polynomial in Δ (its
    radicals cancel) and its degree is read off. Two such polynomials that agree at
    max(rank B, degree) + 1 rational values of Δ agree for every Δ, in particular at
    Δ* = log((K−1)p/(1−p)); the comparison at those values is exact rational arithmetic.
    This is done for K = 4, d = 3 (n = 1) and K = 3, d = 4 (n = 2): together every family occurs
    (the [K−2,2] blocks need K ≥ 4, the ⊥-ETF families d ≥ K, the within-class ones n ≥ 2), for CE
    and LS, λ_W ≠ λ_H, λ_b = 0 and λ_b > 0, at rational p, α, λ's; and once without a bias (b ≡ 0:
    no bias family, M₄ without its z row and column), the variant ufm.spectrum also implements.
(3) Γ rewritten with the logit-Hessian eigenvalues σ_t = Kpq, σ_o = q (the form ufm.spectrum
    uses) is the same matrix.
(4) The c.2 worked example (K = 4, d = 5, n = 3, λ = 5e-3, λ_b = 0): the family formulas reproduce
    every listed value and multiplicity.
"""

from __future__ import annotations

import mpmath
import sympy as sp
from sympy import QQ
from sympy.polys.matrices import DomainMatrix

from proofs._common import etf_factor, labels, matches_printed, one_hot, per_sample_loss

x, Delta = sp.symbols("x Delta")
DeltaP = sp.Symbol("Delta", positive=True)


# ------------------------------------------------------------------------------ the c.2 table
def families(K, d, n, p, lam_w, lam_h, lam_b, Delta=DeltaP, bias=True):
    """The c.2 table as a list of (name, square matrix block, multiplicity).

    Scalar families are 1×1 blocks; the block's eigenvalues each occur ``multiplicity`` times.
    ``bias=False`` (no b; the variant ufm.spectrum also implements): no bias family, and M₄ loses
    its z row and column.
    """
    K, d, n = sp.sympify(K), sp.sympify(d), sp.sympify(n)
    q = (1 - p) / (K - 1)
    s = sp.sqrt(lam_w * lam_h)
    rW, rH = Delta * sp.sqrt(lam_w / (n * lam_h)), Delta * sp.sqrt(lam_h / (n * lam_w))
    rWH = Delta / sp.sqrt(n)  # sqrt(ρ_W ρ_H)
    one = lambda v: sp.Matrix([[v]])
    two = lambda a, b, c: sp.Matrix([[a, b], [b, c]])
    fam = [
        ("within-class pq", one(lam_h + p * q * rH), K * (n - 1)),
        ("within-class q/K", one(lam_h + q * rH / K), K * (n - 1) * (K - 2)),
        ("within-class 0", one(lam_h), K * (n - 1) * (d - K + 1)),
        ("perp-ETF rotations", one(0), (K - 1) * (d - K + 1)),
        ("perp-ETF", one(lam_w + lam_h), (K - 1) * (d - K + 1)),
        ("perp-ETF W", one(lam_w), d - K + 1),
        ("perp-ETF H", one(lam_h), d - K + 1),
        ("antisymmetric rotations", one(0), (K - 1) * (K - 2) / 2),
        ("antisymmetric", one(lam_w + lam_h + q * (rW + rH) / K), (K - 1) * (K - 2) / 2),
        ("[K-2,2]", two(q * rW / K + lam_w, q * rWH / K - s, q * rH / K + lam_h), K * (K - 3) / 2),
        ("trivial bias", one(lam_b), 1 if bias else 0),
        ("trivial", two(p * q * rW + lam_w, p * q * rWH - s, p * q * rH + lam_h), 1),
        ("standard W", one(lam_w), K - 1),
        ("standard M4", m4(K, p, q, rW, rH, s, lam_w, lam_h, lam_b, bias), K - 1),
    ]
    return fam


def m4(K, p, q, rW, rH, s, lam_w, lam_h, lam_b, bias=True):
    """M₄ of theory.md c.2 in the coordinates (x₂, y₁, y₂, z) (without z when there is no bias)."""
    sigma = sp.sqrt(1 - 2 / sp.sympify(K))
    a_A = sp.Matrix([[sp.sqrt(rW) / sigma, 0, sp.sqrt(rH) / sigma, 0]])
    a_B = -a_A / K + sp.Matrix([[0, sp.sqrt(rH) / sp.sqrt(K), 0, 1]])
    a_t = a_A + a_B
    Gamma = sp.Matrix([[p * (1 - p), p * q], [p * q, q * (K - 1 - q)]])
    A = sp.Matrix.hstack(a_t.T, a_B.T)
    M = A * Gamma * A.T / K + sp.diag(lam_w, lam_h, lam_h, lam_b)
    M[0, 2] -= s
    M[2, 0] -= s
    return M if bias else M[:3, :3]


def predicted_charpoly(fam):
    """Π over families of det(x − block)^multiplicity as a Poly in x over QQ[Δ].

    Each block's characteristic polynomial must itself lie in QQ[x, Δ] (its radicals cancel);
    sympy raises otherwise.
    """
    total = sp.Poly(1, x, Delta, domain=QQ)
    for _, block, mult in fam:
        cp = sp.expand(block.charpoly(x, simplify=sp.expand).as_expr()).subs(DeltaP, Delta)
        total *= sp.Poly(cp, x, Delta, domain=QQ) ** int(mult)
    return total


# ------------------------------------------------------------------------ the exact Hessian
def loss_derivatives(loss, K, p, alpha):
    """For each label y: (g_y, S_y), the gradient and Hessian of ℓ(·, y) at the NC logits (in p)."""
    z = sp.symbols(f"z0:{K}", real=True)
    q = (1 - p) / (K - 1)
    out = []
    for y in range(K):
        ell = per_sample_loss(loss, list(z), y, alpha=alpha)
        at = {zk: DeltaP * (int(k == y) - sp.Rational(1, K)) for k, zk in enumerate(z)}
        ev = lambda e: sp.cancel(e.xreplace(at).subs(sp.exp(-DeltaP), q / p))
        g = sp.Matrix([ev(sp.diff(ell, zk)) for zk in z])
        S = sp.Matrix(K, K, lambda i, j: ev(sp.diff(ell, z[i], z[j])))
        assert not (g.free_symbols | S.free_symbols), "per-sample derivatives must depend on p only"
        out.append((g, S))
    return out


def hessian_pencil(loss, K, d, n, p, kappa, lam_b, alpha=0):
    """(A, B, λ_W, λ_H): after the √Δ similarity on b, the Hessian at the minimiser is A + Δ·B."""
    N = K * n
    q = (1 - p) / (K - 1)
    beta = q - (alpha / K if loss == "ls" else 0)  # stationarity: G = −Kβ·CY (b.1–b.3)
    lam_h, lam_w = kappa**2 * beta / n, beta / kappa**2
    W = sp.Matrix(K, d, lambda i, j: sp.Symbol(f"W_{i}_{j}"))
    H = sp.Matrix(d, N, lambda i, j: sp.Symbol(f"H_{i}_{j}"))
    b = sp.Matrix(K, 1, lambda i, _: sp.Symbol(f"b_{i}"))
    theta = list(W) + list(H) + list(b)
    P, nb = len(theta), K
    Z = W * H + b * sp.ones(1, N)
    R = etf_factor(K, d)
    at_one = {**dict(zip(W, kappa * R)), **dict(zip(H, R.T * one_hot(K, n) / kappa))}  # √Δ = 1
    at_zero = {v: 0 for v in list(W) + list(H)}
    derivs = loss_derivatives(loss, K, p, alpha)
    dm = lambda M: DomainMatrix.from_Matrix(M).convert_to(QQ)
    GN2 = DomainMatrix.zeros((P, P), QQ)  # Σ AᵢᵀSᵢAᵢ        (∝ Δ)
    GN1 = DomainMatrix.zeros((P, P), QQ)  # Σ AᵢᵀSᵢBᵢ + BᵢᵀSᵢAᵢ (∝ √Δ)
    GN0 = DomainMatrix.zeros((P, P), QQ)  # Σ BᵢᵀSᵢBᵢ
    curvature = sp.Integer(0)
    for i, y in enumerate(labels(K, n)):
        g, S = derivs[y]
        Ji = Z[:, i].jacobian(theta)  # J_i(θ) = √Δ·A_i + B_i at the minimiser
        Bi = dm(Ji.xreplace(at_zero))
        Ai = dm(Ji.xreplace(at_one)) - Bi
        Si = dm(S)
        GN2 += Ai.transpose() * Si * Ai
        GN1 += Ai.transpose() * Si * Bi + Bi.transpose() * Si * Ai
        GN0 += Bi.transpose() * Si * Bi
        curvature += (g.T * Z[:, i])[0]  # Σ_k g_ik z_ik: its Hessian is Σ_k g_ik ∇²z_ik
    C = sp.zeros(P, P)
    poly = sp.Poly(sp.expand(curvature), *theta)
    for monom, coeff in poly.terms():
        idx = [j for j, e in enumerate(monom) for _ in range(e)]
        if len(idx) == 2:
            C[idx[0], idx[1]] += coeff
            C[idx[1], idx[0]] += coeff
    reg = sp.diag(*([lam_w] * (K * d) + [lam_h] * (d * N) + [lam_b] * nb))
    A = (GN0 + dm(C)) * QQ(1, N) + dm(reg)
    B = GN2 * QQ(1, N)
    # similarity D⁻¹(·)D, D = diag(1, …, 1, √Δ on b): the √Δ-terms become Δ·(θ, b) and 1·(b, θ)
    GN1 = (GN1 * QQ(1, N)).to_Matrix()
    upper, lower = sp.zeros(P, P), sp.zeros(P, P)
    upper[: P - nb, P - nb :] = GN1[: P - nb, P - nb :]
    lower[P - nb :, : P - nb] = GN1[P - nb :, : P - nb]
    return A + dm(lower), B + dm(upper), lam_w, lam_h


def check_charpoly(loss, K, d, n, p, kappa, lam_b, alpha=0, bias=True):
    A, B, lam_w, lam_h = hessian_pencil(loss, K, d, n, p, kappa, lam_b, alpha)
    P = K * d + d * K * n + (K if bias else 0)
    if not bias:  # b ≡ 0 (b* = 0 anyway): the Hessian in (W, H) is the leading principal block
        A, B = A[:P, :P], B[:P, :P]
    fam = families(K, d, n, p, lam_w, lam_h, lam_b, bias=bias)
    assert sum(m * block.shape[0] for _, block, m in fam) == P
    predicted = predicted_charpoly(fam)
    assert predicted.degree(x) == P
    zeros = (K - 1) * d - K * (K - 1) // 2 + (1 if bias and lam_b == 0 else 0)
    by_power = sp.Poly(predicted.as_expr(), x).all_coeffs()[::-1]  # coefficients in QQ[Δ], x⁰ first
    assert all(c == 0 for c in by_power[:zeros]) and by_power[zeros] != 0  # exactly `zeros` zeros
    for j in range(max(B.rank(), predicted.degree(Delta)) + 1):  # enough points (see (2))
        full = (A + B * QQ(j + 1)).charpoly()  # coefficients, highest degree first
        expected = predicted.eval(Delta, j + 1).all_coeffs()
        assert full == [QQ.from_sympy(c) for c in expected], (loss, K, d, n, j + 1)


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
        assert len(values) == K * d + d * K * n + K
        for text, mult in listed:
            if len(text.split(".")[-1]) < 10:  # "0", "0.005", "0.01": exact values (0, λ, 2λ)
                hits = [v for v in values if abs(v - sp.Rational(text)) < 1e-25]
            else:
                hits = [v for v in values if matches_printed(v, text)]
            assert len(hits) == mult, (loss, text, mult, len(hits))
        assert sum(m for _, m in listed) == len(values)


def check_symbolic_counts():
    K, d, n = sp.symbols("K d n", positive=True, integer=True)
    fam = families(K, d, n, sp.Symbol("p"), *sp.symbols("l_W l_H l_b", positive=True))
    total = sum(m * block.shape[0] for _, block, m in fam)
    assert sp.expand(total - (K * d + d * n * K + K)) == 0
    zero_count = (K - 1) * (d - K + 1) + (K - 1) * (K - 2) / 2
    assert sp.expand(zero_count - ((K - 1) * d - K * (K - 1) / 2)) == 0
    orbit = d * (d - 1) / 2 - (d - K + 1) * (d - K) / 2  # dim O(d) − dim O(d − K + 1)
    assert sp.expand(zero_count - orbit) == 0


def check_gamma_rewriting():
    """Γ in terms of the logit-Hessian eigenvalues σ_t = Kpq, σ_o = q (as ufm.spectrum writes it):
    Γ = [[σ_t(K−1)/K, σ_t/K], [σ_t/K, σ_t/(K(K−1)) + σ_o K(K−2)/(K−1)]] when p + (K−1)q = 1."""
    K, q = sp.symbols("K q", positive=True)
    p = 1 - (K - 1) * q
    st_, so = K * p * q, q
    assert sp.expand(p * (1 - p) - st_ * (K - 1) / K) == 0
    assert sp.expand(p * q - st_ / K) == 0
    assert sp.simplify(q * (K - 1 - q) - (st_ / (K * (K - 1)) + so * K * (K - 2) / (K - 1))) == 0


def check():
    check_symbolic_counts()
    check_gamma_rewriting()
    R = sp.Rational
    check_charpoly("ce", 4, 3, 1, p=R(4, 5), kappa=R(2), lam_b=R(1, 20))
    check_charpoly("ls", 4, 3, 1, p=R(7, 10), kappa=R(1, 2), lam_b=0, alpha=R(1, 10))
    check_charpoly("ce", 3, 4, 2, p=R(9, 10), kappa=R(3, 2), lam_b=0)
    check_charpoly("ls", 3, 4, 2, p=R(4, 5), kappa=R(1), lam_b=R(1, 10), alpha=R(3, 20))
    check_charpoly("ce", 4, 3, 1, p=R(3, 5), kappa=R(2, 3), lam_b=0, bias=False)
    check_worked_example()


if __name__ == "__main__":
    check()
    print("hessian_spectrum: ok")
