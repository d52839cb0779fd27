"""Closed form against solver: Δ*, ‖w‖², ‖h‖² and f* as functions of λ (theory.md b.1–b.6).

One problem shape, λ_W = λ_H = λ_b = λ swept over decades, for CE, LS (several α), FL (γ = 1, 3),
MSE (bias, target scale s = 1) and MaxSup. Lines: the closed form of
:func:`ufm.closed_form.closed_form` (b.2 CE, b.3 LS, b.4 MaxSup = LS, b.5 FL, b.6 MSE case 3) on
a dense λ grid. Markers: the numerical minimiser (accelerated gradient + Newton-CG, float64) at
fewer λ, measured as

    Δ = mean_i (z_{y_i,i} − mean_{k≠y_i} z_{k,i}),  ‖w‖² = ‖W‖_F²/K,  ‖h‖² = ‖H‖_F²/N,  f(W, H, b).

The zero-regime threshold λ_c of each curve (Δ* = 0 for λ ≥ λ_c: CE Kβ = 1, LS/MaxSup Kβ + α = 1,
MSE Kβ = s, FL (K−1)β = g_γ(1/K), theory.md b.2–b.6) is found by bisection on the closed-form
regime and drawn as a dotted vertical line in the curve's colour in every λ panel.

MaxSup has the same minimisers and minimum value as LS (theory.md b.4), so its closed-form curve
*is* the LS α = 0.1 line (not drawn again); its markers are hollow diamonds solved at λ's
interleaved with the LS markers, so both stay visible on that line.

Every marker carries the verdict of :func:`ufm.verify.verify` (:mod:`ufm.figures._verdict`):
optimality by the gradient test or, for MaxSup's zero-regime minimiser on the kink of max z (all
logits tie, f not differentiable), by a closed duality gap. A marker whose optimality is not
established is drawn with a black cross and counted in the legend; no accuracy is claimed
for it. Panel (f) is a single quantity, the relative objective error |f − f*|/f* (f* > 0 in both
regimes: log K at W = H = 0), against the verdict tolerance eps^(2/3).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

NAME = "closed_form_vs_solver"
TITLE = "Closed form vs solver"
CURVE_KEYS = ("loss", "alpha", "gamma", "label", "lam_line", "margin_line", "w_norm_sq_line",
              "h_norm_sq_line", "objective_line", "lam_zoom", "margin_zoom", "threshold",
              "lam_marker", "margin", "w_norm_sq", "h_norm_sq", "objective", "objective_rel_err",
              "verdict")
SCHEMA = {"settings": None, "curves": [dict.fromkeys(CURVE_KEYS)], "summary": None,
          "versions": None}
KEYS = tuple(SCHEMA)
OPTIMAL = ("verified", "certified")
ZOOM_LOSSES = ("ce", "ls", "maxsup")  # panel (b): the LS family's threshold shift with α

CURVES = (
    ("ce", 0.0, 0.0),
    ("ls", 0.05, 0.0),
    ("ls", 0.1, 0.0),
    ("ls", 0.2, 0.0),
    ("maxsup", 0.1, 0.0),
    ("fl", 0.0, 1.0),
    ("fl", 0.0, 3.0),
    ("mse", 0.0, 0.0),
)
THRESHOLD_FACTORS = (0.6, 0.85, 1.15, 1.4)
MAXSUP_THRESHOLD_FACTORS = (0.7, 0.92, 1.08, 1.3)  # interleaved with LS α = 0.1's


def settings(quick: bool) -> dict[str, Any]:
    """The problem shape and the λ grids."""
    if quick:
        shape, markers = dict(classes=4, per_class=3, dim=5), 7
    else:
        shape, markers = dict(classes=10, per_class=5, dim=12), 15
    return {**shape, "bias": True, "target_scale": 1.0, "lam_min": 1e-5, "lam_max": 1.0,
            "line_points": 300, "marker_points": markers, "lambda": "λ_W = λ_H = λ_b = λ"}


def _problem(s: dict[str, Any], loss: str, alpha: float, gamma: float, lam: float):
    from ufm.spec import Problem

    return Problem(s["classes"], s["per_class"], s["dim"], loss=loss, lambda_w=lam, lambda_h=lam,
                   lambda_b=lam, bias=s["bias"], alpha=alpha, gamma=gamma,
                   target_scale=s["target_scale"])


def threshold(s: dict[str, Any], loss: str, alpha: float, gamma: float) -> float | None:
    """λ_c where the closed form enters the zero regime (bisection in log λ to 1e-13), or None."""
    from ufm.closed_form import closed_form

    zero = lambda lam: closed_form(_problem(s, loss, alpha, gamma, lam)).regime == "zero"
    lo, hi = math.log(s["lam_min"]), math.log(1e3)
    if zero(math.exp(lo)) or not zero(math.exp(hi)):
        return None
    while hi - lo > 1e-13:
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if zero(math.exp(mid)) else (mid, hi)
    return math.exp(hi)


def experiment(quick: bool, seed: int) -> dict[str, Any]:
    """Closed-form lines and solver markers for every curve of :data:`CURVES`.

    Markers: ``marker_points`` log-spaced λ (skipping ±5% around the threshold λ_c, where the
    minimiser is degenerate), plus λ_c·(0.6, 0.85, 1.15, 1.4) on both sides of the threshold.
    MaxSup's markers sit at the geometric midpoints of that grid and at λ_c·(0.7, 0.92, 1.08,
    1.3), so that they do not hide LS α = 0.1's.
    """
    from ufm.closed_form import closed_form
    from ufm.figures import LANES
    from ufm.figures._batch import margin_of, solve_many
    from ufm.figures._progress import track
    from ufm.figures._style import loss_style
    from ufm.figures._verdict import verdict_of
    from ufm.report import versions

    s = settings(quick)
    lam_line = np.geomspace(s["lam_min"], s["lam_max"], s["line_points"])
    lam_marker = np.geomspace(s["lam_min"], 0.5 * s["lam_max"], s["marker_points"])
    lam_between = np.sqrt(lam_marker[:-1] * lam_marker[1:])
    thresholds = [threshold(s, *c) for c in CURVES]
    finite = [t for (loss, _, _), t in zip(CURVES, thresholds, strict=True)
              if t is not None and loss in ZOOM_LOSSES]
    zoom = np.linspace(0.5 * min(finite), 1.5 * max(finite), s["line_points"])
    problems, owners = [], []
    curves = []
    for c, ((loss, alpha, gamma), thr) in enumerate(zip(CURVES, thresholds, strict=True)):
        line = lambda lams, c=(loss, alpha, gamma): [closed_form(_problem(s, *c, lam))
                                                     for lam in lams]
        cfs, cfz = line(lam_line), line(zoom)
        grid, factors = ((lam_between, MAXSUP_THRESHOLD_FACTORS) if loss == "maxsup"
                         else (lam_marker, THRESHOLD_FACTORS))
        lams = [lam for lam in grid if thr is None or abs(math.log(lam / thr)) > 0.05]
        if thr is not None:
            lams += [thr * f for f in factors]
        for lam in sorted(lams):
            problems.append(_problem(s, loss, alpha, gamma, float(lam)))
            owners.append(c)
        curves.append({
            "loss": loss, "alpha": alpha, "gamma": gamma,
            "label": loss_style(loss, alpha=alpha, gamma=gamma)["label"],
            "lam_line": lam_line, "margin_line": [cf.margin for cf in cfs],
            "w_norm_sq_line": [cf.w_norm_sq for cf in cfs],
            "h_norm_sq_line": [cf.h_norm_sq for cf in cfs],
            "objective_line": [cf.objective for cf in cfs],
            "lam_zoom": zoom, "margin_zoom": [cf.margin for cf in cfz], "threshold": thr,
            "lam_marker": [], "margin": [], "w_norm_sq": [], "h_norm_sq": [], "objective": [],
            "objective_rel_err": [], "objective_tol": [], "verdict": [], "status": [],
            "grad_norm": [],
        })
    sols = solve_many(problems, [seed + i for i in range(len(problems))], label=NAME,
                      chunk=LANES)
    for c, sol in track(list(zip(owners, sols, strict=True)), NAME + " verify"):
        cur = curves[c]
        cf = closed_form(sol.problem)
        v = verdict_of(sol)
        cur["lam_marker"].append(sol.problem.lambda_w)
        cur["margin"].append(margin_of(sol))
        cur["w_norm_sq"].append(float(np.sum(sol.W**2)) / sol.problem.K)
        cur["h_norm_sq"].append(float(np.sum(sol.H**2)) / sol.problem.N)
        cur["objective"].append(sol.objective)
        cur["objective_rel_err"].append(abs(sol.objective - cf.objective) / abs(cf.objective))
        cur["objective_tol"].append(v["objective_tol"])
        cur["verdict"].append(v["verdict"])
        cur["status"].append(sol.status)
        cur["grad_norm"].append(sol.grad_norm)
    markers = [v for cur in curves for v in cur["verdict"]]
    summary = {"markers": len(markers), "verified": sum(v in OPTIMAL for v in markers),
               "not_optimal": {f"{cur['label']}": sum(v not in OPTIMAL for v in cur["verdict"])
                               for cur in curves},
               "worst_objective_rel_err_verified": max(
                   (e for cur in curves for e, v in zip(cur["objective_rel_err"], cur["verdict"],
                                                        strict=True) if v in OPTIMAL),
                   default=None)}
    return {"figure": NAME, "title": TITLE, "quick": quick, "seed": seed, "settings": s,
            "curves": curves, "summary": summary, "versions": versions()}


def plot(data: dict[str, Any], out_dir: str) -> list[str]:
    """3×2 grid: Δ* (log λ), Δ* near the thresholds (linear λ; CE, LS, MaxSup), ‖w‖², ‖h‖²,
    f* (log), and the relative objective error of each solver marker."""
    from matplotlib.lines import Line2D

    from ufm.figures import _style

    s = data["settings"]
    curves = data["curves"]
    panels = (
        ("margin", r"margin $\Delta^*$", "log"),
        ("margin", r"margin $\Delta^*$", "zoom"),
        ("w_norm_sq", r"$\|w_k\|^2$", "log"),
        ("h_norm_sq", r"$\|h_{k,i}\|^2$", "log"),
        ("objective", r"minimum value $f^*$", "logy"),
        ("objective_rel_err", r"$|f - f^*|/f^*$", "dev"),
    )
    floor = 1e-17
    tol = float(np.finfo(float).eps) ** (2 / 3)
    n_bad = 0
    with _style.style():
        fig, axes = _style.figure(_style.COLUMN, 5.6, nrows=3, ncols=2)
        for ax, (key, ylabel, mode) in zip(axes.flat, panels, strict=True):
            zoom, dev = mode == "zoom", mode == "dev"
            for cur in curves:
                if zoom and cur["loss"] not in ZOOM_LOSSES:
                    continue
                st = _style.loss_style(cur["loss"], alpha=cur["alpha"], gamma=cur["gamma"])
                maxsup = cur["loss"] == "maxsup"
                if not dev and not maxsup:  # MaxSup's line is LS α = 0.1's (theory.md b.4)
                    x = np.asarray(cur["lam_zoom" if zoom else "lam_line"], dtype=float)
                    y = np.asarray(cur[key + ("_zoom" if zoom else "_line")], dtype=float)
                    ax.plot(x, y, color=st["color"], lw=1.0, zorder=2)
                if cur["threshold"] is not None:
                    ax.axvline(cur["threshold"], color=st["color"], ls=":", lw=0.7, zorder=1)
                xm = np.asarray(cur["lam_marker"], dtype=float)
                ym = np.asarray(cur[key], dtype=float)
                ok = np.array([v in OPTIMAL for v in cur["verdict"]], dtype=bool)
                if dev:
                    ym = np.maximum(ym, floor)
                if zoom:
                    lo, hi = np.min(cur["lam_zoom"]), np.max(cur["lam_zoom"])
                    inside = (xm >= lo) & (xm <= hi)
                    xm, ym, ok = xm[inside], ym[inside], ok[inside]
                mk = dict(ls="none", marker=st["marker"], color=st["color"], zorder=3)
                if maxsup:
                    ax.plot(xm, ym, ms=4.2, mfc="none", mew=0.8, **mk)
                else:
                    ax.plot(xm, ym, ms=3.0, mec="white", mew=0.3, **mk)
                if (~ok).any():
                    ax.plot(xm[~ok], ym[~ok], ls="none", marker="x", ms=4.5, mew=0.9,
                            color=_style.BLACK, zorder=4)
                    if dev:
                        n_bad += int((~ok).sum())
            if zoom:
                ax.set_xlabel(r"$\lambda$ (linear, near $\lambda_c$)")
                ax.set_ylim(bottom=-0.05 * ax.get_ylim()[1])
            else:
                ax.set_xscale("log")
                _style.log_ticks(ax, "x", numticks=4)
                ax.set_xlabel(r"$\lambda$")
                if mode in ("logy", "dev"):
                    ax.set_yscale("log")
                    _style.log_ticks(ax, "y", numticks=5, minor=mode == "logy")
                else:
                    ax.set_ylim(bottom=0)
            if dev:
                ax.set_ylim(floor / 3, 1e-3)
                ax.axhline(tol, color=_style.BLACK, ls="--", lw=0.7)
                ax.text(0.03, tol * 2, r"tol. $\epsilon^{2/3}$", transform=ax.get_yaxis_transform(),
                        va="bottom", ha="left", fontsize=7)
            ax.set_ylabel(ylabel)
            ax.grid(True, which="major")
        for ax, letter in zip(axes.flat, "abcdef", strict=True):
            _style.panel_label(ax, f"({letter})")
        handles, labels = [], []
        for cur in curves:
            st = _style.loss_style(cur["loss"], alpha=cur["alpha"], gamma=cur["gamma"])
            if cur["loss"] == "maxsup":
                handles.append(Line2D([], [], color=st["color"], marker=st["marker"], ms=4.2,
                                      mfc="none", mew=0.8, ls="none"))
                labels.append(cur["label"])
            else:
                handles.append(Line2D([], [], color=st["color"], marker=st["marker"], ms=3.0,
                                      lw=1.0))
                labels.append(cur["label"])
        handles.append(Line2D([], [], color=_style.GREY, ls=":", lw=0.9))
        labels.append(r"threshold $\lambda_c$")
        if n_bad:
            handles.append(Line2D([], [], color=_style.BLACK, marker="x", ls="none", ms=4.5))
            labels.append(f"not converged ({n_bad}; no claim)")
        fig.suptitle(f"K={s['classes']}, n={s['per_class']}, d={s['dim']}, "
                     r"$\lambda = \lambda_W = \lambda_H = \lambda_b$" "\n"
                     "lines: closed form, markers: solver; MaxSup markers lie\n"
                     "on the LS α=0.1 line (MaxSup = LS, theory.md b.4)",
                     fontsize=7)
        _style.legend_below(fig, handles, labels, ncol=3)
        return _style.save(fig, out_dir, NAME)
