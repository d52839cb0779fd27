"""Agreement of solver and closed form over random configurations (theory.md b.1–b.6).

Random balanced problems for every loss (CE, LS, MaxSup, FL, MSE): Kβ log-uniform in
[1e-3, 2] (both regimes), λ_H/λ_W log-uniform in [0.1, 10], λ_b = 0 for a quarter of them and
log-uniform in [1e-4, 1e-1] otherwise, α ~ U[0, 0.5] (LS, MaxSup), γ ~ U[0, 5] (FL), MSE target
scale s log-uniform in [0.5, 20]. Each is solved from a random start (vmapped solver, float64)
and its objective compared with the closed-form minimum value f* of
:func:`ufm.closed_form.closed_form`:

    relative error = |f − f*| / f*.

The solver stops at ‖∇f‖ ≤ eps^(2/3)(1 + |f|); near a minimiser the objective error is then
O(‖∇f‖²/μ), so every run whose optimality is established should agree to the verdict tolerance
eps^(2/3)·|f*| (≈ 3.7e-11 relative) plus the float64 round-off of evaluating f
(:func:`ufm.verify.tolerances`).

Shapes: quick (4, 3, 5) for every loss and (4, 3, 3) (d = K − 1) for MaxSup, the loss whose
kinks make d = K − 1 hard (one more compiled solver: the quick mode's budget); full (4, 3, 5),
(10, 5, 12) and (3, 10, 2) (d = K − 1) for every loss.

Each run gets the verdict of :func:`ufm.verify.verify` (:mod:`ufm.figures._verdict`):

* ``verified``: optimality is established (the gradient test, or for MaxSup, whose zero-regime
  minimiser sits on a kink of max z, a closed duality gap, theory.md h) and f, the Grams and the
  logits agree with the closed form within the dtype tolerances of :mod:`ufm.verify`;
* ``not-converged``: optimality is not established (the iteration budget ran out, or the
  stationarity reached cannot resolve the minimiser). No accuracy is claimed for these runs: they
  are drawn hollow, counted in the legend and in ``summary``, and never counted as agreement.
  MaxSup with d = K − 1 in the collapse regime is where this can happen: a random start can
  end at a non-stationary point on the kinks of max z with misclassified samples (f above f*);
* ``mismatch``: optimal but different from the closed form (would refute it; the test fails).

No run is exempted by its loss: the test requires every run whose optimality is established to
agree within the verdict tolerance. ``summary`` holds the counts per (loss, shape) and verdict and
the worst relative errors, verified and not converged.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

NAME = "agreement"
TITLE = "Solver vs closed form over random configurations"
CONFIG_KEYS = ("loss", "shape", "f_closed", "f_solver", "rel_err", "verdict")
SCHEMA = {"settings": None, "configs": [dict.fromkeys(CONFIG_KEYS)], "tolerance": None,
          "summary": None, "versions": None}
KEYS = tuple(SCHEMA)
LOSSES = ("ce", "ls", "maxsup", "fl", "mse")
OPTIMAL = ("verified", "certified")  # optimality established (and agreement, with a closed form)
REL_ERR_FLOOR = 1e-17  # exact agreement (0) is drawn at this value on the log axis


def settings(quick: bool) -> dict[str, Any]:
    """Groups of (shape, losses, configurations per loss) and the sampling ranges."""
    if quick:
        groups = [{"shape": [4, 3, 5], "losses": list(LOSSES), "configs_per_loss": 40},
                  {"shape": [4, 3, 3], "losses": ["maxsup"], "configs_per_loss": 48}]
    else:
        groups = [{"shape": list(sh), "losses": list(LOSSES), "configs_per_loss": 80}
                  for sh in ((4, 3, 5), (10, 5, 12), (3, 10, 2))]
    return {"groups": groups, "bias": True,
            "k_beta_range": [1e-3, 2.0], "lambda_ratio_range": [0.1, 10.0],
            "lambda_b_range": [1e-4, 1e-1], "lambda_b_zero_fraction": 0.25,
            "alpha_range": [0.0, 0.5], "gamma_range": [0.0, 5.0], "target_scale_range": [0.5, 20.0]}


def sample(s: dict[str, Any], seed: int) -> list:
    """The random problems (deterministic in ``seed``)."""
    from ufm.spec import Problem

    rng = np.random.default_rng(seed)
    logu = lambda lo, hi: float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    problems = []
    for group in s["groups"]:
        K, n, d = group["shape"]
        for loss in group["losses"]:
            for _ in range(group["configs_per_loss"]):
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


def summarise(configs: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts per (loss, shape) and verdict, and the worst relative errors (pure; the test
    recomputes it from the configurations)."""
    def worst(sel):
        return max((c["rel_err"] for c in sel), default=None)

    groups = []
    keys = sorted({(c["loss"], tuple(c["shape"])) for c in configs},
                  key=lambda k: (LOSSES.index(k[0]), k[1]))
    for loss, shape in keys:
        mine = [c for c in configs if c["loss"] == loss and tuple(c["shape"]) == shape]
        ok = [c for c in mine if c["verdict"] in OPTIMAL]
        bad = [c for c in mine if c["verdict"] == "not-converged"]
        groups.append({"loss": loss, "shape": list(shape), "configs": len(mine),
                       "verified": len(ok), "not_converged": len(bad),
                       "mismatch": sum(c["verdict"] == "mismatch" for c in mine),
                       "not_converged_collapse": sum(c["regime"] == "collapse" for c in bad),
                       "worst_rel_err_verified": worst(ok),
                       "worst_rel_err_not_converged": worst(bad)})
    verdicts: dict[str, int] = {}
    for c in configs:
        verdicts[c["verdict"]] = verdicts.get(c["verdict"], 0) + 1
    ok = [c for c in configs if c["verdict"] in OPTIMAL]
    bad = [c for c in configs if c["verdict"] == "not-converged"]
    return {"configs": len(configs), "verdicts": dict(sorted(verdicts.items())),
            "verified": len(ok), "not_converged": len(bad),
            "worst_rel_err_verified": worst(ok), "worst_rel_err_not_converged": worst(bad),
            "groups": groups}


def experiment(quick: bool, seed: int) -> dict[str, Any]:
    """Solve every sampled configuration, verify it and compare with its closed form."""
    from ufm.closed_form import closed_form
    from ufm.figures import LANES
    from ufm.figures._batch import solve_many
    from ufm.figures._progress import track
    from ufm.figures._verdict import verdict_of
    from ufm.report import versions
    from ufm.verify import Tolerances

    s = settings(quick)
    problems = sample(s, seed)
    cfs = [closed_form(p) for p in problems]
    keep = [i for i, cf in enumerate(cfs) if cf.available]
    sols = solve_many([problems[i] for i in keep], [seed + i for i in keep], label=NAME,
                      chunk=LANES)
    configs = []
    for i, sol in track(list(zip(keep, sols, strict=True)), NAME + " verify"):
        p, cf = problems[i], cfs[i]
        v = verdict_of(sol)
        configs.append({
            "loss": p.loss, "shape": [p.K, p.n, p.d], "problem": p.to_dict(),
            "f_closed": cf.objective, "f_solver": sol.objective,
            "rel_err": abs(sol.objective - cf.objective) / abs(cf.objective),
            "regime": cf.regime, "verdict": v["verdict"],
            "optimality_basis": v["optimality_basis"], "objective_tol": v["objective_tol"],
            "gram_w_rel_err": v["gram_w_rel_err"], "logits_rel_err": v["logits_rel_err"],
            "certificate_gap": v["certificate_gap"], "status": sol.status,
            "iterations": sol.iterations, "grad_norm": sol.grad_norm,
        })
    return {"figure": NAME, "title": TITLE, "quick": quick, "seed": seed, "settings": s,
            "configs": configs, "summary": summarise(configs),
            "skipped_no_closed_form": len(problems) - len(keep),
            "tolerance": Tolerances.for_dtype("float64").objective_rtol, "versions": versions()}


def _loss_name(loss: str) -> str:
    return {"ce": "CE", "ls": "LS", "maxsup": "MaxSup", "fl": "FL", "mse": "MSE"}[loss]


def plot(data: dict[str, Any], out_dir: str) -> list[str]:
    """Left: relative error |f − f*|/f* against f* per loss (verified filled, not converged
    hollow). Right: histogram of the relative errors on the same axis (log counts)."""
    from matplotlib.lines import Line2D

    from ufm.figures import _style

    cfgs = data["configs"]
    summ = data["summary"]
    tol = float(data["tolerance"])
    errs = np.maximum([c["rel_err"] for c in cfgs], REL_ERR_FLOOR)
    top = 10.0 ** math.ceil(math.log10(max(1e-6, 3 * float(errs.max()))))
    ok_all = np.array([c["verdict"] in OPTIMAL for c in cfgs], dtype=bool)
    with _style.style():
        fig, axes = _style.figure(_style.COLUMN, 2.9, ncols=2, sharey=True,
                                  gridspec_kw={"width_ratios": [2.3, 1.0]})
        ax, hx = axes[0]
        handles, labels = [], []
        for loss in LOSSES:
            mine = [c for c in cfgs if c["loss"] == loss]
            if not mine:
                continue
            st = _style.loss_style(loss, alpha=0.1, gamma=3.0)
            ok = np.array([c["verdict"] in OPTIMAL for c in mine], dtype=bool)
            fc = np.array([c["f_closed"] for c in mine], dtype=float)
            er = np.maximum([c["rel_err"] for c in mine], REL_ERR_FLOOR)
            ax.plot(fc[ok], er[ok], ls="none", marker=st["marker"], ms=2.4, color=st["color"],
                    mew=0, alpha=0.85, zorder=2)
            ax.plot(fc[~ok], er[~ok], ls="none", marker=st["marker"], ms=3.6, mfc="none",
                    color=_style.BLACK, mew=0.7, zorder=3)
            handles.append(Line2D([], [], ls="none", marker=st["marker"], color=st["color"],
                                  ms=3.5))
            labels.append(f"{_loss_name(loss)} {len(mine)}")
        ax.axhline(tol, color=_style.BLACK, ls="--", lw=0.8, zorder=1)
        ax.text(0.02, tol * 3, r"tolerance $\epsilon^{2/3}$",
                transform=ax.get_yaxis_transform(), ha="left", va="bottom", fontsize=7)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(REL_ERR_FLOOR / 3, top)
        _style.log_ticks(ax, "x", numticks=4)
        _style.log_ticks(ax, "y", numticks=6, minor=False)
        ax.set_xlabel(r"closed-form minimum $f^*$")
        ax.set_ylabel(r"$|f - f^*|/f^*$  (0 drawn at $10^{-17}$)")
        ax.grid(True, which="major")
        bins = np.logspace(math.log10(REL_ERR_FLOOR) - 0.5, math.log10(top),
                           int(2 * (math.log10(top) - math.log10(REL_ERR_FLOOR))) + 2)
        hx.hist([errs[ok_all], errs[~ok_all]], bins=bins, orientation="horizontal",
                stacked=True, color=[_style.GREY, _style.BLACK], edgecolor="white",
                linewidth=0.3)
        hx.axhline(tol, color=_style.BLACK, ls="--", lw=0.8)
        hx.set_xscale("log")
        hx.set_xlim(0.7, 3 * len(cfgs))
        hx.set_xlabel("configurations")
        hx.grid(True, which="major", axis="x")
        worst_ok = summ["worst_rel_err_verified"]
        worst_bad = summ["worst_rel_err_not_converged"]
        shapes = ", ".join(f"({g['shape'][0]},{g['shape'][1]},{g['shape'][2]})"
                           for g in data["settings"]["groups"])
        line1 = f"{summ['configs']} random configurations, (K,n,d) ∈ {{{shapes}}}"
        line2 = f"verified (filled) {summ['verified']}" + (
            "" if worst_ok is None else f", worst {worst_ok:.1e}")
        line2 += f"; not converged (hollow) {summ['not_converged']}" + (
            "" if worst_bad is None else f", worst {worst_bad:.2g}, no claim")
        fig.suptitle(line1 + "\n" + line2, fontsize=7)
        _style.legend_below(fig, handles, labels, ncol=3)
        return _style.save(fig, out_dir, NAME)
