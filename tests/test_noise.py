"""Label noise (theory.md e): flipping, memorization/dilation metrics, the two noise models."""

import math

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from ufm.certificate import certificate
from ufm.closed_form import closed_form
from ufm.noise import (
    _project_cones,
    check_eta,
    dilation_curve,
    flip_labels,
    noise_report,
    solve_limited,
)
from ufm.objective import Params
from ufm.solvers import minimize
from ufm.spec import Problem, ProblemError
from ufm.verify import Tolerances

TOL = Tolerances.for_dtype(np.float64)


# ------------------------------------------------------------------------------ flipping
@pytest.mark.parametrize("eta", [0.0, 0.1, 0.25, 0.5, 0.9])
def test_flip_count_is_exact_and_never_keeps_the_label(eta):
    y = Problem(4, 25, 4).labels()
    noisy = flip_labels(y, 4, eta, seed=3)
    assert noisy.dtype == np.int32 and noisy.shape == y.shape
    assert int(np.sum(noisy != y)) == round(eta * y.size)
    assert noisy.min() >= 0 and noisy.max() < 4


def test_flips_are_seeded_and_nested_in_eta():
    y = Problem(3, 40, 3).labels()
    assert np.array_equal(flip_labels(y, 3, 0.3, 7), flip_labels(y, 3, 0.3, 7))
    assert not np.array_equal(flip_labels(y, 3, 0.3, 7), flip_labels(y, 3, 0.3, 8))
    small, large = flip_labels(y, 3, 0.1, 7), flip_labels(y, 3, 0.4, 7)
    flipped_small = small != y
    assert np.all((large != y)[flipped_small])  # nested sets
    assert np.array_equal(small[flipped_small], large[flipped_small])  # same wrong labels


def test_new_labels_are_uniform_over_the_other_classes():
    K, y = 4, Problem(4, 100, 4).labels()
    offsets = np.concatenate([(flip_labels(y, K, 0.5, s) - y)[flip_labels(y, K, 0.5, s) != y] % K
                              for s in range(10)])
    counts = np.bincount(offsets, minlength=K)
    assert counts[0] == 0
    expected = offsets.size / (K - 1)
    sigma = math.sqrt(offsets.size * (1 / (K - 1)) * (1 - 1 / (K - 1)))
    assert np.all(np.abs(counts[1:] - expected) <= 5 * sigma)


@pytest.mark.parametrize("eta", [-0.1, 1.0, float("nan"), "0.1", True])
def test_bad_eta_names_the_flag(eta):
    with pytest.raises(ProblemError, match="--label-noise") as info:
        check_eta(eta)
    assert info.value.field == "label_noise"


def test_bad_seed_and_labels_raise():
    y = Problem(2, 3, 2).labels()
    with pytest.raises(ProblemError, match="--noise-seed"):
        flip_labels(y, 2, 0.1, -1)
    with pytest.raises(ValueError, match="labels"):
        flip_labels(np.array([0, 2]), 2, 0.1, 0)


# ------------------------------------------------------------------------------ metrics
def test_noise_report_on_a_constructed_example():
    """K = 2: clean class 0 at (1,0), (3,0); sample 2 (true 0) labelled 1 at (0,2); clean class 1
    at (0,4), (0,5), (0,9). Dilation = mean(0, sqrt(2/3)); μ_1 (label 1) = (0,5), μ_0 = (2,0), so
    memorization = (0,−3)·(2,−5)/sqrt(29) = 15/sqrt(29)."""
    problem = Problem(2, 3, 2)
    H = np.array([[1.0, 3.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 2.0, 4.0, 5.0, 9.0]])
    true = np.array([0, 0, 0, 1, 1, 1])
    noisy = np.array([0, 0, 1, 1, 1, 1])
    rep = noise_report(problem, Params(np.zeros((2, 2)), H, np.zeros(2)), true, noisy)
    assert rep["flipped"] == 1 and rep["eta"] == pytest.approx(1 / 6)
    assert rep["dilation"] == pytest.approx(0.5 * math.sqrt(2 / 3), rel=1e-14)
    assert rep["memorization"] == pytest.approx(15 / math.sqrt(29), rel=1e-14)
    dil = 0.5 * math.sqrt(2 / 3)
    assert rep["relative_dilation"] == pytest.approx(dil / math.sqrt(40), rel=1e-14)
    assert rep["relative_memorization"] == pytest.approx(15 / 29, rel=1e-14)


# ------------------------------------------------------------------------------ model 1: plain UFM
@pytest.fixture(scope="module")
def noisy_problem():
    problem = Problem(4, 10, 4, loss="ce", lambda_w=5e-3, lambda_h=5e-3, lambda_b=5e-3)
    true = problem.labels()
    return problem, true, flip_labels(true, 4, 0.2, seed=0)


def test_plain_ufm_memorizes_perfectly_and_is_certified(noisy_problem):
    problem, true, noisy = noisy_problem
    result = minimize(problem, seed=0, labels=noisy)
    assert result.converged
    cert = certificate(problem, result.params, labels=noisy)
    assert cert["status"] == "certified" and cert["gap"] <= 1e-8
    # the clean labels define a different (worse) objective at this point
    assert certificate(problem, result.params)["objective"] > result.objective
    rep = noise_report(problem, result.params, true, noisy)
    scale = np.abs(result.params.H).max()
    assert rep["flipped"] == 8
    assert rep["dilation"] <= TOL.gram_rtol * scale  # clean clusters do not dilate
    # the noisy samples sit at the centre of their (wrong) label
    assert abs(rep["memorization"]) <= TOL.gram_rtol * scale


def test_explicit_clean_labels_equal_the_default(noisy_problem):
    problem, true, _ = noisy_problem
    a = minimize(problem, seed=2, labels=true)
    b = minimize(problem, seed=2)
    assert a.objective == b.objective and np.array_equal(a.params.W, b.params.W)


# ------------------------------------------------------------------------------ model 2: limited
def test_cone_projection_matches_a_numerical_projection():
    rng = np.random.default_rng(0)
    K, d, N = 2, 3, 7
    true = np.array([0, 0, 0, 1, 1, 1, 1])
    noisy = np.array([True, True, False, True, False, True, True])
    members = (true[None, :] == np.arange(K)[:, None]) & noisy[None, :]
    r = np.array([0.3, -0.5])
    G = rng.normal(size=(d, N))
    out = _project_cones(jnp.asarray(r), jnp.asarray(G), jnp.asarray(members))
    s, Gp = (np.asarray(a) for a in out)
    for j in range(K):
        cols = np.flatnonzero(members[j])
        x0 = np.concatenate([[r[j]], G[:, cols].T.ravel()])
        cons = [{"type": "ineq",
                 "fun": lambda x, i=i: x[0] - np.linalg.norm(x[1 + d * i : 1 + d * (i + 1)])}
                for i in range(cols.size)]
        ref = scipy.optimize.minimize(lambda x: np.sum((x - x0) ** 2), np.zeros_like(x0),
                                      constraints=cons, method="SLSQP", options={"ftol": 1e-14})
        assert s[j] == pytest.approx(ref.x[0], abs=1e-6)
        np.testing.assert_allclose(Gp[:, cols].T.ravel(), ref.x[1:], atol=1e-6)
    assert np.array_equal(Gp[:, ~noisy], G[:, ~noisy])  # clean columns untouched


def test_limited_model_without_noise_is_the_ufm_minimum():
    problem = Problem(4, 10, 4, loss="ce", lambda_w=5e-3, lambda_h=5e-3, lambda_b=5e-3)
    y = problem.labels()
    sol = solve_limited(problem, y, y, seed=0)
    f_star = closed_form(problem).objective
    assert sol["converged"]
    assert abs(sol["objective"] - f_star) <= TOL.objective_rtol * f_star
    assert np.all(sol["radii"] <= 1e-8)  # no reason to dilate


def test_limited_model_dilates_under_noise(noisy_problem):
    problem, true, noisy = noisy_problem
    sol = solve_limited(problem, true, noisy, seed=0)
    assert sol["converged"]
    plain = minimize(problem, seed=0, labels=noisy)
    # the model restricts H, so its minimum is above the plain UFM's; limited memorization
    assert sol["objective"] > plain.objective + 1e-3
    has_noise = np.bincount(true[noisy != true], minlength=4) > 0
    assert np.all(sol["radii"][has_noise] > 1e-3)
    rep = noise_report(problem, sol["params"], true, noisy)
    assert rep["dilation"] > 1e-3 and 0 < rep["relative_memorization"] < 1


def test_dilation_grows_with_eta_and_ce_dilates_more_than_ls():
    curve = dilation_curve(4, 10, 4, etas=(0.0, 0.1, 0.2, 0.3), losses=("ce", "ls"), seed=0)
    for loss in ("ce", "ls"):
        assert all(curve["converged"][loss])
        d = np.array(curve["dilation"][loss])
        assert d[0] <= 1e-8 and np.all(np.diff(d) > 0)  # η = 0: r* = 0 up to the 1e-9 residual
    assert np.all(np.array(curve["dilation"]["ce"][1:]) > np.array(curve["dilation"]["ls"][1:]))
    assert curve["eta"] == [0.0, 0.1, 0.2, 0.3]
