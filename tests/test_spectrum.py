"""Closed-form Hessian spectrum (theory.md c.2) against dense Hessians; matrix-free extremes."""

import jax
import jax.numpy as jnp
import numpy as np
from reference import C2_WORKED_EXAMPLE
import pytest
import scipy.optimize
from hypothesis import given
from hypothesis import strategies as st

from ufm.closed_form import closed_form, minimiser
from ufm.hessian import dense_hessian
from ufm.losses import per_sample_loss
from ufm.objective import Params, flatten, objective, unflatten
from ufm.spec import Problem
from ufm.spectrum import (
    ClosedFormUnavailable,
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
REL = 1e-10  # the tolerance for closed form vs dense (observed: ≤ 1e-14)


def _clusters(ev, rtol):
    """(value, count) of sorted eigenvalues, merging neighbours within rtol·max|λ|."""
    return distinct_from_array(np.sort(ev), rtol * np.max(np.abs(ev)))


def distinct_from_array(ev, atol):
    out = []
    for x in ev:
        if out and abs(x - out[-1][0]) <= atol:
            out[-1][1] += 1
        else:
            out.append([x, 1])
    return out


def _assert_spectrum_matches(problem, params, families):
    ev = dense_spectrum(problem, params)
    cf = expand(families)
    assert cf.size == problem.num_params  # the multiplicities add up to P
    scale = np.max(np.abs(ev))
    assert np.max(np.abs(ev - cf)) <= REL * scale
    # multiplicities: the same clusters (distinct values are ≥ 1e-8 apart here, or merged in both)
    got = _clusters(ev, 1e-9)
    want = _clusters(cf, 1e-9)
    assert [c for _, c in got] == [c for _, c in want]


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
        for (v, _), (q, _) in zip(got, quoted[loss]):
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
    _assert_spectrum_matches(problem, origin, fams)
    saddle = closed_form(problem).regime == "collapse"
    assert (expand(fams)[0] < 0) == saddle
    if not saddle:  # the origin is then the minimiser: closed_form_spectrum returns this spectrum
        assert expand(closed_form_spectrum(problem)).tolist() == expand(fams).tolist()


def test_merged_classes_critical_point_has_a_negative_eigenvalue():
    """Classes 0 and 1 forced to coincide (w_0 = w_1, equal features, b_0 = b_1): the best such
    point is a critical point of the full UFM (the swap is a symmetry), and not a minimum."""
    problem = Problem(3, 2, 3, loss="ce", lambda_w=5e-3, lambda_h=5e-3, lambda_b=5e-3)
    K, d, n = 3, 3, 2
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
    point = unflatten(jnp.asarray(theta), problem)
    grad = grad_f(theta)
    assert np.linalg.norm(grad) <= 1e-14
    ev = np.linalg.eigvalsh(dense_hessian(problem, point))
    assert ev[0] < -1e-3 * ev[-1]  # clearly negative, far above round-off (≈1e-16·λ_max)
    assert float(objective(point, hyper, labels, "ce")) > closed_form(problem).objective


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
@pytest.mark.parametrize("method", ["lanczos", "eigsh"])
@pytest.mark.parametrize("loss,bias", [("ce", True), ("ls", False)])
def test_matrix_free_extremes_agree_with_dense(method, loss, bias):
    """Mid-size (P ≈ 570) at a perturbed minimiser: the deflated operator is the same for both."""
    problem = Problem(5, 6, 16, loss=loss, alpha=0.1, lambda_w=2e-3, lambda_h=3e-3, lambda_b=0.0,
                      bias=bias)
    rng = np.random.default_rng(1)
    p = Params(*(a + 1e-7 * rng.standard_normal(a.shape) for a in minimiser(problem)))
    dense = extreme_eigenvalues(problem, p, method="dense", rank=4)
    mf = extreme_eigenvalues(problem, p, method=method, rank=4, tol=1e-10)
    assert mf.zero_modes == 4 * 16 - 10 + int(bias)  # dim of the deflated tangent space
    # (dense.zero_modes counts |λ| ≤ √eps·λ_max, which the 1e-7 perturbation's split zeros exceed)
    for key in ("lambda_max", "lambda_min_nonzero"):
        assert abs(getattr(mf, key) - getattr(dense, key)) <= 1e-9 * dense.lambda_max
    # and against the closed form, up to the O(‖perturbation‖) shift of the point
    cf = closed_form_extremes(problem)
    assert abs(dense.lambda_min_nonzero - cf["lambda_min_nonzero"]) <= 1e-4 * cf["lambda_max"]


def test_lanczos_full_reorthogonalisation_on_a_known_diagonal_operator():
    rng = np.random.default_rng(0)
    d = rng.uniform(1.0, 2.0, size=(3, 50))
    d[0, 0], d[2, 7] = 0.5, 3.0  # isolated extremes
    D = Params(jnp.asarray(d[0]), jnp.asarray(d[1]), jnp.asarray(d[2]))
    op = lambda v: Params(*(a * b for a, b in zip(D, v)))
    v0 = Params(*(jnp.asarray(rng.standard_normal(50)) for _ in range(3)))
    top = lanczos_extreme(op, v0, which="largest", tol=1e-12)
    bottom = lanczos_extreme(op, v0, which="smallest", tol=1e-12)
    assert top.converged and bottom.converged
    assert abs(top.value - 3.0) <= 1e-11 and abs(bottom.value - 0.5) <= 1e-11
    with pytest.raises(ValueError, match="which='middle'"):
        lanczos_extreme(op, v0, which="middle")


def test_extreme_eigenvalues_rejects_an_unknown_method():
    problem = Problem(3, 2, 3)
    with pytest.raises(ValueError, match="method='arpack'"):
        extreme_eigenvalues(problem, minimiser(problem), method="arpack")
