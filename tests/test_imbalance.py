"""Imbalanced classes: certified solutions, minority-classifier geometry, minority collapse."""

import math

import numpy as np
import pytest

from ufm.certificate import certificate
from ufm.imbalance import (
    classifier_angles,
    collapse_threshold,
    minority_collapse_curve,
    minority_report,
    solve_reduced,
)
from ufm.objective import Params
from ufm.solvers import minimize
from ufm.spec import Problem
from ufm.verify import Tolerances

EPS = np.finfo(np.float64).eps
TOL = Tolerances.for_dtype(np.float64)
LAM = 1e-2
ETF_ANGLE = math.degrees(math.acos(-1.0 / 3.0))  # simplex ETF, K = 4


@pytest.fixture(scope="module")
def imbalanced():
    problem = Problem(4, (6, 6, 2, 2), 4, loss="ce", lambda_w=LAM, lambda_h=LAM, lambda_b=LAM)
    return problem, minimize(problem, seed=0)


def test_imbalanced_problem_is_solved_and_certified(imbalanced):
    problem, result = imbalanced
    assert result.converged
    cert = certificate(problem, result.params)
    assert cert["status"] == "certified" and cert["gap"] <= 1e-8


def test_minority_report_of_the_solution(imbalanced):
    problem, result = imbalanced
    rep = minority_report(problem, result.params)
    assert rep["minority_classes"] == [2, 3] and rep["majority_classes"] == [0, 1]
    assert rep["imbalance_ratio"] == 3.0
    # imbalance squeezes the minority pair below the ETF angle and spreads the majority pair
    assert rep["minority_angle_deg"] < ETF_ANGLE < rep["majority_angle_deg"]
    assert rep["minority_norm"] < rep["majority_norm"] and rep["norm_ratio"] < 1


def test_class_level_reduction_matches_the_full_ufm(imbalanced):
    """The reduced model (exact NC1) has the UFM's minimum and classifier Gram at integer counts."""
    problem, result = imbalanced
    red = solve_reduced(problem.counts, problem.d, loss="ce", lambda_w=LAM, lambda_h=LAM,
                        lambda_b=LAM, seed=1)
    assert red["converged"]
    assert red["objective"] == pytest.approx(result.objective, rel=TOL.objective_rtol)
    W = result.params.W
    G_ref = W @ W.T
    assert np.linalg.norm(red["W"] @ red["W"].T - G_ref) <= TOL.gram_rtol * np.linalg.norm(G_ref)
    # the full solution has exact NC1: every sample equals its class feature
    H = result.params.H
    for k, (lo, hi) in enumerate([(0, 6), (6, 12), (12, 14), (14, 16)]):
        block = H[:, lo:hi]
        assert np.abs(block - block[:, :1]).max() <= TOL.gram_rtol * np.abs(H).max()


def test_classifier_angles_on_a_constructed_example():
    c, s = math.cos(math.pi / 3), math.sin(math.pi / 3)
    W = np.array([[1.0, 0.0], [-2.0, 0.0], [0.0, 3.0], [3.0 * c, 3.0 * s]])
    rep = classifier_angles(W, [10, 10, 1, 1])
    assert rep["minority_classes"] == [2, 3] and rep["majority_classes"] == [0, 1]
    assert rep["minority_angle_deg"] == pytest.approx(30.0, abs=1e-12)
    assert rep["majority_angle_deg"] == pytest.approx(180.0, abs=1e-6)
    assert rep["minority_norm"] == pytest.approx(3.0) and rep["majority_norm"] == pytest.approx(1.5)
    assert rep["norm_ratio"] == pytest.approx(2.0)
    # ‖w_2 − w_3‖ / max‖w‖ = chord of 30° on the radius-3 circle / 3
    assert rep["minority_spread"] == pytest.approx(2 * math.sin(math.radians(15)))
    assert rep["minority_zero"] is False
    # zero minority rows: direction undefined (NaN), flagged as collapsed to 0
    W[2:] = 0.0
    rep = classifier_angles(W, [10, 10, 1, 1])
    assert math.isnan(rep["minority_angle_deg"]) and rep["minority_zero"] is True
    assert rep["minority_spread"] == 0.0
    # balanced: minority = majority = every class; three classes at 120°
    V = np.array([[1.0, 0.0], [-0.5, math.sqrt(3) / 2], [-0.5, -math.sqrt(3) / 2]])
    rep = classifier_angles(V, [4, 4, 4])
    assert rep["minority_classes"] == [0, 1, 2]
    assert rep["minority_angle_deg"] == pytest.approx(120.0, abs=1e-12)
    with pytest.raises(ValueError, match="counts"):
        classifier_angles(V, [4, 4])


def test_minority_collapse_trend():
    """The minority angle decreases with the ratio R and vanishes past a finite threshold."""
    ratios = [1, 3, 10, 30, 60, 100, 200]
    curve = minority_collapse_curve(4, 20, ratios, 4, (LAM, LAM, LAM), "ce", 0)
    assert all(curve["converged"])
    angles = np.array(curve["minority_angle_deg"][:-1])
    assert angles[0] == pytest.approx(ETF_ANGLE, abs=1e-9)  # R = 1: balanced ETF
    assert np.all(np.diff(angles) < 0)
    assert curve["minority_angle_deg"][-1] <= 0.1 or curve["minority_zero"][-1]
    assert np.all(np.diff(curve["minority_norm"]) < 0)
    assert np.all(np.diff(curve["majority_angle_deg"]) > 0)


def test_collapse_threshold_is_located():
    th = collapse_threshold(4, 20, 4, (LAM, LAM, LAM), "ce", angle_tol_deg=0.1, rtol=1e-3)
    lo, hi = th["bracket"]
    assert th["converged"] and th["threshold"] == hi and hi / lo - 1 <= 1e-3
    a_lo, a_hi = th["angle_at_bracket"]
    assert a_lo > 0.1 and (a_hi <= 0.1 or math.isnan(a_hi))
    # consistent with the curve: clearly open below, collapsed above (between R = 100 and 200)
    assert 100 < hi < 200
    curve = minority_collapse_curve(4, 20, [0.95 * hi, 1.05 * hi], 4, (LAM, LAM, LAM), "ce", 0)
    assert curve["minority_angle_deg"][0] > 1.0 and curve["minority_angle_deg"][1] <= 0.1
    # a looser criterion moves the located ratio by little: the collapse is a sharp bifurcation
    loose = collapse_threshold(4, 20, 4, (LAM, LAM, LAM), "ce", angle_tol_deg=1.0, rtol=1e-3)
    assert abs(loose["threshold"] / hi - 1) < 0.01


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="K="):
        minority_collapse_curve(2, 20, [1], 2)
    with pytest.raises(ValueError, match="ratio"):
        minority_collapse_curve(4, 20, [0.5], 4)
    with pytest.raises(ValueError, match="loss"):
        solve_reduced([1, 2, 3], 2, loss="fl", lambda_w=LAM, lambda_h=LAM)
    with pytest.raises(ValueError, match="counts"):
        solve_reduced([1, -2, 3], 2, lambda_w=LAM, lambda_h=LAM)
    with pytest.raises(ValueError, match="W shape"):
        minority_report(Problem(3, (2, 2, 1), 2),
                        Params(np.zeros((3, 3)), np.zeros((2, 5)), np.zeros(3)))
