"""HVPs, dense Hessians and the symmetry null space of the UFM (theory.md c.2–c.3).

The objective is (UFM) of theory.md a.1 on θ = (vec W, vec H, b), P = Kd + dN (+ K) parameters,
flattened as :func:`ufm.objective.flatten` (and split back by :func:`ufm.objective.unflatten`).
Every function takes optional ``labels`` [N] (e.g. noisy labels); the default is the clean
class-major ``problem.labels()``.

* **HVPs.** ``∇²f(θ)·v`` by reverse-over-forward autodiff, ``grad_θ ⟨∇f(θ), v⟩`` written as
  ``grad(θ ↦ jvp(f, θ, v))``, on the ``Params`` pytree. At K=10, d=512, n=500 in float64 it costs
  13.0 ms against 48 ms for forward-over-reverse (``jvp`` of ``grad``) on a quiet machine
  (perf-notes §2), and 21 ms against 80 ms at load 2–4 (``benchmarks/hessian_paper_scale.py``,
  ``benchmarks/results/hessian_paper_scale.json``). Flat-vector callers (scipy) split the vector
  *outside* the jit, since slicing inside it costs ≈3× more (perf-notes §2).
* **Dense Hessian** for small problems (a few thousand parameters): columns of the identity pushed
  through a vmapped HVP, in chunks.
* **Symmetry orbit.** f(W Qᵀ, Q H, b) = f(W, H, b) for Q ∈ O(d), and with a bias and λ_b = 0 a
  softmax loss is also invariant under b → b + t1. The orbit's tangent space at θ is

      T_θ = {(−W A, A H, 0) : A ∈ so(d)}  (+ span{(0, 0, 1)} when the bias shift is a symmetry).

  Let S = rowspan(W) + colspan(H) ⊂ R^d, r = dim S, U ∈ R^{d×r} orthonormal on S and U⊥ on S⊥.
  Writing A in the blocks [[A₁₁, A₁₂], [−A₁₂ᵀ, A₂₂]] of (U, U⊥), A₂₂ ∈ so(d−r) acts trivially
  (the stabiliser), and the map (A₁₁, A₁₂) ↦ tangent vector is injective, so

      dim T_θ = r(r−1)/2 + r(d−r) = r d − r(r+1)/2,

  which at the ETF minimiser (r = K−1) is (K−1)d − K(K−1)/2, the zero count of theory.md c.2.
  The two pieces are orthogonal (one lives in S, the other mixes S with S⊥). With W_S = W U,
  H_S = Uᵀ H and M = W_Sᵀ W_S + H_S H_Sᵀ (r×r), the orthogonal projector onto the S⊥-mixing piece
  is (X, Y) ↦ (W_S B, Bᵀ H_S) with B = M⁻¹ (W_Sᵀ X⊥ + H_S Y⊥ᵀ), X⊥ = X(I − UUᵀ),
  Y⊥ = (I − UUᵀ)Y; the so(r) piece has an explicit orthonormal basis of r(r−1)/2 vectors in
  the reduced coordinates (K×r, r×N). Applying the projector costs O((K+N)·d·r): no
  P × dim T basis is ever formed (that would be 93 GB at the paper scale).
* **Why the orbit is null exactly at critical points.** Differentiating f(e^{tA}·θ) = f(θ) gives
  ∇f(e^{tA}·θ) = e^{tA}·∇f(θ), and at t = 0

      ∇²f(θ) · ξ_A(θ) = ξ_A(∇f(θ)),   ξ_A(X, Y, z) = (−X A, A Y, 0)      (derived here).

  So T_θ is in the null space of ∇²f when ∇f(θ) = 0, and ‖∇²f·ξ_A(θ)‖ ≤ ‖A‖₂‖∇f(θ)‖ otherwise:
  at a non-stationary point (a loose or constrained one, e.g. H ≥ 0 with active bounds) the orbit
  directions carry curvature of the size of the gradient, which deflation would hide.
  :mod:`ufm.spectrum` therefore *measures* ‖∇²f·P_T‖ before deflating.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ufm.objective import Params, flatten, objective, unflatten
from ufm.spec import Hyper, Problem

SOFTMAX_LOSSES = ("ce", "ls", "fl", "maxsup")


def resolve_labels(problem: Problem, labels: Any = None) -> np.ndarray:
    """The labels to use: ``problem.labels()`` when None, else ``labels`` validated.

    Raises:
        ValueError: unless ``labels`` is an integer array of shape [N] with values in [0, K).
    """
    if labels is None:
        return problem.labels()
    y = np.asarray(labels)
    if y.shape != (problem.N,) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels of shape {y.shape} and dtype {y.dtype}: expected {problem.N} "
                         "integers")
    if y.size and (y.min() < 0 or y.max() >= problem.K):
        raise ValueError(f"labels in [{y.min()}, {y.max()}]: expected values in [0, {problem.K})")
    return y.astype(np.int32)


def clean_labels(problem: Problem, labels: Any = None) -> bool:
    """True when ``labels`` are the problem's own class-major labels (None counts as clean)."""
    return labels is None or np.array_equal(resolve_labels(problem, labels), problem.labels())


def as_float64(params: Params) -> Params:
    """``params`` as float64 numpy arrays (a float32 point is cast up exactly)."""
    return Params(*(np.asarray(a, dtype=np.float64) for a in params))


# ------------------------------------------------------------------------------------ HVPs
@functools.partial(jax.jit, static_argnames=("loss",))
def hessian_vector_product(
    params: Params, tangent: Params, hyper: Hyper, labels: jax.Array, loss: str
) -> Params:
    """∇²f(params)·tangent by reverse-over-forward autodiff (``grad`` of ``jvp``), on the pytree.

    ∇²f(θ)v = ∇_θ ⟨∇f(θ), v⟩ = ∇_θ [d/dt f(θ + t v)]_{t=0}, f the UFM objective of theory.md a.1.

    Args:
        params: the point θ (W [K,d], H [d,N], b [K] or [0]).
        tangent: the direction v, same shapes.
        hyper: the problem's :class:`~ufm.spec.Hyper` (dynamic: changing λ does not recompile).
        labels: int labels [N].
        loss: static loss name.

    Returns:
        ∇²f(θ) v as a :class:`~ufm.objective.Params`.
    """

    def directional(p: Params) -> jax.Array:
        return jax.jvp(lambda q: objective(q, hyper, labels, loss), (p,), (tangent,))[1]

    return jax.grad(directional)(params)


@functools.partial(jax.jit, static_argnames=("loss",))
def _hvp_forward_over_reverse(
    params: Params, tangent: Params, hyper: Hyper, labels: jax.Array, loss: str
) -> Params:
    """The textbook ∇²f·v = d/dt ∇f(θ + t v) (``jvp`` of ``grad``); benchmark comparison only."""
    grad = jax.grad(lambda q: objective(q, hyper, labels, loss))
    return jax.jvp(grad, (params,), (tangent,))[1]


def make_hvp(
    problem: Problem, dtype: Any = np.float64, labels: Any = None
) -> Callable[[Params, Params], Params]:
    """A jitted HVP ``hvp(params, tangent) -> Params`` for ``problem`` (reverse-over-forward).

    Binds the problem's :class:`~ufm.spec.Hyper` (in ``dtype``) and ``labels`` (default
    ``problem.labels()``) to :func:`hessian_vector_product`.
    """
    hyper = problem.hyper(dtype)
    y = jnp.asarray(resolve_labels(problem, labels))
    loss = problem.loss

    def hvp(params: Params, tangent: Params) -> Params:
        return hessian_vector_product(params, tangent, hyper, y, loss)

    return hvp


def make_flat_hvp(
    problem: Problem, params: Params, dtype: Any = np.float64, labels: Any = None
) -> Callable[[np.ndarray], np.ndarray]:
    """``matvec(x) = ∇²f(params)·x`` on flat numpy vectors, for scipy ``LinearOperator``.

    The flat vector is split into (W, H, b) views on the host (:func:`ufm.objective.unflatten`),
    so the compiled HVP is the pytree one (the flat-in-jit version costs ≈3× more, perf-notes §2).

    Raises:
        ValueError: (from ``matvec``) when ``x`` does not have P entries.
    """
    hvp = make_hvp(problem, dtype, labels)
    point = Params(*(jnp.asarray(a, dtype) for a in params))
    P = problem.num_params

    def matvec(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype).reshape(-1)
        if x.shape[0] != P:
            raise ValueError(f"vector length {x.shape[0]}: expected {P} parameters")
        return np.asarray(flatten(hvp(point, unflatten(x, problem))))

    return matvec


# ------------------------------------------------------------------------------- dense
class _Layout(NamedTuple):
    """The shapes :func:`ufm.objective.unflatten` needs (hashable, so it can be static in jit)."""

    K: int
    d: int
    N: int


@functools.partial(jax.jit, static_argnames=("loss", "layout"))
def _hessian_columns(
    point: Params, E: jax.Array, hyper: Hyper, labels: jax.Array, loss: str, layout: _Layout
) -> jax.Array:
    """Rows ∇²f·e for the rows e of E (vmapped reverse-over-forward HVP), flat layout."""

    def one(e: jax.Array) -> jax.Array:
        return flatten(hessian_vector_product(point, unflatten(e, layout), hyper, labels, loss))

    return jax.vmap(one)(E)


def dense_hessian(
    problem: Problem, params: Params, *, labels: Any = None, chunk: int = 256
) -> np.ndarray:
    """The full P×P Hessian ∇²f(θ) (numpy, symmetrised) for small problems.

    Column j is ∇²f·e_j by a vmapped reverse-over-forward HVP, ``chunk`` columns at a time
    (memory ≈ 8P² bytes for the result plus chunk·P per batch). Intended for P up to a few
    thousand; dense eigendecomposition is O(P³) (perf-notes §4a). The dtype is that of ``params``
    (call under ``ufm.precision.x64()`` with float64 arrays for float64).

    Args:
        problem: the UFM instance.
        params: the point θ.
        labels: [N] labels (default ``problem.labels()``).
        chunk: columns per vmapped batch.

    Returns:
        The symmetric matrix (H + Hᵀ)/2, shape [P, P], ordered as :func:`ufm.objective.flatten`.
    """
    point = Params(*(jnp.asarray(a) for a in params))
    dtype = point.W.dtype
    hyper = problem.hyper(dtype)
    y = jnp.asarray(resolve_labels(problem, labels))
    layout = _Layout(problem.K, problem.d, problem.N)
    P = problem.num_params
    chunk = min(chunk, P)
    out = np.empty((P, P), dtype=dtype)
    for start in range(0, P, chunk):
        stop = min(P, start + chunk)
        E = np.zeros((chunk, P), dtype=dtype)  # fixed batch shape: one compilation per shape
        E[np.arange(stop - start), np.arange(start, stop)] = 1.0
        cols = _hessian_columns(point, jnp.asarray(E), hyper, y, problem.loss, layout)
        out[start:stop] = np.asarray(cols)[: stop - start]
    return 0.5 * (out + out.T)


# ------------------------------------------------------------------- symmetry orbit
def bias_shift_is_symmetry(problem: Problem) -> bool:
    """True when b → b + t1 leaves f unchanged: a bias, λ_b = 0 and a softmax loss.

    Softmax losses depend on z only through z − mean(z)·1 (theory.md b.1, "Bias"); MSE does not.
    """
    return problem.bias and problem.lambda_b == 0.0 and problem.loss in SOFTMAX_LOSSES


def orbit_dimension(rank: int, dim: int) -> int:
    """dim of the O(d) orbit through a point whose W rows and H columns span r dims.

    r d − r(r+1)/2 (module docstring).
    """
    if not 0 <= rank <= dim:
        raise ValueError(f"rank={rank}: expected an integer in [0, d={dim}]")
    return rank * dim - rank * (rank + 1) // 2


def minimiser_rank(problem: Problem) -> int | None:
    """r = dim span(rows of W*, columns of H*) at the global minimiser, when theory.md b says so.

    * Softmax losses (CE, LS, MaxSup, FL), free features, d ≥ K−1: r = K−1 in the collapse regime
      (Δ* > 0) and 0 in the zero regime (theory.md b.1).
    * MSE (theory.md b.6), the rank of the logit matrix M: no bias, r = K (orthogonal frame);
      with a bias, r = K−1 (ETF part) + 1 when the global-mean part μ* > 0 (case 3); 0 in the zero
      regime. The zero count r d − r(r+1)/2 (no bias-shift zero: MSE is not shift invariant) is
      checked against dense Hessians in ``tests/test_hessian.py``.
    * None otherwise (imbalanced classes, nonnegative features — whose constraint H ≥ 0 is not
      O(d)-invariant — or no closed form). The clean labels are assumed.
    """
    if not problem.balanced or problem.features != "free":
        return None
    from ufm.closed_form import closed_form

    cf = closed_form(problem)
    if not cf.available:
        return None
    if cf.regime != "collapse":
        return 0
    if problem.loss == "mse":
        if not problem.bias:
            return problem.K
        return problem.K - 1 + int(bool(cf.mean_logit and cf.mean_logit > 0))
    return problem.K - 1


def expected_zero_modes(problem: Problem, rank: int | None = None) -> int | None:
    """The number of zero Hessian eigenvalues forced by symmetry (theory.md c.2 "Checks").

    ``rank d − rank(rank+1)/2`` from the O(d) orbit, plus 1 when the bias shift is a symmetry
    (:func:`bias_shift_is_symmetry`). At the ETF minimiser rank = K−1, which gives
    (K−1)d − K(K−1)/2 (+1). ``rank=None`` takes it from :func:`minimiser_rank` (None if unknown).
    """
    if rank is None:
        rank = minimiser_rank(problem)
        if rank is None:
            return None
    return orbit_dimension(rank, problem.d) + int(bias_shift_is_symmetry(problem))


def _span_basis(params: Params, rank: int | None, rtol: float) -> np.ndarray:
    """Orthonormal U [d, r] of S = rowspan(W) + colspan(H): left singular vectors of [Wᵀ, H].

    ``rank=None``: r = #{singular values > rtol·σ_max}.
    """
    W = np.asarray(params.W, dtype=np.float64)
    H = np.asarray(params.H, dtype=np.float64)
    U, sing, _ = np.linalg.svd(np.concatenate([W.T, H], axis=1), full_matrices=False)
    if rank is None:
        top = sing[0] if sing.size else 0.0
        rank = int(np.sum(sing > rtol * top)) if top > 0 else 0
    if not 0 <= rank <= min(W.shape[1], sing.size):
        raise ValueError(f"rank={rank}: expected an integer in [0, {min(W.shape[1], sing.size)}]")
    return U[:, :rank]


class TangentProjector(NamedTuple):
    """Implicit orthogonal projector onto the orbit tangent space T_θ (module docstring).

    Attributes:
        U: orthonormal basis of S, [d, r].
        W_S: W U, [K, r].
        H_S: Uᵀ H, [r, N].
        M_inv: (W_Sᵀ W_S + H_S H_Sᵀ)⁻¹, [r, r] (the S⊥-mixing piece).
        G_inv: inverse Gram matrix of the images (−W_S A_ij, A_ij H_S) of the generators
            A_ij = e_i e_jᵀ − e_j e_iᵀ (i < j) of so(r), [m, m], m = r(r−1)/2 (the in-S piece).
        bias_shift: 1.0 when (0, 0, 1/√K) is also in T_θ, else 0.0.
    """

    U: jax.Array
    W_S: jax.Array
    H_S: jax.Array
    M_inv: jax.Array
    G_inv: jax.Array
    bias_shift: jax.Array

    @property
    def rank(self) -> int:
        """r = dim S."""
        return int(self.U.shape[1])

    @property
    def dim(self) -> int:
        """dim T_θ = r d − r(r+1)/2 (+1 for the bias shift)."""
        return orbit_dimension(self.rank, int(self.U.shape[0])) + int(float(self.bias_shift) > 0)


def _so_generators(r: int) -> np.ndarray:
    """The generators A_ij = e_i e_jᵀ − e_j e_iᵀ, i < j (row-major order), shape [m, r, r]."""
    iu, ju = np.triu_indices(r, k=1)
    A = np.zeros((iu.size, r, r))
    A[np.arange(iu.size), iu, ju] = 1.0
    A[np.arange(iu.size), ju, iu] = -1.0
    return A


def tangent_projector(
    params: Params, problem: Problem, *, rank: int | None = None, rtol: float = 1e-6
) -> TangentProjector:
    """Build the implicit projector onto the symmetry-orbit tangent space at ``params``.

    Args:
        params: the point (numpy or JAX arrays).
        problem: the UFM instance (decides whether the bias shift is a symmetry).
        rank: r = dim S to use. ``None`` counts the singular values of [Wᵀ, H] above
            ``rtol`` × the largest. At an *approximate* minimiser pass the exact rank (K−1): the
            small off-S components (size ≈ ‖∇f‖/λ) are then dropped and the projector is the
            tangent space of the nearby orbit, which is what deflation needs.
        rtol: relative singular-value threshold when ``rank`` is None.

    Returns:
        A :class:`TangentProjector` (a pytree; apply it with :func:`project_tangent`).
    """
    W = np.asarray(params.W, dtype=np.float64)
    H = np.asarray(params.H, dtype=np.float64)
    U = _span_basis(params, rank, rtol)
    r = U.shape[1]
    W_S, H_S = W @ U, U.T @ H
    # pinv = inv when the point really has rank r; it keeps a valid orthogonal projector (onto
    # the image of the generators) when a forced rank exceeds the point's
    M_inv = np.linalg.pinv(W_S.T @ W_S + H_S @ H_S.T, hermitian=True) if r else np.zeros((0, 0))
    A = _so_generators(r)
    # Gram of the images: ⟨W_S A_a, W_S A_b⟩ + ⟨A_a H_S, A_b H_S⟩ = tr(A_aᵀ P A_b) + tr(A_a Q A_bᵀ).
    P, Q = W_S.T @ W_S, H_S @ H_S.T
    if A.size:
        gram = np.einsum("aij,ik,bkj->ab", A, P, A) + np.einsum("aij,bik,kj->ab", A, A, Q)
        G_inv = np.linalg.pinv(gram, hermitian=True)
    else:
        G_inv = np.zeros((0, 0))
    shift = 1.0 if bias_shift_is_symmetry(problem) else 0.0
    dtype = np.asarray(params.W).dtype
    arrays = (U, W_S, H_S, M_inv, G_inv)
    return TangentProjector(*(jnp.asarray(a, dtype) for a in arrays), jnp.asarray(shift, dtype))


@jax.jit
def project_tangent(tp: TangentProjector, v: Params) -> Params:
    """Orthogonal projection of ``v`` onto T_θ, in O((K+N)·d·r) (module docstring).

    Two passes over the d×N block of ``v`` (Uᵀ Y and Y H_Sᵀ) and one write of the result.
    """
    X, Y, z = v
    U, W_S, H_S = tp.U, tp.W_S, tp.H_S
    r = U.shape[1]
    XU = X @ U  # [K, r]
    UtY = U.T @ Y  # [r, N]
    YH = Y @ H_S.T  # [d, r]
    # S⊥-mixing piece: B = M⁻¹(W_Sᵀ X⊥ + H_S Y⊥ᵀ), X⊥ = X − XU Uᵀ, Y⊥ = Y − U UtY.
    B = tp.M_inv @ (W_S.T @ X - (W_S.T @ XU) @ U.T + YH.T - (H_S @ UtY.T) @ U.T)  # [r, d]
    # so(r) piece: adjoint of A ↦ (−W_S A, A H_S) is the antisymmetric part of UtY H_Sᵀ − W_Sᵀ XU.
    Z = UtY @ H_S.T - W_S.T @ XU
    iu, ju = np.triu_indices(r, k=1)
    coef = tp.G_inv @ (Z[iu, ju] - Z[ju, iu])
    A = jnp.zeros((r, r), X.dtype).at[iu, ju].set(coef).at[ju, iu].set(-coef)
    PX = W_S @ B - (W_S @ A) @ U.T
    PY = jnp.concatenate([B.T, U], axis=1) @ jnp.concatenate([H_S, A @ H_S], axis=0)
    Pz = tp.bias_shift * jnp.mean(z) * jnp.ones_like(z)
    return Params(PX, PY, Pz)


def _orthonormal_columns(G: np.ndarray, rtol: float) -> np.ndarray:
    """Orthonormal basis of the column span of G: left singular vectors above rtol·σ_max."""
    if G.shape[1] == 0:
        return np.zeros((G.shape[0], 0))
    Ug, sg, _ = np.linalg.svd(G, full_matrices=False)
    keep = sg > rtol * sg[0] if sg[0] > 0 else np.zeros_like(sg, dtype=bool)
    return Ug[:, keep]


def tangent_basis(tp: TangentProjector, problem: Problem) -> np.ndarray:
    """An explicit orthonormal basis [P, dim T] of the projector's tangent space (small problems).

    The images of the generators that act non-trivially at the (rank-r) point
    (W_S Uᵀ, U H_S): for A = U G Uᵀ, G ∈ so(r), the image (−W_S G Uᵀ, U G H_S); for
    A = u_i u⊥_jᵀ − u⊥_j u_iᵀ, the image (−(W_S e_i) u⊥_jᵀ, −u⊥_j (e_iᵀ H_S)); and (0, 0, 1/√K)
    for the bias shift. They are dim T linearly independent vectors (module docstring),
    orthonormalised by an SVD; cost O(P·dim T²).
    """
    U, W_S, H_S = (np.asarray(a, dtype=np.float64) for a in (tp.U, tp.W_S, tp.H_S))
    d, r = U.shape
    K, N, nb = W_S.shape[0], H_S.shape[1], problem.bias_dim
    cols = []
    if r:
        G = _so_generators(r)  # [m, r, r]
        X = -np.einsum("kr,mrs,ds->mkd", W_S, G, U)
        Y = np.einsum("dr,mrs,sn->mdn", U, G, H_S)
        cols.append(np.concatenate([X.reshape(len(G), K * d), Y.reshape(len(G), d * N),
                                    np.zeros((len(G), nb))], axis=1))
        full, _, _ = np.linalg.svd(U, full_matrices=True)
        Uperp = full[:, r:]  # [d, d − r]
        X = -np.einsum("ki,dj->ijkd", W_S, Uperp).reshape(r * (d - r), K * d)
        Y = -np.einsum("dj,in->ijdn", Uperp, H_S).reshape(r * (d - r), d * N)
        cols.append(np.concatenate([X, Y, np.zeros((r * (d - r), nb))], axis=1))
    if float(tp.bias_shift) > 0:
        cols.append(np.concatenate([np.zeros(K * d + d * N), np.ones(nb)])[None, :])
    if not cols:
        return np.zeros((problem.num_params, 0))
    return _orthonormal_columns(np.concatenate(cols, axis=0).T, 1e-12)


def orbit_tangent(params: Params, problem: Problem, *, rtol: float = 1e-10) -> np.ndarray:
    """An explicit orthonormal basis of T_θ, shape [P, dim T], for small problems.

    Built from the images (−W A, A H, 0) of *all* d(d−1)/2 generators A = e_i e_jᵀ − e_j e_iᵀ of
    so(d) (plus (0, 0, 1) when the bias shift is a symmetry), orthonormalised by an SVD that
    keeps singular values above ``rtol`` × the largest. The column count is the numerical
    dimension of the orbit, computed without S, independently of :func:`tangent_projector` and
    :func:`tangent_basis` (the tests compare them).
    """
    W = np.asarray(params.W, dtype=np.float64)
    H = np.asarray(params.H, dtype=np.float64)
    A = _so_generators(W.shape[1])  # [m, d, d]
    m, nb = len(A), problem.bias_dim
    G = np.concatenate([(-W @ A).reshape(m, W.size), (A @ H).reshape(m, H.size),
                        np.zeros((m, nb))], axis=1)
    if bias_shift_is_symmetry(problem):
        G = np.concatenate([G, np.concatenate([np.zeros(W.size + H.size), np.ones(nb)])[None]])
    return _orthonormal_columns(G.T, rtol)


def zero_mode_count(eigenvalues: np.ndarray, *, rtol: float | None = None) -> int:
    """How many eigenvalues are numerically zero: |λ| ≤ rtol·max|λ|.

    The default ``rtol`` is √eps(float64) ≈ 1.5e-8: at an exact minimiser the symmetry zeros are
    O(eps·‖∇²f‖) while the smallest non-zero eigenvalue is a regularisation eigenvalue, many
    orders larger; at an approximate minimiser the zeros spread to ±O(‖∇f‖) (module docstring)
    and the count needs a larger ``rtol`` (or deflation instead, see :mod:`ufm.spectrum`).
    """
    ev = np.asarray(eigenvalues, dtype=np.float64)
    if ev.size == 0:
        return 0
    rtol = float(np.sqrt(np.finfo(np.float64).eps)) if rtol is None else rtol
    return int(np.sum(np.abs(ev) <= rtol * np.max(np.abs(ev))))
