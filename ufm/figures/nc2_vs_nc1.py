"""NC2 against NC1 along the GD trajectories of :mod:`ufm.figures.dynamics` (theory.md c.4, g).

The abstract of Guo et al. (arXiv 2402.03979) says that at equal NC1, models trained with label
smoothing show stronger NC2 (a smaller distance to the simplex ETF). In the UFM this is tested on
the trajectories of the dynamics figure (same start, step size and λ's for CE, LS and MaxSup):
for NC1 levels L = 10^1, 10^0.5, …, the NC2 value of each loss when its NC1 first drops below L
(log–log interpolation between the two logged iterates around the crossing), and the ratio

    r(L) = NC2_LS(L) / NC2_CE(L)        (r < 1: LS has the stronger NC2 at that NC1).

Both NC2_W (classifier Gram) and NC2_H (class-mean Gram) are reported.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

NAME = "nc2_vs_nc1"
TITLE = "NC2 against NC1 along GD trajectories"
KEYS = ("settings", "runs", "versions")
RUN_KEYS = ("lambda", "lr", "curves", "levels", "at_level", "ratio_w", "ratio_h")


def at_level(nc1: np.ndarray, values: np.ndarray, level: float) -> float:
    """``values`` when NC1 first drops below ``level`` (log–log interpolation); NaN if never."""
    nc1 = np.asarray(nc1, dtype=float)
    values = np.asarray(values, dtype=float)
    below = np.flatnonzero(nc1 <= level)
    if below.size == 0:
        return math.nan
    t = int(below[0])
    if t == 0:
        return float(values[0])
    x0, x1 = math.log(nc1[t - 1]), math.log(nc1[t])
    y0, y1 = math.log(values[t - 1]), math.log(values[t])
    w = 0.0 if x1 == x0 else (math.log(level) - x0) / (x1 - x0)
    return float(math.exp(y0 + w * (y1 - y0)))


def experiment(quick: bool, seed: int) -> dict[str, Any]:
    """NC2 at equal NC1 for CE, LS, MaxSup (reuses the dynamics trajectories)."""
    from ufm.figures.dynamics import _trajectories
    from ufm.report import versions

    traj = _trajectories(quick, seed)
    runs = []
    for run in traj["runs"]:
        curves = [{k: tr[k] for k in ("loss", "alpha", "iteration", "nc1", "nc2_w", "nc2_h")}
                  for tr in run["trajectories"]]
        lo = max(min(c["nc1"]) for c in curves)  # every loss reaches every level
        hi = min(c["nc1"][0] for c in curves)
        levels = [10.0**e for e in np.arange(1.0, -12.01, -0.5) if lo < 10.0**e < hi]
        table = {c["loss"]: {"nc2_w": [at_level(c["nc1"], c["nc2_w"], L) for L in levels],
                             "nc2_h": [at_level(c["nc1"], c["nc2_h"], L) for L in levels]}
                 for c in curves}
        ratio = {m: [ls / ce for ls, ce in zip(table["ls"][m], table["ce"][m], strict=True)]
                 for m in ("nc2_w", "nc2_h")}
        runs.append({"lambda": run["lambda"], "lr": run["lr"], "curves": curves, "levels": levels,
                     "at_level": table, "ratio_w": ratio["nc2_w"], "ratio_h": ratio["nc2_h"],
                     "ls_stronger_fraction_w": float(np.mean(np.array(ratio["nc2_w"]) < 1)),
                     "ls_stronger_fraction_h": float(np.mean(np.array(ratio["nc2_h"]) < 1))})
    return {"figure": NAME, "title": TITLE, "quick": quick, "seed": seed,
            "settings": traj["settings"], "runs": runs, "versions": versions()}


def plot(data: dict[str, Any], out_dir: str) -> list[str]:
    """Top: NC2_W against NC1 (log–log, NC1 decreasing to the right). Bottom: r(L) for W and H."""
    from matplotlib.lines import Line2D

    from ufm.figures import _style

    runs = data["runs"]
    ncol = len(runs)
    width = _style.COLUMN if ncol == 1 else _style.PAGE * 0.75
    with _style.style():
        fig, axes = _style.figure(width, 3.6, nrows=2, ncols=ncol, sharex="col",
                                  gridspec_kw={"height_ratios": [1.6, 1.0]})
        for j, run in enumerate(runs):
            ax, rx = axes[0, j], axes[1, j]
            for c in run["curves"]:
                st = _style.loss_style(c["loss"], alpha=c["alpha"])
                ls = (0, (3, 2)) if c["loss"] == "maxsup" else "-"
                ax.plot(np.asarray(c["nc1"], dtype=float), np.asarray(c["nc2_w"], dtype=float),
                        color=st["color"], ls=ls)
                ax.plot(run["levels"], run["at_level"][c["loss"]]["nc2_w"], ls="none",
                        marker=st["marker"], ms=2.6, color=st["color"])
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.invert_xaxis()
            _style.log_ticks(ax, "y", numticks=6, minor=False)
            ax.set_ylabel(r"NC2$_W$")
            ax.grid(True, which="major")
            ax.set_title(rf"$\lambda$ = {run['lambda']:g}, $\eta$ = {run['lr']:g}", fontsize=7)
            lv = np.asarray(run["levels"], dtype=float)
            rw = np.asarray(run["ratio_w"], dtype=float)
            rh = np.asarray(run["ratio_h"], dtype=float)
            rx.axhspan(1e-6, 1.0, color=_style.SKY, alpha=0.18, lw=0)
            rx.axhline(1.0, color=_style.GREY, lw=0.7)
            rx.plot(lv, rw, color=_style.BLACK, marker="o", ms=2.6, label=r"NC2$_W$")
            rx.plot(lv, rh, color=_style.BLACK, marker="s", ms=2.6, ls=":", mfc="white",
                    label=r"NC2$_H$")
            finite = np.concatenate([rw[np.isfinite(rw)], rh[np.isfinite(rh)]])
            lo, hi = float(finite.min()), float(finite.max())
            rx.set_yscale("log")
            rx.set_ylim(min(lo, 0.5) / 1.5, max(hi, 2.0) * 1.5)
            rx.text(0.98, 0.04, "LS stronger", transform=rx.transAxes, ha="right", va="bottom",
                    fontsize=6.5, color=_style.BLUE)
            rx.set_xlabel("NC1 (decreasing →)")
            rx.grid(True, which="major")
            _style.log_ticks(rx, "x", numticks=6, minor=False)
            if j == 0:
                rx.set_ylabel("NC2 ratio LS/CE\nat equal NC1")
        s = data["settings"]
        handles = [Line2D([], [], color=_style.loss_style(loss, alpha=a)["color"],
                          marker=_style.loss_style(loss, alpha=a)["marker"], ms=2.6,
                          ls=(0, (3, 2)) if loss == "maxsup" else "-") for loss, a in s["losses"]]
        labels = [_style.loss_style(loss, alpha=a)["label"] for loss, a in s["losses"]]
        handles += [Line2D([], [], color=_style.BLACK, marker="o", ms=2.6),
                    Line2D([], [], color=_style.BLACK, marker="s", ms=2.6, ls=":", mfc="white")]
        labels += [r"ratio of NC2$_W$", r"ratio of NC2$_H$"]
        fig.suptitle(f"GD, K={s['classes']}, n={s['per_class']}, d={s['dim']}, same start",
                     fontsize=7)
        _style.legend_below(fig, handles, labels, ncol=3 if ncol == 1 else 5)
        return _style.save(fig, out_dir, NAME)
