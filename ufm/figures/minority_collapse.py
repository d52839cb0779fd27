"""Minority collapse: the angle between minority classifiers against the imbalance ratio.

Fang et al. 2021 (theory.md g): with K − 2 majority classes of n_major samples and 2 minority
classes of n_major/R samples, the minority classifier rows w_k move together as R grows and, with
weight decay, coincide beyond a finite ratio R*. Computed with the class-level reduction of
:mod:`ufm.imbalance` (:func:`ufm.imbalance.minority_collapse_curve`, real-valued counts; exact for
CE/LS because all samples of a class share one feature at a minimiser), for CE and LS (α = 0.1),
K = 4, d = 4, n_major = 20, λ_W = λ_H = λ_b = 1e-2. The threshold R* of
:func:`ufm.imbalance.collapse_threshold` (minority angle ≤ 0.1°, bisection in log R) is the dotted
line. At R = 1 the problem is balanced and the angle is the simplex-ETF angle arccos(−1/(K−1)).

The class counts are real numbers (class weights of the reduction): n_minor = n_major/R is below
one sample for R > 20 (0.067 at the largest ratio R = 300); the top axis shows n_minor. Where the
minority classifiers are exactly 0 their angle is undefined: drawn as × at 0°.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

NAME = "minority_collapse"
TITLE = "Minority collapse under class imbalance"
CURVE_KEYS = ("loss", "alpha", "ratios", "minority_angle_deg", "majority_angle_deg",
              "minority_norm", "majority_norm", "minority_zero", "threshold")
SCHEMA = {"settings": None, "curves": [dict.fromkeys(CURVE_KEYS)], "etf_angle_deg": None,
          "versions": None}
KEYS = tuple(SCHEMA)


def settings(quick: bool) -> dict[str, Any]:
    return {"K": 4, "dim": 4, "n_major": 20.0, "n_minority": 2, "lambdas": [1e-2, 1e-2, 1e-2],
            "bias": True, "losses": [["ce", 0.0], ["ls", 0.1]], "ratio_max": 300.0,
            "ratio_points": 12 if quick else 41, "angle_tol_deg": 0.1,
            "threshold_rtol": 1e-2 if quick else 1e-3}


def experiment(quick: bool, seed: int) -> dict[str, Any]:
    """The angle/norm curves and the collapse threshold for each loss."""
    from ufm.figures._progress import track
    from ufm.imbalance import collapse_threshold, minority_collapse_curve
    from ufm.precision import x64
    from ufm.report import versions

    s = settings(quick)
    ratios = np.geomspace(1.0, s["ratio_max"], s["ratio_points"])
    curves = []
    with x64():
        for loss, alpha in track(s["losses"], NAME):
            common = dict(K=s["K"], n_major=s["n_major"], dim=s["dim"], lambdas=tuple(s["lambdas"]),
                          loss=loss, seed=seed, n_minority=s["n_minority"], alpha=alpha,
                          bias=s["bias"])
            curve = minority_collapse_curve(ratios=ratios, **common)
            thr = collapse_threshold(angle_tol_deg=s["angle_tol_deg"], ratio_max=s["ratio_max"],
                                     rtol=s["threshold_rtol"], **common)
            curves.append({"loss": loss, "alpha": alpha,
                           **{k: curve[k] for k in (*CURVE_KEYS, "converged") if k in curve},
                           "objective": curve["objective"], "grad_norm": curve["grad_norm"],
                           "threshold": thr["threshold"], "threshold_bracket": thr["bracket"],
                           "threshold_converged": thr["converged"], "criterion": thr["criterion"]})
    return {"figure": NAME, "title": TITLE, "quick": quick, "seed": seed, "settings": s,
            "curves": curves, "etf_angle_deg": math.degrees(math.acos(-1.0 / (s["K"] - 1))),
            "versions": versions()}


def plot(data: dict[str, Any], out_dir: str) -> list[str]:
    """Top: minority (and majority) classifier angle against R. Bottom: classifier norms."""
    from matplotlib.lines import Line2D

    from ufm.figures import _style

    s = data["settings"]
    n_major = float(s["n_major"])
    with _style.style():
        fig, axes = _style.figure(_style.COLUMN, 3.9, nrows=2, sharex=True)
        ax, nx = axes[0, 0], axes[1, 0]
        any_zero = False
        for cur in data["curves"]:
            st = _style.loss_style(cur["loss"], alpha=cur["alpha"])
            R = np.asarray(cur["ratios"], dtype=float)
            ang = np.asarray(cur["minority_angle_deg"], dtype=float)
            zero = np.asarray(cur["minority_zero"], dtype=bool)
            every = max(1, len(R) // 16)  # readable markers for long sweeps
            ax.plot(R, ang, color=st["color"], marker=st["marker"], ms=2.8, markevery=every)
            ax.plot(R, np.asarray(cur["majority_angle_deg"], dtype=float), color=st["color"],
                    ls=(0, (3, 2)), lw=0.9)
            if zero.any():  # minority classifiers exactly 0: angle undefined, drawn at 0
                any_zero = True
                ax.plot(R[zero][::every], np.zeros(zero.sum())[::every], ls="none", marker="x",
                        color=st["color"], ms=3.5, clip_on=False)
            nx.plot(R, np.asarray(cur["minority_norm"], dtype=float), color=st["color"],
                    marker=st["marker"], ms=2.8, markevery=every)
            nx.plot(R, np.asarray(cur["majority_norm"], dtype=float), color=st["color"],
                    ls=(0, (3, 2)), lw=0.9)
            if cur["threshold"] is not None:
                for a in (ax, nx):
                    a.axvline(cur["threshold"], color=st["color"], ls=":", lw=0.9)
        ax.axhline(data["etf_angle_deg"], color=_style.GREY, lw=0.6, ls=(0, (1, 1)))
        ax.set_ylim(0, 188)
        ax.set_yticks([0, 45, 90, 135, 180])
        ax.set_ylabel("angle between\nclassifiers (deg)")
        nx.set_ylabel(r"mean $\|w_k\|$")
        nx.set_ylim(bottom=0)
        nx.set_xscale("log")
        _style.log_ticks(nx, "x", numticks=5)
        nx.set_xlabel(r"imbalance ratio $R = n_{\rm major} / n_{\rm minor}$")
        def flip(x):  # R ↔ n_minor = n_major / R (its own inverse)
            x = np.asarray(x, dtype=float)
            with np.errstate(divide="ignore"):
                return n_major / np.where(x > 0, x, np.inf)

        top = ax.secondary_xaxis("top", functions=(flip, flip))
        top.set_xlabel(r"$n_{\rm minor}$ (real-valued class weight)", fontsize=7)
        for a in (ax, nx):
            a.grid(True, which="major")
        handles = [Line2D([], [], color=_style.loss_style(loss, alpha=a)["color"],
                          marker=_style.loss_style(loss, alpha=a)["marker"], ms=2.8)
                   for loss, a in s["losses"]]
        labels = [_style.loss_style(loss, alpha=a)["label"] + ": minority"
                  for loss, a in s["losses"]]
        handles += [Line2D([], [], color=_style.GREY, ls=(0, (3, 2)), lw=0.9),
                    Line2D([], [], color=_style.GREY, ls=":", lw=0.9),
                    Line2D([], [], color=_style.GREY, lw=0.6, ls=(0, (1, 1)))]
        found = ", ".join(f"{_style.loss_style(c['loss'], alpha=c['alpha'])['label'].split()[0]} "
                          f"{c['threshold']:.0f}" for c in data["curves"]
                          if c["threshold"] is not None)
        labels += ["majority classes", r"$R^*$ (angle ≤ 0.1°): " + found,
                   f"simplex ETF, {data['etf_angle_deg']:.1f}°"]
        if any_zero:
            handles.append(Line2D([], [], ls="none", marker="x", color=_style.GREY, ms=3.5))
            labels.append("minority $w_k = 0$ (angle undefined)")
        lam = s["lambdas"][0]
        fig.suptitle(f"K={s['K']} ({s['n_minority']} minority), d={s['dim']}, "
                     f"n_major={s['n_major']:g}, " r"$\lambda_W=\lambda_H=\lambda_b$" f"={lam:g}",
                     fontsize=7)
        _style.legend_below(fig, handles, labels, ncol=2)
        return _style.save(fig, out_dir, NAME)
