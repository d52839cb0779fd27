"""The Hessian spectrum and the four condition numbers of one problem, CE against LS.

    python examples/03_hessian_and_kappas.py          # K = 10, n = 5, d = 10 (theory.md c.3)
    python examples/03_hessian_and_kappas.py --tiny   # K = 4, n = 3, d = 5 (theory.md c.2 example)

Prints the closed-form eigenvalue families (theory.md c.2) next to the dense autodiff spectrum at
the numerical minimiser, and κ_full, κ_logit, κ_scale, κ_features (theory.md c.3), numerical and
closed form.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from ufm import Problem, x64
from ufm.conditioning import KAPPAS, hessian_report
from ufm.solvers import minimize
from ufm.spectrum import closed_form_spectrum, dense_spectrum, distinct


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true",
                        default=bool(os.environ.get("UFM_EXAMPLES_TINY")))
    args = parser.parse_args(argv)
    K, n, d = (4, 3, 5) if args.tiny else (10, 5, 10)
    worst = 0.0
    for loss, alpha in (("ce", 0.0), ("ls", 0.1)):
        problem = Problem(K, n, d, loss=loss, alpha=alpha, lambda_w=5e-3, lambda_h=5e-3,
                          lambda_b=0.0)
        result = minimize(problem, seed=0)
        with x64():  # the Hessian is computed in float64 (JAX's setting is restored afterwards)
            dense = dense_spectrum(problem, result.params)
            rep = hessian_report(problem, result.params, method="dense")
        name = loss.upper() + (f" α={alpha}" if alpha else "")
        print(f"\n{name}: P = {problem.num_params} parameters, solver {result.status}")
        print("  closed-form eigenvalue × multiplicity (theory.md c.2) | "
              "dense count within 1e-9·λ_max")
        lam_max = dense[-1]
        for value, mult in distinct(closed_form_spectrum(problem)):
            found = int(np.sum(np.abs(dense - value) <= 1e-9 * lam_max))
            print(f"  {value:14.10f} × {mult:3d} | {found:3d}")
        print(f"  zero modes: {rep['zero_modes']} (theory: {rep['zero_modes_expected']}), "
              f"max |λ − λ_cf|/λ_max = {rep['spectrum_rel_err']:.1e}")
        for k in KAPPAS:
            num, cf = rep[k], rep["closed_form"][k]
            print(f"  {k:15s} numerical {num:12.6f}   closed form {cf:12.6f}")
            worst = max(worst, abs(num - cf) / abs(cf))
    print(f"\nlargest relative difference numerical vs closed-form κ: {worst:.1e}")
    return 0 if worst < 1e-6 else 1


if __name__ == "__main__":
    raise SystemExit(main())
