"""Solve one UFM instance numerically and verify it against the closed-form global minimiser.

    python examples/01_solve_and_verify.py            # K = 10 classes, n = 50, d = 64
    python examples/01_solve_and_verify.py --tiny     # K = 4, n = 3, d = 5 (what the tests run)

What it shows: the API path Problem → minimize → closed_form → verify (theory.md b.3, LS).
"""

from __future__ import annotations

import argparse
import os

from ufm import Problem
from ufm.closed_form import closed_form
from ufm.solvers import minimize
from ufm.verify import verify


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true",
                        default=bool(os.environ.get("UFM_EXAMPLES_TINY")),
                        help="small sizes (also: environment variable UFM_EXAMPLES_TINY=1)")
    args = parser.parse_args(argv)
    K, n, d = (4, 3, 5) if args.tiny else (10, 50, 64)

    # 1. The problem: label smoothing α = 0.1, weight decay 5e-4 on W, H and the bias.
    problem = Problem(classes=K, per_class=n, dim=d, loss="ls", alpha=0.1,
                      lambda_w=5e-4, lambda_h=5e-4, lambda_b=5e-4)

    # 2. What the theory predicts (theory.md b.3): LS is CE with β replaced by β + α/K.
    cf = closed_form(problem)
    print(f"closed form [{cf.reason}]: regime {cf.regime}, margin Δ* = {cf.margin:.10f}, "
          f"f* = {cf.objective:.15f}")

    # 3. Solve from a random start (float64, accelerated gradient then Newton-CG).
    result = minimize(problem, seed=0)
    print(f"solver: {result.status} after {result.iterations} iterations, "
          f"f = {result.objective:.15f}, "
          f"‖∇f‖ = {result.grad_norm:.1e}")

    # 4. Compare, rotation-invariantly (W Wᵀ, Hᵀ H, logits), with dtype-derived tolerances.
    report = verify(problem, result)
    cmp, tol = report["comparison"], report["tolerances"]
    print(f"|f − f*|/f* = {cmp['objective_rel_err']:.1e} (tolerance {tol['objective_rtol']:.1e});  "
          f"WWᵀ rel. error = {cmp['gram_w_rel_err']:.1e} (tolerance {tol['gram_rtol']:.1e})")
    print("NC metrics: " + ", ".join(f"{k} = {v:.1e}" for k, v in report["nc"].items()))
    print(f"verdict: {report['verdict']}")
    return 0 if report["verdict"] == "verified" else 1


if __name__ == "__main__":
    raise SystemExit(main())
