"""The factorisation lemma: the weight decay of W and H is a nuclear-norm penalty on Z = WH.

Statement. For W ∈ R^{K×d}, H ∈ R^{d×N}, λ_W, λ_H > 0 and μ := sqrt(λ_Wλ_H),

    (λ_W/2)‖W‖_F² + (λ_H/2)‖H‖_F² ≥ μ‖WH‖_*,

and every Z with rank Z ≤ d has a factorisation Z = WH (inner dimension d) with equality. Hence
min_{WH = Z} (λ_W/2)‖W‖² + (λ_H/2)‖H‖² = μ‖Z‖_* whenever d ≥ rank Z. At equality
λ_W‖W‖² = λ_H‖H‖² (the balance of theory.md b.1).

Used by: theory.md b.6 (proofs.mse, the MSE problem in Z), h (proofs.certificate, the convex
reformulation) and b.1 (the ansatz of proofs.reduction is such an optimal factorisation).

Proof (exact, any sizes).
(1) Let Z = WH = UΣVᵀ be a compact SVD (UᵀU = VᵀV = I_r, Σ = diag(σ) > 0). Then
    ‖Z‖_* = tr Σ = tr(UᵀZV) = ⟨WᵀU, HV⟩_F.
(2) For matrices A, B of one shape and t > 0, 0 ≤ ‖tA − B/t‖² = t²‖A‖² − 2⟨A, B⟩ + ‖B‖²/t²,
    so ⟨A, B⟩ ≤ (t²‖A‖² + ‖B‖²/t²)/2.
(3) ‖WᵀU‖ ≤ ‖W‖ and ‖HV‖ ≤ ‖H‖: with the orthogonal projector Q = I − UUᵀ,
    ‖W‖² = ‖UᵀW‖² + ‖QW‖² (Pythagoras, UᵀQ = 0), and likewise for H with V.
(4) Take t² = sqrt(λ_W/λ_H): μ(t²‖W‖² + ‖H‖²/t²)/2 = (λ_W‖W‖² + λ_H‖H‖²)/2. Chaining (1)–(4)
    gives the inequality.
(5) Equality: W = a·UΣ^{1/2}, H = a⁻¹·Σ^{1/2}Vᵀ with a⁴ = λ_H/λ_W (padded with d − r zero
    columns/rows) has WH = Z and cost (λ_W a² + λ_H a⁻²)(tr Σ)/2 = μ tr Σ.
(6) The AM–GM step behind (4)–(5): (λ_W x² + λ_H y²)/2 − μxy = (sqrt(λ_W)x − sqrt(λ_H)y)²/2, so
    equality forces sqrt(λ_W)‖W‖ = sqrt(λ_H)‖H‖.
sympy checks (2) and (3) entrywise on symbolic matrices (3×2, with a rational orthonormal U),
(4)–(6) with symbolic λ's, and, as an instance, the cost of proofs.reduction's optimal split
against μ‖Z‖_* for Z = Δ·CY with symbolic K, n (σ(CY) = sqrt(n), K − 1 times).
"""

from __future__ import annotations

import sympy as sp

from proofs._common import centering, one_hot, require

lam_w, lam_h = sp.symbols("lambda_W lambda_H", positive=True)
mu = sp.sqrt(lam_w * lam_h)


def frob2(M) -> sp.Expr:
    return sum(x**2 for x in M)


def inner(A, B) -> sp.Expr:
    return sum(a * b for a, b in zip(A, B, strict=True))


def check():
    # (2) the expansion behind Cauchy–Schwarz, entrywise for symbolic 3×2 matrices
    t = sp.Symbol("t", positive=True)
    A = sp.Matrix(3, 2, lambda i, j: sp.Symbol(f"a{i}{j}", real=True))
    B = sp.Matrix(3, 2, lambda i, j: sp.Symbol(f"b{i}{j}", real=True))
    expansion = frob2(t * A - B / t) - (t**2 * frob2(A) - 2 * inner(A, B) + frob2(B) / t**2)
    require(sp.expand(expansion) == 0, "‖tA − B/t‖² expansion")
    # (3) Pythagoras for a rational orthonormal U (3×2) and symbolic W (3×2)
    U = sp.Matrix([[2, -2], [1, 2], [2, 1]]) / 3
    require((U.T * U - sp.eye(2)).is_zero_matrix, "U has orthonormal columns")
    Q = sp.eye(3) - U * U.T
    require((U.T * Q).is_zero_matrix and (Q * Q - Q).is_zero_matrix, "Q = I − UUᵀ projects")
    W = A
    require(sp.expand(frob2(W) - frob2(U.T * W) - frob2(Q * W)) == 0, "‖W‖² = ‖UᵀW‖² + ‖QW‖²")
    # (4) the choice t² = sqrt(λ_W/λ_H)
    nW, nH = sp.symbols("n_W n_H", nonnegative=True)  # ‖W‖², ‖H‖²
    t2 = sp.sqrt(lam_w / lam_h)
    require(sp.simplify(mu * (t2 * nW + nH / t2) / 2 - (lam_w * nW + lam_h * nH) / 2) == 0,
            "μ(t²‖W‖² + ‖H‖²/t²)/2 = regulariser")
    # (5) the balanced factorisation attains μ tr Σ
    a = (lam_h / lam_w) ** sp.Rational(1, 4)
    trace_sigma = sp.Symbol("T", positive=True)  # tr Σ = ‖UΣ^{1/2}‖² = ‖Σ^{1/2}Vᵀ‖²
    cost = lam_w * a**2 * trace_sigma / 2 + lam_h * trace_sigma / (2 * a**2)
    require(sp.simplify(cost - mu * trace_sigma) == 0, "balanced factorisation attains μ‖Z‖_*")
    require(sp.simplify(lam_w * a**2 - lam_h / a**2) == 0, "balanced: λ_W‖W‖² = λ_H‖H‖²")
    # (6) AM–GM as a square
    x, y = sp.symbols("x y", nonnegative=True)
    amgm = (lam_w * x**2 + lam_h * y**2) / 2 - mu * x * y
    require(sp.expand(amgm - (sp.sqrt(lam_w) * x - sp.sqrt(lam_h) * y) ** 2 / 2) == 0, "AM–GM")
    # instance: the ansatz of b.1 is an optimal factorisation of Z = Δ·CY. (CY)(CY)ᵀ = C(YYᵀ)C =
    # nC² = nC has eigenvalue n with multiplicity K − 1 (C is the projector onto 1^⊥), so
    # ‖Z‖_* = Δ(K−1)sqrt(n); with μ = β/sqrt(n) this is the cost (K−1)βΔ of the optimal split.
    from proofs import reduction

    for Kv, nv in ((2, 3), (3, 2), (4, 1)):
        CY = centering(Kv) * one_hot(Kv, nv)
        require((CY * CY.T).eigenvals() == {nv: Kv - 1, 0: 1}, "spectrum of (CY)(CY)ᵀ", Kv, nv)
    K, n, Delta = reduction.K, reduction.n, reduction.Delta
    nuclear = Delta * (K - 1) * sp.sqrt(n)
    _, split_cost, _ = reduction.optimal_split()
    require(sp.simplify(split_cost - sp.sqrt(reduction.lam_w * reduction.lam_h) * nuclear) == 0,
            "the b.1 split costs μ‖ΔCY‖_*")


if __name__ == "__main__":
    check()
    print("factorisation: ok")
