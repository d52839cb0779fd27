"""Neural-collapse (NC) and Memorization-Dilation metrics (theory.md d and e).

Notation (theory.md 0): W [K, d] with rows w_k, H [d, N] with one column per sample, b [K],
labels y [N] (any order, any per-class counts n_k ≥ 1), class means μ_k = (1/n_k) Σ_{y_i=k} h_i,
global mean **μ_G = (1/K) Σ_k μ_k** (the mean of the class means, so that an exact ETF has μ_G = 0
for imbalanced classes too; the reference codes use the sample mean (1/N) Σ_i h_i, which is the same
for balanced classes), H̄ = [μ_1 − μ_G, …, μ_K − μ_G] [d, K], C = I_K − 11ᵀ/K,

    Σ_W = (1/N) Σ_i (h_i − μ_{y_i})(h_i − μ_{y_i})ᵀ,      Σ_B = (1/K) H̄ H̄ᵀ.

Every metric below is 0 at an exact simplex ETF (rows of W a simplex ETF, h_i = c·w_{y_i},
b = 0), hence at the UFM minimisers of theory.md b.1–b.5 (CE, LS, FL, MaxSup, with b* = 0) and
with nonnegative features (b.7). Contrary to theory.md d, not every variant is 0 at every
minimiser: for MSE without bias (b.6 case 2: W Wᵀ ∝ I_K, class means ∝ the rows of W)
nc2_w = nc3_unsquared = sqrt(2 − 2 sqrt((K−1)/K)) while nc2_w_centered, nc2_h and nc3 are 0
(``test_orthogonal_frame_closed_forms``); for MSE with bias and λ_b = 0 (b.6 case 1) b* = (s/K)1,
so wh_b_relation = s/√K; in b.6 case 3, W Wᵀ lies between an ETF and an orthogonal frame.

Defaults (:func:`nc_metrics`) and why
-------------------------------------
``nc1``
    (1/K) Tr(Σ_W Σ_B^†) (Papyan, Han, Donoho 2020, PNAS) with an *explicit rank-(K−1)*
    pseudo-inverse: the top min(K−1, d) eigenpairs of Σ_B are kept, taken from the thin SVD of
    H̄ (Σ_B = H̄H̄ᵀ/K, eigenvalues s_i²/K), minus those that are numerically zero (s_i below the
    worst-case rounding error of the computed H̄, max(N, d, K)·eps·(‖M‖_F + √K·max_i ‖h_i‖), or
    below max(d, K)·eps·s_1; none for generic input); with ``rcond`` also every eigenvalue below
    rcond·λ_max. Σ_B has rank ≤ K−1 by construction (H̄1 = 0), so this is the mathematically
    right inverse. Working on H̄ instead of the d×d matrix Σ_B resolves eigenvalues down to
    ~eps²·λ_max and costs O(dK²); unlike ``scipy.linalg.pinv``'s default cut-off d·eps·λ_max it
    does not depend on d; and NC1 is computed as a sum of squares, so it is never negative.
    (Third-party copies of the PNAS companion notebook in the code index make the same choice,
    ``scipy.sparse.linalg.svds(Sb, k=C-1)``; the reference codes of Zhu et al. and Zhou et al.
    use ``pinv`` with its default, available as ``nc1_pinv_default``.)
``nc2_w``, ``nc2_h``, ``nc3``
    the single-number ETF distances of Zhu et al. 2021 (arXiv 2105.02375;
    tding1/Neural-Collapse validate_NC.py ``compute_ETF``, ``compute_W_H_relation``): these are
    the NC metrics reported throughout the UFM literature (Zhu et al., Zhou et al. 2022,
    Memorization-Dilation), each is 0 exactly at the CE/LS/FL/MaxSup minimiser for every K, and W
    is *uncentred* as in Zhu et al. (there the rows of W sum to 0, so the uncentred version also
    detects a spurious common component of the classifiers; use ``nc2_w_centered`` for the MSE
    no-bias minimiser, whose W is an orthogonal frame).
``nc4``
    the NCC mismatch fraction of Papyan et al. 2020.

Variants (:func:`nc_variants`, a superset of the defaults), with their sources
-----------------------------------------------------------------------------
* ``nc1_pinv_default``: Tr(Σ_W · scipy.linalg.pinv(Σ_B)) / K, the literal computation of
  tding1/Neural-Collapse validate_NC.py and jinxinzhou/nc_loss evaluate.py (``collapse_metric``),
  with default rcond (cut-off d·eps·σ_max of the d×d matrix Σ_B), replicated step by step (same
  SVD of Σ_B, same cut-off) with the trace evaluated from the SVD factors. The d×d SVD costs
  O(d³) (about 0.2 s at d = 512 here), and the cut-off can keep round-off eigenvalues (the value
  is then huge, of either sign) or drop genuine ones.
* ``nc2_w_centered``: ``nc2_w`` with W replaced by CW = W − 1 w̄ᵀ (jinxinzhou/nc_loss evaluate.py
  ``compute_ETF``).
* ``nc2_equinorm_w``, ``nc2_equinorm_h``: coefficient of variation std/mean of ‖w_k‖ and of
  ‖μ_k − μ_G‖ (PNAS "equinorm"); std with ddof=1 as ``torch.std`` in the PNAS companion code.
* ``nc2_equiangular_w``, ``nc2_equiangular_h``: population std (ddof=0) over the K(K−1)/2 pairs
  k < k' of cos(w_k, w_k') and cos(μ_k − μ_G, μ_k' − μ_G) (PNAS "equiangularity"). For K = 2 there
  is a single pair, so this is always 0.
* ``nc2_maxangle_w``, ``nc2_maxangle_h``: mean over pairs k ≠ k' of |cos + 1/(K−1)| (PNAS
  "maximal angle"; the ``coherence`` function of the companion code).
* ``nc2_wh_guo``: ‖W H̄/‖W H̄‖_F − C/√(K−1)‖_F (Guo et al. 2024 per a third-party
  reimplementation, unverified, theory.md d); the same formula as ``nc3``.
* ``nc3_w_centered``: ``nc3`` with CW in place of W (jinxinzhou/nc_loss evaluate.py
  ``compute_W_H_relation``).
* ``nc3_pnas_sq``: ‖Wᵀ/‖W‖_F − H̄/‖H̄‖_F‖_F² (PNAS "self-duality", squared as in the companion
  code ``W_M_dist``).
* ``nc3_unsquared``: its square root (Guo et al. per a third-party reimplementation, unverified).
* ``wh_b_relation``: ‖W μ_G + b‖ (jinxinzhou/nc_loss evaluate.py ``compute_Wh_b_relation``;
  theory.md d). Not scale invariant.
* ``wh_b_relation_zhu``: ‖W μ_G − b‖, the sign actually used by tding1/Neural-Collapse
  validate_NC.py ``compute_Wh_b_relation`` (and julilien/MemorizationDilation). Both are 0 at the
  minimiser of theory.md b (μ_G = 0, b* = 0).

Degenerate input
----------------
Nothing here raises on degenerate values; it returns ``float('nan')`` where a metric is undefined:

* all class means equal up to the worst-case rounding of computing them,
  ‖H̄‖_F ≤ max(N, d, K)·eps·(‖[μ_1 … μ_K]‖_F + √K·max_i ‖h_i‖) (e.g. W = H = 0 in the zero
  regime): Σ_B = 0, so every metric that uses H̄ (nc1*, nc2_h, nc2_*_h, nc3*, nc4: the
  nearest-class-centre rule is then arbitrary) is NaN;
* W = 0: every metric that uses W (nc2_w, nc2_w_centered, nc2_*_w, nc3*, nc2_wh_guo) is NaN;
  all rows of W equal (CW = 0): nc2_w_centered and nc3_w_centered are NaN; W H̄ at the
  rounding level of the product: nc3, nc2_wh_guo (and nc3_w_centered for CW H̄) are NaN;
* some μ_k = μ_G or some w_k = 0 (but not all): the cosine variants of that side are NaN;
* memorization without any corrupted sample, dilation without any clean sample: NaN.

Ties in NC4 are resolved by the first index (``argmax``/``argmin``). Inputs (numpy or JAX, float32
or float64) are converted to numpy float64 first. Non-finite inputs and malformed shapes or labels
raise a one-line ``ValueError``. Scale-invariant metrics are computed on copies scaled by an exact
power of two, so tiny or huge inputs neither underflow nor overflow.

Memorization-Dilation (theory.md e; Nguyen et al., ICLR 2023, julilien/MemorizationDilation
metrics.py): :func:`dilation` and :func:`memorization` (see their docstrings).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg

__all__ = [
    "DEFAULT_KEYS",
    "VARIANT_KEYS",
    "class_means",
    "dilation",
    "memorization",
    "nc_metrics",
    "nc_variants",
]

_EPS = float(np.finfo(np.float64).eps)
_NAN = float("nan")

DEFAULT_KEYS = ("nc1", "nc2_w", "nc2_h", "nc3", "nc4")
VARIANT_KEYS = (
    *DEFAULT_KEYS,
    "nc1_pinv_default",
    "nc2_w_centered",
    "nc2_equinorm_w",
    "nc2_equinorm_h",
    "nc2_equiangular_w",
    "nc2_equiangular_h",
    "nc2_maxangle_w",
    "nc2_maxangle_h",
    "nc2_wh_guo",
    "nc3_w_centered",
    "nc3_pnas_sq",
    "nc3_unsquared",
    "wh_b_relation",
    "wh_b_relation_zhu",
)


# ----------------------------------------------------------------------------------------------
# validation


def _num_classes(num_classes: Any) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise ValueError(f"num_classes={num_classes!r}: expected an integer K >= 2")
    if num_classes < 2:
        raise ValueError(f"num_classes={num_classes!r}: expected an integer K >= 2")
    return int(num_classes)


def _float_array(name: str, x: Any, ndim: int) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != ndim:
        raise ValueError(f"{name}.shape={a.shape}: expected a {ndim}-D array")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains nan/inf: expected finite values")
    return a


def _label_array(name: str, y: Any, N: int, K: int) -> np.ndarray:
    a = np.asarray(y)
    if a.shape != (N,):
        raise ValueError(f"{name}.shape={a.shape}: expected ({N},), one label per column of H")
    if not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"{name}.dtype={a.dtype}: expected an integer array")
    if N and (a.min() < 0 or a.max() >= K):
        raise ValueError(f"{name} range [{a.min()}, {a.max()}]: expected labels in [0, {K - 1}]")
    return a.astype(np.intp)


def _check_H_labels(H: Any, labels: Any, num_classes: Any) -> tuple[np.ndarray, np.ndarray, int]:
    K = _num_classes(num_classes)
    H = _float_array("H", H, 2)
    if H.shape[1] == 0:
        raise ValueError(f"H.shape={H.shape}: expected [d, N] with N >= 1")
    return H, _label_array("labels", labels, H.shape[1], K), K


def _check_all(W, H, b, labels, num_classes, rcond):
    H, y, K = _check_H_labels(H, labels, num_classes)
    d = H.shape[0]
    W = _float_array("W", W, 2)
    if W.shape != (K, d):
        raise ValueError(f"W.shape={W.shape}: expected ({K}, {d}) = (num_classes, H.shape[0])")
    if b is None:
        b = np.zeros(K)
    else:
        b = _float_array("b", b, 1)
        if b.shape == (0,):
            b = np.zeros(K)
        elif b.shape != (K,):
            raise ValueError(f"b.shape={b.shape}: expected ({K},), (0,) or None")
    if rcond is not None and not (np.isfinite(rcond) and 0.0 <= rcond <= 1.0):
        raise ValueError(f"rcond={rcond!r}: expected None or a number in [0, 1]")
    return W, H, b, y, K


# ----------------------------------------------------------------------------------------------
# helpers


def _pow2_scale(a: np.ndarray) -> tuple[np.ndarray, int]:
    """a·2^(−e) with max|a·2^(−e)| in [0.5, 1): exact (no rounding), e = 0 when a = 0."""
    m = max(float(a.max()), -float(a.min())) if a.size else 0.0  # max|a| without a copy
    if m == 0.0:
        return a, 0
    e = int(np.frexp(m)[1])
    return np.ldexp(a, -e), e


def _one_hot(labels: np.ndarray, K: int) -> np.ndarray:
    Y = np.zeros((labels.shape[0], K))
    Y[np.arange(labels.shape[0]), labels] = 1.0
    return Y


def _means(H: np.ndarray, labels: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray]:
    """Class means M [d, K] and counts [K] (no validation; raises if a class is empty)."""
    counts = np.bincount(labels, minlength=K)
    if np.any(counts == 0):
        k = int(np.flatnonzero(counts == 0)[0])
        raise ValueError(f"labels: class {k} has no samples: expected every class in 0..{K - 1}")
    return (H @ _one_hot(labels, K)) / counts, counts


def _mean_noise(H: np.ndarray, M: np.ndarray) -> float:
    """Worst-case rounding error ‖ΔH̄‖_F of the computed H̄ = M − μ_G1ᵀ.

    A mean over n_k ≤ N columns is off by ≤ ~N·eps·max_i ‖h_i‖ per column (the samples can be
    much larger than their mean), and subtracting μ_G adds ~K·eps·‖M‖_F. So
    noise = max(N, d, K)·eps·(‖M‖_F + √K·max_i ‖h_i‖). Below it H̄ (or one of its singular values)
    cannot be told from 0.
    """
    d, N = H.shape
    col = float(np.sqrt(np.max(np.einsum("ij,ij->j", H, H))))
    return max(N, d, M.shape[1]) * _EPS * (float(np.linalg.norm(M)) + np.sqrt(M.shape[1]) * col)


def _product_negligible(P: np.ndarray, A: np.ndarray, B: np.ndarray) -> bool:
    """‖A B‖_F at the round-off level of the product: ≤ 4·inner·eps·‖A‖_F‖B‖_F (or 0)."""
    inner = A.shape[1]
    return not (np.linalg.norm(P) > 4 * inner * _EPS * np.linalg.norm(A) * np.linalg.norm(B))


def _etf_distance(G: np.ndarray) -> float:
    """‖G/‖G‖_F − C/√(K−1)‖_F for a K×K matrix G (G ≠ 0 checked by the caller)."""
    K = G.shape[0]
    C = np.eye(K) - 1.0 / K
    return float(np.linalg.norm(G / np.linalg.norm(G) - C / np.sqrt(K - 1)))


def _gram_etf_distance(V: np.ndarray) -> float:
    """ETF distance of the Gram matrix V Vᵀ of the rows of V [K, ·]; NaN if V = 0."""
    if not np.any(V):
        return _NAN
    Vs, _ = _pow2_scale(V)
    G = Vs @ Vs.T
    if _product_negligible(G, Vs, Vs.T):
        return _NAN
    return _etf_distance(G)


def _product_etf_distance(A: np.ndarray, B: np.ndarray) -> float:
    """ETF distance of A B (A [K, d], B [d, K] already scaled); NaN if A B is negligible."""
    P = A @ B
    if _product_negligible(P, A, B):
        return _NAN
    return _etf_distance(P)


def _coefficient_of_variation(x: np.ndarray) -> float:
    """std(x, ddof=1) / mean(x); NaN if mean(x) = 0."""
    mean = float(np.mean(x))
    if not mean > 0.0:
        return _NAN
    return float(np.std(x, ddof=1) / mean)


def _pair_cosines(V: np.ndarray) -> np.ndarray | None:
    """cos(v_k, v_k') for k < k' of the rows of V [K, ·]; None if some row is 0."""
    Vs, _ = _pow2_scale(V)
    norms = np.linalg.norm(Vs, axis=1)
    if not np.all(norms > 0.0):
        return None
    U = Vs / norms[:, None]
    iu = np.triu_indices(V.shape[0], 1)
    return (U @ U.T)[iu]


def _equiangular(V: np.ndarray) -> float:
    cos = _pair_cosines(V)
    return _NAN if cos is None else float(np.std(cos))


def _maxangle(V: np.ndarray) -> float:
    cos = _pair_cosines(V)
    return _NAN if cos is None else float(np.mean(np.abs(cos + 1.0 / (V.shape[0] - 1))))


# ----------------------------------------------------------------------------------------------
# public API


def class_means(H: Any, labels: Any, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Class means and their mean: μ_k = (1/n_k) Σ_{y_i = k} h_i and μ_G = (1/K) Σ_k μ_k.

    theory.md 0. μ_G is the mean of the class means (not the sample mean), so that an exact simplex
    ETF has μ_G = 0 whatever the class counts.

    Args:
        H: features [d, N] (one column per sample, any order).
        labels: integer labels [N] in [0, K).
        num_classes: K ≥ 2; every class must occur.

    Returns:
        (means [d, K] float64, global_mean [d] float64).
    """
    H, y, K = _check_H_labels(H, labels, num_classes)
    M, _ = _means(H, y, K)
    return M, M.mean(axis=1)


def _nc_all(W, H, b, labels, num_classes, rcond, variants: bool) -> dict[str, float]:
    W, H, b, y, K = _check_all(W, H, b, labels, num_classes, rcond)
    d, N = H.shape

    # Exact power-of-two scaling: scale-invariant metrics are computed on Ws, Hs.
    Ws, eW = _pow2_scale(W)
    Hs, eH = _pow2_scale(H)
    Ms, _ = _means(Hs, y, K)
    mG = Ms.mean(axis=1)
    Hbar = Ms - mG[:, None]
    noise = _mean_noise(Hs, Ms)
    deg_h = not (np.linalg.norm(Hbar) > noise)  # all class means equal, up to rounding
    Hbar_s, eb = _pow2_scale(Hbar)  # H̄_s = 2^(−eb) H̄, exact
    out: dict[str, float] = {}

    # --- NC1 (rank-(K-1) pseudo-inverse) and NC4, sharing one pass over H.
    # Σ_B = (1/K) H̄H̄ᵀ = U diag(s²/K) Uᵀ (thin SVD of H̄, O(dK²)), so with R = H − [μ_{y_i}]:
    # (1/K) Tr(Σ_W Σ_B^†) = (1/K)(1/N) Σ_i (K/s_i²) ‖u_iᵀ R‖² = (1/N) Σ_i ‖u_iᵀ R‖² / s_i².
    if deg_h:
        out["nc1"] = out["nc4"] = _NAN
    else:
        U, s, _ = np.linalg.svd(Hbar_s, full_matrices=False)  # singular values of H̄ are 2^eb·s
        r = min(K - 1, d)
        U, s = U[:, :r], s[:r]
        # Singular values of H̄ below the rounding error of H̄ itself (``_mean_noise``) or below
        # the SVD's own error max(d, K)·eps·s_1 are numerically zero: in exact arithmetic they are
        # zero eigenvalues of Σ_B, which Σ_B^† drops.
        floor = max(max(d, K) * _EPS * s[0], np.ldexp(noise, -eb))
        keep = s > floor
        if rcond is not None:
            keep &= s * s >= rcond * s[0] * s[0]
        U, s = U[:, keep], s[keep]
        r = U.shape[1]
        A = np.concatenate([U.T, Ms.T, Ws], axis=0) @ Hs  # [(r + 2K), N], one pass over H
        P = A[:r] - (U.T @ Ms)[:, y]  # u_iᵀ (h_j − μ_{y_j}) on the scale of Hs
        if r == 0:
            out["nc1"] = _NAN
        else:
            with np.errstate(over="ignore", under="ignore"):  # extreme ratios only: ±inf / 0
                Z = np.ldexp(P / s[:, None], -eb)
                out["nc1"] = float(np.sum(Z * Z) / N)
        # NCC: argmin_k ‖h − μ_k‖² = argmin_k (‖μ_k‖² − 2 μ_kᵀh).
        ncc = np.argmin(np.sum(Ms * Ms, axis=0)[:, None] - 2.0 * A[r : r + K], axis=0)
        # Classifier: logits = W h + b = 2^(eW+eH) (Ws Hs) + b (exact power-of-two rescaling).
        logits = np.ldexp(A[r + K :], eW + eH) + b[:, None]
        out["nc4"] = float(np.mean(np.argmax(logits, axis=0) != ncc))

    # --- NC2 / NC3 (Zhu et al.)
    out["nc2_w"] = _gram_etf_distance(W)
    out["nc2_h"] = _NAN if deg_h else _gram_etf_distance(Hbar_s.T)
    nc3 = _NAN if deg_h or not np.any(W) else _product_etf_distance(Ws, Hbar_s)
    out["nc3"] = nc3
    if not variants:
        return {k: out[k] for k in DEFAULT_KEYS}

    # --- variants
    if deg_h:
        out["nc1_pinv_default"] = _NAN
    else:
        # scipy.linalg.pinv(Σ_B) step by step (same SVD, same default cut-off d·eps·σ_max), so
        # that Tr(Σ_W Σ_B^+) = (1/N) Σ_i ⟨u_iᵀR, v_iᵀR⟩ / σ_i is evaluated from the factors
        # without forming the d×d matrix Σ_W (O(rank·dN) instead of O(d²N)).
        Sigma_B = (Hbar @ Hbar.T) / K  # on the scale of Hs, like R: the trace is unchanged
        u, sig, vh = scipy.linalg.svd(Sigma_B, full_matrices=False, check_finite=False)
        rank = int(np.sum(sig > sig.max(initial=0.0) * d * _EPS))
        R = Hs - Ms[:, y]
        UR, VR = u[:, :rank].T @ R, vh[:rank] @ R
        out["nc1_pinv_default"] = float(np.sum(np.sum(UR * VR, axis=1) / sig[:rank]) / (N * K))

    Wc = W - W.mean(axis=0, keepdims=True)
    out["nc2_w_centered"] = _gram_etf_distance(Wc)
    out["nc2_equinorm_w"] = _coefficient_of_variation(np.linalg.norm(Ws, axis=1))
    out["nc2_equiangular_w"] = _equiangular(W)
    out["nc2_maxangle_w"] = _maxangle(W)
    if deg_h:
        for key in ("nc2_equinorm_h", "nc2_equiangular_h", "nc2_maxangle_h"):
            out[key] = _NAN
    else:
        out["nc2_equinorm_h"] = _coefficient_of_variation(np.linalg.norm(Hbar_s, axis=0))
        out["nc2_equiangular_h"] = _equiangular(Hbar_s.T)
        out["nc2_maxangle_h"] = _maxangle(Hbar_s.T)

    out["nc2_wh_guo"] = nc3
    if deg_h or not np.any(Wc):
        out["nc3_w_centered"] = _NAN
    else:
        out["nc3_w_centered"] = _product_etf_distance(_pow2_scale(Wc)[0], Hbar_s)
    if deg_h or not np.any(W):
        out["nc3_pnas_sq"] = out["nc3_unsquared"] = _NAN
    else:
        D = Ws.T / np.linalg.norm(Ws) - Hbar_s / np.linalg.norm(Hbar_s)
        sq = float(np.sum(D * D))
        out["nc3_pnas_sq"], out["nc3_unsquared"] = sq, float(np.sqrt(sq))

    # ‖W μ_G ± b‖ on the original scale, μ_G = (1/K) Σ_k μ_k.
    Wm = np.ldexp(Ws @ mG, eW + eH)
    out["wh_b_relation"] = float(np.linalg.norm(Wm + b))
    out["wh_b_relation_zhu"] = float(np.linalg.norm(Wm - b))
    return {k: out[k] for k in VARIANT_KEYS}


def nc_metrics(
    W: Any, H: Any, b: Any, labels: Any, num_classes: int, *, rcond: float | None = None
) -> dict[str, float]:
    """The default NC metrics (see the module docstring for sources and the reasons).

    * ``nc1`` = (1/K) Tr(Σ_W Σ_B^†), Σ_B^† from the top min(K−1, d) eigenpairs of Σ_B that are
      not numerically zero (with ``rcond``: only those with λ ≥ rcond·λ_max). Computed as
      (1/N) Σ_i ‖u_iᵀ(H − M_y)‖²/s_i² with H̄ = U diag(s) Vᵀ, hence ≥ 0 always. Papyan et al. 2020.
    * ``nc2_w`` = ‖WWᵀ/‖WWᵀ‖_F − C/√(K−1)‖_F, W uncentred. Zhu et al. 2021.
    * ``nc2_h`` = the same with H̄ᵀH̄. Zhu et al. 2021.
    * ``nc3`` = ‖W H̄/‖W H̄‖_F − C/√(K−1)‖_F. Zhu et al. 2021 ("W–H relation").
    * ``nc4`` = (1/N) #{i : argmax_k (w_kᵀh_i + b_k) ≠ argmin_k ‖h_i − μ_k‖}. Papyan et al. 2020.

    Cost O(dNK + dK²): about 10 ms for K = 10, d = 512, N = 5000.

    Args:
        W: classifier [K, d]. H: features [d, N]. b: bias [K], or [0]/None for no bias.
        labels: integer labels [N] in [0, K) (any order; every class must occur).
        num_classes: K ≥ 2.
        rcond: optional relative eigenvalue cut-off in [0, 1] for the Σ_B pseudo-inverse.

    Returns:
        dict with exactly the keys ``DEFAULT_KEYS``; NaN where undefined (module docstring).
    """
    return _nc_all(W, H, b, labels, num_classes, rcond, variants=False)


def nc_variants(
    W: Any, H: Any, b: Any, labels: Any, num_classes: int, *, rcond: float | None = None
) -> dict[str, float]:
    """Every NC variant of theory.md d, keys ``VARIANT_KEYS`` (a superset of :func:`nc_metrics`).

    Names, formulas and sources are listed in the module docstring. ``nc1_pinv_default`` takes the
    SVD of the d×d matrix Σ_B as ``scipy.linalg.pinv`` does, so this costs O(dNK + d³).
    """
    return _nc_all(W, H, b, labels, num_classes, rcond, variants=True)


def dilation(H: Any, labels: Any, clean_mask: Any, num_classes: int) -> float:
    """Dilation of the clean clusters (theory.md e; julilien/MemorizationDilation metrics.py).

    For each class k with at least one clean sample, let c_k be the mean of its clean samples
    (``get_centroids_by_corruption``: the *uncorrupted* centroid) and

        s_k = std_{i clean, y_i = k} ‖h_i − c_k‖        (population std, ddof = 0, as ``np.std``),

    which is ``get_uncorrupted_stddevs``. That function returns the per-class vector (s_k); this
    returns its unweighted mean over the classes that have clean samples, so that each cluster
    counts once whatever its size. NaN if no sample is clean. Scales linearly with H.

    Args:
        H: features [d, N]. labels: the (possibly noisy) training labels [N], integer in [0, K).
        clean_mask: boolean [N], True where the label is uncorrupted.
        num_classes: K ≥ 2.
    """
    H, y, K = _check_H_labels(H, labels, num_classes)
    N = H.shape[1]
    clean = np.asarray(clean_mask)
    if clean.shape != (N,) or clean.dtype != np.bool_:
        raise ValueError(
            f"clean_mask shape={clean.shape} dtype={clean.dtype}: expected a boolean array ({N},)"
        )
    Hs, e = _pow2_scale(H)  # exact; the result is rescaled by 2^e at the end
    Hc, yc = Hs[:, clean], y[clean]
    if yc.size == 0:
        return _NAN
    counts = np.bincount(yc, minlength=K)
    present = counts > 0
    centroids = (Hc @ _one_hot(yc, K))[:, present] / counts[present]
    full = np.zeros((H.shape[0], K))
    full[:, present] = centroids
    dist = np.linalg.norm(Hc - full[:, yc], axis=0)
    mean_d = np.bincount(yc, weights=dist, minlength=K)[present] / counts[present]
    centred = np.zeros(K)
    centred[present] = mean_d
    dev = dist - centred[yc]
    var = np.bincount(yc, weights=dev * dev, minlength=K)[present] / counts[present]
    return float(np.ldexp(np.mean(np.sqrt(var)), e))


def memorization(H: Any, labels: Any, true_labels: Any, num_classes: int) -> float:
    """Memorization of corrupted samples (theory.md e; julilien/MemorizationDilation metrics.py).

    With μ_k the mean of *all* samples labelled k (noisy labels, corrupted ones included, as the
    authors' ``get_class_means`` feeds ``get_dot_product_bias``), for every pair (k, j), j ≠ k, with
    at least one sample of label k and true class j, let m_kj be the mean of those samples and

        b_kj = (m_kj − μ_k)ᵀ (μ_j − μ_k) / ‖μ_j − μ_k‖.

    Returns the unweighted mean of b_kj over the pairs present (the authors keep the array).
    b_kj = 0 when the corrupted samples sit at μ_k, the centre of their (wrong) label, and
    b_kj = ‖μ_j − μ_k‖ when they sit at μ_j; b_kj > 0 means they are pulled from their label's
    cluster toward their true class. Scales linearly with H.

    Difference from the authors' ``get_dot_product_bias``: they average all corrupted samples of
    label k into one mean before projecting on every direction μ_j − μ_k; here the mean is taken
    per true class j. For K = 2 (their experiments) the two coincide.

    NaN if no sample is corrupted or if μ_j = μ_k (up to the rounding of the means, see
    :func:`nc_metrics`) for a pair present.

    Args:
        H: features [d, N]. labels: the noisy training labels [N].
        true_labels: the clean labels [N].
        num_classes: K ≥ 2; every class must occur in ``labels``.
    """
    H, y, K = _check_H_labels(H, labels, num_classes)
    N = H.shape[1]
    t = _label_array("true_labels", true_labels, N, K)
    H, e = _pow2_scale(H)  # exact; the result is rescaled by 2^e at the end
    M, _ = _means(H, y, K)
    idx = np.flatnonzero(y != t)
    if idx.size == 0:
        return _NAN
    pairs, inv, cnt = np.unique(y[idx] * K + t[idx], return_inverse=True, return_counts=True)
    sums = np.zeros((pairs.size, H.shape[0]))
    np.add.at(sums, inv, H[:, idx].T)
    k, j = pairs // K, pairs % K
    diff = sums / cnt[:, None] - M[:, k].T
    v = (M[:, j] - M[:, k]).T
    vn = np.linalg.norm(v, axis=1)
    tol = _mean_noise(H, M)  # μ_j − μ_k below the rounding error of the means
    if not np.all(vn > tol):
        return _NAN
    return float(np.ldexp(np.mean(np.sum(diff * v, axis=1) / vn), e))
