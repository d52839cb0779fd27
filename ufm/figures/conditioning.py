"""Conditioning at the minimiser: four condition numbers for CE and LS (theory.md c.2, c.3).

Guo et al. say LS has "a lower conditioning number"; their definition is not known (theory.md
c.1), so all four definitions of :mod:`ufm.conditioning` are drawn, one panel each:

* κ_full: λ_max/λ_min⁺ of the Hessian in (W, H, b), symmetry zeros removed;
* κ_logit: the per-sample logit Hessian on 1^⊥, = K p* (LS: K p*_CE − (K−1)α);
* κ_scale: the 2×2 (W, H)-rescaling block (trivial irrep);
* κ_features: the Hessian in H with W frozen at W*.

Problem of theory.md c.3: K = 10, d = 10, n = 5, λ_W = λ_H = λ_b = λ. Top row: κ against λ for
CE and LS (α = 0.05, 0.1, 0.2) from the closed-form spectrum
(:func:`ufm.conditioning.closed_form_kappas`),
with numerical values (autodiff Hessian at the closed-form minimiser,
:func:`ufm.conditioning.hessian_report`, dense) as markers, and the λ's where LS (α = 0.1) is lower
than CE shaded. Bottom row: κ_LS/κ_CE over (λ, α); blue (ratio < 1, LS lower) is shaded and the
contour ratio = 1 drawn; grey is LS's zero regime (Kβ + α ≥ 1, no collapse, κ undefined).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

NAME = "conditioning"
TITLE = "Condition numbers of CE and LS at the minimiser"
KEYS = ("settings", "lam_line", "lines", "markers", "map", "versions")
KAPPAS = ("kappa_full", "kappa_logit", "kappa_scale", "kappa_features")
LINE_ALPHAS = (0.05, 0.1, 0.2)
SHADE_ALPHA = 0.1
C3_LAMBDAS = (1e-5, 1e-3, 1e-2)  # the λ's of the κ_full table of theory.md c.3 (on every line)


def settings(quick: bool) -> dict[str, Any]:
    return {"classes": 10, "per_class": 5, "dim": 10, "bias": True, "lambda": "λ_W = λ_H = λ_b = λ",
            "lam_min": 1e-6, "lam_max": 4e-2, "line_points": 120 if quick else 240,
            "map_lam_points": 60 if quick else 140, "map_alpha_points": 26 if quick else 61,
            "alpha_max": 0.5, "marker_lambdas": [1e-4] if quick else [1e-6, 1e-5, 1e-4, 1e-3, 1e-2],
            "reference_lambdas": list(C3_LAMBDAS),
            "marker_alpha": SHADE_ALPHA, "line_alphas": list(LINE_ALPHAS),
            "shade_alpha": SHADE_ALPHA}


def _problem(s: dict[str, Any], loss: str, lam: float, alpha: float = 0.0):
    from ufm.spec import Problem

    return Problem(s["classes"], s["per_class"], s["dim"], loss=loss, lambda_w=lam, lambda_h=lam,
                   lambda_b=lam, bias=s["bias"], alpha=alpha)


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
            "versions": versions()}


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


TITLES = {
    "kappa_full": r"$\kappa_{\rm full}$ (all of $W, H, b$)",
    "kappa_logit": r"$\kappa_{\rm logit}$ (logit Hessian)",
    "kappa_scale": r"$\kappa_{\rm scale}$ (rescaling block)",
    "kappa_features": r"$\kappa_{\rm features}$ ($H$, $W$ frozen)",
}


def plot(data: dict[str, Any], out_dir: str) -> list[str]:
    """2×4 grid at page width: κ(λ) lines (top), κ_LS/κ_CE over (λ, α) (bottom)."""
    from matplotlib.colors import LogNorm
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

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
            ax.set_yscale("log")
            _style.log_ticks(ax, "x", numticks=4)
            ax.set_title(TITLES[k], fontsize=7.5)
            ax.set_xlabel(r"$\lambda$")
            ax.grid(True, which="major")
            R = np.array(mp["ratio"][k], dtype=float)
            mx.set_facecolor("#D9D9D9")  # LS zero regime: no collapse, κ undefined
            mesh = mx.pcolormesh(lam_map, alpha_map, R, shading="nearest", cmap="RdBu_r",
                                 norm=LogNorm(vmin=1 / 100, vmax=100), rasterized=True)
            finite = np.where(np.isfinite(R), R, 2.0)
            if (finite < 1).any() and (finite > 1).any():
                mx.contour(lam_map, alpha_map, np.log(finite), levels=[0.0], colors=_style.BLACK,
                           linewidths=0.8)
            mx.contourf(lam_map, alpha_map, np.where(np.isfinite(R) & (R < 1), 1.0, 0.0),
                        levels=[0.5, 1.5], colors="none", hatches=["////"])
            mx.set_xscale("log")
            _style.log_ticks(mx, "x", numticks=4)
            mx.set_xlabel(r"$\lambda$")
            mx.axhline(s["shade_alpha"], color=_style.BLACK, lw=0.5, ls=":")
        axes[0, 0].set_ylabel(r"$\kappa$ (closed form)")
        axes[1, 0].set_ylabel(r"LS smoothing $\alpha$")
        cb = fig.colorbar(mesh, ax=axes[1, :], pad=0.01, aspect=18, extend="both")
        cb.set_label(r"$\kappa_{\rm LS} / \kappa_{\rm CE}$")
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
