"""Nonnegative features H ≥ 0 (theory.md b.7): the projected solver reaches the orthogonal frame."""

import math

import numpy as np
import pytest

from ufm.certificate import certificate
from ufm.closed_form import closed_form
from ufm.solvers import minimize
from ufm.spec import Problem
from ufm.verify import Tolerances

EPS = np.finfo(np.float64).eps
TOL = Tolerances.for_dtype(np.float64)  # objective eps^(2/3), Grams eps^(1/3)

# theory.md b.8 "Other checks": K = 4, n = 3, λ = 5e-3, d ≥ K, quoted to 8 decimals
REFERENCE = [("ce", 0.0, 0.16770054), ("ls", 0.1, 0.45128650)]


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.fixture(scope="module", params=REFERENCE, ids=[r[0] for r in REFERENCE])
def solved(request):
    loss, alpha, f_quoted = request.param
    problem = Problem(4, 3, 5, loss=loss, alpha=alpha, lambda_w=5e-3, lambda_h=5e-3, lambda_b=5e-3,
                      features="nonnegative")
    return problem, minimize(problem, seed=0), f_quoted


def test_reaches_the_b7_minimum(solved):
    problem, result, f_quoted = solved
    cf = closed_form(problem)
    assert result.converged, result.message
    assert abs(result.objective - f_quoted) <= 0.5e-8  # half a unit in the 8th decimal
    assert abs(result.objective - cf.objective) <= TOL.objective_rtol * cf.objective
    # strictly above the free-feature minimum (β₊ = β·sqrt(K/(K−1)) > β)
    assert closed_form(problem.replace(features="free")).objective < cf.objective - 1e-3


def test_features_are_nonnegative(solved):
    _, result, _ = solved
    assert np.all(result.params.H >= 0.0)


def test_class_means_are_an_orthogonal_frame_and_w_a_centred_etf(solved):
    problem, result, _ = solved
    K, n = problem.K, problem.n
    cf = closed_form(problem)
    W, H = result.params.W, result.params.H
    M = H.reshape(problem.d, K, n).mean(axis=2)  # class means [d, K]
    # NC1: every sample equals its class mean
    assert np.abs(H - np.repeat(M, n, axis=1)).max() <= TOL.gram_rtol * np.abs(M).max()
    # MᵀM = ‖h‖² I (orthogonal frame, b.7), ‖h‖² = Δ sqrt((K−1)λ_W/(K n λ_H))
    assert rel(M.T @ M, cf.h_norm_sq * np.eye(K)) <= TOL.gram_rtol
    # W Wᵀ = ω² C with ω² = ‖w‖² K/(K−1) (centred simplex ETF)
    C = np.eye(K) - 1.0 / K
    assert rel(W @ W.T, cf.w_norm_sq * K / (K - 1) * C) <= TOL.gram_rtol
    # the norms quoted in b.7, recomputed here from Δ* = log(1/β₊_eff − (K−1))
    beta_plus = math.sqrt(n * 5e-3 * 5e-3) * math.sqrt(K / (K - 1))
    b_eff = beta_plus + problem.alpha / K
    margin = math.log(1 / b_eff - (K - 1))
    assert cf.h_norm_sq == pytest.approx(margin * math.sqrt((K - 1) / (K * n)), rel=1e3 * EPS)
    w_norm_sq = (K - 1) / K * margin * math.sqrt(K * n / (K - 1))
    assert cf.w_norm_sq == pytest.approx(w_norm_sq, rel=1e3 * EPS)


def test_no_certificate_for_nonnegative_features(solved):
    problem, result, _ = solved
    assert certificate(problem, result.params)["status"] == "unavailable"
