"""Nonnegative features: β → β₊ = β·sqrt(K/(K−1)) (theory.md b.7).

Statement. Minimise the UFM subject to H ≥ 0 (d ≥ K) with CE or LS. On the ansatz
h_{k,i} = t·e_k (orthogonal frame) and w_j = ω(e_j − (1/K)Σ_l e_l) (centred simplex ETF):

  * logits are Δ(e_k − 1/K·1) with Δ = ωt;
  * the regulariser (λ_W/2)(K−1)ω² + (λ_H/2)nK t² is minimised at fixed Δ with value
    sqrt(K(K−1))·βΔ = (K−1)β₊Δ, so every b.2/b.3 formula holds with β₊, e.g.
    Δ*_CE = log(1/β₊ − (K−1));
  * ‖h_k‖² = Δ sqrt((K−1)λ_W/(Knλ_H)),  ‖w_j‖² = ((K−1)/K)Δ sqrt(Knλ_H/((K−1)λ_W));
  * the constructed point satisfies the KKT conditions of the constrained UFM exactly:
    ∇_W f = 0, ∇_b f = 0, ∂f/∂H_{jk} = 0 where H_{jk} > 0 and ∂f/∂H_{jk} ≥ 0 where H_{jk} = 0.
Also the reference values of b.8 ("positive-feature CE f* = 0.16770054, LS 0.45128650").
That φ₊(Δ*) is the global minimum of the H ≥ 0 problem for every K (d ≥ K) is proofs.global_min;
that every minimiser has this structure is not proved.

Source: theory.md b.7 (the positive layer-peeled model of Memorization-Dilation), b.8.

Proof. The split is a 1-D minimisation (symbolic K, n, λ's). KKT: sympy differentiates the full
UFM objective for K = 3, d = 4, n = 2 at the point, with λ_W, Δ, α and g := β₊ symbolic (λ_H is
set so that β₊ = g), the off-class probability q = g (CE) or g + α/K (LS), p = 1 − (K−1)q and
e^{−Δ} = q/p (one case: KKT is a necessary condition; sufficiency is proofs.global_min).
"""

from __future__ import annotations

import sympy as sp

from proofs import ce, ls
from proofs._common import (
    gradient_at,
    labels,
    matches_printed,
    one_hot,
    parameter_symbols,
    require,
    same,
    ufm_objective,
)

k, n = sp.symbols("k n", positive=True, integer=True)
K = k + 1  # K ≥ 2 classes, so K − 1 = k > 0
lam_w, lam_h, lam_b = sp.symbols("lambda_W lambda_H lambda_b", positive=True)
omega, t, Delta, g, alpha = sp.symbols("omega t Delta g alpha", positive=True)
beta = sp.sqrt(n * lam_w * lam_h)


def beta_plus(beta=beta, K=K):
    """β₊ = β·sqrt(K/(K−1))."""
    return beta * sp.sqrt(sp.sympify(K) / (K - 1))


def norms(Delta=Delta, K=K, n=n, lam_w=lam_w, lam_h=lam_h):
    """(‖w_j‖², ‖h_k‖²) of theory.md b.7 at margin Δ."""
    w2 = (K - 1) / sp.sympify(K) * Delta * sp.sqrt(K * n * lam_h / ((K - 1) * lam_w))
    h2 = Delta * sp.sqrt((K - 1) * lam_w / (K * n * lam_h))
    return w2, h2


def split():
    """Minimise (λ_W/2)(K−1)ω² + (λ_H/2)nK t² at ωt = Δ: returns (ω*, t*, value)."""
    R = lam_w * (K - 1) * omega**2 / 2 + lam_h * n * K * (Delta / omega) ** 2 / 2
    sols = [w for w in sp.solve(sp.diff(R, omega), omega) if w.is_positive]
    (w_star,) = sols
    return w_star, Delta / w_star, sp.simplify(R.subs(omega, w_star))


def kkt_gradient(loss, Kv=3, d=4, nv=2):
    """Gradient of the UFM at the b.7 point and the entries of H that are zero there."""
    q = g + (alpha / Kv if loss == "ls" else 0)  # off-class softmax probability
    p = 1 - (Kv - 1) * q
    lh = g**2 * (Kv - 1) / (nv * Kv * lam_w)  # makes β₊ = g
    om, tt = sp.sqrt(Delta * g / lam_w), sp.sqrt(Delta * lam_w / g)  # ω t = Δ, λ_W ω = g t
    W_pt = sp.zeros(Kv, d)
    W_pt[:, :Kv] = om * (sp.eye(Kv) - sp.ones(Kv, Kv) / Kv)
    H_pt = sp.zeros(d, Kv * nv)
    H_pt[:Kv, :] = tt * one_hot(Kv, nv)
    W, H, b = parameter_symbols(Kv, d, Kv * nv)
    f = ufm_objective(W, H, b, labels(Kv, nv), loss, lam_w=lam_w, lam_h=lh, lam_b=lam_b,
                      alpha=alpha)
    point = {**dict(zip(W, W_pt, strict=True)), **dict(zip(H, H_pt, strict=True)),
             **dict(zip(b, [0] * Kv, strict=True))}
    grads = gradient_at(f, list(W) + list(H) + list(b), point, after={sp.exp(-Delta): q / p})
    nW, nH = Kv * d, d * Kv * nv
    return grads[:nW], grads[nW : nW + nH], grads[nW + nH :], list(H_pt), om / (nv * Kv) * g


def check():
    w_star, t_star, value = split()
    require(same(value, (K - 1) * beta_plus() * Delta), "split cost (K−1)β₊Δ")
    require(same(value, sp.sqrt(K * (K - 1)) * beta * Delta), "split cost sqrt(K(K−1))βΔ")
    w2, h2 = norms()
    require(same(t_star**2, h2), "‖h_k‖²")
    require(same((K - 1) / K * w_star**2, w2), "‖w_j‖²")  # ‖ω(e_j − 1/K 1)‖² = ω²(K−1)/K
    # logits: w_jᵀh_k = ωt(δ_jk − 1/K)
    Kv = 4
    Wm = omega * (sp.eye(Kv) - sp.ones(Kv, Kv) / Kv)
    require(Wm * (t * sp.eye(Kv)) == omega * t * (sp.eye(Kv) - sp.ones(Kv, Kv) / Kv), "logits")
    # KKT at the constructed point
    for loss in ("ce", "ls"):
        gW, gH, gb, H_pt, off = kkt_gradient(loss)  # d = 4 > K: H has zero rows beyond the frame
        require(all(x == 0 for x in gW + gb), "∇_W f = ∇_b f = 0", loss)
        for h, gh in zip(H_pt, gH, strict=True):
            if h != 0:
                require(gh == 0, "∂f/∂H = 0 where H > 0", loss)
            else:
                require(gh == 0 or sp.simplify(gh - off) == 0, "∂f/∂H ≥ 0 where H = 0", loss)
        require(off.is_positive, "the active multiplier is positive", loss)
        require(any(sp.simplify(gh - off) == 0 for gh in gH), "some constraint is active", loss)
    # b.8: positive-feature CE and LS, K = 4, n = 3, λ = 5e-3
    lam = sp.Rational(5, 1000)
    bp = beta_plus(sp.sqrt(3 * lam * lam), 4)
    require(matches_printed(ce.objective(4, bp), "0.16770054"), "b.8 positive-feature CE")
    require(matches_printed(ls.objective(4, bp, sp.Rational(1, 10)), "0.45128650"),
            "b.8 positive-feature LS")


if __name__ == "__main__":
    check()
    print("nonnegative: ok")
