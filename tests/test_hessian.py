"""HVPs, dense Hessians and the symmetry-orbit tangent space (theory.md c.2 "Checks")."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ufm.closed_form import minimiser
from ufm.hessian import (
    _hvp_forward_over_reverse,
    clean_labels,
    dense_hessian,
    expected_zero_modes,
    hessian_vector_product,
    make_flat_hvp,
    make_hvp,
    minimiser_rank,
    orbit_dimension,
    orbit_tangent,
    project_tangent,
    resolve_labels,
    tangent_basis,
    tangent_projector,
    zero_mode_count,
)
from ufm.objective import Params, flatten, init_params, objective, unflatten
from ufm.spec import Problem

EPS = np.finfo(np.float64).eps
LOSSES = [("ce", {}), ("ls", {"alpha": 0.15}), ("maxsup", {"alpha": 0.3}), ("fl", {"gamma": 2.0}),
          ("mse", {"target_scale": 1.5})]


def _random_point(problem, seed=0, scale=0.7):
    p = init_params(problem, jax.random.key(seed), dtype=jnp.float64, scale=scale)
    b = jax.random.normal(jax.random.key(seed + 1), p.b.shape, dtype=jnp.float64)
    return Params(p.W, p.H, b)


def _random_vec(problem, seed):
    return np.random.default_rng(seed).standard_normal(problem.num_params)


@pytest.mark.parametrize("loss,kw", LOSSES)
def test_hvp_matches_finite_differences_of_the_gradient(loss, kw):
    problem = Problem(4, 3, 5, loss=loss, lambda_w=3e-3, lambda_h=7e-3, lambda_b=2e-3, **kw)
    p = _random_point(problem)
    v = unflatten(jnp.asarray(_random_vec(problem, 1)), problem)
    hyper, labels = problem.hyper(), jnp.asarray(problem.labels())
    hv = flatten(hessian_vector_product(p, v, hyper, labels, loss))
    grad = jax.jit(jax.grad(objective), static_argnums=3)
    h = 1e-5  # central difference: error O(h²·‖∇³f‖) + O(eps/h)
    shifted = lambda s: Params(*(a + s * h * b for a, b in zip(p, v, strict=True)))
    plus = flatten(grad(shifted(1.0), hyper, labels, loss))
    minus = flatten(grad(shifted(-1.0), hyper, labels, loss))
    fd = (plus - minus) / (2 * h)
    assert np.linalg.norm(hv - fd) <= 1e-7 * np.linalg.norm(hv)
    # the two autodiff modes agree to rounding
    fr = flatten(_hvp_forward_over_reverse(p, v, hyper, labels, loss))
    assert np.linalg.norm(hv - fr) <= 1e3 * EPS * np.linalg.norm(hv)


@pytest.mark.parametrize("bias", [True, False])
def test_dense_hessian_and_flat_hvp_agree(bias):
    problem = Problem(3, 2, 4, loss="ls", alpha=0.2, lambda_w=1e-2, lambda_h=2e-2, bias=bias)
    p = _random_point(problem)
    Hd = dense_hessian(problem, p, chunk=7)  # several chunks, last one partial
    assert Hd.shape == (problem.num_params,) * 2
    x = _random_vec(problem, 3)
    y = make_flat_hvp(problem, p)(x)
    assert np.linalg.norm(Hd @ x - y) <= 1e3 * EPS * np.linalg.norm(y)
    # jax.hessian on the flat vector (forward-over-reverse, independent code path)
    labels = jnp.asarray(problem.labels())
    f = lambda t: objective(unflatten(t, problem), problem.hyper(), labels, "ls")
    ref = jax.jit(jax.hessian(f))(flatten(p))
    assert np.max(np.abs(Hd - np.asarray(ref))) <= 1e3 * EPS * np.max(np.abs(Hd))
    hv = make_hvp(problem)(p, unflatten(jnp.asarray(x), problem))
    assert np.allclose(flatten(hv), y, rtol=0, atol=1e3 * EPS * np.linalg.norm(y))


def test_flat_hvp_rejects_a_wrong_length():
    problem = Problem(3, 2, 4)
    matvec = make_flat_hvp(problem, minimiser(problem))
    with pytest.raises(ValueError, match="expected 39 parameters"):
        matvec(np.zeros(38))


def test_custom_labels_change_the_hessian_and_are_validated():
    """labels= reaches the HVP: the dense Hessian with permuted labels differs from the clean one
    and equals jax.hessian of the objective with those labels."""
    problem = Problem(3, 2, 3, loss="ce", lambda_w=1e-2, lambda_h=1e-2)
    p = _random_point(problem)
    y = np.array([0, 1, 1, 2, 2, 0], dtype=np.int32)
    Hy = dense_hessian(problem, p, labels=y)
    f = lambda t: objective(unflatten(t, problem), problem.hyper(), jnp.asarray(y), "ce")
    ref = np.asarray(jax.jit(jax.hessian(f))(flatten(p)))
    assert np.max(np.abs(Hy - ref)) <= 1e3 * EPS * np.max(np.abs(ref))
    assert np.max(np.abs(Hy - dense_hessian(problem, p))) > 1e-3 * np.max(np.abs(ref))
    assert clean_labels(problem, None) and clean_labels(problem, problem.labels())
    assert not clean_labels(problem, y)
    with pytest.raises(ValueError, match="expected 6 integers"):
        resolve_labels(problem, np.zeros(5, dtype=int))
    with pytest.raises(ValueError, match=r"expected values in \[0, 3\)"):
        resolve_labels(problem, np.full(6, 3))


@pytest.mark.parametrize("where", ["minimiser", "random", "wide"])
@pytest.mark.parametrize("bias,lambda_b", [(True, 0.0), (True, 1e-3), (False, 0.0)])
def test_implicit_projector_equals_explicit_orbit_basis(where, bias, lambda_b):
    """P_T from the SVD construction equals B Bᵀ for the explicit so(d)-generator basis B."""
    kw = dict(loss="ce", lambda_w=5e-3, lambda_h=5e-3, lambda_b=lambda_b, bias=bias)
    # "wide": d > K + N, so S is a proper subspace at a random point too
    problem = Problem(3, 1, 9, **kw) if where == "wide" else Problem(4, 2, 6, **kw)
    p = minimiser(problem) if where == "minimiser" else _random_point(problem)
    B = orbit_tangent(p, problem)
    tp = tangent_projector(p, problem)
    assert tp.dim == B.shape[1]
    r = {"minimiser": 3, "random": 6, "wide": 6}[where]
    assert tp.rank == r
    shift = int(bias and lambda_b == 0)
    assert tp.dim == orbit_dimension(r, problem.d) + shift
    X = np.stack([_random_vec(problem, s) for s in range(5)], axis=1)
    proj = lambda x: np.asarray(flatten(project_tangent(tp, unflatten(x, problem))))
    PX = np.stack([proj(x) for x in X.T], axis=1)
    assert np.max(np.abs(PX - B @ (B.T @ X))) <= 1e3 * EPS * np.max(np.abs(X))
    # idempotent
    PPX = np.stack([proj(x) for x in PX.T], axis=1)
    assert np.max(np.abs(PPX - PX)) <= 1e3 * EPS * np.max(np.abs(X))
    # the explicit basis built from the projector's pieces spans the same space
    T = tangent_basis(tp, problem)
    assert T.shape == B.shape
    assert np.max(np.abs(T.T @ T - np.eye(T.shape[1]))) <= 1e3 * EPS
    assert np.max(np.abs(T @ T.T - B @ B.T)) <= 1e3 * EPS


def test_orbit_dimension_formula_and_bad_rank():
    assert orbit_dimension(9, 512) == 4563  # perf-notes §4: null space dimension at the paper size
    assert orbit_dimension(3, 3) == 3  # d = r: all of so(3)
    assert orbit_dimension(0, 5) == 0
    with pytest.raises(ValueError, match="rank=6"):
        orbit_dimension(6, 5)


@given(
    K=st.integers(2, 5),
    extra=st.integers(0, 2),
    n=st.integers(1, 3),
    loss=st.sampled_from(["ce", "ls", "maxsup", "fl"]),
    bias_case=st.sampled_from([(True, 0.0), (True, 3e-3), (False, 0.0)]),
    lw=st.floats(1e-3, 2e-2),
    ratio=st.floats(0.3, 3.0),
)
def test_zero_modes_at_the_minimiser_match_the_orbit_dimension(
    K, extra, n, loss, bias_case, lw, ratio
):
    bias, lb = bias_case
    d = K - 1 + extra
    problem = Problem(K, n, d, loss=loss, lambda_w=lw, lambda_h=lw * ratio, lambda_b=lb, bias=bias,
                      alpha=0.1, gamma=1.5)
    p = minimiser(problem)
    Hd = dense_hessian(problem, p)
    ev = np.linalg.eigvalsh(Hd)
    expected = expected_zero_modes(problem)
    assert expected == (K - 1) * d - K * (K - 1) // 2 + int(bias and lb == 0)
    assert zero_mode_count(ev) == expected
    # the null space is exactly the orbit tangent space
    B = orbit_tangent(p, problem)
    assert B.shape[1] == expected
    if expected:
        assert np.max(np.abs(Hd @ B)) <= 1e3 * EPS * np.max(np.abs(ev))


def test_zero_regime_has_only_the_bias_shift_as_zero_mode():
    problem = Problem(4, 3, 5, loss="ce", lambda_w=0.2, lambda_h=0.2, lambda_b=0.0)  # Kβ = 2.8 ≥ 1
    assert expected_zero_modes(problem) == 1
    ev = np.linalg.eigvalsh(dense_hessian(problem, minimiser(problem)))
    assert zero_mode_count(ev) == 1
    assert ev[0] > -1e3 * EPS * ev[-1]


def test_expected_zero_modes_is_none_when_unknown():
    assert expected_zero_modes(Problem(3, (2, 3, 4), 4)) is None  # imbalanced
    assert expected_zero_modes(Problem(3, 2, 4, features="nonnegative")) is None
    assert expected_zero_modes(Problem(5, 2, 3)) is None  # d < K−1: no closed form
    # MSE: the O(d) orbit only (the loss is not invariant under b → b + t1)
    assert expected_zero_modes(Problem(3, 2, 4, loss="mse", lambda_b=0.0), rank=2) == 2 * 4 - 3


@pytest.mark.parametrize(
    "kw,rank",
    [
        (dict(lambda_b=0.0), 3),  # b.6 case 1: ETF, rank K−1, no bias-shift zero for MSE
        (dict(bias=False), 4),  # case 2: orthogonal frame, rank K
        (dict(lambda_b=0.5), 4),  # case 3 with μ* > 0: ETF + mean part, rank K
        (dict(lambda_b=0.01), 3),  # case 3 with μ* = 0: rank K−1
        (dict(lambda_w=0.9, lambda_h=0.9, lambda_b=0.0), 0),  # zero regime
    ],
)
def test_mse_zero_modes_follow_the_b6_rank(kw, rank):
    """MSE zeros = r d − r(r+1)/2 at the b.6 minimiser, counted in the dense spectrum."""
    problem = Problem(4, 3, 6, loss="mse", **{"lambda_w": 5e-3, "lambda_h": 5e-3, **kw})
    assert minimiser_rank(problem) == rank
    expected = expected_zero_modes(problem)
    assert expected == rank * 6 - rank * (rank + 1) // 2
    ev = np.linalg.eigvalsh(dense_hessian(problem, minimiser(problem)))
    assert zero_mode_count(ev) == expected
    assert ev[0] >= -1e3 * EPS * ev[-1]  # and the minimiser is a minimum


def test_projector_rank_override_at_a_perturbed_minimiser():
    """With rank=K−1 the projector ignores O(ε) off-span components (the nearby orbit)."""
    problem = Problem(4, 3, 7, loss="ce", lambda_w=5e-3, lambda_h=5e-3)
    p = minimiser(problem)
    rng = np.random.default_rng(0)
    noisy = Params(*(a + 1e-9 * rng.standard_normal(a.shape) for a in p))
    assert tangent_projector(noisy, problem, rtol=1e-12).rank == 7  # numerically full
    tp = tangent_projector(noisy, problem, rank=3)
    exact = orbit_tangent(p, problem)
    x = _random_vec(problem, 1)
    Px = np.asarray(flatten(project_tangent(tp, unflatten(x, problem))))
    assert tp.dim == exact.shape[1]
    assert np.linalg.norm(Px - exact @ (exact.T @ x)) <= 1e-6 * np.linalg.norm(x)


@pytest.mark.parametrize("loss,kw", LOSSES)
def test_orbit_curvature_identity(loss, kw):
    """∇²f(θ)·ξ_A(θ) = ξ_A(∇f(θ)), ξ_A(X, Y, z) = (−XA, AY, 0), at a random (non-critical)
    point: the orbit is null exactly where ∇f = 0 (ufm.hessian docstring)."""
    problem = Problem(4, 3, 5, loss=loss, lambda_w=3e-3, lambda_h=7e-3, lambda_b=2e-3, **kw)
    p = _random_point(problem)
    G = np.random.default_rng(2).standard_normal((5, 5))
    A = G - G.T
    xi = lambda t: Params(-t.W @ A, A @ t.H, jnp.zeros_like(t.b))
    hyper, labels = problem.hyper(), jnp.asarray(problem.labels())
    grad = jax.jit(jax.grad(objective), static_argnums=3)(p, hyper, labels, loss)
    lhs = flatten(hessian_vector_product(p, xi(p), hyper, labels, loss))
    rhs = flatten(xi(grad))
    assert np.linalg.norm(lhs - rhs) <= 1e3 * EPS * np.linalg.norm(rhs)
    assert np.linalg.norm(rhs) > 1e-3  # a genuinely non-critical point
