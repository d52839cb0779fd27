"""Phase diagram: zero regime against collapse in the (Kβ, α) plane (theory.md b.2, b.3).

For LS (α = 0 is CE; MaxSup has the same minimisers, b.4) the global minimiser collapses to a
simplex ETF with margin

    Δ* = log(1/(β + α/K) − (K−1))   iff   Kβ + α < 1,   and is W = H = 0 otherwise,

β = sqrt(n λ_W λ_H). The background is this closed-form Δ*; the line is Kβ + α = 1. On a grid of
(Kβ, α) (λ_W = λ_H = λ_b = λ, so λ = Kβ/(K√n)) the LS problem is solved numerically from a random
start; a solution counts as collapsed when its measured margin exceeds eps^(1/3) ≈ 6e-6 (in the
zero regime the solver's W, H are O(‖∇f‖) ≈ 1e-11). Grid points closer than ``BOUNDARY_GAP`` =
0.025 to the line are left out: there Δ* → 0 and the minimiser is degenerate.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

NAME = "phase_diagram"
TITLE = "Zero regime vs collapse in (Kβ, α)"
POINT_KEYS = ("k_beta", "alpha", "margin_closed", "margin_solver", "regime_closed", "regime_solver",
              "converged")
SCHEMA = {"settings": None, "k_beta_grid": None, "alpha_grid": None, "margin_grid": None,
          "points": [dict.fromkeys(("k_beta", "alpha", "regime_closed", "regime_solver"))],
          "versions": None}
KEYS = tuple(SCHEMA)
COLLAPSE_MARGIN = float(np.finfo(np.float64).eps) ** (1 / 3)
BOUNDARY_GAP = 0.025


def settings(quick: bool) -> dict[str, Any]:
    if quick:
        shape, kb, al = dict(classes=4, per_class=3, dim=5), (0.075, 0.15, 9), (0.0, 0.1, 7)
    else:
        shape, kb, al = dict(classes=10, per_class=5, dim=12), (0.0375, 0.075, 18), (0.0, 0.05, 13)
    return {**shape, "loss": "ls", "bias": True, "lambda": "λ_W = λ_H = λ_b = λ = Kβ/(K√n)",
            "k_beta_points": [kb[0] + kb[1] * i for i in range(kb[2])],
            "alpha_points": [al[0] + al[1] * j for j in range(al[2])],
            "collapse_margin": COLLAPSE_MARGIN, "boundary_gap": BOUNDARY_GAP}


def _problem(s: dict[str, Any], k_beta: float, alpha: float):
    from ufm.spec import Problem

    K, n = s["classes"], s["per_class"]
    lam = k_beta / (K * math.sqrt(n))
    return Problem(K, n, s["dim"], loss="ls", lambda_w=lam, lambda_h=lam, lambda_b=lam,
                   bias=s["bias"], alpha=alpha)


def experiment(quick: bool, seed: int) -> dict[str, Any]:
    """Closed-form Δ* on a fine grid, and solver results on the coarse grid."""
    from ufm.closed_form import margin_and_regime
    from ufm.figures import LANES
    from ufm.figures._batch import margin_of, solve_many
    from ufm.report import versions

    s = settings(quick)
    K, n = s["classes"], s["per_class"]
    kb_grid = np.linspace(0.0, 1.35, 181)
    al_grid = np.linspace(0.0, 0.72, 117)
    margin_grid = [[margin_and_regime("ls", K=K, beta=kb / K, alpha=a)[0] if kb > 0 else math.inf
                    for kb in kb_grid] for a in al_grid]
    pts = [(kb, a) for a in s["alpha_points"] for kb in s["k_beta_points"]
           if abs(kb + a - 1.0) >= s["boundary_gap"]]
    problems = [_problem(s, kb, a) for kb, a in pts]
    sols = solve_many(problems, [seed + i for i in range(len(problems))], label=NAME,
                      chunk=LANES)
    points = []
    for (kb, a), sol in zip(pts, sols, strict=True):
        beta = math.sqrt(n) * sol.problem.lambda_w
        m_cf, regime = margin_and_regime("ls", K=K, beta=beta, alpha=a)
        m_num = margin_of(sol)
        points.append({"k_beta": kb, "alpha": a, "margin_closed": m_cf, "margin_solver": m_num,
                       "regime_closed": regime,
                       "regime_solver": "collapse" if m_num > COLLAPSE_MARGIN else "zero",
                       "converged": sol.converged, "objective": sol.objective})
    return {"figure": NAME, "title": TITLE, "quick": quick, "seed": seed, "settings": s,
            "k_beta_grid": kb_grid, "alpha_grid": al_grid, "margin_grid": margin_grid,
            "points": points, "versions": versions()}


def plot(data: dict[str, Any], out_dir: str) -> list[str]:
    """Δ* as a colour map (zero regime grey), the line Kβ + α = 1, solver results as markers."""
    from matplotlib.colors import LogNorm
    from matplotlib.lines import Line2D

    from ufm.figures import _style

    s = data["settings"]
    kb = np.asarray(data["k_beta_grid"], dtype=float)
    al = np.asarray(data["alpha_grid"], dtype=float)
    M = np.array(data["margin_grid"], dtype=float)  # None (inf at Kβ = 0) → nan
    M = np.where(np.isfinite(M), M, np.nan)
    with _style.style():
        fig, axes = _style.figure(_style.COLUMN, 2.7)
        ax = axes[0, 0]
        ax.set_facecolor("#E6E6E6")  # the zero regime (Δ* = 0) shows the background
        pos = np.where(M > 0, M, np.nan)
        top = float(np.nanmax(pos))
        mesh = ax.pcolormesh(kb, al, pos, shading="nearest", cmap="viridis",
                             norm=LogNorm(vmin=max(float(np.nanmin(pos)), 1e-3 * top), vmax=top),
                             rasterized=True)
        cb = fig.colorbar(mesh, ax=ax, pad=0.02, extend="min")
        cb.set_label(r"closed-form margin $\Delta^*$")
        x = np.linspace(0, 1, 50)
        ax.plot(x, 1 - x, color="white", lw=1.4)
        ax.plot(x, 1 - x, color=_style.BLACK, lw=0.8, ls="--")
        # labels above the top row of solver markers (α ≤ 0.65)
        ax.text(0.02, 0.69, "collapse", ha="left", va="center", fontsize=7)
        ax.text(0.95, 0.69, r"zero regime: $W = H = 0$", ha="center", va="center", fontsize=7)
        pts = data["points"]
        for regime, mk in (("collapse", dict(marker="o", mfc=_style.BLACK, mec="white")),
                           ("zero", dict(marker="o", mfc="white", mec=_style.BLACK))):
            sel = [p for p in pts if p["regime_solver"] == regime]
            ax.plot([p["k_beta"] for p in sel], [p["alpha"] for p in sel], ls="none", ms=3.6,
                    mew=0.6, clip_on=False, zorder=4, **mk)  # the α = 0 row sits on the axis
        wrong = [p for p in pts if p["regime_solver"] != p["regime_closed"]]
        if wrong:
            ax.plot([p["k_beta"] for p in wrong], [p["alpha"] for p in wrong], ls="none",
                    marker="x", color=_style.VERMILION, ms=6, mew=1.2, clip_on=False, zorder=5)
        ax.set_xlim(0, kb[-1])
        ax.set_ylim(0, al[-1])
        ax.set_xlabel(r"$K\beta = K\sqrt{n\lambda_W\lambda_H}$")
        ax.set_ylabel(r"label smoothing $\alpha$")
        handles = [Line2D([], [], color=_style.BLACK, lw=0.8, ls="--"),
                   Line2D([], [], ls="none", marker="o", mfc=_style.BLACK, mec="white", ms=4),
                   Line2D([], [], ls="none", marker="o", mfc="white", mec=_style.BLACK, ms=4)]
        labels = [r"$K\beta + \alpha = 1$", "solver: collapse", "solver: zero"]
        if wrong:
            handles.append(Line2D([], [], ls="none", marker="x", color=_style.VERMILION, ms=5))
            labels.append(f"disagrees ({len(wrong)})")
        fig.suptitle(f"LS (α = 0: CE), K={s['classes']}, n={s['per_class']}, d={s['dim']}",
                     fontsize=7)
        _style.legend_below(fig, handles, labels, ncol=len(labels))
        return _style.save(fig, out_dir, NAME)
