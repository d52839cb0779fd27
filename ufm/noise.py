"""Label noise: flipping labels, memorization and dilation, and a limited-expressivity model.

Source: Memorization-Dilation (Nguyen, Levie, Lienen, Kutyniok, Hüllermeier, ICLR 2023;
theory.md e). Their exact M-D model (constraint set, constants, theorem) is **[NOT FOUND]** in the
sources at hand; the models below are this library's, stated exactly.

**Label noise** (:func:`flip_labels`): exactly m = round(η·N) samples (Python ``round``: half to
even) are chosen uniformly without replacement, and each gets a label drawn uniformly from the
other K − 1 classes. Everything comes from ``numpy.random.default_rng(seed)``: a random
permutation of the samples (the first m are flipped) and one offset in {1, …, K−1} per sample, so
for a fixed seed the flipped sets are nested in η and a sample flipped at two noise levels gets
the same wrong label.

**Metrics** (theory.md e, authors' code; :mod:`ufm.metrics`): ``dilation`` = mean over classes of
the std over clean samples of ‖h − clean centroid‖; ``memorization`` = mean over (noisy label k,
true class j) of the projection of (mean corrupted feature − μ_k) on the unit direction μ_j − μ_k
(0: corrupted samples sit at the centre of their noisy label, i.e. fully memorized; ‖μ_j − μ_k‖:
at the centre of their true class). ``relative_dilation`` divides dilation by the mean distance
between clean centroids and ``relative_memorization`` divides memorization by the mean distance
between label means, so CE and LS (whose feature norms differ) can be compared.

**Model 1: the plain UFM on noisy labels** (what ``python -m ufm.solve --label-noise`` solves).
The objective is (UFM) of theory.md a.1 with the noisy labels. Every feature is free, so given
(W, b) each h_i minimises the strictly convex ℓ(W h + b, ỹ_i) + (Nλ_H/2)‖h‖²: all samples with
the same *noisy* label share one feature. Hence memorization is perfect (``memorization`` = 0)
and the clean clusters do not dilate (``dilation`` = 0), up to the solver's accuracy: the plain
UFM cannot show the memorization-dilation trade-off.

**Model 2: limited expressivity** (:func:`solve_limited`; used by :func:`dilation_curve`). The
network cannot move a sample's feature independently of its *true* class: for each true class j
there is a centre c_j ∈ R^d and a dilation radius r_j ≥ 0, and

    clean sample i (true class j):  h_i = c_j + r_j·u_i,  u_i ~ N(0, I_d/d) fixed (seeded),
    noisy sample i (true class j):  h_i = c_j + r_j·v_i,  ‖v_i‖ ≤ 1 free   (E‖u_i‖² = 1).

The fixed u_i stand for the input variability that a limited network maps into the feature space
scaled by the same radius; a noisy sample can be pulled toward the class of its (wrong) label
only as far as its true-class cluster is dilated (the ball of radius r_j around c_j, theory.md e
"each noisy feature restricted to a ball around its true-class center with radius tied to the
clean dilation"). The objective is (UFM) with the noisy labels, evaluated at this H, and is
minimised over (W, b, c, r, v). Dilation therefore costs loss on the clean samples and feature
norm, and buys loss on the noisy ones. In this model r_j* > 0 for every η > 0 and both losses
(the gain is first order in r, the cost second order); the paper's statement that LS has zero
dilation for small noise is not reproduced by it. Measured (the label-noise figure: K = 4,
n = 25, d = 4, λ = 5e-3, LS α = 0.1, 5 noise draws): the relative dilation (``relative_dilation``,
dilation over the distance between clean centroids) grows with η for both losses, from 0.065 (CE)
and 0.053 (LS) at η = 0.05 to 0.21 for both at η = 0.4; CE's is above LS's in every draw for
η ≤ 0.3, by 0.012–0.015, and the gap closes by η ≈ 0.35. The raw dilation is 15–37% higher for CE.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax.tree_utils as otu

from ufm.metrics import dilation as dilation_metric
from ufm.metrics import memorization as memorization_metric
from ufm.objective import Params, init_params, objective
from ufm.precision import x64
from ufm.solvers import minimize
from ufm.spec import Hyper, Problem, ProblemError


# ----------------------------------------------------------------------------- label flipping
def _check_label_array(name: str, y: np.ndarray, N: int, K: int) -> None:
    ok = y.shape == (N,) and np.issubdtype(y.dtype, np.integer)
    if not ok or (y.size and (y.min() < 0 or y.max() >= K)):
        raise ValueError(
            f"{name} shape={y.shape} dtype={y.dtype}: "
            f"expected integers in [0, {K - 1}] of shape ({N},)"
        )


def check_eta(eta: Any) -> float:
    """η as a float in [0, 1), else a :class:`~ufm.spec.ProblemError` naming ``label_noise``."""
    ok = isinstance(eta, (int, float, np.integer, np.floating)) and not isinstance(eta, bool)
    if not ok or not (math.isfinite(float(eta)) and 0.0 <= float(eta) < 1.0):
        raise ProblemError("label_noise", eta, "a noise level in [0, 1) (--label-noise)")
    return float(eta)


def flip_labels(labels: Any, K: int, eta: float, seed: int) -> np.ndarray:
    """Uniform label noise: round(η·N) samples get a label drawn uniformly from the other classes.

    See the module docstring for the exact procedure (nested in η for a fixed seed).

    Args:
        labels: clean integer labels [N] in [0, K).
        K: number of classes ≥ 2.
        eta: noise level η ∈ [0, 1).
        seed: seed of ``numpy.random.default_rng``.

    Returns:
        The noisy labels, int32 [N]; exactly round(η·N) entries differ from ``labels``.

    Raises:
        ProblemError: bad η or seed, or flips that leave a class without samples.
    """
    eta = check_eta(eta)
    if not (isinstance(K, (int, np.integer)) and K >= 2):
        raise ValueError(f"K={K!r}: expected an integer >= 2")
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"labels shape={y.shape}: expected a 1-D integer array")
    _check_label_array("labels", y, y.size, K)
    if not (isinstance(seed, (int, np.integer)) and seed >= 0):
        raise ProblemError("noise_seed", seed, "an integer >= 0 (--noise-seed)")
    N = y.size
    rng = np.random.default_rng(int(seed))
    order = rng.permutation(N)
    offset = rng.integers(1, K, size=N)  # one draw per sample, whatever η
    m = round(eta * N)
    noisy = y.astype(np.int32).copy()
    idx = order[:m]
    noisy[idx] = (y[idx] + offset[idx]) % K
    empty = np.setdiff1d(np.arange(K), noisy)
    if empty.size:  # class means, NC metrics and dilation need every class present
        raise ProblemError("label_noise", eta, f"a noise level that leaves every class a sample "
                           f"(class {int(empty[0])} has none with noise seed {seed})")
    return noisy


# ----------------------------------------------------------------------------- metrics
def _mean_pair_distance(M: np.ndarray) -> float:
    """Mean of ‖m_k − m_j‖ over pairs k < j of the columns of M [d, K]."""
    K = M.shape[1]
    iu = np.triu_indices(K, 1)
    return float(np.linalg.norm(M[:, :, None] - M[:, None, :], axis=0)[iu].mean())


def noise_report(problem: Problem, params: Params, true_labels: Any,
                 noisy_labels: Any) -> dict[str, Any]:
    """Memorization and dilation of a solution trained on ``noisy_labels`` (theory.md e).

    Args:
        problem: the problem (K, N).
        params: the solution (only H [d, N] is used).
        true_labels: clean labels [N]. noisy_labels: the labels the objective used [N]; every class
            must occur in them.

    Returns:
        dict with ``eta`` (flipped / N), ``flipped`` (count), ``dilation``, ``memorization`` (NaN
        without corrupted samples), ``relative_dilation``, ``relative_memorization`` (module
        docstring).
    """
    H = np.asarray(params.H, dtype=np.float64)
    K, N = problem.K, problem.N
    t = np.asarray(true_labels)
    y = np.asarray(noisy_labels)
    if t.shape != (N,) or y.shape != (N,):
        raise ValueError(f"labels shapes {t.shape}, {y.shape}: expected ({N},)")
    clean = y == t
    dil = dilation_metric(H, y, clean, K)
    mem = memorization_metric(H, y, t, K) if not clean.all() else math.nan
    present = np.unique(y[clean])
    cent = np.stack([H[:, clean & (y == k)].mean(axis=1) for k in present], axis=1)
    lab_means = np.stack([H[:, y == k].mean(axis=1) for k in range(K)], axis=1)
    sep_c = _mean_pair_distance(cent) if present.size >= 2 else math.nan
    sep_m = _mean_pair_distance(lab_means)
    flipped = int(np.sum(~clean))
    return {
        "eta": flipped / N,
        "flipped": flipped,
        "dilation": dil,
        "memorization": mem,
        "relative_dilation": dil / sep_c if sep_c > 0 else math.nan,
        "relative_memorization": mem / sep_m if sep_m > 0 else math.nan,
    }


# ----------------------------------------------------------------- model 2: limited expressivity
class LimitedParams(NamedTuple):
    """Unknowns of the limited-expressivity model: W [K,d], b [K] or [0], centres C [d,K],
    radii r [K], offsets G [d,N] (only the noisy columns are used), with ‖g_i‖ ≤ r_{t_i}.

    Model 2's noisy feature c_j + r_j·v_i (‖v_i‖ ≤ 1) is written c_j + g_i with ‖g_i‖ ≤ r_j: the
    same set of features, but a convex constraint set, so the bilinear saddle of (r, v) at
    r = 0 is gone."""

    W: jax.Array
    b: jax.Array
    C: jax.Array
    r: jax.Array
    G: jax.Array


def limited_features(theta: LimitedParams, u: jax.Array, true_labels: jax.Array,
                     noisy_mask: jax.Array) -> jax.Array:
    """H [d, N]: h_i = c_{t_i} + r_{t_i}·u_i (clean) or c_{t_i} + g_i (noisy) (model 2)."""
    offset = jnp.where(noisy_mask[None, :], theta.G, theta.r[true_labels][None, :] * u)
    return theta.C[:, true_labels] + offset


def _project_cones(r: jax.Array, G: jax.Array, members: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Euclidean projection onto {(r, G): ‖g_i‖ ≤ r_j for every noisy i of true class j}.

    For class j with noisy offsets of norms a_i the projection is s_j = max(0, max_k s_k),
    s_k = (r_j + Σ_{i≤k} a_(i))/(1 + k) over the k largest norms (the root of the piecewise-linear
    optimality condition s − r_j − Σ_i (a_i − s)_+ = 0, which is the largest s_k), and then
    g_i ← g_i·min(1, s_j/‖g_i‖). Classes without noisy samples only get r_j ← max(r_j, 0).

    Args:
        r: [K]. G: [d, N]. members: boolean [K, N], True where sample i is noisy with true class j.
    """
    a = jnp.linalg.norm(G, axis=0)  # [N]
    A = jnp.where(members, a[None, :], 0.0)
    A_sorted = -jnp.sort(-A, axis=1)  # descending; non-members (0) last
    m = members.sum(axis=1)  # [K]
    k = jnp.arange(1, A.shape[1] + 1)
    s_k = (r[:, None] + jnp.cumsum(A_sorted, axis=1)) / (1.0 + k[None, :])
    s_k = jnp.where(k[None, :] <= m[:, None], s_k, -jnp.inf)
    s = jnp.maximum(0.0, jnp.maximum(r, s_k.max(axis=1)))  # k = 0 term is r itself
    cap = (members * s[:, None]).sum(axis=0)  # s_{t_i} for noisy i, 0 for clean (unused)
    scale = jnp.where(a > cap, cap / jnp.where(a > 0, a, 1.0), 1.0)
    any_member = members.any(axis=0)
    G = jnp.where(any_member[None, :], G * scale[None, :], G)
    return s, G


def _limited_solve(theta0, u, true_labels, noisy_labels, noisy_mask, hyper, tol, *, loss,
                   max_iters):
    """Projected accelerated gradient (FISTA, backtracking, adaptive restart) for model 2.

    Stationarity measure: ‖θ − P(θ − ∇f)‖ (P: :func:`_project_cones`).
    """
    dtype = theta0.W.dtype
    eps = jnp.finfo(dtype).eps
    K = theta0.r.shape[0]
    members = (true_labels[None, :] == jnp.arange(K)[:, None]) & noisy_mask[None, :]

    def _project(theta):
        r, G = _project_cones(theta.r, theta.G, members)
        return theta._replace(r=r, G=G)

    def f(theta):
        H = limited_features(theta, u, true_labels, noisy_mask)
        return objective(Params(theta.W, H, theta.b), hyper, noisy_labels, loss)

    vg = jax.value_and_grad(f)

    def residual(x, g):
        return otu.tree_norm(otu.tree_sub(x, _project(otu.tree_sub(x, g))))

    f0, g0 = vg(theta0)
    init = (theta0, theta0, f0, jnp.asarray(1.0, dtype), jnp.asarray(1.0, dtype), f0, g0,
            residual(theta0, g0), 0, False)

    def cond(s):
        _, _, _, _, _, fy, _, res, it, stalled = s
        return (it < max_iters) & (res > tol * (1.0 + jnp.abs(fy))) & ~stalled & jnp.isfinite(fy)

    def body(s):
        x, y, fx, t, L, fy, gy, _, it, _ = s
        slack = 16 * eps * (1.0 + jnp.abs(fy))

        def trial(L):
            xn = _project(otu.tree_add_scale(y, -1.0 / L, gy))
            dx = otu.tree_sub(xn, y)
            fn = f(xn)
            bound = fy + otu.tree_vdot(gy, dx) + 0.5 * L * otu.tree_vdot(dx, dx) + slack
            ok = (fn <= bound) & jnp.isfinite(fn)
            return xn, fn, ok

        L0 = 0.9 * L
        xn, fn, ok = trial(L0)

        def bt_cond(c):
            return ~c[2] & (c[3] < 60)

        def bt_body(c):
            L, _, _, k, _ = c
            xn, fn, ok = trial(2.0 * L)
            return 2.0 * L, fn, ok, k + 1, xn

        L, fn, ok, _, xn = jax.lax.while_loop(bt_cond, bt_body, (L0, fn, ok, 0, xn))
        step = otu.tree_sub(xn, x)
        restart = (fn > fx) | (otu.tree_vdot(gy, step) > 0)
        tn = 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * t * t))
        beta = jnp.where(restart, 0.0, (t - 1.0) / tn)
        tn = jnp.where(restart, 1.0, tn)
        yn = _project(otu.tree_add_scale(xn, beta, step))
        fyn, gyn = vg(yn)
        return (xn, yn, fn, tn, L, fyn, gyn, residual(yn, gyn), it + 1, ~ok)

    x, y, fx, t, L, fy, gy, res, it, stalled = jax.lax.while_loop(cond, body, init)
    return y, fy, res, it, stalled


_limited_jit = jax.jit(_limited_solve, static_argnames=("loss", "max_iters"))


def solve_limited(problem: Problem, true_labels: Any, noisy_labels: Any, *, seed: int = 0,
                  input_seed: int | None = None, restarts: int = 4, max_iters: int = 200_000,
                  gtol: float = 1e-9) -> dict[str, Any]:
    """Minimise model 2 (limited expressivity, module docstring) in float64, best of ``restarts``.

    The model is non-convex with spurious local minima (different arrangements of the classes
    relative to the noise flows), so it is solved from the starts ``seed, seed+1, …`` and the
    lowest objective is kept.

    Args:
        problem: K, counts (N), d, loss (ce, ls, maxsup, mse), λ's, bias (free features only).
        true_labels: clean labels [N]; noisy_labels: the labels of the loss [N].
        seed: seed of the first random start (W, C ~ N(0, 1/d), b = 0, r = 0.1, g = 0).
        input_seed: seed of the fixed inputs u_i ~ N(0, I/d) (default: ``seed``; the same for
            every start).
        restarts: number of starts (≥ 1).
        max_iters: iteration budget per start. gtol: relative stationarity tolerance (the model is
            solved by a first-order method, so the default is 1e-9, not eps^(2/3)).

    Returns:
        dict with ``params`` (Params W, H, b as numpy), ``radii`` r [K], ``objective``,
        ``residual`` (projected-gradient norm), ``converged``, ``iterations``, ``objectives`` (the
        value reached from every start).
    """
    if problem.loss == "fl" or problem.features != "free":
        raise ValueError(f"loss={problem.loss!r}, features={problem.features!r}: expected ce, ls, "
                         "maxsup or mse with free features for the limited-expressivity model")
    if not (isinstance(restarts, int) and restarts >= 1):
        raise ValueError(f"restarts={restarts!r}: expected an integer >= 1")
    K, d, N = problem.K, problem.d, problem.N
    t = np.asarray(true_labels)
    y = np.asarray(noisy_labels)
    _check_label_array("true_labels", t, N, K)
    _check_label_array("noisy_labels", y, N, K)
    rng = np.random.default_rng(seed if input_seed is None else input_seed)
    u = rng.normal(scale=1.0 / math.sqrt(d), size=(d, N))
    best, values = None, []
    with x64():
        hyper = Hyper(*(jnp.asarray(h, jnp.float64) for h in problem.hyper(np.float64)))
        noisy = jnp.asarray(y != t)
        t_j, y_j = jnp.asarray(t.astype(np.int32)), jnp.asarray(y.astype(np.int32))
        u_j = jnp.asarray(u)
        for start in range(seed, seed + restarts):
            p0 = init_params(problem, jax.random.key(start), dtype=jnp.float64)
            kC = jax.random.fold_in(jax.random.key(start), 1)
            C0 = jax.random.normal(kC, (d, K), dtype=jnp.float64) / math.sqrt(d)
            theta0 = LimitedParams(p0.W, p0.b, C0, jnp.full((K,), 0.1), jnp.zeros((d, N)))
            th, f, res, it, _ = _limited_jit(theta0, u_j, t_j, y_j, noisy, hyper, jnp.asarray(gtol),
                                             loss=problem.loss, max_iters=int(max_iters))
            f, res = float(f), float(res)
            values.append(f)
            if best is None or f < best[1]:
                best = (th, f, res, int(it))
        th, f, res, it = best
        H = limited_features(th, u_j, t_j, noisy)
        params = Params(np.asarray(th.W), np.asarray(H), np.asarray(th.b))
    return {
        "params": params,
        "radii": np.asarray(th.r),
        "objective": f,
        "residual": res,
        "converged": bool(np.isfinite(f) and res <= gtol * (1 + abs(f))),
        "iterations": it,
        "objectives": values,
    }


def dilation_curve(K: int = 4, n: int = 25, dim: int = 4, etas: Any = (0.0, 0.05, 0.1, 0.2, 0.3),
                   losses: tuple[str, ...] = ("ce", "ls"),
                   lambdas: tuple[float, float, float] = (5e-3, 5e-3, 5e-3), alpha: float = 0.1,
                   seed: int = 0, noise_seed: int = 0, model: str = "limited",
                   restarts: int = 4) -> dict[str, Any]:
    """Dilation and memorization against the noise level η, per loss (theory.md e).

    Args:
        K, n, dim: classes, samples per class (balanced clean labels), feature dimension.
        etas: noise levels η ∈ [0, 1) (labels from :func:`flip_labels` with ``noise_seed``; the
            flipped sets are nested).
        losses: loss names (``ls``/``maxsup`` use ``alpha``).
        lambdas: (λ_W, λ_H, λ_b), bias on.
        seed: seed of the starts and of the fixed inputs u_i (the same for every η and loss).
        restarts: starts per solve of model 2 (:func:`solve_limited`).
        model: ``"limited"`` (model 2) or ``"plain"`` (model 1, the plain UFM: dilation ≈ 0).

    Returns:
        dict with ``eta`` (the realised flipped fractions), and per metric a dict loss → list:
        ``dilation``, ``relative_dilation``, ``memorization``, ``relative_memorization``,
        ``radius`` (model 2: mean r_j; NaN for ``plain``), ``converged``; plus ``settings``.
    """
    if model not in ("limited", "plain"):
        raise ValueError(f"model={model!r}: expected 'limited' or 'plain'")
    lw, lh, lb = (float(v) for v in lambdas)
    keys = ("dilation", "relative_dilation", "memorization", "relative_memorization", "radius",
            "converged")
    out: dict[str, Any] = {"eta": [], **{k: {loss: [] for loss in losses} for k in keys}}
    base = Problem(K, n, dim, loss="ce", lambda_w=lw, lambda_h=lh, lambda_b=lb)
    true = base.labels()
    for eta in etas:
        noisy = flip_labels(true, K, eta, noise_seed)
        out["eta"].append(float(np.mean(noisy != true)))
        for loss in losses:
            problem = base.replace(loss=loss, alpha=alpha if loss in ("ls", "maxsup") else 0.0)
            if model == "limited":
                sol = solve_limited(problem, true, noisy, seed=seed, restarts=restarts)
                params, radius, conv = sol["params"], float(np.mean(sol["radii"])), sol["converged"]
            else:
                res = minimize(problem, seed=seed, labels=noisy)  # model 1: plain UFM, noisy labels
                params, radius, conv = res.params, math.nan, res.converged
            rep = noise_report(problem, params, true, noisy)
            for k in ("dilation", "relative_dilation", "memorization", "relative_memorization"):
                out[k][loss].append(rep[k])
            out["radius"][loss].append(radius)
            out["converged"][loss].append(conv)
    out["settings"] = {"K": K, "n": n, "dim": dim, "lambdas": [lw, lh, lb], "alpha": alpha,
                       "seed": seed, "noise_seed": noise_seed, "model": model,
                       "losses": list(losses), "restarts": restarts}
    return out
