"""The solver: reaches the b.8 reference minima, says when it did not converge, vmaps."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ufm.objective import Params, init_params
from ufm.solvers import SolverConfig, Status, default_gtol, minimize, solve_arrays
from ufm.spec import Hyper, Problem

EPS64 = np.finfo(np.float64).eps

# theory.md b.8 (K, n, λ_W, λ_H, loss, settings, f*), quoted to their 12 digits
REFERENCE = [
    (4, 3, 5e-3, 5e-3, "ce", {}, 0.149023231546),
    (4, 3, 5e-3, 5e-3, "ls", {"alpha": 0.1}, 0.438171305784),
    (4, 3, 5e-3, 5e-3, "fl", {"gamma": 1.0}, 0.095608691211),
    (4, 3, 5e-3, 5e-3, "fl", {"gamma": 3.0}, 0.060149484802),
    (4, 3, 5e-3, 5e-3, "maxsup", {"alpha": 0.1}, 0.438171305784),
    (3, 10, 1e-3, 2e-3, "ce", {}, 0.057291671608),
    (3, 10, 1e-3, 2e-3, "ls", {"alpha": 0.1}, 0.320326153208),
]


@pytest.mark.parametrize(("K", "n", "lw", "lh", "loss", "extra", "f_star"), REFERENCE)
@pytest.mark.parametrize("bias", [True, False])
def test_reaches_reference_minimum(K, n, lw, lh, loss, extra, f_star, bias):
    """f* of b.8 is quoted to 12 decimals: agreement to half a unit in the last place."""
    problem = Problem(K, n, K + 1, loss=loss, lambda_w=lw, lambda_h=lh, lambda_b=1e-3, bias=bias,
                      **extra)
    result = minimize(problem, seed=3)
    assert result.converged and result.status == "converged"
    assert result.grad_norm <= result.gtol * (1 + abs(result.objective))
    assert abs(result.objective - f_star) <= 5e-13 + 64 * EPS64 * f_star


def test_float32_converges_to_its_own_tolerance():
    problem = Problem(4, 3, 5, lambda_w=5e-3, lambda_h=5e-3)
    result = minimize(problem, dtype="float32")
    assert result.dtype == "float32" and result.gtol == pytest.approx(default_gtol("float32"))
    assert result.converged and result.params.W.dtype == np.float32
    # float32 objective error is O(eps32)·|f|, far from float64's
    assert abs(result.objective - 0.149023231546) <= 64 * np.finfo(np.float32).eps


def test_iteration_budget_exhausted_is_reported():
    result = minimize(Problem(4, 3, 5), max_iters=3, polish=False)
    assert not result.converged
    assert result.status == "max-iters" and "not converged" in result.message
    assert result.first_order_iterations == 3


def test_nonfinite_start_is_reported():
    problem = Problem(3, 2, 3)
    start = init_params(problem, jax.random.key(0))
    start = start._replace(W=start.W.at[0, 0].set(jnp.nan))
    result = minimize(problem, init=start)
    assert not result.converged and result.status == "nonfinite"


def test_seeded_runs_are_reproducible_and_seeds_differ():
    problem = Problem(4, 3, 5, lambda_w=5e-3, lambda_h=5e-3)
    a, b, c = minimize(problem, seed=1), minimize(problem, seed=1), minimize(problem, seed=2)
    np.testing.assert_array_equal(a.params.W, b.params.W)
    assert not np.allclose(a.params.W, c.params.W)  # a rotation of the same minimiser
    WWa, WWc = a.params.W @ a.params.W.T, c.params.W @ c.params.W.T
    np.testing.assert_allclose(WWa, WWc, rtol=0, atol=1e-8 * np.abs(WWa).max())


def test_zero_regime_converges_to_origin():
    """Kβ = 4·sqrt(3)·0.16 > 1: the global minimiser is W = H = 0 with value log K (b.1)."""
    problem = Problem(4, 3, 5, lambda_w=0.16, lambda_h=0.16)
    result = minimize(problem)
    assert result.converged
    assert result.objective == pytest.approx(np.log(4), rel=1e-12)
    assert np.abs(result.params.W).max() < 1e-8 and np.abs(result.params.H).max() < 1e-8


def test_vmap_over_hyper_parameters_matches_single_solves():
    problem = Problem(3, 2, 3, loss="ls", alpha=0.1)
    lams = np.array([2e-3, 5e-3, 1e-2])
    base = problem.hyper()
    hyper = Hyper(jnp.asarray(lams), jnp.asarray(lams), jnp.full(3, base.lambda_b),
                  jnp.full(3, base.alpha), jnp.zeros(3), jnp.ones(3))
    keys = jax.random.split(jax.random.key(0), 3)
    starts = jax.vmap(lambda k: init_params(problem, k))(keys)
    labels = jnp.asarray(problem.labels())
    gtol = jnp.asarray(default_gtol("float64"))
    solve = jax.jit(jax.vmap(functools.partial(solve_arrays, loss="ls", cfg=SolverConfig()),
                             in_axes=(0, 0, None, None)))
    out = solve(starts, hyper, labels, gtol)
    for i, lam in enumerate(lams):
        single = minimize(problem.replace(lambda_w=float(lam), lambda_h=float(lam)),
                          init=Params(*(a[i] for a in starts)))
        assert int(out.status[i]) == Status.CONVERGED
        assert float(out.objective[i]) == pytest.approx(single.objective, rel=1e3 * EPS64)


def test_bad_arguments():
    with pytest.raises(ValueError, match="dtype='float16'"):
        minimize(Problem(3, 2, 3), dtype="float16")
    with pytest.raises(ValueError, match="max_iters=0"):
        minimize(Problem(3, 2, 3), max_iters=0)
    with pytest.raises(ValueError, match="gtol=-1"):
        minimize(Problem(3, 2, 3), gtol=-1.0)
    with pytest.raises(ValueError, match=r"integers in \[0, 2\]"):
        minimize(Problem(3, 2, 3), labels=np.array([0, 0, 1, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"expected \(6,\)"):
        minimize(Problem(3, 2, 3), labels=np.array([0, 1, 2]))
