"""Condition numbers of the UFM at its minimiser; Guo et al.'s claim checked (theory.md c.3).

Guo et al. (arXiv 2402.03979) state that label smoothing has a lower condition number than
cross-entropy at the UFM minimiser. Their definition was not available (theory.md c.1), so ufm
computes four, each in closed form (theory.md c.2 spectrum) and numerically (HVPs / autodiff):

``kappa_full``
    λ_max / λ_min⁺ of the full Hessian in θ = (W, H, b), after removing exactly the
    (K−1)d − K(K−1)/2 (+1 with a bias and λ_b = 0) symmetry zeros. Numerically: dense eigvalsh
    or Lanczos on the deflated HVP operator (:func:`ufm.spectrum.extreme_eigenvalues`), only
    after the orbit tangent space has been measured null.
``kappa_logit``
    condition number of the per-sample logit Hessian ∇²_z ℓ on 1^⊥ at the minimiser:
    σ_t/σ_o = K p* for CE and LS, hence κ_logit(LS) = κ_logit(CE) − (K−1)α (K ≥ 3; for K = 2
    the restriction is 1×1 and κ = 1 for both). Numerically: autodiff logit Hessians of every
    sample, the worst one.
``kappa_scale``
    the trivial-irrep 2×2 block: the directions that rescale (W, H) along the NC manifold,
    δθ ∈ span{(W, 0, 0), (0, H, 0)}. Numerically: the 2×2 compression by two HVPs. Undefined
    (None) in the zero regime (W = H = 0, detected as max|W H| ≤ √eps(dtype)·s with s the logit
    scale: 1 for softmax losses, the target scale for MSE).
``kappa_features``
    κ_H|W: the Hessian in H with W frozen at W*, eigenvalues λ_H + σ_tρ_H/K, λ_H + σ_oρ_H/K
    (K ≥ 3) and λ_H (d ≥ K). Numerically exact at any point: the H-block is block diagonal
    over samples, λ_H I + (1/N) Wᵀ∇²ℓ(z_i)W, whose non-trivial eigenvalues are those of the
    K×K matrix (WWᵀ)^{1/2} ∇²ℓ(z_i) (WWᵀ)^{1/2} / N.

Findings (closed form, ``python -m ufm.conditioning --grid``; λ_W = λ_b = λ, λ_H = ratio·λ,
λ ∈ {1e-6, 1e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1}, α ∈ {0.01, 0.05, 0.1, 0.2, 0.5}; the
theory.md c.3 shapes K ∈ {3, 4, 10, 30}, d ∈ {K−1, K, 2K}, n ∈ {1, 5, 50}, ratio ∈ {0.1, 1, 10}:
4860 cases, 4167 with both losses in the collapse regime):

* κ_logit is lower for LS in all 4167, by exactly (K−1)α. At K = 2 it is 1 for both losses
  (equal, so LS is not lower there).
* κ_full is lower for LS in 338 (8 %), all at λ ≥ 3e-4 (at λ ≤ 1e-3 only for K = 30). At
  K = 10, n = d = 10 only at λ = 1e-2 (5 of 39 cases); never at the paper size K = 10, n = 500,
  d = 512 (0 of 29).
* κ_scale is lower for LS in 180, all at λ ≥ 3e-4 and Kβ ≥ 0.2 (β = √(nλ_Wλ_H)), i.e. close to
  the collapse threshold Kβ + α < 1: at K = 10, n = d = 10 only at λ = 1e-2 with α = 0.5, and at
  the paper size only at λ = 1e-3 with α = 0.5 (the same Kβ = 0.22, since β grows with √n).
* κ_features is lower for LS in 667: at large β as κ_scale (K = 10, n = d = 10: λ = 1e-2 with
  α = 0.5 and λ = 3e-2 with α ≤ 0.2; paper size: λ = 1e-3 with α = 0.5 and λ = 3e-3 with
  α ≤ 0.2), and at d = K−1 also at small λ (77 cases with λ ≤ 1e-4, α ∈ {0.2, 0.5}; e.g. K = 10,
  n = 5, d = 9 at λ = 1e-6 and 1e-5 with α = 0.5), where κ_features → K p* and p*(LS) < p*(CE)
  (theory.md c.3).

``tests/test_conditioning.py`` recomputes the K = 2, K = 10 (d = 9, 10) and paper-size
statements.

Command line::

    python -m ufm.conditioning --classes 10 --per-class 5 --dim 10 --lambda 1e-3 --alpha 0.1
    python -m ufm.conditioning --grid --classes 3,4,10 --dim K-1,K,2K --per-class 1,5,50 \\
        --ratio 0.1,1,10 --json grid.json
"""

from __future__ import annotations

import argparse
import functools
import math
import re
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ufm.hessian import (
    as_float64,
    clean_labels,
    expected_zero_modes,
    hessian_vector_product,
    minimiser_rank,
    resolve_labels,
)
from ufm.losses import per_sample_loss
from ufm.objective import Params, logits
from ufm.precision import x64
from ufm.spec import Problem, ProblemError

KAPPAS = ("kappa_full", "kappa_logit", "kappa_scale", "kappa_features")
REPORT_KEYS = (
    "lambda_max",
    "lambda_min_nonzero",
    "zero_modes",
    "zero_modes_expected",
    *KAPPAS,
)
DEFINITIONS = {
    "kappa_full": "λ_max/λ_min⁺ of the Hessian in (W, H, b), symmetry zeros removed "
    "(theory.md c.3)",
    "kappa_logit": "cond. number of the per-sample logit Hessian on 1^⊥ = K p* for CE/LS "
    "(theory.md c.3)",
    "kappa_scale": "cond. number of the 2×2 (W, H)-rescaling block, the trivial irrep "
    "(theory.md c.2–c.3)",
    "kappa_features": "cond. number of the Hessian in H with W frozen at W*, κ_H|W "
    "(theory.md c.3)",
}


def _ratio(hi: float, lo: float) -> float:
    """hi/lo, +inf when lo ≤ 0 (a singular or indefinite block has no finite κ)."""
    return hi / lo if lo > 0 else float("inf")


# ------------------------------------------------------------------------ closed form
def closed_form_kappas(problem: Problem, families: list | None = None) -> dict[str, Any]:
    """The :data:`REPORT_KEYS` at the closed-form minimiser, from theory.md c.2–c.3.

    κ_full = λ_max/λ_min⁺ of :func:`ufm.spectrum.closed_form_spectrum` (zeros removed by
    structure); κ_logit = σ_t/σ_o (K ≥ 3; 1 for K = 2); κ_scale = cond of the two "trivial,
    scale" families; κ_features = cond{λ_H + σ_tρ_H/K, λ_H + σ_oρ_H/K (K ≥ 3), λ_H (d ≥ K)}, with
    ρ_H = Δ√(λ_H/(nλ_W)). In the zero regime κ_scale is None and κ_features = 1 (W* = 0).
    ``families`` (from ``closed_form_spectrum``) avoids recomputing the spectrum.

    Raises:
        ufm.spectrum.ClosedFormUnavailable: when theory.md c.2 does not cover the problem.
    """
    from ufm.spectrum import _ingredients, closed_form_extremes, closed_form_spectrum

    g, regime = _ingredients(problem)
    fams = closed_form_spectrum(problem) if families is None else families
    ext = closed_form_extremes(problem, fams)
    out: dict[str, Any] = dict(ext)
    out["zero_modes_expected"] = expected_zero_modes(problem)
    out["kappa_full"] = _ratio(ext["lambda_max"], ext["lambda_min_nonzero"])
    logit = [g.sigma_t] + ([g.sigma_o] if g.K >= 3 else [])
    out["kappa_logit"] = _ratio(max(logit), min(logit))
    if regime == "zero":
        out["kappa_scale"] = None
        out["kappa_features"] = 1.0
    else:
        scale = [f.eigenvalue for f in fams if f.family.startswith("trivial, scale")]
        out["kappa_scale"] = _ratio(max(scale), min(scale))
        rh = g.margin * math.sqrt(g.lh / (g.n * g.lw))
        feats = [g.lh + g.sigma_t * rh / g.K]
        if g.K >= 3:
            feats.append(g.lh + g.sigma_o * rh / g.K)
        if g.d >= g.K:
            feats.append(g.lh)
        out["kappa_features"] = _ratio(max(feats), min(feats))
    return {k: out[k] for k in REPORT_KEYS}


def closed_form_side(problem: Problem, labels: Any = None) -> tuple[dict[str, Any], list | None]:
    """The ``closed_form`` sub-object of :func:`hessian_report`, and the families (or None).

    Always has the :data:`REPORT_KEYS` (None where theory.md does not give them), ``reason``
    (which formula was used, or why there is none) and ``numerical_blocks`` (the families computed
    numerically rather than by formula: the FL standard-irrep block M₄). For MSE, whose spectrum
    theory.md does not give, ``zero_modes_expected`` still comes from the b.6 rank
    (:func:`ufm.hessian.minimiser_rank`).
    """
    from ufm.closed_form import closed_form
    from ufm.spectrum import ClosedFormUnavailable, closed_form_spectrum

    out: dict[str, Any] = dict.fromkeys(REPORT_KEYS)
    out["numerical_blocks"] = []
    if not clean_labels(problem, labels):
        out["reason"] = ("custom labels (e.g. label noise): the closed form (theory.md b, c.2) is "
                         "for the clean class-major labels")
        return out, None
    try:
        fams = closed_form_spectrum(problem)
        out.update(closed_form_kappas(problem, fams))
    except ClosedFormUnavailable as err:
        out["zero_modes_expected"] = expected_zero_modes(problem)
        reason = str(err)
        if out["zero_modes_expected"] is not None:
            reason += ("; zero_modes_expected is the orbit dimension at the rank of the "
                       "theory.md b minimiser")
        out["reason"] = reason
        return out, None
    cf = closed_form(problem)
    if cf.regime == "zero":
        reason = ("zero regime: the minimiser is W = H = 0 and its spectrum is the exact origin "
                  "spectrum (ufm.spectrum.origin_spectrum, derived)")
    else:
        reason = "theory.md c.2 spectrum at the ETF minimiser"
        if problem.loss == "maxsup":
            reason += " (MaxSup = LS at the minimiser, theory.md b.4)"
    numerical = sorted({f.family for f in fams if f.numerical})
    if numerical:
        reason += ("; FL: c.2 families with Kpq → σ_t, q → σ_o, and the standard-irrep block M₄ "
                   "computed numerically (autodiff class-mean block, compressed)")
    out["numerical_blocks"] = numerical
    out["reason"] = reason
    return out, fams


# -------------------------------------------------------------------------- numerical
@functools.partial(jax.jit, static_argnames=("loss",))
def _logit_hessians(Z: jax.Array, labels: jax.Array, hyper: Any, loss: str) -> jax.Array:
    """vmap over samples of jax.hessian of z ↦ ℓ(z, y)."""

    def one(z: jax.Array, y: jax.Array) -> jax.Array:
        return per_sample_loss(loss, z[:, None], y[None], hyper)[0]

    return jax.vmap(jax.hessian(one))(Z.T, labels)


def logit_hessians(problem: Problem, params: Params, labels: Any = None) -> np.ndarray:
    """∇²_z ℓ(z_i, y_i) for every sample, by autodiff, shape [N, K, K] (float64)."""
    y = jnp.asarray(resolve_labels(problem, labels))
    with x64():
        Z = logits(Params(*(jnp.asarray(a) for a in as_float64(params))))
        return np.asarray(_logit_hessians(Z, y, problem.hyper(np.float64), problem.loss))


def _centred_basis(K: int) -> np.ndarray:
    """An orthonormal basis of 1^⊥ ⊂ R^K, [K, K−1] (the Helmert columns of ufm.closed_form)."""
    from ufm.closed_form import _centred_basis as helmert

    return helmert(K)[:, :-1]


def kappa_logit_numerical(
    problem: Problem, params: Params, labels: Any = None, *, hessians: np.ndarray | None = None
) -> float:
    """max_i cond(Eᵀ ∇²ℓ(z_i) E), E an orthonormal basis of 1^⊥ (+inf if singular/indefinite).

    ``hessians`` ([N, K, K] from :func:`logit_hessians`) avoids recomputing them.
    """
    S = logit_hessians(problem, params, labels) if hessians is None else hessians
    E = _centred_basis(problem.K)
    ev = np.linalg.eigvalsh(np.einsum("ka,nkl,lb->nab", E, S, E))  # [N, K−1] ascending
    lo, hi = ev[:, 0], ev[:, -1]
    kappa = np.where(lo > 0, hi / np.where(lo > 0, lo, 1.0), np.inf)
    return float(kappa.max())


def kappa_features_numerical(
    problem: Problem, params: Params, labels: Any = None, *, hessians: np.ndarray | None = None
) -> float:
    """cond of ∇²_H f (W frozen) at ``params``, exactly, via K×K per-sample reductions.

    ∇²_H f is block diagonal over samples with blocks λ_H I_d + (1/N) Wᵀ S_i W; its eigenvalues
    are λ_H + eig((WWᵀ)^{1/2} S_i (WWᵀ)^{1/2})/N (the min(d, K) non-structural ones) and λ_H
    (d > K). ``hessians`` = the S_i from :func:`logit_hessians`.
    """
    W = np.asarray(params.W, dtype=np.float64)
    K, d, N = problem.K, problem.d, problem.N
    S = logit_hessians(problem, params, labels) if hessians is None else hessians
    w, V = np.linalg.eigh(W @ W.T)
    R = (V * np.sqrt(np.maximum(w, 0.0))) @ V.T
    ev = np.linalg.eigvalsh(np.einsum("ab,nbc,cd->nad", R, S, R)) / N  # [N, K] ascending
    if d < K:  # Wᵀ S W (d×d) has the K×K eigenvalues minus K−d (structural) zeros
        order = np.argsort(np.abs(ev), axis=1)[:, K - d :]
        ev = np.take_along_axis(ev, order, axis=1)
    vals = problem.lambda_h + ev
    lo, hi = float(vals.min()), float(vals.max())
    if d > K:  # the d−K directions orthogonal to the rows of W: exactly λ_H
        lo, hi = min(lo, problem.lambda_h), max(hi, problem.lambda_h)
    return _ratio(hi, lo)


def _logit_scale(problem: Problem) -> float:
    """The natural size of a logit: 1 for softmax losses, the target scale s for MSE."""
    return problem.target_scale if problem.loss == "mse" else 1.0


def is_origin(problem: Problem, params: Params, rtol: float) -> bool:
    """True when W H is numerically zero: max|W H| ≤ rtol·(logit scale) (the zero regime)."""
    WH = np.asarray(params.W, np.float64) @ np.asarray(params.H, np.float64)
    return bool(np.max(np.abs(WH), initial=0.0) <= rtol * _logit_scale(problem))


def maxsup_tie(problem: Problem, params: Params, rtol: float) -> bool:
    """MaxSup only: True when some sample's two largest logits tie, z₍₁₎ − z₍₂₎ ≤ rtol·max(1, |z|).

    There max z is not differentiable, so an autodiff Hessian is that of one arbitrary branch.
    """
    if problem.loss != "maxsup":
        return False
    Z = np.asarray(logits(as_float64(params)))
    top2 = np.sort(Z, axis=0)[-2:]
    gap = top2[1] - top2[0]
    return bool(np.any(gap <= rtol * np.maximum(1.0, np.abs(Z).max(axis=0))))


def kappa_scale_numerical(
    problem: Problem, params: Params, labels: Any = None, *, rtol: float | None = None
) -> float | None:
    """cond of the Hessian compressed onto span{(W, 0, 0), (0, H, 0)} (two HVPs, float64).

    None at the origin (:func:`is_origin` with ``rtol``, default √eps of the point's dtype): in
    the zero regime there is no rescaling direction, and the normalised W, H are rounding noise.
    """
    from ufm.spectrum import default_zero_rtol

    rtol = default_zero_rtol(params) if rtol is None else rtol
    if is_origin(problem, params, rtol):
        return None
    y = jnp.asarray(resolve_labels(problem, labels))
    with x64():
        W, H, b = (jnp.asarray(a) for a in as_float64(params))
        nw, nh = jnp.linalg.norm(W), jnp.linalg.norm(H)
        t1 = Params(W / nw, jnp.zeros_like(H), jnp.zeros_like(b))
        t2 = Params(jnp.zeros_like(W), H / nh, jnp.zeros_like(b))
        hyper = problem.hyper(np.float64)
        point = Params(W, H, b)
        h1 = hessian_vector_product(point, t1, hyper, y, problem.loss)
        h2 = hessian_vector_product(point, t2, hyper, y, problem.loss)
        a, c = float(jnp.vdot(h1.W, t1.W)), float(jnp.vdot(h2.H, t2.H))
        bb = 0.5 * (float(jnp.vdot(h1.H, t2.H)) + float(jnp.vdot(h2.W, t1.W)))
    ev = np.linalg.eigvalsh(np.array([[a, bb], [bb, c]]))
    return _ratio(float(ev[1]), float(ev[0]))


def hessian_report(
    problem: Problem,
    params: Params,
    *,
    labels: Any = None,
    method: str = "auto",
    rank: int | None = None,
    tol: float = 1e-10,
    zero_rtol: float | None = None,
) -> dict[str, Any]:
    """The ``hessian`` object of ``python -m ufm.solve --hessian`` (issue 3, item 5).

    Contract keys: ``lambda_max``, ``lambda_min_nonzero``, ``zero_modes``,
    ``zero_modes_expected``, ``kappa_full``, ``kappa_logit``, ``kappa_scale``, ``kappa_features``
    (numerical, at ``params``, float64); ``closed_form`` (the same keys at the closed-form
    minimiser, plus ``reason`` and ``numerical_blocks``, see :func:`closed_form_side`);
    ``spectrum_rel_err``. Added: ``lambda_min`` (undeflated smallest eigenvalue), ``status``,
    ``notes`` (key → why it is None or what it means), ``zero_mode_check``, ``method``,
    ``point_dtype``, ``labels`` (``"clean"`` or ``"custom"``).

    * λ's and ``zero_modes``: :func:`ufm.spectrum.extreme_eigenvalues` (dense eigvalsh for
      P ≤ 3000, else Lanczos on HVPs), which measures that the symmetry-orbit tangent space is
      null before deflating it; ``lambda_min_nonzero`` and ``kappa_full`` are None when it is
      not (a non-critical or constrained point), or when a solver did not converge.
    * ``rank`` for the tangent space defaults to the minimiser's (theory.md b: K−1 in the collapse
      regime) for clean labels, else the point's numerical rank; ``zero_modes_expected`` is the
      orbit dimension at that rank (+1 for the bias shift).
    * Not computed, with a note: the full-Hessian quantities for nonnegative features (H ≥ 0:
      the unconstrained Hessian is not the second-order object of the constrained problem, and
      its orbit is not a symmetry of it), and every Hessian quantity for MaxSup at a tie of the
      two largest logits (e.g. its zero-regime minimiser z = 0), where the Hessian does not exist.
    * ``status``: ``ok``; ``negative-curvature`` (λ_min⁺ < 0: a saddle, not a minimiser);
      ``degenerate`` (λ_min⁺ ≈ 0: null directions beyond the orbit); ``orbit-not-null``;
      ``not-converged``; ``undefined`` (MaxSup tie, non-finite point); ``unsupported``
      (nonnegative features). ``kappa_full`` is reported only with ``ok``.
    * ``spectrum_rel_err``: dense: max_i |λ_i − λ_i^cf| / λ_max^cf over the whole sorted spectrum;
      matrix-free: the larger relative error of λ_max and λ_min⁺. None without a closed form or a
      numerical value.
    * The κ definitions are in this module's docstring (:data:`DEFINITIONS`).

    Args:
        problem: the UFM instance.
        params: the point, normally a (numerical) minimiser; any float dtype (cast to float64).
        labels: the labels the point was solved with (default ``problem.labels()``).
        method: ``auto``, ``dense``, ``lanczos`` or ``eigsh``.
        rank: see above.
        tol: Lanczos residual tolerance relative to λ_max.
        zero_rtol: zero threshold relative to λ_max (default √eps of the point's dtype).
    """
    from ufm.spectrum import default_zero_rtol, expand, extreme_eigenvalues, point_dtype

    y = resolve_labels(problem, labels)
    clean = clean_labels(problem, y)
    zero_rtol = default_zero_rtol(params) if zero_rtol is None else float(zero_rtol)
    cf, fams = closed_form_side(problem, y)
    if rank is None and clean:
        rank = minimiser_rank(problem)
    notes: dict[str, str] = {}
    num: dict[str, Any] = dict.fromkeys(REPORT_KEYS)
    num["lambda_min"] = None
    check: dict[str, Any] | None = None
    ext = None
    status = "ok"
    if not all(np.all(np.isfinite(np.asarray(a))) for a in params):
        status = "undefined"
        for key in (*REPORT_KEYS, "lambda_min"):
            notes[key] = "the point has non-finite entries"
    elif maxsup_tie(problem, params, zero_rtol):
        status = "undefined"
        note = ("MaxSup at a tie of the two largest logits (e.g. z = 0 in the zero regime): "
                "max z is not differentiable there, so the Hessian does not exist and an "
                "autodiff Hessian is that of one arbitrary branch")
        for key in (*REPORT_KEYS, "lambda_min"):
            notes[key] = note
    else:
        S = logit_hessians(problem, params, y)
        num["kappa_logit"] = kappa_logit_numerical(problem, params, y, hessians=S)
        num["kappa_features"] = kappa_features_numerical(problem, params, y, hessians=S)
        num["kappa_scale"] = kappa_scale_numerical(problem, params, y, rtol=zero_rtol)
        if num["kappa_scale"] is None:
            notes["kappa_scale"] = (f"W H = 0 to working precision (max|WH| ≤ {zero_rtol:.1e}): "
                                    "the zero regime has no rescaling direction")
        if problem.features == "nonnegative":
            status = "unsupported"
            note = ("nonnegative features: the minimiser is a constrained one (H ≥ 0 with active "
                    "bounds, ∇f ≠ 0), the unconstrained Hessian is not its second-order object "
                    "and the O(d) orbit is not a symmetry of the constraint")
            for key in ("lambda_max", "lambda_min_nonzero", "lambda_min", "zero_modes",
                        "zero_modes_expected", "kappa_full"):
                notes[key] = note
        else:
            ext = extreme_eigenvalues(problem, params, labels=y, method=method, rank=rank,
                                      tol=tol, zero_rtol=zero_rtol)
            status = ext.status
            notes.update(ext.notes)
            num.update(lambda_max=ext.lambda_max, lambda_min_nonzero=ext.lambda_min_nonzero,
                       lambda_min=ext.lambda_min, zero_modes=ext.zero_modes)
            num["zero_modes_expected"] = expected_zero_modes(
                problem, rank if rank is not None else ext.tangent_rank)
            if rank is None:
                notes["zero_modes_expected"] = (f"orbit dimension at the point's numerical rank "
                                                f"r = {ext.tangent_rank}")
            if status == "ok":
                num["kappa_full"] = ext.lambda_max / ext.lambda_min_nonzero
            else:
                notes["kappa_full"] = f"not defined: status {status} (see lambda_min_nonzero)"
            how = ("largest singular value of ∇²f·T, T an orthonormal basis (exact)"
                   if ext.method == "dense" else
                   "√λ_max(P_T ∇²f² P_T) by Lanczos (a lower bound; stopped once above tol)")
            check = {"tangent_dim": ext.tangent_dim, "rank": ext.tangent_rank,
                     "tangent_residual": ext.tangent_residual, "tol": zero_rtol,
                     "null": ext.tangent_null, "null_directions": ext.null_tangent_directions,
                     "measured_by": "‖∇²f·P_T‖₂/λ_max: " + how}
    rel: float | None = None
    if fams is not None and ext is not None:
        if ext.eigenvalues is not None:
            ref = expand(fams)
            rel = float(np.max(np.abs(ext.eigenvalues - ref)) / abs(cf["lambda_max"]))
        elif ext.lambda_max is not None and ext.lambda_min_nonzero is not None:
            rel = max(abs(ext.lambda_max / cf["lambda_max"] - 1),
                      abs(ext.lambda_min_nonzero / cf["lambda_min_nonzero"] - 1))
    out = {k: _jsonable(num[k]) for k in REPORT_KEYS}
    out["closed_form"] = {k: _jsonable(v) for k, v in cf.items()}
    out["spectrum_rel_err"] = rel
    out["lambda_min"] = _jsonable(num["lambda_min"])
    out["status"] = status
    out["notes"] = notes
    out["zero_mode_check"] = check
    out["method"] = None if ext is None else ext.method
    out["point_dtype"] = point_dtype(params).name
    out["labels"] = "clean" if clean else "custom"
    return out


def _jsonable(x: Any) -> Any:
    """numpy scalars → Python numbers; +inf → None (JSON has no infinity)."""
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(x) else None
    return x


# ------------------------------------------------------------------------- the claim
def compare_ce_ls(problem: Problem, alpha: float) -> dict[str, Any]:
    """κ(CE) and κ(LS with α) in closed form for ``problem``'s sizes and λ's, per definition.

    Returns:
        ``{"ce": {...}, "ls": {...}, "ls_lower": {kappa: bool | None}}``; ``ls`` is None when
        LS is in the zero regime (Kβ + α ≥ 1), and a definition's verdict is None when either
        value is undefined.
    """
    from ufm.closed_form import closed_form
    from ufm.spectrum import ClosedFormUnavailable

    ce = closed_form_kappas(problem.replace(loss="ce", alpha=0.0))
    ls: dict[str, Any] | None
    try:
        ls_problem = problem.replace(loss="ls", alpha=alpha)
        ls = None if closed_form(ls_problem).regime == "zero" else closed_form_kappas(ls_problem)
    except ClosedFormUnavailable:
        ls = None
    verdict: dict[str, bool | None] = {}
    for k in KAPPAS:
        a, b = ce[k], None if ls is None else ls[k]
        verdict[k] = None if a is None or b is None else bool(b < a)
    return {"ce": ce, "ls": ls, "ls_lower": verdict}


# ------------------------------------------------------------------------------ CLI
FLAGS = {
    "classes": "--classes", "per_class": "--per-class", "dim": "--dim",
    "lambda_w": "--lambda-w", "lambda_h": "--lambda-h", "lambda_b": "--lambda-b",
    "alpha": "--alpha", "bias": "--no-bias",
}
_DIM_TOKEN = re.compile(r"^(\d*)K([+-]\d+)?$")


class _UsageError(Exception):
    """Bad command-line input; the message is the one line printed."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (raised as :class:`_UsageError`, exit status 2)."""

    def error(self, message: str):
        """Raise instead of printing the usage and exiting."""
        raise _UsageError(message)


def _list(flag: str, text: str, convert) -> list:
    """A non-empty comma-separated list, each item converted (one-line error naming ``flag``)."""
    items = [t.strip() for t in str(text).split(",")]
    if not text.strip() or not all(items):
        raise _UsageError(f"{flag} {text!r}: expected a non-empty comma-separated list")
    try:
        return [convert(t) for t in items]
    except ValueError:
        raise _UsageError(f"{flag} {text!r}: expected comma-separated "
                          f"{'integers' if convert is int else 'numbers'}") from None


def _dim_spec(t: str) -> int | str:
    """An integer, or a token aK±b relative to K (``K-1``, ``K``, ``2K``)."""
    if _DIM_TOKEN.match(t):
        return t
    return int(t)


def _resolve_dim(spec: int | str, K: int) -> int:
    """The dimension for one K: the integer, or a·K + b for a token aK±b."""
    if isinstance(spec, int):
        return spec
    m = _DIM_TOKEN.match(spec)
    assert m is not None
    return int(m.group(1) or 1) * K + int(m.group(2) or 0)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``python -m ufm.conditioning``."""
    p = _Parser(
        prog="python -m ufm.conditioning",
        description="κ(CE) vs κ(LS) at the UFM minimiser for four definitions (theory.md c.3).",
    )
    p.add_argument("--classes", default="10", help="K >= 2 (--grid: a comma-separated list)")
    p.add_argument("--per-class", default="5",
                   help="samples per class n >= 1 (--grid: a list)")
    p.add_argument("--dim", default="10", help="feature dimension d >= K-1 (--grid: a list of "
                   "integers or of K-relative tokens such as K-1,K,2K)")
    p.add_argument("--lambda", dest="lam", type=float, default=None,
                   help="set λ_W = λ_H = λ_b at once (overridden by the specific flags)")
    p.add_argument("--lambda-w", type=float, default=None, help="λ_W > 0 (default 5e-4)")
    p.add_argument("--lambda-h", type=float, default=None, help="λ_H > 0 (default 5e-4)")
    p.add_argument("--lambda-b", type=float, default=None,
                   help="λ_b >= 0 (default 5e-4; --grid: fixed, default λ_b = λ)")
    p.add_argument("--no-bias", action="store_true", help="classifier without bias")
    p.add_argument("--alpha", type=float, default=0.1, help="LS smoothing α in (0, 1)")
    p.add_argument("--numeric", action="store_true",
                   help="also compute every κ numerically at the closed-form minimiser")
    p.add_argument("--grid", action="store_true",
                   help="sweep λ (λ_W = λ, λ_H = ratio·λ, λ_b = λ or --lambda-b), α, and the "
                        "lists of --classes, --dim, --per-class, --ratio; print a table")
    p.add_argument("--lambdas", default="1e-6,1e-5,1e-4,3e-4,1e-3,3e-3,1e-2,3e-2,1e-1",
                   help="grid λ values")
    p.add_argument("--alphas", default="0.01,0.05,0.1,0.2,0.5", help="grid α values")
    p.add_argument("--ratio", default="1", help="grid: λ_H/λ_W values (a list)")
    p.add_argument("--no-table", action="store_true", help="grid: print only the summary")
    p.add_argument("--json", metavar="PATH", default=None,
                   help="write the results as JSON ('-': stdout, the table then goes to stderr)")
    return p


def _problem(K: int, n: int, d: int, lw: float, lh: float, lb: float, bias: bool) -> Problem:
    """The CE problem of one case (d ≥ K−1 checked here: theory.md c.2 needs it)."""
    if isinstance(d, int) and isinstance(K, int) and 1 <= d < K - 1:
        raise ProblemError("dim", d, f"an integer d >= K-1 = {K - 1} (theory.md c.2)")
    return Problem(classes=K, per_class=n, dim=d, loss="ce", lambda_w=lw, lambda_h=lh,
                   lambda_b=lb, bias=bias)


def _fmt(x: Any) -> str:
    """A table cell: n/a, inf or 6 significant digits."""
    if x is None:
        return "n/a"
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    return f"{x:.6g}"


def _verdict(v: bool | None) -> str:
    """yes / no / n/a."""
    return {True: "yes", False: "no", None: "n/a"}[v]


def _single_ints(args: argparse.Namespace) -> tuple[int, int, int]:
    """K, n, d of a single run (lists need --grid)."""
    out = []
    for flag, text in (("--classes", args.classes), ("--per-class", args.per_class),
                       ("--dim", args.dim)):
        values = _list(flag, text, int)
        if len(values) != 1:
            raise _UsageError(f"{flag} {text}: a list needs --grid")
        out.append(values[0])
    return out[0], out[1], out[2]


def _single(args: argparse.Namespace, out) -> dict[str, Any]:
    """One problem: κ(CE), κ(LS) per definition (closed form; ``--numeric`` adds the Hessians)."""
    from ufm.closed_form import closed_form

    K, n, d = _single_ints(args)
    base = 5e-4 if args.lam is None else args.lam
    lw, lh, lb = (base if v is None else v for v in (args.lambda_w, args.lambda_h, args.lambda_b))
    problem = _problem(K, n, d, lw, lh, lb, not args.no_bias)
    if not 0 < args.alpha < 1:
        raise ProblemError("alpha", args.alpha, "a number in (0, 1)")
    res = compare_ce_ls(problem, args.alpha)
    ls_problem = problem.replace(loss="ls", alpha=args.alpha)
    print(
        f"UFM K={problem.K} n={problem.n} d={problem.d} λ_W={problem.lambda_w:g} "
        f"λ_H={problem.lambda_h:g} λ_b={problem.lambda_b:g} bias={'on' if problem.bias else 'off'} "
        f"β={problem.beta:.4g}; LS α={args.alpha:g} (MaxSup = LS at the minimiser, theory.md b.4)",
        file=out,
    )
    cf_ce, cf_ls = closed_form(problem), closed_form(ls_problem)
    print(f"CE: {cf_ce.regime}, Δ*={cf_ce.margin:.6g}, p*={cf_ce.p_true:.6g}   "
          f"LS: {cf_ls.regime}, Δ*={cf_ls.margin:.6g}, p*={cf_ls.p_true:.6g}", file=out)
    numeric = {}
    if args.numeric:
        from ufm.closed_form import minimiser

        for name, pr in (("ce", problem), ("ls", ls_problem)):
            if closed_form(pr).regime == "collapse":
                numeric[name] = hessian_report(pr, minimiser(pr))
    print(f"\n{'definition':<16}{'κ(CE)':>14}{'κ(LS)':>14}  LS lower?", file=out)
    for k in KAPPAS:
        ce = res["ce"][k]
        ls = None if res["ls"] is None else res["ls"][k]
        print(f"{k:<16}{_fmt(ce):>14}{_fmt(ls):>14}  {_verdict(res['ls_lower'][k])}", file=out)
        if numeric:
            nce = numeric.get("ce", {}).get(k)
            nls = numeric.get("ls", {}).get(k)
            print(f"{'  numerical':<16}{_fmt(nce):>14}{_fmt(nls):>14}", file=out)
    note = "; 'numerical' rows: Hessian at the closed-form point (dense or Lanczos)"
    print("\nsource: closed form at the ETF minimiser (theory.md c.2)" + (note if numeric else ""),
          file=out)
    for k in KAPPAS:
        print(f"  {k}: {DEFINITIONS[k]}", file=out)
    record = {"problem": problem.to_dict(), "alpha": args.alpha, **res, "definitions": DEFINITIONS}
    if numeric:
        record["numerical"] = numeric
    return record


def _grid_axes(args: argparse.Namespace) -> dict[str, list]:
    """Validated grid axes; one-line usage errors for empty lists, bad values or ignored flags."""
    for flag, value in (("--lambda", args.lam), ("--lambda-w", args.lambda_w),
                        ("--lambda-h", args.lambda_h)):
        if value is not None:
            raise _UsageError(f"{flag} {value:g}: not used with --grid (the grid sets λ_W = λ "
                              "and λ_H = ratio·λ from --lambdas and --ratio)")
    if args.no_bias and args.lambda_b is not None:
        raise _UsageError(f"--lambda-b {args.lambda_b:g}: applies only with a bias "
                          "(drop --no-bias)")
    axes = {
        "classes": _list("--classes", args.classes, int),
        "per_class": _list("--per-class", args.per_class, int),
        "dim": _list("--dim", args.dim, _dim_spec),
        "ratio": _list("--ratio", args.ratio, float),
        "lambdas": _list("--lambdas", args.lambdas, float),
        "alphas": _list("--alphas", args.alphas, float),
    }
    for flag, key, ok, expected in (
        ("--ratio", "ratio", lambda x: math.isfinite(x) and x > 0, "finite numbers > 0"),
        ("--lambdas", "lambdas", lambda x: math.isfinite(x) and x > 0, "finite numbers > 0"),
        ("--alphas", "alphas", lambda x: 0 < x < 1, "numbers in (0, 1)"),
    ):
        bad = [x for x in axes[key] if not ok(x)]
        if bad:
            raise _UsageError(f"{flag} {bad[0]:g}: expected {expected}")
    for K in axes["classes"]:
        for spec in axes["dim"]:
            d = _resolve_dim(spec, K)
            if d < max(1, K - 1):
                raise _UsageError(f"--dim {spec}: gives d = {d} for K = {K}; expected "
                                  f"d >= K-1 = {K - 1} (theory.md c.2)")
    return axes


def _grid(args: argparse.Namespace, out) -> dict[str, Any]:
    """The grid over K, d, n, ratio, λ, α in closed form: table, and the record for --json."""
    from ufm.closed_form import closed_form

    axes = _grid_axes(args)
    cases = []
    cols = (f"{k[6:] + '(CE)':>13} {k[6:] + '(LS)':>13} {'LS<':>4}" for k in KAPPAS)
    if not args.no_table:
        print(f"{'K':>3} {'d':>4} {'n':>4} {'λH/λW':>6} {'λ':>9} {'α':>6} " + " ".join(cols),
              file=out)
    for K in axes["classes"]:
        for spec in axes["dim"]:
            d = _resolve_dim(spec, K)
            for n in axes["per_class"]:
                for ratio in axes["ratio"]:
                    for lam in axes["lambdas"]:
                        lb = lam if args.lambda_b is None else args.lambda_b
                        problem = _problem(K, n, d, lam, ratio * lam, lb, not args.no_bias)
                        collapse = closed_form(problem).regime == "collapse"
                        ce = closed_form_kappas(problem) if collapse else None
                        for alpha in axes["alphas"]:
                            if ce is None:
                                res = {"ce": None, "ls": None, "ls_lower": dict.fromkeys(KAPPAS)}
                            else:
                                res = compare_ce_ls(problem, alpha)
                            cases.append({"classes": K, "dim": d, "per_class": n, "ratio": ratio,
                                          "lambda": lam, "lambda_h": problem.lambda_h,
                                          "lambda_b": problem.lambda_b, "alpha": alpha,
                                          "beta": problem.beta, **res})
                            if args.no_table:
                                continue
                            cells = []
                            for k in KAPPAS:
                                a = None if res["ce"] is None else res["ce"][k]
                                b = None if res["ls"] is None else res["ls"][k]
                                cells.append(f"{_fmt(a):>13} {_fmt(b):>13} "
                                             f"{_verdict(res['ls_lower'][k]):>4}")
                            print(f"{K:>3} {d:>4} {n:>4} {ratio:>6.3g} {lam:>9.3g} "
                                  f"{alpha:>6.3g} " + " ".join(cells), file=out)
    summary = _summary(cases)
    print("\nwhere LS has the lower κ (cases with both losses in the collapse regime):", file=out)
    for k in KAPPAS:
        s = summary[k]
        lams = s["lambdas_where_it_holds"]
        where = f"λ ∈ {{{', '.join(f'{x:g}' for x in lams)}}}" if lams else "nowhere"
        print(f"  {k:<15} {s['holds']:>6} of {s['cases']:<6} ({where})", file=out)
    print("  n/a: CE or LS in the zero regime (W = H = 0); source: closed form (theory.md c.2–c.3)",
          file=out)
    return {"grid": {**axes, "dim": [str(x) for x in axes["dim"]], "bias": not args.no_bias,
                     "lambda_b": args.lambda_b},
            "definitions": DEFINITIONS, "cases": cases, "summary": summary}


def _summary(cases: list[dict[str, Any]]) -> dict[str, Any]:
    """Per κ: how many cases have both losses defined, in how many LS is lower, and where."""
    summary = {}
    for k in KAPPAS:
        valid = [c for c in cases if c["ls_lower"][k] is not None]
        holds = [c for c in valid if c["ls_lower"][k]]
        shapes: dict[tuple, list[int]] = {}
        for c in valid:
            key = (c["classes"], c["dim"], c["per_class"])
            shapes.setdefault(key, [0, 0])
            shapes[key][0] += bool(c["ls_lower"][k])
            shapes[key][1] += 1
        summary[k] = {
            "holds": len(holds), "cases": len(valid),
            "lambdas_where_it_holds": sorted({c["lambda"] for c in holds}),
            "by_shape": [{"classes": K, "dim": d, "per_class": n, "holds": h, "cases": t}
                         for (K, d, n), (h, t) in sorted(shapes.items())],
        }
    return summary


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m ufm.conditioning``; the exit status (0 ok, 2 bad input)."""
    from ufm.report import check_writable, write_json
    from ufm.spectrum import ClosedFormUnavailable

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.json is not None:
            reason = check_writable(args.json)
            if reason:
                raise _UsageError(f"--json {args.json}: expected a writable file path ({reason})")
        out = sys.stderr if args.json == "-" else sys.stdout
        with x64():
            record = _grid(args, out) if args.grid else _single(args, out)
    except _UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except ProblemError as e:
        flag = FLAGS.get(e.field, "--" + e.field.replace("_", "-"))
        print(f"error: {flag} {e.value!r}: expected {e.expected}", file=sys.stderr)
        return 2
    except ClosedFormUnavailable as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        try:
            write_json(record, args.json)
        except OSError as exc:
            print(f"error: --json {args.json}: expected a writable file path ({exc})",
                  file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
