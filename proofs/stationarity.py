"""The constructed minimiser (W*, H*, b*) is a critical point of the full UFM (theory.md b.1–b.6).

Statement. Let R be a K×d matrix with R Rᵀ = M (the class-logit matrix of theory.md b), κ⁴ =
nλ_H/λ_W, W* = κR and H* = κ⁻¹RᵀY (so h_{k,i} = sqrt(λ_W/(nλ_H)) w_k). Then ∇f(W*, H*, b*) = 0
exactly, for
  * CE, LS, MaxSup, FL: M = Δ*·C with Δ* = log((K−1)p*/(1−p*)), where p* solves the loss's
    stationarity equation: CE 1 − p = (K−1)β (b.2); LS/MaxSup 1 − p = (K−1)(β + α/K) (b.3, b.4);
    FL g_γ(p) = (K−1)β (b.5); b* = 0 (and with λ_b = 0 any b* = b₀·1);
  * MSE (general c_m), the three cases of b.6: M = Δ*C, b* = s/K (λ_b = 0); M = Δ*I, no bias;
    M = Δ*C + μ*J, b* = b*·1 (λ_b > 0, mean part on); and M = Δ*C, b* = c_m(s/K)/(c_m + λ_b)
    (λ_b > 0, mean part off, μ* = 0). Where M has rank K − 1 (case 1, case 3 with μ* = 0) the
    point exists and is critical for d = K − 1, not only d ≥ K.
At the softmax minimisers the loss-gradient matrix is G = [∇_z ℓ(z_i, y_i)]_i = −Kβ·C·Y, the same
for every loss (b.1).

Source: theory.md b.1 ("Stationarity", "Minimizer structure"), b.2–b.6.

Proof. sympy differentiates the UFM objective, written out entry by entry, with respect to every
entry of W, H, b and evaluates at the point, for K = 3 (d = 2 with radicals, d = 3) and K = 4
(d = 3, the tetrahedron); MSE for K = 3 (d = 2, 3, n = 2) and K = 4 (d = 3, 5, n = 1), the
factorisation of proofs.mse. Everything is symbolic: β, κ, λ_b, Δ, α, γ, s, c_m (FL: p symbolic and
β := g_γ(p)/(K−1)); λ_H = κ²β/n and λ_W = β/κ² realise the given β and κ. At the softmax point
e^{−Δ} = (1 − p)/((K−1)p) is substituted; every other occurrence of Δ stays symbolic, so the
gradient vanishes for the exact Δ*. (Stationarity is necessary, not sufficient: global optimality
is proofs.global_min and proofs.certificate for the softmax losses, proofs.mse for MSE.)
"""

from __future__ import annotations

import sympy as sp

from proofs import mse
from proofs._common import (
    balanced_point,
    centering,
    etf_factor,
    gradient_at,
    labels,
    one_hot,
    parameter_symbols,
    per_sample_loss,
    require,
    ufm_objective,
)

beta, kappa, lam_b = sp.symbols("beta kappa lambda_b", positive=True)
Delta, alpha, gamma = sp.symbols("Delta alpha gamma", positive=True)
p = sp.Symbol("p", positive=True)
b0, s, c_m = sp.symbols("b_0 s c_m", positive=True)


def softmax_point(loss, Kv, d, nv):
    """(p*, β, loss parameters) parametrising the softmax minimiser of theory.md b.2–b.5."""
    if loss == "fl":
        g = (1 - p) ** gamma * ((1 - p) - gamma * p * sp.log(p))
        return p, g / (Kv - 1), {"gamma": gamma}
    shift = alpha / Kv if loss in ("ls", "maxsup") else 0
    return 1 - (Kv - 1) * (beta + shift), beta, {"alpha": alpha} if shift else {}


def softmax_gradient(loss, Kv, d, nv, lam_b_value=lam_b):
    """∇f at the softmax minimiser (b₀·1 bias when λ_b = 0, else b = 0), plus G at the point."""
    p_star, b_val, params = softmax_point(loss, Kv, d, nv)
    lam_h, lam_w = kappa**2 * b_val / nv, b_val / kappa**2
    W_pt, H_pt = balanced_point(sp.sqrt(Delta) * etf_factor(Kv, d), nv, kappa)
    b_pt = (b0 if lam_b_value == 0 else 0) * sp.ones(Kv, 1)
    W, H, b = parameter_symbols(Kv, d, Kv * nv)
    ys = labels(Kv, nv)
    f = ufm_objective(W, H, b, ys, loss, lam_w=lam_w, lam_h=lam_h, lam_b=lam_b_value, **params)
    point = {**dict(zip(W, W_pt, strict=True)), **dict(zip(H, H_pt, strict=True)),
             **dict(zip(b, b_pt, strict=True))}
    e_minus_delta = {sp.exp(-Delta): (1 - p_star) / ((Kv - 1) * p_star)}
    grad = gradient_at(f, list(W) + list(H) + list(b), point, after=e_minus_delta)
    # the loss-gradient matrix G at the logits Z* = Δ* C Y + b₀ 1ᵀ
    z = sp.symbols(f"z0:{Kv}", real=True)
    Zs = W_pt * H_pt + b_pt * sp.ones(1, Kv * nv)
    G = sp.zeros(Kv, Kv * nv)
    for i, y in enumerate(ys):
        ell = per_sample_loss(loss, list(z), y, **params)
        at = dict(zip(z, Zs[:, i], strict=True))
        for k in range(Kv):
            G[k, i] = sp.cancel(sp.expand(sp.diff(ell, z[k]).xreplace(at).subs(e_minus_delta)))
    return grad, G, b_val


def mse_gradient(case, Kv, d, nv, mean_on=True):
    """∇f at the MSE minimiser of theory.md b.6 (symbolic s, β, κ, c_m, λ_b)."""
    W_pt, H_pt, b_pt = mse.factor_point(case, Kv, d, nv, kappa, mean_on)
    W, H, b = parameter_symbols(Kv, d, Kv * nv, bias=b_pt is not None)
    f = ufm_objective(W, H, b, labels(Kv, nv), "mse", lam_w=beta / kappa**2,
                      lam_h=kappa**2 * beta / nv, lam_b=lam_b if case == 3 else 0, s=s, c_m=c_m)
    point = {**dict(zip(W, W_pt, strict=True)), **dict(zip(H, H_pt, strict=True))}
    variables = list(W) + list(H)
    if b_pt is not None:
        point.update(dict(zip(b, b_pt, strict=True)))
        variables += list(b)
    return gradient_at(f, variables, point)


def check():
    for loss, Kv, d, nv in (
        ("ce", 3, 3, 2),
        ("ce", 3, 2, 1),
        ("ce", 4, 3, 1),
        ("ls", 3, 3, 1),
        ("maxsup", 3, 3, 1),
        ("fl", 3, 3, 1),
    ):
        grad, G, b_val = softmax_gradient(loss, Kv, d, nv)
        require(all(x == 0 for x in grad), "∇f = 0", loss, Kv, d, nv)
        G_claim = -Kv * b_val * centering(Kv) * one_hot(Kv, nv)  # G = −Kβ·CY (b.1)
        require(all(sp.simplify(g - c) == 0 for g, c in zip(G, G_claim, strict=True)),
                "G = −Kβ·CY", loss, Kv, d, nv)
    grad, _, _ = softmax_gradient("ls", 3, 3, 1, lam_b_value=0)  # λ_b = 0: b* = b₀·1 for any b₀
    require(all(x == 0 for x in grad), "∇f = 0 with a free bias shift")
    for case, Kv, d, nv, on in (
        (1, 3, 3, 2, True), (2, 3, 3, 2, True), (3, 3, 3, 2, True), (3, 4, 5, 1, True),
        (1, 3, 2, 2, True), (3, 3, 2, 2, False), (1, 4, 3, 1, True), (3, 4, 3, 1, False),
    ):
        require(all(x == 0 for x in mse_gradient(case, Kv, d, nv, on)), "MSE ∇f = 0", case, Kv, d)


if __name__ == "__main__":
    check()
    print("stationarity: ok")
