"""What the theory predicts: closed-form global minimisers of the UFM (theory.md b.1–b.7).

For a balanced problem (n samples per class, β = sqrt(n λ_W λ_H), theory.md 0) every covered case
has a global minimiser whose logits are class-constant: the logit vector of any class-k sample is
column k of a K×K symmetric PSD matrix M (the *class-logit matrix*), plus the bias b*·1:

* CE, LS, MaxSup, FL (theory.md b.1–b.5): M = Δ*·C, C = I − J/K, with Δ* the global minimiser
  on Δ ≥ 0 of the 1-D reduced objective φ(Δ) = ℓ̄(Δ) + (K−1)βΔ (:func:`reduced_objective`).
  CE: Δ* = log(1/β − (K−1)) iff Kβ < 1 (b.2). LS and MaxSup: CE with β → β + α/K (b.3, b.4).
  FL: global 1-D minimisation (b.5; φ can be non-convex, e.g. K = 50 with γ = 1).
* MSE, ℓ = ½‖z − s e_y‖² (theory.md b.6, c_m = 1), Δ* = max(0, s − Kβ):
  case 1 (bias, λ_b = 0): M = Δ*C, b* = s/K;
  case 2 (no bias): M = Δ*I (orthogonal frame, rank K);
  case 3 (bias, λ_b > 0): M = Δ*C + μ*J with μ* = max(0, s/K − β(1+λ_b)/λ_b) and
  b* = (s/K − μ*)/(1+λ_b).
* Nonnegative features H ≥ 0 (theory.md b.7), CE/LS/MaxSup: β → β₊ = β·sqrt(K/(K−1)), class
  features an orthogonal frame t·e_k, W = ω·C (a centred simplex ETF), d ≥ K.

Given M, the balanced factorisation (theory.md b.1 "Minimizer structure"; the nuclear-norm bound
λ_W/2‖W‖² + λ_H/2‖H‖² ≥ sqrt(λ_Wλ_H)‖WH‖_* = β‖M‖_* of b.6) is, with M = U Λ Uᵀ (rank r ≤ d),

    W = U Λ^{1/2} (nλ_H/λ_W)^{1/4} Rᵀ,   h_{k,i} = (λ_W/(nλ_H))^{1/4} R Λ^{1/2} Uᵀ e_k,

R = the first r coordinate vectors of R^d. Then W h_{k,i} = M e_k, λ_W‖W‖² = λ_H‖H‖² = β tr Λ,
h_{k,i} = sqrt(λ_W/(nλ_H))·w_k (NC1/NC3) and W Wᵀ = sqrt(nλ_H/λ_W)·M.

Availability. A closed form is reported only where theory.md proves one: balanced classes, a
covered (loss, features) pair, and rank(M) ≤ d. The zero regime (M = 0, W = H = 0) is reported for
every d ≥ 1: the d-dimensional UFM is the d'-dimensional one (d' ≥ K, where the theorems hold)
restricted to the first d coordinates, so its minimum is at least the d'-minimum, and W = H = 0
attains that value in every d. The same argument makes any minimiser of rank ≤ d global.
"""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction
from typing import Any

import numpy as np
from scipy.optimize import brentq, minimize_scalar
from scipy.special import expit

from ufm.objective import Params
from ufm.spec import Problem

SOFTMAX_LOSSES = ("ce", "ls", "fl", "maxsup")
_FL_GRID = 2049  # grid points for the global 1-D minimisation of the focal φ (theory.md b.5)


@dataclasses.dataclass(frozen=True, eq=False)
class ClosedForm:
    """The predicted global minimiser of one UFM instance (theory.md b).

    Attributes:
        available: False when no theorem of theory.md b covers the problem (then every other
            field but ``reason`` is None).
        reason: the theorem used (e.g. ``"theory.md b.2 (CE)"``) or why no closed form applies.
        regime: ``"collapse"`` (Δ* > 0, neural collapse) or ``"zero"`` (W = H = 0).
        margin: Δ*, own logit minus any other logit at the minimiser.
        p_true: p*, softmax probability of the true class (None for MSE).
        w_norm_sq: ‖w_k‖², the same for every row (MSE case 3: the common row norm²).
        h_norm_sq: ‖h_{k,i}‖², the same for every sample.
        objective: f*, the global minimum value of (UFM), computed analytically.
        bias: b* with the bias vector b* = bias·1; None when the problem has no bias.
        bias_unique: False when λ_b = 0 with a softmax loss (b* = t·1 for every t, 0 reported);
            None when the problem has no bias.
        mean_logit: μ* of MSE case 3 (theory.md b.6), 0 otherwise.
        class_logits: the K×K class-logit matrix M (without the bias): the logits of any class-k
            sample are ``class_logits[:, k] + bias``. Read-only.
    """

    available: bool
    reason: str
    regime: str | None = None
    margin: float | None = None
    p_true: float | None = None
    w_norm_sq: float | None = None
    h_norm_sq: float | None = None
    objective: float | None = None
    bias: float | None = None
    bias_unique: bool | None = None
    mean_logit: float | None = None
    class_logits: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready: arrays as nested lists, None kept."""
        out: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, np.ndarray):
                value = value.tolist()
            elif isinstance(value, (np.floating, np.integer, np.bool_)):
                value = value.item()
            out[field.name] = value
        return out


# --------------------------------------------------------------------------- 1-D reduction (b.1)
def _check_softmax_loss(loss: str) -> None:
    if loss not in SOFTMAX_LOSSES:
        raise ValueError(f"loss={loss!r}: expected one of ce, ls, fl, maxsup (MSE has no 1-D φ)")


def reduced_objective(
    loss: str, margin: Any, *, K: int, beta: float, alpha: float = 0.0, gamma: float = 0.0
) -> float | np.ndarray:
    """φ(Δ) = ℓ̄(Δ) + (K−1)βΔ, the UFM restricted to the NC ansatz (theory.md b.1).

    ℓ̄(Δ) is the loss at the logits Δ(e_y − 1/K·1):

        ℓ̄_CE = log(1 + (K−1)e^{−Δ}),      ℓ̄_LS = ℓ̄_CE + α(K−1)Δ/K,
        ℓ̄_FL = (1 − p)^γ ℓ̄_CE,  p = 1/(1 + (K−1)e^{−Δ}),
        ℓ̄_MS = ℓ̄_CE + α·max((K−1)Δ/K, −Δ/K)   (= ℓ̄_LS for Δ ≥ 0).

    The formulas are exact for every real Δ (φ's domain in the theory is Δ ≥ 0). For nonnegative
    features pass β₊ = β·sqrt(K/(K−1)) (theory.md b.7). ``alpha`` is used only by ls/maxsup and
    ``gamma`` only by fl.

    Args:
        loss: one of ``ce, ls, fl, maxsup``.
        margin: Δ, a scalar or an array (vectorised).
        K: number of classes ≥ 2.
        beta: β ≥ 0.
        alpha: LS/MaxSup smoothing α.
        gamma: focal γ ≥ 0.

    Returns:
        φ(Δ): a float for a scalar Δ, else an array of Δ's shape.
    """
    _check_softmax_loss(loss)
    if K < 2:
        raise ValueError(f"K={K!r}: expected an integer >= 2")
    D = np.asarray(margin, dtype=np.float64)
    x = math.log(K - 1) - D  # (K−1)e^{−Δ} = e^x
    lbar = np.logaddexp(0.0, x)  # ℓ̄_CE, = softplus(x), accurate for both signs
    if loss == "ls":
        lbar = lbar + alpha * (K - 1) * D / K
    elif loss == "maxsup":
        lbar = lbar + alpha * np.maximum((K - 1) * D / K, -D / K)
    elif loss == "fl" and gamma != 0:
        lbar = expit(x) ** gamma * lbar  # 1 − p = expit(x)
    out = lbar + (K - 1) * beta * D
    return float(out) if out.ndim == 0 else out


def _fl_slope(D: Any, K: int, c: float, gamma: float) -> Any:
    """φ'_FL(Δ) = c − q^γ(γ p ℓ̄_CE + q) with q = 1 − p and c = (K−1)β (theory.md b.5)."""
    x = math.log(K - 1) - np.asarray(D, dtype=np.float64)
    q, p, L = expit(x), expit(-x), np.logaddexp(0.0, x)
    return c - q**gamma * (gamma * p * L + q)


def _fl_margin(K: int, beta: float, gamma: float) -> float:
    """Global minimiser of φ_FL on Δ ≥ 0: dense grid of φ' plus brentq on every bracket.

    Bound on the search interval: with u = (K−1)e^{−Δ}, q ≤ u and ℓ̄_CE ≤ u, so
    |ℓ̄'_FL| ≤ (γ+1)u^{γ+1}; hence φ' > 0 for Δ > log(K−1) + log((γ+1)/((K−1)β))/(γ+1).
    Every local minimum (Δ = 0 when φ'(0) ≥ 0, and every − → + sign change of φ' on the grid,
    refined to ~1e-15 by brentq) is a candidate; the one with the smallest φ wins. φ is non-convex
    for large K (theory.md b.5; ℓ̄_FL is already non-convex at K = 50, γ = 1), so the candidates
    are compared by value. Guard: if the best grid value of φ beats every candidate (two roots of
    φ' inside one grid cell), that grid cell is refined too.
    """
    c = (K - 1) * beta
    if c <= 0:
        raise ValueError(f"beta={beta!r}: expected > 0")
    upper = max(math.log(K - 1) + math.log((gamma + 1) / c) / (gamma + 1), 0.0) + 1.0
    grid = np.linspace(0.0, upper, _FL_GRID)
    slope = _fl_slope(grid, K, c, gamma)
    candidates = [0.0] if slope[0] >= 0 else []
    for i in np.flatnonzero((slope[:-1] < 0) & (slope[1:] >= 0)):
        if slope[i + 1] == 0:
            candidates.append(float(grid[i + 1]))
        else:
            f = lambda D: float(_fl_slope(D, K, c, gamma))
            rtol = 4 * np.finfo(float).eps
            candidates.append(brentq(f, grid[i], grid[i + 1], xtol=1e-15, rtol=rtol))
    values = reduced_objective("fl", np.array(candidates), K=K, beta=beta, gamma=gamma)
    grid_values = reduced_objective("fl", grid, K=K, beta=beta, gamma=gamma)
    j = int(np.argmin(grid_values))
    if grid_values[j] < values.min() - 16 * np.finfo(float).eps * (1 + abs(values.min())):
        lo, hi = grid[max(j - 1, 0)], grid[min(j + 1, grid.size - 1)]
        res = minimize_scalar(
            lambda D: float(reduced_objective("fl", D, K=K, beta=beta, gamma=gamma)),
            bounds=(lo, hi),
            method="bounded",
            options={"xatol": 1e-14},
        )
        candidates.append(float(res.x))
        values = np.append(values, res.fun)
    return float(candidates[int(np.argmin(values))])


def margin_and_regime(
    loss: str, *, K: int, beta: float, alpha: float = 0.0, gamma: float = 0.0,
    beta_sq: Fraction | None = None,
) -> tuple[float, str]:
    """Δ* = argmin_{Δ≥0} φ(Δ) and its regime (theory.md b.2–b.5).

    CE (and FL with γ = 0): Δ* = log(1/β − (K−1)) iff Kβ < 1 (b.2). LS and MaxSup: the same with
    β_eff = β + α/K, i.e. iff Kβ + α < 1 (b.3, b.4). FL: global 1-D minimisation (b.5).

    ``beta_sq``, when given, is β² as an exact rational (e.g. n·λ_W·λ_H from the float inputs).
    The regime is then decided exactly, Kβ + α < 1 ⇔ K²β² < (1 − α)², so a problem *at* the
    threshold is in the zero regime as b.2 says (a rounded Kβ could land on either side), and the
    gap 1 − α − Kβ = ((1 − α)² − K²β²)/((1 − α) + Kβ) is formed from the exact numerator, so Δ*
    keeps its relative accuracy arbitrarily close to the threshold.

    Returns:
        (Δ*, "collapse") when Δ* > 0, else (0.0, "zero").
    """
    _check_softmax_loss(loss)
    if loss == "fl" and gamma != 0:
        margin = _fl_margin(K, beta, gamma)
    else:
        a = alpha if loss in ("ls", "maxsup") else 0.0
        b_eff = beta + a / K
        if beta_sq is None:
            gap = 1.0 - K * b_eff
        else:
            numerator = (1 - Fraction(a)) ** 2 - K * K * beta_sq  # exact
            gap = float(numerator) / ((1.0 - a) + K * beta) if numerator > 0 else 0.0
        # Δ* = log(1/b_eff − (K−1)) = log1p((1 − K b_eff)/b_eff), accurate near the threshold.
        margin = math.log1p(gap / b_eff) if gap > 0 else 0.0
    return (margin, "collapse") if margin > 0 else (0.0, "zero")


def exact_beta_sq(problem: Problem) -> Fraction:
    """β² = n·λ_W·λ_H as an exact rational of the (float) inputs (balanced problems)."""
    assert problem.n is not None
    return problem.n * Fraction(problem.lambda_w) * Fraction(problem.lambda_h)


# --------------------------------------------------------------------------------- closed form
def _unavailable(reason: str) -> ClosedForm:
    return ClosedForm(available=False, reason=reason)


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _softmax_case(problem: Problem) -> ClosedForm:
    """CE / LS / MaxSup / FL (theory.md b.1–b.5), and b.7 for nonnegative features."""
    K, n, d, loss = problem.K, problem.n, problem.d, problem.loss
    lw, lh = problem.lambda_w, problem.lambda_h
    alpha = problem.alpha if loss in ("ls", "maxsup") else 0.0
    gamma = problem.gamma if loss == "fl" else 0.0
    nonneg = problem.features == "nonnegative"
    if nonneg and loss == "fl":
        return _unavailable("focal loss with nonnegative features: no closed form in theory.md b.7")
    beta = problem.beta * (math.sqrt(K / (K - 1)) if nonneg else 1.0)  # β₊ of b.7
    beta_sq = exact_beta_sq(problem) * (Fraction(K, K - 1) if nonneg else 1)
    margin, regime = margin_and_regime(loss, K=K, beta=beta, alpha=alpha, gamma=gamma,
                                       beta_sq=beta_sq)
    rank = 0 if regime == "zero" else (K if nonneg else K - 1)
    if rank > d:
        need = "nonnegative features need d >= K" if nonneg else "d < K-1"
        return _unavailable(f"{need} (d={d}, K={K})")
    section = {
        "ce": "b.2 (CE)",
        "ls": "b.3 (LS)",
        "maxsup": "b.4 (MaxSup = LS)",
        "fl": "b.5 (FL, global 1-D minimisation)",
    }[loss]
    reason = f"theory.md {section}" + (" with b.7 (nonnegative features, β₊)" if nonneg else "")
    if regime == "zero":
        reason += "; zero regime (W = H = 0)"
    if loss in ("ce", "ls", "maxsup"):
        b_eff = beta + alpha / K
        # p* = 1 − (K−1)β_eff, f* = −log p* + (K−1)β_eff Δ* (b.2, b.3); log1p keeps f* accurate
        # when (K−1)β_eff ≪ 1.
        if regime == "collapse":
            p_true = 1.0 - (K - 1) * b_eff
            objective = -math.log1p(-(K - 1) * b_eff) + (K - 1) * b_eff * margin
        else:
            p_true, objective = 1.0 / K, math.log(K)
    else:
        p_true = float(expit(margin - math.log(K - 1)))
        objective = float(reduced_objective(loss, margin, K=K, beta=beta, gamma=gamma))
    if nonneg:  # b.7: ‖w‖² = ((K−1)/K)Δ sqrt(Knλ_H/((K−1)λ_W)), ‖h‖² = Δ sqrt((K−1)λ_W/(Knλ_H))
        w_norm_sq = (K - 1) / K * margin * math.sqrt(K * n * lh / ((K - 1) * lw))
        h_norm_sq = margin * math.sqrt((K - 1) * lw / (K * n * lh))
    else:  # b.1: ‖w‖² = ((K−1)/K) sqrt(nλ_H/λ_W) Δ, ‖h‖² = ((K−1)/K) sqrt(λ_W/(nλ_H)) Δ
        w_norm_sq = (K - 1) / K * math.sqrt(n * lh / lw) * margin
        h_norm_sq = (K - 1) / K * math.sqrt(lw / (n * lh)) * margin
    bias = bias_unique = None
    if problem.bias:
        bias, bias_unique = 0.0, problem.lambda_b > 0
        if not bias_unique:
            reason += "; λ_b = 0: b* = t·1 for any t (0 reported)"
    M = margin * (np.eye(K) - 1.0 / K)
    return ClosedForm(
        available=True,
        reason=reason,
        regime=regime,
        margin=margin,
        p_true=p_true,
        w_norm_sq=w_norm_sq,
        h_norm_sq=h_norm_sq,
        objective=objective,
        bias=bias,
        bias_unique=bias_unique,
        mean_logit=0.0,
        class_logits=_readonly(M),
    )


def _mse_case(problem: Problem) -> ClosedForm:
    """MSE ½‖z − s e_y‖² in its three bias cases (theory.md b.6, c_m = 1).

    With a = s/K and Δ* = max(0, s − Kβ):
      case 1 (bias, λ_b = 0): M = Δ*C, b* = a, f* = ½((K−1)/K)(Δ*−s)² + (K−1)βΔ*;
      case 2 (no bias):       M = Δ*I, f* = ½(Δ*−s)² + KβΔ*;
      case 3 (bias, λ_b > 0): M = Δ*C + μ*J, μ* = max(0, a − β(1+λ_b)/λ_b), b* = (a−μ*)/(1+λ_b),
                              f* = case-1 value + K[½(λ_b/(1+λ_b))(a−μ*)² + βμ*].
    (Each is the symmetric minimiser of the convex problem in (Z = M Y, b) with penalty β‖M‖_*.)
    """
    if problem.features == "nonnegative":
        return _unavailable("MSE with nonnegative features: no closed form in theory.md b.7")
    K, n, d, s, beta = problem.K, problem.n, problem.d, problem.target_scale, problem.beta
    lw, lh, lb = problem.lambda_w, problem.lambda_h, problem.lambda_b
    # Both thresholds are decided exactly (as in margin_and_regime): with β² = nλ_Wλ_H exact,
    # s − Kβ = (s² − K²β²)/(s + Kβ) and a − β(1+λ_b)/λ_b = (s²λ_b² − K²β²(1+λ_b)²)/(Kλ_b(sλ_b + Kβ(1+λ_b))).
    beta_sq, S = exact_beta_sq(problem), Fraction(s)
    numerator = S * S - K * K * beta_sq
    margin = float(numerator) / (s + K * beta) if numerator > 0 else 0.0
    regime = "collapse" if margin > 0 else "zero"
    a, mu, bias = s / K, 0.0, None
    C = np.eye(K) - 1.0 / K
    if not problem.bias:
        section = "b.6 case 2 (MSE, no bias, orthogonal frame)"
        rank = K if margin > 0 else 0
        objective = 0.5 * (margin - s) ** 2 + K * beta * margin
        M = margin * np.eye(K)
        diag = margin
    else:
        objective = 0.5 * (K - 1) / K * (margin - s) ** 2 + (K - 1) * beta * margin
        if lb == 0:
            section = "b.6 case 1 (MSE, bias, λ_b = 0)"
            bias = a
        else:
            section = "b.6 case 3 (MSE, bias, λ_b > 0, ETF + mean part μ*)"
            LB = Fraction(lb)
            numerator = S * S * LB * LB - K * K * beta_sq * (1 + LB) ** 2
            mu = (float(numerator) / (K * lb * (s * lb + K * beta * (1 + lb)))
                  if numerator > 0 else 0.0)
            bias = (a - mu) / (1 + lb)
            objective += K * (0.5 * lb / (1 + lb) * (a - mu) ** 2 + beta * mu)
        rank = (K - 1 if margin > 0 else 0) + (1 if mu > 0 else 0)
        M = margin * C + mu
        diag = margin * (K - 1) / K + mu
    if rank > d:
        if not problem.bias:
            return _unavailable(f"MSE without bias needs d >= K (d={d}, K={K})")
        return _unavailable(f"rank of the MSE solution is {rank} > d={d} (K={K})")
    reason = f"theory.md {section}" + ("; zero regime (W = H = 0)" if regime == "zero" else "")
    return ClosedForm(
        available=True,
        reason=reason,
        regime=regime,
        margin=margin,
        p_true=None,
        w_norm_sq=math.sqrt(n * lh / lw) * diag,
        h_norm_sq=math.sqrt(lw / (n * lh)) * diag,
        objective=objective,
        bias=bias,
        bias_unique=None if bias is None else True,
        mean_logit=mu,
        class_logits=_readonly(M),
    )


def closed_form(problem: Problem) -> ClosedForm:
    """The closed-form global minimiser of ``problem`` from theory.md b, or why there is none.

    Covered: balanced classes with CE, LS, MaxSup, FL (free features, rank K−1 ≤ d when Δ* > 0),
    MSE in its three bias cases (rank ≤ d), and CE/LS/MaxSup with nonnegative features (d ≥ K when
    Δ* > 0). The zero regime is available for every d. Everything else has ``available=False``.

    Args:
        problem: a validated :class:`~ufm.spec.Problem`.

    Returns:
        A :class:`ClosedForm` (scalars as Python floats, M read-only).
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem={problem!r}: expected a ufm.spec.Problem")
    if problem.n is None:
        return _unavailable(f"imbalanced classes (counts {list(problem.counts)})")
    if problem.loss == "mse":
        return _mse_case(problem)
    return _softmax_case(problem)


# ---------------------------------------------------------------------------------- minimiser
def _centred_basis(K: int) -> np.ndarray:
    """U = [Helmert basis of 1^⊥ (K×(K−1)), 1/sqrt(K)]: an orthogonal K×K matrix.

    Column j−1 (j = 1, …, K−1) is (1, …, 1, −j, 0, …)/sqrt(j(j+1)) with j ones. It diagonalises
    every M = x·C + y·J: Uᵀ M U = diag(x, …, x, Ky).
    """
    j = np.arange(1, K)
    U = np.zeros((K, K))
    U[:, :-1] = np.triu(np.ones((K, K - 1)))  # column j−1: ones in rows 0..j−1
    U[j, j - 1] = -j
    U[:, :-1] /= np.sqrt(j * (j + 1.0))
    U[:, -1] = 1.0 / math.sqrt(K)
    return U


def _check_rotation(rotation: Any, d: int, nonneg: bool) -> np.ndarray:
    Q = np.asarray(rotation, dtype=np.float64)
    if Q.shape != (d, d):
        raise ValueError(f"rotation shape {Q.shape}: expected ({d}, {d})")
    err = np.abs(Q.T @ Q - np.eye(d)).max()
    if not err <= 1e3 * d * np.finfo(np.float64).eps:
        raise ValueError(f"rotation: max|QᵀQ − I| = {err:.3g}: expected an orthogonal matrix")
    if nonneg and not (np.all((Q == 0) | (Q == 1))):
        raise ValueError("rotation: expected a permutation matrix for nonnegative features")
    return Q


def minimiser(problem: Problem, *, dtype: Any = np.float64, rotation: Any = None) -> Params:
    """A global minimiser (W*, H*, b*) built from :func:`closed_form` (theory.md b.1, b.6, b.7).

    Free features: M = U Λ Uᵀ with U from :func:`_centred_basis` and Λ the nonzero eigenvalues
    (Δ* on 1^⊥, and Kμ* or Δ* on 1 for MSE), W = U Λ^{1/2}(nλ_H/λ_W)^{1/4} in the first rank(M)
    coordinates, class features (λ_W/(nλ_H))^{1/4} Λ^{1/2} Uᵀ, repeated n times (class-major).
    Nonnegative features (b.7): W = ω·C and class feature k = t·e_k in the first K coordinates,
    ω² = ‖w‖² K/(K−1), t² = ‖h‖². ``rotation`` Q gives the minimiser (W Qᵀ, Q H, b).

    Args:
        problem: the problem.
        dtype: numpy dtype of the result (computed in float64, then cast).
        rotation: an optional orthogonal d×d matrix (a permutation matrix for nonnegative features).

    Returns:
        Params of numpy arrays: W [K, d], H [d, N], b [K] (or [0] without bias).

    Raises:
        ValueError: if no closed form is available (the reason is given) or ``rotation`` is bad.
    """
    cf = closed_form(problem)
    if not cf.available:
        raise ValueError(f"no closed-form minimiser for this problem: {cf.reason}")
    K, d, n = problem.K, problem.d, problem.n
    assert n is not None and cf.margin is not None and cf.w_norm_sq is not None
    nonneg = problem.features == "nonnegative"
    Q = None if rotation is None else _check_rotation(rotation, d, nonneg)
    W = np.zeros((K, d))
    Hc = np.zeros((d, K))  # class features
    if cf.regime == "collapse":
        if nonneg:
            r = K
            W[:, :K] = math.sqrt(cf.w_norm_sq * K / (K - 1)) * (np.eye(K) - 1.0 / K)
            Hc[:K, :] = math.sqrt(cf.h_norm_sq) * np.eye(K)
        else:
            U = _centred_basis(K)
            if problem.loss == "mse" and not problem.bias:
                top = cf.margin  # M = Δ I
            else:
                top = K * cf.mean_logit  # M = ΔC + μJ: eigenvalue Kμ on 1
            lam = np.array([cf.margin] * (K - 1) + [top])
            keep = lam > 0
            U, lam = U[:, keep], lam[keep]
            r = lam.size
            ratio = math.sqrt(n * problem.lambda_h / problem.lambda_w)  # sqrt(nλ_H/λ_W)
            W[:, :r] = U * np.sqrt(ratio * lam)
            Hc[:r, :] = np.sqrt(lam / ratio)[:, None] * U.T
        if Q is not None:
            W = W[:, :r] @ Q[:, :r].T
            Hc = Q[:, :r] @ Hc[:r, :]
    H = np.repeat(Hc, n, axis=1)
    b = np.full(problem.bias_dim, cf.bias if problem.bias else 0.0)
    dt = np.dtype(dtype)
    return Params(W.astype(dt), H.astype(dt), b.astype(dt))
