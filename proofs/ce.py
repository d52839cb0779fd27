"""Cross-entropy closed form (theory.md b.2).

Statement. For φ(Δ) = log(1 + (K−1)e^{−Δ}) + (K−1)βΔ on Δ ≥ 0, with p(Δ) = 1/(1 + (K−1)e^{−Δ}):

    φ'(Δ) = (K−1)β − (1 − p(Δ)),   φ''(Δ) = p(1 − p) > 0   (φ is strictly convex);
    φ'(0) = (K−1)(β − 1/K), so a nonzero minimiser exists  ⇔  Kβ < 1;
    then p* = 1 − (K−1)β,  Δ* = log(1/β − (K−1)),  f* = −log p* + (K−1)βΔ*;
    otherwise Δ* = 0 and f* = φ(0) = log K.

Also the "second-order check" of b.2 (σ_max(CY) = sqrt(n), so the slope of the loss at W = H = 0
is 1/(K sqrt n) against the penalty sqrt(λ_Wλ_H)), its numerical example (K = 4, n = 3: λ = 0.1
gives Kβ < 1, λ = 0.16 gives Kβ > 1) and the CE rows of the reference table b.8.

Source: theory.md b.2, b.8; Zhu et al. 2021 Thm 3.1 for CE.
"""

from __future__ import annotations

import sympy as sp

from proofs._common import centering, matches_printed, one_hot
from proofs.reduction import ce_bar

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


def norms(Delta, K, n, lam_w, lam_h):
    """(‖w_k‖², ‖h_{k,i}‖²) of theory.md b.1 at margin Δ."""
    frac = (K - 1) / sp.sympify(K)
    w2 = frac * sp.sqrt(n * lam_h / lam_w) * Delta
    h2 = frac * sp.sqrt(lam_w / (n * lam_h)) * Delta
    return w2, h2


def check():
    p = p_of(Delta)
    d1, d2 = sp.diff(phi(), Delta), sp.diff(phi(), Delta, 2)
    assert sp.simplify(d1 - ((K - 1) * beta - (1 - p))) == 0
    # φ'' = p(1 − p) = x/(1 + x)² with x = (K−1)e^{−Δ} > 0: φ is strictly convex
    x = (K - 1) * sp.exp(-Delta)
    assert sp.simplify(d2 - p * (1 - p)) == 0
    assert sp.simplify(p * (1 - p) - x / (1 + x) ** 2) == 0
    # threshold from the slope at 0 (a convex φ has a minimiser Δ* > 0 iff φ'(0) < 0)
    assert sp.simplify(d1.subs(Delta, 0) - (K - 1) * (beta - 1 / K)) == 0
    # stationary point, probability and value
    D = margin()
    assert sp.simplify(d1.subs(Delta, D)) == 0
    assert sp.simplify(p.subs(Delta, D) - p_star()) == 0
    assert sp.simplify(sp.exp(D) - 1 - (1 - K * beta) / beta) == 0  # Δ* > 0 ⇔ Kβ < 1
    # φ(Δ*) = log(1 + (K−1)e^{−Δ*}) + (K−1)βΔ* and 1 + (K−1)e^{−Δ*} = 1/p*, so φ(Δ*) = f*
    assert sp.simplify(1 + (K - 1) * sp.exp(-D) - 1 / p_star()) == 0
    rest = phi(D) - sp.log(1 + (K - 1) * sp.exp(-D)) - (objective() + sp.log(p_star()))
    assert sp.simplify(rest) == 0
    assert sp.simplify(sp.expand_log(phi(0) - sp.log(K), force=True)) == 0  # zero regime: log K
    # second-order check at W = H = 0: (CY)(CY)ᵀ = nC, so σ_max(CY) = sqrt(n); the loss decreases
    # at slope σ_max(CY)/N = 1/(K sqrt n) along the best rank-one WH, against the penalty
    # sqrt(λ_Wλ_H)‖W‖‖H‖: the ratio slope/sqrt(λ_Wλ_H) is exactly 1/(Kβ)
    lw, lh = sp.symbols("lambda_W lambda_H", positive=True)
    for Kv in (3, 4, 5):
        for nv in (1, 2, 3):
            CY = centering(Kv) * one_hot(Kv, nv)
            assert CY * CY.T == nv * centering(Kv)
            slope = sp.sqrt(nv) / (nv * Kv)
            assert sp.simplify(slope / sp.sqrt(lw * lh) - 1 / (Kv * sp.sqrt(nv * lw * lh))) == 0
    # b.2 numerical example: K = 4, n = 3
    assert 4 * sp.sqrt(3 * sp.Rational(1, 10) ** 2) < 1 < 4 * sp.sqrt(3 * sp.Rational(16, 100) ** 2)
    # b.8 CE rows
    for (Kv, nv, lw, lh), printed in REFERENCE_ROWS.items():
        lw, lh = sp.Rational(lw), sp.Rational(lh)
        b = sp.sqrt(nv * lw * lh)
        D = margin(Kv, b)
        exact = (D, p_star(Kv, b), *norms(D, Kv, nv, lw, lh), objective(Kv, b))
        for value, text in zip(exact, printed, strict=True):
            assert matches_printed(value, text), (Kv, nv, text, sp.N(value, 15))


if __name__ == "__main__":
    check()
    print("ce: ok")
