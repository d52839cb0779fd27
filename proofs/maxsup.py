"""MaxSup has the same UFM global minimisers as label smoothing (theory.md b.4).

Statement. With ℓ_MS = ℓ_CE + α(max_k z_k − mean z) (MaxSup Def. 3.5) and ℓ_LS = ℓ_CE +
α(z_y − mean z) (theory.md a.2), for α ≥ 0:

    ℓ_MS(z, y) − ℓ_LS(z, y) = α(max_k z_k − z_y) ≥ 0   for every z,

with equality exactly when the prediction is correct (z_y = max_k z_k). On the open set where y
is the strict argmax, ℓ_MS = ℓ_LS identically, so their gradients and Hessians agree there. The NC
logits Δ(e_y − 1/K·1) with Δ > 0 lie in that set, and z = 0 (zero regime) has equality. Hence
f_MS ≥ f_LS ≥ min f_LS with equality at every LS global minimiser: same minimisers and minimum
value, and the same Hessian at the ETF minimiser.

Source: theory.md a.2 (MaxSup Def. 3.5, eq. 8) and b.4.

Proof. For K = 2, …, 5 and every possible argmax j: write z_k = z_j − t_k with t_k ≥ 0 (every z
has this form for some j), so max z = z_j and the difference is α·t_y (zero when j = y).
"""

from __future__ import annotations

import sympy as sp

from proofs._common import per_sample_loss, require

alpha = sp.Symbol("alpha", nonnegative=True)
Delta = sp.Symbol("Delta", positive=True)


def difference(Kv: int, y: int, z):
    """ℓ_MS(z, y) − ℓ_LS(z, y)."""
    return per_sample_loss("maxsup", z, y, alpha=alpha) - per_sample_loss("ls", z, y, alpha=alpha)


def argmax_chart(Kv: int, j: int, strict: bool = False):
    """Logits with argmax j: z_j free, z_k = z_j − t_k with t_k ≥ 0 (> 0 if strict)."""
    zj = sp.Symbol("z_j", real=True)
    sign = {"positive": True} if strict else {"nonnegative": True}
    t = sp.symbols(f"t0:{Kv}", **sign)
    return [zj if k == j else zj - t[k] for k in range(Kv)], t


def check():
    for Kv in range(2, 6):
        y = 0
        for j in range(Kv):
            z, t = argmax_chart(Kv, j)
            require(sp.Max(*z) == z[j], "max z = z_j on the chart", Kv, j)
            gap = sp.simplify(difference(Kv, y, z))
            expected = 0 if j == y else alpha * t[y]  # = α(max z − z_y) ≥ 0
            require(sp.simplify(gap - expected) == 0, "ℓ_MS − ℓ_LS = α(max z − z_y)", Kv, j)
            require(gap.is_nonnegative, "ℓ_MS ≥ ℓ_LS", Kv, j)
        # strict argmax y: ℓ_MS ≡ ℓ_LS on an open set, so all derivatives agree there
        z, _ = argmax_chart(Kv, y, strict=True)
        require(sp.simplify(difference(Kv, y, z)) == 0, "ℓ_MS = ℓ_LS where y is the argmax", Kv)
        # NC logits Δ(e_y − 1/K), Δ > 0, and the zero-regime logits z = 0
        nc = [Delta * (int(k == y) - sp.Rational(1, Kv)) for k in range(Kv)]
        require(sp.simplify(difference(Kv, y, nc)) == 0, "equal at the NC logits", Kv)
        require(sp.simplify(difference(Kv, y, [sp.Integer(0)] * Kv)) == 0, "equal at z = 0", Kv)


if __name__ == "__main__":
    check()
    print("maxsup: ok")
