"""Hessian extremes at the paper scale (K=10, d=512, n=500, p = 2,565,120), against the closed form.

Measures (float64, after compilation; HVP timings are medians, ``_common.median_seconds``):

1. one HVP: reverse-over-forward (grad of jvp) and forward-over-reverse (jvp of grad) on the
   ``Params`` pytree, the flat-vector matvec scipy sees (host-side split/concatenate), the orbit
   tangent projector, and the deflated operator ∇²f + σP_T;
2. ``ufm.spectrum.extreme_eigenvalues`` with the JAX Lanczos (full reorthogonalisation) and with
   scipy ``eigsh`` (ARPACK): λ_max, the zero-mode measurement (‖∇²f·P_T‖/λ_max by Lanczos on
   P_T∇²f²P_T), and λ_min⁺ on the deflated operator — matvecs, seconds, relative error against
   theory.md c.2 — at the closed-form minimiser, at a numerical one (``ufm.solvers.minimize``,
   default tolerance) and at a loose one (gtol 1e-6, no polish).

The loose point is measured honestly: its orbit is null only to ≈ 1e-5·λ_max (its symmetry zeros
split to ±O(‖∇f‖)), so the library's default zero threshold (√eps = 1.5e-8) refuses to deflate
there and reports no λ_min⁺ (status ``orbit-not-null``). The benchmark records that verdict
(``default_status``, from the measured tangent residual) and then measures the deflated λ_min⁺
with an explicit ``zero_rtol = 1e-4``; its error against the closed form measures the point's
distance from the minimiser, not the eigensolver.

Target (issue 3): both extremes in ≤ 20 s on 2 cores with relative error ≤ 1e-8.

Usage::

    python benchmarks/hessian_paper_scale.py            # writes results/hessian_paper_scale.json
    python benchmarks/hessian_paper_scale.py --quick    # K=10, d=64, n=50 smoke test, no file
"""

from __future__ import annotations

import argparse
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
from _common import median_seconds, write_result

from ufm.closed_form import minimiser
from ufm.hessian import (
    _hvp_forward_over_reverse,
    hessian_vector_product,
    make_flat_hvp,
    project_tangent,
    tangent_projector,
)
from ufm.objective import Params, flatten, unflatten
from ufm.precision import x64
from ufm.spec import Problem
from ufm.spectrum import closed_form_extremes, extreme_eigenvalues, hessian_operators

LOOSE_ZERO_RTOL = 1e-4


def hvp_timings(problem: Problem, params: Params) -> dict[str, float]:
    """Median milliseconds of one application of each operator."""
    hyper, labels = problem.hyper(), jnp.asarray(problem.labels())
    point = Params(*(jnp.asarray(a) for a in params))
    x = np.random.default_rng(0).standard_normal(problem.num_params)
    v = Params(*(jnp.asarray(a) for a in unflatten(x, problem)))
    tp = tangent_projector(params, problem, rank=problem.K - 1)
    ops = hessian_operators(problem, params, tp)
    flat = make_flat_hvp(problem, params)
    block = jax.block_until_ready
    args = (point, v, hyper, labels, problem.loss)

    def ms(fn) -> float:
        return 1e3 * median_seconds(fn, repeats=5, min_batch_seconds=0.1)

    return {
        "hvp_reverse_over_forward_ms": ms(lambda: block(hessian_vector_product(*args))),
        "hvp_forward_over_reverse_ms": ms(lambda: block(_hvp_forward_over_reverse(*args))),
        "hvp_flat_vector_ms": ms(lambda: flat(x)),
        "tangent_projector_ms": ms(lambda: block(project_tangent(tp, v))),
        "deflated_operator_ms": ms(lambda: block(ops.deflated(v, 1e-3))),
        "flat_deflated_ms": ms(lambda: np.asarray(flatten(ops.deflated(unflatten(x, problem),
                                                                       1e-3)))),
    }


def _rel(value: float | None, ref: float) -> float | None:
    """|value/ref − 1|, or None without a value."""
    return None if value is None else abs(value / ref - 1)


def extremes(problem: Problem, params: Params, method: str, cf: dict, label: str,
             zero_rtol: float | None = None) -> dict:
    """One ``extreme_eigenvalues`` run, with errors against the closed form."""
    t0 = time.perf_counter()
    ex = extreme_eigenvalues(problem, params, method=method, rank=problem.K - 1, tol=1e-10,
                             zero_rtol=zero_rtol)
    wall = time.perf_counter() - t0
    default_tol = math.sqrt(np.finfo(np.float64).eps)
    rec = {
        "point": label, "method": method, "status": ex.status, "zero_rtol": ex.zero_rtol,
        "lambda_max": ex.lambda_max, "lambda_min_nonzero": ex.lambda_min_nonzero,
        "rel_err_max": _rel(ex.lambda_max, cf["lambda_max"]),
        "rel_err_min": _rel(ex.lambda_min_nonzero, cf["lambda_min_nonzero"]),
        "tangent_residual": ex.tangent_residual, "zero_modes": ex.zero_modes,
        "tangent_dim": ex.tangent_dim,
        "default_status": ("ok" if ex.tangent_residual is not None
                           and ex.tangent_residual <= default_tol else "orbit-not-null"),
        "matvecs_max": ex.matvecs_max, "matvecs_min": ex.matvecs_min,
        "matvecs_check": ex.matvecs_check,
        "seconds_max": ex.seconds_max, "seconds_min": ex.seconds_min,
        "seconds_check": ex.seconds_check,
        "seconds_total": ex.seconds_max + ex.seconds_min + ex.seconds_check,
        "seconds_wall_incl_setup_and_compile": wall, "notes": ex.notes,
    }
    fmt = lambda x: "n/a" if x is None else f"{x:.1e}"
    print(f"  {label:<10} {method:<8} {ex.status:<15} λ_max {ex.lambda_max:.10e} "
          f"({ex.matvecs_max:3d} mv, rel {fmt(rec['rel_err_max'])})  λ_min⁺ "
          f"{'n/a' if ex.lambda_min_nonzero is None else f'{ex.lambda_min_nonzero:.10e}'} "
          f"({ex.matvecs_min:3d} mv, rel {fmt(rec['rel_err_min'])})  check {ex.matvecs_check} mv, "
          f"residual {fmt(ex.tangent_residual)}  {rec['seconds_total']:5.2f} s "
          f"(wall {wall:.1f} s)", flush=True)
    return rec


def main(argv=None) -> int:
    """Run the benchmark; write ``results/hessian_paper_scale.json`` unless ``--quick``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="K=10, d=64, n=50 (a smoke test; writes no result file)")
    ap.add_argument("--skip-eigsh", action="store_true", help="only the JAX Lanczos")
    args = ap.parse_args(argv)
    K, d, n = (10, 64, 50) if args.quick else (10, 512, 500)
    out = {"problem": {"K": K, "d": d, "n": n, "lambda": 5e-4, "bias": False},
           "loose_zero_rtol": LOOSE_ZERO_RTOL, "cases": []}
    from ufm.solvers import minimize

    with x64():
        for loss, alpha in (("ce", 0.0), ("ls", 0.1)):
            problem = Problem(K, n, d, loss=loss, alpha=alpha, lambda_w=5e-4, lambda_h=5e-4,
                              bias=False)
            cf = closed_form_extremes(problem)
            print(f"{loss.upper()}  p = {problem.num_params:,}  "
                  f"closed form: λ_max {cf['lambda_max']:.10e}, "
                  f"λ_min⁺ {cf['lambda_min_nonzero']:.10e}, zeros {cf['zero_modes']}", flush=True)
            exact = minimiser(problem)
            case = {"loss": loss, "alpha": alpha, "num_params": problem.num_params,
                    "closed_form": cf, "hvp": hvp_timings(problem, exact)}
            print("  " + ", ".join(f"{k} {v:.1f}" for k, v in case["hvp"].items()), flush=True)
            sol = minimize(problem, seed=0)
            loose = minimize(problem, seed=1, gtol=1e-6, polish=False)
            for key, res in (("numerical_minimiser", sol), ("loose_minimiser", loose)):
                case[key] = {"grad_norm": res.grad_norm, "converged": res.converged,
                             "seconds": res.seconds}
            print(f"  numerical minimiser ‖∇f‖ = {sol.grad_norm:.1e}; "
                  f"loose one ‖∇f‖ = {loose.grad_norm:.1e}", flush=True)
            runs = []
            for label, point in (("exact", exact), ("numerical", sol.params)):
                for method in ("lanczos",) + (() if args.skip_eigsh else ("eigsh",)):
                    runs.append(extremes(problem, point, method, cf, label))
            # ARPACK needs minutes at the loose point (perf-notes §4b): Lanczos only
            runs.append(extremes(problem, loose.params, "lanczos", cf, "loose", LOOSE_ZERO_RTOL))
            case["extremes"] = runs
            out["cases"].append(case)
    if not args.quick:
        print("wrote", write_result("hessian_paper_scale", out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
