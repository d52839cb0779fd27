"""Collapse dynamics: NC1, NC2 and the objective gap against GD iterations (theory.md c.4).

Plain full-batch gradient descent θ ← θ − η∇f(θ) (:func:`ufm.dynamics.gradient_descent`) on the
UFM, with the same step size η, the same λ's and the same random start (N(0, 0.1²) entries) for
CE, LS and MaxSup. Setting of theory.md b.9/c.4: K = 10, d = 20, n = 10, λ_W = λ_H = λ_b = 5e-4,
η = 1; the full run adds the second setting of c.4 (λ = 1e-4, η = 2).

Logged every ``log_every`` steps: NC1 = (1/K)Tr(Σ_W Σ_B^†), NC2_W = ‖WWᵀ/‖WWᵀ‖_F − C/√(K−1)‖_F,
NC2_H (the same for the centred class means), and the relative gap (f − f*)/f* with f* the
closed-form minimum value (theory.md b.2, b.3, b.4). Horizontal dotted lines are the c.4
thresholds NC1 < 1e-3, NC2 < 1e-2, relative gap < 1e-6.
"""

from __future__ import annotations

import functools
from typing import Any

NAME = "dynamics"
TITLE = "Collapse dynamics under gradient descent"
KEYS = ("settings", "runs", "versions")
RUN_KEYS = ("lambda", "lr", "trajectories")
TRAJ_KEYS = ("loss", "alpha", "iteration", "nc1", "nc2_w", "nc2_h", "rel_gap", "gap", "f_star",
             "iterations_to", "thresholds")
LOSSES = (("ce", 0.0), ("ls", 0.1), ("maxsup", 0.1))


def settings(quick: bool) -> dict[str, Any]:
    runs = [{"lambda": 5e-4, "lr": 1.0}]
    if not quick:
        runs.append({"lambda": 1e-4, "lr": 2.0})
    return {"classes": 10, "per_class": 10, "dim": 20, "bias": True,
            "lambda": "λ_W = λ_H = λ_b", "init_scale": 0.1, "losses": [list(x) for x in LOSSES],
            "steps": 12_000 if quick else 30_000, "log_every": 25 if quick else 50, "runs": runs}


@functools.lru_cache(maxsize=4)
def _trajectories(quick: bool, seed: int) -> dict[str, Any]:
    """The GD runs, cached so that :mod:`ufm.figures.nc2_vs_nc1` reuses them."""
    from ufm.dynamics import gradient_descent
    from ufm.figures._progress import track
    from ufm.precision import x64
    from ufm.spec import Problem

    s = settings(quick)
    runs = []
    jobs = [(r, loss, a) for r in s["runs"] for loss, a in LOSSES]
    out: dict[tuple, Any] = {}
    with x64():
        for r, loss, a in track(jobs, NAME):
            lam = r["lambda"]
            problem = Problem(s["classes"], s["per_class"], s["dim"], loss=loss, lambda_w=lam,
                              lambda_h=lam, lambda_b=lam, bias=s["bias"], alpha=a)
            tr = gradient_descent(problem, lr=r["lr"], steps=s["steps"], log_every=s["log_every"],
                                  seed=seed, init_scale=s["init_scale"])
            out[(lam, loss)] = {**tr.to_dict(), "alpha": a, "problem": problem.to_dict()}
    for r in s["runs"]:
        runs.append({**r, "trajectories": [out[(r["lambda"], loss)] for loss, _ in LOSSES]})
    return {"settings": s, "runs": runs}


def experiment(quick: bool, seed: int) -> dict[str, Any]:
    """GD trajectories for CE, LS and MaxSup in each setting."""
    from ufm.report import versions

    traj = _trajectories(quick, seed)
    return {"figure": NAME, "title": TITLE, "quick": quick, "seed": seed,
            "settings": traj["settings"], "runs": traj["runs"], "versions": versions()}


def plot(data: dict[str, Any], out_dir: str) -> list[str]:
    """Rows NC1, NC2 (W solid, H dashed), relative gap; one column per setting; log y."""
    import numpy as np
    from matplotlib.lines import Line2D

    from ufm.figures import _style

    runs = data["runs"]
    ncol = len(runs)
    rows = (("nc1", "NC1", "nc1"), ("nc2", "NC2$_W$ (—), NC2$_H$ (···)", "nc2_w"),
            ("rel_gap", r"$(f - f^*)/f^*$", "rel_gap"))
    width = _style.COLUMN if ncol == 1 else _style.PAGE * 0.75
    with _style.style():
        fig, axes = _style.figure(width, 4.0, nrows=3, ncols=ncol, sharex="col")
        for j, run in enumerate(runs):
            for i, (key, label, thr_key) in enumerate(rows):
                ax = axes[i, j]
                for tr in run["trajectories"]:
                    st = _style.loss_style(tr["loss"], alpha=tr["alpha"])
                    it = np.asarray(tr["iteration"], dtype=float)
                    ls = (0, (3, 2)) if tr["loss"] == "maxsup" else "-"
                    if key == "nc2":
                        ax.plot(it, np.asarray(tr["nc2_w"], dtype=float), color=st["color"], ls=ls)
                        ax.plot(it, np.asarray(tr["nc2_h"], dtype=float), color=st["color"],
                                ls=":", lw=0.9)
                    else:
                        y = np.asarray(tr[key], dtype=float)
                        y = np.where(y > 0, y, np.nan)  # log axis: a gap of exactly 0 is not drawn
                        ax.plot(it, y, color=st["color"], ls=ls)
                thr = run["trajectories"][0]["thresholds"][thr_key]
                ax.axhline(thr, color=_style.GREY, lw=0.7, ls=(0, (1, 2)))
                ax.set_yscale("log")
                _style.log_ticks(ax, "y", numticks=6, minor=False)
                ax.grid(True, which="major")
                if j == 0:
                    ax.set_ylabel(label)
            axes[0, j].set_title(rf"$\lambda$ = {run['lambda']:g}, $\eta$ = {run['lr']:g}",
                                 fontsize=7)
            axes[-1, j].set_xlabel("GD iteration")
        s = data["settings"]
        handles = [Line2D([], [], color=_style.loss_style(loss, alpha=a)["color"],
                          ls=(0, (3, 2)) if loss == "maxsup" else "-")
                   for loss, a in s["losses"]]
        labels = [_style.loss_style(loss, alpha=a)["label"] for loss, a in s["losses"]]
        handles.append(Line2D([], [], color=_style.GREY, lw=0.7, ls=(0, (1, 2))))
        labels.append("threshold (theory.md c.4)")
        fig.suptitle(f"K={s['classes']}, n={s['per_class']}, d={s['dim']}, "
                     r"$\lambda_W = \lambda_H = \lambda_b = \lambda$, same start", fontsize=7)
        _style.legend_below(fig, handles, labels, ncol=2 if ncol == 1 else 4)
        return _style.save(fig, out_dir, NAME)
