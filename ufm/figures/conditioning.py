"""Conditioning at the minimiser: four condition numbers for CE and LS (theory.md c.2, c.3).

Guo et al. say LS has "a lower conditioning number"; their definition is not known (theory.md
c.1), so all four definitions of :mod:`ufm.conditioning` are drawn, one panel each:

* κ_full: λ_max/λ_min⁺ of the Hessian in (W, H, b), symmetry zeros removed;
* κ_logit: the per-sample logit Hessian on 1^⊥, = K p* (LS: K p*_CE − (K−1)α);
* κ_scale: the 2×2 (W, H)-rescaling block (trivial irrep);
* κ_features: the Hessian in H with W frozen at W*.

Problem of theory.md c.3: K = 10, d = 10, n = 5, λ_W = λ_H = λ_b = λ (quick mode: K = 4, d = 4,
n = 3, so that the dense autodiff Hessians behind the markers are small, P = 68 instead of 610;
``c3_table`` holds the closed-form κ_full of the c.3 table at K = 10 in both modes). Top row: κ
against λ for
CE and LS (α = 0.05, 0.1, 0.2) from the closed-form spectrum
(:func:`ufm.conditioning.closed_form_kappas`),
with numerical values (autodiff Hessian at the closed-form minimiser,
:func:`ufm.conditioning.hessian_report`, dense) as markers, and the λ's where LS (α = 0.1) is lower
than CE shaded. Bottom row: κ_LS/κ_CE over (λ, α) on a diverging log colour scale centred at 1
whose two ends are the smallest and largest ratio in the data (nothing saturates); LS lower
(ratio < 1) is blue and hatched, and the contour ratio = 1 drawn; grey is LS's zero regime
(Kβ + α ≥ 1, no collapse, κ undefined).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

NAME = "conditioning"
TITLE = "Condition numbers of CE and LS at the minimiser"
SCHEMA = {"settings": None, "lam_line": None,
          "lines": [dict.fromkeys(("loss", "alpha", "kappa_full", "kappa_logit", "kappa_scale",
                                   "kappa_features"))],
          "markers": [dict.fromkeys(("loss", "alpha", "lambda", "kappa_full", "kappa_logit",
                                     "kappa_scale", "kappa_features"))],
          "map": {"lam": None, "alpha": None, "ratio": None}, "versions": None}
KEYS = tuple(SCHEMA)
C3_SHAPE = (10, 5, 10)  # theory.md c.3: K, n, d
KAPPAS = ("kappa_full", "kappa_logit", "kappa_scale", "kappa_features")
LINE_ALPHAS = (0.05, 0.1, 0.2)
SHADE_ALPHA = 0.1
C3_LAMBDAS = (1e-5, 1e-3, 1e-2)  # the λ's of the κ_full table of theory.md c.3 (on every line)


def settings(quick: bool) -> dict[str, Any]:
    K, n, d = (4, 3, 4) if quick else C3_SHAPE
    return {"classes": K, "per_class": n, "dim": d, "bias": True, "lambda": "λ_W = λ_H = λ_b = λ",
            "lam_min": 1e-6, "lam_max": 4e-2,
            "line_points": 120 if quick else 240,
            "map_lam_points": 60 if quick else 140, "map_alpha_points": 26 if quick else 61,
            "alpha_max": 0.5,
            "marker_lambdas": [1e-5, 1e-3] if quick else [1e-6, 1e-5, 1e-4, 1e-3, 1e-2],
            "reference_lambdas": list(C3_LAMBDAS),
            "marker_alpha": SHADE_ALPHA, "line_alphas": list(LINE_ALPHAS),
            "shade_alpha": SHADE_ALPHA}


def _problem(s: dict[str, Any], loss: str, lam: float, alpha: float = 0.0,
             shape: tuple[int, int, int] | None = None):
    from ufm.spec import Problem

    K, n, d = shape or (s["classes"], s["per_class"], s["dim"])
    return Problem(K, n, d, loss=loss, lambda_w=lam, lambda_h=lam, lambda_b=lam, bias=s["bias"],
                   alpha=alpha)


def c3_table(s: dict[str, Any]) -> list[dict[str, Any]]:
    """Closed-form κ_full at the c.3 table's problem (K = 10, d = 10, n = 5), both modes."""
    from ufm.conditioning import closed_form_kappas

    return [{"lambda": lam, "alpha": a,
             "kappa_full": closed_form_kappas(_problem(s, "ce" if a == 0 else "ls", lam, a,
                                                       shape=C3_SHAPE))["kappa_full"]}
            for lam in C3_LAMBDAS for a in (0.0, *LINE_ALPHAS)]


def _kappas(s: dict[str, Any], loss: str, lam: float,
            alpha: float = 0.0) -> dict[str, float | None]:
    """Closed-form κ's, or all None where the closed form gives no collapse (zero regime)."""
    from ufm.closed_form import closed_form
    from ufm.conditioning import closed_form_kappas

    p = _problem(s, loss, lam, alpha)
    if closed_form(p).regime != "collapse":
        return dict.fromkeys(KAPPAS)
    k = closed_form_kappas(p)
    return {name: k[name] for name in KAPPAS}


def experiment(quick: bool, seed: int) -> dict[str, Any]:
    """Closed-form κ lines and (λ, α) maps; numerical κ markers (``seed``: no randomness here)."""
    from ufm.closed_form import minimiser
    from ufm.conditioning import hessian_report
    from ufm.figures._progress import track
    from ufm.precision import x64
    from ufm.report import versions

    s = settings(quick)
    lam_line = np.unique(np.concatenate([np.geomspace(s["lam_min"], s["lam_max"], s["line_points"]),
                                         s["reference_lambdas"]]))
    lines = []
    for loss, alpha in [("ce", 0.0)] + [("ls", a) for a in LINE_ALPHAS]:
        ks = [_kappas(s, loss, lam, alpha) for lam in lam_line]
        lines.append({"loss": loss, "alpha": alpha, **{k: [row[k] for row in ks] for k in KAPPAS}})
    lam_map = np.geomspace(s["lam_min"], s["lam_max"], s["map_lam_points"])
    alpha_map = np.linspace(0.0, s["alpha_max"], s["map_alpha_points"])[1:]
    ce = [_kappas(s, "ce", lam) for lam in lam_map]
    ratio = {k: [] for k in KAPPAS}
    for a in track(alpha_map, NAME + " map"):
        rows = [_kappas(s, "ls", lam, float(a)) for lam in lam_map]
        for k in KAPPAS:
            ratio[k].append([None if r[k] is None or c[k] is None else r[k] / c[k]
                             for r, c in zip(rows, ce, strict=True)])
    markers = []
    jobs = [(loss, lam) for loss in ("ce", "ls") for lam in s["marker_lambdas"]]
    with x64():
        for loss, lam in track(jobs, NAME + " Hessians"):
            alpha = s["marker_alpha"] if loss == "ls" else 0.0
            p = _problem(s, loss, lam, alpha)
            rep = hessian_report(p, minimiser(p), method="dense")
            markers.append({"loss": loss, "alpha": alpha, "lambda": lam,
                            **{k: rep[k] for k in KAPPAS},
                            "closed_form": {k: rep["closed_form"][k] for k in KAPPAS},
                            "zero_modes": rep["zero_modes"],
                            "zero_modes_expected": rep["zero_modes_expected"],
                            "spectrum_rel_err": rep["spectrum_rel_err"]})
    return {"figure": NAME, "title": TITLE, "quick": quick, "seed": seed, "settings": s,
            "lam_line": lam_line,
            "lines": lines, "markers": markers,
            "map": {"lam": lam_map, "alpha": alpha_map, "ratio": ratio},
            "c3_table": c3_table(s), "versions": versions()}


def _intervals(x: np.ndarray, mask: np.ndarray) -> list[tuple[float, float]]:
    """Maximal runs of ``mask`` as (x_start, x_end), extended half a (log) step each side."""
    out = []
    lx = np.log(x)
    step = 0.5 * (lx[1] - lx[0]) if x.size > 1 else 0.0
    i = 0
    while i < mask.size:
        if mask[i]:
            j = i
            while j + 1 < mask.size and mask[j + 1]:
                j += 1
            out.append((math.exp(lx[i] - step), math.exp(lx[j] + step)))
            i = j + 1
        else:
            i += 1
    return out


def _ratio_ticks(vmin: float, vmax: float) -> list[float]:
    """Colour-bar ticks (ratios) for log10 limits [vmin, vmax]: 1, the decades inside, and on a
    side spanning less than a decade a 1-significant-digit value near its end."""
    ticks = {1.0} | {10.0**t for t in range(math.ceil(vmin), math.floor(vmax) + 1)}
    for end in (vmin, vmax):
        if abs(end) < 1 and abs(end) > 0.1:
            value = 10.0**end
            digits = -math.floor(math.log10(value))
            rounded = (math.ceil if end < 0 else math.floor)(value * 10**digits) / 10**digits
            ticks.add(rounded)
    return sorted(t for t in ticks if vmin - 1e-12 <= math.log10(t) <= vmax + 1e-12)


def _tick_label(t: float) -> str:
    e = math.log10(t)
    if abs(e - round(e)) < 1e-12 and abs(e) >= 2:
        return f"$10^{{{round(e)}}}$"
    return f"{t:g}"


TITLES = {
    "kappa_full": r"$\kappa_{\rm full}$ (all of $W, H, b$)",
    "kappa_logit": r"$\kappa_{\rm logit}$ (logit Hessian)",
    "kappa_scale": r"$\kappa_{\rm scale}$ (rescaling block)",
    "kappa_features": r"$\kappa_{\rm features}$ ($H$, $W$ frozen)",
}


def plot(data: dict[str, Any], out_dir: str) -> list[str]:
    """2×4 grid at page width: κ(λ) lines (top), κ_LS/κ_CE over (λ, α) (bottom)."""
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import FixedLocator

    from ufm.figures import _style

    s = data["settings"]
    lam = np.asarray(data["lam_line"], dtype=float)
    lines = data["lines"]
    ce = next(ln for ln in lines if ln["loss"] == "ce")
    shade = next(ln for ln in lines
                 if ln["loss"] == "ls" and abs(ln["alpha"] - s["shade_alpha"]) < 1e-12)
    mp = data["map"]
    lam_map = np.asarray(mp["lam"], dtype=float)
    alpha_map = np.asarray(mp["alpha"], dtype=float)
    # one diverging colour scale for the four maps, in log10 of the ratio, centred at 1 and
    # spanning exactly the data (no saturation)
    logs = [np.log10(np.array(mp["ratio"][k], dtype=float)) for k in KAPPAS]
    finite = np.concatenate([v[np.isfinite(v)] for v in logs])
    vmin, vmax = min(float(finite.min()), -0.05), max(float(finite.max()), 0.05)
    norm = TwoSlopeNorm(vmin=vmin, vcenter=0.0, vmax=vmax)
    with _style.style():
        fig, axes = _style.figure(_style.PAGE, 3.9, nrows=2, ncols=4)
        mesh = None
        for j, k in enumerate(KAPPAS):
            ax, mx = axes[0, j], axes[1, j]
            y_ce = np.asarray(ce[k], dtype=float)
            y_ls = np.asarray(shade[k], dtype=float)
            for a0, a1 in _intervals(lam, y_ls < y_ce):
                ax.axvspan(a0, a1, color=_style.SKY, alpha=0.25, lw=0)
            for ln in lines:
                st = _style.loss_style(ln["loss"], alpha=ln["alpha"])
                ax.plot(lam, np.asarray(ln[k], dtype=float), color=st["color"])
            for m in data["markers"]:
                if m[k] is None:
                    continue
                st = _style.loss_style(m["loss"], alpha=m["alpha"])
                ax.plot(m["lambda"], m[k], ls="none", marker=st["marker"], ms=3.6, mfc="white",
                        mec=st["color"], mew=0.9, zorder=3)
            ax.set_xscale("log")
            top = np.array([v for ln in lines for v in ln[k] if v is not None], dtype=float)
            if top.max() / top.min() > 10:
                ax.set_yscale("log")  # else (κ_logit, between 1 and K) linear reads better
            _style.log_ticks(ax, "x", numticks=4)
            ax.set_title(TITLES[k], fontsize=8)
            ax.set_xlabel(r"$\lambda$")
            ax.grid(True, which="major")
            R = np.array(mp["ratio"][k], dtype=float)
            mx.set_facecolor("#D9D9D9")  # LS zero regime: no collapse, κ undefined
            mesh = mx.pcolormesh(lam_map, alpha_map, np.log10(R), shading="nearest",
                                 cmap="RdBu_r", norm=norm, rasterized=True)
            finite = np.where(np.isfinite(R), R, 2.0)
            if (finite < 1).any() and (finite > 1).any():
                mx.contour(lam_map, alpha_map, np.log(finite), levels=[0.0], colors=_style.BLACK,
                           linewidths=0.8)
            mx.contourf(lam_map, alpha_map, np.where(np.isfinite(R) & (R < 1), 1.0, 0.0),
                        levels=[0.5, 1.5], colors="none", hatches=["////"])
            mx.set_xscale("log")
            _style.log_ticks(mx, "x", numticks=4, minor=False)
            mx.set_xlabel(r"$\lambda$")
            mx.axhline(s["shade_alpha"], color=_style.BLACK, lw=0.5, ls=":")
        axes[0, 0].set_ylabel(r"$\kappa$ (closed form)")
        axes[1, 0].set_ylabel(r"LS smoothing $\alpha$")
        cb = fig.colorbar(mesh, ax=axes[1, :], pad=0.01, aspect=18)
        ticks = _ratio_ticks(vmin, vmax)
        cb.ax.yaxis.set_major_locator(FixedLocator([math.log10(t) for t in ticks]))
        cb.ax.set_yticklabels([_tick_label(t) for t in ticks])
        cb.set_label(r"$\kappa_{\rm LS} / \kappa_{\rm CE}$" f" (data: {10**vmin:.2g} to "
                     f"{10**vmax:.2g})")
        handles = [Line2D([], [], color=_style.loss_style(ln["loss"], alpha=ln["alpha"])["color"])
                   for ln in lines]
        labels = [_style.loss_style(ln["loss"], alpha=ln["alpha"])["label"] for ln in lines]
        handles += [Line2D([], [], ls="none", marker="o", mfc="white", mec=_style.GREY, ms=3.6),
                    Patch(facecolor=_style.SKY, alpha=0.25),
                    Patch(facecolor="white", edgecolor=_style.BLACK, hatch="////", lw=0.5),
                    Patch(facecolor="#D9D9D9")]
        labels += ["autodiff Hessian at $W^*, H^*$",
                   f"top: LS α={s['shade_alpha']:g} lower than CE",
                   "bottom: LS lower than CE", "bottom: LS zero regime"]
        fig.suptitle(f"K={s['classes']}, n={s['per_class']}, d={s['dim']}, "
                     r"$\lambda = \lambda_W = \lambda_H = \lambda_b$", fontsize=7)
        _style.legend_below(fig, handles, labels, ncol=4)
        return _style.save(fig, out_dir, NAME)
