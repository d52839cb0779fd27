"""The sympy proofs (proofs/, one per claim of theory.md) and their agreement with ufm's numerics.

* ``test_<proof>`` runs ``proofs.<proof>.check()``: exact identities (see each module docstring).
* ``test_*_matches_ufm`` evaluate the proofs' closed-form expressions in 40-digit mpmath at
  hypothesis-drawn parameters (collapse regime) and compare them with :mod:`ufm.closed_form` and
  :mod:`ufm.spectrum`. The reference is computed from the same float64 inputs, so the only error
  is ufm's own float64 round-off: a few ulps amplified by the conditioning of each formula, far
  below the 1e-12 relative tolerance asked for (ulp = 2.2e-16). Every mpmath operation in this
  module runs at 40 digits (the module-scoped ``_mp_precision`` fixture).
"""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # proofs/ is a top-level package next to ufm/, not installed
    sys.path.insert(0, str(ROOT))

from proofs import MODULES, ce, focal, ls, mse, nonnegative, reduction  # noqa: E402
from proofs import hessian_spectrum as hs  # noqa: E402
from ufm.closed_form import closed_form, reduced_objective  # noqa: E402
from ufm.spec import Problem  # noqa: E402
from ufm.spectrum import closed_form_spectrum, expand  # noqa: E402

RTOL = 1e-12
DPS = 40


@pytest.fixture(autouse=True, scope="module")
def _mp_precision():
    """40-digit mpmath for every reference in this module (restored afterwards)."""
    with mpmath.workdps(DPS):
        yield


# ----------------------------------------------------------------------------- the proofs
def _run(name: str) -> None:
    importlib.import_module(f"proofs.{name}").check()


def test_module_list_is_complete():
    files = {p.stem for p in (ROOT / "proofs").glob("*.py")} - {"__init__", "_common", "run_all"}
    assert files == set(MODULES)


def test_factorisation():
    _run("factorisation")


def test_reduction():
    _run("reduction")


def test_ce():
    _run("ce")


def test_ls():
    _run("ls")


def test_maxsup():
    _run("maxsup")


def test_focal():
    _run("focal")


def test_mse():
    _run("mse")


def test_nonnegative():
    _run("nonnegative")


def test_global_min():
    _run("global_min")


def test_stationarity():
    _run("stationarity")


def test_hessian_spectrum():
    _run("hessian_spectrum")


def test_certificate():
    _run("certificate")


def test_mp_precision_is_40_digits():
    assert mpmath.mp.dps == DPS
    ref = _mp(sp.log(3), {})
    assert abs(ref - mpmath.log(3)) < mpmath.mpf(10) ** -38
    assert abs(ref - mpmath.mpf(math.log(3))) > mpmath.mpf(10) ** -20  # not a float64


def test_run_all_rejects_unknown_names(capsys):
    from proofs.run_all import main

    assert main(["no_such_proof"]) == 2
    assert "no_such_proof" in capsys.readouterr().err


# ------------------------------------------------------------------ exact evaluation helpers
def _mp(expr, subs: dict) -> mpmath.mpf:
    """Evaluate a sympy expression at float64 inputs (taken exactly) to DPS digits."""
    value = sp.N(expr.subs({k: sp.Float(v, DPS) for k, v in subs.items()}), DPS)
    with mpmath.workdps(DPS):
        return mpmath.mpf(str(value))


def _close(actual: float, reference, what: str, rtol: float = RTOL) -> None:
    with mpmath.workdps(DPS):
        err = abs(mpmath.mpf(actual) - reference)
        exact = mpmath.nstr(reference, 20)
        assert err <= rtol * abs(reference), f"{what}: ufm {actual!r} vs exact {exact}"


def _f(x) -> sp.Float:
    """A float64 (or mpf) value as a DPS-digit sympy Float, exactly."""
    return sp.Float(str(x) if isinstance(x, mpmath.mpf) else x, DPS)


def _beta(problem: Problem) -> mpmath.mpf:
    with mpmath.workdps(DPS):
        return mpmath.sqrt(problem.n * mpmath.mpf(problem.lambda_w) * mpmath.mpf(problem.lambda_h))


log_uniform = lambda lo, hi: st.floats(math.log(lo), math.log(hi)).map(math.exp)


@st.composite
def softmax_problems(draw, losses=("ce", "ls", "maxsup"), features="free"):
    """A balanced problem in the collapse regime: Kβ_eff = u·(1 − α) + α < 1 by construction."""
    K = draw(st.integers(2, 12))
    n = draw(st.integers(1, 6))
    loss = draw(st.sampled_from(losses))
    alpha = draw(st.floats(0.0, 0.5)) if loss in ("ls", "maxsup") else 0.0
    u = draw(st.floats(0.02, 0.95))
    lw = draw(log_uniform(1e-5, 1e-1))
    beta = u * (1 - alpha) / K
    if features == "nonnegative":
        beta /= math.sqrt(K / (K - 1))  # β₊ = β sqrt(K/(K−1)) must satisfy the same bound
    lh = beta**2 / (n * lw)
    d = K if features == "nonnegative" else draw(st.sampled_from([K - 1, K, K + 3]))
    return Problem(K, n, max(d, 1), loss=loss, lambda_w=lw, lambda_h=lh, lambda_b=lw, alpha=alpha,
                   features=features)


# --------------------------------------------------------------------- closed forms vs ufm
@given(softmax_problems())
def test_ce_ls_maxsup_closed_form_matches_ufm(problem):
    cf = closed_form(problem)
    assert cf.available and cf.regime == "collapse"
    K, a = problem.K, problem.alpha if problem.loss != "ce" else 0.0
    sym = {ls.K: K, ls.beta: _beta(problem), ls.alpha: a}
    D = _mp(ls.margin(), sym)
    _close(cf.margin, D, "margin")
    _close(cf.p_true, _mp(ls.p_star(), sym), "p_true")
    _close(cf.objective, _mp(ls.objective(), sym), "objective")
    w2, h2 = ce.norms(_f(D), K, problem.n, _f(problem.lambda_w), _f(problem.lambda_h))
    _close(cf.w_norm_sq, mpmath.mpf(str(sp.N(w2, DPS))), "w_norm_sq")
    _close(cf.h_norm_sq, mpmath.mpf(str(sp.N(h2, DPS))), "h_norm_sq")
    assert cf.bias == 0.0 and cf.mean_logit == 0.0


@given(softmax_problems(losses=("ce", "ls"), features="nonnegative"))
def test_nonnegative_closed_form_matches_ufm(problem):
    cf = closed_form(problem)
    assert cf.available and cf.regime == "collapse"
    K = problem.K
    bp = _mp(nonnegative.beta_plus(ls.beta, K), {ls.beta: _beta(problem)})
    sym = {ls.K: K, ls.beta: bp, ls.alpha: problem.alpha if problem.loss == "ls" else 0.0}
    D = _mp(ls.margin(), sym)
    _close(cf.margin, D, "margin")
    _close(cf.objective, _mp(ls.objective(), sym), "objective")
    w2, h2 = nonnegative.norms(_f(D), K, problem.n, _f(problem.lambda_w), _f(problem.lambda_h))
    _close(cf.w_norm_sq, mpmath.mpf(str(sp.N(w2, DPS))), "w_norm_sq")
    _close(cf.h_norm_sq, mpmath.mpf(str(sp.N(h2, DPS))), "h_norm_sq")


@given(K=st.integers(2, 10), n=st.integers(1, 5), gamma=st.floats(0.5, 4.0), u=st.floats(0.05, 0.9),
       lw=log_uniform(1e-4, 1e-1))
def test_focal_closed_form_matches_ufm(K, n, gamma, u, lw):
    g0 = ((K - 1) / K) ** gamma * ((K - 1) / K + gamma * math.log(K) / K)  # g_γ(1/K), b.5
    beta = u * g0 / (K - 1)
    problem = Problem(K, n, K, loss="fl", gamma=gamma, lambda_w=lw, lambda_h=beta**2 / (n * lw))
    cf = closed_form(problem)
    assert cf.available and cf.regime == "collapse"
    b = _beta(problem)
    p = focal.solve_p(K, _f(b), _f(gamma), digits=DPS)
    D = focal.margin_of_p(p, K)
    _close(cf.p_true, mpmath.mpf(str(p)), "p_true")
    _close(cf.margin, mpmath.mpf(str(sp.N(D, DPS))), "margin")
    f = focal.phi(D, K, _f(b), _f(gamma))
    _close(cf.objective, mpmath.mpf(str(sp.N(f, DPS))), "objective")


@given(K=st.integers(2, 10), n=st.integers(1, 5), case=st.sampled_from([1, 2, 3]),
       s=st.floats(0.5, 20.0), u=st.floats(0.02, 0.95), lw=log_uniform(1e-4, 1e-1),
       lb=log_uniform(1e-3, 10.0))
def test_mse_closed_form_matches_ufm(K, n, case, s, u, lw, lb):
    beta = u * s / K  # Δ* = s − Kβ = s(1 − u) > 0
    problem = Problem(K, n, K, loss="mse", target_scale=s, lambda_w=lw, lambda_h=beta**2 / (n * lw),
                      bias=case != 2, lambda_b=0.0 if case == 1 else lb)
    cf = closed_form(problem)
    assert cf.available and cf.regime == "collapse"
    sym = {mse.K: K, mse.beta: _beta(problem), mse.s: s, mse.c_m: 1, mse.lam_b: problem.lambda_b}
    _close(cf.margin, _mp(mse.margin(), sym), "margin")
    mu = max(_mp(mse.mean_part(), sym), 0) if case == 3 else 0
    mu_sym = _f(mu)
    _close(cf.objective, _mp(mse.objective(case, mu=mu_sym), sym), "objective")
    if case == 3:
        assert abs(mpmath.mpf(cf.mean_logit) - mu) <= RTOL * max(abs(mu), s / K)
        _close(cf.bias, _mp(mse.bias_value(mu_sym), sym), "bias")
    elif case == 1:
        _close(cf.bias, mpmath.mpf(s) / K, "bias")
    w2, h2 = mse.norms(case, n=problem.n, lam_w=_f(problem.lambda_w), lam_h=_f(problem.lambda_h))
    _close(cf.w_norm_sq, _mp(w2, sym), "w_norm_sq")
    _close(cf.h_norm_sq, _mp(h2, sym), "h_norm_sq")


@given(K=st.integers(2, 50), loss=st.sampled_from(["ce", "ls", "maxsup", "fl"]),
       margin=st.floats(0.0, 30.0), beta=log_uniform(1e-6, 0.5), alpha=st.floats(0.0, 0.5),
       gamma=st.floats(0.0, 4.0))
def test_reduced_objective_matches_ufm(K, loss, margin, beta, alpha, gamma):
    value = reduced_objective(loss, margin, K=K, beta=beta, alpha=alpha, gamma=gamma)
    r, b = reduction, sp.Symbol("b")
    expr = r.phi(loss, r.Delta, K, b, alpha=r.alpha, gamma=r.gamma)
    ref = _mp(expr, {r.Delta: margin, b: beta, r.alpha: alpha, r.gamma: gamma})
    _close(value, ref, f"phi_{loss}")


# ------------------------------------------------------------------- Hessian spectrum vs ufm
@given(K=st.integers(2, 6), extra=st.sampled_from([0, 1, 3]), n=st.integers(1, 3),
       loss=st.sampled_from(["ce", "ls", "maxsup"]), u=st.floats(0.05, 0.9),
       lw=log_uniform(1e-4, 1e-1), alpha=st.floats(0.0, 0.4),
       bias=st.sampled_from(["none", "free", "decayed"]))
def test_hessian_spectrum_matches_ufm(K, extra, n, loss, u, lw, alpha, bias):
    alpha = alpha if loss != "ce" else 0.0
    beta = u * (1 - alpha) / K
    problem = Problem(K, n, K - 1 + extra, loss=loss, alpha=alpha, lambda_w=lw,
                      lambda_h=beta**2 / (n * lw), bias=bias != "none",
                      lambda_b=lw if bias == "decayed" else 0.0)
    ufm_values = expand(closed_form_spectrum(problem))
    b_eff = _beta(problem) + mpmath.mpf(alpha) / K
    p = 1 - (K - 1) * b_eff
    D = mpmath.log(1 / b_eff - (K - 1))
    fam = hs.families(K, problem.d, n, _f(p), _f(problem.lambda_w), _f(problem.lambda_h),
                      _f(problem.lambda_b), Delta=_f(D), bias=problem.bias)
    ref = _eigenvalues(fam)
    assert len(ref) == ufm_values.size == problem.num_params
    scale = max(abs(v) for v in ref)
    worst = max(abs(mpmath.mpf(a) - b) for a, b in zip(ufm_values, ref, strict=True))
    assert worst <= RTOL * scale, f"eigenvalue error {float(worst):.3g}, scale {float(scale):.3g}"


def _eigenvalues(fam) -> list:
    """All eigenvalues (with multiplicity, sorted) of a proofs family table, to DPS digits."""
    ref = []
    for _, block, mult in fam:
        rows = [[mpmath.mpf(str(sp.N(v, DPS))) for v in row] for row in block.tolist()]
        ref += list(mpmath.eigsy(mpmath.matrix(rows), eigvals_only=True)) * int(mult)
    return sorted(ref)


@given(K=st.integers(2, 4), extra=st.sampled_from([0, 1, 3]), n=st.integers(1, 3),
       gamma=st.floats(0.5, 4.0), u=st.floats(0.05, 0.9), lw=log_uniform(1e-4, 1e-1),
       bias=st.sampled_from(["none", "decayed"]))
def test_fl_hessian_spectrum_matches_ufm(K, extra, n, gamma, u, lw, bias):
    """FL: the proofs' σ-form table (M₄ with Γ in σ_t, σ_o) against ufm.spectrum, whose FL M₄ is
    numerical (autodiff of the class-mean problem; each (K, bias) compiles once)."""
    g0 = ((K - 1) / K) ** gamma * ((K - 1) / K + gamma * math.log(K) / K)  # g_γ(1/K), b.5
    beta = u * g0 / (K - 1)
    problem = Problem(K, n, K - 1 + extra, loss="fl", gamma=gamma, lambda_w=lw,
                      lambda_h=beta**2 / (n * lw), bias=bias != "none",
                      lambda_b=lw if bias == "decayed" else 0.0)
    values = expand(closed_form_spectrum(problem))
    b = _beta(problem)
    p = focal.solve_p(K, _f(b), _f(gamma), digits=DPS)
    st_, so = hs.fl_logit_eigenvalues(K, p, _f(gamma))
    fam = hs.families_sigma(K, problem.d, n, st_, so, _f(problem.lambda_w), _f(problem.lambda_h),
                            _f(problem.lambda_b), Delta=focal.margin_of_p(p, K),
                            bias=problem.bias, s=_f(b) / sp.sqrt(n))
    ref = _eigenvalues(fam)
    assert len(ref) == values.size == problem.num_params
    scale = max(abs(v) for v in ref)
    worst = max(abs(mpmath.mpf(a) - b) for a, b in zip(values, ref, strict=True))
    assert worst <= RTOL * scale, f"eigenvalue error {float(worst):.3g}, scale {float(scale):.3g}"


@pytest.mark.parametrize("loss", ["ce", "ls"])
def test_worked_example_spectrum_matches_ufm(loss):
    """theory.md c.2 worked example (K = 4, d = 5, n = 3, λ = 5e-3, λ_b = 0) via ufm.spectrum."""
    problem = Problem(4, 3, 5, loss=loss, alpha=0.1 if loss == "ls" else 0.0, lambda_w=5e-3,
                      lambda_h=5e-3, lambda_b=0.0)
    values = expand(closed_form_spectrum(problem))
    for text, mult in hs.WORKED_EXAMPLE[loss]:
        # 10-decimal values to their last digit; "0", "0.005", "0.01" are exact (0, λ, 2λ)
        tol = 1e-10 if len(text.split(".")[-1]) == 10 else 1e-15
        hits = np.count_nonzero(np.abs(values - float(text)) <= tol)
        assert hits == mult, (text, mult, hits)
    assert values.size == sum(m for _, m in hs.WORKED_EXAMPLE[loss])
