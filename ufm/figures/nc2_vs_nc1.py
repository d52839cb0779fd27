"""NC2 against NC1 along the GD trajectories of :mod:`ufm.figures.dynamics` (theory.md c.4, g).

The abstract of Guo et al. (arXiv 2402.03979) says that at equal NC1, models trained with label
smoothing show stronger NC2 (a smaller distance to the simplex ETF). In the UFM this is tested on
the trajectories of the dynamics figure (same start, step size and λ's for CE, LS and MaxSup):
for NC1 levels L = 10^1, 10^0.5, …, the NC2 value of each loss when its NC1 first drops below L
(log–log interpolation between the two logged iterates around the crossing), and the ratio

    r(L) = NC2_LS(L) / NC2_CE(L)        (r < 1: LS has the stronger NC2 at that NC1).

Both NC2_W (classifier Gram) and NC2_H (class-mean Gram) are reported. The levels stop at
10^−12 or where the first loss stops decreasing, and the trajectories are drawn only above the
float64 round-off floor of NC1, (100 eps)² ≈ 4.9e-28 (:mod:`ufm.figures._floors`): below it NC1
plateaus (≈ 2e-31 for LS in the b.9 setting) while NC2 keeps falling, a vertical drop that is
round-off, not dynamics. Levels between 1e-12 and that floor are well resolved (NC1 ∝ δ², so
NC1 = 1e-12 is a relative within-class spread δ ≈ 1e-6 ≫ eps).

``answer`` (per run, for NC2_W and NC2_H) states what the data say: the NC1 ranges where LS has
the stronger NC2 (r < 1), and the extreme ratios with their levels; the figure prints it.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any

import numpy as np

NAME = "nc2_vs_nc1"
TITLE = "NC2 against NC1 along GD trajectories"
RUN_KEYS = ("lambda", "lr", "curves", "levels", "at_level", "ratio_w", "ratio_h", "answer")
SCHEMA = {"settings": None,
          "runs": [{"lambda": None, "lr": None,
                    "curves": [dict.fromkeys(("loss", "alpha", "nc1", "nc2_w", "nc2_h"))],
                    "levels": None, "at_level": None, "ratio_w": None, "ratio_h": None,
                    "answer": {"nc2_w": {"text": None}, "nc2_h": {"text": None}}}],
          "versions": None}
KEYS = tuple(SCHEMA)
LEVEL_EXPONENTS = np.arange(1.0, -12.01, -0.5)  # NC1 levels 10^1, 10^0.5, …, 10^-12


def _ranges(levels: list[float], mask: list[bool]) -> list[list[float]]:
    """Maximal runs of consecutive levels where ``mask`` holds, as [first, last] (decreasing)."""
    out: list[list[float]] = []
    for L, m in zip(levels, mask, strict=True):
        if m and out and out[-1][2]:
            out[-1][1] = L
        elif m:
            out.append([L, L, True])
        if not m and out:
            out[-1][2] = False
    return [[a, b] for a, b, _ in out]


def describe(levels: list[float], ratio: list[float], name: str) -> dict[str, Any]:
    """What r(L) = NC2_LS/NC2_CE says, as numbers and one sentence (pure; tested)."""
    r = np.asarray(ratio, dtype=float)
    ok = np.isfinite(r)
    stronger = [bool(x < 1) for x in r]
    ranges = _ranges(levels, [bool(a and b) for a, b in zip(stronger, ok, strict=True)])
    i_max, i_min = int(np.nanargmax(r)), int(np.nanargmin(r))
    if not ranges:
        where = "at no level"
    elif len(ranges) == 1 and ranges[0] == [levels[0], levels[-1]]:
        where = "at every level"
    else:
        where = "for NC1 in " + ", ".join(f"[{a:.0e}, {b:.0e}]" for a, b in ranges)
    text = (f"{name}: LS stronger (ratio < 1) {where}; ratio LS/CE from {r[i_min]:.2g} "
            f"(NC1 = {levels[i_min]:.0e}) to {r[i_max]:.2g} (NC1 = {levels[i_max]:.0e})")
    return {"ls_stronger_ranges": ranges, "ls_stronger_fraction": float(np.mean(r[ok] < 1)),
            "max_ratio": float(r[i_max]), "max_ratio_level": levels[i_max],
            "min_ratio": float(r[i_min]), "min_ratio_level": levels[i_min], "text": text}


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
    from ufm.figures import _floors
    from ufm.figures._progress import track
    from ufm.figures.dynamics import _trajectories
    from ufm.report import versions

    hits = _trajectories.cache_info().hits
    traj = _trajectories(quick, seed)
    reused = traj["seconds"] if _trajectories.cache_info().hits > hits else 0.0
    floor = _floors.quadratic_floor(traj["settings"]["dtype"])
    runs = []
    for run in track(traj["runs"], NAME):
        curves = [{k: tr[k] for k in ("loss", "alpha", "iteration", "nc1", "nc2_w", "nc2_h")}
                  for tr in run["trajectories"]]
        lo = max(max(min(c["nc1"]), floor) for c in curves)  # every loss reaches every level
        hi = min(c["nc1"][0] for c in curves)
        levels = [float(10.0**e) for e in LEVEL_EXPONENTS if lo < 10.0**e < hi]
        table = {c["loss"]: {"nc2_w": [at_level(c["nc1"], c["nc2_w"], L) for L in levels],
                             "nc2_h": [at_level(c["nc1"], c["nc2_h"], L) for L in levels]}
                 for c in curves}
        ratio = {m: [ls / ce for ls, ce in zip(table["ls"][m], table["ce"][m], strict=True)]
                 for m in ("nc2_w", "nc2_h")}
        runs.append({"lambda": run["lambda"], "lr": run["lr"], "curves": curves, "levels": levels,
                     "at_level": table, "ratio_w": ratio["nc2_w"], "ratio_h": ratio["nc2_h"],
                     "answer": {m: describe(levels, ratio[m], name)
                                for m, name in (("nc2_w", "NC2_W"), ("nc2_h", "NC2_H"))}})
    return {"figure": NAME, "title": TITLE, "quick": quick, "seed": seed,
            "settings": traj["settings"], "nc1_floor": floor, "runs": runs,
            "reused_seconds": reused, "versions": versions()}


def plot(data: dict[str, Any], out_dir: str) -> list[str]:
    """Rows: NC2_W against NC1, NC2_H against NC1 (log–log, NC1 decreasing to the right, drawn
    above the round-off floor), and r(L) for W and H; the answer printed underneath."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from ufm.figures import _floors, _style

    runs = data["runs"]
    s = data["settings"]
    floor = _floors.quadratic_floor(s["dtype"])
    ncol = len(runs)
    width = _style.COLUMN if ncol == 1 else _style.PAGE
    with _style.style():
        fig, axes = _style.figure(width, 5.4, nrows=3, ncols=ncol, sharex="col",
                                  gridspec_kw={"height_ratios": [1.3, 1.3, 1.0]})
        notes = []
        for j, run in enumerate(runs):
            rx = axes[2, j]
            lv = np.asarray(run["levels"], dtype=float)
            decade = np.isclose(np.log10(lv), np.round(np.log10(lv)))  # markers: 10^k levels
            for i, (key, label) in enumerate((("nc2_w", r"NC2$_W$"), ("nc2_h", r"NC2$_H$"))):
                ax = axes[i, j]
                for c in run["curves"]:
                    st = _style.loss_style(c["loss"], alpha=c["alpha"])
                    x = np.asarray(c["nc1"], dtype=float)
                    keep = x >= floor  # below: NC1 is round-off (a vertical drop in the plot)
                    y = np.asarray(c[key], dtype=float)
                    if c["loss"] == "maxsup":
                        ax.plot(x[keep], y[keep], color=st["color"], ls=(0, (3, 2)))
                        ax.plot(lv[decade], np.asarray(run["at_level"][c["loss"]][key])[decade],
                                ls="none", marker=st["marker"], ms=3.6, mfc="none", mew=0.7,
                                color=st["color"], zorder=3)
                    else:
                        ax.plot(x[keep], y[keep], color=st["color"])
                        ax.plot(lv[decade], np.asarray(run["at_level"][c["loss"]][key])[decade],
                                ls="none", marker=st["marker"], ms=2.6, color=st["color"],
                                zorder=4)
                ax.set_xscale("log")
                ax.set_yscale("log")
                _style.log_ticks(ax, "y", numticks=5, minor=False)
                ax.grid(True, which="major")
                if j == 0:
                    ax.set_ylabel(label)
            axes[0, j].invert_xaxis()
            axes[0, j].set_title(rf"$\lambda$ = {run['lambda']:g}, $\eta$ = {run['lr']:g}",
                                 fontsize=8)
            rw = np.asarray(run["ratio_w"], dtype=float)
            rh = np.asarray(run["ratio_h"], dtype=float)
            finite = np.concatenate([rw[np.isfinite(rw)], rh[np.isfinite(rh)]])
            lo, hi = min(float(finite.min()), 0.5) / 1.5, max(float(finite.max()), 2.0) * 1.5
            rx.axhspan(lo, 1.0, color=_style.SKY, alpha=0.18, lw=0)
            rx.axhline(1.0, color=_style.GREY, lw=0.7)
            rx.plot(lv, rw, color=_style.BLACK, marker="o", ms=2.6)
            rx.plot(lv, rh, color=_style.BLACK, marker="s", ms=2.6, ls=(0, (3, 2)), mfc="white")
            rx.set_yscale("log")
            rx.set_ylim(lo, hi)
            rx.set_xlabel("NC1 (decreasing →)")
            rx.grid(True, which="major")
            _style.log_ticks(rx, "x", numticks=6, minor=False)
            if j == 0:
                rx.set_ylabel("NC2 ratio LS/CE\nat equal NC1")
            ans = run["answer"]
            prefix = f"λ = {run['lambda']:g}: " if ncol > 1 else ""
            notes += [textwrap.fill(prefix + ans[m]["text"], 60 if ncol == 1 else 132)
                      for m in ("nc2_w", "nc2_h")]
        handles, labels = [], []
        for loss, a in s["losses"]:
            st = _style.loss_style(loss, alpha=a)
            if loss == "maxsup":
                handles.append(Line2D([], [], color=st["color"], marker=st["marker"], ms=3.6,
                                      mfc="none", mew=0.7, ls=(0, (3, 2))))
            else:
                handles.append(Line2D([], [], color=st["color"], marker=st["marker"], ms=2.6))
            labels.append(st["label"])
        handles += [Line2D([], [], color=_style.BLACK, marker="o", ms=2.6),
                    Line2D([], [], color=_style.BLACK, marker="s", ms=2.6, ls=(0, (3, 2)),
                           mfc="white")]
        labels += [r"ratio of NC2$_W$", r"ratio of NC2$_H$"]
        handles.append(Patch(facecolor=_style.SKY, alpha=0.18))
        labels.append("ratio < 1: LS stronger")
        fig.suptitle(f"GD, K={s['classes']}, n={s['per_class']}, d={s['dim']}, same start\n"
                     "markers: NC2 when NC1 first crosses 10$^{k}$", fontsize=7)
        _style.legend_below(fig, handles, labels, ncol=2 if ncol == 1 else 6,
                            note="\n".join(notes))
        return _style.save(fig, out_dir, NAME)
