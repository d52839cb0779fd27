"""Cross-entropy closed form (theory.md b.2).

Statement. For φ(Δ) = log(1 + (K−1)e^{−Δ}) + (K−1)βΔ on Δ ≥ 0, with p(Δ) = 1/(1 + (K−1)e^{−Δ}):

    φ'(Δ) = (K−1)β − (1 − p(Δ)),   φ''(Δ) = p(1 − p) > 0   (φ is strictly convex);
    φ'(0) = (K−1)(β − 1/K), so a nonzero minimiser exists  ⇔  Kβ < 1;
    then p* = 1 − (K−1)β,  Δ* = log(1/β − (K−1)),  f* = −log p* + (K−1)βΔ*;
    otherwise Δ* = 0 and f* = φ(0) = log K.

Also the "second-order check" of b.2: at W = H = 0 the loss gradient is G₀ = −CY/N, with
σ_max(G₀) = 1/(K sqrt n), so along the best rank-one direction f(tW₁, tH₁) − f(0) =
t²(μ − σ_max(G₀))‖W₁‖‖H₁‖ + O(t⁴) (μ = sqrt(λ_Wλ_H)), and the origin is a saddle iff
σ_max(G₀)/μ = 1/(Kβ) > 1; its numerical example (K = 4, n = 3: λ = 0.1 gives Kβ < 1, λ = 0.16
gives Kβ > 1); and the CE rows of the reference table b.8.

Source: theory.md b.2, b.8; Zhu et al. 2021 Thm 3.1 for CE.

Proof. Differentiate φ (symbolic K, β): φ' = (K−1)β − (1 − p) and φ'' = p(1 − p) = x/(1 + x)²
with x = (K−1)e^{−Δ} > 0. A strictly convex φ on Δ ≥ 0 has its minimiser at 0 iff φ'(0) ≥ 0,
i.e. Kβ ≥ 1; otherwise at the root of φ' = 0, which is p = 1 − (K−1)β, Δ* = log(1/β − (K−1)).
Substituting Δ* into φ and expanding the logarithms gives f*. The second-order check computes G₀
by sympy from the per-sample loss at z = 0 and σ_max(G₀) from the eigenvalues of G₀G₀ᵀ for
K = 2, …, 5, n = 1, 2, 3. The b.8 rows are exact closed forms at the printed rational λ's,
compared to their last printed digit. That φ(Δ*) is the global minimum of the full UFM is
proofs.global_min (and proofs.certificate).
"""

from __future__ import annotations

import sympy as sp

from proofs._common import centering, matches_printed, one_hot, per_sample_loss, require
from proofs.reduction import ce_bar
from proofs.reduction import norms as norms  # (‖w_k‖², ‖h_{k,i}‖²) of b.1

K = sp.Symbol("K", positive=True, integer=True)
beta, Delta = sp.symbols("beta Delta", positive=True)

#: b.8 rows (K, n, λ_W, λ_H) → (Δ*, p*, ‖w‖², ‖h‖², f*), as printed in theory.md.
REFERENCE_ROWS = {
    (4, 3, "5e-3", "5e-3"): (
        "4.7226869981", "0.9740192379", "6.1349503717", "2.0449834572", "0.149023231546",
    ),
    (10, 5, "5e-4", "5e-4"): (
        "6.7860702302", "0.9899376941", "13.6567029014", "2.7313405803", "0.078396787592",
    ),
    (3, 10, "1e-3", "2e-3"): (
        "5.4009046302", "0.9910557281", "16.1023865241", "0.8051193262", "0.057291671608",
    ),
}


def p_of(Delta, K=K):
    """Softmax probability of the true class at margin Δ."""
    return 1 / (1 + (K - 1) * sp.exp(-Delta))


def phi(Delta=Delta, K=K, beta=beta):
    """φ_CE(Δ) = ℓ̄_CE(Δ) + (K−1)βΔ."""
    return ce_bar(Delta, K) + (K - 1) * beta * Delta


def margin(K=K, beta=beta):
    """Δ*_CE = log(1/β − (K−1)) (collapse regime, Kβ < 1)."""
    return sp.log(1 / beta - (K - 1))


def p_star(K=K, beta=beta):
    """p* = 1 − (K−1)β."""
    return 1 - (K - 1) * beta


def objective(K=K, beta=beta):
    """f*_CE = −log p* + (K−1)βΔ*."""
    return -sp.log(p_star(K, beta)) + (K - 1) * beta * margin(K, beta)


def origin_gradient(Kv: int, nv: int) -> sp.Matrix:
    """G₀ = ∇_Z L at Z = 0 (K×N), from sympy derivatives of the per-sample CE loss at z = 0."""
    z = sp.symbols(f"z0:{Kv}", real=True)
    G = sp.zeros(Kv, Kv * nv)
    for i, y in enumerate(k for k in range(Kv) for _ in range(nv)):
        ell = per_sample_loss("ce", list(z), y)
        for k in range(Kv):
            G[k, i] = sp.diff(ell, z[k]).subs({zj: 0 for zj in z}) / (Kv * nv)
    return G


def check():
    p = p_of(Delta)
    d1, d2 = sp.diff(phi(), Delta), sp.diff(phi(), Delta, 2)
    require(sp.simplify(d1 - ((K - 1) * beta - (1 - p))) == 0, "φ' = (K−1)β − (1 − p)")
    # φ'' = p(1 − p) = x/(1 + x)² with x = (K−1)e^{−Δ} > 0: φ is strictly convex
    x = (K - 1) * sp.exp(-Delta)
    require(sp.simplify(d2 - p * (1 - p)) == 0, "φ'' = p(1 − p)")
    require(sp.simplify(p * (1 - p) - x / (1 + x) ** 2) == 0, "p(1 − p) = x/(1 + x)²")
    # threshold from the slope at 0 (a convex φ has a minimiser Δ* > 0 iff φ'(0) < 0)
    require(sp.simplify(d1.subs(Delta, 0) - (K - 1) * (beta - 1 / K)) == 0, "φ'(0)")
    # stationary point, probability and value
    D = margin()
    require(sp.simplify(d1.subs(Delta, D)) == 0, "φ'(Δ*) = 0")
    require(sp.simplify(p.subs(Delta, D) - p_star()) == 0, "p(Δ*) = 1 − (K−1)β")
    require(sp.simplify(sp.exp(D) - 1 - (1 - K * beta) / beta) == 0, "Δ* > 0 ⇔ Kβ < 1")
    # φ(Δ*) = f*: in the collapse regime p* = 1 − (K−1)β ∈ (1/K, 1), so write β through p* > 0
    P = sp.Symbol("p_star", positive=True)
    at_p = {beta: (1 - P) / (K - 1)}
    require(sp.simplify(sp.expand_log((phi(D) - objective()).subs(at_p))) == 0, "φ(Δ*) = f*")
    require(sp.simplify(sp.expand_log(phi(0) - sp.log(K), force=True)) == 0, "φ(0) = log K")
    # second-order check at W = H = 0: G₀ = −CY/N and σ_max(G₀)/μ = 1/(Kβ)
    lw, lh = sp.symbols("lambda_W lambda_H", positive=True)
    for Kv in (2, 3, 4, 5):
        for nv in (1, 2, 3):
            G0 = origin_gradient(Kv, nv)
            CY = centering(Kv) * one_hot(Kv, nv)
            require((G0 + CY / (Kv * nv)).is_zero_matrix, "G₀ = −CY/N", Kv, nv)
            sigma_max = sp.sqrt(max((G0 * G0.T).eigenvals()))
            ratio = sigma_max / sp.sqrt(lw * lh)
            require(sp.simplify(ratio - 1 / (Kv * sp.sqrt(nv * lw * lh))) == 0, "σ_max/μ = 1/(Kβ)",
                    Kv, nv)
    # b.2 numerical example: K = 4, n = 3
    b_low, b_high = sp.sqrt(3 * sp.Rational(1, 10) ** 2), sp.sqrt(3 * sp.Rational(16, 100) ** 2)
    require(4 * b_low < 1 < 4 * b_high, "b.2 example: Kβ = 0.69 and 1.11")
    # b.8 CE rows
    for (Kv, nv, lw, lh), printed in REFERENCE_ROWS.items():
        lw, lh = sp.Rational(lw), sp.Rational(lh)
        b = sp.sqrt(nv * lw * lh)
        D = margin(Kv, b)
        exact = (D, p_star(Kv, b), *norms(D, Kv, nv, lw, lh), objective(Kv, b))
        for value, text in zip(exact, printed, strict=True):
            require(matches_printed(value, text), "b.8 CE row", Kv, nv, text, sp.N(value, 15))


if __name__ == "__main__":
    check()
    print("ce: ok")
