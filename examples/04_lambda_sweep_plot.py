"""A small sweep over the weight decay λ with a plot: solver against closed-form margin Δ*.

    python examples/04_lambda_sweep_plot.py --out sweep.png
    python examples/04_lambda_sweep_plot.py --tiny --out sweep.png   # 4 λ values (tests)

For CE and LS (α = 0.1), λ_W = λ_H = λ_b = λ on a log grid: each point is solved numerically and
its margin (own logit minus the mean other logit) compared with Δ* of theory.md b.2–b.3.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from ufm import Problem
from ufm.closed_form import closed_form
from ufm.solvers import minimize


def margin(W: np.ndarray, H: np.ndarray, labels: np.ndarray) -> float:
    """Mean over samples of z_y − mean_{k≠y} z_k (= Δ for the ETF logits Δ(e_y − 1/K))."""
    Z = W @ H
    K, N = Z.shape
    own = Z[labels, np.arange(N)]
    return float(np.mean(own - (Z.sum(axis=0) - own) / (K - 1)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="lambda_sweep.png", help="PNG file to write")
    parser.add_argument("--tiny", action="store_true",
                        default=bool(os.environ.get("UFM_EXAMPLES_TINY")))
    args = parser.parse_args(argv)
    lams = np.geomspace(1e-4, 0.2, 4 if args.tiny else 12)
    lines = np.geomspace(1e-4, 0.2, 200)
    K, n, d = 4, 3, 5

    # Imported here: matplotlib is only needed for the plot. A bare Figure on the Agg canvas
    # needs no global backend.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3.4, 2.4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    worst = 0.0
    for loss, alpha, color in (("ce", 0.0, "#0072B2"), ("ls", 0.1, "#D55E00")):
        def make(lam, loss=loss, alpha=alpha):
            return Problem(K, n, d, loss=loss, alpha=alpha, lambda_w=lam, lambda_h=lam,
                           lambda_b=lam)
        ax.plot(lines, [closed_form(make(lam)).margin for lam in lines], color=color,
                label=f"{loss.upper()} closed form")
        solved = []
        for lam in lams:
            problem = make(float(lam))
            res = minimize(problem, seed=0)
            solved.append(margin(res.params.W, res.params.H, problem.labels()))
            ref = closed_form(problem).margin
            worst = max(worst, abs(solved[-1] - ref) / max(ref, 1.0))
            print(f"{loss:3s} λ={lam:9.3e}  Δ solver {solved[-1]:.10f}  Δ* {ref:.10f}  "
                  f"{res.status}")
        ax.plot(lams, solved, "o", color=color, ms=4, label=f"{loss.upper()} solver")
    ax.set_xscale("log")
    ax.set_xlabel(r"$\lambda = \lambda_W = \lambda_H = \lambda_b$")
    ax.set_ylabel(r"margin $\Delta^*$")
    ax.legend(frameon=False, fontsize=7)
    fig.savefig(args.out, dpi=200)
    print(f"wrote {args.out}; largest |Δ − Δ*|/max(Δ*, 1) = {worst:.1e}")
    return 0 if worst < 1e-6 else 1


if __name__ == "__main__":
    raise SystemExit(main())
