"""Per-sample losses ℓ(z, y) of theory.md a.2, on a logit matrix with the class axis first.

Every function takes logits ``Z`` of shape [K, N] (column i is sample i's logit vector, the
layout of W H + b 1ᵀ) and integer labels ``y`` of shape [N], and returns the [N] per-sample
losses. Nothing here reduces over samples or adds regularisers: :mod:`ufm.objective` does.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ufm.spec import Hyper


def _true_logit(Z: jax.Array, y: jax.Array) -> jax.Array:
    """z_y for every column: [N]."""
    return jnp.take_along_axis(Z, y[None, :], axis=0)[0]


def cross_entropy(Z: jax.Array, y: jax.Array) -> jax.Array:
    """CE: ℓ = logsumexp(z) − z_y = −log p_y (theory.md a.2)."""
    return jax.nn.logsumexp(Z, axis=0) - _true_logit(Z, y)


def label_smoothing(Z: jax.Array, y: jax.Array, alpha: jax.Array) -> jax.Array:
    """LS with targets (1−α)e_y + (α/K)1: ℓ = ℓ_CE + α (z_y − mean_k z_k).

    The identity with the cross-entropy against smoothed targets is theory.md a.2 (MaxSup
    Thm 3.3); it avoids forming log p for every class.
    """
    return cross_entropy(Z, y) + alpha * (_true_logit(Z, y) - jnp.mean(Z, axis=0))


def focal(Z: jax.Array, y: jax.Array, gamma: jax.Array) -> jax.Array:
    """FL: ℓ = −(1 − p_y)^γ log p_y (theory.md a.2; Zhou et al. nc_loss focal_loss.py).

    1 − p_y is computed as −expm1(log p_y), accurate when p_y → 1.
    """
    log_p = -cross_entropy(Z, y)
    one_minus_p = -jnp.expm1(log_p)
    # (1 − p)^γ with the convention 0^0 = 1 (γ = 0 is CE exactly).
    weight = jnp.where(gamma == 0, 1.0, jnp.power(jnp.maximum(one_minus_p, 0.0), gamma))
    return -weight * log_p


def squared_error(Z: jax.Array, y: jax.Array, target_scale: jax.Array) -> jax.Array:
    """MSE, canonical form ℓ = ½‖z − s·e_y‖² (theory.md a.2 with c_m = 1).

    Zhou et al.'s ``F.mse_loss(..., reduction='mean')`` is c_m = 2/K; map it by scaling the loss
    (equivalently multiply λ's by K/2).
    """
    onehot = jax.nn.one_hot(y, Z.shape[0], axis=0, dtype=Z.dtype)
    return 0.5 * jnp.sum((Z - target_scale * onehot) ** 2, axis=0)


def max_suppression(Z: jax.Array, y: jax.Array, alpha: jax.Array) -> jax.Array:
    """MaxSup: ℓ = ℓ_CE + α (max_k z_k − mean_k z_k) (theory.md a.2; MaxSup Def. 3.5, eq. 8)."""
    return cross_entropy(Z, y) + alpha * (jnp.max(Z, axis=0) - jnp.mean(Z, axis=0))


def per_sample_loss(loss: str, Z: jax.Array, y: jax.Array, hyper: Hyper) -> jax.Array:
    """Dispatch on the (static) loss name: [K, N] logits, [N] labels → [N] losses."""
    if loss == "ce":
        return cross_entropy(Z, y)
    if loss == "ls":
        return label_smoothing(Z, y, hyper.alpha)
    if loss == "fl":
        return focal(Z, y, hyper.gamma)
    if loss == "mse":
        return squared_error(Z, y, hyper.target_scale)
    if loss == "maxsup":
        return max_suppression(Z, y, hyper.alpha)
    raise ValueError(f"loss={loss!r}: expected one of ce, ls, fl, mse, maxsup")
