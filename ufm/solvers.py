"""Numerical minimisation of the UFM objective: accelerated gradient, then a Newton-CG polish.

Phase 1 (first order, optax tree utilities): Nesterov's accelerated gradient with a backtracking
estimate of the local Lipschitz constant L and adaptive restart (FISTA with backtracking, Beck &
Teboulle 2009; restarts of O'Donoghue & Candès 2015). The step 1/L is chosen by the solver itself
(sufficient-decrease test f(y − g/L) ≤ f(y) − ‖g‖²/(2L)); L is relaxed by ``shrink`` every
iteration so it follows the curvature down as the iterate leaves the random start. This is the
measured winner at paper scale (perf-notes.md §1: heavy-ball-type methods reach ‖∇f‖ < 1e-6 in
~35 gradients; L-BFGS bookkeeping costs 20–70 gradients per iteration at p = 2.5M on CPU).

Phase 2 (second order): inexact Newton-CG on exact Hessian-vector products (reverse-over-forward,
the fastest mode measured in perf-notes.md §2) with an Armijo line search. CG stops at relative
residual η = min(0.1, sqrt(‖g‖)) (superlinear convergence) or on non-positive curvature. The
Hessian is singular along the O(d) symmetry orbit, but ∇f is exactly orthogonal to that orbit
(f is invariant along it), so CG never needs the null space.

Stopping rule: ‖∇f‖₂ ≤ gtol·(1 + |f|), gtol = eps^(2/3) of the dtype by default (float64:
3.7e-11; float32: 2.4e-5). Past that test the Newton phase keeps stepping while each step still
halves ‖∇f‖, so the polish ends at the round-off floor (typically ‖∇f‖ ~ 1e-15 in float64), not
at the tolerance. For nonnegative features the stationarity measure is the
projected-gradient residual ‖x − P(x − ∇f(x))‖. A run that stops for any other reason carries
a status saying why, and ``converged`` is False.

Everything inside :func:`solve_arrays` is a pure, jit-compiled function of arrays, so sweeps can
``vmap`` it over hyper-parameters and initial points.
"""

from __future__ import annotations

import dataclasses
import enum
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax.tree_utils as otu

from ufm.objective import Params, init_params, objective
from ufm.precision import dtype_of, x64
from ufm.spec import Hyper, Problem


class Status(enum.IntEnum):
    """Why a solve stopped."""

    CONVERGED = 0
    MAX_ITERS = 1
    NONFINITE = 2
    STALLED = 3
    KINK = 4

    @property
    def message(self) -> str:
        return {
            0: "converged: the stationarity measure is below tolerance",
            1: "not converged: iteration budget exhausted",
            2: "not converged: the objective or gradient became non-finite",
            3: "not converged: the line search could not make progress",
            4: ("not converged by the gradient test: MaxSup's point lies on a kink of max z "
                "(tied logits), where ∇f cannot vanish; optimality rests on the duality "
                "certificate (ufm.verify)"),
        }[int(self)]


class SolverConfig(NamedTuple):
    """Static solver settings (hashable; part of the compiled function's identity).

    Attributes:
        max_iters: iteration budget of both phases together.
        gtol: relative stationarity tolerance; None means eps^(2/3) of the dtype.
        polish: run the Newton-CG phase (ignored for nonnegative features).
        newton_iters: iteration budget of the Newton phase.
        cg_iters: CG iterations per Newton step at most.
        switch: first-order phase hands over to Newton at ‖∇f‖ ≤ switch·(1 + |f|).
        shrink: factor applied to L before each line search (< 1 lets the step grow).
        polish_cg_iters: once the tolerance is met (the polish to round-off), CG gets at most
            2k + polish_cg_iters iterations per step, k those of the last step before: there
            ∇f carries round-off along the Hessian's null space, which CG cannot remove, so an
            uncapped CG would run to ``cg_iters``.
        envelope: MaxSup only: minimise the smooth LS envelope first (ℓ_MS ≥ ℓ_LS, equal when
            the argmax is the true class; theory.md b.4) and continue on MaxSup from there.
        envelope_iters: MaxSup iterations after the envelope phase.
    """

    max_iters: int = 20_000
    gtol: float | None = None
    polish: bool = True
    newton_iters: int = 50
    cg_iters: int = 500
    switch: float = 1e-6
    shrink: float = 0.9
    polish_cg_iters: int = 8
    envelope: bool = True
    envelope_iters: int = 200


def default_gtol(dtype: Any) -> float:
    """eps^(2/3): at ‖∇f‖ ≈ gtol the objective error is O(gtol²/μ), far below eps^(2/3)."""
    return float(np.finfo(dtype_of(dtype)).eps) ** (2.0 / 3.0)


class SolveResult(NamedTuple):
    """What a solve returns. ``params`` are numpy arrays (W [K,d], H [d,N], b [K] or [0])."""

    params: Params
    objective: float
    grad_norm: float
    converged: bool
    status: str
    message: str
    iterations: int
    first_order_iterations: int
    newton_iterations: int
    grad_evals: int
    func_evals: int
    hvp_evals: int
    seconds: float
    compile_seconds: float
    dtype: str
    gtol: float
    seed: int | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no arrays)."""
        out = self._asdict()
        out.pop("params")
        return out


# --------------------------------------------------------------------------------------------
# pure, jittable core


def _project(params: Params, nonnegative: bool) -> Params:
    """Projection onto the feasible set: H ≥ 0 for nonnegative features, else identity."""
    if not nonnegative:
        return params
    return params._replace(H=jnp.maximum(params.H, 0.0))


def _stationarity(params: Params, grad: Params, nonnegative: bool) -> jax.Array:
    """‖∇f‖ (free) or the projected-gradient residual ‖x − P(x − ∇f)‖ (H ≥ 0)."""
    if not nonnegative:
        return otu.tree_norm(grad)
    step = _project(otu.tree_sub(params, grad), True)
    return otu.tree_norm(otu.tree_sub(params, step))


class _AGDState(NamedTuple):
    x: Params  # last accepted iterate
    y: Params  # extrapolated point where the gradient is taken
    f_x: jax.Array
    t: jax.Array  # FISTA momentum sequence
    L: jax.Array  # current Lipschitz estimate
    f_y: jax.Array
    g_y: Params
    res_y: jax.Array  # stationarity measure at y
    it: jax.Array
    n_grad: jax.Array
    n_func: jax.Array
    stalled: jax.Array


def _accelerated_gradient(params0, hyper, labels, *, loss, nonnegative, tol_abs_rel, cfg):
    """Phase 1. Returns (best point, f, grad, residual, iterations, #grad, #func, stalled)."""
    dtype = params0.W.dtype
    eps = jnp.finfo(dtype).eps
    f = lambda p: objective(p, hyper, labels, loss)
    vg = jax.value_and_grad(f)

    def target(f_val):
        return tol_abs_rel * (1.0 + jnp.abs(f_val))

    f0, g0 = vg(params0)
    # Initial L from a secant along −g: ‖∇f(x − τg) − ∇f(x)‖ / (τ‖g‖).
    gn0 = otu.tree_norm(g0)
    tau = 1e-3 / jnp.maximum(gn0, jnp.finfo(dtype).tiny)
    _, g_probe = vg(_project(otu.tree_add_scale(params0, -tau, g0), nonnegative))
    L0 = otu.tree_norm(otu.tree_sub(g_probe, g0)) / jnp.maximum(tau * gn0, jnp.finfo(dtype).tiny)
    L0 = jnp.where(jnp.isfinite(L0) & (L0 > 0), L0, 1.0)

    state = _AGDState(
        x=params0, y=params0, f_x=f0, t=jnp.asarray(1.0, dtype), L=L0, f_y=f0, g_y=g0,
        res_y=_stationarity(params0, g0, nonnegative), it=jnp.asarray(0), n_grad=jnp.asarray(2),
        n_func=jnp.asarray(0), stalled=jnp.asarray(False),
    )

    def cond(s: _AGDState):
        finite = jnp.isfinite(s.f_y) & jnp.isfinite(s.res_y)
        return (s.it < cfg.max_iters) & (s.res_y > target(s.f_y)) & finite & ~s.stalled

    def body(s: _AGDState):
        g2 = otu.tree_vdot(s.g_y, s.g_y)
        slack = 16 * eps * (1.0 + jnp.abs(s.f_y))  # round-off allowance in the decrease test

        def trial(L):
            x_new = _project(otu.tree_add_scale(s.y, -1.0 / L, s.g_y), nonnegative)
            # sufficient decrease for the (projected) gradient step: f ≤ f_y + <g,d> + L/2‖d‖²,
            # d = x_new − y; without projection d = −g/L and the bound is f_y − ‖g‖²/(2L)
            if nonnegative:
                d = otu.tree_sub(x_new, s.y)
                model = otu.tree_vdot(s.g_y, d) + 0.5 * L * otu.tree_vdot(d, d)
            else:
                model = -0.5 * g2 / L
            f_new = f(x_new)
            return x_new, f_new, (f_new <= s.f_y + model + slack) & jnp.isfinite(f_new)

        def bt_cond(c):
            _, _, ok, k, _ = c
            return ~ok & (k < 60)

        def bt_body(c):
            L, _, _, k, _ = c
            L = 2.0 * L
            x_new, f_new, ok = trial(L)
            return L, f_new, ok, k + 1, x_new

        # Below round-off the decrease test cannot tell a good step from a bad one (the predicted
        # decrease ‖g‖²/(2L) is under the slack): keep the L last certified instead of relaxing
        # it, and restart momentum by the gradient test only. Otherwise L would drift down
        # unchecked and the iterate would wander at ‖x − x*‖² ~ eps·|f|/μ (seen with H ≥ 0 in the
        # zero regime, where no Newton polish follows).
        resolvable = 0.5 * g2 / (s.L * cfg.shrink) > slack
        L_try = jnp.where(resolvable, s.L * cfg.shrink, s.L)
        x_new, f_new, ok = trial(L_try)
        L, f_new, ok, k, x_new = jax.lax.while_loop(bt_cond, bt_body, (L_try, f_new, ok, 0, x_new))
        stalled = ~ok
        # adaptive restart: objective went up, or momentum points against the gradient
        step = otu.tree_sub(x_new, s.x)
        restart = ((f_new > s.f_x) & resolvable) | (otu.tree_vdot(s.g_y, step) > 0)
        t_new = 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * s.t**2))
        beta = jnp.where(restart, 0.0, (s.t - 1.0) / t_new)
        t_new = jnp.where(restart, 1.0, t_new)
        y_new = otu.tree_add_scale(x_new, beta, step)
        y_new = _project(y_new, nonnegative)
        f_y, g_y = vg(y_new)
        return _AGDState(
            x=x_new, y=y_new, f_x=f_new, t=t_new, L=L, f_y=f_y, g_y=g_y,
            res_y=_stationarity(y_new, g_y, nonnegative), it=s.it + 1, n_grad=s.n_grad + 1,
            n_func=s.n_func + k + 1, stalled=stalled,
        )

    s = jax.lax.while_loop(cond, body, state)
    return s.y, s.f_y, s.g_y, s.res_y, s.it, s.n_grad, s.n_func, s.stalled


class _NewtonState(NamedTuple):
    x: Params
    f: jax.Array
    g: Params
    gnorm: jax.Array
    g_prev: jax.Array  # ‖∇f‖ before the last step (inf before the first)
    it: jax.Array
    n_grad: jax.Array
    n_func: jax.Array
    n_hvp: jax.Array
    stalled: jax.Array
    last_cg: jax.Array  # CG iterations of the last step before the tolerance was met
    step_rel: jax.Array  # ‖x_new − x‖/‖x‖ of the last accepted step (inf before the first)


def _newton_cg(x0, f0, g0, hyper, labels, budget, *, loss, tol_abs_rel, cfg):
    """Phase 2: inexact Newton-CG with exact HVPs and an Armijo backtracking line search."""
    dtype = x0.W.dtype
    eps = jnp.finfo(dtype).eps
    f = lambda p: objective(p, hyper, labels, loss)
    vg = jax.value_and_grad(f)

    def hvp(x, v):
        # reverse-over-forward: ∇_x <∇f(x), v> computed as grad of a JVP
        return jax.grad(lambda p: jax.jvp(f, (p,), (v,))[1])(x)

    def cg(x, g, eta, max_k):
        """Approximately solve ∇²f p = −g in at most ``max_k`` iterations; returns (p, #hvp)."""
        zeros = otu.tree_zeros_like(g)
        r0 = otu.tree_scale(-1.0, g)
        rr0 = otu.tree_vdot(r0, r0)
        stop = (eta**2) * rr0

        def c_cond(c):
            _, _, _, rr, k, done = c
            return (rr > stop) & (k < max_k) & ~done

        def c_body(c):
            p, r, d, rr, k, _ = c
            Hd = hvp(x, d)
            dHd = otu.tree_vdot(d, Hd)
            neg = dHd <= 0  # non-positive curvature: keep the current p (or −g at k = 0)
            a = rr / jnp.where(neg, 1.0, dHd)
            p_new = otu.tree_add_scale(p, a, d)
            r_new = otu.tree_add_scale(r, -a, Hd)
            rr_new = otu.tree_vdot(r_new, r_new)
            d_new = otu.tree_add_scale(r_new, rr_new / rr, d)
            keep = lambda old, new: jax.tree.map(lambda o, n: jnp.where(neg, o, n), old, new)
            p_out = keep(p, p_new)
            p_out = jax.tree.map(lambda po, gi: jnp.where(neg & (k == 0), -gi, po), p_out, g)
            return p_out, keep(r, r_new), keep(d, d_new), jnp.where(neg, rr, rr_new), k + 1, neg

        p, _, _, _, k, _ = jax.lax.while_loop(c_cond, c_body, (zeros, r0, r0, rr0, 0, False))
        return p, k

    g0_norm = otu.tree_norm(g0)
    state = _NewtonState(x0, f0, g0, g0_norm, jnp.full_like(g0_norm, jnp.inf), jnp.asarray(0),
                         jnp.asarray(0), jnp.asarray(0), jnp.asarray(0), jnp.asarray(False),
                         jnp.asarray(cfg.polish_cg_iters), jnp.full_like(g0_norm, jnp.inf))

    def cond(s: _NewtonState):
        within = (s.it < cfg.newton_iters) & (s.it < budget)
        # Polish to round-off: past the stopping tolerance, keep stepping while Newton still
        # at least halves ‖∇f‖ (quadratic convergence has not yet hit the round-off floor).
        # Stopping at the tolerance itself would leave the point ‖∇f‖/μ from the minimiser,
        # which is too far when μ is small (λ ~ 1e-8).
        # A last step of relative size ≤ sqrt(eps) means Newton has converged to round-off in x
        # (the next step would be ~ its square): polishing further buys nothing.
        moving = s.step_rel > jnp.sqrt(eps)
        polishing = (s.gnorm > tol_abs_rel * (1.0 + jnp.abs(s.f))) | (
            (s.gnorm < 0.5 * s.g_prev) & moving)
        return within & polishing & (
            ~s.stalled & jnp.isfinite(s.f) & jnp.isfinite(s.gnorm)
        )

    def body(s: _NewtonState):
        eta = jnp.minimum(0.1, jnp.sqrt(s.gnorm))
        met = s.gnorm <= tol_abs_rel * (1.0 + jnp.abs(s.f))
        # past the tolerance CG gets a budget scaled by what the problem needed before (2k + the
        # floor): enough for a real step at any conditioning, bounded where round-off along the
        # null space would keep an uncapped CG running to cg_iters
        polish_k = jnp.minimum(2 * s.last_cg + cfg.polish_cg_iters, cfg.cg_iters)
        p, n_hvp = cg(s.x, s.g, eta, jnp.where(met, polish_k, cfg.cg_iters))
        slope = otu.tree_vdot(s.g, p)
        slack = 16 * eps * (1.0 + jnp.abs(s.f))

        def ls_cond(c):
            a, f_new, _, k = c
            ok = (f_new <= s.f + 1e-4 * a * slope + slack) & jnp.isfinite(f_new)
            return ~ok & (k < 40)

        def ls_body(c):
            a, _, _, k = c
            a = 0.5 * a
            x_new = otu.tree_add_scale(s.x, a, p)
            return a, f(x_new), x_new, k + 1

        x1 = otu.tree_add_scale(s.x, 1.0, p)
        a, f_new, x_new, k = jax.lax.while_loop(ls_cond, ls_body, (jnp.asarray(1.0, dtype), f(x1), x1, 0))
        ok = (f_new <= s.f + 1e-4 * a * slope + slack) & jnp.isfinite(f_new)
        f_acc, g_acc = vg(x_new)
        g_norm = otu.tree_norm(g_acc)
        # no progress in either f or ‖g‖: stop rather than loop
        progress = ok & ((f_acc < s.f) | (g_norm < s.gnorm))
        x_out = jax.tree.map(lambda o, n: jnp.where(progress, n, o), s.x, x_new)
        g_out = jax.tree.map(lambda o, n: jnp.where(progress, n, o), s.g, g_acc)
        return _NewtonState(
            x_out, jnp.where(progress, f_acc, s.f), g_out, jnp.where(progress, g_norm, s.gnorm),
            s.gnorm, s.it + 1, s.n_grad + 1, s.n_func + k + 1, s.n_hvp + n_hvp, ~progress,
            jnp.where(met, s.last_cg, n_hvp),
            jnp.where(progress, otu.tree_norm(otu.tree_sub(x_new, s.x))
                      / jnp.maximum(otu.tree_norm(s.x), jnp.finfo(dtype).tiny), 0.0),
        )

    s = jax.lax.while_loop(cond, body, state)
    return s.x, s.f, s.g, s.gnorm, s.it, s.n_grad, s.n_func, s.n_hvp, s.stalled


class ArraysResult(NamedTuple):
    """Output of :func:`solve_arrays` (arrays; batched under vmap)."""

    params: Params
    objective: jax.Array
    grad_norm: jax.Array
    status: jax.Array  # int, a Status value
    first_order_iterations: jax.Array
    newton_iterations: jax.Array
    grad_evals: jax.Array
    func_evals: jax.Array
    hvp_evals: jax.Array


def _phases(params0: Params, hyper: Hyper, labels: jax.Array, gtol: jax.Array, *, loss: str,
             nonnegative: bool, cfg: SolverConfig, budget: int) -> ArraysResult:
    """Phase 1 then (optionally) phase 2 on ``loss`` within ``budget`` iterations."""
    cfg = cfg._replace(max_iters=budget)
    polish = cfg.polish and not nonnegative
    switch = jnp.maximum(gtol, cfg.switch) if polish else gtol
    x, f, g, res, it1, ng1, nf1, stalled1 = _accelerated_gradient(
        params0, hyper, labels, loss=loss, nonnegative=nonnegative, tol_abs_rel=switch, cfg=cfg)
    it2 = nh = jnp.asarray(0)
    ng2 = nf2 = jnp.asarray(0)
    stalled = stalled1
    if polish:
        # the budget bounds both phases together
        x, f, g, res, it2, ng2, nf2, nh, stalled2 = _newton_cg(
            x, f, g, hyper, labels, budget - it1, loss=loss, tol_abs_rel=gtol, cfg=cfg)
        stalled = stalled2
    finite = jnp.isfinite(f) & jnp.isfinite(res)
    converged = finite & (res <= gtol * (1.0 + jnp.abs(f)))
    status = jnp.where(
        converged, Status.CONVERGED,
        jnp.where(~finite, Status.NONFINITE, jnp.where(stalled, Status.STALLED, Status.MAX_ITERS)),
    )
    return ArraysResult(x, f, res, status, it1, it2, ng1 + ng2, nf1 + nf2, nh)


def _maxsup_via_envelope(params0, hyper, labels, gtol, *, nonnegative, cfg) -> ArraysResult:
    """MaxSup: minimise the LS envelope, then MaxSup from its minimiser (theory.md b.4).

    ℓ_MS(z, y) = ℓ_LS(z, y) + α(max z − z_y) ≥ ℓ_LS(z, y), with equality when the true class
    attains the max. MaxSup is not differentiable where logits tie, and in the zero regime its
    minimiser W = H = 0 is such a tie: a gradient method stalls near it and ‖∇f‖ never vanishes.
    The LS envelope is smooth, so phase 1–2 on it converge; MaxSup then continues from that point
    (in the collapse regime it is smooth there and converges at once). The point with the lower
    MaxSup value is returned. When its MaxSup stationarity still fails but the run is finite, the
    status is ``KINK``: ufm.verify then asks the duality certificate (the LS bound, valid for
    MaxSup) to prove optimality, which does not rely on the theorem that produced the start.
    """
    env = _phases(params0, hyper, labels, gtol, loss="ls", nonnegative=nonnegative, cfg=cfg,
                  budget=cfg.max_iters)
    ms = _phases(env.params, hyper, labels, gtol, loss="maxsup", nonnegative=nonnegative,
                 cfg=cfg, budget=min(cfg.envelope_iters, cfg.max_iters))
    f_ms = lambda p: objective(p, hyper, labels, "maxsup")
    f_env_ms = f_ms(env.params)
    take_ms = (ms.status == Status.CONVERGED) | (ms.objective <= f_env_ms)
    x = jax.tree.map(lambda a, b: jnp.where(take_ms, a, b), ms.params, env.params)
    f = jnp.where(take_ms, ms.objective, f_env_ms)
    g = jax.grad(f_ms)(x)
    res = _stationarity(x, g, nonnegative)
    finite = jnp.isfinite(f) & jnp.isfinite(res)
    converged = finite & (res <= gtol * (1.0 + jnp.abs(f)))
    status = jnp.where(converged, Status.CONVERGED, jnp.where(
        ~finite, Status.NONFINITE, jnp.where(env.status == Status.CONVERGED, Status.KINK,
                                             env.status)))
    return ArraysResult(
        x, f, res, status, env.first_order_iterations + ms.first_order_iterations,
        env.newton_iterations + ms.newton_iterations, env.grad_evals + ms.grad_evals + 2,
        env.func_evals + ms.func_evals + 1, env.hvp_evals + ms.hvp_evals)


def solve_arrays(params0: Params, hyper: Hyper, labels: jax.Array, gtol: jax.Array, *, loss: str,
                 nonnegative: bool = False, cfg: SolverConfig = SolverConfig()) -> ArraysResult:
    """The pure solver: phase 1 then (optionally) phase 2. Jit with ``loss, nonnegative, cfg`` static.

    MaxSup (with ``cfg.envelope``) goes through its smooth LS envelope first
    (:func:`_maxsup_via_envelope`).

    Args:
        params0: starting point.
        hyper: hyper-parameters (dynamic).
        labels: [N] integer labels.
        gtol: relative stationarity tolerance (converged when measure ≤ gtol·(1 + |f|)).
        loss: loss name. nonnegative: project H onto H ≥ 0. cfg: :class:`SolverConfig`.
    """
    if loss == "maxsup" and cfg.envelope:
        return _maxsup_via_envelope(params0, hyper, labels, gtol, nonnegative=nonnegative, cfg=cfg)
    return _phases(params0, hyper, labels, gtol, loss=loss, nonnegative=nonnegative, cfg=cfg,
                   budget=cfg.max_iters)


_solve_jit = jax.jit(solve_arrays, static_argnames=("loss", "nonnegative", "cfg"))


# --------------------------------------------------------------------------------------------
# public entry point


@dataclasses.dataclass(frozen=True)
class _Timer:
    start: float = dataclasses.field(default_factory=time.perf_counter)

    def __call__(self) -> float:
        return time.perf_counter() - self.start


_COMPILED: dict[tuple, Any] = {}


def _compiled_solver(params0, hyper, labels, tol, problem: Problem, cfg: SolverConfig):
    """The compiled solver for these shapes and static settings, and the seconds spent compiling
    it now (0.0 when it came from the in-process cache)."""
    nonnegative = problem.features == "nonnegative"
    key = (tuple(a.shape for a in params0), str(params0.W.dtype), labels.shape, problem.loss,
           nonnegative, cfg)
    if key in _COMPILED:
        return _COMPILED[key], 0.0
    timer = _Timer()
    compiled = _solve_jit.lower(
        params0, hyper, labels, tol, loss=problem.loss, nonnegative=nonnegative, cfg=cfg
    ).compile()
    _COMPILED[key] = compiled
    return compiled, timer()


def minimize(problem: Problem, *, seed: int = 0, dtype: str = "float64", max_iters: int = 20_000,
             gtol: float | None = None, polish: bool = True, init: Params | None = None,
             labels: np.ndarray | None = None, envelope: bool = True) -> SolveResult:
    """Minimise the UFM objective of ``problem`` from a seeded random start.

    Float64 is enabled for the duration of the call when ``dtype="float64"`` (the default), and
    JAX's global setting is restored afterwards.

    Args:
        problem: the :class:`~ufm.spec.Problem`.
        seed: PRNG seed of the random start (``jax.random.key(seed)``).
        dtype: ``"float64"`` or ``"float32"``.
        max_iters: iteration budget (first-order plus Newton iterations).
        gtol: relative stationarity tolerance; default eps^(2/3) of ``dtype``.
        polish: run the Newton-CG phase after the first-order one.
        init: an explicit starting point instead of the seeded random one.
        labels: [N] labels overriding ``problem.labels()`` (e.g. noisy labels).
        envelope: MaxSup only: start from the LS envelope's minimiser (:func:`solve_arrays`);
            False solves MaxSup alone from the random start. MaxSup may then use up to
            ``SolverConfig.envelope_iters`` iterations beyond ``max_iters``.

    Returns:
        A :class:`SolveResult`; check ``converged`` (a non-converged result says why in
        ``status``/``message``).
    """
    np_dtype = dtype_of(dtype)
    if not (isinstance(max_iters, int) and max_iters >= 1):
        raise ValueError(f"max_iters={max_iters!r}: expected an integer >= 1")
    tol = default_gtol(np_dtype) if gtol is None else float(gtol)
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"gtol={gtol!r}: expected a finite number > 0")
    cfg = SolverConfig(max_iters=max_iters, polish=polish, envelope=envelope)
    with x64(np_dtype == np.float64):
        if init is None:
            params0 = init_params(problem, jax.random.key(seed), dtype=np_dtype)
        else:
            params0 = Params(*(jnp.asarray(a, dtype=np_dtype) for a in init))
        hyper = Hyper(*(jnp.asarray(h, dtype=np_dtype) for h in problem.hyper(np_dtype)))
        if labels is not None:
            given = np.asarray(labels)
            if (given.shape != (problem.N,) or not np.issubdtype(given.dtype, np.integer)
                    or given.min() < 0 or given.max() >= problem.K):
                # JAX indexing would clamp an out-of-range label silently: refuse it here
                raise ValueError(f"labels of shape {given.shape} and dtype {given.dtype}: expected "
                                 f"({problem.N},) integers in [0, {problem.K - 1}]")
        labels = jnp.asarray(problem.labels() if labels is None else labels, dtype=jnp.int32)
        tol_arr = jnp.asarray(tol, dtype=np_dtype)
        compiled, compile_seconds = _compiled_solver(params0, hyper, labels, tol_arr, problem, cfg)
        timer = _Timer()
        out = compiled(params0, hyper, labels, tol_arr)
        jax.block_until_ready(out)
        seconds = timer()
        params = Params(*(np.asarray(a) for a in out.params))
    status = Status(int(out.status))
    it1, it2 = int(out.first_order_iterations), int(out.newton_iterations)
    return SolveResult(
        params=params, objective=float(out.objective), grad_norm=float(out.grad_norm),
        converged=status == Status.CONVERGED, status=status.name.lower().replace("_", "-"),
        message=status.message, iterations=it1 + it2, first_order_iterations=it1,
        newton_iterations=it2, grad_evals=int(out.grad_evals), func_evals=int(out.func_evals),
        hvp_evals=int(out.hvp_evals), seconds=seconds, compile_seconds=compile_seconds,
        dtype=np.dtype(np_dtype).name, gtol=tol, seed=None if init is not None else seed,
    )
