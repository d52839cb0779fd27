"""Focal loss: the stationarity equation of the reduced objective (theory.md b.5).

Statement. With p = p(Δ) = 1/(1 + (K−1)e^{−Δ}) and φ_FL(Δ) = (1−p)^γ(−log p) + (K−1)βΔ,

    φ_FL'(Δ) = (K−1)β − g_γ(p),   g_γ(p) := (1−p)^γ [(1−p) − γ p log p],

so the stationary points solve g_γ(p) = (K−1)β, and Δ = log((K−1)p/(1−p)) inverts p(Δ).
γ = 0 gives back CE (g_0(p) = 1 − p). At Δ = 0 (p = 1/K):
g_γ(1/K) = ((K−1)/K)^γ ((K−1)/K + γ log(K)/K), the threshold of b.5 (when g_γ decreases on
(1/K, 1)). Also: the FL rows of the reference table b.8, recomputed from this equation.

Source: theory.md b.5 (nc_loss focal_loss.py for the loss), b.8.

Proof. Chain rule through p with dp/dΔ = p(1−p), for symbolic K, γ, β.

Finding (see proofs/README.md): the FL rows of theory.md b.8 print Δ*, p*, ‖w‖², ‖h‖² to 10
decimals, but only about 8 are right (e.g. γ = 1: Δ* = 3.1321001340, not 3.1321001227); f* is
right to all 12 printed decimals (φ is flat at its minimum). The check below therefore compares
f* to the printed precision and the other four to the precision they actually have (2e-8).
"""

from __future__ import annotations

import mpmath
import sympy as sp

from proofs import ce
from proofs._common import matches_printed

K = sp.Symbol("K", positive=True, integer=True)
beta, Delta, gamma = sp.symbols("beta Delta gamma", positive=True)
p = sp.Symbol("p", positive=True)

#: b.8 FL rows (K, n, λ_W, λ_H, γ) → (Δ*, p*, ‖w‖², ‖h‖², f*), as printed in theory.md.
REFERENCE_ROWS = {
    (4, 3, "5e-3", "5e-3", 1): (
        "3.1321001227", "0.8842684936", "4.0687174102", "1.3562391367", "0.095608691211",
    ),
    (4, 3, "5e-3", "5e-3", 3): (
        "1.9778719146", "0.7066687739", "2.5693309852", "0.8564436617", "0.060149484802",
    ),
}
PRINTED_ACCURACY = sp.Rational(2, 10**8)  # what the four non-f* columns of the FL rows achieve


def g(p=p, gamma=gamma):
    """g_γ(p) = (1−p)^γ[(1−p) − γ p log p]."""
    return (1 - p) ** gamma * ((1 - p) - gamma * p * sp.log(p))


def phi(Delta=Delta, K=K, beta=beta, gamma=gamma):
    """φ_FL(Δ) = (1 − p(Δ))^γ ℓ̄_CE(Δ) + (K−1)βΔ, using ℓ̄_CE = −log p."""
    P = ce.p_of(Delta, K)
    return (1 - P) ** gamma * (-sp.log(P)) + (K - 1) * beta * Delta


def margin_of_p(p=p, K=K):
    """Δ = log((K−1)p/(1−p)), the inverse of p(Δ)."""
    return sp.log((K - 1) * p / (1 - p))


def solve_p(Kv, beta_v, gamma_v, digits=40):
    """The root p* ∈ (1/K, 1) of g_γ(p) = (K−1)β to ``digits`` digits (bracketed mpmath solver)."""
    f = sp.lambdify(p, g(p, gamma_v) - (Kv - 1) * beta_v, "mpmath")
    with mpmath.workdps(digits + 10):
        return sp.Float(mpmath.findroot(f, (mpmath.mpf(1) / Kv, 1 - mpmath.mpf(10) ** -20),
                                        solver="anderson"), digits)


def check():
    # the chain rule: d/dΔ [(1−p)^γ(−log p)] = (d/dp …)·p(1−p) = −g_γ(p)
    P = ce.p_of(Delta, K)
    assert sp.simplify(sp.diff(P, Delta) - P * (1 - P)) == 0
    dl_dp = sp.diff((1 - p) ** gamma * (-sp.log(p)), p)
    assert sp.simplify(dl_dp * p * (1 - p) + g()) == 0
    # hence φ'(Δ) = (K−1)β − g_γ(p(Δ)), checked directly as well
    assert sp.simplify(sp.diff(phi(), Delta) - ((K - 1) * beta - g(P))) == 0
    # Δ(p) inverts p(Δ)
    assert sp.simplify(ce.p_of(margin_of_p(), K) - p) == 0
    # γ = 0 is CE
    assert sp.simplify(g(p, 0) - (1 - p)) == 0
    # threshold value at Δ = 0
    g0 = g(1 / K)
    claimed = ((K - 1) / K) ** gamma * ((K - 1) / K + gamma * sp.log(K) / K)
    assert sp.simplify(sp.expand_log(g0 - claimed, force=True)) == 0
    # b.8 FL rows, from the root of g_γ(p) = (K−1)β
    for (Kv, nv, lw, lh, gv), printed in REFERENCE_ROWS.items():
        lw, lh = sp.Rational(lw), sp.Rational(lh)
        b = sp.sqrt(nv * lw * lh)
        ps = solve_p(Kv, b, gv)
        D = margin_of_p(ps, Kv)
        f_star = phi(D, Kv, b, gv)
        assert abs(sp.N(sp.diff(phi(Delta, Kv, b, gv), Delta).subs(Delta, D), 40)) < 1e-35
        assert matches_printed(f_star, printed[4])
        for value, text in zip((D, ps, *ce.norms(D, Kv, nv, lw, lh)), printed[:4], strict=True):
            quoted = sp.Rational(text)
            assert abs(sp.N(value, 30) - quoted) <= PRINTED_ACCURACY * abs(quoted)


if __name__ == "__main__":
    check()
    print("focal: ok")
