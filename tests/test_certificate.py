"""The duality-gap certificate (theory.md h): a valid lower bound that closes at the minimiser."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ufm.certificate import STATUSES, certificate, convex_rank, logit_gradient, objective_value
from ufm.closed_form import closed_form, minimiser
from ufm.losses import per_sample_loss
from ufm.objective import Params
from ufm.solvers import minimize
from ufm.spec import Problem

EPS = np.finfo(np.float64).eps
BIAS_MODES = {"free": (True, 0.0), "decay": (True, None), "none": (False, 0.0)}


def round_off(*values) -> float:
    """64 eps times the scale of the numbers that were summed (a few hundred terms at most)."""
    return 64 * EPS * (1.0 + sum(abs(float(v)) for v in values))


log_lambda = st.floats(-3.0, -1.0).map(lambda e: 10.0**e)


@st.composite
def balanced_problems(draw):
    """Balanced problems with a closed form: every loss with a certificate, every bias mode."""
    K = draw(st.integers(2, 4))
    loss = draw(st.sampled_from(["ce", "ls", "maxsup", "mse"]))
    bias, lb = BIAS_MODES[draw(st.sampled_from(sorted(BIAS_MODES)))]
    lb = draw(log_lambda) if lb is None else lb
    d = draw(st.integers(K if loss == "mse" else K - 1, K + 1))
    extra = {}
    if loss in ("ls", "maxsup"):
        extra["alpha"] = draw(st.floats(0.0, 0.3))
    if loss == "mse":
        extra["target_scale"] = draw(st.floats(0.5, 3.0))
    return Problem(K, draw(st.integers(1, 3)), d, loss=loss, lambda_w=draw(log_lambda),
                   lambda_h=draw(log_lambda), lambda_b=lb, bias=bias, **extra)


def random_point(problem, seed, scale):
    rng = np.random.default_rng(seed)
    K, d, N = problem.K, problem.d, problem.N
    return Params(scale * rng.normal(size=(K, d)), scale * rng.normal(size=(d, N)),
                  scale * rng.normal(size=problem.bias_dim))


def random_rotation(d, seed):
    Q, R = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return Q * np.sign(np.diag(R))


# ------------------------------------------------------------------------ validity of the bound
@given(problem=balanced_problems(), seed=st.integers(0, 2**16),
       scale=st.floats(-2.0, 0.5).map(lambda e: 10.0**e), near=st.booleans())
def test_bound_never_exceeds_the_minimum(problem, seed, scale, near):
    """D(Λ) ≤ f* at random points and at perturbed minimisers (f* from theory.md b)."""
    cf = closed_form(problem)
    assert cf.available, cf.reason
    if near:
        star = minimiser(problem)
        noise = random_point(problem, seed, 1e-3 * scale)
        params = Params(*(a + e for a, e in zip(star, noise)))
    else:
        params = random_point(problem, seed, scale)
    cert = certificate(problem, params)
    assert cert["status"] in STATUSES
    if cert["lower_bound"] is None:
        assert cert["status"] == "unavailable" and "domain" in cert["reason"]
        return
    D = cert["lower_bound"]
    assert D <= cf.objective + round_off(cf.objective, D)
    assert cert["gap"] == pytest.approx(cert["objective"] - D, abs=0)
    # the dual point is feasible: ‖Λ‖₂ = t‖G‖₂ ≤ μ
    assert cert["dual_scale"] * cert["dual_norm"] <= cert["mu"] * (1 + 4 * EPS)
    if cert["status"] == "certified":  # soundness: certified ⇒ near-optimal
        assert cert["objective"] - cf.objective <= cert["threshold"] + round_off(cf.objective, D)


@given(problem=balanced_problems(), seed=st.integers(0, 2**16))
def test_gap_closes_at_the_closed_form_minimiser(problem, seed):
    """Strong duality at the b.1–b.6 minimiser (any rotation): gap at round-off level."""
    cf = closed_form(problem)
    params = minimiser(problem, rotation=random_rotation(problem.d, seed))
    cert = certificate(problem, params)
    U = params.W @ params.H + (params.b[:, None] if problem.bias else 0.0)
    tol = round_off(cf.objective, np.abs(U).max())
    assert cert["status"] == "certified"
    assert abs(cert["gap"]) <= tol
    assert abs(cert["objective"] - cf.objective) <= tol
    assert cert["relaxation_exact"] is True
    if cf.regime == "collapse":  # ‖G‖₂ = μ exactly at a nonzero minimiser (theory.md h)
        assert cert["dual_norm"] == pytest.approx(cert["mu"], rel=1e3 * EPS)


@pytest.mark.parametrize("loss", ["ce", "ls", "maxsup", "mse"])
def test_logit_gradient_is_the_autodiff_gradient(loss):
    problem = Problem(3, (2, 1, 3), 2, loss=loss, alpha=0.2, target_scale=2.0)
    U = np.random.default_rng(0).normal(size=(3, 6))
    G = logit_gradient(problem, U)
    bound_loss = "ls" if loss == "maxsup" else loss  # MaxSup is bounded through LS
    hyper = problem.hyper()
    y = jnp.asarray(problem.labels())
    G_ad = jax.grad(lambda Z: jnp.mean(per_sample_loss(bound_loss, Z, y, hyper)))(jnp.asarray(U))
    np.testing.assert_allclose(G, np.asarray(G_ad), rtol=0, atol=8 * EPS)


def test_maxsup_uses_the_ls_bound():
    problem = Problem(3, 2, 3, loss="maxsup", alpha=0.1, lambda_w=1e-2, lambda_h=1e-2)
    params = random_point(problem, 1, 0.5)
    ms = certificate(problem, params)
    ls = certificate(problem.replace(loss="ls"), params)
    assert ms["bound_loss"] == "ls" and ms["lower_bound"] == ls["lower_bound"]
    assert ms["objective"] >= ls["objective"]  # ℓ_MS ≥ ℓ_LS pointwise


# ------------------------------------------------------------------------ statuses
def test_focal_loss_is_unavailable():
    problem = Problem(3, 2, 3, loss="fl", gamma=2.0)
    cert = certificate(problem, minimiser(problem))
    assert cert["status"] == "unavailable" and cert["lower_bound"] is None and cert["gap"] is None
    assert "focal" in cert["reason"]


def test_nonnegative_features_are_unavailable():
    problem = Problem(3, 2, 3, loss="ce", features="nonnegative", lambda_w=1e-2, lambda_h=1e-2)
    cert = certificate(problem, minimiser(problem))
    assert cert["status"] == "unavailable" and "nonnegative" in cert["reason"]


def test_out_of_domain_dual_point_is_unavailable():
    """λ_b = 0 with a bias: centring pushes r = q + NΛ out of the simplex (theory.md h)."""
    # W = I, so the logits are the columns of H. Classes (0, 0, 1, 1); samples 0-2 predicted as
    # class 0, sample 3 as class 1. Row 0 of G has mean m_0 ≈ 1/(4N) > 0, so after centring
    # r_{3,0} = t(p_{3,0} − m_0·N) < 0.
    problem = Problem(2, 2, 2, loss="ce", lambda_b=0.0, lambda_w=1e-2, lambda_h=1e-2)
    params = Params(np.eye(2), np.array([[10.0, 10.0, 10.0, -10.0], [-10.0, -10.0, -10.0, 10.0]]),
                    np.zeros(2))
    cert = certificate(problem, params)
    assert cert["status"] == "unavailable" and "domain" in cert["reason"]
    # with λ_b > 0 the same point has a bound
    assert certificate(problem.replace(lambda_b=1e-3), params)["lower_bound"] is not None


def test_threshold_is_a_parameter():
    problem = Problem(3, 2, 3, loss="ce", lambda_w=1e-2, lambda_h=1e-2)
    star = minimiser(problem)
    params = Params(star.W * 1.01, star.H, star.b)
    cert = certificate(problem, params)
    assert cert["status"] == "not-tight" and cert["relaxation_exact"] is True
    assert certificate(problem, params, rtol=2 * cert["gap"])["status"] == "certified"
    assert cert["threshold"] == 1e-8  # absolute, as issue 6 states it


def test_bad_inputs_raise():
    problem = Problem(3, 2, 3)
    star = minimiser(problem)
    with pytest.raises(ValueError, match="rtol"):
        certificate(problem, star, rtol=-1.0)
    with pytest.raises(ValueError, match="labels"):
        certificate(problem, star, labels=np.zeros(5, dtype=int))
    with pytest.raises(ValueError, match="labels range"):
        certificate(problem, star, labels=np.full(6, 3))
    with pytest.raises(ValueError, match="params shapes"):
        certificate(problem, Params(star.W[:, :2], star.H, star.b))


def test_convex_rank_rules():
    # softmax loss, d = K-1, imbalanced: exact by shift invariance
    assert convex_rank(Problem(4, (5, 5, 1, 1), 3, loss="ls", alpha=0.1))[1] is True
    # balanced CE with d < K-1 in the collapse regime: rank K-1 > d
    assert convex_rank(Problem(4, 3, 2, lambda_w=5e-3, lambda_h=5e-3))[:2] == (3, False)
    # ... and in the zero regime (Kβ ≥ 1): rank 0, exact for any d
    assert convex_rank(Problem(4, 3, 1, lambda_w=0.2, lambda_h=0.2))[:2] == (0, True)
    # imbalanced MSE with λ_b > 0 and d < K: unknown
    assert convex_rank(Problem(4, (5, 5, 1, 1), 3, loss="mse", lambda_b=0.1))[1] is None


# ------------------------------------------------------------------------ at solver output
def test_imbalanced_solution_is_certified_and_bounds_random_points():
    """No closed form (imbalanced, λ_b = 0, d = K−1): certified at the solver output, and the
    bound at random points never exceeds that certified minimum."""
    problem = Problem(4, (6, 6, 2, 2), 3, loss="ce", lambda_w=5e-3, lambda_h=5e-3, lambda_b=0.0)
    assert not closed_form(problem).available
    result = minimize(problem, seed=0)
    assert result.converged
    cert = certificate(problem, result.params)
    assert cert["status"] == "certified" and cert["relaxation_exact"] is True
    assert cert["gap"] <= 1e-8
    f_min = cert["objective"]
    for seed in range(20):
        for scale in (0.03, 0.3, 3.0):
            c = certificate(problem, random_point(problem, seed, scale))
            if c["lower_bound"] is not None:
                assert c["lower_bound"] <= f_min + cert["gap"] + round_off(f_min, c["lower_bound"])


def test_d_below_k_minus_1_is_not_tight_and_still_a_bound():
    """Balanced CE, d = 2 < K−1: the relaxation is strict, so the report says so honestly."""
    problem = Problem(4, 3, 2, loss="ce", lambda_w=5e-3, lambda_h=5e-3, lambda_b=5e-3)
    result = minimize(problem, seed=0)
    assert result.converged
    cert = certificate(problem, result.params)
    assert cert["status"] == "not-tight" and cert["relaxation_exact"] is False
    assert "below the rank" in cert["reason"]
    f_relaxed = closed_form(problem.replace(dim=3)).objective  # P* = f*(d ≥ K−1) ≤ f*(d = 2)
    assert cert["lower_bound"] <= f_relaxed + round_off(f_relaxed)
    assert f_relaxed < cert["objective"]


def test_mse_without_bias_low_rank_is_certified_below_k_minus_1():
    """MSE without bias: rank = #{k: s sqrt(n_k) > Nμ}. With counts (8, 8, 1, 1), s = 1 and
    μ = 0.1 (Nμ = 1.8) that is 2, so d = 2 < K−1 is exact and the solver is certified."""
    problem = Problem(4, (8, 8, 1, 1), 2, loss="mse", bias=False, lambda_w=0.1, lambda_h=0.1)
    assert convex_rank(problem)[:2] == (2, True)
    result = minimize(problem, seed=0)
    cert = certificate(problem, result.params)
    assert result.converged and cert["status"] == "certified" and cert["gap"] <= 1e-8


def test_objective_value_matches_the_solver():
    problem = Problem(4, (8, 8, 1, 1), 2, loss="mse", bias=False, lambda_w=0.1, lambda_h=0.1)
    result = minimize(problem, seed=1)
    assert objective_value(problem, result.params) == pytest.approx(result.objective, rel=1e-14)


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["ce", "ls", "maxsup", "mse"])
@pytest.mark.parametrize("mode", sorted(BIAS_MODES))
def test_solver_output_certified_every_loss_and_bias_mode(loss, mode):
    bias, lb = BIAS_MODES[mode]
    problem = Problem(4, (5, 5, 2, 1), 4, loss=loss, alpha=0.1, lambda_w=5e-3, lambda_h=5e-3,
                      lambda_b=1e-2 if lb is None else lb, bias=bias)
    result = minimize(problem, seed=0)
    cert = certificate(problem, result.params)
    assert result.converged and cert["status"] == "certified" and cert["gap"] <= 1e-8
