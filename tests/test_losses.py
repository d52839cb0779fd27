"""Per-sample losses against independent formulas (theory.md a.2)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ufm import losses

TOL = 64 * np.finfo(np.float64).eps


def _logits(seed, K=5, N=7, scale=3.0):
    rng = np.random.default_rng(seed)
    return jnp.asarray(scale * rng.standard_normal((K, N))), jnp.asarray(rng.integers(0, K, N))


def _log_softmax(Z):
    return Z - np.log(np.sum(np.exp(Z - Z.max(0)), 0)) - Z.max(0)


def test_cross_entropy_is_minus_log_softmax():
    Z, y = _logits(0)
    ref = -_log_softmax(np.asarray(Z))[np.asarray(y), np.arange(Z.shape[1])]
    np.testing.assert_allclose(losses.cross_entropy(Z, y), ref, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("alpha", [0.0, 0.1, 0.5, 0.9])
def test_label_smoothing_equals_smoothed_target_cross_entropy(alpha):
    Z, y = _logits(1)
    K = Z.shape[0]
    targets = (1 - alpha) * np.eye(K)[:, np.asarray(y)] + alpha / K
    ref = -np.sum(targets * _log_softmax(np.asarray(Z)), axis=0)
    np.testing.assert_allclose(losses.label_smoothing(Z, y, alpha), ref, rtol=TOL, atol=TOL)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 3.0])
def test_focal_matches_definition(gamma):
    Z, y = _logits(2)
    p = np.exp(_log_softmax(np.asarray(Z)))[np.asarray(y), np.arange(Z.shape[1])]
    ref = -((1 - p) ** gamma) * np.log(p)
    np.testing.assert_allclose(losses.focal(Z, y, gamma), ref, rtol=1e3 * TOL, atol=TOL)


def test_focal_gamma_zero_is_cross_entropy_and_accurate_when_confident():
    Z, y = _logits(3)
    np.testing.assert_array_equal(losses.focal(Z, y, 0.0), losses.cross_entropy(Z, y))
    # p_y = 1 − 1e-12: (1−p)^1·(−log p) ≈ 1e-24, a naive 1 − p would lose every digit
    Z = jnp.asarray([[np.log(1e12)], [0.0]])
    value = float(losses.focal(Z, jnp.asarray([0]), 1.0)[0])
    assert value == pytest.approx(1e-24, rel=1e-6)


def test_squared_error():
    Z, y = _logits(4)
    onehot = np.eye(Z.shape[0])[:, np.asarray(y)]
    ref = 0.5 * np.sum((np.asarray(Z) - 2.5 * onehot) ** 2, axis=0)
    np.testing.assert_allclose(losses.squared_error(Z, y, 2.5), ref, rtol=TOL)


def test_max_suppression_definition_and_gradient():
    Z, y = _logits(5)
    K = Z.shape[0]
    ref = np.asarray(losses.cross_entropy(Z, y)) + 0.2 * (np.max(Z, 0) - np.mean(Z, 0))
    np.testing.assert_allclose(losses.max_suppression(Z, y, 0.2), ref, rtol=TOL)
    # gradient of the added term: α(1 − 1/K) on the argmax logit, −α/K elsewhere (MaxSup eq. 9)
    extra = lambda z: jnp.sum(losses.max_suppression(z, y, 0.2) - losses.cross_entropy(z, y))
    G = np.asarray(jax.grad(extra)(Z))
    expected = np.full(Z.shape, -0.2 / K)
    expected[np.argmax(np.asarray(Z), 0), np.arange(Z.shape[1])] += 0.2
    np.testing.assert_allclose(G, expected, atol=TOL)


@given(st.integers(0, 10_000), st.floats(0.0, 0.99))
def test_max_suppression_bounds_label_smoothing(seed, alpha):
    """MaxSup ≥ LS pointwise, with equality where the prediction is correct (theory.md b.4)."""
    Z, y = _logits(seed)
    ms, ls = losses.max_suppression(Z, y, alpha), losses.label_smoothing(Z, y, alpha)
    assert np.all(np.asarray(ms) >= np.asarray(ls) - TOL * (1 + np.abs(np.asarray(ls))))
    correct = np.argmax(np.asarray(Z), 0) == np.asarray(y)
    np.testing.assert_allclose(np.asarray(ms)[correct], np.asarray(ls)[correct], rtol=TOL, atol=TOL)


def test_unknown_loss_is_rejected():
    Z, y = _logits(6)
    with pytest.raises(ValueError, match="loss='hinge'"):
        losses.per_sample_loss("hinge", Z, y, None)
