"""Agreement of solver and closed form over random configurations (theory.md b.1–b.6).

Random balanced problems for every loss (CE, LS, MaxSup, FL, MSE): Kβ log-uniform in
[1e-3, 2] (both regimes), λ_H/λ_W log-uniform in [0.1, 10], λ_b = 0 for a quarter of them and
log-uniform in [1e-4, 1e-1] otherwise, α ~ U[0, 0.5] (LS, MaxSup), γ ~ U[0, 5] (FL), MSE target
scale s log-uniform in [0.5, 20]. Each is solved from a random start (vmapped solver, float64)
and its objective compared with the closed-form minimum value f* of
:func:`ufm.closed_form.closed_form`:

    relative error = |f − f*| / f*.

The solver stops at ‖∇f‖ ≤ eps^(2/3)(1 + |f|); near a minimiser the objective error is then
O(‖∇f‖²/μ), so every converged configuration should agree to eps^(2/3) ≈ 3.7e-11
(:class:`ufm.verify.Tolerances`).

MaxSup is not differentiable where the largest logits tie. In its zero regime the minimiser
W = H = 0 sits on such a kink, and with d = K − 1 some random starts end at non-stationary points
with misclassified samples (f above f*, the solver's budget exhausted). Those runs are reported
as they are: kept, drawn hollow and in their own histogram, and counted.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

NAME = "agreement"
TITLE = "Solver vs closed form over random configurations"
KEYS = ("settings", "configs", "tolerance", "versions")
CONFIG_KEYS = ("loss", "shape", "f_closed", "f_solver", "rel_err", "converged", "regime")
LOSSES = ("ce", "ls", "maxsup", "fl", "mse")
REL_ERR_FLOOR = 1e-17  # exact agreement (0) is drawn at this value on the log axis


def settings(quick: bool) -> dict[str, Any]:
    """Shapes and number of random configurations per (loss, shape)."""
    if quick:
        shapes, per = [(4, 3, 5)], 48
    else:
        shapes, per = [(4, 3, 5), (10, 5, 12), (3, 10, 2)], 80
    return {"shapes": shapes, "configs_per_loss_and_shape": per, "bias": True,
            "k_beta_range": [1e-3, 2.0], "lambda_ratio_range": [0.1, 10.0],
            "lambda_b_range": [1e-4, 1e-1], "lambda_b_zero_fraction": 0.25,
            "alpha_range": [0.0, 0.5], "gamma_range": [0.0, 5.0], "target_scale_range": [0.5, 20.0]}


def sample(s: dict[str, Any], seed: int) -> list:
    """The random problems (deterministic in ``seed``)."""
    from ufm.spec import Problem

    rng = np.random.default_rng(seed)
    logu = lambda lo, hi: float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    problems = []
    for K, n, d in s["shapes"]:
        for loss in LOSSES:
            for _ in range(s["configs_per_loss_and_shape"]):
                kbeta = logu(*s["k_beta_range"])
                ratio = logu(*s["lambda_ratio_range"])
                beta = kbeta / K
                lw = beta / math.sqrt(n * ratio)  # n λ_W λ_H = β² with λ_H = ratio·λ_W
                zero_b = rng.uniform() < s["lambda_b_zero_fraction"]
                lb = 0.0 if zero_b else logu(*s["lambda_b_range"])
                problems.append(Problem(
                    K, n, d, loss=loss, lambda_w=lw, lambda_h=lw * ratio, lambda_b=lb,
                    bias=s["bias"],
                    alpha=rng.uniform(*s["alpha_range"]) if loss in ("ls", "maxsup") else 0.0,
                    gamma=rng.uniform(*s["gamma_range"]) if loss == "fl" else 0.0,
                    target_scale=logu(*s["target_scale_range"]) if loss == "mse" else 1.0,
                ))
    return problems


def experiment(quick: bool, seed: int) -> dict[str, Any]:
    """Solve every sampled configuration and compare with its closed form."""
    from ufm.closed_form import closed_form
    from ufm.figures._batch import solve_many
    from ufm.report import versions
    from ufm.verify import Tolerances

    s = settings(quick)
    problems = sample(s, seed)
    cfs = [closed_form(p) for p in problems]
    keep = [i for i, cf in enumerate(cfs) if cf.available]
    sols = solve_many([problems[i] for i in keep], [seed + i for i in keep], label=NAME)
    configs = []
    for i, sol in zip(keep, sols, strict=True):
        p, cf = problems[i], cfs[i]
        configs.append({
            "loss": p.loss, "shape": [p.K, p.n, p.d], "problem": p.to_dict(),
            "f_closed": cf.objective, "f_solver": sol.objective,
            "rel_err": abs(sol.objective - cf.objective) / abs(cf.objective),
            "converged": sol.converged, "status": sol.status, "grad_norm": sol.grad_norm,
            "regime": cf.regime,
        })
    return {"figure": NAME, "title": TITLE, "quick": quick, "seed": seed, "settings": s,
            "configs": configs, "skipped_no_closed_form": len(problems) - len(keep),
            "tolerance": Tolerances.for_dtype("float64").objective_rtol, "versions": versions()}


def plot(data: dict[str, Any], out_dir: str) -> list[str]:
    """Left: f (solver) against f* (closed form), log–log. Right: histogram of relative errors
    (converged runs, and runs that could not certify stationarity, separately; log counts)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from ufm.figures import _style

    cfgs = data["configs"]
    tol = float(data["tolerance"])
    errs = [max(c["rel_err"], REL_ERR_FLOOR) for c in cfgs]
    top = max(1e-7, 3 * max(errs))
    with _style.style():
        fig, axes = _style.figure(_style.COLUMN, 2.05, ncols=2)
        ax, hx = axes[0]
        fmin = min(min(c["f_closed"], c["f_solver"]) for c in cfgs)
        fmax = max(max(c["f_closed"], c["f_solver"]) for c in cfgs)
        lo, hi = fmin / 1.5, fmax * 1.5
        ax.plot([lo, hi], [lo, hi], color=_style.GREY, lw=0.8, zorder=1)
        bins = np.logspace(math.log10(REL_ERR_FLOOR) - 0.5, math.log10(top),
                           max(12, int(2 * (math.log10(top) - math.log10(REL_ERR_FLOOR)))))
        handles, labels = [], []
        for loss in LOSSES:
            mine = [c for c in cfgs if c["loss"] == loss]
            if not mine:
                continue
            st = _style.loss_style(loss, alpha=0.1, gamma=3.0)
            name = {"ls": "LS", "maxsup": "MaxSup", "fl": "FL"}.get(loss, st["label"])
            ok = np.array([c["converged"] for c in mine], dtype=bool)
            fc = np.array([c["f_closed"] for c in mine], dtype=float)
            fs = np.array([c["f_solver"] for c in mine], dtype=float)
            ax.plot(fc[ok], fs[ok], ls="none", marker=st["marker"], ms=2.6, color=st["color"],
                    mew=0, alpha=0.8, zorder=2)
            ax.plot(fc[~ok], fs[~ok], ls="none", marker=st["marker"], ms=2.6, mfc="none",
                    color=st["color"], mew=0.6, zorder=2)
            handles.append(Line2D([], [], ls="none", marker=st["marker"], color=st["color"],
                                  ms=3.5))
            labels.append(f"{name} ({len(mine)})")
        bad = [c for c in cfgs if not c["converged"]]
        good = [c for c in cfgs if c["converged"]]
        for sel, color in ((good, _style.BLACK), (bad, _style.VERMILION)):
            if sel:
                errs_sel = np.maximum([c["rel_err"] for c in sel], REL_ERR_FLOOR)
                hx.hist(errs_sel, bins=bins, color=color, alpha=0.75, edgecolor="white",
                        linewidth=0.3)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        _style.log_ticks(ax, "x", numticks=4)
        _style.log_ticks(ax, "y", numticks=4)
        ax.set_aspect("equal")
        ax.set_xlabel(r"closed form $f^*$")
        ax.set_ylabel(r"solver $f$")
        hx.set_yscale("log")  # so that a handful of outliers is visible next to hundreds
        hx.set_ylim(0.7, 3 * len(cfgs))
        hx.axvline(tol, color=_style.BLACK, ls="--", lw=0.8)
        hx.text(tol, 2 * len(cfgs), r" tol. $\epsilon^{2/3}$", ha="left", va="top", fontsize=6.5)
        hx.set_xscale("log")
        _style.log_ticks(hx, "x", numticks=4)
        hx.set_xlabel(r"$|f - f^*| / f^*$  (0 drawn at $10^{-17}$)")
        hx.set_ylabel("configurations")
        handles.append(Patch(facecolor=_style.BLACK, alpha=0.75))
        labels.append(f"converged ({len(good)})")
        if bad:
            handles.append(Patch(facecolor=_style.VERMILION, alpha=0.75))
            labels.append(f"not stationary ({len(bad)}, hollow)")
        _style.legend_below(fig, handles, labels, ncol=3)
        return _style.save(fig, out_dir, NAME)
