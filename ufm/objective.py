"""The UFM objective, defined once (theory.md a.1).

    f(W, H, b) = (1/N) Σ_i ℓ(W h_i + b, y_i) + (λ_W/2)‖W‖_F² + (λ_H/2)‖H‖_F² + (λ_b/2)‖b‖²

Normalisation: mean over samples, λ/2 on squared Frobenius norms (Zhu et al. 2021, Zhou et al.
2022: PyTorch mean-reduced losses with SGD ``weight_decay``). Papers with a sum loss map λ → λ/N;
papers without the ½ map λ → 2λ.

Shapes: W [K, d], H [d, N] (class-major columns), b [K] with a bias or [0] without.
Note the scaling: ∂f/∂H carries a 1/N from the mean that ∂f/∂W does not.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ufm.losses import per_sample_loss
from ufm.precision import x64
from ufm.spec import Hyper, Problem


class Params(NamedTuple):
    """A UFM point: W [K, d], H [d, N], b [K] (or [0] when the problem has no bias)."""

    W: jax.Array
    H: jax.Array
    b: jax.Array


def logits(params: Params) -> jax.Array:
    """Z = W H + b 1ᵀ, shape [K, N]."""
    Z = params.W @ params.H
    if params.b.shape[0]:
        Z = Z + params.b[:, None]
    return Z


def data_term(params: Params, hyper: Hyper, labels: jax.Array, loss: str) -> jax.Array:
    """(1/N) Σ_i ℓ(z_i, y_i)."""
    return jnp.mean(per_sample_loss(loss, logits(params), labels, hyper))


def regulariser(params: Params, hyper: Hyper) -> jax.Array:
    """(λ_W/2)‖W‖² + (λ_H/2)‖H‖² + (λ_b/2)‖b‖²."""
    W, H, b = params
    return 0.5 * (
        hyper.lambda_w * jnp.sum(W * W)
        + hyper.lambda_h * jnp.sum(H * H)
        + hyper.lambda_b * jnp.sum(b * b)
    )


def objective(params: Params, hyper: Hyper, labels: jax.Array, loss: str) -> jax.Array:
    """The UFM objective f(W, H, b) of theory.md a.1 (``loss`` is static)."""
    return data_term(params, hyper, labels, loss) + regulariser(params, hyper)


def init_params(problem: Problem, key: jax.Array, dtype=jnp.float64, scale: float | None = None) -> Params:
    """A random start: W and H with i.i.d. N(0, scale²) entries, scale = 1/sqrt(d) by default.

    The bias starts at 0. With nonnegative features H starts at |H|.
    """
    scale = 1.0 / np.sqrt(problem.d) if scale is None else scale
    scale = jnp.asarray(scale, dtype=dtype)  # a Python/numpy float would promote float32 under x64
    kW, kH = jax.random.split(key)
    W = scale * jax.random.normal(kW, (problem.K, problem.d), dtype=dtype)
    H = scale * jax.random.normal(kH, (problem.d, problem.N), dtype=dtype)
    if problem.features == "nonnegative":
        H = jnp.abs(H)
    b = jnp.zeros((problem.bias_dim,), dtype=dtype)
    return Params(W, H, b)


def flatten(params: Params) -> jax.Array:
    """vec(W), vec(H), b concatenated (row-major), length P."""
    return jnp.concatenate([params.W.ravel(), params.H.ravel(), params.b.ravel()])


def unflatten(theta: jax.Array, problem: Problem) -> Params:
    """Inverse of :func:`flatten` for ``problem``'s shapes."""
    K, d, N = problem.K, problem.d, problem.N
    W = theta[: K * d].reshape(K, d)
    H = theta[K * d : K * d + d * N].reshape(d, N)
    b = theta[K * d + d * N :]
    return Params(W, H, b)


_value_and_grad = jax.jit(jax.value_and_grad(objective), static_argnames="loss")


def value_and_stationarity_f64(problem: Problem, params: Params,
                               labels: np.ndarray | None = None) -> tuple[float, float]:
    """(f, stationarity) at ``params``, evaluated in float64 whatever their dtype.

    The stationarity measure is ‖∇f‖, or for nonnegative features the projected-gradient
    residual ‖x − P(x − ∇f)‖ (as in :mod:`ufm.solvers`). ``labels`` override
    ``problem.labels()``. One compiled value-and-gradient per shape; the verifier and the
    certificate both evaluate f here.
    """
    labels = np.asarray(problem.labels() if labels is None else labels, dtype=np.int32)
    p64 = Params(*(np.asarray(a, dtype=np.float64) for a in params))
    with x64():  # numpy inputs go straight to the compiled call (no per-array device_put)
        value, grad = _value_and_grad(p64, problem.hyper(np.float64), labels, loss=problem.loss)
        value, grad = float(value), Params(*(np.asarray(g) for g in grad))
    if problem.features == "nonnegative":
        grad = grad._replace(H=p64.H - np.maximum(p64.H - grad.H, 0.0))
    return value, float(np.sqrt(sum(np.sum(g * g) for g in grad)))
