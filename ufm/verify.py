"""The verdict: compare a numerical solution with the closed-form global minimiser.

All comparisons are rotation invariant (the UFM is invariant under (W, H) → (W Qᵀ, Q H)) and are
computed in float64 whatever dtype the solver ran in:

* objective gap f − f*, where f is re-evaluated in float64 at the solution;
* relative errors ‖A − A*‖_F / ‖A*‖_F of W Wᵀ, Hᵀ H and the logits Z = W H + b 1ᵀ. When the bias
  is free and unregularised for a softmax loss, b is unique only up to b + t·1, so the logits are
  centred per sample before comparing. In the zero regime A* = 0 and the absolute error ‖A‖_F is
  reported instead;
* the NC metrics of :mod:`ufm.metrics`.

Tolerances derive from the dtype, the round-off of evaluating f, and the conditioning of the
minimiser (eps = machine epsilon of the solver's dtype, eps₆₄ that of float64):

* objective: |f − f*| ≤ eps^(2/3)·|f*| + 8·eps₆₄·(1 + max|Z*|). The first term is the solver's
  bar (float64: 3.7e-11, float32: 2.4e-5 relative); the second is the round-off of evaluating
  logsumexp(z) − z_y in float64 at logits of size max|Z*|, which dominates when f* is tiny
  (λ → 0: f* → 0 while Δ* grows);
* Grams and logits: error ≤ eps^(1/3) (float64: 6.1e-6, float32: 4.9e-3).

Before the distances are judged, verify checks that the run *resolves* the minimiser to that bar.
Near a minimiser whose Hessian is ≥ μ on the normal space of the symmetry orbit, the distance to
the orbit is δ ≤ ‖∇f‖/μ, hence

    ‖WWᵀ − W*W*ᵀ‖ ≤ 2‖W*‖δ + δ²,  ‖HᵀH − H*ᵀH*‖ ≤ 2‖H*‖δ + δ²,  ‖Z − Z*‖ ≤ (‖W*‖ + ‖H*‖)δ + δ²,

divided by the reference norms (absolute in the zero regime, where the reference is 0). The
largest of these, B, uses ‖∇f‖ re-evaluated in float64 at the solution (a float32 gradient is
round-off noise near its floor) and μ = λ_min⁺ of the closed-form Hessian spectrum (theory.md c.2,
:func:`ufm.spectrum.closed_form_spectrum`; the origin's spectrum in the zero regime). When
B > eps^(1/3) the stationarity reached cannot pin the point down to the bar — this happens as
Δ* → 0 at a regime threshold, where μ → 0 — and the verdict is ``not-converged`` with the reason
(``comparison.unresolved``), never ``mismatch``. Where no spectrum is known (MSE, nonnegative
features) B is not computed.

A mismatch beyond these bars is therefore evidence against the closed form (or the solver), not
round-off or ill-conditioning.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from ufm.certificate import certificate
from ufm.closed_form import ClosedForm, closed_form, minimiser
from ufm.metrics import nc_metrics
from ufm.objective import Params, value_and_stationarity_f64
from ufm.precision import dtype_of
from ufm.solvers import SolveResult
from ufm.spec import Problem

VERDICTS = ("verified", "mismatch", "not-converged", "no-closed-form", "certified")


@dataclasses.dataclass(frozen=True)
class Tolerances:
    """The verdict's tolerances (see the module docstring for their derivation).

    ``objective_rtol``·|f*| + ``objective_atol`` bounds |f − f*|; ``gram_rtol`` bounds the Gram
    and logit errors. ``distance_bound`` is B, the largest error the float64 gradient norm
    ``grad_norm_f64`` allows at curvature ``mu`` (None when no Hessian spectrum is known).
    """

    objective_rtol: float
    gram_rtol: float
    objective_atol: float = 0.0
    distance_bound: float | None = None
    mu: float | None = None
    grad_norm_f64: float | None = None

    @classmethod
    def for_dtype(cls, dtype: Any) -> Tolerances:
        eps = float(np.finfo(dtype_of(dtype)).eps)
        return cls(objective_rtol=eps ** (2 / 3), gram_rtol=eps ** (1 / 3))

    def objective_tol(self, f_star: float) -> float:
        """The bar on |f − f*|."""
        return self.objective_rtol * abs(f_star) + self.objective_atol

    @property
    def resolved(self) -> bool:
        """False when the stationarity reached cannot resolve the minimiser to ``gram_rtol``."""
        return self.distance_bound is None or self.distance_bound <= self.gram_rtol


def _smallest_curvature(problem: Problem) -> float | None:
    """λ_min⁺ of the closed-form Hessian spectrum at the minimiser (theory.md c.2), or None.

    The zeros forced by symmetry (:func:`ufm.hessian.expected_zero_modes`) are removed; any
    further zero (a degenerate direction exactly at a regime threshold) makes λ_min⁺ = 0. None
    when no closed-form spectrum exists (MSE, nonnegative features, imbalance, d < K−1, MaxSup at
    the zero-regime kink).
    """
    from ufm.hessian import expected_zero_modes
    from ufm.spectrum import ClosedFormUnavailable, closed_form_spectrum

    try:
        families = closed_form_spectrum(problem)
    except ClosedFormUnavailable:
        return None
    zeros = sum(f.multiplicity for f in families if f.eigenvalue == 0.0)
    expected = expected_zero_modes(problem)
    if expected is None:
        return None
    nonzero = [f.eigenvalue for f in families if f.eigenvalue != 0.0]
    if zeros > expected or not nonzero:
        return 0.0
    return max(min(nonzero), 0.0)


def tolerances(problem: Problem, params: Params, dtype: Any, cf: ClosedForm,
               grad_norm_f64: float) -> Tolerances:
    """The tolerances for a solution ``params`` (solved in ``dtype``) against ``cf``."""
    tol = Tolerances.for_dtype(dtype)
    if not cf.available:
        return dataclasses.replace(tol, grad_norm_f64=grad_norm_f64)
    star = minimiser(problem)
    Z_star = _logits64(star, False)
    atol = 8 * float(np.finfo(np.float64).eps) * (1.0 + float(np.max(np.abs(Z_star))))
    mu = _smallest_curvature(problem) if problem.features == "free" else None
    bound = None
    if mu == 0:
        bound = math.inf  # a degenerate direction: stationarity bounds no distance
    elif mu is not None:
        delta = grad_norm_f64 / mu
        nW, nH = float(np.linalg.norm(star.W)), float(np.linalg.norm(star.H))
        refs = (np.linalg.norm(star.W @ star.W.T), _gram_norm(star.H),
                np.linalg.norm(_logits64(star, cf.bias_unique is False)))
        errs = (2 * nW * delta + delta**2, 2 * nH * delta + delta**2,
                (nW + nH) * delta + delta**2)
        bound = max(float(e / r) if r > 0 else float(e) for e, r in zip(errs, refs))
    return dataclasses.replace(tol, objective_atol=atol, distance_bound=bound, mu=mu,
                               grad_norm_f64=grad_norm_f64)


def relative_error(a: np.ndarray, ref: np.ndarray) -> float:
    """‖a − ref‖_F / ‖ref‖_F, or ‖a‖_F when ref = 0 (zero regime)."""
    ref_norm = float(np.linalg.norm(ref))
    err = float(np.linalg.norm(np.asarray(a) - np.asarray(ref)))
    return err / ref_norm if ref_norm > 0 else err


def gram_relative_error(A: np.ndarray, B: np.ndarray, block: int = 512) -> float:
    """‖AᵀA − BᵀB‖_F / ‖BᵀB‖_F for A, B of shape [d, N], in column blocks (never N×N at once)."""
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    err2 = ref2 = 0.0
    for start in range(0, A.shape[1], block):
        a, b = A[:, start : start + block], B[:, start : start + block]
        G_ref = B.T @ b
        err2 += float(np.sum((A.T @ a - G_ref) ** 2))
        ref2 += float(np.sum(G_ref**2))
    return float(np.sqrt(err2 / ref2)) if ref2 > 0 else float(np.sqrt(err2))


def _gram_norm(H: np.ndarray) -> float:
    """‖HᵀH‖_F without forming the N×N matrix: ‖HᵀH‖_F = ‖HHᵀ‖_F."""
    H = np.asarray(H, dtype=np.float64)
    return float(np.linalg.norm(H @ H.T))


def objective_f64(problem: Problem, params: Params, labels: np.ndarray | None = None) -> float:
    """f(W, H, b) evaluated in float64 (with ``labels`` overriding ``problem.labels()``)."""
    return value_and_stationarity_f64(problem, params, labels)[0]


def _logits64(params: Params, centre: bool) -> np.ndarray:
    W, H, b = (np.asarray(a, dtype=np.float64) for a in params)
    Z = W @ H + (b[:, None] if b.shape[0] else 0.0)
    return Z - Z.mean(axis=0, keepdims=True) if centre else Z


def compare(problem: Problem, params: Params, cf: ClosedForm, f_value: float) -> dict[str, float]:
    """The rotation-invariant distances of ``params`` from the closed-form minimiser."""
    star = minimiser(problem)
    W = np.asarray(params.W, dtype=np.float64)
    centre = cf.bias_unique is False
    f_star = float(cf.objective)
    gap = f_value - f_star
    return {
        "objective_gap": gap,
        "objective_rel_err": abs(gap) / abs(f_star) if f_star != 0 else abs(gap),
        "gram_w_rel_err": relative_error(W @ W.T, star.W @ star.W.T),
        "gram_h_rel_err": gram_relative_error(params.H, star.H),
        "logits_rel_err": relative_error(_logits64(params, centre), _logits64(star, centre)),
    }


def explain_mismatch(comparison: dict[str, float], tol: Tolerances, f_star: float) -> str | None:
    """Which way a mismatch points. A value above f* means the solver stopped at a stationary
    point that is not the global minimiser (try other seeds): it cannot refute the closed form,
    which is a lower bound by theorem. A value below f* would refute it."""
    gap = comparison["objective_gap"]
    if gap > tol.objective_tol(f_star):
        return ("above f*: the solver stopped at a stationary point that is not the global "
                "minimiser (try other --seed values)")
    if gap < -tol.objective_tol(f_star):
        return "below f*: the numerical value beats the closed form, which is then not the minimum"
    return "same value, different point: the minimiser differs from the closed-form one"


def decide(converged: bool, cf: ClosedForm, comparison: dict[str, float] | None,
           tol: Tolerances, certificate_status: str | None = None) -> str:
    """One of :data:`VERDICTS`. A verdict is given only to runs whose optimality is established,
    and, with a closed form, that resolve the minimiser to the distance bar (``tol.resolved``).

    With a closed form: ``verified`` or ``mismatch``. Without one: ``certified`` when the duality
    certificate closes (:mod:`ufm.certificate`), else ``no-closed-form``; a run is never called a
    mismatch because a formula does not apply.
    """
    if not converged:
        return "not-converged"
    if not cf.available or comparison is None:
        return "certified" if certificate_status == "certified" else "no-closed-form"
    if not tol.resolved:
        return "not-converged"
    ok = abs(comparison["objective_gap"]) <= tol.objective_tol(float(cf.objective)) and all(
        comparison[k] <= tol.gram_rtol for k in ("gram_w_rel_err", "gram_h_rel_err", "logits_rel_err")
    )
    return "verified" if ok else "mismatch"


def verify(problem: Problem, result: SolveResult, labels: np.ndarray | None = None) -> dict[str, Any]:
    """Closed form, comparison, certificate, NC metrics and verdict for a solve of ``problem``.

    ``labels`` (e.g. noisy labels) override ``problem.labels()``; the closed form then does not
    apply (it is derived for the clean balanced labels) and only the certificate can vouch.

    Returns a dict with keys ``closed_form``, ``comparison`` (None without a closed form),
    ``certificate``, ``objective_f64``, ``nc``, ``tolerances``, ``optimality_basis``
    (``"gradient"``, ``"duality gap"`` or None when optimality is not established) and
    ``verdict``.
    """
    clean = labels is None or np.array_equal(labels, problem.labels())
    labels = problem.labels() if labels is None else np.asarray(labels)
    cf = closed_form(problem)
    if not clean:
        cf = dataclasses.replace(
            cf, available=False, reason="label noise: the closed form assumes the clean labels",
            regime=None, margin=None, p_true=None, w_norm_sq=None, h_norm_sq=None, objective=None,
            bias=None, bias_unique=None, mean_logit=None, class_logits=None)
    f64, g64 = value_and_stationarity_f64(problem, result.params, labels)
    tol = tolerances(problem, result.params, result.dtype, cf, g64)
    finite = all(np.all(np.isfinite(a)) for a in result.params)
    comparison = compare(problem, result.params, cf, f64) if cf.available and finite else None
    cert = certificate(problem, result.params, labels, objective=f64)
    W, H, b = result.params
    finite = all(np.all(np.isfinite(a)) for a in result.params)
    if not finite:  # a run that blew up: nothing to measure (it is not converged either)
        nc = {key: None for key in ("nc1", "nc2_w", "nc2_h", "nc3", "nc4")}
        nc["undefined"] = "the point is not finite"
        comparison = None
    else:
        nc = nc_metrics(W, H, b, labels, problem.K)
    if finite and cf.available and cf.regime == "zero":
        # W = H = 0 at the minimiser: the scale-free NC metrics become ratios of round-off
        nc = {key: None for key in nc} | {"undefined": "zero regime: W = H = 0 at the minimiser"}
    # Optimality is established by the gradient test (stationarity), or, for MaxSup only, where
    # ∇f cannot vanish (kinks of max z where logits tie), by a duality gap that closes to the
    # objective tolerance: f − f* ≤ gap is then proved. Anything else (a run cut off by the
    # iteration budget, say) is not converged and gets no verdict.
    gap_tol = tol.objective_rtol * abs(f64)
    if result.converged:
        basis = "gradient"
    elif (problem.loss == "maxsup" and result.status in ("kink", "stalled", "max-iters")
          and cert["status"] == "certified" and np.isfinite(result.objective)
          and cert["gap"] <= gap_tol):
        basis = "duality gap"
    else:
        basis = None
    verdict = decide(basis is not None, cf, comparison, tol, cert["status"])
    if verdict == "mismatch":
        comparison["mismatch"] = explain_mismatch(comparison, tol, float(cf.objective))
    if comparison is not None and basis is not None and not tol.resolved:
        if tol.mu == 0:
            why = ("λ_min⁺ = 0: the minimiser is degenerate (exactly at a regime threshold), so "
                   "stationarity bounds no distance to it")
        else:
            why = (f"‖∇f‖ = {g64:.2g} (float64) at curvature λ_min⁺ = {tol.mu:.2g} allows errors "
                   f"up to {tol.distance_bound:.2g} > {tol.gram_rtol:.2g}: the minimiser is too "
                   "ill-conditioned (near a regime threshold?) for this run to verify it"
                   + ("; solve in float64" if result.dtype == "float32"
                      else "; a tighter gtol (ufm.solvers.minimize) may resolve it"))
        comparison["unresolved"] = why
    return {
        "closed_form": cf.to_dict(),
        "comparison": comparison,
        "certificate": cert,
        "objective_f64": f64,
        "nc": nc,
        "tolerances": {**dataclasses.asdict(tol), "gtol": result.gtol,
                       "objective_tol": (tol.objective_tol(float(cf.objective))
                                         if cf.available else None)},
        "optimality_basis": basis,
        "verdict": verdict,
    }
