"""The verdict (ufm.verify): tolerances, what earns a verdict, and what never does.

Each case here was a wrong verdict once: a run cut off by its budget called verified or
mismatch, the exact minimiser rejected at small λ, an unresolvable near-threshold float32 run
called a mismatch.
"""

import math

import numpy as np
import pytest

from ufm.closed_form import closed_form, minimiser
from ufm.objective import value_and_stationarity_f64
from ufm.solvers import SolveResult, minimize
from ufm.spec import Problem
from ufm.verify import Tolerances, compare, decide, tolerances, verify

EPS = float(np.finfo(np.float64).eps)


def _result_at(problem: Problem, params, dtype="float64", status="converged") -> SolveResult:
    """A SolveResult for a given point, as if a solver had stopped there."""
    f, g = value_and_stationarity_f64(problem, params)
    return SolveResult(params=params, objective=f, grad_norm=g, converged=status == "converged",
                       status=status, message="", iterations=0, first_order_iterations=0,
                       newton_iterations=0, grad_evals=0, func_evals=0, hvp_evals=0,
                       seconds=0.0, compile_seconds=0.0, dtype=dtype,
                       gtol=float(np.finfo(dtype).eps) ** (2 / 3), seed=0)


@pytest.mark.parametrize("lam", [1e-9, 1e-10])
def test_exact_minimiser_is_verified_at_tiny_lambda(lam):
    """f* → 0 as λ → 0 while the logits grow like log(1/λ): the round-off of evaluating f in
    float64 (≈ eps·max|Z*|) then exceeds eps^(2/3)·f*, and the objective bar must include it."""
    problem = Problem(10, 20, 32, lambda_w=lam, lambda_h=lam, bias=False)
    rng = np.random.default_rng(0)
    Q, _ = np.linalg.qr(rng.standard_normal((32, 32)))
    star = minimiser(problem, rotation=Q)
    report = verify(problem, _result_at(problem, star))
    tol = report["tolerances"]
    own_logit = (problem.K - 1) / problem.K * closed_form(problem).margin  # max|Z*| ≈ 17–19
    assert tol["objective_atol"] >= 8 * EPS * own_logit
    assert report["verdict"] == "verified", report["comparison"]


@pytest.mark.parametrize("status", ["max-iters", "stalled"])
def test_a_run_that_stopped_early_gets_no_verdict_even_if_certified(status):
    """Only MaxSup's kinks may earn a verdict through the duality gap; for any other loss a run
    stopped by its budget is not converged, whatever its certificate says."""
    problem = Problem(4, 3, 6, loss="mse", lambda_w=5e-3, lambda_h=5e-3, lambda_b=0.0)
    star = minimiser(problem)
    near = star._replace(W=star.W * (1 + 1e-10))  # the duality gap closes to ~1e-11
    report = verify(problem, _result_at(problem, near, status=status))
    assert report["certificate"]["status"] == "certified"
    assert report["verdict"] == "not-converged" and report["optimality_basis"] is None


def test_solver_cut_off_by_its_budget_is_not_converged():
    problem = Problem(10, 20, 32, loss="ce")
    result = minimize(problem, max_iters=20)
    assert not result.converged
    assert verify(problem, result)["verdict"] == "not-converged"


def test_unresolvable_minimiser_is_not_called_a_mismatch():
    """One percent from CE's threshold (Kβ = 0.999) in float32: the curvature λ_min⁺ is so small
    that ‖∇f‖/λ_min⁺ exceeds the minimiser's scale. The run may not be verified, and it must not
    be called a mismatch either: the verdict is not-converged, with the reason."""
    problem = Problem(10, 1, 10, loss="ce", lambda_w=0.0999, lambda_h=0.0999)
    result = minimize(problem, seed=5, dtype="float32")
    assert result.converged  # by float32's gradient test
    report = verify(problem, result)
    tol = report["tolerances"]
    assert tol["distance_bound"] > tol["gram_rtol"]
    assert report["verdict"] == "not-converged"
    assert "ill-conditioned" in report["comparison"]["unresolved"]


def test_stationarity_bound_is_small_for_a_well_conditioned_minimiser():
    problem = Problem(4, 3, 6, loss="ls", alpha=0.1, lambda_w=5e-3, lambda_h=5e-3)
    result = minimize(problem)
    tol = tolerances(problem, result.params, "float64", closed_form(problem),
                     value_and_stationarity_f64(problem, result.params)[1])
    assert 0 < tol.mu <= 5e-3  # λ_min⁺ ≤ λ_W (the δW = 1vᵀ family, theory.md c.2)
    assert tol.resolved and tol.distance_bound <= 1e-9


def test_degenerate_threshold_has_zero_curvature():
    """At Kβ = 1 exactly the origin's coupling eigenvalue λ − σ is 0: λ_min⁺ = 0, unresolved."""
    problem = Problem(4, 1, 4, loss="ce", lambda_w=0.25, lambda_h=0.25, lambda_b=1e-3)
    params = minimiser(problem)
    tol = tolerances(problem, params, "float64", closed_form(problem), 0.0)
    assert tol.mu == 0.0 and math.isinf(tol.distance_bound) and not tol.resolved


def test_decide_uses_the_combined_objective_bar():
    cf = closed_form(Problem(4, 3, 6, loss="ce", lambda_w=5e-3, lambda_h=5e-3))
    tol = Tolerances(objective_rtol=1e-10, gram_rtol=1e-6, objective_atol=1e-12)
    bar = tol.objective_tol(cf.objective)
    ok = {"objective_gap": 0.9 * bar, "gram_w_rel_err": 0.0, "gram_h_rel_err": 0.0,
          "logits_rel_err": 0.0}
    assert decide(True, cf, ok, tol) == "verified"
    assert decide(True, cf, {**ok, "objective_gap": 1.1 * bar}, tol) == "mismatch"
    assert decide(True, cf, {**ok, "gram_h_rel_err": 2e-6}, tol) == "mismatch"
    assert decide(False, cf, ok, tol) == "not-converged"


def test_compare_centres_logits_only_when_the_bias_is_free():
    problem = Problem(4, 3, 6, loss="ce", lambda_w=5e-3, lambda_h=5e-3, lambda_b=0.0)
    star = minimiser(problem)
    shifted = star._replace(b=star.b + 3.0)  # b → b + t1: same f, same centred logits
    cmp = compare(problem, shifted, closed_form(problem), value_and_stationarity_f64(
        problem, shifted)[0])
    assert cmp["logits_rel_err"] <= 64 * EPS


def test_a_point_that_blew_up_is_reported_not_measured():
    problem = Problem(4, 3, 6, loss="ce", lambda_w=5e-3, lambda_h=5e-3)
    star = minimiser(problem)
    bad = star._replace(W=np.full_like(star.W, np.nan))
    report = verify(problem, _result_at(problem, bad, status="nonfinite"))
    assert report["verdict"] == "not-converged" and report["comparison"] is None
    assert report["certificate"]["status"] == "unavailable"
    assert report["nc"]["nc1"] is None
