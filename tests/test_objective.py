"""The objective: its normalisation, and its gradient against finite differences."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ufm.objective import Params, flatten, init_params, objective, unflatten
from ufm.spec import LOSSES, Hyper, Problem

EPS = np.finfo(np.float64).eps


def _setup(loss, bias=True, seed=0):
    p = Problem(3, 2, 4, loss=loss, lambda_w=0.03, lambda_h=0.02, lambda_b=0.05 if bias else 0.0,
                bias=bias, alpha=0.2, gamma=1.5, target_scale=2.0)
    params = init_params(p, jax.random.key(seed))
    params = params._replace(b=jnp.linspace(-0.3, 0.4, p.bias_dim))
    hyper = Hyper(*(jnp.asarray(h) for h in p.hyper()))
    return p, params, hyper, jnp.asarray(p.labels())


def test_normalisation_mean_loss_plus_half_lambda():
    p, params, hyper, y = _setup("mse")
    W, H, b = (np.asarray(a) for a in params)
    Z = W @ H + b[:, None]
    targets = 2.0 * np.eye(3)[:, np.asarray(y)]
    expected = (np.mean(0.5 * np.sum((Z - targets) ** 2, 0)) + 0.015 * np.sum(W**2)
                + 0.01 * np.sum(H**2) + 0.025 * np.sum(b**2))
    assert float(objective(params, hyper, y, "mse")) == pytest.approx(expected, rel=16 * EPS)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("bias", [True, False])
def test_gradient_matches_central_differences(loss, bias):
    """Directional derivatives: central differences with h = eps^(1/3) have error
    O(h²|f'''| + eps|f|/h) = O(eps^(2/3)); we allow 1e3·eps^(2/3) ≈ 4e-8."""
    p, params, hyper, y = _setup(loss, bias)
    f = lambda theta: objective(unflatten(theta, p), hyper, y, loss)
    theta = flatten(params)
    g = jax.grad(f)(theta)
    rng = np.random.default_rng(1)
    h = EPS ** (1 / 3)
    for _ in range(5):
        v = jnp.asarray(rng.standard_normal(theta.shape))
        v = v / jnp.linalg.norm(v)
        fd = (f(theta + h * v) - f(theta - h * v)) / (2 * h)
        assert abs(float(fd - g @ v)) <= 1e3 * EPS ** (2 / 3) * (1 + abs(float(f(theta))))


def test_flatten_roundtrip_and_shapes():
    p, params, _, _ = _setup("ce", bias=False)
    assert params.b.shape == (0,)
    theta = flatten(params)
    assert theta.shape == (p.num_params,)
    back = unflatten(theta, p)
    for a, b in zip(back, params):
        np.testing.assert_array_equal(a, b)


def test_init_is_seeded_and_respects_dtype():
    p = Problem(3, 2, 4)
    a = init_params(p, jax.random.key(7))
    b = init_params(p, jax.random.key(7))
    c = init_params(p, jax.random.key(8), dtype=jnp.float32)
    np.testing.assert_array_equal(a.W, b.W)
    assert c.W.dtype == jnp.float32
    q = Problem(3, 2, 4, features="nonnegative")
    assert float(jnp.min(init_params(q, jax.random.key(0)).H)) >= 0


def test_params_is_a_pytree():
    p, params, hyper, y = _setup("ls")
    grads = jax.grad(objective)(params, hyper, y, "ls")
    assert isinstance(grads, Params) and grads.W.shape == params.W.shape
