"""Label smoothing is cross-entropy with β → β + α/K (theory.md a.2, b.3).

Statement.
(i) With targets s = (1−α)e_y + (α/K)1, ℓ_LS = −Σ_k s_k log p_k equals ℓ_CE + α(z_y − mean_k z_k)
    for every logit vector z (MaxSup paper Thm 3.3).
(ii) At the NC ansatz ℓ̄_LS(Δ) = ℓ̄_CE(Δ) + α(K−1)Δ/K, so φ_LS(Δ) = φ_CE(Δ) with β replaced by
    β_eff = β + α/K. Hence: nonzero minimiser ⇔ Kβ + α < 1; p* = 1 − (K−1)β_eff;
    Δ*_LS = log(1/β_eff − (K−1)); f*_LS(β, α) = f*_CE(β_eff).
(iii) As β → 0, Δ*_LS → log((K(1−α) + α)/α) = log(s_y/s_other); and Δ*_LS < Δ*_CE for α > 0.
Plus the LS rows of the reference table b.8.

Source: theory.md a.2 (LS identity; nc_loss label_smoothing_loss.py; MaxSup Thm 3.3) and b.3.

Proof. (i) is checked for K = 2, …, 6 with symbolic logits and α (log p_k = z_k − logsumexp z).
(ii) ℓ̄_LS − ℓ̄_CE = α(K−1)Δ/K is linear in Δ, so it moves into the penalty: (K−1)βΔ + α(K−1)Δ/K
= (K−1)(β + α/K)Δ; then every step of proofs.ce applies with β_eff (stationarity, p*, the value
φ_LS(Δ*) = f*_CE(β_eff), checked with symbolic K, β, α). (iii) Δ*_LS at β = 0, and the difference
of the arguments of the logarithms, exactly.
"""

from __future__ import annotations

import sympy as sp

from proofs import ce
from proofs._common import matches_printed, require
from proofs.reduction import loss_bar

K = sp.Symbol("K", positive=True, integer=True)
beta, Delta, alpha = sp.symbols("beta Delta alpha", positive=True)

#: b.8 LS rows (K, n, λ_W, λ_H, α) → (Δ*, p*, ‖w‖², ‖h‖², f*), as printed in theory.md.
REFERENCE_ROWS = {
    (4, 3, "5e-3", "5e-3", "0.1"): (
        "3.2849866975", "0.8990192379", "4.2673228967", "1.4224409656", "0.438171305784",
    ),
    (10, 5, "5e-4", "5e-4", "0.1"): (
        "4.3937570585", "0.8999376941", "8.8422655135", "1.7684531027", "0.545079209666",
    ),
    (3, 10, "1e-3", "2e-3", "0.1"): (
        "3.1966792628", "0.9243890614", "9.5306561786", "0.4765328089", "0.320326153208",
    ),
}


def beta_eff(beta=beta, alpha=alpha, K=K):
    """β_eff = β + α/K."""
    return beta + alpha / K


def margin(K=K, beta=beta, alpha=alpha):
    """Δ*_LS = log(1/(β + α/K) − (K−1))."""
    return ce.margin(K, beta_eff(beta, alpha, K))


def p_star(K=K, beta=beta, alpha=alpha):
    """p*_LS = 1 − (K−1)(β + α/K)."""
    return ce.p_star(K, beta_eff(beta, alpha, K))


def objective(K=K, beta=beta, alpha=alpha):
    """f*_LS(β, α) = f*_CE(β + α/K)."""
    return ce.objective(K, beta_eff(beta, alpha, K))


def ls_identity_gap(Kv: int):
    """−Σ s_k log p_k − [ℓ_CE + α(z_y − mean z)] for K = Kv symbolic logits (label y = 0)."""
    z = sp.symbols(f"z0:{Kv}", real=True)
    lse = sp.log(sum(sp.exp(zk) for zk in z))
    total = sum(sp.exp(zj) for zj in z)
    log_p = [sp.expand_log(sp.log(sp.exp(zk) / total), force=True) for zk in z]
    s = [(1 - alpha) * int(k == 0) + alpha / Kv for k in range(Kv)]
    ls = -sum(sk * lp for sk, lp in zip(s, log_p, strict=True))
    return ls - (lse - z[0] + alpha * (z[0] - sum(z) / Kv))


def check():
    for Kv in range(2, 7):
        require(sp.simplify(ls_identity_gap(Kv)) == 0, "ℓ_LS = ℓ_CE + α(z_y − mean z)", Kv)
    # φ_LS(Δ) = φ_CE(Δ; β + α/K)
    phi_ls = loss_bar("ls", Delta, K, alpha=alpha) + (K - 1) * beta * Delta
    require(sp.simplify(phi_ls - ce.phi(Delta, K, beta_eff())) == 0, "φ_LS = φ_CE(β + α/K)")
    # so b.2 applies with β_eff: threshold K·β_eff = Kβ + α
    require(sp.expand(K * beta_eff() - (K * beta + alpha)) == 0, "K·β_eff = Kβ + α")
    require(sp.simplify(sp.diff(phi_ls, Delta).subs(Delta, margin())) == 0, "φ_LS'(Δ*) = 0")
    require(sp.simplify(ce.p_of(margin(), K) - p_star()) == 0, "p*_LS")
    P = sp.Symbol("p_star", positive=True)  # collapse regime: p* = 1 − (K−1)β_eff > 0
    at_p = {beta: (1 - P) / (K - 1) - alpha / K}
    gap = (phi_ls.subs(Delta, margin()) - objective()).subs(at_p)
    require(sp.simplify(sp.expand_log(gap)) == 0, "φ_LS(Δ*_LS) = f*_LS")
    # limit λ → 0: Δ*_LS → log(s_y / s_other)
    s_y, s_other = 1 - alpha + alpha / K, alpha / K
    require(sp.simplify(sp.exp(margin()).subs(beta, 0) - s_y / s_other) == 0, "λ → 0 limit")
    require(sp.simplify(s_y / s_other - (K * (1 - alpha) + alpha) / alpha) == 0, "s_y/s_other")
    # Δ*_LS < Δ*_CE: the arguments of log differ by −(α/K)/(β(β + α/K)) < 0
    gap = sp.exp(margin()) - sp.exp(ce.margin(K, beta))
    require(sp.simplify(gap + (alpha / K) / (beta * beta_eff())) == 0, "Δ*_LS < Δ*_CE")
    # b.8 LS rows
    for (Kv, nv, lw, lh, a), printed in REFERENCE_ROWS.items():
        lw, lh, a = sp.Rational(lw), sp.Rational(lh), sp.Rational(a)
        b = sp.sqrt(nv * lw * lh)
        D = margin(Kv, b, a)
        exact = (D, p_star(Kv, b, a), *ce.norms(D, Kv, nv, lw, lh), objective(Kv, b, a))
        for value, text in zip(exact, printed, strict=True):
            require(matches_printed(value, text), "b.8 LS row", Kv, nv, text, sp.N(value, 15))


if __name__ == "__main__":
    check()
    print("ls: ok")
