"""Collapse dynamics: NC1, NC2 and the objective gap against GD iterations (theory.md c.4).

Plain full-batch gradient descent θ ← θ − η∇f(θ) (:func:`ufm.dynamics.gradient_descent`) on the
UFM, with the same step size η, the same λ's and the same random start (N(0, 0.1²) entries) for
CE, LS and MaxSup. Full mode: the setting of theory.md b.9/c.4, K = 10, d = 20, n = 10,
λ_W = λ_H = λ_b = 5e-4, η = 1, 30,000 steps, plus the second setting of c.4 (λ = 1e-4, η = 2).
Quick mode (CI): K = 6, d = 8, n = 4, λ = 2e-3, η = 2, 1,500 steps (larger λ and η so that
every c.4 threshold is reached in few steps).

Logged every ``log_every`` steps: NC1 = (1/K)Tr(Σ_W Σ_B^†), NC2_W = ‖WWᵀ/‖WWᵀ‖_F − C/√(K−1)‖_F,
NC2_H (the same for the centred class means), and the relative gap (f − f*)/f* with f* the
closed-form minimum value (theory.md b.2, b.3, b.4). Grey dash-dotted lines are the c.4
thresholds NC1 < 1e-3, NC2 < 1e-2, relative gap < 1e-6. Values below the float64 round-off floors
of :mod:`ufm.figures._floors` ((100 eps)² for NC1, 100 eps for NC2 and the gap) are not drawn:
there the curves show round-off, not dynamics.

MaxSup and LS have the same gradient wherever the largest logit is the true class's (theory.md
f: ℓ_MS − ℓ_LS = α(max_k z_k − z_y)), so once GD classifies every sample correctly their
trajectories coincide; MaxSup is drawn dashed with hollow diamonds so that LS stays visible.
"""

from __future__ import annotations

import functools
from typing import Any

NAME = "dynamics"
TITLE = "Collapse dynamics under gradient descent"
RUN_KEYS = ("lambda", "lr", "trajectories")
TRAJ_KEYS = ("loss", "alpha", "iteration", "nc1", "nc2_w", "nc2_h", "rel_gap", "gap", "f_star",
             "iterations_to", "thresholds")
SCHEMA = {"settings": None,
          "runs": [{"lambda": None, "lr": None,
                    "trajectories": [dict.fromkeys(("loss", "alpha", "iteration", "nc1", "nc2_w",
                                                    "nc2_h", "rel_gap", "thresholds"))]}],
          "versions": None}
KEYS = tuple(SCHEMA)
ROWS = (("nc1", "NC1", "quadratic"), ("nc2_w", "NC2$_W$", "linear"),
        ("nc2_h", "NC2$_H$", "linear"), ("rel_gap", r"$(f - f^*)/f^*$", "linear"))
LOSSES = (("ce", 0.0), ("ls", 0.1), ("maxsup", 0.1))


def settings(quick: bool) -> dict[str, Any]:
    if quick:
        shape, runs, steps, log_every = (6, 4, 8), [{"lambda": 2e-3, "lr": 2.0}], 1_500, 20
    else:
        shape, steps, log_every = (10, 10, 20), 30_000, 50
        runs = [{"lambda": 5e-4, "lr": 1.0}, {"lambda": 1e-4, "lr": 2.0}]
    return {"classes": shape[0], "per_class": shape[1], "dim": shape[2], "bias": True,
            "lambda": "λ_W = λ_H = λ_b", "init_scale": 0.1, "losses": [list(x) for x in LOSSES],
            "steps": steps, "log_every": log_every, "runs": runs, "dtype": "float64"}


@functools.lru_cache(maxsize=4)
def _trajectories(quick: bool, seed: int) -> dict[str, Any]:
    """The GD runs, cached so that :mod:`ufm.figures.nc2_vs_nc1` reuses them (with their cost,
    ``seconds``)."""
    import time

    from ufm.dynamics import gradient_descent
    from ufm.figures._progress import track
    from ufm.precision import x64
    from ufm.spec import Problem

    start = time.perf_counter()
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
    return {"settings": s, "runs": runs, "seconds": time.perf_counter() - start}


def experiment(quick: bool, seed: int) -> dict[str, Any]:
    """GD trajectories for CE, LS and MaxSup in each setting."""
    from ufm.report import versions

    traj = _trajectories(quick, seed)
    return {"figure": NAME, "title": TITLE, "quick": quick, "seed": seed,
            "settings": traj["settings"], "runs": traj["runs"], "versions": versions()}


def plot(data: dict[str, Any], out_dir: str) -> list[str]:
    """Rows NC1, NC2_W, NC2_H, relative gap (log y, clipped at the round-off floors); one
    column per setting."""
    import numpy as np
    from matplotlib.lines import Line2D

    from ufm.figures import _floors, _style

    runs = data["runs"]
    ncol = len(runs)
    s = data["settings"]
    floors = {"quadratic": _floors.quadratic_floor(s["dtype"]),
              "linear": _floors.linear_floor(s["dtype"])}
    width = _style.COLUMN if ncol == 1 else _style.PAGE
    thr_style = dict(color=_style.GREY, lw=0.8, ls=(0, (5, 1.5, 1, 1.5)))
    with _style.style():
        fig, axes = _style.figure(width, 5.0 if ncol == 1 else 4.6, nrows=len(ROWS), ncols=ncol,
                                  sharex="col")
        for j, run in enumerate(runs):
            for i, (key, label, kind) in enumerate(ROWS):
                ax = axes[i, j]
                floor = floors[kind]
                for tr in run["trajectories"]:
                    st = _style.loss_style(tr["loss"], alpha=tr["alpha"])
                    it = np.asarray(tr["iteration"], dtype=float)
                    y = np.asarray(tr[key], dtype=float)
                    y = np.where(y >= floor, y, np.nan)  # round-off (and gaps ≤ 0) not drawn
                    every = max(1, it.size // 8)
                    if tr["loss"] == "maxsup":
                        ax.plot(it, y, color=st["color"], ls=(0, (3, 2)), marker=st["marker"],
                                ms=3.6, mfc="none", mew=0.7, markevery=(every // 2, every))
                    else:
                        ax.plot(it, y, color=st["color"], marker=st["marker"], ms=2.6,
                                markevery=(0, every))
                thr = run["trajectories"][0]["thresholds"][key]
                ax.axhline(thr, **thr_style)
                ax.set_yscale("log")
                vals = np.concatenate([np.asarray(tr[key], dtype=float)
                                       for tr in run["trajectories"]])
                vals = vals[np.isfinite(vals) & (vals >= floor)]
                ax.set_ylim(max(floor, vals.min() / 3), 3 * vals.max())  # never below the floor
                _style.log_ticks(ax, "y", numticks=5, minor=False)
                ax.grid(True, which="major")
                if j == 0:
                    ax.set_ylabel(label)
            axes[0, j].set_title(rf"$\lambda$ = {run['lambda']:g}, $\eta$ = {run['lr']:g}",
                                 fontsize=8)
            axes[-1, j].set_xlabel("GD iteration $t$")
        handles = []
        labels = []
        for loss, a in s["losses"]:
            st = _style.loss_style(loss, alpha=a)
            if loss == "maxsup":
                handles.append(Line2D([], [], color=st["color"], ls=(0, (3, 2)),
                                      marker=st["marker"], ms=3.6, mfc="none", mew=0.7))
            else:
                handles.append(Line2D([], [], color=st["color"], marker=st["marker"], ms=2.6))
            labels.append(st["label"])
        handles.append(Line2D([], [], **thr_style))
        labels.append("threshold (theory.md c.4)")
        fig.suptitle(f"GD, K={s['classes']}, n={s['per_class']}, d={s['dim']}, "
                     r"$\lambda_W = \lambda_H = \lambda_b = \lambda$, same start" "\n"
                     "MaxSup = LS once argmax z = y for every sample (theory.md f)",
                     fontsize=7)
        _style.legend_below(fig, handles, labels, ncol=2 if ncol == 1 else 4)
        return _style.save(fig, out_dir, NAME)
