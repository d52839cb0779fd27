"""Property tests of the theorems (theory.md b): the solver's minimiser is the closed form.

For a random loss, K in 2..8, d from K−1 to 2K, n in 1..6 and log-uniform λ's drawn on both sides
of the collapse threshold, the numerical minimiser from a random start matches the closed form:
objective to 1e-10 relative and Grams to 1e-6 (the issue's bars, stricter than the verdict's),
and the NC metrics vanish in the collapse regime.
"""

import math

import numpy as np
import pytest
from hypothesis import given
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
    if loss == "mse" and not bias:
        d = max(d, K)  # the no-bias MSE solution has rank K
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
    lambda_b = draw(st.sampled_from([0.0, 1e-3, 0.1])) if bias else 0.0
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
    if _near_threshold(problem):
        return
    cf = closed_form(problem)
    assert cf.available, cf.reason
    result = minimize(problem, seed=seed, max_iters=50_000)
    assert result.converged, (result.status, result.grad_norm)
    f = objective_f64(problem, result.params)
    cmp = compare(problem, result.params, cf, f)
    assert cmp["objective_rel_err"] <= 1e-10, cmp
    for key in ("gram_w_rel_err", "gram_h_rel_err", "logits_rel_err"):
        scale = 1.0 if cf.regime == "collapse" else math.sqrt(problem.num_params)
        assert cmp[key] <= 1e-6 * scale, cmp
    if cf.regime == "collapse":
        from ufm.metrics import nc_metrics

        nc = nc_metrics(*result.params, problem.labels(), problem.K)
        assert nc["nc1"] <= NC_TOL and nc["nc2_h"] <= NC_TOL and nc["nc4"] == 0
        if problem.loss != "mse":  # MSE's classifier is an orthogonal frame / ETF + mean part
            assert nc["nc2_w"] <= NC_TOL and nc["nc3"] <= NC_TOL


@given(st.floats(0.0, 0.4), st.floats(0.05, 0.5))
def test_maxsup_minimum_equals_label_smoothing(alpha, k_beta):
    """theory.md b.4: min f_MaxSup = min f_LS (solver on both, same start; one shape so the
    compiled solvers are reused across examples)."""
    K, n = 4, 3
    lam = k_beta / (K * math.sqrt(n))
    ls = Problem(K, n, K, loss="ls", alpha=alpha, lambda_w=lam, lambda_h=lam, lambda_b=1e-3)
    ms = ls.replace(loss="maxsup")
    f_ls, f_ms = minimize(ls, seed=1), minimize(ms, seed=1)
    assert f_ls.converged and f_ms.converged
    assert abs(f_ls.objective - f_ms.objective) <= 1e-10 * f_ls.objective


def test_maxsup_zero_regime_is_not_claimed_converged():
    """In the zero regime MaxSup's minimiser W = H = 0 sits on a kink of max(z) (all logits tie),
    where ‖∇f‖ cannot vanish. The solver reaches the minimum value but must not call that
    converged by its gradient test (a known limitation, documented in the README)."""
    lam = 0.75 / 2
    ms = Problem(2, 1, 2, loss="maxsup", alpha=0.375, lambda_w=lam, lambda_h=lam, lambda_b=1e-3)
    result = minimize(ms, seed=1)
    assert not result.converged and result.status in ("stalled", "max-iters")
    assert result.objective == pytest.approx(math.log(2), rel=1e-10)


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
