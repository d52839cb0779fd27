"""Property tests of the theorems (theory.md b): the solver's minimiser is the closed form.

For a random loss, K in 2..8, d from K−1 to 2K, n in 1..6 and log-uniform λ's drawn on both sides
of the collapse threshold, the numerical minimiser from a random start matches the closed form:
objective to 1e-10 relative and Grams to 1e-6 (the issue's bars, stricter than the verdict's),
and the NC metrics vanish in the collapse regime.
"""

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ufm.closed_form import closed_form
from ufm.solvers import minimize
from ufm.spec import Problem
from ufm.verify import compare, objective_f64

NC_TOL = 1e-6  # NC metrics are O(distance to the minimiser) like the Grams


@st.composite
def problems(draw, losses=("ce", "ls", "fl", "mse", "maxsup")):
    loss = draw(st.sampled_from(losses))
    K = draw(st.integers(2, 8))
    d = draw(st.integers(max(K - 1, 1), 2 * K))
    n = draw(st.integers(1, 6))
    bias = draw(st.booleans())
    lambda_b = draw(st.sampled_from([0.0, 1e-3, 0.1])) if bias else 0.0
    if loss == "mse" and (not bias or lambda_b > 0):
        d = max(d, K)  # no bias: rank K; λ_b > 0: rank K once the mean part switches on (b.6)
    # λ_W λ_H log-uniform around the threshold: Kβ = K sqrt(n λ_W λ_H) ranges over [0.05, 1.6]
    k_beta = math.exp(draw(st.floats(math.log(0.05), math.log(1.6))))
    ratio = math.exp(draw(st.floats(math.log(0.2), math.log(5.0))))  # λ_H / λ_W
    lam_prod = (k_beta / K) ** 2 / n
    lambda_w = math.sqrt(lam_prod / ratio)
    lambda_h = lam_prod / lambda_w
    extra = {}
    if loss in ("ls", "maxsup"):
        extra["alpha"] = draw(st.sampled_from([0.0, 0.05, 0.1, 0.3]))
    if loss == "fl":
        extra["gamma"] = draw(st.sampled_from([0.5, 1.0, 2.0, 3.0]))
    if loss == "mse":
        extra["target_scale"] = draw(st.sampled_from([1.0, 2.0]))
    return Problem(K, n, d, loss=loss, lambda_w=lambda_w, lambda_h=lambda_h, lambda_b=lambda_b,
                   bias=bias, **extra)


def _near_threshold(problem: Problem) -> bool:
    """Within 2% of a regime boundary the minimiser is degenerate (Δ* → 0, curvature → 0) and
    convergence is sublinear; these draws test nothing about the closed form."""
    cf = closed_form(problem)
    beta = problem.beta
    if problem.loss in ("ce", "ls", "maxsup"):
        x = problem.K * beta + problem.alpha * (problem.loss != "ce")
        return abs(x - 1) < 0.02
    if problem.loss == "mse":
        return abs(problem.K * beta / problem.target_scale - 1) < 0.02 or (
            problem.bias and problem.lambda_b > 0
            and abs(problem.K * beta * (1 + problem.lambda_b) / problem.lambda_b
                    / problem.target_scale - 1) < 0.02)
    return cf.margin is not None and 0 < cf.margin < 0.05


@given(problems(), st.integers(0, 2**16))
def test_solver_finds_the_closed_form_minimiser(problem, seed):
    assume(not _near_threshold(problem))
    cf = closed_form(problem)
    assert cf.available, cf.reason
    result = minimize(problem, seed=seed, max_iters=50_000)
    if problem.loss == "maxsup" and cf.regime == "zero":
        # the minimiser z = 0 is a tie of max z. Either the solver lands on it exactly (JAX
        # splits the max's gradient over ties: 0 is then the minimal subgradient, a true
        # stationary point) or it stops beside it on the kink, and the duality certificate
        # proves optimality instead
        from ufm.verify import verify

        assert result.status in ("converged", "kink"), result.status
        assert verify(problem, result)["optimality_basis"] in ("gradient", "duality gap")
    else:
        assert result.converged, (result.status, result.grad_norm)
    f = objective_f64(problem, result.params)
    cmp = compare(problem, result.params, cf, f)
    assert cmp["objective_rel_err"] <= 1e-10, cmp
    for key in ("gram_w_rel_err", "gram_h_rel_err", "logits_rel_err"):
        # relative in the collapse regime, absolute (reference 0) in the zero regime
        assert cmp[key] <= 1e-6, cmp
    if cf.regime == "collapse":
        from ufm.metrics import nc_metrics

        nc = nc_metrics(*result.params, problem.labels(), problem.K)
        assert nc["nc1"] <= NC_TOL and nc["nc2_h"] <= NC_TOL and nc["nc4"] == 0
        # MSE's classifier is a simplex ETF only in b.6 case 1 (bias, λ_b = 0); without a bias it
        # is an orthogonal frame and with λ_b > 0 an ETF plus a mean part
        etf = problem.loss != "mse" or (problem.bias and problem.lambda_b == 0)
        if etf:
            assert nc["nc2_w"] <= NC_TOL and nc["nc3"] <= NC_TOL


@given(st.floats(0.0, 0.4), st.floats(0.05, 0.5))
def test_maxsup_minimum_equals_label_smoothing(alpha, k_beta):
    """theory.md b.4: min f_MaxSup = min f_LS (solver on both, same start; one shape so the
    compiled solvers are reused across examples)."""
    K, n = 4, 3
    lam = k_beta / (K * math.sqrt(n))
    ls = Problem(K, n, K, loss="ls", alpha=alpha, lambda_w=lam, lambda_h=lam, lambda_b=1e-3)
    ms = ls.replace(loss="maxsup")
    # MaxSup solved alone (no LS envelope start), so this compares two independent solves
    f_ls, f_ms = minimize(ls, seed=1), minimize(ms, seed=1, envelope=False)
    assert f_ls.converged and f_ms.converged
    assert abs(f_ls.objective - f_ms.objective) <= 1e-10 * f_ls.objective


def test_maxsup_zero_regime_is_not_claimed_converged():
    """In the zero regime MaxSup's minimiser W = H = 0 sits on a kink of max(z) (all logits tie),
    where ‖∇f‖ cannot vanish. The solver reaches the minimum value but must not call that
    converged by its gradient test (a known limitation, documented in the README)."""
    lam = 0.75 / 2
    ms = Problem(2, 1, 2, loss="maxsup", alpha=0.375, lambda_w=lam, lambda_h=lam, lambda_b=1e-3)
    result = minimize(ms, seed=1)
    assert not result.converged and result.status == "kink"
    assert result.objective == pytest.approx(math.log(2), rel=1e-10)
    # ... and the duality certificate proves optimality instead (ufm.verify)
    from ufm.verify import verify

    report = verify(ms, result)
    assert report["optimality_basis"] == "duality gap" and report["verdict"] == "verified"


@pytest.mark.parametrize("loss", ["ce", "ls"])
@pytest.mark.parametrize("side", [-1, 1])
def test_zero_regime_appears_exactly_at_the_threshold(loss, side):
    """CE: collapse iff Kβ < 1; LS: iff Kβ + α < 1 (theory.md b.2, b.3). 3% either side."""
    K, n, alpha = 4, 3, (0.1 if loss == "ls" else 0.0)
    beta = (1 - alpha) / K * (1 + 0.03 * side)
    lam = beta / math.sqrt(n)
    problem = Problem(K, n, 5, loss=loss, alpha=alpha, lambda_w=lam, lambda_h=lam, lambda_b=1e-3)
    result = minimize(problem, seed=0, max_iters=50_000)
    assert result.converged
    W_norm = float(np.linalg.norm(result.params.W))
    expected = "zero" if side > 0 else "collapse"
    assert closed_form(problem).regime == expected
    if expected == "zero":
        assert W_norm <= 1e-6 and result.objective == pytest.approx(math.log(K), rel=1e-10)
    else:
        assert W_norm > 1e-2 and result.objective < math.log(K)


@pytest.mark.parametrize(("loss", "alpha", "lam"), [("ce", 0.0, 0.25), ("ls", 0.5, 0.125)])
def test_regime_is_decided_exactly_at_the_threshold(loss, alpha, lam):
    """K = 4, n = 1: Kβ + α = 1 exactly in floating point at λ_W = λ_H = lam. theory.md b.2/b.3:
    collapse iff Kβ + α < 1, so the threshold itself is the zero regime and one ulp below it is
    collapse. At the threshold the minimiser is degenerate (λ_min⁺ = 0): the verdict may be
    "not-converged" (distances unresolvable) but never "mismatch"."""
    from ufm.verify import verify

    at = Problem(4, 1, 4, loss=loss, alpha=alpha, lambda_w=lam, lambda_h=lam, lambda_b=1e-3)
    below = at.replace(lambda_w=math.nextafter(lam, 0.0))
    assert closed_form(at).regime == "zero" and closed_form(at).margin == 0.0
    cf = closed_form(below)
    assert cf.regime == "collapse" and 0 < cf.margin < 1e-14
    result = minimize(at, seed=0)
    report = verify(at, result)
    assert report["verdict"] in ("verified", "not-converged")
    assert abs(result.objective - math.log(4)) <= 1e-10 * math.log(4)
