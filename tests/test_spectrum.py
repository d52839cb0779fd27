"""Closed-form Hessian spectrum (theory.md c.2) against dense Hessians; matrix-free extremes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
from hypothesis import given
from hypothesis import strategies as st
from reference import C2_WORKED_EXAMPLE

from ufm.closed_form import closed_form, minimiser
from ufm.hessian import dense_hessian
from ufm.losses import per_sample_loss
from ufm.objective import Params, flatten, objective, unflatten
from ufm.spec import Problem
from ufm.spectrum import (
    ClosedFormUnavailable,
    SpectralFamily,
    closed_form_extremes,
    closed_form_spectrum,
    dense_spectrum,
    distinct,
    expand,
    extreme_eigenvalues,
    lanczos_extreme,
    logit_hessian_eigenvalues,
    m4_matrix,
    origin_spectrum,
    standard_block_numerical,
)

EPS = np.finfo(np.float64).eps
REL = 1e-10  # the tolerance for closed form vs dense, per eigenvalue (observed ≤ 1e-13)


def _assert_spectrum_matches(problem, params, families, p=None):
    """Every dense eigenvalue equals its closed-form partner to REL relative, with multiplicities.

    Sorted spectra are compared entry by entry: |λ_i − λ_i^cf| ≤ REL·|λ_i^cf| for the non-zero
    ones; the structural zeros (λ^cf = 0 exactly) have no relative error, so they get an absolute
    bound (64 + P)·eps·λ_max/(1 − p): autodiff forms each Hessian entry from terms up to
    O(λ_max) with a few roundings, the softmax curvature p(1 − p) by a cancellation that costs a
    factor 1/(1 − p) when p → 1 (p = p* at the minimiser, 1/K at the origin; observed ≤ 20
    eps·λ_max at p* ≈ 0.97, 120 at p* = 0.99993), and the backward-stable eigensolver adds
    ≤ P·eps·‖H‖. Multiplicities: the dense spectrum
    has the same cluster sizes as the closed form (neighbours within REL·max|λ| merged).
    """
    ev = dense_spectrum(problem, params)
    cf = expand(families)
    assert cf.size == problem.num_params  # the multiplicities add up to P
    scale = np.max(np.abs(cf))
    if p is None:  # the true-class probability at the point (the minimiser by default)
        model = closed_form(problem)
        p = model.p_true if model.regime == "collapse" else 1.0 / problem.K
    zero_tol = (64 + problem.num_params) * EPS * scale / (1.0 - p)
    tol = np.where(cf == 0.0, zero_tol, REL * np.abs(cf))
    worst = np.max(np.abs(ev - cf) / tol)
    assert worst <= 1.0, f"max |λ − λ_cf|/tol = {worst:.3g}"
    assert _multiplicities(ev, REL * scale) == _multiplicities(cf, REL * scale)


def _multiplicities(sorted_ev, atol):
    """Cluster sizes of a sorted array, neighbours closer than atol merged."""
    breaks = np.flatnonzero(np.diff(sorted_ev) > atol) + 1
    return np.diff(np.concatenate([[0], breaks, [sorted_ev.size]])).tolist()


@given(
    K=st.integers(2, 5),
    extra=st.integers(0, 2),
    n=st.integers(1, 3),
    loss=st.sampled_from(["ce", "ls", "maxsup"]),
    bias_case=st.sampled_from([(True, 0.0), (True, 4e-3), (False, 0.0)]),
    lw=st.floats(1e-4, 3e-2),
    ratio=st.floats(0.2, 5.0),
    alpha=st.floats(0.01, 0.4),
)
def test_closed_form_spectrum_equals_dense_eigenvalues(
    K, extra, n, loss, bias_case, lw, ratio, alpha
):
    bias, lb = bias_case
    problem = Problem(K, n, K - 1 + extra, loss=loss, lambda_w=lw, lambda_h=lw * ratio,
                      lambda_b=lb, bias=bias, alpha=alpha)
    _assert_spectrum_matches(problem, minimiser(problem), closed_form_spectrum(problem))


@pytest.mark.parametrize("gamma", [0.5, 1.0, 3.0])
@pytest.mark.parametrize("bias", [True, False])
def test_focal_spectrum_with_numerical_standard_block(gamma, bias):
    problem = Problem(4, 2, 5, loss="fl", gamma=gamma, lambda_w=4e-3, lambda_h=6e-3,
                      lambda_b=0.0, bias=bias)
    fams = closed_form_spectrum(problem)
    numerical = {f.family for f in fams if f.numerical}
    assert numerical == {f"V, M₄ eigenvalue {i}" for i in range(1, 5 if bias else 4)}
    _assert_spectrum_matches(problem, minimiser(problem), fams)


def test_focal_logit_hessian_eigenvalues_match_autodiff():
    problem = Problem(5, 2, 4, loss="fl", gamma=2.5)
    cf = closed_form(problem)
    K, D = 5, cf.margin
    z = D * (np.eye(K)[0] - 1.0 / K)
    loss = lambda v: per_sample_loss("fl", v[:, None], jnp.array([0]), problem.hyper())[0]
    S = np.asarray(jax.jit(jax.hessian(loss))(jnp.asarray(z)))
    t = np.eye(K)[0] - 1.0 / K
    t /= np.linalg.norm(t)
    o = np.eye(K)[1] - np.eye(K)[2]
    o /= np.linalg.norm(o)
    st_, so_ = logit_hessian_eigenvalues(problem, cf.p_true)
    assert abs(t @ S @ t - st_) <= 1e3 * EPS * abs(st_)
    assert abs(o @ S @ o - so_) <= 1e3 * EPS * abs(so_)


@pytest.mark.parametrize(
    "loss,kw", [("ce", {}), ("ls", {"alpha": 0.2}), ("fl", {"gamma": 2.0}), ("fl", {"gamma": 0.7})]
)
@pytest.mark.parametrize("K", [2, 3, 6])
def test_m4_formula_equals_the_compressed_class_mean_block(loss, kw, K):
    """CE/LS: checks M₄ of theory.md c.2. FL: checks the σ_t/σ_o form of Γ (a finding)."""
    problem = Problem(K, 3, K + 1, loss=loss, lambda_w=3e-3, lambda_h=9e-3, lambda_b=1e-3, **kw)
    a = np.linalg.eigvalsh(m4_matrix(problem))
    b = standard_block_numerical(problem)
    assert a.shape == b.shape == ((2,) if K == 2 else (4,))
    assert np.max(np.abs(a - b)) <= 1e3 * EPS * np.max(np.abs(b))


def test_worked_example_of_theory_c2():
    """K = 4, d = 5, n = 3, λ_W = λ_H = 5e-3, λ_b = 0: the values of theory.md c.2 (10 decimals)."""
    quoted = C2_WORKED_EXAMPLE
    for loss, alpha in (("ce", 0.0), ("ls", 0.1)):
        problem = Problem(4, 3, 5, loss=loss, alpha=alpha, lambda_w=5e-3, lambda_h=5e-3,
                          lambda_b=0.0)
        got = distinct(closed_form_spectrum(problem), rtol=1e-9)
        assert [m for _, m in got] == [m for _, m in quoted[loss]]
        for (v, _), (q, _) in zip(got, quoted[loss], strict=True):
            assert abs(v - q) <= 0.6e-10 + 1e-12  # quoted to 10 decimals


def test_maxsup_spectrum_equals_ls():
    kw = dict(lambda_w=2e-3, lambda_h=3e-3, lambda_b=1e-3, alpha=0.2)
    a = expand(closed_form_spectrum(Problem(5, 2, 6, loss="maxsup", **kw)))
    b = expand(closed_form_spectrum(Problem(5, 2, 6, loss="ls", **kw)))
    assert np.array_equal(a, b)


@pytest.mark.parametrize("loss,kw", [("ce", {}), ("ls", {"alpha": 0.3}), ("fl", {"gamma": 2.0})])
@pytest.mark.parametrize("lam", [0.2, 0.01])
def test_origin_spectrum_and_its_negative_eigenvalue(loss, kw, lam):
    """W = H = 0 is critical; a strict saddle iff Kβ < c (CE: c = 1, LS: c = 1 − α; b.2, b.3)."""
    problem = Problem(4, 3, 5, loss=loss, lambda_w=lam, lambda_h=1.3 * lam, lambda_b=0.05, **kw)
    origin = Params(np.zeros((4, 5)), np.zeros((5, 12)), np.zeros(4))
    fams = origin_spectrum(problem)
    _assert_spectrum_matches(problem, origin, fams, p=1.0 / problem.K)
    saddle = closed_form(problem).regime == "collapse"
    assert (expand(fams)[0] < 0) == saddle
    if not saddle:  # the origin is then the minimiser: closed_form_spectrum returns this spectrum
        assert expand(closed_form_spectrum(problem)).tolist() == expand(fams).tolist()


def _merged_classes_saddle():
    """Classes 0 and 1 forced to coincide (w_0 = w_1, equal features, b_0 = b_1): the best such
    point is a critical point of the full UFM (the swap is a symmetry), polished by Newton in the
    full space to ‖∇f‖ ≤ 1e-14."""
    problem = Problem(3, 2, 3, loss="ce", lambda_w=5e-3, lambda_h=5e-3, lambda_b=5e-3)
    d, n = 3, 2
    hyper, labels = problem.hyper(), jnp.asarray(problem.labels())

    def embed(phi):  # phi = (W_red [2, d], H_red [d, 2n], b_red [2])
        Wr = phi[: 2 * d].reshape(2, d)
        Hr = phi[2 * d : 2 * d + 2 * n * d].reshape(d, 2 * n)
        br = phi[-2:]
        W = jnp.stack([Wr[0], Wr[0], Wr[1]])
        H = jnp.concatenate([Hr[:, :n], Hr[:, :n], Hr[:, n:]], axis=1)
        b = jnp.array([br[0], br[0], br[1]])
        return Params(W, H, b)

    f = jax.jit(jax.value_and_grad(lambda phi: objective(embed(phi), hyper, labels, "ce")))
    phi0 = 0.5 * np.random.default_rng(0).standard_normal(2 * d + 2 * n * d + 2)
    res = scipy.optimize.minimize(lambda x: tuple(map(np.asarray, f(x))), phi0, jac=True,
                                  method="BFGS", options={"gtol": 1e-13, "maxiter": 5000})
    theta = flatten(embed(jnp.asarray(res.x)))
    grad_f = jax.jit(jax.grad(lambda t: objective(unflatten(t, problem), hyper, labels, "ce")))
    for _ in range(3):  # Newton polish in the full space; swap-symmetric steps keep the symmetry
        Hd = dense_hessian(problem, unflatten(theta, problem))
        theta = theta - np.linalg.lstsq(Hd, np.asarray(grad_f(theta)), rcond=1e-10)[0]
    point = Params(*(np.asarray(a) for a in unflatten(theta, problem)))
    assert np.linalg.norm(grad_f(theta)) <= 1e-14
    return problem, point


def test_merged_classes_critical_point_has_a_negative_eigenvalue():
    """The saddle's negative curvature survives deflation: the orbit is null there (∇f = 0), so
    extreme_eigenvalues deflates it and reports the negative λ as λ_min⁺, status
    negative-curvature — dense and Lanczos alike."""
    problem, point = _merged_classes_saddle()
    hyper, labels = problem.hyper(), jnp.asarray(problem.labels())
    ev = np.linalg.eigvalsh(dense_hessian(problem, point))
    assert ev[0] < -1e-3 * ev[-1]  # clearly negative, far above round-off (≈1e-16·λ_max)
    assert float(objective(point, hyper, labels, "ce")) > closed_form(problem).objective
    for method in ("dense", "lanczos"):
        ext = extreme_eigenvalues(problem, point, method=method)
        assert ext.tangent_null is True and ext.status == "negative-curvature", method
        assert abs(ext.lambda_min_nonzero - ev[0]) <= 1e-10 * ev[-1], method
        assert "saddle" in ext.notes["lambda_min_nonzero"]


def test_closed_form_spectrum_raises_where_theory_does_not_apply():
    with pytest.raises(ClosedFormUnavailable, match="imbalanced"):
        closed_form_spectrum(Problem(3, (2, 3, 3), 4))
    with pytest.raises(ClosedFormUnavailable, match="d < K-1"):
        closed_form_spectrum(Problem(5, 2, 3))
    with pytest.raises(ClosedFormUnavailable, match="mse"):
        closed_form_spectrum(Problem(3, 2, 4, loss="mse"))
    with pytest.raises(ClosedFormUnavailable, match="smooth at z = 0"):
        closed_form_spectrum(Problem(3, 2, 4, loss="maxsup", alpha=0.2, lambda_w=0.3, lambda_h=0.3))


# --------------------------------------------------------------------------- matrix-free
def _perturbed(problem, size, seed=1):
    rng = np.random.default_rng(seed)
    return Params(*(a + size * rng.standard_normal(a.shape) for a in minimiser(problem)))


@pytest.mark.parametrize("method", ["lanczos", "eigsh"])
@pytest.mark.parametrize("loss,bias", [("ce", True), ("ls", False)])
def test_matrix_free_extremes_agree_with_dense(method, loss, bias):
    """P ≈ 570 at a minimiser perturbed by 1e-7: the deflated operator is the same for both.

    The perturbation leaves the orbit null only to ≈ 1e-7·λ_max, so zero_rtol = 1e-5 is passed
    (the default √eps would — correctly — refuse to deflate).
    """
    problem = Problem(5, 6, 16, loss=loss, alpha=0.1, lambda_w=2e-3, lambda_h=3e-3, lambda_b=0.0,
                      bias=bias)
    p = _perturbed(problem, 1e-7)
    dense = extreme_eigenvalues(problem, p, method="dense", rank=4, zero_rtol=1e-5)
    mf = extreme_eigenvalues(problem, p, method=method, rank=4, tol=1e-10, zero_rtol=1e-5)
    dim = 4 * 16 - 10 + int(bias)
    assert dense.status == mf.status == "ok"
    assert mf.tangent_dim == dense.tangent_dim == dim
    assert mf.zero_modes == dense.zero_modes == dim  # measured: T null, nothing else null
    assert abs(mf.tangent_residual - dense.tangent_residual) <= 0.2 * dense.tangent_residual
    for key in ("lambda_max", "lambda_min_nonzero"):
        assert abs(getattr(mf, key) - getattr(dense, key)) <= 1e-9 * dense.lambda_max
    # and against the closed form, up to the O(‖perturbation‖) shift of the point
    cf = closed_form_extremes(problem)
    assert abs(dense.lambda_min_nonzero - cf["lambda_min_nonzero"]) <= 1e-4 * cf["lambda_max"]
    if method == "lanczos":  # the default threshold √eps refuses to deflate at this point
        strict = extreme_eigenvalues(problem, p, method=method, rank=4)
        assert strict.status == "orbit-not-null" and strict.lambda_min_nonzero is None


def test_lanczos_agrees_with_dense_at_mid_size():
    """P = 2980 (K = 10, d = 27, n = 10), CE with λ_b = 0, at the closed-form minimiser: both
    extremes, and the measured zero modes, to 1e-10·λ_max (the Lanczos residual tolerance)."""
    problem = Problem(10, 10, 27, loss="ce", lambda_w=1e-3, lambda_h=2e-3, lambda_b=0.0)
    assert problem.num_params == 2980
    p = minimiser(problem)
    dense = extreme_eigenvalues(problem, p, method="dense")
    lz = extreme_eigenvalues(problem, p, method="lanczos")
    expected = 9 * 27 - 45 + 1
    assert dense.zero_modes == lz.zero_modes == lz.tangent_dim == expected
    assert dense.status == lz.status == "ok"
    for key in ("lambda_max", "lambda_min_nonzero"):
        assert abs(getattr(lz, key) - getattr(dense, key)) <= 1e-10 * dense.lambda_max, key
    cf = closed_form_extremes(problem)
    assert abs(dense.lambda_min_nonzero / cf["lambda_min_nonzero"] - 1) <= REL


def test_lanczos_on_an_imbalanced_problem_and_a_float32_point():
    """The two cases that used to raise (a near-degenerate bottom cluster) converge under the
    λ_max-scaled test and agree with the dense deflated operator ∇²f + σ T Tᵀ to 1e-9·λ_max.

    The float32 point (the minimiser rounded to float32) is cast to float64 (its Hessian is exact
    for it); it is stationary only to float32 rounding, so its orbit is null only to
    ε = ‖∇²f·T‖ ≈ 1e-7·λ_max (a float32 *solve* stops at ≈ 7e-5·λ_max, both ≤ √eps32). The
    dense λ_min⁺ (eigenvalues of ∇²f with the dim T least-|λ| removed) then differs from the
    deflated operator's by O(ε²/gap), gap ≈ λ_min⁺ (second-order perturbation of the T⊥ block).
    """
    from ufm.hessian import tangent_basis, tangent_projector
    from ufm.solvers import minimize

    imb = Problem(6, (8, 10, 12, 7, 9, 11), 10, loss="ce", lambda_w=5e-4, lambda_h=5e-4)
    bal = Problem(6, 8, 10, loss="ls", alpha=0.1, lambda_w=5e-4, lambda_h=5e-4)
    p32 = minimiser(bal, dtype=np.float32)
    assert p32.W.dtype == np.float32
    for problem, p, rank in ((imb, minimize(imb, seed=0).params, None), (bal, p32, 5)):
        dense = extreme_eigenvalues(problem, p, method="dense", rank=rank)
        lz = extreme_eigenvalues(problem, p, method="lanczos", rank=rank)
        assert dense.status == lz.status == "ok", (dense.notes, lz.notes)
        assert dense.zero_modes == lz.zero_modes == lz.tangent_dim
        assert abs(lz.lambda_max - dense.lambda_max) <= 1e-9 * dense.lambda_max
        p64 = Params(*(np.asarray(a, np.float64) for a in p))
        T = tangent_basis(tangent_projector(p64, problem, rank=rank, rtol=lz.zero_rtol), problem)
        deflated = np.linalg.eigvalsh(dense_hessian(problem, p64) + lz.sigma * (T @ T.T))[0]
        assert abs(lz.lambda_min_nonzero - deflated) <= 1e-9 * dense.lambda_max
        eps_T = dense.tangent_residual * dense.lambda_max
        assert abs(dense.lambda_min_nonzero - deflated) <= 1e-12 + 4 * eps_T**2 / deflated
    assert lz.zero_rtol == pytest.approx(np.sqrt(np.finfo(np.float32).eps))


def test_non_convergence_is_reported_not_raised():
    """A Lanczos budget too small to converge gives None values and a status, no exception."""
    problem = Problem(5, 6, 16, loss="ce", lambda_w=2e-3, lambda_h=3e-3)
    ext = extreme_eigenvalues(problem, minimiser(problem), method="lanczos", max_iters=3)
    assert ext.status == "not-converged"
    assert ext.lambda_max is None and ext.lambda_min_nonzero is None and ext.zero_modes is None
    assert "did not converge" in ext.notes["lambda_max"]


@pytest.mark.parametrize("method", ["dense", "lanczos"])
def test_zero_mode_measurement_fails_away_from_a_minimiser(method):
    """At a point 1e-3 away from the minimiser the orbit carries curvature ~‖∇f‖: T is measured
    not null, so no zero modes and no λ_min⁺ are reported, only the undeflated λ_min."""
    problem = Problem(5, 6, 16, loss="ce", lambda_w=2e-3, lambda_h=3e-3, lambda_b=0.0)
    p = _perturbed(problem, 1e-3)
    ext = extreme_eigenvalues(problem, p, method=method, rank=4)
    assert ext.status == "orbit-not-null" and ext.tangent_null is False
    assert ext.zero_modes is None and ext.lambda_min_nonzero is None
    assert ext.tangent_residual > ext.zero_rtol
    ev = dense_spectrum(problem, p)
    assert abs(ext.lambda_min - ev[0]) <= 1e-9 * ev[-1]
    if method == "dense":
        assert ext.null_tangent_directions < ext.tangent_dim
        assert "tangent directions are null" in ext.notes["zero_modes"]


def test_deflation_does_not_hide_negative_curvature_at_a_constrained_minimiser():
    """Nonnegative features (b.7), K = 6, d = 8, n = 4, λ_b = 0: the unconstrained Hessian has a
    negative eigenvalue (∇f ≠ 0 on the active bounds). Deflating the O(d) orbit used to report a
    positive λ_min⁺; the measurement now finds the orbit not null and reports the negative λ_min.
    """
    problem = Problem(6, 4, 8, loss="ce", lambda_b=0.0, features="nonnegative")
    p = minimiser(problem)
    ev = dense_spectrum(problem, p)
    assert ev[0] < -1e-3 * ev[-1]
    ext = extreme_eigenvalues(problem, p, method="dense")
    assert ext.status == "orbit-not-null" and ext.lambda_min_nonzero is None
    assert ext.lambda_min == ev[0]


def test_lanczos_full_reorthogonalisation_on_a_known_diagonal_operator():
    rng = np.random.default_rng(0)
    d = rng.uniform(1.0, 2.0, size=(3, 50))
    d[0, 0], d[2, 7] = 0.5, 3.0  # isolated extremes
    D = Params(jnp.asarray(d[0]), jnp.asarray(d[1]), jnp.asarray(d[2]))
    op = lambda v: Params(*(a * b for a, b in zip(D, v, strict=True)))
    v0 = Params(*(jnp.asarray(rng.standard_normal(50)) for _ in range(3)))
    top = lanczos_extreme(op, v0, which="largest", tol=1e-12)
    bottom = lanczos_extreme(op, v0, which="smallest", tol=1e-12, scale=top.value)
    assert top.converged and bottom.converged
    assert abs(top.value - 3.0) <= 1e-11 and abs(bottom.value - 0.5) <= 1e-11
    # a restart every 8 steps still converges (explicit restart from the Ritz vector)
    short = lanczos_extreme(op, v0, which="smallest", tol=1e-12, scale=3.0, restart=8)
    assert short.converged and abs(short.value - 0.5) <= 1e-11
    # stop_above ends a "largest" run as soon as the Ritz value passes the bound
    early = lanczos_extreme(op, v0, which="largest", tol=1e-30, stop_above=2.0, check_every=1)
    assert early.stopped and 2.0 < early.value <= 3.0
    with pytest.raises(ValueError, match="which='middle'"):
        lanczos_extreme(op, v0, which="middle")


def test_extreme_eigenvalues_rejects_an_unknown_method():
    problem = Problem(3, 2, 3)
    with pytest.raises(ValueError, match="method='arpack'"):
        extreme_eigenvalues(problem, minimiser(problem), method="arpack")


def test_distinct_merges_neighbours():
    fams = [SpectralFamily("a", 1.0, 2), SpectralFamily("b", 1.0 + 1e-14, 1),
            SpectralFamily("c", 2.0, 3), SpectralFamily("z", 0.0, 4)]
    assert distinct(fams) == [(0.0, 4), (1.0, 3), (2.0, 3)]
    assert distinct(fams, rtol=0.0) == [(0.0, 4), (1.0, 2), (1.0 + 1e-14, 1), (2.0, 3)]
    assert distinct([]) == []
