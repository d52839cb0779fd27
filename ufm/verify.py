"""The verdict: compare a numerical solution with the closed-form global minimiser.

All comparisons are rotation invariant (the UFM is invariant under (W, H) → (W Qᵀ, Q H)) and are
computed in float64 whatever dtype the solver ran in:

* objective gap f − f*, where f is re-evaluated in float64 at the solution;
* relative errors ‖A − A*‖_F / ‖A*‖_F of W Wᵀ, Hᵀ H and the logits Z = W H + b 1ᵀ. When the bias
  is free and unregularised for a softmax loss, b is unique only up to b + t·1, so the logits are
  centred per sample before comparing. In the zero regime A* = 0 and the absolute error ‖A‖_F is
  reported instead;
* the NC metrics of :mod:`ufm.metrics`.

Tolerances derive from the solver's dtype (eps = machine epsilon):

* objective: |f − f*| ≤ eps^(2/3)·|f*|      (float64: 3.7e-11, float32: 2.4e-5);
* Grams and logits: error ≤ eps^(1/3)        (float64: 6.1e-6,  float32: 4.9e-3).

Why these: the solver stops at ‖∇f‖ ≤ eps^(2/3)(1 + |f|); near a minimiser whose Hessian is
bounded below by μ on the normal space of the symmetry orbit, the distance to the orbit is at
most ‖∇f‖/μ and the objective error at most ‖∇f‖²/(2μ). For μ ≳ eps^(1/3) (λ ≳ 1e-5 in float64)
both bounds sit well inside the tolerances; a mismatch beyond them is therefore evidence against
the closed form (or the solver), not round-off.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ufm.certificate import certificate
from ufm.closed_form import ClosedForm, closed_form, minimiser
from ufm.metrics import nc_metrics
from ufm.objective import Params, objective
from ufm.precision import dtype_of, x64
from ufm.solvers import SolveResult
from ufm.spec import Hyper, Problem

VERDICTS = ("verified", "mismatch", "not-converged", "no-closed-form", "certified")


@dataclasses.dataclass(frozen=True)
class Tolerances:
    """The verdict's tolerances (see the module docstring for their derivation)."""

    objective_rtol: float
    gram_rtol: float

    @classmethod
    def for_dtype(cls, dtype: Any) -> Tolerances:
        eps = float(np.finfo(dtype_of(dtype)).eps)
        return cls(objective_rtol=eps ** (2 / 3), gram_rtol=eps ** (1 / 3))


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


def objective_f64(problem: Problem, params: Params, labels: np.ndarray | None = None) -> float:
    """f(W, H, b) evaluated in float64 (with ``labels`` overriding ``problem.labels()``)."""
    labels = problem.labels() if labels is None else labels
    with x64():
        hyper = Hyper(*(jnp.asarray(h, jnp.float64) for h in problem.hyper(np.float64)))
        p64 = Params(*(jnp.asarray(a, jnp.float64) for a in params))
        value = jax.jit(objective, static_argnames="loss")(
            p64, hyper, jnp.asarray(labels, dtype=jnp.int32), loss=problem.loss
        )
        return float(value)


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
    """Which way a mismatch points: a value above f* is a stationary point that is not the global
    minimiser (try other seeds); a value below f* would refute the closed form."""
    gap = comparison["objective_gap"]
    if gap > tol.objective_rtol * abs(f_star):
        return "above f*: the solver stopped at a stationary point that is not the global minimiser"
    if gap < -tol.objective_rtol * abs(f_star):
        return "below f*: the numerical value beats the closed form, which is then not the minimum"
    return "same value, different point: the minimiser differs from the closed-form one"


def decide(converged: bool, cf: ClosedForm, comparison: dict[str, float] | None,
           tol: Tolerances, certificate_status: str | None = None) -> str:
    """One of :data:`VERDICTS`. A verdict is given only to converged runs.

    With a closed form: ``verified`` or ``mismatch``. Without one: ``certified`` when the duality
    certificate closes (:mod:`ufm.certificate`), else ``no-closed-form``; a run is never called a
    mismatch because a formula does not apply.
    """
    if not converged:
        return "not-converged"
    if not cf.available or comparison is None:
        return "certified" if certificate_status == "certified" else "no-closed-form"
    ok = comparison["objective_rel_err"] <= tol.objective_rtol and all(
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
    tol = Tolerances.for_dtype(result.dtype)
    f64 = objective_f64(problem, result.params, labels)
    comparison = compare(problem, result.params, cf, f64) if cf.available else None
    cert = certificate(problem, result.params, labels)
    W, H, b = result.params
    nc = nc_metrics(W, H, b, labels, problem.K)
    if cf.available and cf.regime == "zero":
        # W = H = 0 at the minimiser: the scale-free NC metrics become ratios of round-off
        nc = {key: None for key in nc} | {"undefined": "zero regime: W = H = 0 at the minimiser"}
    # Optimality is established either by the gradient test (stationarity) or, where ∇f cannot
    # vanish (MaxSup's kinks where logits tie), by a closed duality gap: f − f* ≤ gap is then
    # proved. Anything else is not converged and gets no verdict.
    if result.converged:
        basis = "gradient"
    elif cert["status"] == "certified" and np.isfinite(result.objective):
        basis = "duality gap"
    else:
        basis = None
    verdict = decide(basis is not None, cf, comparison, tol, cert["status"])
    if verdict == "mismatch":
        comparison["mismatch"] = explain_mismatch(comparison, tol, float(cf.objective))
    return {
        "closed_form": cf.to_dict(),
        "comparison": comparison,
        "certificate": cert,
        "objective_f64": f64,
        "nc": nc,
        "tolerances": {**dataclasses.asdict(tol), "gtol": result.gtol},
        "optimality_basis": basis,
        "verdict": verdict,
    }
