"""Tests for ufm.metrics (theory.md d, e).

Oracles: exact simplex ETFs (every metric 0), hand-computed small cases, closed forms, and a naive
re-implementation (explicit loops, explicit d×d Σ_W / Σ_B, ``scipy.linalg.pinv``, ``eigh``).
Tolerances derive from eps = 2.2e-16 and the problem size.
"""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from hypothesis import given
from hypothesis import strategies as st

from ufm.metrics import (
    DEFAULT_KEYS,
    VARIANT_KEYS,
    class_means,
    dilation,
    memorization,
    nc_metrics,
    nc_variants,
)

EPS = float(np.finfo(np.float64).eps)
# metrics that do not change under H → cH, c > 0, when b = 0 (all but the ‖W μ_G ± b‖ ones)
SCALE_INVARIANT = tuple(k for k in VARIANT_KEYS if not k.startswith("wh_b"))


# ----------------------------------------------------------------------------------------------
# constructions


def orthonormal(rng, d, m):
    """d×m with orthonormal columns (m ≤ d)."""
    Q, R = np.linalg.qr(rng.normal(size=(d, m)))
    return Q * np.sign(np.diag(R))


def rotation(rng, d):
    return orthonormal(rng, d, d)


def labels_from_counts(counts, rng=None):
    y = np.repeat(np.arange(len(counts)), counts)
    return y if rng is None else rng.permutation(y)


def simplex_etf(rng, K, d, *, alpha=1.0, c=1.0, counts=None, shuffle=False):
    """W rows = α·(unit simplex ETF) in a random (K−1)-dim subspace of R^d, h_i = c·w_{y_i}."""
    V = np.linalg.qr((np.eye(K) - 1.0 / K)[:, : K - 1])[0]  # orthonormal basis of 1^⊥, [K, K−1]
    W = alpha * np.sqrt(K / (K - 1)) * V @ orthonormal(rng, d, K - 1).T
    counts = [3] * K if counts is None else counts
    y = labels_from_counts(counts, rng if shuffle else None)
    return W, c * W.T[:, y], y


def random_problem(rng, K, d, counts, bias=True):
    W = rng.normal(size=(K, d))
    y = labels_from_counts(counts, rng)
    H = rng.normal(size=(d, len(y))) + 2.0 * rng.normal(size=(d, K))[:, y]
    b = rng.normal(size=K) if bias else np.zeros(K)
    return W, H, b, y


# ----------------------------------------------------------------------------------------------
# naive reference implementation (loops and explicit d×d matrices)


def reference(W, H, b, y, K):
    d, N = H.shape
    M = np.stack([H[:, y == k].mean(axis=1) for k in range(K)], axis=1)
    mu_G = M.mean(axis=1)
    Hbar = M - mu_G[:, None]
    Sigma_W = sum(np.outer(H[:, i] - M[:, y[i]], H[:, i] - M[:, y[i]]) for i in range(N)) / N
    Sigma_B = sum(np.outer(Hbar[:, k], Hbar[:, k]) for k in range(K)) / K
    lam, V = np.linalg.eigh(Sigma_B)
    lam, V = lam[::-1][: K - 1], V[:, ::-1][:, : K - 1]
    C = np.eye(K) - np.ones((K, K)) / K

    def etf(G):
        return np.linalg.norm(G / np.linalg.norm(G) - C / np.sqrt(K - 1))

    def pair_cos(V):
        return [
            V[k] @ V[j] / (np.linalg.norm(V[k]) * np.linalg.norm(V[j]))
            for k in range(K)
            for j in range(k + 1, K)
        ]

    def cv(x):
        return np.std(x, ddof=1) / np.mean(x)

    Wc = W - W.mean(axis=0)
    pnas = np.linalg.norm(W.T / np.linalg.norm(W) - Hbar / np.linalg.norm(Hbar)) ** 2
    logits = W @ H + b[:, None]
    ncc = [np.argmin([np.linalg.norm(H[:, i] - M[:, k]) for k in range(K)]) for i in range(N)]
    return {
        "nc1": np.trace(Sigma_W @ V @ np.diag(1 / lam) @ V.T) / K,
        "nc2_w": etf(W @ W.T),
        "nc2_h": etf(Hbar.T @ Hbar),
        "nc3": etf(W @ Hbar),
        "nc4": np.mean(np.argmax(logits, axis=0) != np.array(ncc)),
        "nc1_pinv_default": np.trace(Sigma_W @ scipy.linalg.pinv(Sigma_B)) / K,
        "nc2_w_centered": etf(Wc @ Wc.T),
        "nc2_equinorm_w": cv(np.linalg.norm(W, axis=1)),
        "nc2_equinorm_h": cv(np.linalg.norm(Hbar, axis=0)),
        "nc2_equiangular_w": np.std(pair_cos(W)),
        "nc2_equiangular_h": np.std(pair_cos(Hbar.T)),
        "nc2_maxangle_w": np.mean(np.abs(np.array(pair_cos(W)) + 1 / (K - 1))),
        "nc2_maxangle_h": np.mean(np.abs(np.array(pair_cos(Hbar.T)) + 1 / (K - 1))),
        "nc2_wh_guo": etf(W @ Hbar),
        "nc3_w_centered": etf(Wc @ Hbar),
        "nc3_pnas_sq": pnas,
        "nc3_unsquared": np.sqrt(pnas),
        "wh_b_relation": np.linalg.norm(W @ mu_G + b),
        "wh_b_relation_zhu": np.linalg.norm(W @ mu_G - b),
    }


# ----------------------------------------------------------------------------------------------
# keys and the exact simplex ETF


def test_keys():
    rng = np.random.default_rng(0)
    W, H, b, y = random_problem(rng, 3, 4, [2, 3, 4])
    assert tuple(nc_metrics(W, H, b, y, 3)) == DEFAULT_KEYS
    assert tuple(nc_variants(W, H, b, y, 3)) == VARIANT_KEYS
    assert set(DEFAULT_KEYS) <= set(VARIANT_KEYS)
    assert all(type(v) is float for v in nc_variants(W, H, b, y, 3).values())


@pytest.mark.parametrize(
    ("K", "d", "counts", "shuffle"),
    [
        (2, 1, [4, 4], False),
        (3, 2, [5, 5, 5], True),  # d = K − 1
        (4, 7, [1, 2, 6, 3], True),  # imbalanced: μ_G = (1/K) Σ μ_k is still 0
        (10, 16, [7] * 10, False),
        (10, 9, [2, 9, 4, 1, 3, 3, 8, 5, 6, 2], True),
    ],
)
@pytest.mark.parametrize(("alpha", "c"), [(1.0, 1.0), (3.7, 0.02)])
def test_exact_etf_gives_zero(K, d, counts, shuffle, alpha, c):
    rng = np.random.default_rng(K * 100 + d)
    W, H, y = simplex_etf(rng, K, d, alpha=alpha, c=c, counts=counts, shuffle=shuffle)
    out = nc_variants(W, H, np.zeros(K), y, K)
    # Each norm-type metric is the Frobenius norm of a K×K matrix whose K² entries carry a few
    # ulps of rounding (from building W and from the means): ≤ 8·K·eps (measured: ≤ 0.7·K·eps).
    # NC1 and nc3_pnas_sq are squares of such quantities. ‖W μ_G ± b‖ carries the scale
    # ‖W‖_F·max|H|.
    tol = 8 * K * EPS
    for key in SCALE_INVARIANT:
        assert 0.0 <= out[key] <= tol, (key, out[key])
    scale = np.linalg.norm(W) * np.max(np.abs(H))
    assert out["wh_b_relation"] <= tol * scale
    assert out["wh_b_relation_zhu"] <= tol * scale


def test_etf_with_bias_still_matches_ncc():
    # A common bias b = β1 changes no argmax: NC4 stays 0; ‖W μ_G + b‖ = √K|β| exactly (μ_G = 0).
    rng = np.random.default_rng(1)
    K, d = 5, 6
    W, H, y = simplex_etf(rng, K, d, counts=[2, 3, 4, 5, 6])
    out = nc_variants(W, H, 0.3 * np.ones(K), y, K)
    assert out["nc4"] == 0.0
    tol = 64 * K * EPS
    assert abs(out["wh_b_relation"] - 0.3 * np.sqrt(K)) <= tol


# ----------------------------------------------------------------------------------------------
# known values


def test_nc1_hand_computed_imbalanced():
    # d = 2, K = 2. Class 0: (−1, 1), (−1, −1) → μ_0 = (−1, 0).
    # Class 1: (1, 2), (1, 0), (1, 1) → μ_1 = (1, 1).   μ_G = (0, 1/2), v := μ_1 − μ_G = (1, 1/2).
    # Σ_B = (1/2)(v vᵀ + v vᵀ) = v vᵀ: one eigenpair λ = ‖v‖² = 5/4, u = v/‖v‖.
    # Residuals: (0, ±1) in class 0, (0, ±1), (0, 0) in class 1 → Σ_W = diag(0, 4/5).
    # Tr(Σ_W Σ_B^†) = uᵀΣ_W u / λ = (4/5)(1/4)/(5/4) / (5/4) = 0.128;  NC1 = 0.128 / K = 0.064.
    H = np.array([[-1.0, -1.0, 1.0, 1.0, 1.0], [1.0, -1.0, 2.0, 0.0, 1.0]])
    y = np.array([0, 0, 1, 1, 1])
    W = np.array([[-1.0, 0.0], [1.0, 0.0]])
    out = nc_variants(W, H, None, y, 2)
    tol = 16 * EPS
    assert out["nc1"] == pytest.approx(0.064, rel=tol, abs=0)
    assert out["nc1_pinv_default"] == pytest.approx(0.064, rel=tol, abs=0)
    # same data shuffled: same value
    p = np.array([3, 0, 4, 2, 1])
    assert nc_metrics(W, H[:, p], None, y[p], 2)["nc1"] == pytest.approx(0.064, rel=tol, abs=0)
    # classifier w = ±e_1 agrees with the NCC everywhere
    assert out["nc4"] == 0.0
    # W H̄ = [[1, −1], [−1, 1]] = 2C exactly: NC3 = 0; ‖w_0‖ = ‖w_1‖: equinorm of W = 0
    assert out["nc3"] <= 8 * EPS
    assert out["nc2_equinorm_w"] == 0.0


@pytest.mark.parametrize("K", [2, 3, 4, 10])
def test_orthogonal_frame_closed_forms(K):
    # The structure of the MSE no-bias minimiser (theory.md b.6 case 2): W W^T ∝ I, means ∝ w_k.
    # W = I_K (uncentred): ‖I/√K − C/√(K−1)‖_F² = 1 + 1 − 2 Tr(C)/√(K(K−1)) = 2 − 2√((K−1)/K).
    # Class means e_k (the nonnegative-feature optimum of theory.md b.7): H̄ = C, so the centred
    # means form an exact ETF: nc2_h = 0, and W H̄ = C: nc3 = 0, while the PNAS self-duality
    # distance ‖I/√K − C/√(K−1)‖² is the same closed form as nc2_w².
    closed = np.sqrt(2.0 - 2.0 * np.sqrt((K - 1) / K))
    W = np.eye(K)
    y = labels_from_counts([1 + k for k in range(K)])
    H = np.eye(K)[:, y]
    out = nc_variants(W, H, None, y, K)
    tol = 64 * K * EPS
    assert out["nc2_w"] == pytest.approx(closed, abs=tol)
    assert out["nc2_w_centered"] <= tol  # CW = C is an ETF
    assert out["nc2_h"] <= tol
    assert out["nc3"] <= tol
    assert out["nc3_pnas_sq"] == pytest.approx(closed**2, abs=tol)
    assert out["nc3_unsquared"] == pytest.approx(closed, abs=tol)
    assert out["nc2_equinorm_w"] == 0.0
    assert out["nc2_equiangular_w"] == 0.0
    assert out["nc2_maxangle_w"] == pytest.approx(1.0 / (K - 1), abs=tol)  # cos = 0
    assert out["nc1"] == 0.0  # no within-class variation at all
    assert out["nc4"] == 0.0


def test_equinorm_hand_computed():
    # ‖w_k‖ = 1, 2, 3: mean 2, std (ddof = 1) 1 → CV = 1/2.
    W = np.diag([1.0, 2.0, 3.0])
    y = np.array([0, 1, 2])
    out = nc_variants(W, np.eye(3), None, y, 3)
    assert out["nc2_equinorm_w"] == pytest.approx(0.5, rel=4 * EPS)


@pytest.mark.parametrize(("t", "m"), [(0.1, 0), (0.7, 2), (-0.3, 1), (1.5, 3), (-1.8, 3)])
def test_nc4_exactly_m_mismatches(t, m):
    # d = 1, K = 2. Class 0 at −2, −1.5, −0.1, −0.4 (mean −1), class 1 at 0.2, 0.6, 1.2, 2 (mean 1):
    # the NCC rule is sign(h). Logits z = (−h + t, h − t) predict class 1 iff h > t, so the
    # mismatches are the samples between 0 and t: t = 0.7 → {0.2, 0.6}; t = −0.3 → {−0.1};
    # t = 1.5 → {0.2, 0.6, 1.2}; t = −1.8 → {−1.5, −0.1, −0.4}; t = 0.1 → none.
    H = np.array([[-2.0, -1.5, -0.1, -0.4, 0.2, 0.6, 1.2, 2.0]])
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    W = np.array([[-1.0], [1.0]])
    out = nc_metrics(W, H, np.array([t, -t]), y, 2)
    assert out["nc4"] == m / 8


@pytest.mark.parametrize(
    ("K", "d", "counts"), [(2, 3, [3, 5]), (4, 6, [2, 5, 3, 4]), (5, 3, [3] * 5)]
)
def test_against_naive_reference(K, d, counts):
    rng = np.random.default_rng(K + d)
    W, H, b, y = random_problem(rng, K, d, counts)
    out = nc_variants(W, H, b, y, K)
    ref = reference(W, H, b, y, K)
    # well-conditioned random instances: agreement to a few hundred ulps of the problem size
    rtol = 200 * max(d, K, H.shape[1]) * EPS
    for key in VARIANT_KEYS:
        assert out[key] == pytest.approx(ref[key], rel=rtol, abs=rtol), key


def test_nc1_collinear_means_rank_one():
    # K = 4 class means a_k·e_1 with a = (−3, −1, 1, 3): Σ_B = 5 e_1e_1ᵀ has rank 1 < K − 1, its two
    # other "top" eigenvalues are round-off and must not be inverted. Samples μ_k ± (1, 2, 0):
    # Σ_W = [[1, 2, 0], [2, 4, 0], [0, 0, 0]], so NC1 = (1/K)·(Σ_W)_{11}/5 = 1/20. Rotated by a
    # random Q so that the round-off eigenvalues are not exact zeros.
    K, d = 4, 3
    M = np.zeros((d, K))
    M[0] = [-3.0, -1.0, 1.0, 3.0]
    y = labels_from_counts([2] * K)
    H = M[:, y] + np.outer([1.0, 2.0, 0.0], [1.0, -1.0] * K)
    Q = rotation(np.random.default_rng(2), d)
    W = np.random.default_rng(3).normal(size=(K, d))
    out = nc_variants(W @ Q.T, Q @ H, None, y, K)
    assert out["nc1"] == pytest.approx(0.05, rel=64 * d * EPS)
    assert out["nc1_pinv_default"] == pytest.approx(0.05, rel=64 * d * EPS)


def test_rcond_drops_small_eigenvalues():
    # Σ_B with eigenvalues ∝ 1, 1e-4 (K = 3, d = 2): rcond = 1e-3 keeps only the first.
    K = 3
    M = np.array([[1.0, -1.0, 0.0], [0.01, 0.01, -0.02]])
    y = np.array([0, 0, 1, 1, 2, 2])
    noise = np.array([[0.1, -0.1, 0.2, -0.2, 0.0, 0.0], [0.3, -0.3, 0.0, 0.0, 0.1, -0.1]])
    H = M[:, y] + noise
    W = np.eye(3)[:, :2]
    Hbar = M - M.mean(axis=1, keepdims=True)
    R = H - M[:, y]
    Sigma_W = R @ R.T / 6
    Sigma_B = Hbar @ Hbar.T / K
    lam, V = np.linalg.eigh(Sigma_B)
    full = np.trace(Sigma_W @ V @ np.diag(1 / lam) @ V.T) / K
    top = (V[:, -1] @ Sigma_W @ V[:, -1]) / lam[-1] / K
    assert nc_metrics(W, H, None, y, K)["nc1"] == pytest.approx(full, rel=1e3 * EPS)
    assert nc_metrics(W, H, None, y, K, rcond=1e-3)["nc1"] == pytest.approx(top, rel=1e3 * EPS)
    assert nc_metrics(W, H, None, y, K, rcond=1e-5)["nc1"] == pytest.approx(full, rel=1e3 * EPS)


# ----------------------------------------------------------------------------------------------
# properties


@given(
    K=st.integers(2, 6),
    d=st.integers(1, 8),
    rank=st.integers(1, 4),
    extra=st.lists(st.integers(0, 3), min_size=6, max_size=6),
    tie=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_nc1_never_negative_rank_deficient(K, d, rank, extra, tie, seed):
    rng = np.random.default_rng(seed)
    counts = [1 + e for e in extra[:K]]
    y = labels_from_counts(counts, rng)
    rank = min(rank, d)
    H = rng.normal(size=(d, rank)) @ rng.normal(size=(rank, len(y)))  # rank ≤ rank
    if tie:  # classes 0 and 1 get the same mean: Σ_B loses a rank
        H[:, y == 1] += H[:, y == 0].mean(axis=1, keepdims=True) - H[:, y == 1].mean(
            axis=1, keepdims=True
        )
    W = rng.normal(size=(K, d)) @ np.diag(rng.uniform(0, 1, size=d))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = nc_variants(W, H, rng.normal(size=K), y, K)
        out_rc = nc_metrics(W, H, None, y, K, rcond=1e-8)
    for value in (out["nc1"], out_rc["nc1"]):
        assert np.isnan(value) or value >= 0.0
    assert 0.0 <= out["nc4"] <= 1.0 or np.isnan(out["nc4"])
    for key in VARIANT_KEYS:
        assert not np.isinf(out[key]) or key.startswith("nc1"), key


@pytest.mark.parametrize(("K", "d", "counts"), [(3, 5, [4, 2, 6]), (6, 4, [3] * 6), (10, 20, None)])
def test_rotation_invariance(K, d, counts):
    rng = np.random.default_rng(7 * K + d)
    counts = counts or list(rng.integers(1, 6, size=K))
    W, H, b, y = random_problem(rng, K, d, counts)
    Q = rotation(rng, d)
    a = nc_variants(W, H, b, y, K)
    r = nc_variants(W @ Q.T, Q @ H, b, y, K)
    # Q adds a relative perturbation of ~d·eps to W and H; the metrics are well conditioned here.
    rtol = 100 * d * max(K, d) * EPS
    for key in VARIANT_KEYS:
        assert r[key] == pytest.approx(a[key], rel=rtol, abs=rtol), key


@pytest.mark.parametrize("c", [1e-3, 7.0, 2.0**-600, 3.0e150])
def test_feature_and_classifier_scaling(c):
    rng = np.random.default_rng(3)
    K, d = 4, 6
    W, H, _, y = random_problem(rng, K, d, [2, 3, 4, 5])
    b = np.zeros(K)
    a = nc_variants(W, H, b, y, K)
    s = nc_variants(W, c * H, b, y, K)
    s2 = nc_variants(c * W, H, b, y, K)
    rtol = 100 * d * K * EPS
    for key in SCALE_INVARIANT:  # incl. nc4, since b = 0
        assert s[key] == pytest.approx(a[key], rel=rtol), key
        assert s2[key] == pytest.approx(a[key], rel=rtol), key
    for key in ("wh_b_relation", "wh_b_relation_zhu"):  # ‖W μ_G‖ is linear in the scale
        assert s[key] == pytest.approx(c * a[key], rel=rtol), key


def test_sample_order_and_input_types():
    rng = np.random.default_rng(5)
    K, d = 3, 4
    W, H, b, y = random_problem(rng, K, d, [3, 1, 4])
    a = nc_variants(W, H, b, y, K)
    p = rng.permutation(len(y))
    shuffled = nc_variants(W, H[:, p], b, y[p], K)
    as_jax = nc_variants(jnp.asarray(W), jnp.asarray(H), jnp.asarray(b), jnp.asarray(y), K)
    rtol = 100 * d * K * EPS
    for key in VARIANT_KEYS:
        assert shuffled[key] == pytest.approx(a[key], rel=rtol), key
        assert as_jax[key] == pytest.approx(a[key], rel=rtol), key
    # float32 input: converted to float64 first, so results equal those of the rounded input
    W32, H32 = W.astype(np.float32), H.astype(np.float32)
    assert nc_metrics(W32, H32, b, y, K) == nc_metrics(
        W32.astype(np.float64), H32.astype(np.float64), b, y, K
    )


def test_class_means_imbalanced():
    H = np.array([[0.0, 2.0, 4.0, 10.0, 1.0, 3.0]])
    y = np.array([1, 1, 1, 0, 2, 2])
    M, mu_G = class_means(H, y, 3)
    np.testing.assert_array_equal(M, [[10.0, 2.0, 2.0]])
    np.testing.assert_array_equal(mu_G, [14.0 / 3])  # mean of the means, not of the samples (3.333)


# ----------------------------------------------------------------------------------------------
# degenerate input


def test_zero_regime_is_nan_without_warnings():
    K, d = 4, 5
    y = labels_from_counts([2, 1, 3, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = nc_variants(np.zeros((K, d)), np.zeros((d, len(y))), np.zeros(K), y, K)
        base = nc_metrics(np.zeros((K, d)), np.zeros((d, len(y))), np.zeros(K), y, K)
    assert all(np.isnan(base[k]) for k in DEFAULT_KEYS)
    for key in VARIANT_KEYS:
        if key.startswith("wh_b"):
            assert out[key] == 0.0  # ‖0·μ_G ± 0‖ is defined
        else:
            assert np.isnan(out[key]), key


def test_equal_class_means_up_to_roundoff_is_nan():
    # every sample is the same vector v: the class means agree up to the rounding of the means
    rng = np.random.default_rng(11)
    K, d = 3, 6
    y = labels_from_counts([3, 7, 11], rng)
    H = np.repeat(rng.normal(size=(d, 1)) * 0.1, len(y), axis=1)
    W = rng.normal(size=(K, d))
    out = nc_variants(W, H, None, y, K)
    for key in ("nc1", "nc1_pinv_default", "nc2_h", "nc3", "nc4", "nc3_pnas_sq", "nc2_equinorm_h"):
        assert np.isnan(out[key]), key
    assert np.isfinite(out["nc2_w"])  # the W-only metrics stay defined
    # samples ±x_k in every class: the class means are 0 up to rounding, far below the samples
    X = rng.normal(size=(d, 9))
    H = np.concatenate([X, -X], axis=1)
    y = np.tile(np.repeat(np.arange(K), 3), 2)  # x_i and −x_i share a class
    p = rng.permutation(18)
    out = nc_metrics(W, H[:, p], None, y[p], K)
    assert all(np.isnan(out[k]) for k in ("nc1", "nc2_h", "nc3", "nc4"))


def test_zero_classifier_and_zero_row():
    rng = np.random.default_rng(12)
    K, d = 3, 4
    _, H, _, y = random_problem(rng, K, d, [2, 3, 2])
    out = nc_variants(np.zeros((K, d)), H, None, y, K)
    assert np.isnan(out["nc2_w"]) and np.isnan(out["nc3"]) and np.isnan(out["nc2_equinorm_w"])
    assert np.isfinite(out["nc1"]) and np.isfinite(out["nc2_h"])
    assert out["nc4"] == np.mean(y != 0)  # all logits tie: argmax picks class 0; NCC is exact
    W = rng.normal(size=(K, d))
    W[1] = 0.0
    out = nc_variants(W, H, None, y, K)
    assert np.isnan(out["nc2_equiangular_w"]) and np.isnan(out["nc2_maxangle_w"])
    assert np.isfinite(out["nc2_w"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_classes": 1}, "num_classes"),
        ({"num_classes": True}, "num_classes"),
        ({"W": np.zeros((3, 5))}, r"W\.shape"),
        ({"H": np.zeros(6)}, r"H\.shape"),
        ({"b": np.zeros(2)}, r"b\.shape"),
        ({"labels": np.array([0, 1, 2, 0, 1, 3])}, "labels range"),
        ({"labels": np.array([0.0, 1, 2, 0, 1, 2])}, "labels.dtype"),
        ({"labels": np.array([0, 1, 0, 0, 1, 1])}, "class 2 has no samples"),
        ({"H": np.full((4, 6), np.nan)}, "nan/inf"),
        ({"rcond": 2.0}, "rcond"),
    ],
)
def test_bad_input_raises_one_line(kwargs, match):
    args = {
        "W": np.ones((3, 4)),
        "H": np.ones((4, 6)),
        "b": None,
        "labels": np.array([0, 1, 2, 0, 1, 2]),
        "num_classes": 3,
    }
    rcond = kwargs.pop("rcond", None)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match) as info:
        nc_metrics(*args.values(), rcond=rcond)
    assert "\n" not in str(info.value)


# ----------------------------------------------------------------------------------------------
# Memorization-Dilation (theory.md e)


def test_dilation_hand_computed():
    # class 0 clean: (±1, 0), (0, ±3) → centroid 0, distances 1, 1, 3, 3 → std 1.
    # class 1 clean: (5, 5) ± (2, 0) → distances 2, 2 → std 0.   Mean over classes: 0.5.
    # A corrupted sample labelled 0 at (4, 4) is excluded from both centroid and std.
    H = np.array(
        [[1.0, -1.0, 0.0, 0.0, 7.0, 3.0, 4.0], [0.0, 0.0, 3.0, -3.0, 5.0, 5.0, 4.0]]
    )
    y = np.array([0, 0, 0, 0, 1, 1, 0])
    clean = np.array([True] * 6 + [False])
    assert dilation(H, y, clean, 2) == pytest.approx(0.5, abs=4 * EPS)
    p = np.array([6, 2, 4, 0, 5, 1, 3])
    assert dilation(H[:, p], y[p], clean[p], 2) == pytest.approx(0.5, abs=4 * EPS)
    for c in (3.0, 2.0**-600, 3.0e150):  # linear in the scale, no under/overflow
        assert dilation(c * H, y, clean, 2) == pytest.approx(0.5 * c, rel=16 * EPS)
    # a class without clean samples is skipped; no clean sample at all → NaN
    assert dilation(H, np.array([0, 0, 0, 0, 0, 0, 1]), clean, 2) == pytest.approx(
        np.std(np.linalg.norm(H[:, :6] - H[:, :6].mean(axis=1, keepdims=True), axis=0)),
        abs=16 * EPS,
    )
    assert np.isnan(dilation(H, y, np.zeros(7, dtype=bool), 2))


def test_memorization_hand_computed_two_classes():
    # label 0: (0,0)×3 clean, (2,2) true 1 → μ_0 = (0.5, 0.5). label 1: (4,1),(4,0),(4,0),(4,1)
    # → μ_1 = (4, 0.5); μ_1 − μ_0 = (3.5, 0), unit (1, 0). (2,2) − μ_0 = (1.5, 1.5) → 1.5.
    H = np.array(
        [[0.0, 0.0, 0.0, 2.0, 4.0, 4.0, 4.0, 4.0], [0.0, 0.0, 0.0, 2.0, 1.0, 0.0, 0.0, 1.0]]
    )
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    t = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    assert memorization(H, y, t, 2) == pytest.approx(1.5, abs=8 * EPS)
    for c in (2.0, 2.0**-600, 3.0e150):  # linear in the scale, no under/overflow
        assert memorization(c * H, y, t, 2) == pytest.approx(1.5 * c, rel=16 * EPS)
    assert np.isnan(memorization(H, y, y, 2))  # nothing corrupted


def test_memorization_hand_computed_three_classes_per_pair_mean():
    # label 0: (0,0), (0,0) clean; (1,0), (3,0) true 1; (0,3) true 2 → μ_0 = (4,3)/5 = (0.8, 0.6).
    # label 1: (4.8, 0.6)×2 → μ_1;  label 2: (0.8, 4.6)×2 → μ_2.
    # μ_1 − μ_0 = (4, 0), μ_2 − μ_0 = (0, 4).
    # pair (0,1): mean (2,0) − μ_0 = (1.2, −0.6) → 1.2;  pair (0,2): (−0.8, 2.4) → 2.4.
    # mean over pairs: 1.8 (per sample it would be 1.6; the authors' per-label mean gives others).
    H = np.array(
        [
            [0.0, 0.0, 1.0, 3.0, 0.0, 4.8, 4.8, 0.8, 0.8],
            [0.0, 0.0, 0.0, 0.0, 3.0, 0.6, 0.6, 4.6, 4.6],
        ]
    )
    y = np.array([0, 0, 0, 0, 0, 1, 1, 2, 2])
    t = np.array([0, 0, 1, 1, 2, 1, 1, 2, 2])
    assert memorization(H, y, t, 3) == pytest.approx(1.8, abs=64 * EPS)


def test_memorization_matches_authors_formula_for_two_classes():
    # For K = 2 the authors' get_dot_product_bias (all corrupted samples of label k averaged, then
    # projected on the unit μ_j − μ_k) equals ours; re-implemented here from its description.
    rng = np.random.default_rng(21)
    N, d = 40, 2
    t = rng.integers(0, 2, size=N)
    flip = rng.random(N) < 0.25
    y = np.where(flip, 1 - t, t)
    H = rng.normal(size=(d, N)) + 3.0 * np.eye(d)[:, t]
    means = [H[:, y == k].mean(axis=1) for k in range(2)]
    biases = []
    for k in range(2):
        corrupted = H[:, (y == k) & (y != t)]
        if corrupted.shape[1]:
            v = means[1 - k] - means[k]
            biases.append((corrupted.mean(axis=1) - means[k]) @ v / np.linalg.norm(v))
    assert memorization(H, y, t, 2) == pytest.approx(np.mean(biases), rel=64 * EPS)
    assert 0.0 < memorization(H, y, t, 2)  # corrupted samples sit near their true class


def test_md_bad_input():
    H, y = np.ones((2, 3)), np.array([0, 1, 1])
    with pytest.raises(ValueError, match="clean_mask"):
        dilation(H, y, np.array([1, 0, 1]), 2)
    with pytest.raises(ValueError, match=r"true_labels\.shape"):
        memorization(H, y, np.array([0, 1]), 2)
